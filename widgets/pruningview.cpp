#include "filedialogs.h"
#include "pruningview.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFile>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPointer>
#include <QRegularExpression>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "formfields.h"
#include "plots.h"
#include "pruning/slurmpanel.h"
#include "pruning/sweepfolderwatcher.h"
#include "pqw/error.h"
#include "pqw/heatmap.h"
#include "pqw/omenn.h"
#include "pqw/pruning.h"
#include "pqw/pruning_benchmark.h"
#include "pqw/util.h"
#include "qcp.h"
#include "theme.h"

namespace pqwgui {

namespace {

const char* kStrategies[] = {"one-shot", "iterative", "iterative-geometric", "hybrid"};
const char* kCriteria[] = {"magnitude", "layerwise", "taylor", "random", "l1", "l2"};


/// "0.5, 0.7 0.9" -> numbers; false on anything else.
bool parseList(const QString& text, std::vector<double>& out) {
    out.clear();
    const auto parts = text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts);
    for (const auto& p : parts) {
        bool ok = false;
        const double v = p.toDouble(&ok);
        if (!ok) return false;
        out.push_back(v);
    }
    return !out.empty();
}
QString listText(const QJsonValue& v) {
    QStringList parts;
    auto one = [&](const QJsonValue& x) { parts << QString::number(x.toDouble(), 'g', 10); };
    if (v.isArray())
        for (const auto& x : v.toArray()) one(x);
    else if (v.isDouble())
        one(v);
    return parts.join(QStringLiteral(", "));
}
QJsonValue listValue(const std::vector<double>& v, bool integers) {
    QJsonArray a;
    for (double x : v) a.append(integers ? QJsonValue(qint64(std::llround(x))) : QJsonValue(x));
    return a;
}
/// A grid entry as a list of values (a single value counts as a list of one).
QJsonArray asArray(const QJsonValue& v) {
    if (v.isArray()) return v.toArray();
    if (v.isUndefined() || v.isNull()) return {};
    return QJsonArray{v};
}
bool sameValue(const QJsonValue& a, const QJsonValue& b, double tol = 1e-12) {
    if (a.isDouble() && b.isDouble()) return std::abs(a.toDouble() - b.toDouble()) <= tol;
    return a == b;
}
/// Sets o[key] = v unless the loaded value says the same (within tol: what a spin box with
/// fewer decimals can show) or o lacks the key and v is core's default: a loaded description
/// is written back as it was, so its folder can be resumed.
void put(QJsonObject& o, const QString& key, const QJsonValue& v, const QJsonValue& coreDefault, double tol = 1e-12) {
    if (o.contains(key)) {
        if (!sameValue(o.value(key), v, tol)) o[key] = v;
    } else if (!sameValue(v, coreDefault)) {
        o[key] = v;
    }
}
/// Identifies the images a sweep trains on (for the comparison's data cache).
std::string datasetKey(const pqw::DatasetSpec& d) {
    return d.kind + "|" + d.path + "|" + std::to_string(d.valFraction) + "|" + std::to_string(d.seed) + "|" +
           std::to_string(d.maxTrain) + "|" + std::to_string(d.maxTest) + "|" + (d.cubCrop ? "crop" : "");
}
/// Grid values as the form edits them: keep the loaded representation when equal.
void putGrid(QJsonObject& grid, const QString& key, const QJsonValue& v, const QJsonValue& coreDefault) {
    const QJsonArray now = asArray(v), old = asArray(grid.value(key));
    bool same = now.size() == old.size();
    for (int i = 0; same && i < now.size(); ++i) same = sameValue(now[i], old[i]);
    if (same && grid.contains(key)) return;
    if (!grid.contains(key) && now.size() == 1 && sameValue(now[0], coreDefault)) return;
    grid[key] = v;
}

QString pct(double v, int d = 1) { return QStringLiteral("%1 %").arg(100 * v, 0, 'f', d); }

QString methodLabel(const QString& m) {
    if (m == QLatin1String("omenn")) return QObject::tr("OMENN (exact: sum = logit)");
    if (m == QLatin1String("saliency")) return QObject::tr("Saliency (|gradient|)");
    if (m == QLatin1String("gxi")) return QObject::tr("Gradient x Input");
    if (m == QLatin1String("ig")) return QObject::tr("Integrated Gradients");
    if (m == QLatin1String("smoothgrad")) return QObject::tr("SmoothGrad");
    if (m == QLatin1String("gradcam")) return QObject::tr("Grad-CAM");
    if (m == QLatin1String("occlusion")) return QObject::tr("Occlusion");
    return m;
}

/// An image label that scales its image to the space it gets (aspect kept), so a large map
/// never pushes the captions around.
class FitImage : public QLabel {
public:
    FitImage() {
        setAlignment(Qt::AlignCenter);
        setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
        setMinimumSize(64, 64);
    }
    void setImage(const QImage& img) {
        img_ = img;
        refit();
    }
    QSize sizeHint() const override { return {180, 180}; }

protected:
    void resizeEvent(QResizeEvent* e) override {
        QLabel::resizeEvent(e);
        refit();
    }

private:
    void refit() {
        if (img_.isNull()) return clear();
        setPixmap(QPixmap::fromImage(img_.scaled(size(), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
    }
    QImage img_;
};

}  // namespace

/// Decoded sweep data and models, kept between comparisons (filled on the worker thread,
/// handed over in the job's finisher).
struct PruningView::DataCache {
    std::string datasetKey, dir;
    std::shared_ptr<const pqw::Dataset> ds;
    std::shared_ptr<const pqw::ImageTensors> data;
    std::shared_ptr<const pqw::CnnModel> base;
    std::map<std::string, std::shared_ptr<const pqw::CnnModel>> pruned;  ///< by run id
    std::map<std::string, double> rebuiltTest;                            ///< rebuilt model's test top-1
};

PruningView::PruningView(Session* session, QWidget* parent) : QWidget(parent), session_(session) {
    cache_ = std::make_shared<DataCache>();
    auto* root = new QHBoxLayout(this);
    auto* split = new QSplitter;
    root->addWidget(split);

    auto* left = new QWidget;
    auto* lv = new QVBoxLayout(left);
    lv->setContentsMargins(0, 0, 0, 0);
    auto* formHost = new QWidget;
    formHost->setObjectName(QStringLiteral("sweepDesigner"));
    buildDesigner(formHost);
    auto* scroll = new QScrollArea;
    scroll->setWidget(formHost);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setMinimumWidth(formHost->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width() +
                            2 * scroll->frameWidth());
    lv->addWidget(scroll, 1);
    // What the grid makes and the buttons stay visible below the scrolling form.
    lv->addWidget(runCountLabel_);
    auto* buttons = new QGridLayout;
    buttons->addWidget(run_, 0, 0);
    buttons->addWidget(cancel_, 0, 1);
    buttons->addWidget(open_, 1, 0, 1, 2);
    lv->addLayout(buttons);
    split->addWidget(left);

    auto* right = new QWidget;
    buildResults(right);
    split->addWidget(right);
    split->setStretchFactor(1, 1);

    repaint_.setSingleShot(true);
    repaint_.setInterval(40);
    connect(&repaint_, &QTimer::timeout, this, &PruningView::flush);
    connect(Theme::instance(), &Theme::changed, this, &PruningView::recolour);

    auto* jobs = session_->jobs();
    connect(jobs, &JobRunner::event, this, [this](int id, const pqw::Event& e) {
        if (id != sweepJob_) return;
        auto it = e.texts.find("run");
        onEvent(it == e.texts.end() ? QString() : QString::fromStdString(it->second), e, true);
    });
    connect(jobs, &JobRunner::started, this, [this](int id, const QString&) {
        if (id == sweepJob_) live_ = true;
    });
    connect(jobs, &JobRunner::finished, this, [this](int id, JobStatus st, const QString& msg) {
        if (id == compareJob_) {
            compareJob_ = 0;
            if (st != JobStatus::Succeeded) {
                compareNote_->setText(st == JobStatus::Failed ? tr("Could not compare: %1").arg(msg) : tr("Comparison cancelled."));
                Q_EMIT comparisonFinished(false);
            }
            updateButtons();
            return;
        }
        if (id != sweepJob_) return;
        flush();
        live_ = false;
        sweepJob_ = 0;
        // The run plot's title said "(running: step k of n)": redraw it from the state now.
        if (!shownRun_.isEmpty()) showRunEpochs(shownRun_);
        if (st != JobStatus::Succeeded) {
            // Show what the folder holds: the finished runs (an interrupted run is re-run on resume).
            const QString dir = dir_;
            if (pqw::isSweepFolder(dir.toStdString())) openSweep(dir, false);
            const int done = results_->rowCount();
            status_->setText(st == JobStatus::Cancelled
                                 ? tr("Cancelled. %1 of %2 runs are finished and kept in the folder; <b>Run sweep</b> "
                                      "again continues with the others.").arg(done).arg(std::max<int>(int(settings_.size()), done))
                                 : tr("The sweep stopped: %1").arg(msg));
        }
        updateButtons();
        Q_EMIT sweepFinished(st);
    });
    connect(jobs, &JobRunner::queued, this, &PruningView::updateButtons);
    connect(jobs, &JobRunner::idle, this, &PruningView::updateButtons);
    connect(session_, &Session::datasetChanged, this, [this] {
        if (!dsEdited_) useOpenDataset();
    });
    recolour();
    designerChanged();
    updateButtons();
}

PruningView::~PruningView() = default;

// =============================================================================== designer

void PruningView::buildDesigner(QWidget* host) {
    auto* fv = new QVBoxLayout(host);
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
    auto* pathRow = new QWidget;
    auto* pr = new QHBoxLayout(pathRow);
    pr->setContentsMargins(0, 0, 0, 0);
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
            status_->setText(tr("No dataset is open: open one on the Start page, or type a path."));
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
    auto* pFile = new QWidget;
    auto* ff = new QHBoxLayout(pFile);
    ff->setContentsMargins(0, 0, 0, 0);
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
    preview_ = makePlot(tr("Step sizes"));
    preview_->setObjectName(QStringLiteral("schedulePreview"));
    preview_->setMinimumHeight(190);
    preview_->xAxis->setLabel(tr("step"));
    preview_->yAxis->setLabel(tr("% of the weights"));
    preview_->legend->setVisible(true);
    preview_->axisRect()->insetLayout()->take(preview_->legend);
    preview_->plotLayout()->addElement(2, 0, preview_->legend);
    preview_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    preview_->legend->setWrap(2);
    preview_->plotLayout()->setRowStretchFactor(2, 0.001);
    preview_->setToolTip(tr("What each schedule removes per step (before anything runs): fractions of the original "
                            "prunable weights (or of each layer's channels)"));
    fs->addRow(preview_);
    fv->addWidget(gs);

    // ---- pruning
    auto* gp = new QGroupBox(tr("Pruning"));
    auto* fp = new QFormLayout(gp);
    auto* mods = new QWidget;
    auto* mh = new QHBoxLayout(mods);
    mh->setContentsMargins(0, 0, 0, 0);
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
    auto* fixedRow = new QWidget;
    auto* frl = new QHBoxLayout(fixedRow);
    frl->setContentsMargins(0, 0, 0, 0);
    frl->addWidget(fixedOn_);
    frl->addWidget(fixedEpochs_);
    frl->addWidget(new QLabel(tr("per step")));
    frl->addStretch(1);
    fF->addRow(fixedRow);
    auto* patRow = new QWidget;
    auto* prl = new QHBoxLayout(patRow);
    prl->setContentsMargins(0, 0, 0, 0);
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
    auto* outRow = new QWidget;
    auto* orl = new QHBoxLayout(outRow);
    orl->setContentsMargins(0, 0, 0, 0);
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

    run_ = new QPushButton(tr("Run sweep"));
    run_->setObjectName(QStringLiteral("runSweep"));
    run_->setToolTip(tr("Run the grid as a job; in a folder that holds this sweep, continue it"));
    cancel_ = new QPushButton(tr("Cancel"));
    cancel_->setToolTip(tr("Stop within a batch; finished runs stay in the folder and are skipped when you run again"));
    open_ = new QPushButton(tr("Open sweep folder..."));
    open_->setToolTip(tr("Show a sweep folder's results (made here or by pqw sweep) and load its settings"));
    status_ = new QLabel(tr("Design a sweep and run it, or open a sweep folder."));
    status_->setObjectName(QStringLiteral("sweepStatus"));
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    slurm_ = new SlurmPanel([this](pqw::SweepSpec* spec, QString* dir, QString* err) {
        try {
            *spec = pqw::parseSweep(QJsonDocument(sweepJson()).toJson(QJsonDocument::Compact).toStdString(), "the sweep");
        } catch (const std::exception& e) {
            *err = QString::fromStdString(e.what());
            return false;
        }
        *dir = outputDir();
        return !dir->isEmpty();
    });
    fv->addWidget(slurm_);
    connect(slurm_, &SlurmPanel::submitted, this, [this](const QString& d) { followSweep(d); });
    connect(outDir_, &QLineEdit::textChanged, slurm_, &SlurmPanel::updatePreview);
    fv->addStretch(1);
    connect(run_, &QPushButton::clicked, this, [this] { startSweep(); });
    connect(cancel_, &QPushButton::clicked, this, &PruningView::cancelSweep);
    connect(open_, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("Sweep folder (with sweep.json)"), dir_);
        if (!d.isEmpty()) openSweep(d, true);
    });

