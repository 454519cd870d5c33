#include "trainingview.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include "qcp.h"

#include <cmath>

#include "formfields.h"
#include "plots.h"
#include "theme.h"

namespace pqwgui {

TrainingView::TrainingView(Session* session, QWidget* parent) : QWidget(parent), session_(session) {
    const TrainConfig d;  // core's defaults
    auto* root = new QHBoxLayout(this);
    auto* split = new QSplitter;
    root->addWidget(split);

    // ---- the form ----
    auto* formHost = new QWidget;
    formHost->setObjectName(QStringLiteral("trainingSettings"));
    auto* fv = new QVBoxLayout(formHost);
    auto* formNote = new QLabel(tr("Settings for the next training run. The plots show the current model."));
    formNote->setWordWrap(true);
    formNote->setEnabled(false);
    fv->addWidget(formNote);
    auto* g0 = new QGroupBox(tr("Stage 0: linear probe"));
    auto* f0 = new QFormLayout(g0);
    run0_ = new QCheckBox(tr("train"));
    run0_->setChecked(true);
    run0_->setToolTip(tr("A frozen reference classifier (average-pool, LayerNorm, linear) on the features. Stage 1 learns "
                         "the codebook through it. Untick to keep the current model's stages and continue from it."));
    ep0_ = intField(1, 1000, d.s0.epochs, tr("Passes over the training features"));
    lr0_ = realField(1e-5, 1, d.s0.lr, 5, 1e-3, tr("AdamW learning rate"));
    wd0_ = realField(0, 1, d.s0.weightDecay, 5, 1e-4, tr("AdamW weight decay"));
    bs0_ = intField(1, 4096, d.s0.batchSize, tr("Images per optimisation step"));
    f0->addRow(run0_);
    addRow(f0, tr("Epochs:"), ep0_);
    addRow(f0, tr("Learning rate:"), lr0_);
    addRow(f0, tr("Weight decay:"), wd0_);
    addRow(f0, tr("Batch size:"), bs0_);
    fv->addWidget(g0);

    auto* g1 = new QGroupBox(tr("Stage 1: codebook (the prototypes)"));
    auto* f1 = new QFormLayout(g1);
    run1_ = new QCheckBox(tr("train"));
    run1_->setChecked(true);
    run1_->setToolTip(tr("Learn K codes; every feature cell is replaced by its nearest code and the frozen probe must "
                         "still classify. The codes become the prototypes."));
    codes_ = intField(2, 8192, d.s1.codes, tr("K: number of codes (prototypes). More codes: finer parts, harder to browse"));
    init_ = new QComboBox;
    init_->addItems({QStringLiteral("kmeans"), QStringLiteral("orthogonal")});
    init_->setCurrentText(QString::fromStdString(d.s1.init));
    init_->setToolTip(tr("Initial codes: k-means on a sample of feature cells (recommended), or random orthogonal vectors"));
    ep1_ = intField(1, 1000, d.s1.epochs, tr("Passes over the training features"));
    lr1_ = realField(1e-6, 1, d.s1.lr, 6, 1e-4, tr("Peak Adam learning rate (linear warm-up, then cosine decay to 0)"));
    warm1_ = intField(0, 100, d.s1.warmupEpochs, tr("Epochs of linear learning-rate warm-up"));
    ls1_ = realField(0, 0.9, d.s1.labelSmoothing, 3, 0.05, tr("Label smoothing of the cross-entropy term"));
    mix1_ = realField(0, 10, d.s1.mixupAlpha, 2, 0.1, tr("Mixup of feature maps with Beta(alpha, alpha) weights; 0 = off"));
    bs1_ = intField(1, 4096, d.s1.batchSize, tr("Images per optimisation step"));
    f1->addRow(run1_);
    addRow(f1, tr("Codes (K):"), codes_);
    addRow(f1, tr("Initialisation:"), init_);
    addRow(f1, tr("Epochs:"), ep1_);
    addRow(f1, tr("Learning rate:"), lr1_);
    addRow(f1, tr("Warm-up epochs:"), warm1_);
    addRow(f1, tr("Label smoothing:"), ls1_);
    addRow(f1, tr("Mixup alpha:"), mix1_);
    addRow(f1, tr("Batch size:"), bs1_);
    fv->addWidget(g1);

    auto* g1b = new QGroupBox(tr("Stage 1b: prune the codebook"));
    auto* f1b = new QFormLayout(g1b);
    run1b_ = new QCheckBox(tr("prune"));
    run1b_->setToolTip(tr("Remove the least-used codes until the target size is reached, in steps (fewer prototypes to read)"));
    target_ = intField(1, 8192, 32, tr("Codes left after pruning"));
    steps_ = intField(1, 100, d.s1b.steps, tr("Pruning steps; (K - target) / steps least-used codes go per step"));
    f1b->addRow(run1b_);
    addRow(f1b, tr("Target codes:"), target_);
    addRow(f1b, tr("Steps:"), steps_);
    fv->addWidget(g1b);

    auto* g2 = new QGroupBox(tr("Stage 2: interpretable head"));
    auto* f2 = new QFormLayout(g2);
    run2_ = new QCheckBox(tr("train"));
    run2_->setChecked(true);
    run2_->setToolTip(tr("A class score is a weighted sum of how strongly each prototype is present in the image: "
                         "the decision reads as \"this looks like that\""));
    ep2_ = intField(1, 1000, d.s2.epochs, tr("Passes over the training features"));
    lr2_ = realField(1e-6, 1, d.s2.lr, 6, 1e-4, tr("Adam learning rate"));
    tau_ = realField(0.001, 10, d.s2.tau, 3, 0.01, tr("Softmax temperature over prototypes: lower = each cell picks one prototype"));
    l1_ = realField(0, 10, d.s2.l1, 4, 1e-3, tr("L1 penalty on the class weights: higher = fewer prototypes per class"));
    topk_ = intField(0, 8192, d.s2.topKPerClass, tr("Keep only each class's k strongest prototypes afterwards (0 = keep all)"));
    bs2_ = intField(1, 4096, d.s2.batchSize, tr("Images per optimisation step"));
    f2->addRow(run2_);
    addRow(f2, tr("Epochs:"), ep2_);
    addRow(f2, tr("Learning rate:"), lr2_);
    addRow(f2, tr("Temperature (tau):"), tau_);
    addRow(f2, tr("L1 on weights:"), l1_);
    addRow(f2, tr("Top-k per class:"), topk_);
    addRow(f2, tr("Batch size:"), bs2_);
    fv->addWidget(g2);

    auto* fs = new QFormLayout;
    seed_ = intField(0, 1 << 30, 0, tr("Seed of every stage: the same seed and settings give the same model"));
    addRow(fs, tr("Seed:"), seed_);
    fv->addLayout(fs);

    auto* buttons = new QGridLayout;
    start_ = new QPushButton(tr("Start training"));
    start_->setObjectName(QStringLiteral("startTraining"));
    start_->setToolTip(tr("Train the ticked stages on the feature cache (Ctrl+T)"));
    cancel_ = new QPushButton(tr("Cancel"));
    cancel_->setToolTip(tr("Stop training after the current batch; the previous model stays"));
    cancel_->setEnabled(false);
    save_ = new QPushButton(tr("Save checkpoint..."));
    save_->setToolTip(tr("Write the model to a .pqwh file (Ctrl+S)"));
    load_ = new QPushButton(tr("Load checkpoint..."));
    load_->setToolTip(tr("Load a .pqwh model trained on these features (Ctrl+Shift+L)"));
    buttons->addWidget(start_, 0, 0);
    buttons->addWidget(cancel_, 0, 1);
    buttons->addWidget(save_, 1, 0);
    buttons->addWidget(load_, 1, 1);
    fv->addLayout(buttons);
    status_ = new QLabel;
    status_->setWordWrap(true);
    fv->addWidget(status_);
    fv->addStretch(1);
    auto* scroll = new QScrollArea;
    scroll->setWidget(formHost);
    scroll->setWidgetResizable(true);
    scroll->setMinimumWidth(330);
    split->addWidget(scroll);

    // ---- plots ----
    auto* plots = new QWidget;
    auto* pg = new QGridLayout(plots);
    pg->setContentsMargins(0, 0, 0, 0);
    loss_ = makePlot(tr("Training loss per epoch"));
    loss_->setObjectName(QStringLiteral("lossPlot"));
    lossGraph_ = loss_->addGraph();
    lossGraph_->setName(tr("loss"));
    loss_->xAxis->setLabel(tr("epoch (all stages)"));
    // Stage 1's loss adds the commitment (MSE) term, orders of magnitude above the others.
    loss_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    loss_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    loss_->yAxis->setNumberFormat(QStringLiteral("gb"));
    loss_->yAxis->setLabel(tr("loss (log scale)"));

    acc_ = makePlot(tr("Accuracy per epoch"));
    acc_->setObjectName(QStringLiteral("accuracyPlot"));
    trainAcc_ = acc_->addGraph();
    trainAcc_->setName(tr("train"));
    valAcc_ = acc_->addGraph();
    valAcc_->setName(tr("validation"));
    acc_->legend->setVisible(true);
    acc_->xAxis->setLabel(tr("epoch (all stages)"));
    acc_->yAxis->setLabel(tr("%"));
    acc_->yAxis->setRange(0, 100);
    for (auto* p : {loss_, acc_}) {
        QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
        ticker->setTickStep(1.0);
        ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        p->xAxis->setTicker(ticker);
    }
    // The legend goes below the axis rect, in one row, so it never covers a curve.
    acc_->axisRect()->insetLayout()->take(acc_->legend);
    acc_->plotLayout()->addElement(2, 0, acc_->legend);
    acc_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    acc_->plotLayout()->setRowStretchFactor(2, 0.001);
    usage_ = makePlot(tr("Codebook usage (stage 1)"));
    usage_->setObjectName(QStringLiteral("usagePlot"));
    usageBars_ = new QCPBars(usage_->xAxis, usage_->yAxis);
    usageBars_->setName(tr("cells per code"));
    usageBars_->setWidth(0.9);
    perplexity_ = usage_->addGraph(usage_->xAxis2, usage_->yAxis2);
    perplexity_->setName(tr("codes in effective use, per stage-1 epoch (right axis)"));
    usage_->xAxis2->setVisible(false);
    usage_->yAxis2->setVisible(true);
    usage_->yAxis2->setLabel(tr("codes in effective use"));
    usage_->xAxis->setLabel(tr("code (sorted by usage)"));
    usage_->yAxis->setLabel(tr("share of cells, %"));
    usage_->legend->setVisible(true);
    // As in the accuracy plot: the legend below the axis rect (one entry per row), never over the bars.
    usage_->axisRect()->insetLayout()->take(usage_->legend);
    usage_->plotLayout()->addElement(2, 0, usage_->legend);
    usage_->legend->setFillOrder(QCPLayoutGrid::foRowsFirst);
    usage_->plotLayout()->setRowStretchFactor(2, 0.001);
    usage_->setMinimumSize(300, 240);
    confusion_ = makePlot(tr("Confusion matrix (test): rows true, columns predicted"));
    confusion_->setObjectName(QStringLiteral("confusionPlot"));
    heat_ = new QCPColorMap(confusion_->xAxis, confusion_->yAxis);
    scale_ = new QCPColorScale(confusion_);
    confusion_->plotLayout()->addElement(1, 1, scale_);
    scale_->setLabel(tr("share of the true class"));
    heat_->setColorScale(scale_);
    // The colour bar spans the matrix only, not the rotated class names under it; the last
    // name gets room on the right.
    auto* margins = new QCPMarginGroup(confusion_);
    confusion_->axisRect()->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
    scale_->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
    confusion_->axisRect()->setMinimumMargins(QMargins(0, 0, 40, 0));
    confusion_->setMinimumSize(300, 280);
    heat_->setGradient(QCPColorGradient(QCPColorGradient::gpThermal));
    heat_->setInterpolate(false);
    confusion_->yAxis->setRangeReversed(true);
    summary_ = new QLabel(tr("Train a model (or load a checkpoint) to see its accuracy here."));
    summary_->setObjectName(QStringLiteral("evaluationSummary"));
    summary_->setWordWrap(true);
    pg->addWidget(loss_, 0, 0);
    pg->addWidget(acc_, 0, 1);
    pg->addWidget(usage_, 1, 0);
    pg->addWidget(confusion_, 1, 1);
    pg->addWidget(summary_, 2, 0, 1, 2);
    pg->setRowStretch(0, 1);
    pg->setRowStretch(1, 1);
    split->addWidget(plots);
    split->setStretchFactor(1, 1);
    recolour();
    connect(Theme::instance(), &Theme::changed, this, &TrainingView::recolour);

    repaint_.setSingleShot(true);
    repaint_.setInterval(40);
    connect(&repaint_, &QTimer::timeout, this, &TrainingView::flush);

    connect(start_, &QPushButton::clicked, this, &TrainingView::startRequested);
    connect(save_, &QPushButton::clicked, this, &TrainingView::saveRequested);
    connect(load_, &QPushButton::clicked, this, &TrainingView::loadRequested);
    connect(cancel_, &QPushButton::clicked, this, [this] { if (trainJob_) session_->jobs()->cancel(trainJob_); });
    auto* jobs = session_->jobs();
    connect(jobs, &JobRunner::started, this, [this](int id, const QString& title) {
        if (title != tr("Train ProtoQuant")) return;
        trainJob_ = id;
        live_ = true;
        clearPlots();
        cancel_->setEnabled(true);
        status_->setText(tr("Training..."));
    });
    connect(jobs, &JobRunner::event, this, [this](int id, const pqw::Event& e) { if (id == trainJob_) onEvent(e); });
    connect(jobs, &JobRunner::finished, this, [this](int id, JobStatus st, const QString& msg) {
        if (id != trainJob_) return;
        flush();
        live_ = false;
        trainJob_ = 0;
        cancel_->setEnabled(false);
        status_->setText(st == JobStatus::Succeeded ? tr("Training finished: %1 epochs. Evaluating...").arg(records_.size())
                                                    : tr("Training %1. %2").arg(jobStatusName(st), msg));
    });
    auto updateButtons = [this] {
        const bool busy = session_->jobs()->busy();
        start_->setEnabled(session_->cache() && !busy);
        save_->setEnabled(bool(session_->model()));
        load_->setEnabled(bool(session_->cache()) && !busy);
    };
    connect(jobs, &JobRunner::queued, this, updateButtons);
    connect(jobs, &JobRunner::idle, this, updateButtons);
    connect(session_, &Session::cacheChanged, this, updateButtons);
    connect(session_, &Session::modelChanged, this, updateButtons);
    connect(session_, &Session::modelChanged, this, [this] { if (!live_) showHistory(); });
    connect(session_, &Session::evaluationChanged, this, &TrainingView::showEvaluation);
    connect(session_, &Session::indexChanged, this, [this] {
        // A loaded model has no live usage events: show the index's usage instead.
        auto idx = session_->index();
        if (!idx || haveUsage_) return;
        double total = 0;
        for (const auto& i : idx->infos) total += double(i.usage);
        pendingUsage_.clear();
        for (const auto& i : idx->infos) pendingUsage_.push_back(total > 0 ? double(i.usage) / total : 0);
        haveUsage_ = true;
        flush();
    });
    updateButtons();
}

TrainConfig TrainingView::config() const {
    TrainConfig c;
    c.stage0 = run0_->isChecked();
    c.stage1 = run1_->isChecked();
    c.stage1b = run1b_->isChecked();
    c.stage2 = run2_->isChecked();
    c.s0.epochs = ep0_->value();
    c.s0.lr = lr0_->value();
    c.s0.weightDecay = wd0_->value();
    c.s0.batchSize = bs0_->value();
    c.s1.codes = codes_->value();
    c.s1.init = init_->currentText().toStdString();
    c.s1.epochs = ep1_->value();
    c.s1.lr = lr1_->value();
    c.s1.warmupEpochs = warm1_->value();
    c.s1.labelSmoothing = ls1_->value();
    c.s1.mixupAlpha = mix1_->value();
    c.s1.batchSize = bs1_->value();
    c.s1b.target = target_->value();
    c.s1b.steps = steps_->value();
    c.s2.epochs = ep2_->value();
    c.s2.lr = lr2_->value();
    c.s2.tau = tau_->value();
    c.s2.l1 = l1_->value();
    c.s2.topKPerClass = topk_->value();
    c.s2.batchSize = bs2_->value();
    c.s0.seed = c.s1.seed = c.s2.seed = uint64_t(seed_->value());
    return c;
}

void TrainingView::setConfig(const TrainConfig& c) {
    run0_->setChecked(c.stage0);
    run1_->setChecked(c.stage1);
    run1b_->setChecked(c.stage1b);
    run2_->setChecked(c.stage2);
    ep0_->setValue(c.s0.epochs);
    lr0_->setValue(c.s0.lr);
    wd0_->setValue(c.s0.weightDecay);
    bs0_->setValue(c.s0.batchSize);
    codes_->setValue(c.s1.codes);
    init_->setCurrentText(QString::fromStdString(c.s1.init));
    ep1_->setValue(c.s1.epochs);
    lr1_->setValue(c.s1.lr);
    warm1_->setValue(c.s1.warmupEpochs);
    ls1_->setValue(c.s1.labelSmoothing);
    mix1_->setValue(c.s1.mixupAlpha);
    bs1_->setValue(c.s1.batchSize);
    if (c.s1b.target > 0) target_->setValue(c.s1b.target);
    steps_->setValue(c.s1b.steps);
    ep2_->setValue(c.s2.epochs);
    lr2_->setValue(c.s2.lr);
    tau_->setValue(c.s2.tau);
    l1_->setValue(c.s2.l1);
    topk_->setValue(c.s2.topKPerClass);
    bs2_->setValue(c.s2.batchSize);
    seed_->setValue(int(c.s0.seed));
}

void TrainingView::recolour() {
    auto* t = Theme::instance();
    lossGraph_->setPen(QPen(t->series(0), 2));
    lossGraph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    trainAcc_->setPen(QPen(t->series(0), 2));
    trainAcc_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    valAcc_->setPen(QPen(t->series(1), 2));
    valAcc_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 5));
    usageBars_->setBrush(t->series(2));
    usageBars_->setPen(Qt::NoPen);
    perplexity_->setPen(QPen(t->series(1), 2));
    perplexity_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    scale_->axis()->setTickLabelColor(t->text());
    scale_->axis()->setLabelColor(t->text());
    scale_->axis()->setBasePen(QPen(t->text()));
    for (auto* p : {loss_, acc_, usage_, confusion_}) {
        t->stylePlot(p);
        p->replot();
    }
}

