#include "pruning/sweepdesigner.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "common/layouts.h"
#include "filedialogs.h"
#include "formfields.h"
#include "pqw/error.h"
#include "pqw/sweep.h"
#include "pruning/schedulepreview.h"
#include "pruning/sweepjson.h"
#include "qcp.h"
#include "session.h"
#include "theme.h"

namespace pqwgui {

using namespace sweepjson;

SweepDesigner::SweepDesigner(Session* session, QWidget* parent) : QWidget(parent), session_(session) {
    setObjectName(QStringLiteral("sweepDesigner"));
    auto* fv = form_ = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("Design a sweep: every combination of the ticked settings is one pruning run of the same "
                                "trained model. Runs go one after another into a folder you can reopen, resume or "
                                "inspect with <tt>pqw sweep-report</tt>."));
    intro->setWordWrap(true);
    intro->setEnabled(false);
    fv->addWidget(intro);

    // ---- data
    auto* gd = new QGroupBox(tr("Data"));
    auto* fd = new QFormLayout(gd);
    dsPath_ = new QLineEdit(QStringLiteral("fashion-mnist"));
    dsPath_->setToolTip(tr("A built-in name (fashion-mnist, mnist) or a dataset folder / file; the sweep trains and "
                           "measures on these images"));
    auto* useOpen = new QPushButton(tr("Use the open dataset"));
    useOpen->setToolTip(tr("Take the dataset opened on the Start page (path and split settings)"));
    QHBoxLayout* pr;
    auto* pathRow = formRow(&pr);
    pr->addWidget(dsPath_, 1);
    dsKind_ = new QComboBox;
    dsKind_->addItems({QStringLiteral("auto"), QStringLiteral("builtin"), QStringLiteral("idx"), QStringLiteral("folder"),
                       QStringLiteral("cub"), QStringLiteral("csv")});
    dsKind_->setToolTip(tr("Dataset format (auto: detected from the path)"));
    pr->addWidget(dsKind_);
    dsTrain_ = intField(0, 10000000, 3000, tr("Training images used (train + validation), a class-stratified subset; 0 = all"));
    dsTest_ = intField(0, 10000000, 1000, tr("Test images used; 0 = all"));
    dsVal_ = realField(0.01, 0.9, 0.15, 3, 0.05, tr("Share of the training images held out for validation (fine-tuning picks "
                                                   "its best epoch on them; the test split is only measured)"));
    dsSeed_ = intField(0, 1 << 30, 0, tr("Seed of the subset and of the validation split"));
    addRow(fd, tr("Dataset:"), pathRow);
    fd->addRow(QString(), useOpen);
    addRow(fd, tr("Training images:"), dsTrain_);
    addRow(fd, tr("Test images:"), dsTest_);
    addRow(fd, tr("Validation share:"), dsVal_);
    addRow(fd, tr("Split seed:"), dsSeed_);
    fv->addWidget(gd);
    connect(useOpen, &QPushButton::clicked, this, [this] {
        if (!session_->dataset()) {
            Q_EMIT message(tr("No dataset is open: open one on the Start page, or type a path."));
            return;
        }
        useOpenDataset();
        dsEdited_ = false;
    });

