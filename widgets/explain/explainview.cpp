#include "explain/explainview.h"

#include <QAction>
#include <QDragEnterEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QMimeData>
#include <QSplitter>
#include <QTabWidget>
#include <QTimer>
#include <QUndoStack>

#include <algorithm>
#include <cmath>

#include "common/layouts.h"
#include "explain/allclassespanel.h"
#include "explain/decompositionpanel.h"
#include "explain/explaincanvas.h"
#include "explain/explaincontrols.h"
#include "explain/explainpane.h"
#include "explain/faithfulnesspanel.h"
#include "explain/overlay.h"
#include "explain/panegrid.h"
#include "filedialogs.h"
#include "jobrunner.h"
#include "pqw/dataset.h"
#include "session.h"

namespace pqwgui {

ExplainView::ExplainView(Session* session, QUndoStack* undo, QWidget* parent)
    : QWidget(parent), session_(session), undo_(undo) {
    setAcceptDrops(true);
    engine_ = new ExplainEngine(session, this);

    auto* root = new QHBoxLayout(this);
    root->setContentsMargins(4, 4, 4, 4);
    auto* split = new QSplitter;
    root->addWidget(split);
    controls_ = new ExplainControls;
    split->addWidget(controls_);
    grid_ = new PaneGrid;
    split->addWidget(grid_);
    split->addWidget(buildSide());
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 3);
    split->setStretchFactor(2, 2);
    split->setSizes({270, 590, 420});
    connectControls();
    connectEngine();

    auto* runAct = new QAction(tr("Run"), this);
    runAct->setShortcut(QKeySequence(Qt::Key_F5));
    runAct->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(runAct, &QAction::triggered, this, &ExplainView::run);
    addAction(runAct);

    modelChanged();
}

QWidget* ExplainView::buildSide() {
    side_ = new QTabWidget;
    side_->setObjectName(QStringLiteral("explainSide"));
    decomposition_ = new DecompositionPanel(engine_, session_);
    allClasses_ = new AllClassesPanel(engine_);
    faithfulness_ = new FaithfulnessPanel(engine_);
    side_->addTab(scrollablePage(decomposition_), tr("Decomposition"));
    side_->setTabToolTip(0, tr("For the ProtoQuant head: the logit as exact shares of prototypes, each with its pixel map"));
    side_->addTab(scrollablePage(allClasses_), tr("All classes"));
    side_->setTabToolTip(1, tr("OMENN's map of every class's logit on this image (models with up to 20 classes)"));
    side_->addTab(scrollablePage(faithfulness_), tr("Faithfulness"));
    side_->setTabToolTip(2, tr("Does the map point at what the model uses? Curves for this image, a table over the test set"));
    connect(side_, &QTabWidget::currentChanged, this, [this] { refresh(autoRun()); });
    return side_;
}

void ExplainView::connectControls() {
    connect(controls_, &ExplainControls::previousImage, this, [this] { nextTestImage(-1); });
    connect(controls_, &ExplainControls::nextImage, this, [this] { nextTestImage(1); });
    connect(controls_, &ExplainControls::imageFileChosen, this, [this](const QString& f) { setImageFile(f); });
    connect(controls_, &ExplainControls::overlayEdited, this, [this](const OverlayOptions& o, const QString& text) {
        ExplainSettings s = settings_;
        s.overlay = o;
        edit(s, text);
    });
    // An opacity drag previews live and is one undo step (from press to release).
    connect(controls_, &ExplainControls::alphaDragStarted, this, [this] { pressed_ = settings_; });
    connect(controls_, &ExplainControls::alphaDragged, this, [this](const OverlayOptions& o) {
        settings_.overlay = o;
        renderPanes();
        decomposition_->setOverlay(o);
    });
    connect(controls_, &ExplainControls::alphaDragFinished, this, [this] {
        if (pressed_ == settings_) return;
        const ExplainSettings after = settings_;
        settings_ = pressed_;
        edit(after, tr("Opacity %1 %").arg(int(std::lround(after.overlay.alpha * 100))));
    });
    connect(controls_, &ExplainControls::computeEdited, this, [this](const ComputeOptions& c, const QString& text) {
        ExplainSettings s = settings_;
        s.compute = c;
        edit(s, text);
    });
    connect(controls_, &ExplainControls::runRequested, this, &ExplainView::run);
    connect(controls_, &ExplainControls::cancelRequested, this, &ExplainView::cancel);
    connect(controls_, &ExplainControls::autoRunToggled, this, [this](bool on) {
        if (on) refresh(true);
    });
    connect(controls_, &ExplainControls::compareRequested, this, [this] { askComparison(-1); });

    connect(grid_, &PaneGrid::paneEdited, this, &ExplainView::paneEdited);
    connect(grid_, &PaneGrid::paneActivated, this, [this](int i) {
        if (i < int(settings_.panes.size()) && settings_.active != i) {
            // Which pane is active is view focus, not an edit: no undo step.
            ExplainSettings s = settings_;
            s.active = i;
            applySettings(s);
        }
    });
    connect(grid_, &PaneGrid::paneCountChanged, this, &ExplainView::setPaneCount);
    connect(grid_, &PaneGrid::swipeToggled, this, [this](bool on) {
        ExplainSettings s = settings_;
        s.swipe = on && s.panes.size() >= 2;
        edit(s, on ? tr("Swipe between panes 1 and 2") : tr("Side by side"));
    });
    connect(grid_, &PaneGrid::swipeSliderMoved, this, &ExplainView::renderPanes);
}

