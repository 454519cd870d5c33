#include "filedialogs.h"
#include "mainwindow.h"
#include "preprocessform.h"
#include "importdialog.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QResizeEvent>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QJsonObject>
#include <QListWidget>
#include <QMessageBox>
#include <QScrollArea>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QUndoStack>
#include <QVBoxLayout>

#include "datasetview.h"
#include "explain/explainview.h"
#include "export.h"
#include "project.h"
#include "undo.h"
#include "reportpdf.h"
#include "pqw/report.h"
#include "modelview.h"
#include "panels.h"
#include "prototypeview.h"
#include "pruning/pruningview.h"
#include "theme.h"
#include "trainingview.h"
#include "wheelguard.h"

namespace pqwgui {

namespace {
enum Tab { StartTab, DatasetTab, ModelTab, TrainingTab, PrototypesTab, ExplainTab, PruningTab };

/// Each view sits in a scroll page: on a small screen (1024 x 640 with scaling) the window can
/// be smaller than a view's minimum size, and the view then scrolls instead of being squeezed
/// (cut titles, collapsed lists, overlapping text).
QScrollArea* scrollPage(QWidget* view, const QString& name) {
    auto* s = new QScrollArea;
    s->setObjectName(QStringLiteral("page:") + name);
    s->setWidgetResizable(true);
    s->setFrameShape(QFrame::NoFrame);
    s->viewport()->setBackgroundRole(QPalette::Window);
    s->setWidget(view);
    return s;
}

/// Sets an action's shortcut and a tooltip that names it ("Extract features (Ctrl+E)").
QAction* withShortcut(QAction* a, const QKeySequence& k) {
    a->setShortcut(k);
    QString text = a->text();
    text.remove(QLatin1Char('&'));
    if (text.endsWith(QLatin1String("..."))) text.chop(3);
    a->setToolTip(QStringLiteral("%1 (%2)").arg(text, k.toString(QKeySequence::NativeText)));
    return a;
}

bool isCubFolder(const QString& dir) {
    return QFileInfo::exists(dir + QStringLiteral("/images.txt")) || QFileInfo::exists(dir + QStringLiteral("/CUB_200_2011/images.txt"));
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("ProtoQuant Workbench"));
    setAcceptDrops(true);
    WheelGuard::install();
    jobs_ = new JobRunner(this);
    session_ = new Session(jobs_, this);
    session_->setCodeConsent([this](const QString& path, const QString& script) {
        const auto r = QMessageBox::warning(
            this, tr("This checkpoint contains a program"),
            tr("%1 embeds a TorchScript stage-0 head (%2). TorchScript runs code when it is loaded, like a .pt "
               "file.\n\nLoad it only if you trust where the file came from.")
                .arg(QFileInfo(path).fileName(), script),
            QMessageBox::Open | QMessageBox::Cancel, QMessageBox::Cancel);
        if (r != QMessageBox::Open) statusBar()->showMessage(tr("%1 was not loaded.").arg(QFileInfo(path).fileName()), 8000);
        return r == QMessageBox::Open;
    });
    undo_ = new QUndoStack(this);

    tabs_ = new QTabWidget;
    tabs_->setDocumentMode(true);
    dataset_ = new DatasetView(session_);
    model_ = new ModelFeaturesView(session_);
    training_ = new TrainingView(session_);
    prototypes_ = new PrototypeView(session_, undo_);
    explain_ = new ExplainView(session_, undo_);
    tabs_->addTab(scrollPage(buildStartPage(), QStringLiteral("start")), tr("Start"));
    tabs_->addTab(scrollPage(dataset_, QStringLiteral("dataset")), tr("Dataset"));
    tabs_->addTab(scrollPage(model_, QStringLiteral("model")), tr("Model && Features"));
    tabs_->addTab(scrollPage(training_, QStringLiteral("training")), tr("Training"));
    tabs_->addTab(scrollPage(prototypes_, QStringLiteral("prototypes")), tr("Prototypes"));
    tabs_->addTab(scrollPage(explain_, QStringLiteral("explain")), tr("Explain"));
    pruning_ = new PruningView(session_);
    tabs_->addTab(scrollPage(pruning_, QStringLiteral("pruning")), tr("Pruning"));
    tabs_->setTabToolTip(PruningTab, tr("Pruning sweeps: design, run, compare schedules (Ctrl+7)"));
    tabs_->setTabToolTip(DatasetTab, tr("The images and their classes (Ctrl+2)"));
    tabs_->setTabToolTip(ModelTab, tr("The backbone and the feature cache (Ctrl+3)"));
    tabs_->setTabToolTip(TrainingTab, tr("Train ProtoQuant with live plots (Ctrl+4)"));
    tabs_->setTabToolTip(PrototypesTab, tr("Browse the learned prototypes and explain images (Ctrl+5)"));
    tabs_->setTabToolTip(ExplainTab, tr("Attribution maps side by side: OMENN and the baselines, exact sums, faithfulness (Ctrl+6)"));
    setCentralWidget(tabs_);