    // Any edit re-validates the grid and redraws the preview.
    auto changed = [this] { designerChanged(); };
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
    connect(outDir_, &QLineEdit::textChanged, this, &PruningView::updateButtons);
}

void PruningView::useOpenDataset() {
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

QJsonArray PruningView::formFineTune() const {
    QJsonArray ft;
    if (fixedOn_->isChecked()) ft.append(QJsonObject{{QStringLiteral("epochs"), fixedEpochs_->value()}});
    if (patienceOn_->isChecked()) {
        QJsonObject p{{QStringLiteral("patience"), patience_->value()}, {QStringLiteral("epochs"), patienceCap_->value()}};
        if (minDelta_->value() != 0.0) p[QStringLiteral("min_delta")] = minDelta_->value();
        ft.append(p);
    }
    return ft;
}

QJsonObject PruningView::sweepJson() const {
    QJsonObject j = base_;
    QJsonObject ds = j.value(QStringLiteral("dataset")).toObject();
    put(ds, QStringLiteral("path"), dsPath_->text().trimmed(), QStringLiteral("fashion-mnist"));
    put(ds, QStringLiteral("kind"), dsKind_->currentText(), QStringLiteral("auto"));
    put(ds, QStringLiteral("limit_train"), dsTrain_->value(), 0);
    put(ds, QStringLiteral("limit_test"), dsTest_->value(), 0);
    put(ds, QStringLiteral("val"), dsVal_->value(), 0.1, 0.0005);
    put(ds, QStringLiteral("seed"), dsSeed_->value(), 0);
    j[QStringLiteral("dataset")] = ds;
    QJsonObject md = j.value(QStringLiteral("model")).toObject();
    put(md, QStringLiteral("arch"), arch_->currentText(), QStringLiteral("lenet"));
    put(md, QStringLiteral("width"), width_->value(), 16);
    put(md, QStringLiteral("depth"), depth_->value(), 1);
    put(md, QStringLiteral("pretrain_epochs"), preEpochs_->value(), 5);
    put(md, QStringLiteral("lr"), preLr_->value(), 0.05, 0.00005);
    put(md, QStringLiteral("seed"), modelSeed_->value(), 0);
    j[QStringLiteral("model")] = md;
    if (modelKind_->currentData().toString() == QLatin1String("cnn-file"))
        j[QStringLiteral("model_path")] = modelFile_->text().trimmed();
    else if (j.contains(QStringLiteral("model_path")) && !j.value(QStringLiteral("model_path")).toString().isEmpty())
        j.remove(QStringLiteral("model_path"));
    QJsonObject ftd = j.value(QStringLiteral("fine_tune_defaults")).toObject();
    put(ftd, QStringLiteral("lr"), ftLr_->value(), 1e-3, 0.000005);
    if (!ftd.isEmpty()) j[QStringLiteral("fine_tune_defaults")] = ftd;
    put(j, QStringLiteral("latency_reps"), latency_->value(), 5);
    put(j, QStringLiteral("evaluate_test"), evalTest_->isChecked(), true);

    QJsonObject grid = j.value(QStringLiteral("grid")).toObject();
    auto names = [](const std::map<QString, QCheckBox*>& boxes, const char* const* order, int n) {
        QJsonArray a;
        for (int i = 0; i < n; ++i) {
            auto it = boxes.find(QString::fromLatin1(order[i]));
            if (it != boxes.end() && it->second->isChecked()) a.append(it->first);
        }
        return a;
    };
    const char* mods[] = {"unstructured", "structured"};
    putGrid(grid, QStringLiteral("strategy"), names(strategies_, kStrategies, 4), QStringLiteral("one-shot"));
    putGrid(grid, QStringLiteral("modality"), names(modalities_, mods, 2), QStringLiteral("unstructured"));
    putGrid(grid, QStringLiteral("criterion"), names(criteria_, kCriteria, 6), QStringLiteral("magnitude"));
    std::vector<double> v;
    if (parseList(targets_->text(), v)) putGrid(grid, QStringLiteral("target"), listValue(v, false), 0.5);
    else grid[QStringLiteral("target")] = targets_->text();  // parseSweep names the bad key
    if (parseList(steps_->text(), v)) putGrid(grid, QStringLiteral("steps"), listValue(v, true), 1);
    else grid[QStringLiteral("steps")] = steps_->text();
    if (parseList(firstSteps_->text(), v)) putGrid(grid, QStringLiteral("first_step"), listValue(v, false), 0.5);
    else grid[QStringLiteral("first_step")] = firstSteps_->text();
    if (parseList(seeds_->text(), v)) putGrid(grid, QStringLiteral("seed"), listValue(v, true), 0);
    else grid[QStringLiteral("seed")] = seeds_->text();
    // Fine-tuning: the loaded entries stay as they were while the form shows what it showed
    // when they were loaded (the form has one fixed and one patience setting; a description
    // may list more).
    const QJsonArray ft = formFineTune();
    if (!(grid.contains(QStringLiteral("fine_tune")) && ft == loadedFineTune_)) {
        const bool coreDefault = ft.size() == 1 && ft[0].toObject() == QJsonObject{{QStringLiteral("epochs"), 5}};
        if (grid.contains(QStringLiteral("fine_tune")) || !coreDefault) grid[QStringLiteral("fine_tune")] = ft;
    }
    j[QStringLiteral("grid")] = grid;
    return j;
}

bool PruningView::setSweepJson(const QJsonObject& j, QString* error) {
    if (j.isEmpty() || (!j.contains(QStringLiteral("grid")) && !j.contains(QStringLiteral("model")))) {
        if (error) *error = tr("not a sweep description (no grid or model)");
        return false;
    }
    // Fill the form with the description's values (core's defaults where absent), then keep
    // it as the base so keys are written back as they were.
    int extra = 0;  // fine-tuning settings beyond the form's one fixed and one patience
    {
        BatchEdit batch(this);
        base_ = QJsonObject();
        const QJsonObject ds = j.value(QStringLiteral("dataset")).toObject();
        dsPath_->setText(ds.value(QStringLiteral("path")).toString(QStringLiteral("fashion-mnist")));
        const QString kind = ds.value(QStringLiteral("kind")).toString(QStringLiteral("auto"));
        if (dsKind_->findText(kind) < 0) dsKind_->addItem(kind);
        dsKind_->setCurrentText(kind);
        dsTrain_->setValue(ds.value(QStringLiteral("limit_train")).toInt(0));
        dsTest_->setValue(ds.value(QStringLiteral("limit_test")).toInt(0));
        dsVal_->setValue(ds.value(QStringLiteral("val")).toDouble(0.1));
        dsSeed_->setValue(ds.value(QStringLiteral("seed")).toInt(0));
        dsEdited_ = true;  // a loaded description keeps its dataset
        const QJsonObject md = j.value(QStringLiteral("model")).toObject();
        arch_->setCurrentText(md.value(QStringLiteral("arch")).toString(QStringLiteral("lenet")));
        width_->setValue(md.value(QStringLiteral("width")).toInt(16));
        depth_->setValue(md.value(QStringLiteral("depth")).toInt(1));
        preEpochs_->setValue(md.value(QStringLiteral("pretrain_epochs")).toInt(5));
        preLr_->setValue(md.value(QStringLiteral("lr")).toDouble(0.05));
        modelSeed_->setValue(md.value(QStringLiteral("seed")).toInt(0));
        const QString mp = j.value(QStringLiteral("model_path")).toString();
        modelKind_->setCurrentIndex(mp.isEmpty() ? 0 : 1);
        modelFile_->setText(mp);
        ftLr_->setValue(j.value(QStringLiteral("fine_tune_defaults")).toObject().value(QStringLiteral("lr")).toDouble(1e-3));
        latency_->setValue(j.value(QStringLiteral("latency_reps")).toInt(5));
        evalTest_->setChecked(j.value(QStringLiteral("evaluate_test")).toBool(true));
        const QJsonObject grid = j.value(QStringLiteral("grid")).toObject();
        auto tick = [](std::map<QString, QCheckBox*>& boxes, const QJsonValue& v, const QString& dflt) {
            QJsonArray a = asArray(v);
            if (a.isEmpty() && !v.isArray()) a = QJsonArray{dflt};
            for (auto& [k, c] : boxes) c->setChecked(a.contains(k));
        };
        tick(strategies_, grid.value(QStringLiteral("strategy")), QStringLiteral("one-shot"));
        tick(modalities_, grid.value(QStringLiteral("modality")), QStringLiteral("unstructured"));
        tick(criteria_, grid.value(QStringLiteral("criterion")), QStringLiteral("magnitude"));
        auto list = [&](const char* key, double dflt) {
            const QJsonValue v = grid.value(QString::fromLatin1(key));
            return v.isUndefined() ? QString::number(dflt) : listText(v);
        };
        targets_->setText(list("target", 0.5));
        steps_->setText(list("steps", 1));
        firstSteps_->setText(list("first_step", 0.5));
        seeds_->setText(list("seed", 0));
        QJsonArray ft = asArray(grid.value(QStringLiteral("fine_tune")));
        if (!grid.contains(QStringLiteral("fine_tune"))) ft = QJsonArray{QJsonObject{{QStringLiteral("epochs"), 5}}};
        fixedOn_->setChecked(false);
        patienceOn_->setChecked(false);
        for (const auto& v : ft) {
            const QJsonObject o = v.toObject();
            if (o.value(QStringLiteral("patience")).toInt(0) > 0) {
                if (patienceOn_->isChecked()) { ++extra; continue; }
                patienceOn_->setChecked(true);
                patience_->setValue(o.value(QStringLiteral("patience")).toInt());
                patienceCap_->setValue(o.value(QStringLiteral("epochs")).toInt(5));
                minDelta_->setValue(o.value(QStringLiteral("min_delta")).toDouble(0));
            } else {
                if (fixedOn_->isChecked()) { ++extra; continue; }
                fixedOn_->setChecked(true);
                fixedEpochs_->setValue(o.value(QStringLiteral("epochs")).toInt(5));
            }
        }
        base_ = j;
        loadedFineTune_ = formFineTune();
    }  // one designerChanged() for all the fields
    if (extra > 0)
        status_->setText(tr("The description lists %1 more fine-tuning settings than the form shows; they are kept "
                            "unless you edit the fine-tuning fields.").arg(extra));
    return true;
}

void PruningView::designerChanged() {
    if (batching_ > 0) return;  // a BatchEdit calls it once at its end
    if (slurm_) slurm_->updatePreview();
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
        runCountLabel_->setText(QStringLiteral("<span style='color:#c0392b'>%1</span>").arg(err.toHtmlEscaped()));
    else
        runCountLabel_->setText(n == 1 ? tr("<b>1 run</b>") : tr("<b>%1 runs</b>, one after another").arg(n));
    updatePreview();
    updateButtons();
}

std::vector<double> PruningView::previewSteps(const QString& strategy) const {
    auto it = strategies_.find(strategy);
    if (it == strategies_.end() || !it->second->isChecked()) return {};
    std::vector<double> t, n, s0;
    if (!parseList(targets_->text(), t) || !parseList(steps_->text(), n) || !parseList(firstSteps_->text(), s0)) return {};
    const double target = *std::max_element(t.begin(), t.end());
    try {
        const auto st = pqw::parseStrategy(strategy.toStdString());
        if (st == pqw::PruneStrategy::Hybrid && s0[0] >= target) return {};
        return pqw::pruneSchedule(st, target, int(n[0]), s0[0]);
    } catch (const pqw::Error&) {
        return {};
    }
}

void PruningView::updatePreview() {
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
    parseList(targets_->text(), t);
    parseList(steps_->text(), n);
    int colour = 0;
    for (const char* name : kStrategies) {
        const QString s = QString::fromLatin1(name);
        const int c = colour++;
        const auto st = previewSteps(s);
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

void PruningView::updateButtons() {
    const bool running = sweepJob_ != 0;
    run_->setEnabled(!running && runCount_ > 0 && !outDir_->text().trimmed().isEmpty());
    run_->setToolTip(outDir_->text().trimmed().isEmpty() ? tr("Choose a sweep folder first")
                                                          : tr("Run the grid as a job; in a folder that holds this sweep, continue it"));
    cancel_->setEnabled(running);
    open_->setEnabled(!running);
    explain_->setEnabled(compareJob_ == 0 && !dir_.isEmpty() && results_->rowCount() > 0);
}

QString PruningView::outputDir() const { return outDir_->text().trimmed(); }
void PruningView::setOutputDir(const QString& dir) { outDir_->setText(dir); }

// ================================================================================ running

int PruningView::startSweep() {
    if (sweepJob_) return 0;
    designerChanged();
    const QString dir = outputDir();
    if (runCount_ <= 0) {
        status_->setText(tr("The sweep cannot run: %1").arg(designerError_));
        return 0;
    }
    if (dir.isEmpty()) {
        status_->setText(tr("Choose a folder for the sweep."));
        return 0;
    }
    const QJsonObject j = sweepJson();
    pqw::SweepSpec spec;
    try {
        spec = pqw::parseSweep(QJsonDocument(j).toJson(QJsonDocument::Compact).toStdString(), "the sweep");
    } catch (const std::exception& e) {
        status_->setText(QString::fromStdString(e.what()));
        return 0;
    }
    // A folder that holds a sweep of another dataset or model is refused before anything runs
    // (runSweep refuses it too; this says so without starting a job).
    const QString specFile = dir + QStringLiteral("/sweep.json");
    if (QFileInfo::exists(specFile)) {
        QFile f(specFile);
        QJsonObject old;
        if (f.open(QIODevice::ReadOnly)) old = QJsonDocument::fromJson(f.readAll()).object();
        auto baseOf = [](const QJsonObject& o) {
            return QJsonObject{{QStringLiteral("dataset"), o.value(QStringLiteral("dataset"))},
                               {QStringLiteral("model"), o.value(QStringLiteral("model"))},
                               {QStringLiteral("model_path"), o.value(QStringLiteral("model_path")).toString()}};
        };
        if (!old.isEmpty() && baseOf(old) != baseOf(j)) {
            status_->setText(tr("%1 holds a sweep of another dataset or model. Choose another folder, or open that "
                                "sweep (Open sweep folder) to continue it.").arg(dir));
            return 0;
        }
    }
    // Show what the folder holds already (a resumed sweep), then the live runs on top.
    auto settings = runSettings(spec);
    if (pqw::isSweepFolder(dir.toStdString())) {
        openSweep(dir, false);
        for (const auto& [k, v] : settings) settings_[k] = v;
        prepareSeries(settings_);  // the grid may have grown: series for every run
    } else {
        clearResults();
        dir_ = dir;
        settings_ = settings;
        prepareSeries(settings_);
    }
    addRecent(dir);
    const int already = results_->rowCount();
    const std::string out = dir.toStdString();
    QPointer<PruningView> self(this);
    sweepJob_ = session_->jobs()->submit(tr("Pruning sweep"), [spec, out, self](pqw::JobContext& ctx) -> std::function<void()> {
        const auto st = pqw::runSweep(spec, out, ctx);
        return [st, self] {
            if (!self) return;
            self->status_->setText(self->tr("Sweep finished: %1 runs (%2 run now, %3 were finished already). Sort the "
                                            "table, select a run to see its epochs, or compare it with the dense model.")
                                       .arg(st.total).arg(st.finished).arg(st.skipped));
        };
    });
    live_ = true;  // JobRunner::started may fire inside submit(), before sweepJob_ is known
    status_->setText(already > 0 ? tr("Resuming: %1 of %2 runs are finished and are skipped.").arg(already).arg(spec.runs.size())
                                 : tr("Starting %1 runs...").arg(spec.runs.size()));
    updateButtons();
    return sweepJob_;
}

void PruningView::cancelSweep() {
    if (sweepJob_) session_->jobs()->cancel(sweepJob_);
}

void PruningView::addRecent(const QString& dir) {
    recent_.removeAll(dir);
    recent_.prepend(dir);
    while (recent_.size() > 8) recent_.removeLast();
}

bool PruningView::followSweep(const QString& dir) {
    if (!openSweep(dir, false)) return false;
    if (!watcher_) {
        watcher_ = new SweepFolderWatcher(this);
        connect(watcher_, &SweepFolderWatcher::entries, this, [this](const std::vector<pqw::SweepLogEntry>& lines) {
            for (const auto& e : lines) onEvent(QString::fromStdString(e.run), e.event, true);
        });
        connect(watcher_, &SweepFolderWatcher::statesChanged, this, [this] {
            results_->setRunStates(watcher_->runStates(), [this](const QString& id) { return settingsOf(id, nullptr); });
            updateColumns();
            std::map<pqw::SweepRunState, int> n;
            for (const auto& r : watcher_->runStates()) ++n[r.state];
            status_->setText(tr("Following %1: %2 done, %3 running, %4 pending, %5 failed, %6 not started.")
                                 .arg(QDir::toNativeSeparators(watcher_->dir()))
                                 .arg(n[pqw::SweepRunState::Done]).arg(n[pqw::SweepRunState::Running])
                                 .arg(n[pqw::SweepRunState::Pending]).arg(n[pqw::SweepRunState::Failed])
                                 .arg(n[pqw::SweepRunState::NeverStarted]));
        });
        connect(watcher_, &SweepFolderWatcher::problem, this, [this](const QString& m) { status_->setText(m); });
    }
    watcher_->follow(dir);
    return true;
}

bool PruningView::openSweep(const QString& dir, bool loadDesigner) {
    if (watcher_ && watcher_->dir() != dir) watcher_->stop();  // following another folder ends
    const QString specPath = dir + QStringLiteral("/sweep.json");
    // A Hydra multirun folder of the official pruning benchmark plots like a finished sweep.
    const bool benchmark = !pqw::isSweepFolder(dir.toStdString()) && pqw::isPruningBenchmarkFolder(dir.toStdString());
    if (!benchmark && !pqw::isSweepFolder(dir.toStdString())) {
        status_->setText(tr("%1 is not a sweep folder (it has no sweep.json, runs/ or log.jsonl, nor the pruning "
                            "benchmark's pruning_results.csv).").arg(dir));
        return false;
    }
    std::vector<pqw::SweepLogEntry> log;
    try {
        log = benchmark ? pqw::readPruningBenchmark(dir.toStdString()) : pqw::readSweepFolder(dir.toStdString());
    } catch (const std::exception& e) {
        status_->setText(tr("Cannot read the sweep: %1").arg(QString::fromStdString(e.what())));
        return false;
    }
    std::map<QString, SweepRunSettings> settings;
    QString note;
    if (QFileInfo::exists(specPath)) {
        QFile f(specPath);
        QByteArray text;
        if (f.open(QIODevice::ReadOnly)) text = f.readAll();
        QJsonParseError pe;
        const auto doc = QJsonDocument::fromJson(text, &pe);
        if (doc.isObject()) {
            if (loadDesigner) {
                QString err;
                if (!setSweepJson(doc.object(), &err)) note = tr("sweep.json: %1").arg(err);
            }
            try {
                settings = runSettings(pqw::parseSweep(text.toStdString(), specPath.toStdString()));
            } catch (const std::exception& e) {
                note = QString::fromStdString(e.what());
            }
        } else {
            note = tr("%1: not valid JSON (%2)").arg(specPath, pe.errorString());
        }
    }
    clearResults();
    dir_ = dir;
    if (loadDesigner && !benchmark) outDir_->setText(dir);  // never run a sweep into a benchmark folder
    // The finished attempt of each run; its steps and epochs.
    std::map<std::string, int> doneAttempt;
    for (const auto& e : log)
        if (e.event.kind == "run.done") doneAttempt[e.run] = e.attempt;
    for (const auto& e : log) {
        auto it = doneAttempt.find(e.run);
        if (it == doneAttempt.end() || it->second != e.attempt) continue;
        const QString run = QString::fromStdString(e.run);
        if (!settings.count(run)) settings[run] = settingsFromId(run, &e.event);
    }
    settings_ = settings;
    prepareSeries(settings_);
    for (const auto& e : log) {
        auto it = doneAttempt.find(e.run);
        if (it == doneAttempt.end() || it->second != e.attempt) continue;
        if (e.event.kind == "prune.step" || e.event.kind == "prune.epoch" || e.event.kind == "run.done")
            onEvent(QString::fromStdString(e.run), e.event, false);
    }
    flush();
    addRecent(dir);
    const int done = results_->rowCount(), total = std::max<int>(int(settings_.size()), done);
    QString s = done == total ? tr("%1: %2 runs, all finished.").arg(QDir::toNativeSeparators(dir)).arg(done)
                              : tr("%1: %2 of %3 runs finished; <b>Run sweep</b> continues with the others.")
                                    .arg(QDir::toNativeSeparators(dir)).arg(done).arg(total);
    if (!note.isEmpty()) s += QStringLiteral(" ") + note.toHtmlEscaped();
    status_->setText(s);
    if (done > 0 && table_->currentIndex().row() < 0) table_->selectRow(0);
    updateButtons();
    return true;
}

// ================================================================================ results

void PruningView::buildResults(QWidget* host) {
    auto* v = new QVBoxLayout(host);
    v->setContentsMargins(0, 0, 0, 0);
    auto* axes = new QHBoxLayout;
    xAxis_ = new QComboBox;
    xAxis_->addItem(tr("sparsity (channels for structured runs)"));
    xAxis_->addItem(tr("sparsity of the prunable weights"));
    xAxis_->addItem(tr("channels removed"));
    xAxis_->addItem(tr("sparsity of all parameters"));
    xAxis_->setToolTip(tr("Horizontal axis of the accuracy-vs-sparsity plot"));
    yAxis_ = new QComboBox;
    yAxis_->addItem(tr("test top-1"));
    yAxis_->addItem(tr("validation top-1"));
    yAxis_->setToolTip(tr("Accuracy shown (test when the sweep measured it)"));
    // Combos may be narrower than their longest item (the window must fit a 1280 px screen).
    for (auto* c : {xAxis_, yAxis_}) c->setMinimumWidth(110);  // full width when there is room
    axes->addWidget(status_, 1);
    axes->addSpacing(12);
    axes->addWidget(new QLabel(tr("Accuracy:")));
    axes->addWidget(yAxis_);
    axes->addSpacing(12);
    axes->addWidget(new QLabel(tr("against:")));
    axes->addWidget(xAxis_);
    v->addLayout(axes);
    connect(xAxis_, &QComboBox::currentIndexChanged, this, &PruningView::rebuildSweepPlots);
    connect(yAxis_, &QComboBox::currentIndexChanged, this, [this] {
        rebuildSweepPlots();
        if (!shownRun_.isEmpty()) showRunEpochs(shownRun_);
    });

    auto* vsplit = new QSplitter(Qt::Vertical);
    v->addWidget(vsplit, 1);
    auto* plots = new QWidget;
    auto* pg = new QGridLayout(plots);
    pg->setContentsMargins(0, 0, 0, 0);
    sparsity_ = makePlot(tr("Accuracy vs sparsity"));
    sparsity_->setObjectName(QStringLiteral("accVsSparsity"));
    sparsity_->xAxis->setLabel(tr("sparsity, %"));
    sparsity_->yAxis->setLabel(tr("test top-1, %"));
    // The legend goes below the axes and names the encodings (colour: schedule, line: fine-
    // tuning, marker: criterion) rather than every curve, so it stays short.
    sparsity_->legend->setVisible(true);
    sparsity_->axisRect()->insetLayout()->take(sparsity_->legend);
    sparsity_->plotLayout()->addElement(2, 0, sparsity_->legend);
    sparsity_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    sparsity_->legend->setWrap(4);
    sparsity_->plotLayout()->setRowStretchFactor(2, 0.001);
    {
        QFont lf = sparsity_->font();
        lf.setPointSizeF(lf.pointSizeF() * 0.85);
        sparsity_->legend->setFont(lf);
        sparsity_->legend->setIconSize(22, 10);
        sparsity_->legend->setColumnSpacing(4);
    }
    sparsity_->setToolTip(tr("One curve per strategy: a point per pruning step, as steps finish"));
    // An empty QCPLegend's maximum width is its margins, and it shares the axes' column: with
    // no curves yet it squeezed the axes into a strip. The legend is in the layout only while
    // it has entries.
    connect(sparsity_, &QCustomPlot::beforeReplot, sparsity_, [p = sparsity_] {
        const bool placed = p->plotLayout()->hasElement(2, 0) && p->plotLayout()->element(2, 0) == p->legend;
        if (p->legend->itemCount() == 0 && placed) {
            p->plotLayout()->take(p->legend);
            p->plotLayout()->simplify();
        } else if (p->legend->itemCount() > 0 && !placed) {
            p->plotLayout()->addElement(2, 0, p->legend);
            p->plotLayout()->setRowStretchFactor(2, 0.001);
        }
    });
    epochs_ = makePlot(tr("Accuracy vs total fine-tuning epochs"));
    epochs_->setObjectName(QStringLiteral("accVsEpochs"));
    epochs_->xAxis->setLabel(tr("fine-tuning epochs so far in the run"));
    epochs_->yAxis->setLabel(tr("%"));
    epochs_->setToolTip(tr("What accuracy costs: a point per pruning step, colours as in accuracy vs sparsity"));
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
    runPlot_->legend->setVisible(true);
    runPlot_->axisRect()->insetLayout()->take(runPlot_->legend);
    runPlot_->plotLayout()->addElement(2, 0, runPlot_->legend);
    runPlot_->legend->setWrap(2);  // two rows: the plot may be narrow beside the table
    runPlot_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);  // re-flow the items added above
    runPlot_->plotLayout()->setRowStretchFactor(2, 0.001);
    runPlot_->setToolTip(tr("The current run (or the run selected in the table): validation accuracy right after each "
                            "pruning step and after each fine-tuning epoch; the best epoch's weights are kept"));
    pg->addWidget(sparsity_, 0, 0);
    pg->addWidget(epochs_, 0, 1);
    pg->setColumnStretch(0, 11);
    pg->setColumnStretch(1, 9);
    vsplit->addWidget(plots);
    auto* bottom = new QSplitter(Qt::Horizontal);

    lower_ = new QTabWidget;
    // results table
    auto* tab = new QWidget;
    auto* tv = new QVBoxLayout(tab);
    filter_ = new QLineEdit;
    filter_->setPlaceholderText(tr("Filter runs (any column, e.g. \"structured\" or \"hybrid\")"));
    filter_->setClearButtonEnabled(true);
    results_ = new SweepResultsModel(this);
    proxy_ = new SweepResultsProxy(this);
    proxy_->setSourceModel(results_);
    table_ = new QTableView;
    table_->setObjectName(QStringLiteral("sweepResults"));
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(SweepResultsModel::TestTop1, Qt::DescendingOrder);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAlternatingRowColors(true);
    tv->addWidget(filter_);
    tv->addWidget(table_, 1);
    lower_->addTab(tab, tr("Results"));
    connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& cur) {
        if (!cur.isValid()) return;
        const QString id = results_->run(proxy_->mapToSource(cur).row()).s.id;
        showRunEpochs(id);
    });

    // comparison
    auto* cmp = new QWidget;
    auto* cv = new QVBoxLayout(cmp);
    auto* row = new QHBoxLayout;
    image_ = new QSpinBox;
    image_->setRange(1, 9999999);  // counted from 1, as the Explain view counts test images
    image_->setToolTip(tr("Which image of the sweep's test split (1 = the first)"));
    method_ = new QComboBox;
    for (const char* m : {"omenn", "saliency", "gxi", "ig", "smoothgrad", "gradcam", "occlusion"})
        method_->addItem(methodLabel(QString::fromLatin1(m)), QString::fromLatin1(m));
    method_->setToolTip(tr("Explanation method, the same for both models; the explained class is the dense model's prediction"));
    method_->setMinimumWidth(130);
    explain_ = new QPushButton(tr("Compare"));
    explain_->setObjectName(QStringLiteral("compareButton"));
    explain_->setToolTip(tr("Explain the test image on the dense model and on the run selected in the Results table "
                            "(its pruned model is rebuilt from the base model with the run's settings: as long as the run took)"));
    row->addWidget(new QLabel(tr("Test image:")));
    row->addWidget(image_);
    row->addWidget(new QLabel(tr("Method:")));
    row->addWidget(method_);
    row->addWidget(explain_);
    row->addStretch(1);
    cv->addLayout(row);
    auto* panes = new QHBoxLayout;
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.9);
    // Each model: its map with the numbers beside it (the tab gets the full width, see below).
    auto pane = [&](QLabel*& img, QLabel*& cap) {
        auto* w = new QHBoxLayout;
        img = new FitImage;
        cap = new QLabel;
        cap->setWordWrap(true);
        cap->setFont(small);
        cap->setAlignment(Qt::AlignTop | Qt::AlignLeft);
        cap->setTextInteractionFlags(Qt::TextSelectableByMouse);
        cap->setMinimumWidth(100);
        w->addWidget(img, 3);
        w->addWidget(cap, 2);
        panes->addLayout(w, 1);
        panes->addSpacing(8);
    };
    pane(denseImage_, denseCaption_);
    pane(prunedImage_, prunedCaption_);
    denseImage_->setObjectName(QStringLiteral("denseMap"));
    prunedImage_->setObjectName(QStringLiteral("prunedMap"));
    cv->addLayout(panes, 1);
    compareNote_ = new QLabel(tr("Select a finished run in Results, pick a test image and a method, then Compare."));
    compareNote_->setWordWrap(true);
    compareNote_->setFont(small);
    compareNote_->setEnabled(false);
    cv->addWidget(compareNote_);
    lower_->addTab(cmp, tr("Dense vs pruned"));
    connect(explain_, &QPushButton::clicked, this, [this] {
        const auto cur = table_->currentIndex();
        if (!cur.isValid()) {
            compareNote_->setText(tr("Select a run in the Results tab first."));
            return;
        }
        compare(results_->run(proxy_->mapToSource(cur).row()).s.id, image_->value() - 1, method_->currentData().toString());
    });
    // Explicit minimum widths: the window must fit a 1280 px screen (the plot's and the tab's
    // own hints add up to more; at the default size both get far more than this).
    lower_->setMinimumWidth(320);
    runPlot_->setMinimumWidth(220);
    bottom->addWidget(lower_);
    bottom->addWidget(runPlot_);
    // The comparison needs the width; the run's epochs belong to the results table.
    connect(lower_, &QTabWidget::currentChanged, this, [this](int i) { runPlot_->setVisible(i == 0); });
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 2);
    bottom->setSizes({560, 360});  // scaled to the width at the first show
    vsplit->addWidget(bottom);
    vsplit->setStretchFactor(0, 3);
    vsplit->setStretchFactor(1, 2);
    vsplit->setSizes({580, 420});  // scaled to the height at the first show
}

