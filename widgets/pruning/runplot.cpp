#include "pruning/runplot.h"

#include <algorithm>
#include <cmath>

#include "plots.h"
#include "pruning/sweepcontroller.h"
#include "qcp.h"
#include "theme.h"

namespace pqwgui {

namespace {

QString pct(double v, int d = 1) { return QStringLiteral("%1 %").arg(100 * v, 0, 'f', d); }

}  // namespace

RunPlot::RunPlot(SweepController* sweep, QObject* parent) : QObject(parent), sweep_(sweep) {
    runPlot_ = makePlot(tr("Run: accuracy per epoch"));
    runPlot_->setObjectName(QStringLiteral("runEpochs"));
    runPlot_->xAxis->setLabel(tr("fine-tuning epoch in the run"));
    runPlot_->yAxis->setLabel(tr("validation top-1, %"));
    runVal_ = runPlot_->addGraph();
    runVal_->setName(tr("validation"));
    runTrain_ = runPlot_->addGraph();
    runTrain_->setName(tr("train"));
    runPruned_ = runPlot_->addGraph();
    runPruned_->setName(tr("just pruned"));
    runPruned_->setLineStyle(QCPGraph::lsNone);
    runStep_ = runPlot_->addGraph();
    runStep_->setName(tr("kept (best)"));
    runStep_->setLineStyle(QCPGraph::lsNone);
    placeLegendBelow(runPlot_, 2);  // two rows: the plot may be narrow beside the table
    runPlot_->setToolTip(tr("The current run (or the run selected in the table): validation accuracy right after each "
                            "pruning step and after each fine-tuning epoch; the best epoch's weights are kept"));
    recolour();
}

void RunPlot::clear() {
    for (auto* g : {runVal_, runTrain_, runPruned_, runStep_}) g->data()->clear();
    runPlot_->clearItems();
    setPlotTitle(runPlot_, tr("Run: accuracy per epoch"));
    runPlot_->replot();
}

void RunPlot::show(const QString& run) {
    sweep_->setShownRun(run);
    for (auto* g : {runVal_, runTrain_, runPruned_, runStep_}) g->data()->clear();
    runPlot_->clearItems();
    double hi = 0, lo = 100;
    auto add = [&](QCPGraph* g, double x, double y) {
        g->addData(x, y);
        hi = std::max(hi, x);
        lo = std::min(lo, y);
    };
    if (run == QLatin1String("<base>")) {
        setPlotTitle(runPlot_, tr("Training the base model: accuracy per epoch"));
        for (const auto& e : sweep_->baseEpochs()) {
            add(runVal_, e.value("epoch"), 100 * e.value("val_accuracy"));
            add(runTrain_, e.value("epoch"), 100 * e.value("train_accuracy"));
        }
        runPlot_->xAxis->setLabel(tr("epoch"));
    } else {
        const auto s = sweep_->settingsOf(run, nullptr);
        // Schedule and target; the other settings are in the selected table row and the tooltip.
        QString title = s.strategy;
        if (s.strategy != QLatin1String("one-shot") && s.steps > 0) title += QStringLiteral(" n%1").arg(s.steps);
        title = tr("Run: %1 to %2").arg(title, pct(s.target, 0));
        runPlot_->setToolTip(tr("Run %1: validation accuracy right after each pruning step (triangles), after each "
                                "fine-tuning epoch (line) and kept at the end of the step (diamonds: the best epoch's "
                                "weights)").arg(run));
        runPlot_->xAxis->setLabel(tr("fine-tuning epoch (dashed: pruning step k)"));
        double offset = 0;
        int step = 1, totalSteps = 0;
        bool stepStarted = false;
        auto mark = [&](double x, int k) {
            auto* line = new QCPItemStraightLine(runPlot_);
            line->point1->setCoords(x, 0);
            line->point2->setCoords(x, 1);
            line->setPen(QPen(Theme::instance()->grid().darker(130), 1, Qt::DashLine));
            auto* label = new QCPItemText(runPlot_);
            label->setPositionAlignment(Qt::AlignTop | Qt::AlignLeft);
            label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
            label->position->setCoords(x + 0.05, 0.02);
            label->setText(QString::number(k));
            label->setColor(Theme::instance()->text());
        };
        if (const auto* events = sweep_->runEvents(run))
            for (const auto& e : *events) {
                if (e.kind == "prune.step") {
                    const int k = int(e.value("step"));
                    totalSteps = std::max(totalSteps, int(e.value("steps")));
                    if (k > 0) offset += e.value("epochs");
                    add(runStep_, offset, 100 * e.value("val_top1"));
                    if (k == 0) add(runVal_, offset, 100 * e.value("val_top1"));
                    step = k + 1;
                    stepStarted = false;
                } else if (e.kind == "prune.epoch") {
                    if (!stepStarted) {
                        stepStarted = true;
                        mark(offset, step);
                        if (e.values.count("pruned_val_accuracy")) {
                            add(runPruned_, offset, 100 * e.value("pruned_val_accuracy"));
                            add(runVal_, offset, 100 * e.value("pruned_val_accuracy"));
                        }
                    }
                    add(runVal_, offset + e.value("epoch"), 100 * e.value("val_accuracy"));
                    add(runTrain_, offset + e.value("epoch"), 100 * e.value("train_accuracy"));
                }
            }
        if (run == sweep_->currentRun() && sweep_->live() && totalSteps > 0)
            title += tr(" (running: step %1 of %2)").arg(std::min(step, totalSteps)).arg(totalSteps);
        setPlotTitle(runPlot_, title);
    }
    runPlot_->xAxis->setRange(-0.3, std::max(1.0, hi) + 0.3);
    const double bottom = std::max(0.0, std::floor(lo / 10) * 10 - 5);
    runPlot_->yAxis->setRange(bottom, 100 + (100 - bottom) * 0.12);
    Theme::instance()->stylePlot(runPlot_);
    runPlot_->replot(QCustomPlot::rpQueuedReplot);
}

void RunPlot::recolour() {
    auto* t = Theme::instance();
    runVal_->setPen(QPen(t->series(0), 2));
    runVal_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    runTrain_->setPen(QPen(t->series(1), 1.2, Qt::DotLine));
    runTrain_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, t->series(1), 4));
    runPruned_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangleInverted, t->series(3), t->series(3), 8));
    runPruned_->setPen(QPen(t->series(3)));
    runStep_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, t->series(2), t->series(2), 9));
    runStep_->setPen(QPen(t->series(2)));
    t->stylePlot(runPlot_);
    runPlot_->replot();
}

}  // namespace pqwgui