    jobsPanel_ = new JobsPanel(jobs_);
    auto* jobsDock = new QDockWidget(tr("Jobs"));
    jobsDock->setObjectName(QStringLiteral("jobsDock"));
    jobsDock->setWidget(jobsPanel_);
    addDockWidget(Qt::BottomDockWidgetArea, jobsDock);
    log_ = new LogPanel;
    auto* logDock = new QDockWidget(tr("Log"));
    logDock->setObjectName(QStringLiteral("logDock"));
    logDock->setWidget(log_);
    addDockWidget(Qt::BottomDockWidgetArea, logDock);
    tabifyDockWidget(jobsDock, logDock);
    jobsDock->raise();
    resizeDocks({jobsDock}, {jobsPanel_->sizeHint().height() + 24}, Qt::Vertical);  // resizeEvent refits it
    connect(jobs_, &JobRunner::logMessage, log_, &LogPanel::appendLine);

    jobLabel_ = new QLabel;
    jobBar_ = new QProgressBar;
    jobBar_->setMaximumWidth(180);
    jobBar_->setRange(0, 1000);
    jobBar_->setVisible(false);
    statusBar()->addPermanentWidget(jobLabel_);
    statusBar()->addPermanentWidget(jobBar_);
    statusBar()->showMessage(tr("Ready. Start with the demo, or drop an image folder on the window."));
    connect(jobs_, &JobRunner::started, this, [this](int id, const QString& title) {
        if (jobs_->isQuiet(id)) return;
        if (!statusBar()->currentMessage().startsWith(tr("Demo"))) statusBar()->clearMessage();
        jobLabel_->setText(title);
        jobBar_->setVisible(true);
        jobBar_->setRange(0, 0);
    });
    connect(jobs_, &JobRunner::progress, this, [this](int, double f, const QString&) {
        jobBar_->setRange(0, 1000);
        jobBar_->setValue(int(f * 1000));
    });
    connect(jobs_, &JobRunner::finished, this, [this](int, JobStatus st, const QString& msg) {
        if (st == JobStatus::Failed) reportError(msg);
        else if (st == JobStatus::Cancelled) statusBar()->showMessage(tr("Cancelled."), 5000);
    });
    connect(jobs_, &JobRunner::idle, this, [this] {
        jobLabel_->clear();
        jobBar_->setVisible(false);
    });
    connect(session_, &Session::datasetChanged, this, [this] { updateTitle(); });
    connect(session_, &Session::demoStep, this, [this](const QString& step) {
        demoStatus_->setText(tr("Demo: %1...").arg(step));
        statusBar()->showMessage(tr("Demo: %1...").arg(step));
        if (step == tr("Extracting features")) tabs_->setCurrentIndex(ModelTab);
        if (step == tr("Training")) tabs_->setCurrentIndex(TrainingTab);
    });
    connect(session_, &Session::demoFinished, this, [this](bool ok) {
        demoButton_->setEnabled(true);
        demoStatus_->setText(ok ? tr("Demo finished: browse the prototypes.") : tr("The demo stopped (see the Log)."));
        if (ok) {
            tabs_->setCurrentIndex(PrototypesTab);
            // A hint about one view lasts while that view is shown (it said "each tile" on every tab).
            statusBar()->showMessage(tr("Demo finished. Each tile is a prototype; select one to see the patches it stands for."));
            hintTab_ = PrototypesTab;
        }
    });
    connect(model_, &ModelFeaturesView::extractRequested, this, &MainWindow::extractFeatures);
    connect(training_, &TrainingView::startRequested, this, &MainWindow::startTraining);
    connect(training_, &TrainingView::saveRequested, this, [this] { saveCheckpoint(); });
    connect(training_, &TrainingView::loadRequested, this, [this] { loadCheckpoint(); });
    connect(prototypes_, &PrototypeView::explainRequested, this, [this] { explainImage(); });
    connect(prototypes_, &PrototypeView::openInExplainRequested, this, [this] {
        if (!lastExplained_.isEmpty() && explain_->setImageFile(lastExplained_)) tabs_->setCurrentIndex(ExplainTab);
    });
    connect(dataset_, &DatasetView::explainSampleRequested, this, [this](size_t sample) {
        if (explain_->setImageSample(sample)) tabs_->setCurrentIndex(ExplainTab);
    });
    connect(explain_, &ExplainView::statusMessage, this, [this](const QString& m) { statusBar()->showMessage(m, 10000); });
    connect(Theme::instance(), &Theme::changed, this, [this] { update(); });