    // ---- model
    auto* gm = new QGroupBox(tr("Model to prune"));
    auto* fm = new QFormLayout(gm);
    modelKind_ = new QComboBox;
    modelKind_->addItem(tr("New CNN, trained on the data first"), QStringLiteral("cnn"));
    modelKind_->addItem(tr("CNN model file (.pqwcnn)"), QStringLiteral("cnn-file"));
    modelKind_->setToolTip(tr("What the sweep prunes. Every run starts from the same trained model (kept in the sweep "
                              "folder as base_model.pqwcnn)"));
    addRow(fm, tr("Kind:"), modelKind_);
    modelPages_ = new QStackedWidget;
    auto* pCnn = new QWidget;
    auto* fc = new QFormLayout(pCnn);
    fc->setContentsMargins(0, 0, 0, 0);
    arch_ = new QComboBox;
    arch_->addItems({QStringLiteral("lenet"), QStringLiteral("resnet")});
    arch_->setToolTip(tr("lenet: conv5-pool-conv5-pool and three linear layers; resnet: BatchNorm and residual blocks "
                         "in three stages"));
    width_ = intField(1, 512, 8, tr("lenet: channels of the first convolution (the second has twice as many); "
                                    "resnet: stem channels (stages: x1, x2, x4)"));
    depth_ = intField(1, 16, 1, tr("resnet: residual blocks per stage"));
    preEpochs_ = intField(1, 1000, 8, tr("Epochs of training from scratch before pruning (SGD, cosine learning rate)"));
    preLr_ = realField(1e-5, 1, 0.05, 4, 0.01, tr("Peak learning rate of that training"));
    modelSeed_ = intField(0, 1 << 30, 0, tr("Seed of the initial weights and the batch order"));
    addRow(fc, tr("Architecture:"), arch_);
    addRow(fc, tr("Width:"), width_);
    addRow(fc, tr("Depth:"), depth_);
    addRow(fc, tr("Training epochs:"), preEpochs_);
    addRow(fc, tr("Learning rate:"), preLr_);
    addRow(fc, tr("Model seed:"), modelSeed_);
    modelPages_->addWidget(pCnn);
    QHBoxLayout* ff;
    auto* pFile = formRow(&ff);
    modelFile_ = new QLineEdit;
    modelFile_->setPlaceholderText(tr("model.pqwcnn (from pqw train-cnn)"));
    modelFile_->setToolTip(tr("A CNN trained on this dataset (pqw train-cnn); it is copied into the sweep folder"));
    auto* browse = new QPushButton(tr("Browse..."));
    ff->addWidget(modelFile_, 1);
    ff->addWidget(browse);
    modelPages_->addWidget(pFile);
    fm->addRow(modelPages_);
    fv->addWidget(gm);
    connect(modelKind_, &QComboBox::currentIndexChanged, modelPages_, &QStackedWidget::setCurrentIndex);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("CNN model"), tr("pqw CNN models (*.pqwcnn);;All files (*)"));
        if (!f.isEmpty()) modelFile_->setText(f);
    });

    // ---- schedules
    auto* gs = new QGroupBox(tr("Schedules"));
    auto* fs = new QFormLayout(gs);
    auto* strat = new QWidget;
    auto* sg = new QGridLayout(strat);
    sg->setContentsMargins(0, 0, 0, 0);
    const QString stratTips[] = {tr("Prune to the target at once, then fine-tune"),
                                 tr("Equal steps of target / n, fine-tuning after each"),
                                 tr("Steps that shrink geometrically: big cuts while many weights are left, small ones at the end"),
                                 tr("One big first step, then geometric steps to the target")};
    for (int i = 0; i < 4; ++i) {
        auto* c = new QCheckBox(QString::fromLatin1(kStrategies[i]));
        c->setToolTip(stratTips[i]);
        c->setChecked(true);
        strategies_[QString::fromLatin1(kStrategies[i])] = c;
        sg->addWidget(c, i / 2, i % 2);
    }
    fs->addRow(strat);
    targets_ = new QLineEdit(QStringLiteral("0.5, 0.7, 0.9"));
    targets_->setToolTip(tr("Target sparsities in (0, 1), separated by commas: each is a run per schedule"));
    steps_ = new QLineEdit(QStringLiteral("4"));
    steps_->setToolTip(tr("Pruning steps of the iterative schedules (several: separated by commas; one-shot has one)"));
    firstSteps_ = new QLineEdit(QStringLiteral("0.4"));
    firstSteps_->setToolTip(tr("Hybrid: the size of the first step, as a fraction of the original weights (below the target)"));
    addRow(fs, tr("Targets:"), targets_);
    addRow(fs, tr("Steps:"), steps_);
    addRow(fs, tr("Hybrid first step:"), firstSteps_);
    fs->addRow(preview_.plot());
    fv->addWidget(gs);

    // ---- pruning
    auto* gp = new QGroupBox(tr("Pruning"));
    auto* fp = new QFormLayout(gp);
    QHBoxLayout* mh;
    auto* mods = formRow(&mh);
    for (const char* m : {"unstructured", "structured"}) {
        auto* c = new QCheckBox(QString::fromLatin1(m));
        c->setToolTip(QString::fromLatin1(m) == QLatin1String("structured")
                          ? tr("Remove whole channels (filters and neurons): a smaller, faster model")
                          : tr("Mask single weights: same shapes, sparse weights"));
        modalities_[QString::fromLatin1(m)] = c;
        mh->addWidget(c);
    }
    modalities_[QStringLiteral("unstructured")]->setChecked(true);
    addRow(fp, tr("Modality:"), mods);
    auto* crit = new QWidget;
    auto* cg = new QGridLayout(crit);
    cg->setContentsMargins(0, 0, 0, 0);
    const QString critTips[] = {tr("Unstructured: the smallest |w| over the whole model"),
                                tr("Unstructured: the smallest |w| of each layer, every layer to the same sparsity"),
                                tr("Both: |w x dL/dw| (first-order loss change), averaged over training batches"),
                                tr("Both: at random (a baseline)"),
                                tr("Structured: the filters with the smallest L1 norm"),
                                tr("Structured: the filters with the smallest L2 norm")};
    for (int i = 0; i < 6; ++i) {
        auto* c = new QCheckBox(QString::fromLatin1(kCriteria[i]));
        c->setToolTip(critTips[i]);
        criteria_[QString::fromLatin1(kCriteria[i])] = c;
        cg->addWidget(c, i / 3, i % 3);
    }
    criteria_[QStringLiteral("magnitude")]->setChecked(true);
    criteria_[QStringLiteral("l1")]->setChecked(true);
    addRow(fp, tr("Criteria:"), crit);
    auto* critNote = new QLabel(tr("Criteria that do not fit a modality are skipped."));
    critNote->setEnabled(false);
    fp->addRow(critNote);
    fv->addWidget(gp);

    // ---- fine-tuning
    auto* gf = new QGroupBox(tr("Fine-tuning after each step"));
    auto* fF = new QFormLayout(gf);
    fixedOn_ = new QCheckBox(tr("fixed epochs"));
    fixedOn_->setChecked(true);
    fixedOn_->setToolTip(tr("Fine-tune a fixed number of epochs per step"));
    fixedEpochs_ = intField(1, 1000, 1, tr("Epochs per step"));
    patienceOn_ = new QCheckBox(tr("patience"));
    patienceOn_->setToolTip(tr("Fine-tune until validation accuracy stops improving (both ticked: two runs per setting)"));
    patience_ = intField(1, 100, 2, tr("Stop after this many epochs in a row without a new best validation accuracy"));
    patienceCap_ = intField(1, 1000, 6, tr("At most this many epochs per step"));
    minDelta_ = realField(0, 0.5, 0, 4, 0.001, tr("Improvement needed to count as a new best"));
    QHBoxLayout* frl;
    auto* fixedRow = formRow(&frl);
    frl->addWidget(fixedOn_);
    frl->addWidget(fixedEpochs_);
    frl->addWidget(new QLabel(tr("per step")));
    frl->addStretch(1);
    fF->addRow(fixedRow);
    QHBoxLayout* prl;
    auto* patRow = formRow(&prl);
    prl->addWidget(patienceOn_);
    prl->addWidget(patience_);
    prl->addWidget(new QLabel(tr("max")));
    prl->addWidget(patienceCap_);
    prl->addStretch(1);
    fF->addRow(patRow);
    addRow(fF, tr("Minimum gain:"), minDelta_);
    ftLr_ = realField(1e-6, 1, 1e-3, 5, 1e-4, tr("Learning rate of the fine-tuning SGD (momentum 0.9, weight decay 5e-4)"));
    addRow(fF, tr("Learning rate:"), ftLr_);
    fv->addWidget(gf);

    // ---- run
    auto* gr = new QGroupBox(tr("Run"));
    auto* fr = new QFormLayout(gr);
    seeds_ = new QLineEdit(QStringLiteral("0"));
    seeds_->setToolTip(tr("Seeds of the pruning runs (random criterion, batch order); several give repeated runs"));
    latency_ = intField(0, 100, 2, tr("Latency measurements per step (median; 0 = do not measure, faster)"));
    evalTest_ = new QCheckBox(tr("measure the test split after every step"));
    evalTest_->setChecked(true);
    evalTest_->setToolTip(tr("The plots show test accuracy when measured, else validation accuracy"));
    addRow(fr, tr("Seeds:"), seeds_);
    addRow(fr, tr("Latency repeats:"), latency_);
    fr->addRow(evalTest_);
    QHBoxLayout* orl;
    auto* outRow = formRow(&orl);
    outDir_ = new QLineEdit(QDir::homePath() + QStringLiteral("/pqw-sweeps/sweep-") +
                            QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmm")));
    outDir_->setToolTip(tr("The sweep folder: sweep.json, base_model.pqwcnn, runs/ (one event log per run), summary.csv. A folder that holds "
                           "this sweep already is resumed (finished runs are skipped)"));
    auto* outBrowse = new QPushButton(tr("..."));
    outBrowse->setToolTip(tr("Choose the sweep folder"));
    orl->addWidget(outDir_, 1);
    orl->addWidget(outBrowse);
    addRow(fr, tr("Folder:"), outRow);
    runCountLabel_ = new QLabel;
    runCountLabel_->setWordWrap(true);
    runCountLabel_->setObjectName(QStringLiteral("runCount"));
    fv->addWidget(gr);
    connect(outBrowse, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("Sweep folder"), outDir_->text());
        if (!d.isEmpty()) outDir_->setText(d);
    });

    // Any edit re-validates the grid and redraws the preview.
    auto changed = [this] { validate(); };
    for (auto* e : {dsPath_, targets_, steps_, firstSteps_, seeds_, modelFile_}) connect(e, &QLineEdit::textChanged, this, changed);
    connect(dsPath_, &QLineEdit::textEdited, this, [this] { dsEdited_ = true; });
    for (auto* s : {dsTrain_, dsTest_, dsSeed_, width_, depth_, preEpochs_, modelSeed_, fixedEpochs_, patience_, patienceCap_, latency_})
        connect(s, &QSpinBox::valueChanged, this, changed);
    for (auto* s : {dsVal_, preLr_, minDelta_, ftLr_}) connect(s, &QDoubleSpinBox::valueChanged, this, changed);
    for (auto* c : {dsKind_, arch_, modelKind_}) connect(c, &QComboBox::currentIndexChanged, this, changed);
    std::vector<QCheckBox*> boxes = {fixedOn_, patienceOn_, evalTest_};
    for (auto& m : {&strategies_, &modalities_, &criteria_})
        for (auto& [k, c] : *m) boxes.push_back(c);
    for (auto* c : boxes) connect(c, &QCheckBox::toggled, this, changed);
    connect(outDir_, &QLineEdit::textChanged, this, &SweepDesigner::outputDirChanged);
    fv->addStretch(1);
    connect(Theme::instance(), &Theme::changed, this, &SweepDesigner::updatePreview);
    connect(session_, &Session::datasetChanged, this, [this] {
        if (!dsEdited_) useOpenDataset();
    });
    validate();
}