void ExplainView::connectEngine() {
    connect(engine_, &ExplainEngine::resultReady, this, [this](const CacheKey& key) {
        if (key == faithfulness_->tableKey()) return;  // the panel shows its table
        refresh(autoRun());
    });
    connect(engine_, &ExplainEngine::failed, this, [this] { refresh(false); });
    connect(engine_, &ExplainEngine::modelReset, this, [this] { QTimer::singleShot(0, this, &ExplainView::modelChanged); });
    connect(engine_, &ExplainEngine::comparisonChanged, this, &ExplainView::comparisonLoaded);
    connect(engine_, &ExplainEngine::comparisonFailed, this, [this](const QString& why) {
        comparePane_.reset();
        controls_->setCompareNote(tr("Not loaded: %1").arg(why.toHtmlEscaped()), true, true);
        modelChanged();  // panes waiting for it (a restored project) fall back to this model
    });
}

bool ExplainView::autoRun() const { return controls_->autoRun(); }
ViewLink* ExplainView::link() const { return grid_->link(); }
int ExplainView::allClassesTiles() const { return allClasses_->tiles(); }
void ExplainView::selectShare(int bar) { decomposition_->selectShare(bar); }
int ExplainView::selectedPrototype() const { return decomposition_->selectedPrototype(); }
void ExplainView::computeTable() { faithfulness_->computeTable(); }

// ---------------------------------------------------------------------------------------------
void ExplainView::showImageError(const QString& e) {
    error_ = e;
    controls_->setImageError(e);
}

bool ExplainView::setImage(const ExplainImageRef& ref) {
    const ExplainImageRef before = engine_->image();
    if (!engine_->setImage(ref)) {
        showImageError(engine_->error());
        Q_EMIT statusMessage(error_);
        engine_->setImage(before);  // keep showing the previous image
        return false;
    }
    showImageError({});
    ExplainSettings s = settings_;
    s.image = ref;
    edit(s, tr("Explain %1").arg(engine_->imageLabel()));
    return true;
}

bool ExplainView::setImageSample(size_t sample) {
    ExplainImageRef r;
    r.kind = ExplainImageRef::Kind::Sample;
    r.sample = sample;
    return setImage(r);
}

bool ExplainView::setImageFile(const QString& path) {
    ExplainImageRef r;
    r.kind = ExplainImageRef::Kind::File;
    r.path = QFileInfo(path).absoluteFilePath();
    return setImage(r);
}

void ExplainView::nextTestImage(int step) {
    if (!session_->dataset()) {
        Q_EMIT statusMessage(tr("Open a dataset first."));
        return;
    }
    if (const auto next = engine_->testSample(settings_.image, step)) setImageSample(*next);
}

void ExplainView::edit(const ExplainSettings& next, const QString& text) {
    if (next == settings_) {
        syncWidgets();  // a widget may show an unapplied value
        return;
    }
    if (undo_) undo_->push(new SettingsCommand([this](const ExplainSettings& s) { applySettings(s); }, settings_, next, text));
    else applySettings(next);
}

void ExplainView::applySettings(const ExplainSettings& sIn) {
    ExplainSettings s = sIn;
    if (s.panes.empty()) s.panes = ExplainSettings().panes;
    s.active = std::clamp(s.active, 0, int(s.panes.size()) - 1);
    if (s.image != engine_->image() && !engine_->setImage(s.image)) {
        showImageError(engine_->error());
        s.image = engine_->image();
    } else {
        // The error was about an attempt that is over: what is shown now is a working image.
        showImageError({});
    }
    settings_ = s;
    syncWidgets();
    updateImageBox();
    refresh(autoRun());
}

