#pragma once
// The Pruning view's run plot: one run's validation accuracy right after each pruning step
// and after each fine-tuning epoch (training accuracy dotted, the kept best epoch marked), or
// the base model's training while a sweep trains it.
#include <QObject>
#include <QString>

class QCPGraph;
class QCustomPlot;

namespace pqwgui {
class SweepController;

class RunPlot : public QObject {
    Q_OBJECT
public:
    explicit RunPlot(SweepController* sweep, QObject* parent = nullptr);
    QCustomPlot* plot() const { return runPlot_; }
    /// Draws run `run` ("<base>": the base model's training) from the controller's events and
    /// tells the controller it is the one shown.
    void show(const QString& run);
    /// Nothing shown.
    void clear();
    void recolour();

private:
    SweepController* sweep_;
    QCustomPlot* runPlot_;
    QCPGraph *runVal_ = nullptr, *runTrain_ = nullptr, *runPruned_ = nullptr, *runStep_ = nullptr;
};

}  // namespace pqwgui