void SweepDesigner::useOpenDataset() {
    auto ds = session_->dataset();
    if (!ds) return;
    BatchEdit batch(this);
    const auto& s = ds->spec();
    dsPath_->setText(QString::fromStdString(s.path));
    dsKind_->setCurrentText(QString::fromStdString(s.kind));
    dsTrain_->setValue(int(s.maxTrain));
    dsTest_->setValue(int(s.maxTest));
    dsVal_->setValue(s.valFraction);
    dsSeed_->setValue(int(s.seed));
}

QJsonArray SweepDesigner::formFineTune() const {
    QJsonArray ft;
    if (fixedOn_->isChecked()) ft.append(QJsonObject{{QStringLiteral("epochs"), fixedEpochs_->value()}});
    if (patienceOn_->isChecked()) {
        QJsonObject p{{QStringLiteral("patience"), patience_->value()}, {QStringLiteral("epochs"), patienceCap_->value()}};
        if (minDelta_->value() != 0.0) p[QStringLiteral("min_delta")] = minDelta_->value();
        ft.append(p);
    }
    return ft;
}

QJsonObject SweepDesigner::sweepJson() const {
    const auto& D = pqw::sweepDefaults();  // keys equal to these are left out
    QJsonObject j = base_;
    QJsonObject ds = j.value(QStringLiteral("dataset")).toObject();
    put(ds, QStringLiteral("path"), dsPath_->text().trimmed(), str(D.dataset.path));
    put(ds, QStringLiteral("kind"), dsKind_->currentText(), str(D.dataset.kind));
    put(ds, QStringLiteral("limit_train"), dsTrain_->value(), qint64(D.dataset.maxTrain));
    put(ds, QStringLiteral("limit_test"), dsTest_->value(), qint64(D.dataset.maxTest));
    put(ds, QStringLiteral("val"), dsVal_->value(), D.dataset.valFraction, 0.0005);
    put(ds, QStringLiteral("seed"), dsSeed_->value(), qint64(D.dataset.seed));
    j[QStringLiteral("dataset")] = ds;
    QJsonObject md = j.value(QStringLiteral("model")).toObject();
    put(md, QStringLiteral("arch"), arch_->currentText(), str(D.model.arch));
    put(md, QStringLiteral("width"), width_->value(), D.model.width);
    put(md, QStringLiteral("depth"), depth_->value(), D.model.depth);
    put(md, QStringLiteral("pretrain_epochs"), preEpochs_->value(), D.pretrain.epochs);
    put(md, QStringLiteral("lr"), preLr_->value(), D.pretrain.lr, 0.00005);
    put(md, QStringLiteral("seed"), modelSeed_->value(), qint64(D.pretrain.seed));
    j[QStringLiteral("model")] = md;
    if (modelKind_->currentData().toString() == QLatin1String("cnn-file"))
        j[QStringLiteral("model_path")] = modelFile_->text().trimmed();
    else if (j.contains(QStringLiteral("model_path")) && !j.value(QStringLiteral("model_path")).toString().isEmpty())
        j.remove(QStringLiteral("model_path"));
    QJsonObject ftd = j.value(QStringLiteral("fine_tune_defaults")).toObject();
    put(ftd, QStringLiteral("lr"), ftLr_->value(), D.run.fineTune.lr, 0.000005);
    if (!ftd.isEmpty()) j[QStringLiteral("fine_tune_defaults")] = ftd;
    put(j, QStringLiteral("latency_reps"), latency_->value(), D.run.latencyReps);
    put(j, QStringLiteral("evaluate_test"), evalTest_->isChecked(), D.run.evaluateTest);

    QJsonObject grid = j.value(QStringLiteral("grid")).toObject();
    auto names = [](const std::map<QString, QCheckBox*>& boxes, const char* const* order, int n) {
        QJsonArray a;
        for (int i = 0; i < n; ++i) {
            auto it = boxes.find(QString::fromLatin1(order[i]));
            if (it != boxes.end() && it->second->isChecked()) a.append(it->first);
        }
        return a;
    };
        putGrid(grid, QStringLiteral("strategy"), names(strategies_, kStrategies, 4), str(pqw::strategyName(D.run.strategy)));
    putGrid(grid, QStringLiteral("modality"), names(modalities_, kModalities, 2), str(pqw::modalityName(D.run.modality)));
    putGrid(grid, QStringLiteral("criterion"), names(criteria_, kCriteria, 6), str(pqw::criterionName(D.run.criterion)));
    std::vector<double> v;
    if (parseList(targets_->text(), v)) putGrid(grid, QStringLiteral("target"), listValue(v, false), D.run.target);
    else grid[QStringLiteral("target")] = targets_->text();  // parseSweep names the bad key
    if (parseList(steps_->text(), v)) putGrid(grid, QStringLiteral("steps"), listValue(v, true), D.run.steps);
    else grid[QStringLiteral("steps")] = steps_->text();
    if (parseList(firstSteps_->text(), v)) putGrid(grid, QStringLiteral("first_step"), listValue(v, false), D.run.firstStep);
    else grid[QStringLiteral("first_step")] = firstSteps_->text();
    if (parseList(seeds_->text(), v)) putGrid(grid, QStringLiteral("seed"), listValue(v, true), qint64(D.run.seed));
    else grid[QStringLiteral("seed")] = seeds_->text();
    // Fine-tuning: the loaded entries stay as they were while the form shows what it showed
    // when they were loaded (the form has one fixed and one patience setting; a description
    // may list more).
    const QJsonArray ft = formFineTune();
    if (!(grid.contains(QStringLiteral("fine_tune")) && ft == loadedFineTune_)) {
        const bool coreDefault = ft.size() == 1 && ft[0].toObject() == defaultFineTune();
        if (grid.contains(QStringLiteral("fine_tune")) || !coreDefault) grid[QStringLiteral("fine_tune")] = ft;
    }
    j[QStringLiteral("grid")] = grid;
    return j;
}