void PruningView::clearResults() {
    for (auto& [k, s] : series_) {
        sparsity_->removeGraph(s.sparsity);
        sparsity_->removeGraph(s.steps);
        epochs_->removeGraph(s.epochs);
    }
    series_.clear();
    for (auto* g : legendOnly_) sparsity_->removeGraph(g);
    legendOnly_.clear();
    if (denseLine_) sparsity_->removeGraph(denseLine_), denseLine_ = nullptr;
    stepEvents_.clear();
    runEvents_.clear();
    pending_.clear();
    baseEpochs_.clear();
    currentRun_.clear();
    shownRun_.clear();
    dense_ = -1;
    results_->clear();
    updateColumns();
    for (auto* g : {runVal_, runTrain_, runPruned_, runStep_}) g->data()->clear();
    runPlot_->clearItems();
    setPlotTitle(runPlot_, tr("Run: accuracy per epoch"));
    for (auto* p : {sparsity_, epochs_, runPlot_}) p->replot();
}

QString PruningView::seriesKey(const SweepRunSettings& s) const {
    QString k = s.strategy;
    if (s.strategy != QLatin1String("one-shot") && s.steps > 0) k += QStringLiteral(" n%1").arg(s.steps);
    if (multiFineTune_) k += QStringLiteral(", ") + fineTuneLabel(s.fineTune, true);
    if (multiCriteria_) k += QStringLiteral(", ") + s.criterion;
    if (multiModalities_) k += QStringLiteral(", ") + s.modality;
    return k;
}