    // The project: every view's state goes into the project file.
    project_ = new ProjectController(session_, undo_, this);
    project_->addView(QStringLiteral("window"), [this] { return QJsonObject{{QStringLiteral("tab"), tabs_->currentIndex()}}; },
                      [this](const QJsonObject& o) {
                          const int t = o.value(QStringLiteral("tab")).toInt(-1);
                          if (t >= 0 && t < tabs_->count()) tabs_->setCurrentIndex(t);
                      });
    project_->addView(QStringLiteral("dataset"), [this] { return dataset_->saveState(); },
                      [this](const QJsonObject& o) { dataset_->restoreState(o); });
    project_->addView(QStringLiteral("training"), [this] { return training_->saveState(); },
                      [this](const QJsonObject& o) { training_->restoreState(o); });
    project_->addView(QStringLiteral("prototypes"), [this] { return prototypes_->saveState(); },
                      [this](const QJsonObject& o) { prototypes_->restoreState(o); });
    project_->addView(QStringLiteral("explain"), [this] { return explain_->saveState(); },
                      [this](const QJsonObject& o) { explain_->restoreState(o); });
    project_->setExplanationSource([this] { return explain_->chosenExplanations(); });
    project_->addView(QStringLiteral("pruning"), [this] { return pruning_->saveState(); },
                      [this](const QJsonObject& o) { pruning_->restoreState(o); });
    project_->setSweepSource([this] { return pruning_->sweepFolders(); });
    connect(project_, &ProjectController::pathChanged, this, [this](const QString& p) {
        if (!p.isEmpty()) addRecent(QStringLiteral("project:") + p);
        updateTitle();
    });
    connect(project_, &ProjectController::dirtyChanged, this, &MainWindow::updateTitle);
    project_->autosaveTimer()->start();

    // View choices (filters, sort orders) are undoable, one step per choice.
    // Every settings edit in the Training form is one undo step (consecutive edits of a field merge).
    if (auto* form = training_->findChild<QWidget*>(QStringLiteral("trainingSettings"))) makeFormUndoable(form, undo_, tr("Training"));
    if (auto* form = pruning_->findChild<QWidget*>(QStringLiteral("sweepDesigner"))) makeFormUndoable(form, undo_, tr("Sweep design"));
    for (auto* form : model_->findChildren<PreprocessForm*>()) makeFormUndoable(form, undo_, tr("Preprocessing"));
    makeUndoable(dataset_->splitCombo(), undo_, tr("Dataset split filter"));
    makeUndoable(dataset_->classCombo(), undo_, tr("Dataset class filter"));
    makeUndoable(prototypes_->sortCombo(), undo_, tr("Prototype order"));
    makeUndoable(prototypes_->sortClassCombo(), undo_, tr("Prototype order class"));
    makeUndoable(prototypes_->filterCombo(), undo_, tr("Prototype filter"));

    // Every plot: right-click to export it as PNG, SVG or PDF (plots made later get it on the
    // next tab switch).
    installPlotExportMenus(this);
    connect(tabs_, &QTabWidget::currentChanged, this, [this](int i) {
        installPlotExportMenus(this);
        if (hintTab_ >= 0 && i != hintTab_) {
            statusBar()->clearMessage();
            hintTab_ = -1;
        }
    });