bool SweepDesigner::setSweepJson(const QJsonObject& j, QString* error) {
    if (j.isEmpty() || (!j.contains(QStringLiteral("grid")) && !j.contains(QStringLiteral("model")))) {
        if (error) *error = tr("not a sweep description (no grid or model)");
        return false;
    }
    // Fill the form with the description's values (core's defaults where absent), then keep
    // it as the base so keys are written back as they were.
    const auto& D = pqw::sweepDefaults();  // what absent keys mean
    int extra = 0;  // fine-tuning settings beyond the form's one fixed and one patience
    {
        BatchEdit batch(this);
        base_ = QJsonObject();
        const QJsonObject ds = j.value(QStringLiteral("dataset")).toObject();
        dsPath_->setText(ds.value(QStringLiteral("path")).toString(str(D.dataset.path)));
        const QString kind = ds.value(QStringLiteral("kind")).toString(str(D.dataset.kind));
        if (dsKind_->findText(kind) < 0) dsKind_->addItem(kind);
        dsKind_->setCurrentText(kind);
        dsTrain_->setValue(ds.value(QStringLiteral("limit_train")).toInt(int(D.dataset.maxTrain)));
        dsTest_->setValue(ds.value(QStringLiteral("limit_test")).toInt(int(D.dataset.maxTest)));
        dsVal_->setValue(ds.value(QStringLiteral("val")).toDouble(D.dataset.valFraction));
        dsSeed_->setValue(ds.value(QStringLiteral("seed")).toInt(int(D.dataset.seed)));
        dsEdited_ = true;  // a loaded description keeps its dataset
        const QJsonObject md = j.value(QStringLiteral("model")).toObject();
        arch_->setCurrentText(md.value(QStringLiteral("arch")).toString(str(D.model.arch)));
        width_->setValue(md.value(QStringLiteral("width")).toInt(D.model.width));
        depth_->setValue(md.value(QStringLiteral("depth")).toInt(D.model.depth));
        preEpochs_->setValue(md.value(QStringLiteral("pretrain_epochs")).toInt(D.pretrain.epochs));
        preLr_->setValue(md.value(QStringLiteral("lr")).toDouble(D.pretrain.lr));
        modelSeed_->setValue(md.value(QStringLiteral("seed")).toInt(int(D.pretrain.seed)));
        const QString mp = j.value(QStringLiteral("model_path")).toString();
        modelKind_->setCurrentIndex(mp.isEmpty() ? 0 : 1);
        modelFile_->setText(mp);
        ftLr_->setValue(j.value(QStringLiteral("fine_tune_defaults")).toObject().value(QStringLiteral("lr")).toDouble(D.run.fineTune.lr));
        latency_->setValue(j.value(QStringLiteral("latency_reps")).toInt(D.run.latencyReps));
        evalTest_->setChecked(j.value(QStringLiteral("evaluate_test")).toBool(D.run.evaluateTest));
        const QJsonObject grid = j.value(QStringLiteral("grid")).toObject();
        auto tick = [](std::map<QString, QCheckBox*>& boxes, const QJsonValue& v, const QString& dflt) {
            QJsonArray a = asArray(v);
            if (a.isEmpty() && !v.isArray()) a = QJsonArray{dflt};
            for (auto& [k, c] : boxes) c->setChecked(a.contains(k));
        };
        tick(strategies_, grid.value(QStringLiteral("strategy")), str(pqw::strategyName(D.run.strategy)));
        tick(modalities_, grid.value(QStringLiteral("modality")), str(pqw::modalityName(D.run.modality)));
        tick(criteria_, grid.value(QStringLiteral("criterion")), str(pqw::criterionName(D.run.criterion)));
        auto list = [&](const char* key, double dflt) {
            const QJsonValue v = grid.value(QString::fromLatin1(key));
            return v.isUndefined() ? QString::number(dflt) : listText(v);
        };
        targets_->setText(list("target", D.run.target));
        steps_->setText(list("steps", D.run.steps));
        firstSteps_->setText(list("first_step", D.run.firstStep));
        seeds_->setText(list("seed", double(D.run.seed)));
        QJsonArray ft = asArray(grid.value(QStringLiteral("fine_tune")));
        if (!grid.contains(QStringLiteral("fine_tune"))) ft = QJsonArray{defaultFineTune()};
        fixedOn_->setChecked(false);
        patienceOn_->setChecked(false);
        for (const auto& v : ft) {
            const QJsonObject o = v.toObject();
            if (o.value(QStringLiteral("patience")).toInt(0) > 0) {
                if (patienceOn_->isChecked()) { ++extra; continue; }
                patienceOn_->setChecked(true);
                patience_->setValue(o.value(QStringLiteral("patience")).toInt());
                patienceCap_->setValue(o.value(QStringLiteral("epochs")).toInt(D.run.fineTune.epochs));
                minDelta_->setValue(o.value(QStringLiteral("min_delta")).toDouble(D.run.fineTune.minDelta));
            } else {
                if (fixedOn_->isChecked()) { ++extra; continue; }
                fixedOn_->setChecked(true);
                fixedEpochs_->setValue(o.value(QStringLiteral("epochs")).toInt(D.run.fineTune.epochs));
            }
        }
        base_ = j;
        loadedFineTune_ = formFineTune();
    }  // one validate() for all the fields
    if (extra > 0)
        Q_EMIT message(tr("The description lists %1 more fine-tuning settings than the form shows; they are kept "
                            "unless you edit the fine-tuning fields.").arg(extra));
    return true;
}

