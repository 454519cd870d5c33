#include "pruning/pruningview.h"

#include <QDir>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <set>

#include "filedialogs.h"
#include "pqw/sweep.h"
#include "pruning/runplot.h"
#include "pruning/slurmpanel.h"
#include "pruning/sweepcontroller.h"
#include "pruning/sweepdesigner.h"
#include "pruning/sweepfolderwatcher.h"
#include "pruning/sweepplots.h"
#include "qcp.h"
#include "session.h"
#include "theme.h"

namespace pqwgui {

PruningView::PruningView(Session* session, QWidget* parent)
    : QWidget(parent), session_(session), sweep_(new SweepController(session, this)),
      designer_(new SweepDesigner(session)), plots_(new SweepPlots(this)), runPlot_(new RunPlot(sweep_, this)),
      compare_(new ComparePanel(session)) {
    auto* root = new QHBoxLayout(this);
    auto* split = new QSplitter;
    root->addWidget(split);

    // ---- left: the designer (scrolling), its run count and the buttons below it
    run_ = new QPushButton(tr("Run sweep"));
    run_->setObjectName(QStringLiteral("runSweep"));
    run_->setToolTip(tr("Run the grid as a job; in a folder that holds this sweep, continue it"));
    cancel_ = new QPushButton(tr("Cancel"));
    cancel_->setObjectName(QStringLiteral("cancelSweep"));
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
    designer_->addBelow(slurm_);
    auto* left = new QWidget;
    auto* lv = new QVBoxLayout(left);
    lv->setContentsMargins(0, 0, 0, 0);
    auto* scroll = new QScrollArea;
    scroll->setWidget(designer_);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setMinimumWidth(designer_->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width() +
                            2 * scroll->frameWidth());
    lv->addWidget(scroll, 1);
    // What the grid makes and the buttons stay visible below the scrolling form.
    lv->addWidget(designer_->runCountLabel());
    auto* buttons = new QGridLayout;
    buttons->addWidget(run_, 0, 0);
    buttons->addWidget(cancel_, 0, 1);
    buttons->addWidget(open_, 1, 0, 1, 2);
    lv->addLayout(buttons);
    split->addWidget(left);
    split->addWidget(buildResults());
    split->setStretchFactor(1, 1);

    // ---- wiring
    connect(designer_, &SweepDesigner::changed, this, [this] {
        slurm_->updatePreview();
        updateButtons();
    });
    connect(designer_, &SweepDesigner::outputDirChanged, slurm_, &SlurmPanel::updatePreview);
    connect(designer_, &SweepDesigner::outputDirChanged, this, &PruningView::updateButtons);
    connect(designer_, &SweepDesigner::message, status_, &QLabel::setText);
    connect(slurm_, &SlurmPanel::submitted, this, [this](const QString& d) { followSweep(d); });
    connect(run_, &QPushButton::clicked, this, [this] { startSweep(); });
    connect(cancel_, &QPushButton::clicked, this, &PruningView::cancelSweep);
    connect(open_, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("Sweep folder (with sweep.json)"), sweep_->dir());
        if (!d.isEmpty()) openSweep(d, true);
    });
    connect(sweep_, &SweepController::cleared, this, [this] {
        plots_->clear();
        updateColumns();
        runPlot_->clear();
    });
    connect(sweep_, &SweepController::settingsChanged, this, [this] { plots_->prepare(sweep_->settings()); });
    connect(sweep_, &SweepController::applied, this,
            [this](const std::vector<std::pair<QString, pqw::Event>>& steps, bool rowsAdded, const QString& show) {
                plots_->addSteps(steps);
                if (rowsAdded) updateColumns();
                if (!show.isEmpty()) showRun(show);
            });
    connect(sweep_, &SweepController::statesChanged, this, &PruningView::updateColumns);
    connect(sweep_, &SweepController::message, status_, &QLabel::setText);
    connect(sweep_, &SweepController::jobFinished, this, &PruningView::onJobFinished);
    connect(compare_, &ComparePanel::compareRequested, this, [this](int image, const QString& method) {
        const QString run = selectedRun();
        if (run.isEmpty()) {
            compare_->setNote(tr("Select a run in the Results tab first."));
            return;
        }
        compare(run, image, method);
    });
    connect(compare_, &ComparePanel::finished, this, &PruningView::comparisonFinished);
    connect(Theme::instance(), &Theme::changed, this, [this] {
        plots_->recolour();
        runPlot_->recolour();
    });
    auto* jobs = session_->jobs();
    connect(jobs, &JobRunner::queued, this, &PruningView::updateButtons);
    connect(jobs, &JobRunner::idle, this, &PruningView::updateButtons);
    plots_->recolour();
    designer_->validate();
    updateButtons();
}