    buildMenus();
    refreshRecent();
    resize(1280, 800);
}

MainWindow::~MainWindow() {
    jobs_->cancelAll();
}

QWidget* MainWindow::buildStartPage() {
    auto* page = new QWidget;
    auto* outer = new QHBoxLayout(page);
    outer->addStretch(1);
    auto* col = new QVBoxLayout;
    outer->addLayout(col, 3);
    outer->addStretch(1);
    col->addStretch(1);
    auto* title = new QLabel(tr("ProtoQuant Workbench"));
    QFont f = title->font();
    f.setPointSize(f.pointSize() * 2);
    f.setBold(true);
    title->setFont(f);
    col->addWidget(title);
    auto* intro = new QLabel(tr(
        "An image classifier you can read. A frozen network turns each image into a grid of feature cells; ProtoQuant "
        "learns a small set of <b>prototypes</b> (typical parts such as a collar, a heel or a sleeve) and decides the "
        "class by which prototypes it finds in the image: <i>this looks like that</i>."));
    intro->setWordWrap(true);
    col->addWidget(intro);
    col->addSpacing(16);
    demoButton_ = new QPushButton(tr("Open the demo (Fashion-MNIST)"));
    demoButton_->setObjectName(QStringLiteral("demoButton"));
    demoButton_->setMinimumHeight(44);
    demoButton_->setToolTip(tr("Extract features for a Fashion-MNIST subset and train ProtoQuant on it, as visible jobs; "
                               "takes a few minutes and ends on the prototype browser (Ctrl+D)"));
    auto* folder = new QPushButton(tr("Open an image folder..."));
    folder->setToolTip(tr("A folder with one subfolder of images per class, optionally under train/ and test/ (Ctrl+O)"));
    auto* cub = new QPushButton(tr("Open a CUB-200-2011 folder..."));
    cub->setToolTip(tr("The CUB_200_2011 folder with images.txt, classes.txt and the split file (Ctrl+Shift+O)"));
    auto* feats = new QPushButton(tr("Open features and a checkpoint..."));
    feats->setToolTip(tr("A feature cache folder made earlier (here or with `pqw extract`), then optionally a .pqwh checkpoint (Ctrl+L)"));
    auto* proj = new QPushButton(tr("Open a project..."));
    proj->setToolTip(tr("A .pqwproj file saved earlier: dataset, features, trained head, sweeps and the views as you left them (Ctrl+Shift+P)"));
    auto* importPq = new QPushButton(tr("Import a ProtoQuant checkpoint..."));
    importPq->setObjectName(QStringLiteral("importProtoQuantButton"));
    importPq->setToolTip(tr("A .pth saved by the official ProtoQuant code: see what it holds, then use it in every view"));
    for (auto* b : {folder, cub, feats, proj, importPq}) b->setMinimumHeight(32);
    col->addWidget(demoButton_);
    demoStatus_ = new QLabel;
    demoStatus_->setObjectName(QStringLiteral("demoStatus"));
    col->addWidget(demoStatus_);
    col->addWidget(folder);
    col->addWidget(cub);
    col->addWidget(feats);
    col->addWidget(proj);
    col->addWidget(importPq);
    col->addSpacing(16);
    col->addWidget(new QLabel(tr("<b>Recent</b>")));
    recent_ = new QListWidget;
    recent_->setMaximumHeight(140);
    recent_->setToolTip(tr("Double-click to open again"));
    col->addWidget(recent_);
    auto* hint = new QLabel(tr("Tip: drop an image folder on this window to open it, or an image to explain it."));
    hint->setEnabled(false);
    col->addWidget(hint);
    col->addStretch(2);
    connect(demoButton_, &QPushButton::clicked, this, &MainWindow::startDemo);
    connect(folder, &QPushButton::clicked, this, [this] { openImageFolder(); });
    connect(cub, &QPushButton::clicked, this, [this] { openCub(); });
    connect(feats, &QPushButton::clicked, this, [this] { openFeatures(); });
    connect(proj, &QPushButton::clicked, this, [this] { openProject(); });
    connect(importPq, &QPushButton::clicked, this, &MainWindow::importProtoQuant);
    connect(recent_, &QListWidget::itemActivated, this, [this](QListWidgetItem* it) { openRecent(it->data(Qt::UserRole).toString()); });
    return page;
}

namespace {
/// The action with its icon from resources/icons/actions/ (shown in the menus; the tool bar
/// stays text-only).
QAction* withIcon(QAction* a, const QString& name) {
    a->setIcon(Theme::icon(name));
    return a;
}
}  // namespace

void MainWindow::buildMenus() {
    auto* file = menuBar()->addMenu(tr("&File"));
    connect(withShortcut(file->addAction(tr("Open the &demo (Fashion-MNIST)")), QKeySequence(tr("Ctrl+D"))),
            &QAction::triggered, this, &MainWindow::startDemo);
    connect(withShortcut(withIcon(file->addAction(tr("Open an image &folder...")), QStringLiteral("open")), QKeySequence::Open), &QAction::triggered, this,
            [this] { openImageFolder(); });
    connect(withShortcut(file->addAction(tr("Open a &CUB-200-2011 folder...")), QKeySequence(tr("Ctrl+Shift+O"))),
            &QAction::triggered, this, [this] { openCub(); });
    connect(withShortcut(file->addAction(tr("Open fea&tures and a checkpoint...")), QKeySequence(tr("Ctrl+L"))),
            &QAction::triggered, this, [this] { openFeatures(); });
    connect(withShortcut(withIcon(file->addAction(tr("Open a &project...")), QStringLiteral("open")), QKeySequence(tr("Ctrl+Shift+P"))), &QAction::triggered,
            this, [this] { openProject(); });
    connect(file->addAction(tr("&Import a ProtoQuant checkpoint...")), &QAction::triggered, this, &MainWindow::importProtoQuant);
    recentMenu_ = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    connect(withShortcut(withIcon(file->addAction(tr("&Save project")), QStringLiteral("save")), QKeySequence::Save), &QAction::triggered, this,
            [this] { saveProject(); });
    connect(withShortcut(file->addAction(tr("Save project &as...")), QKeySequence(tr("Ctrl+Shift+S"))), &QAction::triggered,
            this, [this] { saveProjectAs(); });
    file->addSeparator();
    connect(withShortcut(file->addAction(tr("&Load checkpoint...")), QKeySequence(tr("Ctrl+Shift+L"))), &QAction::triggered,
            this, [this] { loadCheckpoint(); });
    connect(withShortcut(file->addAction(tr("Save chec&kpoint...")), QKeySequence(tr("Ctrl+Alt+S"))), &QAction::triggered, this,
            [this] { saveCheckpoint(); });
    file->addSeparator();
    connect(withShortcut(withIcon(file->addAction(tr("Export the &view as PNG...")), QStringLiteral("export")), QKeySequence(tr("Ctrl+Shift+E"))),
            &QAction::triggered, this, [this] { exportViewPng(); });
    connect(withShortcut(withIcon(file->addAction(tr("Export the project &report (HTML + PDF)...")), QStringLiteral("export")), QKeySequence(tr("Ctrl+R"))),
            &QAction::triggered, this, [this] { exportReport(); });
    file->addSeparator();
    connect(withShortcut(file->addAction(tr("&Quit")), QKeySequence::Quit), &QAction::triggered, this, &QWidget::close);

    auto* edit = menuBar()->addMenu(tr("&Edit"));
    auto* undo = undo_->createUndoAction(this, tr("&Undo"));
    withShortcut(undo, QKeySequence::Undo);
    undo->setIcon(Theme::icon(QStringLiteral("undo")));
    auto* redo = undo_->createRedoAction(this, tr("&Redo"));
    withShortcut(redo, QKeySequence::Redo);
    redo->setIcon(Theme::icon(QStringLiteral("redo")));
    edit->addAction(undo);
    edit->addAction(redo);

    auto* run = menuBar()->addMenu(tr("&Run"));
    connect(withShortcut(withIcon(run->addAction(tr("&Extract features")), QStringLiteral("extract")), QKeySequence(tr("Ctrl+E"))), &QAction::triggered, this,
            &MainWindow::extractFeatures);
    connect(withShortcut(withIcon(run->addAction(tr("&Train")), QStringLiteral("train")), QKeySequence(tr("Ctrl+T"))), &QAction::triggered, this,
            &MainWindow::startTraining);
    connect(withShortcut(withIcon(run->addAction(tr("E&xplain an image...")), QStringLiteral("explain")), QKeySequence(tr("Ctrl+I"))), &QAction::triggered,
            this, [this] { explainImage(); });
    run->addSeparator();
    connect(withShortcut(withIcon(run->addAction(tr("&Cancel all jobs")), QStringLiteral("cancel")), QKeySequence(tr("Ctrl+."))), &QAction::triggered, jobs_,
            &JobRunner::cancelAll);

    auto* view = menuBar()->addMenu(tr("&View"));
    const QStringList names = {tr("&Start"), tr("&Dataset"), tr("&Model && Features"), tr("&Training"), tr("&Prototypes"), tr("E&xplain")};
    for (int i = 0; i < names.size(); ++i)
        connect(withShortcut(view->addAction(names[i]), QKeySequence(QStringLiteral("Ctrl+%1").arg(i + 1))),
                &QAction::triggered, this, [this, i] { tabs_->setCurrentIndex(i); });
    connect(withShortcut(view->addAction(tr("P&runing")), QKeySequence(QStringLiteral("Ctrl+7"))), &QAction::triggered, this,
            [this] { tabs_->setCurrentIndex(PruningTab); });
    view->addSeparator();
    auto* theme = view->addMenu(tr("T&heme"));
    auto* group = new QActionGroup(this);
    const std::pair<QString, Theme::Mode> modes[] = {{tr("Follow the &desktop"), Theme::System}, {tr("&Light"), Theme::Light},
                                                     {tr("D&ark"), Theme::Dark}};
    for (const auto& [label, mode] : modes) {
        auto* a = theme->addAction(label);
        a->setCheckable(true);
        a->setChecked(Theme::instance()->mode() == mode);
        group->addAction(a);
        connect(a, &QAction::triggered, this, [mode = mode] { Theme::instance()->setMode(mode); });
    }
    view->addSeparator();
    for (auto* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());

    auto* tb = addToolBar(tr("Main"));
    tb->setObjectName(QStringLiteral("mainToolbar"));
    tb->setMovable(false);
    tb->setToolButtonStyle(Qt::ToolButtonTextOnly);
    for (auto* a : run->actions())
        if (!a->isSeparator()) tb->addAction(a);
    tb->addSeparator();
    tb->addAction(undo);
    tb->addAction(redo);
}

void MainWindow::resizeEvent(QResizeEvent* e) {
    QMainWindow::resizeEvent(e);
    const int rows = e->size().height() < 720 ? 2 : 4;
    if (rows == jobsDockRows_) return;
    jobsDockRows_ = rows;
    if (auto* dock = findChild<QDockWidget*>(QStringLiteral("jobsDock")))
        resizeDocks({dock}, {jobsPanel_->heightForRows(rows) + 24}, Qt::Vertical);
}

QStringList MainWindow::viewNames() {
    return {QStringLiteral("start"), QStringLiteral("dataset"), QStringLiteral("model"), QStringLiteral("training"),
            QStringLiteral("prototypes"), QStringLiteral("explain"), QStringLiteral("pruning")};
}

bool MainWindow::showView(const QString& name) {
    const int i = int(viewNames().indexOf(name.toLower()));
    if (i < 0) return false;
    tabs_->setCurrentIndex(i);
    return true;
}

void MainWindow::reportError(const QString& what) {
    statusBar()->showMessage(tr("Error: %1").arg(what), 15000);
    if (auto* d = findChild<QDockWidget*>(QStringLiteral("logDock"))) d->raise();
}

bool MainWindow::confirmReplaceSession(const QString& action) {
    if (!askToSave_ || !project_->isDirty() || !(session_->dataset() || session_->model())) return true;
    const QString text = tr("%1 replaces what is open now. Save the project first? Otherwise the changes since the last "
                            "save are lost.").arg(action);
    const auto r = saveQuestion_ ? saveQuestion_(text)
                                 : QMessageBox::question(this, tr("Unsaved changes"), text,
                                                         QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel,
                                                         QMessageBox::Save);
    if (r == QMessageBox::Cancel) return false;
    if (r == QMessageBox::Save) return saveProject();
    return true;
}

void MainWindow::startDemo() {
    if (jobs_->busy()) {
        statusBar()->showMessage(tr("Wait for the running jobs to finish, or cancel them (Ctrl+.)."), 5000);
        return;
    }
    if (!confirmReplaceSession(tr("Opening the demo"))) return;
    demoButton_->setEnabled(false);
    addRecent(QStringLiteral("demo:"));
    training_->setConfig(demoConfig_.train);
    session_->runDemo(demoConfig_);
}

void MainWindow::openDatasetSpec(const pqw::DatasetSpec& spec, const QString& recent) {
    if (!confirmReplaceSession(tr("Opening a dataset"))) return;
    session_->openDataset(spec, [this, recent] {
        // Only what opened goes to Recent (a failed open is reported, not remembered).
        if (!recent.isEmpty()) addRecent(recent);
        tabs_->setCurrentIndex(DatasetTab);
        if (!session_->backbone()) session_->openBackbone(pqw::BackboneSpec{});
    });
}

void MainWindow::openImageFolder(const QString& dirIn) {
    const QString dir = dirIn.isEmpty() ? folderDialog(this, tr("Image folder (one subfolder per class)")) : dirIn;
    if (dir.isEmpty()) return;
    pqw::DatasetSpec spec;
    spec.kind = "folder";
    spec.path = dir.toStdString();
    openDatasetSpec(spec, QStringLiteral("folder:") + dir);
}

void MainWindow::openCub(const QString& dirIn) {
    const QString dir = dirIn.isEmpty() ? folderDialog(this, tr("CUB_200_2011 folder")) : dirIn;
    if (dir.isEmpty()) return;
    pqw::DatasetSpec spec;
    spec.kind = "cub";
    spec.path = dir.toStdString();
    openDatasetSpec(spec, QStringLiteral("cub:") + dir);
}

void MainWindow::openFeatures(const QString& dirIn, const QString& checkpointIn) {
    QString dir = dirIn, ckpt = checkpointIn;
    if (dir.isEmpty()) {
        dir = folderDialog(this, tr("Feature cache folder (with meta.json)"));
        if (dir.isEmpty()) return;
        ckpt = openFileDialog(this, tr("Checkpoint trained on these features (Cancel to train one)"),
                                            tr("ProtoQuant checkpoints (*.pqwh);;All files (*)"));
    }
    if (!confirmReplaceSession(tr("Opening features"))) return;
    const QString recent = QStringLiteral("features:") + dir + (ckpt.isEmpty() ? QString() : QStringLiteral("|") + ckpt);
    session_->openFeatures(dir, [this, ckpt, recent] {
        addRecent(recent);
        if (ckpt.isEmpty()) {
            tabs_->setCurrentIndex(TrainingTab);
            return;
        }
        session_->loadModel(ckpt, [this] { tabs_->setCurrentIndex(PrototypesTab); });
    });
}

void MainWindow::importProtoQuant() {
    auto* dlg = new ImportProtoQuantDialog(session_, this);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &ImportProtoQuantDialog::imported, this, [this] { tabs_->setCurrentIndex(ModelTab); });
    dlg->show();
}