void ExplainView::syncWidgets() {
    controls_->setSettings(settings_);
    grid_->setSettings(settings_);
}

void ExplainView::setPaneCount(int n) { edit(settings_.withPaneCount(n), tr("Show %1 pane(s)").arg(n)); }

void ExplainView::paneEdited(int i) {
    ExplainSettings s = settings_;
    if (i >= int(s.panes.size())) return;
    auto* pane = grid_->pane(i);
    const PaneSpec p = pane->spec();
    if (p.head == PaneHead::Compare && !engine_->hasHead(PaneHead::Compare)) {
        // "Other checkpoint…" with none loaded: ask for one; the pane switches when it loads.
        pane->setSpec(s.panes[size_t(i)]);
        if (!engine_->comparisonPending()) askComparison(i);
        return;
    }
    const PaneSpec old = s.panes[size_t(i)];
    s.panes[size_t(i)] = p;
    s.active = i;
    QString what;
    if (p.method != old.method) what = tr("Pane %1: %2").arg(i + 1).arg(methodLabel(p.method));
    else if (p.head != old.head) what = tr("Pane %1: %2").arg(i + 1).arg(pane->headText());
    else what = tr("Pane %1: class %2").arg(i + 1).arg(pane->targetText() + (p.contrast >= 0 ? tr(" vs %1").arg(pane->contrastText()) : QString()));
    edit(s, what);
}

void ExplainView::modelChanged() {
    showImageError({});  // a failed image of the previous model says nothing about this one
    engine_->clearFailures();
    decomposition_->reset();
    const QStringList names = engine_->classNames();
    const bool probe = engine_->hasHead(PaneHead::Probe), proto = engine_->hasHead(PaneHead::ProtoQuant);
    const bool compare = engine_->hasHead(PaneHead::Compare);
    for (int i = 0; i < PaneGrid::kMaxPanes; ++i)
        grid_->pane(i)->setClasses(names, probe, proto, compare ? engine_->comparisonName() : QString());
    // Panes on a head the model lacks move to the one it has.
    ExplainSettings s = settings_.fittedTo(int(names.size()), proto, probe, compare, engine_->comparisonPending());
    if (s.image.kind == ExplainImageRef::Kind::Sample && engine_->image().kind == ExplainImageRef::Kind::None) s.image = {};
    applySettings(s);
}

void ExplainView::updateImageBox() {
    const QImage& in = engine_->inputImage();
    if (in.isNull()) {
        controls_->clearImage();
        return;
    }
    const bool file = settings_.image.kind == ExplainImageRef::Kind::File;
    QString t = tr("<b>%1</b>").arg(engine_->imageLabel().toHtmlEscaped());
    if (file) t += QStringLiteral("<br>") + settings_.image.path.toHtmlEscaped();
    controls_->showImage(in, t, file ? settings_.image.path : QString());
}

void ExplainView::run() {
    engine_->clearFailures();
    refresh(true);
}

void ExplainView::cancel() {
    engine_->cancelAll();
    Q_EMIT statusMessage(tr("Cancelled the Explain view's computations; Run (F5) starts them again."));
}

bool ExplainView::pickStartImage() {
    if (settings_.image.kind != ExplainImageRef::Kind::None || !engine_->ready()) return false;
    const auto first = engine_->testSample({}, 0, true);
    if (!first) return false;
    ExplainImageRef r;
    r.kind = ExplainImageRef::Kind::Sample;
    r.sample = *first;
    if (!engine_->setImage(r)) return false;
    ExplainSettings s = settings_;
    s.image = r;
    applySettings(s);  // the starting point, not an edit
    return true;
}

void ExplainView::showEvent(QShowEvent* e) {
    QWidget::showEvent(e);
    // A first visit with a model and a dataset but no image: start on a test image.
    if (pickStartImage()) return;
    QTimer::singleShot(0, this, [this] { refresh(autoRun()); });
}

void ExplainView::refresh(bool request) {
    request = request && isVisible();
    requestPanes(request);
    renderPanes();
    showPrediction();
    const int tab = side_->currentIndex();
    decomposition_->update(settings_, request && tab == 0);
    allClasses_->update(settings_, request && tab == 1);
    faithfulness_->update(settings_, request && tab == 2);
}