PruningView::~PruningView() = default;

QWidget* PruningView::buildResults() {
    auto* host = new QWidget;
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
    connect(xAxis_, &QComboBox::currentIndexChanged, this,
            [this] { plots_->setAxes(xAxis_->currentIndex(), yAxis_->currentIndex()); });
    connect(yAxis_, &QComboBox::currentIndexChanged, this, [this] {
        plots_->setAxes(xAxis_->currentIndex(), yAxis_->currentIndex());
        if (!sweep_->shownRun().isEmpty()) showRun(sweep_->shownRun());
    });

    auto* vsplit = new QSplitter(Qt::Vertical);
    v->addWidget(vsplit, 1);
    auto* plots = new QWidget;
    auto* pg = new QGridLayout(plots);
    pg->setContentsMargins(0, 0, 0, 0);
    pg->addWidget(plots_->sparsityPlot(), 0, 0);
    pg->addWidget(plots_->epochsPlot(), 0, 1);
    pg->setColumnStretch(0, 11);
    pg->setColumnStretch(1, 9);
    vsplit->addWidget(plots);
    auto* bottom = new QSplitter(Qt::Horizontal);

    lower_ = new QTabWidget;
    lower_->setObjectName(QStringLiteral("pruningTabs"));
    // results table
    auto* tab = new QWidget;
    auto* tv = new QVBoxLayout(tab);
    filter_ = new QLineEdit;
    filter_->setPlaceholderText(tr("Filter runs (any column, e.g. \"structured\" or \"hybrid\")"));
    filter_->setClearButtonEnabled(true);
    proxy_ = new SweepResultsProxy(this);
    proxy_->setSourceModel(sweep_->results());
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
        showRun(sweep_->results()->run(proxy_->mapToSource(cur).row()).s.id);
    });
    lower_->addTab(compare_, tr("Dense vs pruned"));
    // Explicit minimum widths: the window must fit a 1280 px screen (the plot's and the tab's
    // own hints add up to more; at the default size both get far more than this).
    lower_->setMinimumWidth(320);
    runPlot_->plot()->setMinimumWidth(220);
    bottom->addWidget(lower_);
    bottom->addWidget(runPlot_->plot());
    // The comparison needs the width; the run's epochs belong to the results table.
    connect(lower_, &QTabWidget::currentChanged, this, [this](int i) { runPlot_->plot()->setVisible(i == 0); });
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 2);
    bottom->setSizes({560, 360});  // scaled to the width at the first show
    vsplit->addWidget(bottom);
    vsplit->setStretchFactor(0, 3);
    vsplit->setStretchFactor(1, 2);
    vsplit->setSizes({580, 420});  // scaled to the height at the first show
    return host;
}

// ================================================================================ designer

QJsonObject PruningView::sweepJson() const { return designer_->sweepJson(); }
bool PruningView::setSweepJson(const QJsonObject& j, QString* error) { return designer_->setSweepJson(j, error); }
QString PruningView::outputDir() const { return designer_->outputDir(); }
void PruningView::setOutputDir(const QString& dir) { designer_->setOutputDir(dir); }
int PruningView::runCount() const { return designer_->runCount(); }
QString PruningView::designerError() const { return designer_->error(); }
std::vector<double> PruningView::previewSteps(const QString& strategy) const { return designer_->previewSteps(strategy); }

void PruningView::updateButtons() {
    const bool running = sweep_->job() != 0;
    run_->setEnabled(!running && designer_->runCount() > 0 && !outputDir().isEmpty());
    run_->setToolTip(outputDir().isEmpty() ? tr("Choose a sweep folder first")
                                           : tr("Run the grid as a job; in a folder that holds this sweep, continue it"));
    cancel_->setEnabled(running);
    open_->setEnabled(!running);
    compare_->setCanCompare(!sweep_->dir().isEmpty() && sweep_->results()->rowCount() > 0);
}

// ================================================================================ running