void MainWindow::extractFeatures() {
    if (!session_->dataset() || !session_->backbone()) {
        statusBar()->showMessage(tr("Open a dataset and load a backbone first."), 5000);
        return;
    }
    tabs_->setCurrentIndex(ModelTab);
    session_->extractFeatures([this] { tabs_->setCurrentIndex(TrainingTab); });
}

void MainWindow::startTraining() {
    if (!session_->cache()) {
        statusBar()->showMessage(tr("Extract features first (Model & Features, Ctrl+E)."), 5000);
        return;
    }
    tabs_->setCurrentIndex(TrainingTab);
    session_->train(training_->config());
}

void MainWindow::loadCheckpoint(const QString& pathIn) {
    if (!session_->cache()) {
        statusBar()->showMessage(tr("Open the features the model was trained on first (Ctrl+L)."), 5000);
        return;
    }
    const QString path = pathIn.isEmpty() ? openFileDialog(this, tr("Load checkpoint"), tr("ProtoQuant checkpoints (*.pqwh);;All files (*)")) : pathIn;
    if (path.isEmpty()) return;
    session_->loadModel(path);
}

void MainWindow::saveCheckpoint(const QString& pathIn) {
    if (!session_->model()) {
        statusBar()->showMessage(tr("There is no model to save yet."), 5000);
        return;
    }
    const QString path = pathIn.isEmpty() ? saveFileDialog(this, tr("Save checkpoint"), QStringLiteral("protoquant.pqwh"), tr("ProtoQuant checkpoints (*.pqwh)")) : pathIn;
    if (path.isEmpty()) return;
    session_->saveModel(path);
}