SweepRunSettings PruningView::settingsOf(const QString& run, const pqw::Event* e) const {
    auto it = settings_.find(run);
    return it != settings_.end() ? it->second : settingsFromId(run, e);
}

void PruningView::prepareSeries(const std::map<QString, SweepRunSettings>& settings) {
    std::set<QString> crit, mods, ft;
    for (const auto& [id, s] : settings) {
        crit.insert(s.criterion);
        mods.insert(s.modality);
        ft.insert(s.fineTune);
    }
    multiCriteria_ = crit.size() > 1;
    multiModalities_ = mods.size() > 1;
    multiFineTune_ = ft.size() > 1;
    for (auto& [k, s] : series_) {
        sparsity_->removeGraph(s.sparsity);
        sparsity_->removeGraph(s.steps);
        epochs_->removeGraph(s.epochs);
    }
    series_.clear();
    if (denseLine_) sparsity_->removeGraph(denseLine_), denseLine_ = nullptr;
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
    rebuildSweepPlots();
}

void PruningView::buildLegend() {
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

void PruningView::addSeries(const QString& key, const SweepRunSettings* st) {
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

void PruningView::applySeriesStyle(const Series& s) {
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

void PruningView::onEvent(const QString& run, const pqw::Event& e, bool live) {
    if (live) {
        // Per-run bookkeeping happens at flush time in arrival order; only collect here.
        pending_.push_back({run, e});
        if (!repaint_.isActive()) repaint_.start();
        return;
    }
    pending_.push_back({run, e});
}

void PruningView::addStep(const QString& run, const pqw::Event& e) {
    stepEvents_.push_back({run, e});
    const auto s = settingsOf(run, &e);
    const QString key = seriesKey(s);
    if (!series_.count(key)) addSeries(key, &s);  // a run the grid does not list
    const auto& sr = series_[key];
    const bool val = yAxis_->currentIndex() == 1 || !e.values.count("test_top1");
    const double acc = 100 * e.value(val ? "val_top1" : "test_top1");
    double x = 0;
    switch (xAxis_->currentIndex()) {
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

void PruningView::rebuildSweepPlots() {
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
    rescaleSweepPlots();
}

void PruningView::rescaleSweepPlots() {
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
    const bool val = yAxis_->currentIndex() == 1;
    static const char* xl[] = {"sparsity, % (weights; channels for structured runs)", "sparsity of the prunable weights, %",
                               "channels removed, %", "sparsity of all parameters, %"};
    int xi = std::clamp(xAxis_->currentIndex(), 0, 3);
    if (xi == 0 && !multiModalities_ && !settings_.empty())  // one modality: say which sparsity it is
        xi = settings_.begin()->second.modality == QLatin1String("structured") ? 2 : 1;
    sparsity_->xAxis->setLabel(tr(xl[xi]));
    sparsity_->yAxis->setLabel(val ? tr("validation top-1, %") : tr("test top-1, %"));
    epochs_->yAxis->setLabel(val ? tr("validation top-1, %") : tr("test top-1, %"));
    for (auto* p : {sparsity_, epochs_}) p->replot(QCustomPlot::rpQueuedReplot);
}

void PruningView::flush() {
    if (pending_.empty()) return;
    auto events = std::move(pending_);
    pending_.clear();
    QString showAfter;
    bool stepsChanged = false, columnsChanged = false;
    for (const auto& [run, e] : events) {
        if (e.kind == "run.start") {
            currentRun_ = run;
            runEvents_[run].clear();
            if (live_) showAfter = run;
        } else if (e.kind == "prune.step") {
            runEvents_[run].push_back(e);
            addStep(run, e);
            stepsChanged = true;
            if (live_ && run == currentRun_) showAfter = run;
        } else if (e.kind == "prune.epoch") {
            runEvents_[run].push_back(e);
            if (live_ && run == currentRun_) showAfter = run;
        } else if (e.kind == "run.done") {
            results_->addRun(SweepRunResult::fromDone(e, run));
            columnsChanged = true;
            if (run == currentRun_) {
                currentRun_.clear();  // finished: no longer "running"
                if (run == shownRun_) showAfter = run;
            }
        } else if (e.kind == "cnn.epoch") {
            baseEpochs_.push_back(e);
            showAfter = QStringLiteral("<base>");
        }
    }
    if (stepsChanged) rescaleSweepPlots();
    if (columnsChanged) updateColumns();
    if (!showAfter.isEmpty()) showRunEpochs(showAfter);
    if (live_) ++liveReplots_;
}

void PruningView::showRunEpochs(const QString& run) {
    shownRun_ = run;
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
        for (const auto& e : baseEpochs_) {
            add(runVal_, e.value("epoch"), 100 * e.value("val_accuracy"));
            add(runTrain_, e.value("epoch"), 100 * e.value("train_accuracy"));
        }
        runPlot_->xAxis->setLabel(tr("epoch"));
    } else {
        const auto s = settingsOf(run, nullptr);
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
        auto it = runEvents_.find(run);
        if (it != runEvents_.end())
            for (const auto& e : it->second) {
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
        if (run == currentRun_ && live_ && totalSteps > 0)
            title += tr(" (running: step %1 of %2)").arg(std::min(step, totalSteps)).arg(totalSteps);
        setPlotTitle(runPlot_, title);
    }
    runPlot_->xAxis->setRange(-0.3, std::max(1.0, hi) + 0.3);
    const double bottom = std::max(0.0, std::floor(lo / 10) * 10 - 5);
    runPlot_->yAxis->setRange(bottom, 100 + (100 - bottom) * 0.12);
    Theme::instance()->stylePlot(runPlot_);
    runPlot_->replot(QCustomPlot::rpQueuedReplot);
}

void PruningView::updateColumns() {
    // Settings every run shares are said once (status, legend), not in a column of equal values.
    std::set<QString> ft, mod, crit;
    bool structured = false;
    for (int r = 0; r < results_->rowCount(); ++r) {
        const auto& s = results_->run(r).s;
        ft.insert(s.fineTune);
        mod.insert(s.modality);
        crit.insert(s.criterion);
        structured = structured || s.modality == QLatin1String("structured");
    }
    table_->setColumnHidden(SweepResultsModel::FineTune, ft.size() == 1);
    table_->setColumnHidden(SweepResultsModel::Modality, mod.size() == 1);
    table_->setColumnHidden(SweepResultsModel::Criterion, crit.size() == 1);
    table_->setColumnHidden(SweepResultsModel::Channels, !structured);
    table_->setColumnHidden(SweepResultsModel::State, !results_->hasStates());
}

void PruningView::selectRun(const QString& id) {
    const int row = results_->rowOf(id);
    if (row < 0) return;
    const auto idx = proxy_->mapFromSource(results_->index(row, 0));
    table_->setCurrentIndex(idx);
    table_->scrollTo(idx);
}

int PruningView::sparsityPointCount() const {
    int n = 0;
    for (const auto& [k, s] : series_) n += s.sparsity->dataCount() + s.steps->dataCount();
    return n;
}

std::map<QString, std::vector<std::pair<double, double>>> PruningView::sparsityPoints() const {
    std::map<QString, std::vector<std::pair<double, double>>> out;
    for (const auto& [k, s] : series_) {
        auto& v = out[k];
        for (auto it = s.sparsity->data()->constBegin(); it != s.sparsity->data()->constEnd(); ++it) v.push_back({it->key, it->value});
        auto& w = out[k + QStringLiteral(" (steps)")];
        for (auto it = s.steps->data()->constBegin(); it != s.steps->data()->constEnd(); ++it) w.push_back({it->key, it->value});
    }
    return out;
}

void PruningView::recolour() {
    auto* t = Theme::instance();
    for (const auto& [k, s] : series_) applySeriesStyle(s);
    buildLegend();
    if (denseLine_) denseLine_->setPen(QPen(t->text(), 1, Qt::DashLine));
    runVal_->setPen(QPen(t->series(0), 2));
    runVal_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    runTrain_->setPen(QPen(t->series(1), 1.2, Qt::DotLine));
    runTrain_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, t->series(1), 4));
    runPruned_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangleInverted, t->series(3), t->series(3), 8));
    runPruned_->setPen(QPen(t->series(3)));
    runStep_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, t->series(2), t->series(2), 9));
    runStep_->setPen(QPen(t->series(2)));
    updatePreview();
    for (auto* p : {sparsity_, epochs_, runPlot_}) {
        t->stylePlot(p);
        p->replot();
    }
}

