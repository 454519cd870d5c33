#pragma once
// The Pruning view: a sweep designer (dataset, model, schedules, pruning, fine-tuning) with a
// preview of each schedule's step sizes; run, cancel and resume a sweep as a job (core's
// runSweep writes the same folder `pqw sweep` writes: sweep.json, base_model.pqwcnn,
// runs/<id>.jsonl, summary.csv); live plots of accuracy vs sparsity (one curve per strategy),
// accuracy vs total fine-tuning epochs and the current run's accuracy per epoch; a sortable
// results table; any sweep folder (CLI or GUI) opened shows the same plots; and a
// dense-vs-pruned comparison of one test image with any explanation method, side by side.
// Live events are collected and drawn by a 40 ms single-shot timer (TrainingView's shape).
#include <QJsonArray>
#include <QJsonObject>
#include <QTimer>
#include <QWidget>

#include <map>
#include <memory>
#include <vector>

#include "pqw/job.h"
#include "session.h"
#include "sweepmodel.h"

class QCheckBox;
class QCPBarsGroup;
class QComboBox;
class QCPGraph;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QTabWidget;
class QTableView;

namespace pqw {
class CnnModel;
class Dataset;
class ImageTensors;
}  // namespace pqw

namespace pqwgui {
class SlurmPanel;
class SweepFolderWatcher;

class PruningView : public QWidget {
    Q_OBJECT
public:
    explicit PruningView(Session* session, QWidget* parent = nullptr);
    ~PruningView() override;

    // ---- designer
    /// The sweep description (docs/pruning.md) the designer holds. Keys the form does not
    /// show (and keys of a loaded description equal to the form's values) are kept as loaded,
    /// so a sweep opened from a folder resumes there.
    QJsonObject sweepJson() const;
    /// Fills the designer from a sweep description; false (and *error) when it is not one.
    bool setSweepJson(const QJsonObject& j, QString* error = nullptr);
    QString outputDir() const;
    void setOutputDir(const QString& dir);
    /// Runs the designer's grid makes (0 when the description is invalid; see designerError()).
    int runCount() const { return runCount_; }
    QString designerError() const { return designerError_; }
    /// The step sizes the preview shows for a strategy name ("hybrid"), empty if not ticked.
    std::vector<double> previewSteps(const QString& strategy) const;

    // ---- running and opening
    /// Starts (or resumes, when the output folder holds this sweep) the designer's sweep as a
    /// job. Returns the job id, or 0 with the reason in the status line.
    int startSweep();
    void cancelSweep();
    int sweepJob() const { return sweepJob_; }
    /// Shows a sweep folder's finished runs (plots, table); loadDesigner: also fill the designer
    /// from its sweep.json. False (status says why) when dir is not a sweep folder.
    bool openSweep(const QString& dir, bool loadDesigner = true);
    /// Opens dir and follows it live while other processes (a local pqw sweep, Slurm array
    /// tasks) write it: every new log line reaches the plots and the table, and each run's
    /// state (logs + Slurm) shows in the table (widgets/pruning/sweepfolderwatcher.h).
    bool followSweep(const QString& dir);
    SweepFolderWatcher* folderWatcher() const { return watcher_; }
    SlurmPanel* slurmPanel() const { return slurm_; }
    /// The folder whose results are shown (empty before any sweep).
    QString sweepDir() const { return dir_; }
    /// Sweep folders run or opened here (the shown one first), for project files.
    QStringList sweepFolders() const { return recent_; }

    // ---- comparison
    /// Explains test image `image` with `method` ("omenn", "saliency", ...) on the dense base
    /// model and on the pruned model of run `runId` (rebuilt from the base model with the
    /// run's settings, once per session), side by side. Returns the job id or 0.
    int compare(const QString& runId, int image, const QString& method);

    // ---- state (project files)
    /// Designer fields, output folder, the folder shown, recent folders, plot axes, comparison.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& state);

    // ---- for tests and screenshots
    QCustomPlot* previewPlot() const { return preview_; }
    QCustomPlot* sparsityPlot() const { return sparsity_; }
    QCustomPlot* epochsPlot() const { return epochs_; }
    QCustomPlot* runPlot() const { return runPlot_; }
    /// Points on the accuracy-vs-sparsity curves (the dense reference line excluded).
    int sparsityPointCount() const;
    /// Every curve's points (x, y) by series name, for comparisons; the intermediate steps are
    /// under "<name> (steps)".
    std::map<QString, std::vector<std::pair<double, double>>> sparsityPoints() const;
    int liveReplots() const { return liveReplots_; }
    SweepResultsModel* resultsModel() const { return results_; }
    SweepResultsProxy* resultsProxy() const { return proxy_; }
    QTableView* resultsTable() const { return table_; }
    QPushButton* runButton() const { return run_; }
    QPushButton* cancelButton() const { return cancel_; }
    QLabel* statusLabel() const { return status_; }
    QLabel* denseCaption() const { return denseCaption_; }
    QLabel* prunedCaption() const { return prunedCaption_; }
    QLabel* denseImage() const { return denseImage_; }
    QLabel* prunedImage() const { return prunedImage_; }
    /// Last comparison's numbers: [0] dense, [1] pruned: the explained logit and, for OMENN,
    /// the sum of the weight and bias contributions.
    struct Compared {
        double logit = 0, sum = 0;
        bool exact = false;
        QImage image;  ///< the map over the image, as rendered (240 px)
    };
    const Compared& compared(int i) const { return compared_[i]; }
    QTabWidget* lowerTabs() const { return lower_; }
    /// Selects a run in the table (and shows its epochs).
    void selectRun(const QString& id);

Q_SIGNALS:
    void sweepFinished(pqwgui::JobStatus status);
    void comparisonFinished(bool ok);

private:
    /// One curve: colour by schedule (strategy and steps), line style by fine-tuning, marker
    /// by criterion and modality (the variants a grid sweeps).
    struct Series {
        /// The schedule's curve: one point per run, where the run ends (its target). A line through
        /// every step of every run zig-zagged between runs of different targets.
        QCPGraph* sparsity = nullptr;
        QCPGraph* steps = nullptr;  ///< the runs' intermediate steps: markers, no line
        QCPGraph* epochs = nullptr;
        int colour = 0, dash = 0, shape = 0;
    };
    struct DataCache;
    /// Many field edits, one designerChanged() at the end.
    struct BatchEdit {
        explicit BatchEdit(PruningView* v) : v(v) { ++v->batching_; }
        ~BatchEdit() {
            if (--v->batching_ == 0) v->designerChanged();
        }
        PruningView* v;
    };
    int batching_ = 0;