int PruningView::startSweep() {
    if (sweep_->job()) return 0;
    designer_->validate();
    const QString dir = outputDir();
    if (designer_->runCount() <= 0) {
        status_->setText(tr("The sweep cannot run: %1").arg(designer_->error()));
        return 0;
    }
    if (dir.isEmpty()) {
        status_->setText(tr("Choose a folder for the sweep."));
        return 0;
    }
    pqw::SweepSpec spec;
    try {
        spec = pqw::parseSweep(QJsonDocument(sweepJson()).toJson(QJsonDocument::Compact).toStdString(), "the sweep");
    } catch (const std::exception& e) {
        status_->setText(QString::fromStdString(e.what()));
        return 0;
    }
    // A folder that holds a sweep of another dataset or model is refused before anything runs
    // (runSweep refuses it too, by the same rule; this says so without starting a job).
    if (pqw::sweepFolderConflicts(spec, dir.toStdString())) {
        status_->setText(tr("%1 holds a sweep of another dataset or model. Choose another folder, or open that "
                            "sweep (Open sweep folder) to continue it.").arg(dir));
        return 0;
    }
    // Show what the folder holds already (a resumed sweep), then the live runs on top.
    const auto settings = runSettings(spec);
    if (pqw::isSweepFolder(dir.toStdString())) {
        openSweep(dir, false);
        sweep_->addRuns(settings);
    } else {
        sweep_->startOver(dir, settings);
    }
    const int already = sweep_->results()->rowCount();
    const int job = sweep_->start(spec, dir);
    status_->setText(already > 0 ? tr("Resuming: %1 of %2 runs are finished and are skipped.").arg(already).arg(spec.runs.size())
                                 : tr("Starting %1 runs...").arg(spec.runs.size()));
    updateButtons();
    return job;
}

void PruningView::cancelSweep() { sweep_->cancel(); }
int PruningView::sweepJob() const { return sweep_->job(); }

void PruningView::onJobFinished(JobStatus st, const QString& msg) {
    // The run plot's title said "(running: step k of n)": redraw it from the state now.
    if (!sweep_->shownRun().isEmpty()) showRun(sweep_->shownRun());
    if (st != JobStatus::Succeeded) {
        // Show what the folder holds: the finished runs (an interrupted run is re-run on resume).
        const QString dir = sweep_->dir();
        if (pqw::isSweepFolder(dir.toStdString())) openSweep(dir, false);
        const int done = sweep_->results()->rowCount();
        status_->setText(st == JobStatus::Cancelled
                             ? tr("Cancelled. %1 of %2 runs are finished and kept in the folder; <b>Run sweep</b> "
                                  "again continues with the others.").arg(done).arg(std::max<int>(int(sweep_->settings().size()), done))
                             : tr("The sweep stopped: %1").arg(msg));
    }
    updateButtons();
    Q_EMIT sweepFinished(st);
}

bool PruningView::followSweep(const QString& dir) {
    if (!openSweep(dir, false)) return false;
    sweep_->follow(dir);
    return true;
}

bool PruningView::openSweep(const QString& dir, bool loadDesigner) {
    sweep_->stopFollowingOtherThan(dir);
    SweepController::Folder f;
    QString error;
    if (!SweepController::readFolder(dir, &f, &error)) {
        status_->setText(error);
        return false;
    }
    QString note = f.note;
    if (f.hasSpec && loadDesigner) {
        QString err;
        // A grid core cannot read says so (f.note) rather than the designer.
        if (!designer_->setSweepJson(f.spec, &err) && f.note.isEmpty()) note = tr("sweep.json: %1").arg(err);
    }
    sweep_->show(f);
    if (loadDesigner && !f.benchmark) designer_->setOutputDir(dir);  // never run a sweep into a benchmark folder
    const int done = sweep_->results()->rowCount(), total = std::max<int>(int(sweep_->settings().size()), done);
    QString s = done == total ? tr("%1: %2 runs, all finished.").arg(QDir::toNativeSeparators(dir)).arg(done)
                              : tr("%1: %2 of %3 runs finished; <b>Run sweep</b> continues with the others.")
                                    .arg(QDir::toNativeSeparators(dir)).arg(done).arg(total);
    if (!note.isEmpty()) s += QStringLiteral(" ") + note.toHtmlEscaped();
    status_->setText(s);
    if (done > 0 && table_->currentIndex().row() < 0) table_->selectRow(0);
    updateButtons();
    return true;
}