void MainWindow::explainImage(const QString& pathIn) {
    if (!session_->model() || !session_->modelSummary().head) {
        statusBar()->showMessage(tr("Train or load a model with an interpretable head first."), 5000);
        return;
    }
    const QString path = pathIn.isEmpty() ? openFileDialog(this, tr("Image to explain"), tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff)")) : pathIn;
    if (path.isEmpty()) return;
    tabs_->setCurrentIndex(PrototypesTab);
    lastExplained_ = path;
    session_->explainImage(path);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
    const auto urls = e->mimeData()->urls();
    if (urls.isEmpty()) return;
    const QString path = urls.first().toLocalFile();
    const QFileInfo fi(path);
    if (fi.isDir()) {
        if (QFileInfo::exists(path + QStringLiteral("/meta.json"))) openFeatures(path, QStringLiteral(""));
        else if (isCubFolder(path)) openCub(path);
        else openImageFolder(path);
    } else if (fi.isFile()) {
        explainImage(path);
    }
    e->acceptProposedAction();
}

void MainWindow::restoreLayout() {
    QSettings s;
    restoreGeometry(s.value(QStringLiteral("ui/geometry")).toByteArray());
    restoreState(s.value(QStringLiteral("ui/state")).toByteArray());
}

void MainWindow::closeEvent(QCloseEvent* e) {
    if (askToSave_ && project_->isDirty() && (session_->dataset() || session_->model())) {
        const auto r = QMessageBox::question(this, tr("Unsaved changes"),
                                             tr("Save the project before closing? Otherwise the changes since the last save are lost."),
                                             QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
        if (r == QMessageBox::Cancel || (r == QMessageBox::Save && !saveProject())) {
            e->ignore();
            return;
        }
    }
    project_->clearRecovery();  // a clean exit
    QSettings s;
    s.setValue(QStringLiteral("ui/geometry"), saveGeometry());
    s.setValue(QStringLiteral("ui/state"), saveState());
    jobs_->cancelAll();
    QMainWindow::closeEvent(e);
}

void MainWindow::addRecent(const QString& entry) {
    QSettings s;
    QStringList list = s.value(QStringLiteral("recent")).toStringList();
    list.removeAll(entry);
    list.prepend(entry);
    while (list.size() > 8) list.removeLast();
    s.setValue(QStringLiteral("recent"), list);
    refreshRecent();
}

void MainWindow::refreshRecent() {
    const QStringList list = QSettings().value(QStringLiteral("recent")).toStringList();
    recent_->clear();
    recentMenu_->clear();
    for (const QString& entry : list) {
        const int colon = int(entry.indexOf(QLatin1Char(':')));
        const QString kind = entry.left(colon), rest = entry.mid(colon + 1);
        QString label;
        if (kind == QLatin1String("demo")) label = tr("Demo (Fashion-MNIST)");
        else if (kind == QLatin1String("project")) label = tr("Project: %1").arg(rest);
        else if (kind == QLatin1String("folder")) label = tr("Image folder: %1").arg(rest);
        else if (kind == QLatin1String("cub")) label = tr("CUB-200-2011: %1").arg(rest);
        else if (kind == QLatin1String("features")) label = tr("Features: %1").arg(rest.section(QLatin1Char('|'), 0, 0)) +
                                                            (rest.contains(QLatin1Char('|')) ? tr(" + %1").arg(QFileInfo(rest.section(QLatin1Char('|'), 1)).fileName()) : QString());
        else continue;
        auto* item = new QListWidgetItem(label, recent_);
        item->setData(Qt::UserRole, entry);
        connect(recentMenu_->addAction(label), &QAction::triggered, this, [this, entry] { openRecent(entry); });
    }
    if (list.isEmpty()) recent_->addItem(tr("(nothing yet)"));
    recentMenu_->setEnabled(!list.isEmpty());
}

void MainWindow::openRecent(const QString& entry) {
    const int colon = int(entry.indexOf(QLatin1Char(':')));
    if (colon < 0) return;
    const QString kind = entry.left(colon), rest = entry.mid(colon + 1);
    if (kind == QLatin1String("demo")) startDemo();
    else if (kind == QLatin1String("project")) openProject(rest);
    else if (kind == QLatin1String("folder")) openImageFolder(rest);
    else if (kind == QLatin1String("cub")) openCub(rest);
    else if (kind == QLatin1String("features")) openFeatures(rest.section(QLatin1Char('|'), 0, 0), rest.section(QLatin1Char('|'), 1));
}

void MainWindow::updateTitle() {
    QString name;
    if (!project_->path().isEmpty()) name = QFileInfo(project_->path()).completeBaseName();
    else if (auto ds = session_->dataset()) name = QString::fromStdString(ds->name());
    if (name.isEmpty()) {
        setWindowTitle(tr("ProtoQuant Workbench"));
        return;
    }
    setWindowTitle(tr("%1%2 - ProtoQuant Workbench").arg(name, project_->isDirty() ? QStringLiteral("*") : QString()));
}

void MainWindow::openProject(const QString& pathIn) {
    const QString path = pathIn.isEmpty() ? openFileDialog(this, tr("Open a project"), tr("ProtoQuant projects (*.pqwproj);;All files (*)")) : pathIn;
    if (path.isEmpty()) return;
    if (!confirmReplaceSession(tr("Opening a project"))) return;
    statusBar()->showMessage(tr("Opening %1...").arg(QFileInfo(path).fileName()));
    project_->open(path, [this, path](bool ok, const QString& msg) {
        if (ok) {
            statusBar()->showMessage(msg, 8000);
            addRecent(QStringLiteral("project:") + QFileInfo(path).absoluteFilePath());
        } else {
            reportError(msg);
            log_->appendLine(tr("Could not open the project: %1").arg(msg));
        }
    });
}

bool MainWindow::saveProject() {
    if (project_->path().isEmpty()) return saveProjectAs();
    return saveProjectAs(project_->path());
}

bool MainWindow::saveProjectAs(const QString& pathIn) {
    QString path = pathIn;
    if (path.isEmpty()) {
        path = saveFileDialog(this, tr("Save the project"), QStringLiteral("project.pqwproj"), tr("ProtoQuant projects (*.pqwproj)"));
        if (path.isEmpty()) return false;
        if (!path.endsWith(QStringLiteral(".pqwproj"))) path += QStringLiteral(".pqwproj");
    }
    project_->save(path, [this](bool ok, const QString& msg) {
        if (ok) statusBar()->showMessage(msg, 8000);
        else reportError(msg);
        log_->appendLine(msg);
    });
    return true;
}

QWidget* MainWindow::currentView() const {
    auto* page = qobject_cast<QScrollArea*>(tabs_->currentWidget());
    return page ? page->widget() : tabs_->currentWidget();
}

void MainWindow::exportViewPng(const QString& pathIn) {
    QWidget* view = currentView();
    const QString stem = tabs_->tabText(tabs_->currentIndex()).remove(QLatin1Char('&')).toLower().replace(QLatin1Char(' '), QLatin1Char('-'));
    const QString path = pathIn.isEmpty() ? saveFileDialog(this, tr("Export the view as PNG"), stem + QStringLiteral(".png"), tr("PNG images (*.png)")) : pathIn;
    if (path.isEmpty()) return;
    const QString err = exportWidgetPng(view, path);
    if (err.isEmpty()) statusBar()->showMessage(tr("Wrote %1.").arg(path), 8000);
    else reportError(err);
}

void MainWindow::exportReport(const QString& dirIn) {
    const QString dir = dirIn.isEmpty() ? folderDialog(this, tr("Folder for the report (report.html, report.pdf, assets/)")) : dirIn;
    if (dir.isEmpty()) return;
    const pqw::Project p = project_->capture();
    const std::string out = dir.toStdString();
    jobs_->submit(tr("Write the report"), [this, p, out, dir](pqw::JobContext& ctx) {
        const pqw::ReportResult r = pqw::writeReport(p, out, pqw::ReportOptions{}, ctx);
        return std::function<void()>([this, r, dir, p] {
            // The PDF is laid out by Qt's text engine: on the GUI thread (fonts), a second or two.
            const QString err = pqwreport::writeReportPdf(QString::fromStdString(r.htmlPath), dir + QStringLiteral("/report.pdf"),
                                                          QString::fromStdString(p.name));
            for (const auto& w : r.warnings) log_->appendLine(tr("Report: %1").arg(QString::fromStdString(w)));
            if (!err.isEmpty()) reportError(err);
            else statusBar()->showMessage(tr("Report written to %1 (report.html, report.pdf).").arg(dir), 10000);
        });
    });
}

void MainWindow::offerRecovery() {
    if (!project_->hasRecovery()) return;
    const auto r = QMessageBox::question(this, tr("Restore unsaved work?"),
                                         tr("The workbench did not close cleanly last time. Restore the project as it was "
                                            "at the last autosave?"),
                                         QMessageBox::Yes | QMessageBox::No, QMessageBox::Yes);
    if (r == QMessageBox::Yes)
        project_->restoreRecovery([this](bool ok, const QString& msg) {
            if (ok) statusBar()->showMessage(tr("Restored the autosaved project. Save it to keep it."), 10000);
            else reportError(msg);
        });
    else
        project_->clearRecovery();
}

}  // namespace pqwgui
