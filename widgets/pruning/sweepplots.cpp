#include "pruning/sweepplots.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "plots.h"
#include "pruning/sweepjson.h"
#include "qcp.h"
#include "theme.h"

namespace pqwgui {

using sweepjson::kStrategies;

SweepPlots::SweepPlots(QObject* parent) : QObject(parent) {
    sparsity_ = makePlot(tr("Accuracy vs sparsity"));
    sparsity_->setObjectName(QStringLiteral("accVsSparsity"));
    sparsity_->xAxis->setLabel(tr("sparsity, %"));
    sparsity_->yAxis->setLabel(tr("test top-1, %"));
    // The legend goes below the axes and names the encodings (colour: schedule, line: fine-
    // tuning, marker: criterion) rather than every curve, so it stays short.
    placeLegendBelow(sparsity_, 4);
    {
        QFont lf = sparsity_->font();
        lf.setPointSizeF(lf.pointSizeF() * 0.85);
        sparsity_->legend->setFont(lf);
        sparsity_->legend->setIconSize(22, 10);
        sparsity_->legend->setColumnSpacing(4);
    }
    sparsity_->setToolTip(tr("One curve per strategy: a point per pruning step, as steps finish"));
    epochs_ = makePlot(tr("Accuracy vs total fine-tuning epochs"));
    epochs_->setObjectName(QStringLiteral("accVsEpochs"));
    epochs_->xAxis->setLabel(tr("fine-tuning epochs so far in the run"));
    epochs_->yAxis->setLabel(tr("%"));
    epochs_->setToolTip(tr("What accuracy costs: a point per pruning step, colours as in accuracy vs sparsity"));
}

void SweepPlots::removeSeries() {
    for (auto& [k, s] : series_) {
        sparsity_->removeGraph(s.sparsity);
        sparsity_->removeGraph(s.steps);
        epochs_->removeGraph(s.epochs);
    }
    series_.clear();
    if (denseLine_) sparsity_->removeGraph(denseLine_), denseLine_ = nullptr;
}

void SweepPlots::clear() {
    removeSeries();
    for (auto* g : legendOnly_) sparsity_->removeGraph(g);
    legendOnly_.clear();
    stepEvents_.clear();
    dense_ = -1;
    for (auto* p : {sparsity_, epochs_}) p->replot();
}

void SweepPlots::setAxes(int x, int y) {
    xAxis_ = x;
    yAxis_ = y;
    rebuild();
}

void SweepPlots::addSteps(const std::vector<std::pair<QString, pqw::Event>>& steps) {
    if (steps.empty()) return;
    for (const auto& [run, e] : steps) addStep(run, e);
    rescale();
}

QString SweepPlots::seriesKey(const SweepRunSettings& s) const {
    QString k = s.strategy;
    if (s.strategy != QLatin1String("one-shot") && s.steps > 0) k += QStringLiteral(" n%1").arg(s.steps);
    if (multiFineTune_) k += QStringLiteral(", ") + fineTuneLabel(s.fineTune, true);
    if (multiCriteria_) k += QStringLiteral(", ") + s.criterion;
    if (multiModalities_) k += QStringLiteral(", ") + s.modality;
    return k;
}

SweepRunSettings SweepPlots::settingsOf(const QString& run, const pqw::Event* e) const {
    auto it = settings_.find(run);
    return it != settings_.end() ? it->second : settingsFromId(run, e);
}

void SweepPlots::prepare(const std::map<QString, SweepRunSettings>& settings) {
    settings_ = settings;
    std::set<QString> crit, mods, ft;
    for (const auto& [id, s] : settings) {
        crit.insert(s.criterion);
        mods.insert(s.modality);
        ft.insert(s.fineTune);
    }
    multiCriteria_ = crit.size() > 1;
    multiModalities_ = mods.size() > 1;
    multiFineTune_ = ft.size() > 1;
    removeSeries();
    // Colours and legend in the order of the strategies, then steps, then the rest: the
    // same for a live sweep and for the folder reopened.
    std::vector<std::pair<std::tuple<int, int, QString>, QString>> keys;
    for (const auto& [id, s] : settings) {
        int si = 4;
        for (int i = 0; i < 4; ++i)
            if (s.strategy == QLatin1String(kStrategies[i])) si = i;
        keys.push_back({{si, s.steps, seriesKey(s)}, seriesKey(s)});
    }
    std::sort(keys.begin(), keys.end());
    // Style indices of the variants, in sorted order.
    schedules_.clear();
    fineTunes_.clear();
    criteria2_.clear();
    std::vector<std::tuple<int, int, QString>> sched;
    for (const auto& [id, st] : settings) {
        int si = 4;
        for (int i = 0; i < 4; ++i)
            if (st.strategy == QLatin1String(kStrategies[i])) si = i;
        sched.push_back({si, st.steps, st.strategy});
        fineTunes_[st.fineTune] = 0;
        criteria2_[st.criterion + QLatin1Char('/') + st.modality] = 0;
    }
    std::sort(sched.begin(), sched.end());
    for (const auto& [si, n, name] : sched)
        if (!schedules_.count(name + QString::number(n))) schedules_[name + QString::number(n)] = int(schedules_.size());
    int i = 0;
    for (auto& [k, v] : fineTunes_) v = k.startsWith(QLatin1String("fixed")) ? 0 : 1 + i++;  // patience: dashed
    i = 0;
    for (auto& [k, v] : criteria2_) v = i++;
    std::set<QString> made;
    for (const auto& [order, key] : keys)
        if (made.insert(key).second)
            for (const auto& [id, st] : settings)
                if (seriesKey(st) == key) {
                    addSeries(key, &st);
                    break;
                }
    buildLegend();
    rebuild();
}

void SweepPlots::buildLegend() {
    for (auto* g : legendOnly_) sparsity_->removeGraph(g);
    legendOnly_.clear();
    for (const auto& [k, s] : series_) s.sparsity->removeFromLegend();
    auto* t = Theme::instance();
    const QColor grey = t->text();
    auto entry = [&](const QString& name, const QPen& pen, const QCPScatterStyle& sc) {
        auto* g = sparsity_->addGraph();
        g->setName(name);
        g->setPen(pen);
        g->setScatterStyle(sc);
        legendOnly_.push_back(g);
    };
    const QCPScatterStyle::ScatterShape shapes[] = {QCPScatterStyle::ssDisc, QCPScatterStyle::ssSquare,
                                                    QCPScatterStyle::ssTriangle, QCPScatterStyle::ssDiamond,
                                                    QCPScatterStyle::ssCross, QCPScatterStyle::ssPlus};
    // Schedules in their colour order.
    std::vector<std::pair<int, QString>> sched;
    for (const auto& [key, idx] : schedules_) sched.push_back({idx, key});
    std::sort(sched.begin(), sched.end());
    auto split = [](QString key) {
        QString steps;
        while (!key.isEmpty() && key.back().isDigit()) steps.prepend(key.back()), key.chop(1);
        return std::make_pair(key, steps);
    };
    std::map<QString, int> stepVariants;  // strategy -> how many step counts the grid has
    for (const auto& [idx, key] : sched) stepVariants[split(key).first]++;
    for (const auto& [idx, key] : sched) {
        const auto [strategy, steps] = split(key);
        const QColor c = t->series(idx);
        // The step count only where one strategy has several (the table has them all).
        entry(stepVariants[strategy] > 1 ? strategy + QStringLiteral(" n") + steps : strategy, QPen(c, 2.0),
              QCPScatterStyle(QCPScatterStyle::ssNone));
    }
    if (fineTunes_.size() > 1) {
        const Qt::PenStyle dashes[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine};
        for (const auto& [ft, idx] : fineTunes_)
            entry(fineTuneLabel(ft, true), QPen(grey, 1.4, dashes[idx % 4]), QCPScatterStyle(QCPScatterStyle::ssNone));
    }
    if (criteria2_.size() > 1)
        for (const auto& [cm, idx] : criteria2_) {
            const QString crit = cm.section(QLatin1Char('/'), 0, 0), mod = cm.section(QLatin1Char('/'), 1, 1);
            const QString modShort = mod == QLatin1String("structured") ? tr("struct.") : tr("unstr.");
            QString name = !multiModalities_ ? crit : !multiCriteria_ ? mod : crit + QStringLiteral(", ") + modShort;
            QPen none(Qt::NoPen);
            entry(name, none, QCPScatterStyle(shapes[idx % 6], grey, grey, 6));
        }
}

void SweepPlots::addSeries(const QString& key, const SweepRunSettings* st) {
    Series s;
    s.colour = int(series_.size());
    if (st) {
        auto a = schedules_.find(st->strategy + QString::number(st->steps));
        auto b = fineTunes_.find(st->fineTune);
        auto c = criteria2_.find(st->criterion + QLatin1Char('/') + st->modality);
        if (a != schedules_.end()) s.colour = a->second;
        if (b != fineTunes_.end()) s.dash = b->second;
        if (c != criteria2_.end()) s.shape = c->second;
    }
    s.sparsity = sparsity_->addGraph();
    s.sparsity->setName(key);
    s.steps = sparsity_->addGraph();
    s.steps->setName(key + tr(" (steps)"));
    s.steps->setLineStyle(QCPGraph::lsNone);
    s.steps->removeFromLegend();
    s.epochs = epochs_->addGraph();
    s.epochs->setName(key);
    s.epochs->setLineStyle(QCPGraph::lsNone);
    s.epochs->removeFromLegend();
    s.sparsity->removeFromLegend();
    applySeriesStyle(s);
    series_[key] = s;
}

void SweepPlots::applySeriesStyle(const Series& s) {
    auto* t = Theme::instance();
    const QColor c = t->series(s.colour);
    const QCPScatterStyle::ScatterShape shapes[] = {QCPScatterStyle::ssDisc, QCPScatterStyle::ssSquare,
                                                    QCPScatterStyle::ssTriangle, QCPScatterStyle::ssDiamond,
                                                    QCPScatterStyle::ssCross, QCPScatterStyle::ssPlus};
    const auto shape = shapes[s.shape % 6];
    const Qt::PenStyle dashes[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine};
    s.sparsity->setPen(QPen(c, 1.6, dashes[s.dash % 4]));
    s.sparsity->setScatterStyle(QCPScatterStyle(shape, c, c, 6));
    QColor faint = c;
    faint.setAlpha(150);
    s.steps->setScatterStyle(QCPScatterStyle(shape, faint, Qt::transparent, 5));
    s.epochs->setPen(QPen(c, 1.6));
    s.epochs->setScatterStyle(QCPScatterStyle(shape, c, c, 6));
}

void SweepPlots::addStep(const QString& run, const pqw::Event& e) {
    stepEvents_.push_back({run, e});
    const auto s = settingsOf(run, &e);
    const QString key = seriesKey(s);
    if (!series_.count(key)) addSeries(key, &s);  // a run the grid does not list
    const auto& sr = series_[key];
    const bool val = yAxis_ == 1 || !e.values.count("test_top1");
    const double acc = 100 * e.value(val ? "val_top1" : "test_top1");
    double x = 0;
    switch (xAxis_) {
    case 0: x = s.modality == QLatin1String("structured") ? e.value("channel_sparsity") : e.value("sparsity_prunable"); break;
    case 1: x = e.value("sparsity_prunable"); break;
    case 2: x = e.value("channel_sparsity"); break;
    default: x = e.value("sparsity_all"); break;
    }
    // A run's last step is where it ends (its target): that point is on the schedule's curve.
    const bool last = e.values.count("steps") && int(e.value("step")) >= int(e.value("steps"));
    (last ? sr.sparsity : sr.steps)->addData(100 * x, acc);
    sr.epochs->addData(e.value("total_epochs"), acc);
    if (int(e.value("step")) == 0 && dense_ < 0) {
        dense_ = acc;
        denseLine_ = sparsity_->addGraph();
        denseLine_->setName(tr("dense model"));
        denseLine_->setPen(QPen(Theme::instance()->text(), 1, Qt::DashLine));
        denseLine_->setData({0.0, 100.0}, {dense_, dense_});
    }
}

void SweepPlots::rebuild() {
    auto steps = std::move(stepEvents_);
    stepEvents_.clear();
    for (auto& [k, s] : series_) {
        s.sparsity->data()->clear();
        s.steps->data()->clear();
        s.epochs->data()->clear();
    }
    if (denseLine_) sparsity_->removeGraph(denseLine_), denseLine_ = nullptr;
    dense_ = -1;
    for (const auto& [run, e] : steps) addStep(run, e);
    rescale();
}

void SweepPlots::rescale() {
    double lo = 100, hi = 0, xhi = 0, ehi = 0;
    bool any = false;
    for (const auto& [k, s] : series_) {
        for (auto* g : {s.sparsity, s.steps})
            for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
                lo = std::min(lo, it->value);
                hi = std::max(hi, it->value);
                xhi = std::max(xhi, it->key);
                any = true;
            }
        for (auto it = s.epochs->data()->constBegin(); it != s.epochs->data()->constEnd(); ++it) ehi = std::max(ehi, it->key);
    }
    if (dense_ >= 0) lo = std::min(lo, dense_);
    const double span = any ? std::max(5.0, hi - lo) : 100;
    const double bottom = any ? std::max(0.0, lo - 0.08 * span) : 0;
    const double top = any ? std::min(100.0, hi + 0.08 * span) + 0.5 : 100;
    sparsity_->xAxis->setRange(-2, any ? std::min(100.0, std::ceil(xhi / 10) * 10) + 2 : 100);
    sparsity_->yAxis->setRange(bottom, top);
    epochs_->xAxis->setRange(-0.5, std::max(1.0, ehi) + 0.5);
    epochs_->yAxis->setRange(any ? std::max(0.0, lo - 0.08 * span) : 0, top);
    const bool val = yAxis_ == 1;
    static const char* xl[] = {"sparsity, % (weights; channels for structured runs)", "sparsity of the prunable weights, %",
                               "channels removed, %", "sparsity of all parameters, %"};
    int xi = std::clamp(xAxis_, 0, 3);
    if (xi == 0 && !multiModalities_ && !settings_.empty())  // one modality: say which sparsity it is
        xi = settings_.begin()->second.modality == QLatin1String("structured") ? 2 : 1;
    sparsity_->xAxis->setLabel(tr(xl[xi]));
    sparsity_->yAxis->setLabel(val ? tr("validation top-1, %") : tr("test top-1, %"));
    epochs_->yAxis->setLabel(val ? tr("validation top-1, %") : tr("test top-1, %"));
    for (auto* p : {sparsity_, epochs_}) p->replot(QCustomPlot::rpQueuedReplot);
}

int SweepPlots::pointCount() const {
    int n = 0;
    for (const auto& [k, s] : series_) n += s.sparsity->dataCount() + s.steps->dataCount();
    return n;
}

std::map<QString, std::vector<std::pair<double, double>>> SweepPlots::points() const {
    std::map<QString, std::vector<std::pair<double, double>>> out;
    for (const auto& [k, s] : series_) {
        auto& v = out[k];
        for (auto it = s.sparsity->data()->constBegin(); it != s.sparsity->data()->constEnd(); ++it) v.push_back({it->key, it->value});
        auto& w = out[k + QStringLiteral(" (steps)")];
        for (auto it = s.steps->data()->constBegin(); it != s.steps->data()->constEnd(); ++it) w.push_back({it->key, it->value});
    }
    return out;
}

void SweepPlots::recolour() {
    auto* t = Theme::instance();
    for (const auto& [k, s] : series_) applySeriesStyle(s);
    buildLegend();
    if (denseLine_) denseLine_->setPen(QPen(t->text(), 1, Qt::DashLine));
    for (auto* p : {sparsity_, epochs_}) {
        t->stylePlot(p);
        p->replot();
    }
}

}  // namespace pqwgui
