#pragma once
// The Pruning view's sweep designer: a form over core's sweep description (docs/pruning.md):
// data, model, schedules with a preview of their step sizes, pruning, fine-tuning, runs and
// the sweep folder. Keys the form does not show, and keys of a loaded description equal to
// the form's values, are written back as loaded, so a sweep opened from a folder resumes there.
#include <QJsonArray>
#include <QJsonObject>
#include <QWidget>

#include <map>
#include <vector>

#include "pruning/schedulepreview.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QStackedWidget;
class QVBoxLayout;

namespace pqwgui {
class Session;

class SweepDesigner : public QWidget {
    Q_OBJECT
public:
    explicit SweepDesigner(Session* session, QWidget* parent = nullptr);

    /// The sweep description the form holds.
    QJsonObject sweepJson() const;
    /// Fills the form from a sweep description; false (and *error) when it is not one.
    bool setSweepJson(const QJsonObject& j, QString* error = nullptr);
    QString outputDir() const;
    void setOutputDir(const QString& dir);
    /// Runs the grid makes (0 when the description is invalid; see error()).
    int runCount() const { return runCount_; }
    QString error() const { return designerError_; }
    /// The step sizes the preview shows for a strategy name ("hybrid"), empty if not ticked.
    std::vector<double> previewSteps(const QString& strategy) const;
    QCustomPlot* previewPlot() const { return preview_.plot(); }
    /// "N runs" or what is wrong, for below the form (the view places it).
    QLabel* runCountLabel() const { return runCountLabel_; }
    /// Adds a widget at the end of the form (above its stretch).
    void addBelow(QWidget* w);
    /// Re-validates the grid, redraws the preview and emits changed().
    void validate();

Q_SIGNALS:
    /// Any field edited (after validation).
    void changed();
    void outputDirChanged();
    /// Something to tell the user (the view's status line).
    void message(const QString& text);

private:
    /// Many field edits, one validate() at the end.
    struct BatchEdit {
        explicit BatchEdit(SweepDesigner* d) : d(d) { ++d->batching_; }
        ~BatchEdit() {
            if (--d->batching_ == 0) d->validate();
        }
        SweepDesigner* d;
    };
    int batching_ = 0;

    void useOpenDataset();
    void updatePreview();
    QJsonArray formFineTune() const;

    Session* session_;
    QVBoxLayout* form_;
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
    SchedulePreview preview_;
    QJsonArray loadedFineTune_;  ///< what the fine-tuning fields showed when base_ was loaded
    int runCount_ = 0;
    QString designerError_;
};

}  // namespace pqwgui