void TrainingView::clearPlots() {
    records_.clear();
    pending_.clear();
    pendingUsage_.clear();
    haveUsage_ = false;
    lossGraph_->data()->clear();
    trainAcc_->data()->clear();
    valAcc_->data()->clear();
    perplexity_->data()->clear();
    usageBars_->data()->clear();
    loss_->clearItems();
    acc_->clearItems();
    for (auto* p : {loss_, acc_, usage_}) p->replot();
}

void TrainingView::onEvent(const pqw::Event& e) {
    const auto dot = e.kind.find('.');
    if (dot == std::string::npos) return;
    const std::string stage = e.kind.substr(0, dot), what = e.kind.substr(dot + 1);
    if (what == "epoch") {
        pqw::EpochRecord r;
        r.stage = stage;
        r.epoch = int(e.value("epoch"));
        r.loss = e.value("loss");
        r.ceLoss = e.value("ce");
        r.mseLoss = e.value("mse");
        r.trainAccuracy = e.value("train_accuracy");
        r.valAccuracy = e.value("val_accuracy");
        r.lr = e.value("lr");
        r.deadCodes = int(e.value("dead_codes", -1));
        r.perplexity = e.value("perplexity", -1);
        pending_.push_back(r);
    } else if (e.kind == "stage1.usage") {
        std::vector<double> u;
        for (int k = 0;; ++k) {
            auto it = e.values.find("code_" + std::to_string(k));
            if (it == e.values.end()) break;
            u.push_back(it->second);
        }
        double total = 0;
        for (double v : u) total += v;
        for (double& v : u) v = total > 0 ? v / total : 0;
        pendingUsage_ = u;
        haveUsage_ = true;
    } else {
        return;
    }
    if (!repaint_.isActive()) repaint_.start();
}

