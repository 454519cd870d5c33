#pragma once
// The Pruning view: the sweep designer (pruning/sweepdesigner.h) and Slurm panel on the left;
// on the right the sweep's plots (pruning/sweepplots.h), the results table
// (pruning/sweepmodel.h), the run's epochs (pruning/runplot.h) and the dense-vs-pruned
// comparison (pruning/comparepanel.h). SweepController (pruning/sweepcontroller.h) owns the
// sweep job, the folder I/O and the live event batching; this class only composes and wires.
#include <QJsonObject>
#include <QWidget>

#include <map>
#include <utility>
#include <vector>

#include "jobrunner.h"
#include "pruning/comparepanel.h"
#include "pruning/sweepmodel.h"

class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPushButton;
class QTabWidget;
class QTableView;

namespace pqwgui {
class RunPlot;
class Session;
class SlurmPanel;
class SweepController;
class SweepDesigner;
class SweepFolderWatcher;
class SweepPlots;

class PruningView : public QWidget {
    Q_OBJECT
public:
    explicit PruningView(Session* session, QWidget* parent = nullptr);
    ~PruningView() override;

    // ---- designer (pruning/sweepdesigner.h)
    QJsonObject sweepJson() const;
    bool setSweepJson(const QJsonObject& j, QString* error = nullptr);
    QString outputDir() const;
    void setOutputDir(const QString& dir);
    int runCount() const;
    QString designerError() const;
    std::vector<double> previewSteps(const QString& strategy) const;

    // ---- running and opening
    /// Starts (or resumes, when the output folder holds this sweep) the designer's sweep as a
    /// job. Returns the job id, or 0 with the reason in the status line.
    int startSweep();
    void cancelSweep();
    int sweepJob() const;
    /// Shows a sweep folder's finished runs (plots, table); loadDesigner: also fill the designer
    /// from its sweep.json. False (status says why) when dir is not a sweep folder.
    bool openSweep(const QString& dir, bool loadDesigner = true);
    /// Opens dir and follows it live while other processes (a local pqw sweep, Slurm array
    /// tasks) write it (pruning/sweepfolderwatcher.h).
    bool followSweep(const QString& dir);
    SweepController* controller() const { return sweep_; }
    SweepFolderWatcher* folderWatcher() const;
    /// The folder whose results are shown (empty before any sweep).
    QString sweepDir() const;
    /// Sweep folders run or opened here (the shown one first), for project files.
    QStringList sweepFolders() const;
    /// The status line's text.
    QString statusText() const;

    // ---- comparison (pruning/comparepanel.h)
    /// Explains test image `image` with `method` on the dense base model and on run runId's
    /// pruned model, side by side. Returns the job id or 0.
    int compare(const QString& runId, int image, const QString& method);
    using Compared = ComparePanel::Compared;
    const Compared& compared(int i) const;

    // ---- state (project files)
    /// Designer fields, output folder, the folder shown, recent folders, plot axes, comparison.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& state);

    // ---- what the plots and the table show (tests)
    /// Points on the accuracy-vs-sparsity curves (the dense reference line excluded).
    int sparsityPointCount() const;
    /// Every curve's points (x, y) by series name; the intermediate steps under "<name> (steps)".
    std::map<QString, std::vector<std::pair<double, double>>> sparsityPoints() const;
    int liveReplots() const;
    SweepResultsModel* resultsModel() const;
    SweepResultsProxy* resultsProxy() const { return proxy_; }
    /// Selects a run in the table (and shows its epochs).
    void selectRun(const QString& id);

Q_SIGNALS:
    void sweepFinished(pqwgui::JobStatus status);
    void comparisonFinished(bool ok);

private:
    QWidget* buildResults();
    void updateButtons();
    void updateColumns();
    void showRun(const QString& run);
    void onJobFinished(JobStatus st, const QString& msg);
    QString selectedRun() const;

    Session* session_;
    SweepController* sweep_;
    SweepDesigner* designer_;
    SweepPlots* plots_;
    RunPlot* runPlot_;
    ComparePanel* compare_;
    SlurmPanel* slurm_;
    SweepResultsProxy* proxy_;
    QPushButton *run_, *cancel_, *open_;
    QLabel* status_;
    QComboBox *xAxis_, *yAxis_;
    QTableView* table_;
    QLineEdit* filter_;
    QTabWidget* lower_;
};

}  // namespace pqwgui