void ExplainView::requestPanes(bool request) {
    QString why;
    const bool ready = engine_->ready(&why);
    const bool haveImage = !engine_->inputImage().isNull();
    for (size_t i = 0; i < settings_.panes.size(); ++i) {
        auto* pane = grid_->pane(int(i));
        const PaneSpec& ps = settings_.panes[i];
        if (!ready) {
            pane->showMessage(why);
            continue;
        }
        if (!haveImage) {
            pane->showMessage(tr("Pick an image on the left (or drop one here) to see what the model looks at."));
            continue;
        }
        if (!engine_->hasHead(ps.head)) {
            if (ps.head == PaneHead::Compare)
                pane->showMessage(engine_->comparisonPending() ? tr("Loading the checkpoint to compare with…")
                                                               : tr("No checkpoint is loaded for comparison: use “Compare with a checkpoint…”."));
            else
                pane->showMessage(tr("This model has no %1.").arg(ps.head == PaneHead::Probe ? tr("linear probe") : tr("ProtoQuant head")));
            continue;
        }
        const CacheKey key = engine_->mapKey(ps, settings_.compute);
        if (engine_->cachedMap(key)) continue;  // rendered by renderPanes
        if (engine_->hasFailed(key)) {
            pane->showMessage(tr("%1 was not computed: %2\nPress Run (F5) to try again.").arg(methodLabel(ps.method), engine_->failure(key)));
            continue;
        }
        if (request) engine_->requestMap(ps, settings_.compute);
        pane->showMessage(engine_->pending(key) ? tr("Computing %1...").arg(methodLabel(ps.method))
                                                : tr("%1 is not computed yet: press Run (F5), or turn on Auto-run.").arg(methodLabel(ps.method)));
    }
    if (!request) return;
    // Queued maps no pane shows any more (e.g. after quick switches) are dropped.
    QSet<CacheKey> keep;
    for (const auto& ps : settings_.panes) keep.insert(engine_->mapKey(ps, settings_.compute));
    keep.insert(faithfulness_->tableKey());
    const auto& ap = settings_.activePane();
    keep.insert(engine_->decompositionKey(ap.head == PaneHead::ProtoQuant ? ap.target : -1));
    keep.insert(engine_->allClassesKey(ap.head));
    if (auto m = engine_->cachedMap(engine_->mapKey(ap, settings_.compute)))
        keep.insert(engine_->curvesKey(ap, settings_.compute, m->target));
    engine_->dropQueuedExcept(keep);
}

void ExplainView::renderPanes() {
    const QStringList names = engine_->classNames();
    const auto& o = settings_.overlay;
    for (size_t i = 0; i < settings_.panes.size(); ++i) {
        auto* pane = grid_->pane(int(i));
        const CacheKey key = engine_->mapKey(settings_.panes[i], settings_.compute);
        auto r = engine_->cachedMap(key);
        if (!r) continue;
        if (pane->shows(key, o)) continue;
        QImage img;
        try {
            img = composeAttribution(engine_->inputImage(), r->attr, o);
        } catch (const std::exception& e) {
            pane->showMessage(tr("Cannot draw the map: %1").arg(QString::fromStdString(e.what())));
            continue;
        }
        pane->showResult(r, img, names);
        pane->setShown(key, o);
    }
    // Swipe: pane 1's canvas shows pane 2's map right of the line.
    if (settings_.swipe && settings_.panes.size() >= 2 && !grid_->pane(1)->canvas()->image().isNull() &&
        !grid_->pane(0)->canvas()->image().isNull()) {
        const auto& a = settings_.panes[0];
        const auto& b = settings_.panes[1];
        auto label = [&](const PaneSpec& p) {
            QString t = methodLabel(p.method);
            if (a.head != b.head) t += QStringLiteral(" · ") + engine_->headName(p.head);
            if (a.target != b.target || a.contrast != b.contrast)
                t += QStringLiteral(" · ") + (p.target < 0 ? tr("predicted") : names.value(p.target)) +
                     (p.contrast >= 0 ? tr(" vs %1").arg(names.value(p.contrast)) : QString());
            return t;
        };
        grid_->showSwipe(label(a), label(b));
    } else {
        grid_->clearSwipe();
    }
}

void ExplainView::showPrediction() {
    // The prediction, from any computed map of this image (the first pane that has one).
    const QStringList names = engine_->classNames();
    for (const auto& ps : settings_.panes) {
        auto r = engine_->cachedMap(engine_->mapKey(ps, settings_.compute));
        if (!r || r->logits.empty()) continue;
        const auto top = topClasses(r->logits, 3);
        QStringList shown;
        for (const auto& [cls, p] : top) shown << QStringLiteral("%1 %2 %").arg(names.value(cls).toHtmlEscaped()).arg(100 * p, 0, 'f', 1);
        const int label = engine_->imageLabelIndex();
        controls_->setPrediction(tr("%1 predicts <b>%2</b>%3")
                                     .arg(ps.head == PaneHead::Probe ? tr("The linear probe") : engine_->headName(ps.head),
                                          shown.join(QStringLiteral(", ")),
                                          label < 0 ? QString() : (label == top[0].first ? tr(" (correct)") : tr(" (labelled %1)").arg(names.value(label)))));
        return;
    }
    controls_->setPrediction({});
}