// ============================================================================= comparison

int PruningView::compare(const QString& runId, int image, const QString& method) {
    if (compareJob_) return 0;
    if (dir_.isEmpty()) {
        compareNote_->setText(tr("Open or run a sweep first."));
        return 0;
    }
    pqw::Method m;
    if (!pqw::parseMethod(method.toStdString(), m)) {
        compareNote_->setText(tr("Unknown method %1.").arg(method));
        return 0;
    }
    const std::string dir = dir_.toStdString(), run = runId.toStdString();
    auto cache = cache_;
    const int side = 240;
    const auto logRow = results_->rowOf(runId);
    const double logTest = logRow >= 0 ? results_->run(logRow).testTop1 : NAN;
    QPointer<PruningView> self(this);
    lower_->setCurrentIndex(1);
    image_->setValue(image + 1);
    if (method_->findData(method) >= 0) method_->setCurrentIndex(method_->findData(method));
    compareNote_->setText(tr("Comparing: the pruned model is rebuilt first (once per run; it takes as long as the run took)..."));
    compareJob_ = session_->jobs()->submit(tr("Compare dense and pruned"), [=](pqw::JobContext& ctx) -> std::function<void()> {
        // Everything here runs on the worker thread; the cache is handed back in the finisher.
        auto c = std::make_shared<DataCache>(*cache);
        const std::string specText = pqw::readFile(dir + "/sweep.json");
        const auto spec = pqw::parseSweep(specText, dir + "/sweep.json");
        const pqw::SweepRun* sr = nullptr;
        for (const auto& r : spec.runs)
            if (r.id == run) sr = &r;
        if (!sr) throw pqw::Error("run " + run + " is not in " + dir + "/sweep.json's grid");
        const std::string dsKey = datasetKey(spec.dataset);
        if (c->datasetKey != dsKey || !c->data) {
            ctx.progress(0.02, "loading the sweep's images");
            auto ds = std::make_shared<pqw::Dataset>(pqw::Dataset::open(spec.dataset));
            c->data = std::make_shared<pqw::ImageTensors>(pqw::ImageTensors::fromDataset(*ds));
            c->ds = ds;
            c->datasetKey = dsKey;
        }
        if (c->dir != dir || !c->base) {
            c->base = std::make_shared<pqw::CnnModel>(pqw::CnnModel::load(dir + "/base_model.pqwcnn"));
            c->pruned.clear();
            c->rebuiltTest.clear();
            c->dir = dir;
        }
        ctx.throwIfCancelled();
        if (!c->pruned.count(run)) {
            ctx.progress(0.05, "rebuilding the pruned model of " + run);
            auto m = std::make_shared<pqw::CnnModel>(*c->base);
            auto opt = sr->options;
            opt.latencyReps = 0;
            pqw::pruneModel(*m, *c->data, opt, ctx);
            c->rebuiltTest[run] = pqw::evaluateCnn(*m, *c->data, pqw::Split::Test).top1;
            c->pruned[run] = m;
        }
        const auto& data = *c->data;
        const size_t n = data.count(pqw::Split::Test);
        if (image < 0 || size_t(image) >= n)
            throw pqw::Error("test image " + std::to_string(image + 1) + " does not exist (the sweep's test split has " +
                             std::to_string(n) + " images)");
        int label = 0;
        const auto x = data.input(pqw::Split::Test, size_t(image), &label);
        cv::Mat rgb = c->ds->loadImage(c->ds->indices(pqw::Split::Test)[size_t(image)]);
        cv::resize(rgb, rgb, cv::Size(side, side), 0, 0, rgb.cols < side ? cv::INTER_NEAREST : cv::INTER_AREA);
        const auto& names = c->ds->classNames();
        const auto dense = pqw::Explainer::fromCnn(*c->base, names);
        const auto pruned = pqw::Explainer::fromCnn(*c->pruned.at(run), names);
        const int S = data.inputSize();
        const auto zd = dense.logits(x.data(), 1, S), zp = pruned.logits(x.data(), 1, S);
        const int cls = int(std::max_element(zd.begin(), zd.end()) - zd.begin());
        const int clsP = int(std::max_element(zp.begin(), zp.end()) - zp.begin());
        pqw::Target t;
        t.index = cls;
        ctx.progress(0.8, "explaining");
        pqw::ExplainOptions eo;
        eo.cancel = &ctx;
        const auto ad = pqw::explain(dense, m, x.data(), S, t, eo);
        const auto ap = pqw::explain(pruned, m, x.data(), S, t, eo);
        pqw::HeatmapOptions ho;
        ho.width = side;
        ho.height = side;
        ho.signedMap = m == pqw::Method::Omenn || m == pqw::Method::GradientInput || m == pqw::Method::IntegratedGradients;
        const QImage imD = toQImage(pqw::blendOverlay(rgb, pqw::renderHeatmap(ad.map, ad.height, ad.width, ho)));
        const QImage imP = toQImage(pqw::blendOverlay(rgb, pqw::renderHeatmap(ap.map, ap.height, ap.width, ho)));
        const auto costD = c->base->cost(), costP = c->pruned.at(run)->cost();
        const double rebuilt = c->rebuiltTest.at(run);
        const QString truth = QString::fromStdString(names.at(size_t(label)));
        const QString clsName = QString::fromStdString(names.at(size_t(cls))), clsPName = QString::fromStdString(names.at(size_t(clsP)));
        const QString runWords = QString::fromStdString(pqw::sweepRunInWords(sr->options));
        return [=] {
            if (!self) return;
            self->cache_ = c;
            self->image_->setMaximum(int(n));
            static_cast<FitImage*>(self->denseImage_)->setImage(imD);
            static_cast<FitImage*>(self->prunedImage_)->setImage(imP);
            self->compared_[0].image = imD;
            self->compared_[1].image = imP;
            auto caption = [&](const QString& who, const pqw::Attribution& a, const pqw::ModelCost& cost, const QString& pred,
                               double sparsity) {
                // Non-zero weights: unstructured pruning masks weights without removing them, so the
                // stored parameter count is the same on both sides; what is left is what counts.
                const qint64 nonzero = qint64(cost.params - (cost.prunableParams - cost.nonzeroPrunable));
                QString s = tr("<b>%1</b> (%2 non-zero parameters, %3 sparse): predicts <b>%4</b>")
                                .arg(who, QLocale().toString(nonzero), pct(sparsity, 0), pred);
                s += tr("<br>score for %1: %2").arg(clsName).arg(a.output, 0, 'f', 3);
                if (a.method == "omenn")  // the exact split OMENN gives
                    s += tr("<br>= %1 from the weights %2 %3 from the biases")
                             .arg(a.weightSum, 0, 'f', 3)
                             .arg(a.biasSum < 0 ? QStringLiteral("\u2212") : QStringLiteral("+"))
                             .arg(std::abs(a.biasSum), 0, 'f', 3);
                return s;
            };
            const double spD = 1.0 - double(costD.nonzeroPrunable) / double(c->base->originalPrunable());
            const double spP = 1.0 - double(costP.nonzeroPrunable) / double(c->base->originalPrunable());
            self->denseCaption_->setText(caption(self->tr("Dense"), ad, costD, clsName, spD));
            self->prunedCaption_->setText(caption(self->tr("Pruned"), ap, costP, clsPName, spP));
            for (int i = 0; i < 2; ++i) {
                const auto& a = i == 0 ? ad : ap;
                self->compared_[i].logit = a.output;
                self->compared_[i].sum = a.weightSum + a.biasSum;
                self->compared_[i].exact = a.method == "omenn";
            }
            QString note = self->tr("Run %1 against the dense model. Test image %2, true class %3. Both maps explain %4 "
                                    "(the dense model's prediction)")
                               .arg(runWords, QString::number(image + 1), truth, clsName);
            note += ho.signedMap ? self->tr("; red raises the score, blue lowers it.") : self->tr("; brighter: more influence.");
            note += self->tr(" Pruned model rebuilt from the base model: test top-1 %1 (log: %2).")
                        .arg(pct(rebuilt, 2), std::isnan(logTest) ? QStringLiteral("-") : pct(logTest, 2));
            self->compareNote_->setText(note);
            self->compareNote_->setEnabled(true);
            Q_EMIT self->comparisonFinished(true);
        };
    });
    updateButtons();
    return compareJob_;
}