void TrainingView::addRecord(const pqw::EpochRecord& r) {
    const double x = double(records_.size() + 1);
    if (records_.empty() || records_.back().stage != r.stage) {
        // Mark where each stage starts.
        for (auto* p : {loss_, acc_}) {
            auto* line = new QCPItemStraightLine(p);
            line->point1->setCoords(x - 0.5, 0);
            line->point2->setCoords(x - 0.5, 1);
            line->setPen(QPen(Theme::instance()->grid().darker(130), 1, Qt::DashLine));
            auto* label = new QCPItemText(p);
            label->setPositionAlignment(Qt::AlignTop | Qt::AlignLeft);
            label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
            label->position->setCoords(x - 0.4, 0.02);
            label->setText(QString::fromStdString(r.stage));
            label->setColor(Theme::instance()->text());
        }
    }
    records_.push_back(r);
    lossGraph_->addData(x, r.loss);
    trainAcc_->addData(x, 100 * r.trainAccuracy);
    valAcc_->addData(x, 100 * r.valAccuracy);
    if (r.perplexity >= 0) perplexity_->addData(double(perplexity_->dataCount()), r.perplexity);
}

void TrainingView::flush() {
    const bool any = !pending_.empty() || !pendingUsage_.empty();
    for (const auto& r : pending_) addRecord(r);
    pending_.clear();
    if (!pendingUsage_.empty()) {
        auto u = pendingUsage_;
        pendingUsage_.clear();
        std::sort(u.begin(), u.end(), std::greater<>());
        QVector<double> keys, vals;
        int dead = 0;
        for (size_t k = 0; k < u.size(); ++k) {
            keys << double(k);
            vals << 100 * u[k];
            dead += u[k] == 0 ? 1 : 0;
        }
        usageBars_->setData(keys, vals, true);
        usage_->xAxis->setRange(-1, double(u.size()));
        double mx = 0;
        for (double v : vals) mx = std::max(mx, v);
        usage_->yAxis->setRange(0, mx > 0 ? mx * 1.1 : 1);
        double h = 0;
        for (double p : u)
            if (p > 0) h -= p * std::log(p);
        setPlotTitle(usage_, tr("Codebook usage: %1 codes, about %2 in effective use, %3 unused").arg(u.size()).arg(std::exp(h), 0, 'f', 1).arg(dead));
        usage_->setToolTip(tr("\"In effective use\" is the perplexity of the code usage, exp(entropy): the number of "
                              "equally used codes that would spread the cells as evenly."));
    }
    if (!any) return;
    if (!records_.empty()) {
        loss_->xAxis->setRange(0.5, double(records_.size()) + 0.5);
        double lo = 1e300, hi = 0;
        for (const auto& r : records_)
            if (r.loss > 0) lo = std::min(lo, r.loss), hi = std::max(hi, r.loss);
        if (hi > 0) loss_->yAxis->setRange(lo / 1.5, hi * 1.5);
        acc_->xAxis->setRange(0.5, double(records_.size()) + 0.5);
        double alo = 100;
        for (const auto& r : records_) alo = std::min({alo, 100 * r.trainAccuracy, 100 * r.valAccuracy});
        const double bottom = std::max(0.0, std::floor(alo / 10) * 10 - 5);
        acc_->yAxis->setRange(bottom, 100 + (100 - bottom) * 0.12);  // room for the stage labels
        if (perplexity_->dataCount() > 0) {
            bool ok = false;
            auto r = perplexity_->data()->valueRange(ok);
            usage_->yAxis2->setRange(0, ok ? r.upper * 1.8 : 1);  // the line sits below the legend
            usage_->xAxis2->setRange(-0.5, perplexity_->dataCount() - 0.5);
        }
        const auto& last = records_.back();
        if (live_)
            status_->setText(tr("Training: %1 epoch %2, loss %3, validation %4 %")
                                 .arg(QString::fromStdString(last.stage)).arg(last.epoch).arg(last.loss, 0, 'f', 4)
                                 .arg(100 * last.valAccuracy, 0, 'f', 1));
    }
    for (auto* p : {loss_, acc_, usage_}) p->replot(QCustomPlot::rpQueuedReplot);
    if (live_) ++liveReplots_;
}