// ---------------------------------------------------------------------------------------------
void ExplainView::compareWith(const QString& path, int pane) {
    comparePane_ = pane;
    controls_->setCompareNote(tr("Loading %1…").arg(QFileInfo(path).fileName().toHtmlEscaped()), true);
    engine_->loadComparison(path);
}

void ExplainView::askComparison(int pane) {
    const QString f = openFileDialog(this, tr("Checkpoint to compare with"), tr("ProtoQuant checkpoints (*.pqwh);;All files (*)"));
    if (!f.isEmpty()) compareWith(f, pane);
}

void ExplainView::comparisonLoaded() {
    const QString name = engine_->comparisonName();
    controls_->setCompareNote(name.isEmpty() ? tr("Panes explain this model's ProtoQuant head or its linear probe.")
                                             : tr("<b>%1</b> is loaded: choose it as a pane's model.").arg(name.toHtmlEscaped()),
                              !name.isEmpty(), false, engine_->comparisonPath());
    modelChanged();
    if (name.isEmpty() || !comparePane_) return;
    const int pane = *comparePane_;
    comparePane_.reset();
    const ExplainSettings s = settings_.withComparison(pane);
    edit(s, tr("Compare with %1").arg(name));
}

// ---------------------------------------------------------------------------------------------
QJsonObject ExplainView::saveState() const {
    QJsonObject o = settingsToJson(settings_);
    if (!engine_->comparisonPath().isEmpty()) o[QStringLiteral("compareCheckpoint")] = engine_->comparisonPath();
    o[QStringLiteral("version")] = 1;
    o[QStringLiteral("swipePosition")] = grid_->swipePosition();
    o[QStringLiteral("zoom")] = link()->zoom();
    o[QStringLiteral("centre")] = QJsonArray{link()->centre().x(), link()->centre().y()};
    o[QStringLiteral("linkViews")] = grid_->linked();
    o[QStringLiteral("autoRun")] = autoRun();
    static const char* tabs[] = {"decomposition", "allClasses", "faithfulness"};
    o[QStringLiteral("sideTab")] = QString::fromLatin1(tabs[std::clamp(side_->currentIndex(), 0, 2)]);
    return o;
}

void ExplainView::restoreState(const QJsonObject& o) {
    grid_->setSwipePosition(std::clamp(o.value(QStringLiteral("swipePosition")).toDouble(0.5), 0.0, 1.0));
    grid_->setLinked(o.value(QStringLiteral("linkViews")).toBool(true));
    controls_->setAutoRun(o.value(QStringLiteral("autoRun")).toBool(true));
    const QString tab = o.value(QStringLiteral("sideTab")).toString();
    {
        const QSignalBlocker b(side_);
        side_->setCurrentIndex(tab == QLatin1String("allClasses") ? 1 : tab == QLatin1String("faithfulness") ? 2 : 0);
    }
    const QJsonArray c = o.value(QStringLiteral("centre")).toArray();
    link()->set(o.value(QStringLiteral("zoom")).toDouble(1.0), c.size() == 2 ? QPointF(c[0].toDouble(0.5), c[1].toDouble(0.5)) : QPointF(0.5, 0.5));
    // The comparison checkpoint loads as a job; the panes on it switch back to it when it has
    // loaded (until then they show this model's head).
    const QString cmp = o.value(QStringLiteral("compareCheckpoint")).toString();
    if (cmp.isEmpty()) engine_->clearComparison();
    else if (cmp != engine_->comparisonPath()) engine_->loadComparison(cmp);
    applySettings(settingsFromJson(o));
}

std::vector<pqw::ProjectExplanation> ExplainView::chosenExplanations() const { return pqwgui::chosenExplanations(settings_); }

bool ExplainView::prepareScreenshot() {
    side_->setCurrentIndex(0);
    pickStartImage();
    refresh(true);
    return session_->jobs()->busy();
}

void ExplainView::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls() && !e->mimeData()->urls().isEmpty() && QFileInfo(e->mimeData()->urls().first().toLocalFile()).isFile())
        e->acceptProposedAction();
}

void ExplainView::dropEvent(QDropEvent* e) {
    const auto urls = e->mimeData()->urls();
    if (urls.isEmpty()) return;
    setImageFile(urls.first().toLocalFile());
    e->acceptProposedAction();
}

}  // namespace pqwgui
