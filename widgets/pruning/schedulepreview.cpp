#include "pruning/schedulepreview.h"

#include <algorithm>

#include "plots.h"
#include "pqw/error.h"
#include "pqw/prune_schedule.h"
#include "pruning/sweepjson.h"
#include "qcp.h"
#include "theme.h"

namespace pqwgui {

using sweepjson::parseList;

namespace {

QString pct(double v, int d = 1) { return QStringLiteral("%1 %").arg(100 * v, 0, 'f', d); }
QString tr(const char* s) { return QObject::tr(s); }

}  // namespace

std::vector<double> scheduleSteps(const QString& strategy, const QString& targets, const QString& steps,
                                  const QString& firstSteps) {
    std::vector<double> t, n, s0;
    if (!parseList(targets, t) || !parseList(steps, n) || !parseList(firstSteps, s0)) return {};
    const double target = *std::max_element(t.begin(), t.end());
    try {
        const auto st = pqw::parseStrategy(strategy.toStdString());
        if (st == pqw::PruneStrategy::Hybrid && s0[0] >= target) return {};
        return pqw::pruneSchedule(st, target, int(n[0]), s0[0]);
    } catch (const pqw::Error&) {
        return {};
    }
}

SchedulePreview::SchedulePreview() : plot_(makePlot(tr("Step sizes"))) {
    plot_->setObjectName(QStringLiteral("schedulePreview"));
    plot_->setMinimumHeight(190);
    plot_->xAxis->setLabel(tr("step"));
    plot_->yAxis->setLabel(tr("% of the weights"));
    placeLegendBelow(plot_, 2);
    plot_->setToolTip(tr("What each schedule removes per step (before anything runs): fractions of the original "
                         "prunable weights (or of each layer's channels)"));
}

void SchedulePreview::show(const std::vector<std::pair<QString, std::vector<double>>>& schedules, const QString& targets,
                           const QString& steps) {
    auto* preview_ = plot_;
    preview_->clearPlottables();
    if (!previewGroup_) {
        previewGroup_ = new QCPBarsGroup(preview_);
        previewGroup_->setSpacingType(QCPBarsGroup::stAbsolute);
        previewGroup_->setSpacing(1);
    }
    auto* group = previewGroup_;
    int maxSteps = 0, shown = 0;
    double maxV = 0;
    std::vector<double> t, n;
    parseList(targets, t);
    parseList(steps, n);
    int colour = 0;
    for (const auto& [s, st] : schedules) {
        const int c = colour++;
        if (st.empty()) continue;
        auto* bars = new QCPBars(preview_->xAxis, preview_->yAxis);
        bars->setName(s);
        bars->setWidth(0.8 / 4);
        bars->setBarsGroup(group);
        bars->setBrush(Theme::instance()->series(c));
        bars->setPen(Qt::NoPen);
        bars->setProperty("series", c);
        for (size_t k = 0; k < st.size(); ++k) {
            bars->addData(double(k + 1), 100 * st[k]);
            maxV = std::max(maxV, 100 * st[k]);
        }
        maxSteps = std::max(maxSteps, int(st.size()));
        ++shown;
    }
    if (shown > 0) {
        const double target = *std::max_element(t.begin(), t.end());
        setPlotTitle(preview_, tr("Step sizes to %1 (steps %2)").arg(pct(target, 0)).arg(int(n[0])));
        preview_->xAxis->setRange(0.4, maxSteps + 0.6);
        preview_->yAxis->setRange(0, maxV * 1.12);
    } else {
        setPlotTitle(preview_, tr("Step sizes: tick a schedule, give a target"));
    }
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    preview_->xAxis->setTicker(ticker);
    Theme::instance()->stylePlot(preview_);
    preview_->replot(QCustomPlot::rpQueuedReplot);
}


}  // namespace pqwgui