void TrainingView::showHistory() {
    clearPlots();
    const auto& s = session_->modelSummary();
    pending_ = s.history;
    flush();
    if (!s.history.empty()) status_->setText(tr("Model with %1 recorded epochs%2").arg(s.history.size())
                                                 .arg(session_->modelPath().isEmpty() ? QString() : tr(" from %1").arg(session_->modelPath())));
}

void TrainingView::showEvaluation() {
    const auto& val = session_->valEvaluation();
    const auto& test = session_->testEvaluation();
    if (!val && !test) {
        summary_->setText(tr("Train a model (or load a checkpoint) to see its accuracy here."));
        heat_->data()->clear();
        confusion_->replot();
        return;
    }
    QString text;
    if (val) text += tr("<b>Validation</b>: top-1 %1 %, top-5 %2 % (%3 images)").arg(100 * val->top1, 0, 'f', 2).arg(100 * val->top5, 0, 'f', 2).arg(val->samples);
    if (test) text += tr("&nbsp;&nbsp;&nbsp;<b>Test</b>: top-1 %1 %, top-5 %2 % (%3 images)").arg(100 * test->top1, 0, 'f', 2).arg(100 * test->top5, 0, 'f', 2).arg(test->samples);
    summary_->setText(text);
    if (!test || test->confusion.empty()) return;
    const int n = int(test->confusion.size());
    heat_->data()->setSize(n, n);
    heat_->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
    for (int t = 0; t < n; ++t) {
        double row = 0;
        for (auto v : test->confusion[size_t(t)]) row += double(v);
        for (int p = 0; p < n; ++p)
            heat_->data()->setCell(p, t, row > 0 ? double(test->confusion[size_t(t)][size_t(p)]) / row : 0);
    }
    heat_->setDataRange(QCPRange(0, 1));
    const auto& names = session_->modelSummary().classNames;
    if (names.size() == n && n <= 40) {
        QSharedPointer<QCPAxisTickerText> tx(new QCPAxisTickerText), ty(new QCPAxisTickerText);
        for (int i = 0; i < n; ++i) {
            tx->addTick(i, names[i]);
            ty->addTick(i, names[i]);
        }
        confusion_->xAxis->setTicker(tx);
        confusion_->yAxis->setTicker(ty);
        confusion_->xAxis->setTickLabelRotation(40);
    }
    confusion_->xAxis->setRange(-0.5, n - 0.5);
    confusion_->yAxis->setRange(-0.5, n - 0.5);
    confusion_->replot();
    if (!live_ && !records_.empty())
        status_->setText(tr("Done: %1 epochs; test top-1 %2 %").arg(records_.size()).arg(100 * test->top1, 0, 'f', 2));
}

}  // namespace pqwgui