SweepFolderWatcher* PruningView::folderWatcher() const { return sweep_->watcher(); }
QString PruningView::sweepDir() const { return sweep_->dir(); }
QStringList PruningView::sweepFolders() const { return sweep_->recent(); }
QString PruningView::statusText() const { return status_->text(); }
int PruningView::liveReplots() const { return sweep_->liveReplots(); }
SweepResultsModel* PruningView::resultsModel() const { return sweep_->results(); }
int PruningView::sparsityPointCount() const { return plots_->pointCount(); }
std::map<QString, std::vector<std::pair<double, double>>> PruningView::sparsityPoints() const { return plots_->points(); }

// ================================================================================ results

void PruningView::showRun(const QString& run) { runPlot_->show(run); }

void PruningView::updateColumns() {
    // Settings every run shares are said once (status, legend), not in a column of equal values.
    const auto* results = sweep_->results();
    std::set<QString> ft, mod, crit;
    bool structured = false;
    for (int r = 0; r < results->rowCount(); ++r) {
        const auto& s = results->run(r).s;
        ft.insert(s.fineTune);
        mod.insert(s.modality);
        crit.insert(s.criterion);
        structured = structured || s.modality == QLatin1String("structured");
    }
    table_->setColumnHidden(SweepResultsModel::FineTune, ft.size() == 1);
    table_->setColumnHidden(SweepResultsModel::Modality, mod.size() == 1);
    table_->setColumnHidden(SweepResultsModel::Criterion, crit.size() == 1);
    table_->setColumnHidden(SweepResultsModel::Channels, !structured);
    table_->setColumnHidden(SweepResultsModel::State, !results->hasStates());
}

void PruningView::selectRun(const QString& id) {
    const int row = sweep_->results()->rowOf(id);
    if (row < 0) return;
    const auto idx = proxy_->mapFromSource(sweep_->results()->index(row, 0));
    table_->setCurrentIndex(idx);
    table_->scrollTo(idx);
}

QString PruningView::selectedRun() const {
    const auto cur = table_->currentIndex();
    return cur.isValid() ? sweep_->results()->run(proxy_->mapToSource(cur).row()).s.id : QString();
}

// ============================================================================= comparison

int PruningView::compare(const QString& runId, int image, const QString& method) {
    const int row = sweep_->results()->rowOf(runId);
    const double logTest = row >= 0 ? sweep_->results()->run(row).testTop1 : NAN;
    const int job = compare_->compare(sweep_->dir(), runId, image, method, logTest);
    if (job) lower_->setCurrentIndex(1);
    return job;
}

const PruningView::Compared& PruningView::compared(int i) const { return compare_->compared(i); }

// ================================================================================== state

QJsonObject PruningView::saveState() const {
    QJsonObject s;
    s[QStringLiteral("designer")] = sweepJson();
    s[QStringLiteral("output_dir")] = outputDir();
    s[QStringLiteral("sweep_dir")] = sweep_->dir();
    s[QStringLiteral("recent_sweeps")] = QJsonArray::fromStringList(sweep_->recent());
    s[QStringLiteral("x_axis")] = xAxis_->currentIndex();
    s[QStringLiteral("y_axis")] = yAxis_->currentIndex();
    s[QStringLiteral("selected_run")] = selectedRun();
    s[QStringLiteral("compare_image")] = compare_->image();  // 0-based in the file
    s[QStringLiteral("compare_method")] = compare_->method();
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
        QStringList recent;
        for (const auto& v : s.value(QStringLiteral("recent_sweeps")).toArray()) recent << v.toString();
        sweep_->setRecent(recent);
    }
    xAxis_->setCurrentIndex(std::clamp(s.value(QStringLiteral("x_axis")).toInt(0), 0, xAxis_->count() - 1));
    yAxis_->setCurrentIndex(std::clamp(s.value(QStringLiteral("y_axis")).toInt(0), 0, yAxis_->count() - 1));
    const QString run = s.value(QStringLiteral("selected_run")).toString();
    if (!run.isEmpty()) selectRun(run);
    compare_->setImage(s.value(QStringLiteral("compare_image")).toInt(0));
    compare_->setMethod(s.value(QStringLiteral("compare_method")).toString(QStringLiteral("omenn")));
    lower_->setCurrentIndex(std::clamp(s.value(QStringLiteral("lower_tab")).toInt(0), 0, lower_->count() - 1));
    updateButtons();
}

}  // namespace pqwgui