// ================================================================================== state

QJsonObject PruningView::saveState() const {
    QJsonObject s;
    s[QStringLiteral("designer")] = sweepJson();
    s[QStringLiteral("output_dir")] = outputDir();
    s[QStringLiteral("sweep_dir")] = dir_;
    s[QStringLiteral("recent_sweeps")] = QJsonArray::fromStringList(recent_);
    s[QStringLiteral("x_axis")] = xAxis_->currentIndex();
    s[QStringLiteral("y_axis")] = yAxis_->currentIndex();
    const auto cur = table_->currentIndex();
    s[QStringLiteral("selected_run")] = cur.isValid() ? results_->run(proxy_->mapToSource(cur).row()).s.id : QString();
    s[QStringLiteral("compare_image")] = image_->value() - 1;  // 0-based in the file
    s[QStringLiteral("compare_method")] = method_->currentData().toString();
    s[QStringLiteral("lower_tab")] = lower_->currentIndex();
    return s;
}

void PruningView::restoreState(const QJsonObject& s) {
    const QString dir = s.value(QStringLiteral("sweep_dir")).toString();
    if (!dir.isEmpty() && QFileInfo(dir).isDir()) openSweep(dir, false);
    if (s.contains(QStringLiteral("designer"))) setSweepJson(s.value(QStringLiteral("designer")).toObject());
    // Keys absent (a project saved before this view existed) leave the view as it is.
    if (s.contains(QStringLiteral("output_dir"))) setOutputDir(s.value(QStringLiteral("output_dir")).toString());
    if (s.contains(QStringLiteral("recent_sweeps"))) {
        recent_ = QStringList();
        for (const auto& v : s.value(QStringLiteral("recent_sweeps")).toArray()) recent_ << v.toString();
    }
    xAxis_->setCurrentIndex(std::clamp(s.value(QStringLiteral("x_axis")).toInt(0), 0, xAxis_->count() - 1));
    yAxis_->setCurrentIndex(std::clamp(s.value(QStringLiteral("y_axis")).toInt(0), 0, yAxis_->count() - 1));
    const QString run = s.value(QStringLiteral("selected_run")).toString();
    if (!run.isEmpty()) selectRun(run);
    image_->setValue(s.value(QStringLiteral("compare_image")).toInt(0) + 1);
    const int mi = method_->findData(s.value(QStringLiteral("compare_method")).toString(QStringLiteral("omenn")));
    if (mi >= 0) method_->setCurrentIndex(mi);
    lower_->setCurrentIndex(std::clamp(s.value(QStringLiteral("lower_tab")).toInt(0), 0, lower_->count() - 1));
    updateButtons();
}

}  // namespace pqwgui