void SweepDesigner::validate() {
    if (batching_ > 0) return;  // a BatchEdit calls it once at its end
    QString err;
    int n = 0;
    std::vector<double> v;
    const std::pair<QLineEdit*, QString> lists[] = {{targets_, tr("Targets")}, {steps_, tr("Steps")},
                                                    {firstSteps_, tr("Hybrid first step")}, {seeds_, tr("Seeds")}};
    for (const auto& [edit, name] : lists)
        if (err.isEmpty() && !parseList(edit->text(), v)) err = tr("%1: numbers separated by commas").arg(name);
    if (err.isEmpty()) try {
        const auto text = QJsonDocument(sweepJson()).toJson(QJsonDocument::Compact).toStdString();
        n = int(pqw::parseSweep(text, "the sweep").runs.size());
    } catch (const std::exception& e) {
        err = QString::fromStdString(e.what());
    }
    if (err.isEmpty() && modelKind_->currentData().toString() == QLatin1String("cnn-file") &&
        modelFile_->text().trimmed().isEmpty())
        err = tr("choose a model file");
    runCount_ = err.isEmpty() ? n : 0;
    designerError_ = err;
    if (!err.isEmpty())
        runCountLabel_->setText(QStringLiteral("<span style='color:%1'>%2</span>").arg(Theme::instance()->error().name(), err.toHtmlEscaped()));
    else
        runCountLabel_->setText(n == 1 ? tr("<b>1 run</b>") : tr("<b>%1 runs</b>, one after another").arg(n));
    updatePreview();
    Q_EMIT changed();
}

std::vector<double> SweepDesigner::previewSteps(const QString& strategy) const {
    auto it = strategies_.find(strategy);
    if (it == strategies_.end() || !it->second->isChecked()) return {};
    return scheduleSteps(strategy, targets_->text(), steps_->text(), firstSteps_->text());
}

void SweepDesigner::updatePreview() {
    std::vector<std::pair<QString, std::vector<double>>> shown;
    for (const char* name : kStrategies) shown.push_back({str(name), previewSteps(str(name))});
    preview_.show(shown, targets_->text(), steps_->text());
}

QString SweepDesigner::outputDir() const { return outDir_->text().trimmed(); }
void SweepDesigner::setOutputDir(const QString& dir) { outDir_->setText(dir); }

void SweepDesigner::addBelow(QWidget* w) { form_->insertWidget(form_->count() - 1, w); }

}  // namespace pqwgui