    void buildDesigner(QWidget* host);
    void buildResults(QWidget* host);
    void designerChanged();
    void updatePreview();
    void useOpenDataset();
    void updateButtons();
    // results
    void clearResults();
    void prepareSeries(const std::map<QString, SweepRunSettings>& settings);
    void addSeries(const QString& key, const SweepRunSettings* s = nullptr);
    QJsonArray formFineTune() const;
    void buildLegend();
    void updateColumns();
    QString seriesKey(const SweepRunSettings& s) const;
    SweepRunSettings settingsOf(const QString& run, const pqw::Event* e) const;
    void onEvent(const QString& run, const pqw::Event& e, bool live);
    void flush();
    void addStep(const QString& run, const pqw::Event& e);
    void rebuildSweepPlots();
    void rescaleSweepPlots();
    void showRunEpochs(const QString& run);
    void recolour();
    void applySeriesStyle(const Series& s);
    void addRecent(const QString& dir);

    Session* session_;
    // designer
    QJsonObject base_;  ///< the last loaded description (keys kept as loaded)
    QLineEdit* dsPath_;
    QComboBox* dsKind_;
    QSpinBox *dsTrain_, *dsTest_, *dsSeed_;
    QDoubleSpinBox* dsVal_;
    bool dsEdited_ = false;
    QComboBox* modelKind_;
    QStackedWidget* modelPages_;
    QComboBox* arch_;
    QSpinBox *width_, *depth_, *preEpochs_, *modelSeed_;
    QDoubleSpinBox* preLr_;
    QLineEdit* modelFile_;
    std::map<QString, QCheckBox*> strategies_, modalities_, criteria_;
    QLineEdit *targets_, *steps_, *firstSteps_, *seeds_;
    QCheckBox *fixedOn_, *patienceOn_, *evalTest_;
    QSpinBox *fixedEpochs_, *patience_, *patienceCap_, *latency_;
    QDoubleSpinBox *minDelta_, *ftLr_;
    QLineEdit* outDir_;
    QLabel* runCountLabel_;
    QPushButton *run_, *cancel_, *open_;
    QLabel* status_;
    QCustomPlot* preview_;
    QCPBarsGroup* previewGroup_ = nullptr;
    QJsonArray loadedFineTune_;  ///< what the fine-tuning fields showed when base_ was loaded
    int runCount_ = 0;
    QString designerError_;
    // results
    QComboBox *xAxis_, *yAxis_;
    QCustomPlot *sparsity_, *epochs_, *runPlot_;
    QCPGraph* denseLine_ = nullptr;
    QCPGraph *runVal_ = nullptr, *runTrain_ = nullptr, *runPruned_ = nullptr, *runStep_ = nullptr;
    SweepResultsModel* results_;
    SweepResultsProxy* proxy_;
    SweepFolderWatcher* watcher_ = nullptr;
    SlurmPanel* slurm_ = nullptr;
    QTableView* table_;
    QLineEdit* filter_;
    QTabWidget* lower_;
    QString dir_;
    QStringList recent_;
    std::map<QString, SweepRunSettings> settings_;
    bool multiCriteria_ = false, multiModalities_ = false, multiFineTune_ = false;
    std::map<QString, Series> series_;
    std::map<QString, int> schedules_, fineTunes_, criteria2_;  ///< variant -> index (styles)
    std::vector<QCPGraph*> legendOnly_;  ///< empty graphs naming the colours, dashes, markers
    std::vector<std::pair<QString, pqw::Event>> stepEvents_;       ///< every step point shown
    std::map<QString, std::vector<pqw::Event>> runEvents_;     ///< steps and epochs per run
    std::vector<std::pair<QString, pqw::Event>> pending_;
    std::vector<pqw::Event> baseEpochs_;                        ///< base model training (live)
    QString currentRun_, shownRun_;
    double dense_ = -1;
    QTimer repaint_;
    int liveReplots_ = 0;
    bool live_ = false;
    int sweepJob_ = 0;
    // comparison
    QSpinBox* image_;
    QComboBox* method_;
    QPushButton* explain_;
    QLabel *denseImage_, *prunedImage_, *denseCaption_, *prunedCaption_, *compareNote_;
    int compareJob_ = 0;
    Compared compared_[2];
    std::shared_ptr<DataCache> cache_;
};

}  // namespace pqwgui
