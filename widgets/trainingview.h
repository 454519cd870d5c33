#pragma once
// The Training view: a form for stages 0, 1, 1b and 2 (defaults from core, a tooltip on every
// field), start/cancel, live plots of loss and accuracy per epoch and of codebook usage with
// perplexity, checkpoints, and the evaluation summary (top-1, top-5, confusion heat map).
// Epoch events arrive as queued signals; repaints are coalesced by a 40 ms single-shot timer
// (PlotJuggler's shape): many events, one replot.
#include <QTimer>
#include <QJsonObject>
#include <QWidget>

#include <vector>

#include "pqw/job.h"
#include "pqw/protoquant.h"
#include "session.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSpinBox;
class QCustomPlot;
class QCPBars;
class QCPColorMap;
class QCPColorScale;
class QCPGraph;

namespace pqwgui {

class TrainingView : public QWidget {
    Q_OBJECT
public:
    explicit TrainingView(Session* session, QWidget* parent = nullptr);
    /// The form's settings.
    TrainConfig config() const;
    void setConfig(const TrainConfig& c);
    /// The form's values, for the project file.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& o);

    QCustomPlot* lossPlot() const { return loss_; }
    QCustomPlot* accuracyPlot() const { return acc_; }
    QCustomPlot* usagePlot() const { return usage_; }
    QCustomPlot* confusionPlot() const { return confusion_; }
    /// Epoch records received (live or from a loaded model's history).
    int epochCount() const { return int(records_.size()); }
    /// Replots done for live events (coalescing makes this smaller than the event count).
    int liveReplots() const { return liveReplots_; }
    QPushButton* startButton() const { return start_; }
    QLabel* summaryLabel() const { return summary_; }

Q_SIGNALS:
    void startRequested();
    void saveRequested();
    void loadRequested();

private:
    void onEvent(const pqw::Event& e);
    void flush();
    void clearPlots();
    void addRecord(const pqw::EpochRecord& r);
    void showHistory();
    void showEvaluation();
    void recolour();
    Session* session_;
    // form
    QCheckBox *run0_, *run1_, *run1b_, *run2_;
    QSpinBox *ep0_, *bs0_, *codes_, *ep1_, *bs1_, *warm1_, *target_, *steps_, *ep2_, *bs2_, *topk_, *seed_;
    QDoubleSpinBox *lr0_, *wd0_, *lr1_, *ls1_, *mix1_, *lr2_, *tau_, *l1_;
    QComboBox* init_;
    QPushButton *start_, *cancel_, *save_, *load_;
    QLabel* status_;
    QLabel* summary_;
    // plots
    QCustomPlot *loss_, *acc_, *usage_, *confusion_;
    QCPGraph *lossGraph_, *trainAcc_, *valAcc_, *perplexity_;
    QCPBars* usageBars_;
    QCPColorMap* heat_;
    QCPColorScale* scale_;
    std::vector<pqw::EpochRecord> records_, pending_;
    std::vector<double> pendingUsage_;
    bool haveUsage_ = false;
    QTimer repaint_;
    int liveReplots_ = 0;
    bool live_ = false;
    int trainJob_ = 0;
};

}  // namespace pqwgui