namespace pqwgui {

QJsonObject TrainingView::saveState() const {
    const TrainConfig c = config();
    auto stage0 = QJsonObject{{QStringLiteral("on"), c.stage0}, {QStringLiteral("epochs"), c.s0.epochs},
                              {QStringLiteral("batch"), c.s0.batchSize}, {QStringLiteral("lr"), c.s0.lr},
                              {QStringLiteral("weight_decay"), c.s0.weightDecay}, {QStringLiteral("seed"), qint64(c.s0.seed)}};
    auto stage1 = QJsonObject{{QStringLiteral("on"), c.stage1}, {QStringLiteral("codes"), c.s1.codes},
                              {QStringLiteral("init"), QString::fromStdString(c.s1.init)}, {QStringLiteral("epochs"), c.s1.epochs},
                              {QStringLiteral("batch"), c.s1.batchSize}, {QStringLiteral("lr"), c.s1.lr},
                              {QStringLiteral("warmup"), c.s1.warmupEpochs}, {QStringLiteral("label_smoothing"), c.s1.labelSmoothing},
                              {QStringLiteral("mixup"), c.s1.mixupAlpha}, {QStringLiteral("commitment"), c.s1.commitmentWeight},
                              {QStringLiteral("seed"), qint64(c.s1.seed)}};
    auto stage1b = QJsonObject{{QStringLiteral("on"), c.stage1b}, {QStringLiteral("target"), c.s1b.target},
                               {QStringLiteral("steps"), c.s1b.steps}};
    auto stage2 = QJsonObject{{QStringLiteral("on"), c.stage2}, {QStringLiteral("epochs"), c.s2.epochs},
                              {QStringLiteral("batch"), c.s2.batchSize}, {QStringLiteral("lr"), c.s2.lr},
                              {QStringLiteral("tau"), c.s2.tau}, {QStringLiteral("l1"), c.s2.l1},
                              {QStringLiteral("finetune_codes"), c.s2.finetuneCodes}, {QStringLiteral("top_k"), c.s2.topKPerClass},
                              {QStringLiteral("seed"), qint64(c.s2.seed)}};
    return {{QStringLiteral("stage0"), stage0}, {QStringLiteral("stage1"), stage1}, {QStringLiteral("stage1b"), stage1b},
            {QStringLiteral("stage2"), stage2}};
}

void TrainingView::restoreState(const QJsonObject& o) {
    TrainConfig c = config();
    const auto a = o.value(QStringLiteral("stage0")).toObject(), b = o.value(QStringLiteral("stage1")).toObject(),
               bb = o.value(QStringLiteral("stage1b")).toObject(), d = o.value(QStringLiteral("stage2")).toObject();
    auto i = [](const QJsonObject& x, const char* k, int def) { return x.value(QLatin1String(k)).toInt(def); };
    auto f = [](const QJsonObject& x, const char* k, double def) { return x.value(QLatin1String(k)).toDouble(def); };
    auto u = [](const QJsonObject& x, const char* k, uint64_t def) { return uint64_t(x.value(QLatin1String(k)).toInteger(qint64(def))); };
    auto on = [](const QJsonObject& x, bool def) { return x.value(QStringLiteral("on")).toBool(def); };
    c.stage0 = on(a, c.stage0);
    c.s0.epochs = i(a, "epochs", c.s0.epochs);
    c.s0.batchSize = i(a, "batch", c.s0.batchSize);
    c.s0.lr = f(a, "lr", c.s0.lr);
    c.s0.weightDecay = f(a, "weight_decay", c.s0.weightDecay);
    c.s0.seed = u(a, "seed", c.s0.seed);
    c.stage1 = on(b, c.stage1);
    c.s1.codes = i(b, "codes", c.s1.codes);
    c.s1.init = b.value(QStringLiteral("init")).toString(QString::fromStdString(c.s1.init)).toStdString();
    c.s1.epochs = i(b, "epochs", c.s1.epochs);
    c.s1.batchSize = i(b, "batch", c.s1.batchSize);
    c.s1.lr = f(b, "lr", c.s1.lr);
    c.s1.warmupEpochs = i(b, "warmup", c.s1.warmupEpochs);
    c.s1.labelSmoothing = f(b, "label_smoothing", c.s1.labelSmoothing);
    c.s1.mixupAlpha = f(b, "mixup", c.s1.mixupAlpha);
    c.s1.commitmentWeight = f(b, "commitment", c.s1.commitmentWeight);
    c.s1.seed = u(b, "seed", c.s1.seed);
    c.stage1b = on(bb, c.stage1b);
    c.s1b.target = i(bb, "target", c.s1b.target);
    c.s1b.steps = i(bb, "steps", c.s1b.steps);
    c.stage2 = on(d, c.stage2);
    c.s2.epochs = i(d, "epochs", c.s2.epochs);
    c.s2.batchSize = i(d, "batch", c.s2.batchSize);
    c.s2.lr = f(d, "lr", c.s2.lr);
    c.s2.tau = f(d, "tau", c.s2.tau);
    c.s2.l1 = f(d, "l1", c.s2.l1);
    c.s2.finetuneCodes = d.value(QStringLiteral("finetune_codes")).toBool(c.s2.finetuneCodes);
    c.s2.topKPerClass = i(d, "top_k", c.s2.topKPerClass);
    c.s2.seed = u(d, "seed", c.s2.seed);
    setConfig(c);
}

}  // namespace pqwgui
