// The Explain view, offscreen, on a tiny ProtoQuant model (an 18-image folder at 32 px on the
// default backbone, a 4-code codebook): two explanations side by side whose displayed sums
// (weight + bias) equal the displayed logit, which equals an independent Explainer::logits
// call; an alpha drag is one undo step and undoing it restores the rendered pixels; switching
// back to a computed map submits no job; a bad image file gives a message naming it; the
// view state round-trips through saveState / restoreState; the view is reachable from the
// Dataset view.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QListView>
#include <QMimeData>
#include <QListWidget>
#include <QTableWidget>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QUndoStack>
#include <QtTest/QtTest>

#include <cmath>

#include "datasetview.h"
#include "explain/explaincanvas.h"
#include "explain/explainpane.h"
#include "explain/explainview.h"
#include "fixtures.h"
#include "qcp.h"
#include "mainwindow.h"
#include "project.h"
#include "prototypeview.h"
#include "session.h"
#include "theme.h"
#include "pqw/omenn.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"
#include "pqw/util.h"

using namespace pqwgui;

namespace {
struct Shown {
    double logit = 0, weight = 0, bias = 0;
    bool ok = false;
};
/// Reads the numbers a pane displays ("Score for c: z = from the pixels w + from the network's
/// built-in offsets b").
Shown parseNumbers(const QString& text) {
    static const QRegularExpression re(QStringLiteral(
        ": (-?[0-9]+\\.[0-9]+)</b> = from the pixels <b>(-?[0-9]+\\.[0-9]+)</b> \\+ from the network's built-in offsets "
        "<b>(-?[0-9]+\\.[0-9]+)</b>"));
    const auto m = re.match(text);
    Shown s;
    if (!m.hasMatch()) return s;
    s.logit = m.captured(1).toDouble();
    s.weight = m.captured(2).toDouble();
    s.bias = m.captured(3).toDouble();
    s.ok = true;
    return s;
}

/// A widget of the view found by its object name (the view exposes no widget getters).
template <class T>
T* child(const QObject* root, const QString& name) {
    T* c = root->findChild<T*>(name);
    if (!c) qFatal("no %s named %s", T::staticMetaObject.className(), qPrintable(name));
    return c;
}
}  // namespace

class TestExplainView : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void twoPanesAddUpToTheLogit();
    void alphaDragIsOneUndoStep();
    void switchingBackIsInstant();
    void cacheKeysAndGetters();
    void badImageFileIsNamed();
    void stateRoundTrips();
    void swipeAllClassesAndFaithfulness();
    void projectKeepsTheView();
    void reachableFromTheDatasetView();
    void compareWithAnotherCheckpoint();
    void cleanupTestCase();

private:
    ExplainView* view() const { return w_->explainView(); }
    ExplainPane* pane(int i) const { return child<ExplainPane>(view(), QStringLiteral("pane%1").arg(i)); }
    OverlayCanvas* canvas(int i) const { return child<OverlayCanvas>(view(), QStringLiteral("canvas%1").arg(i)); }
    QLabel* numbers(int i) const { return child<QLabel>(view(), QStringLiteral("numbers%1").arg(i)); }
    QLabel* compareNote() const { return child<QLabel>(view(), QStringLiteral("compareNote")); }
    QLabel* decompositionText() const { return child<QLabel>(view(), QStringLiteral("decompositionText")); }
    QTabWidget* sideTabs() const { return child<QTabWidget>(view(), QStringLiteral("explainSide")); }
    QCheckBox* autoRun() const { return child<QCheckBox>(view(), QStringLiteral("autoRun")); }
    QTableWidget* faithfulnessTable() const { return child<QTableWidget>(view(), QStringLiteral("faithfulnessTable")); }
    /// Pane i's selector: "method", "head", "target" or "contrast".
    QComboBox* box(const char* what, int i) const {
        return child<QComboBox>(view(), QLatin1String(what) + QString::number(i));
    }
    /// PQW_EXPLAIN_SHOTS=DIR: saves the window at a few steps (to look at the view's states).
    void shot(const QString& name) {
        const QString dir = qEnvironmentVariable("PQW_EXPLAIN_SHOTS");
        if (dir.isEmpty()) return;
        QTest::qWait(100);  // layouts settle
        if (!dir.isEmpty()) w_->grab().save(dir + QLatin1Char('/') + name + QStringLiteral(".png"));
    }
    /// Waits until the jobs are done and pane i shows a map.
    bool waitForPane(int i, int ms = 60000) {
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < ms) {
            if (!w_->jobs()->busy() && !canvas(i)->image().isNull()) return true;
            QTest::qWait(20);
        }
        return false;
    }
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> w_;
    size_t sample_ = 0;
};

void TestExplainView::initTestCase() {
    QVERIFY(tmp_.isValid());
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("ProtoQuantTest"));
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, tmp_.filePath(QStringLiteral("settings")));
    pqw::initTorchThreads(1);
    Theme::instance()->init();

    const QString root = tmp_.filePath(QStringLiteral("images"));
    fixtures::writeImageFolder(root, 3, 6, 32);
    w_ = std::make_unique<MainWindow>();
    w_->resize(1280, 800);
    w_->show();
    auto* s = w_->session();
    pqw::DatasetSpec spec;
    spec.kind = "folder";
    spec.path = root.toStdString();
    spec.valFraction = 0.34;
    TrainConfig tc;
    tc.s0.epochs = 2;
    tc.s1.codes = 4;
    tc.s1.epochs = 1;
    tc.s1.batchSize = 16;
    tc.s2.epochs = 2;
    s->openDataset(spec, [s, tc, this] {
        s->openBackbone(pqw::BackboneSpec{}, [s, tc, this] {
            s->setInputSize(32);
            s->setCacheDir(tmp_.filePath(QStringLiteral("features")));
            s->extractFeatures([s, tc] { s->train(tc); });
        });
    });
    QTRY_VERIFY_WITH_TIMEOUT(s->index() != nullptr && !w_->jobs()->busy(), 180000);
    // The view fits a 1280 px screen.
    QVERIFY2(w_->minimumSizeHint().width() <= 1280, qPrintable(QString::number(w_->minimumSizeHint().width())));
    QVERIFY(s->modelSummary().head && s->modelSummary().stage0);
    const auto val = s->dataset()->indices(pqw::Split::Val);
    QVERIFY(!val.empty());
    sample_ = val.front();
}

void TestExplainView::twoPanesAddUpToTheLogit() {
    QVERIFY(MainWindow::viewNames().contains(QStringLiteral("explain")));
    QVERIFY(w_->showView(QStringLiteral("explain")));
    QCOMPARE(w_->currentView(), static_cast<QWidget*>(view()));
    QVERIFY(view()->setImageSample(sample_));
    // Pane 1: OMENN of the ProtoQuant head; pane 2: OMENN of the linear probe (another model).
    box("method", 0)->setCurrentIndex(box("method", 0)->findData(int(pqw::Method::Omenn)));
    box("method", 1)->setCurrentIndex(box("method", 1)->findData(int(pqw::Method::Omenn)));
    box("head", 1)->setCurrentIndex(box("head", 1)->findData(int(PaneHead::Probe)));
    QCOMPARE(view()->visiblePanes(), 2);
    QVERIFY(waitForPane(0));
    QVERIFY(waitForPane(1));
    QVERIFY(pane(0)->isVisible() && pane(1)->isVisible());

    // The independent computation: the same image, preprocessed, through Explainer::logits.
    auto model = w_->session()->model();
    auto bb = w_->session()->backbone();
    const auto rgb = w_->session()->dataset()->loadImage(sample_);
    const auto pp = bb->preprocess(model->inputSize());
    std::vector<float> x(size_t(3) * pp.size * pp.size);
    pqw::preprocessImage(rgb, pp, x.data());
    const pqw::ExplainHead heads[] = {pqw::ExplainHead::Interpretable, pqw::ExplainHead::Stage0};
    for (int i = 0; i < 2; ++i) {
        const QString text = numbers(i)->text();
        const Shown s = parseNumbers(text);
        QVERIFY2(s.ok, qPrintable(text));
        qInfo("pane %d shows: %s", i + 1, qPrintable(QString(text).remove(QRegularExpression(QStringLiteral("<[^>]*>")))));
        const double tol = 2e-4 * std::max(1.0, std::abs(s.logit));  // four decimals shown
        QVERIFY2(std::abs(s.weight + s.bias - s.logit) <= tol, qPrintable(text));
        const auto e = pqw::Explainer::fromModel(*model, *bb, heads[i]);
        const auto z = e.logits(x.data(), 1, pp.size);
        const float zmax = *std::max_element(z.begin(), z.end());  // the predicted class is explained
        QVERIFY2(std::abs(s.logit - zmax) <= tol, qPrintable(QStringLiteral("%1 vs %2").arg(text).arg(zmax)));
        // The pane's numbers are the computed ones, not rounded copies of each other.
        QVERIFY(std::abs(pane(i)->shownWeightSum() + pane(i)->shownBiasSum() - pane(i)->shownOutput()) <=
                1e-4 * std::max(1.0, double(std::abs(zmax))));
    }
    // The two heads are different models: different logits.
    QVERIFY(std::abs(pane(0)->shownOutput() - pane(1)->shownOutput()) > 1e-6);

    // A contrast on pane 2 (ProtoQuant head): class 2 vs class 0 explains z_2 - z_0.
    box("head", 1)->setCurrentIndex(box("head", 1)->findData(int(PaneHead::ProtoQuant)));
    box("target", 1)->setCurrentIndex(box("target", 1)->findData(2));
    box("contrast", 1)->setCurrentIndex(box("contrast", 1)->findData(0));
    QVERIFY(waitForPane(1));
    {
        const QString text = numbers(1)->text();
        QVERIFY2(text.contains(QStringLiteral("Score for class_2 minus score for class_0")), qPrintable(text));
        const Shown s = parseNumbers(text);
        QVERIFY2(s.ok, qPrintable(text));
        const auto z = pqw::Explainer::fromModel(*model, *bb, pqw::ExplainHead::Interpretable).logits(x.data(), 1, pp.size);
        QVERIFY2(std::abs(s.logit - double(z[2] - z[0])) <= 2e-4 * std::max(1.0, std::abs(s.logit)), qPrintable(text));
        QVERIFY(std::abs(s.weight + s.bias - s.logit) <= 2e-4 * std::max(1.0, std::abs(s.logit)));
    }
    w_->undoStack()->undo();
    w_->undoStack()->undo();
    w_->undoStack()->undo();
    QCOMPARE(view()->settings().panes[1].head, PaneHead::Probe);
    QCOMPARE(view()->settings().panes[1].contrast, -1);

    // The decomposition of the ProtoQuant logit: the same number, as a sum over prototypes.
    QTRY_VERIFY_WITH_TIMEOUT(decompositionText()->text().contains(QStringLiteral("prototypes")) && !w_->jobs()->busy(), 60000);
    const QString dec = decompositionText()->text();
    static const QRegularExpression dre(QStringLiteral(": (-?[0-9]+\\.[0-9]+)</b>, the sum of ([0-9]+) prototypes' shares .*add up to (-?[0-9]+\\.[0-9]+)\\)"));
    const auto dm = dre.match(dec);
    qInfo("decomposition: %s", qPrintable(QString(dec).remove(QRegularExpression(QStringLiteral("<[^>]*>")))));
    QVERIFY2(dm.hasMatch(), qPrintable(dec));
    QVERIFY(std::abs(dm.captured(1).toDouble() - pane(0)->shownOutput()) <= 2e-4);
    QVERIFY(std::abs(dm.captured(3).toDouble() - dm.captured(1).toDouble()) <= 2e-4);
    QVERIFY(view()->selectedPrototype() >= 0);  // the top bar is selected, its map shown
    auto dec2 = view()->engine()->cachedDecomposition(view()->engine()->decompositionKey(-1));
    QVERIFY(dec2 && dec2->decision.shares.size() >= 2);
    QCOMPARE(view()->selectedPrototype(), dec2->decision.shares[0].prototype);
    view()->selectShare(1);  // as a click on the second bar
    QCOMPARE(view()->selectedPrototype(), dec2->decision.shares[1].prototype);
    auto* shareText = view()->findChild<QLabel*>(QStringLiteral("shareText"));
    QVERIFY(shareText->text().contains(QStringLiteral("Prototype %1").arg(dec2->decision.shares[1].prototype)));
    QVERIFY(shareText->text().contains(QStringLiteral("nearest training patches")));
    shot(QStringLiteral("explain-two-panes"));
}

void TestExplainView::alphaDragIsOneUndoStep() {
    QVERIFY(waitForPane(0));
    auto* undo = w_->undoStack();
    const int steps = undo->index();
    const QImage before = canvas(0)->image();
    const double alpha0 = view()->settings().overlay.alpha;
    QSlider* a = child<QSlider>(view(), QStringLiteral("alpha"));
    // A drag: press, several values, release.
    a->setSliderDown(true);
    QElapsedTimer t;
    t.start();
    for (int v : {50, 40, 30, 20}) a->setValue(v);
    const double perStep = t.nsecsElapsed() / 4e6;
    a->setSliderDown(false);
    qInfo("opacity drag: %.1f ms per step (two panes and the prototype map re-rendered at 448 px)", perStep);
    QVERIFY2(perStep < 100, qPrintable(QString::number(perStep)));
    QCOMPARE(undo->index(), steps + 1);
    QCOMPARE(view()->settings().overlay.alpha, 0.2);
    const QImage dragged = canvas(0)->image();
    QVERIFY(dragged != before);
    undo->undo();
    QCOMPARE(view()->settings().overlay.alpha, alpha0);
    QCOMPARE(a->value(), int(std::lround(alpha0 * 100)));
    QVERIFY(canvas(0)->image() == before);  // the rendered overlay pixels too
    undo->redo();
    QCOMPARE(view()->settings().overlay.alpha, 0.2);
    QVERIFY(canvas(0)->image() == dragged);
    undo->undo();
    // A keyboard step is an undo step of its own.
    a->setValue(a->value() + 5);
    QCOMPARE(undo->index(), steps + 1);
    undo->undo();
    QCOMPARE(view()->settings().overlay.alpha, alpha0);
}

void TestExplainView::switchingBackIsInstant() {
    QVERIFY(waitForPane(0));
    auto* method = box("method", 0);
    const QImage omenn = canvas(0)->image();
    const int jobs0 = view()->engine()->submitted();
    method->setCurrentIndex(method->findData(int(pqw::Method::GradientInput)));
    QCOMPARE(view()->engine()->submitted(), jobs0 + 1);  // a new map: one job
    QVERIFY(canvas(0)->image().isNull());
    QVERIFY(waitForPane(0));
    const QImage gxi = canvas(0)->image();
    QVERIFY(!w_->jobs()->busy());
    const int jobs1 = view()->engine()->submitted();
    QSignalSpy queued(w_->jobs(), &JobRunner::queued);
    method->setCurrentIndex(method->findData(int(pqw::Method::Omenn)));
    // Cached: drawn at once, no job submitted (for the map or anything the view shows).
    QVERIFY(canvas(0)->image() == omenn);
    QCOMPARE(view()->engine()->submitted(), jobs1);
    QCOMPARE(queued.size(), 0);
    QVERIFY(!w_->jobs()->busy());
    // Auto-run off: a change queues nothing until Run.
    autoRun()->setChecked(false);
    method->setCurrentIndex(method->findData(int(pqw::Method::Saliency)));
    QCOMPARE(queued.size(), 0);
    QVERIFY(canvas(0)->image().isNull());
    QVERIFY(canvas(0)->message().contains(QStringLiteral("Run (F5)")));
    view()->run();
    QCOMPARE(queued.size(), 1);
    QVERIFY(waitForPane(0));
    autoRun()->setChecked(true);
    w_->undoStack()->undo();  // back to OMENN (cached)
    QVERIFY(canvas(0)->image() == omenn);
    queued.clear();
    // Undo goes back to Gradient x Input, also from the cache.
    w_->undoStack()->undo();
    QCOMPARE(method->currentData().toInt(), int(pqw::Method::GradientInput));
    QVERIFY(canvas(0)->image() == gxi);
    QCOMPARE(queued.size(), 0);
    w_->undoStack()->redo();
    QVERIFY(canvas(0)->image() == omenn);
}

void TestExplainView::cacheKeysAndGetters() {
    auto* e = view()->engine();
    ComputeOptions a, b;
    b.igSteps = a.igSteps + 1;
    PaneSpec omenn, ig;
    ig.method = pqw::Method::IntegratedGradients;
    // Only the options that change a method's map enter its key.
    QVERIFY(e->mapKey(omenn, a) == e->mapKey(omenn, b));
    QCOMPARE(qHash(e->mapKey(omenn, a)), qHash(e->mapKey(omenn, b)));
    QVERIFY(e->mapKey(ig, a) != e->mapKey(ig, b));
    const QSet<CacheKey> keys{e->mapKey(omenn, a), e->mapKey(omenn, b), e->mapKey(ig, a), e->mapKey(ig, b)};
    QCOMPARE(keys.size(), 3);
    // Kinds, heads and classes keep keys apart.
    QVERIFY(e->curvesKey(ig, a, 0) != e->curvesKey(ig, a, 1));
    QVERIFY(e->curvesKey(ig, a, 0).kind == CacheKey::Kind::Curves && e->mapKey(ig, a).kind == CacheKey::Kind::Map);
    QVERIFY(e->decompositionKey(-1) != e->decompositionKey(0));
    QVERIFY(e->allClassesKey(PaneHead::ProtoQuant) != e->allClassesKey(PaneHead::Probe));
    QVERIFY(e->tableKey({pqw::Method::Omenn}, 3, a) != e->tableKey({pqw::Method::Omenn}, 3, b));
    // The map shown is found under its key, and its image is in the key.
    QVERIFY(waitForPane(0));
    const CacheKey shown = e->mapKey(view()->settings().panes[0], view()->settings().compute);
    QVERIFY(e->cachedMap(shown));
    QCOMPARE(shown.image, view()->settings().image);
    // Getters have no side effects: no model reset, no job, the same keys.
    QSignalSpy reset(e, &ExplainEngine::modelReset);
    const int jobs = e->submitted();
    const int cached = e->cachedCount();
    QVERIFY(e->ready());
    QVERIFY(e->hasHead(PaneHead::ProtoQuant) && e->hasHead(PaneHead::Probe));
    QCOMPARE(e->inputSize(), 32);
    QCOMPARE(e->mapKey(view()->settings().panes[0], view()->settings().compute), shown);
    QCOMPARE(reset.size(), 0);
    QCOMPARE(e->submitted(), jobs);
    QCOMPARE(e->cachedCount(), cached);

    // Two cached IG maps that differ only in their step count: undo and redo draw the right one.
    const int steps = w_->undoStack()->index();
    ExplainSettings s = view()->settings();
    s.panes[0].method = pqw::Method::IntegratedGradients;
    view()->edit(s, QStringLiteral("IG"));
    QVERIFY(waitForPane(0));
    const QImage many = canvas(0)->image();
    s.compute.igSteps = 2;
    view()->edit(s, QStringLiteral("IG steps 2"));
    QVERIFY(waitForPane(0));
    const QImage few = canvas(0)->image();
    QVERIFY(few != many);
    w_->undoStack()->undo();
    QVERIFY(canvas(0)->image() == many);
    w_->undoStack()->redo();
    QVERIFY(canvas(0)->image() == few);
    w_->undoStack()->setIndex(steps);
    QVERIFY(waitForPane(0));
}

void TestExplainView::badImageFileIsNamed() {
    const QString bad = tmp_.filePath(QStringLiteral("broken-shirt.png"));
    fixtures::writeTruncatedPng(bad);
    const auto before = view()->settings();
    const int steps = w_->undoStack()->count();
    QVERIFY(!view()->setImageFile(bad));
    QVERIFY2(view()->errorText().contains(QStringLiteral("broken-shirt.png")), qPrintable(view()->errorText()));
    QVERIFY(view()->errorText().startsWith(QStringLiteral("Cannot explain this image")));
    QVERIFY(view()->settings() == before);  // the previous image stays
    QCOMPARE(w_->undoStack()->count(), steps);
    QVERIFY(!canvas(0)->image().isNull());
    auto* err = view()->findChild<QLabel*>(QStringLiteral("imageError"));
    QVERIFY(err && err->isVisible() && err->text().contains(QStringLiteral("broken-shirt.png")));
    // Dropped on the view: the same message.
    {
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(bad)});
        QDropEvent drop(QPointF(50, 50), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        view()->setImageFile(tmp_.filePath(QStringLiteral("images/class_0/img_0.png")));
        QVERIFY(!err->isVisible());
        QDragEnterEvent enter(QPoint(50, 50), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(view(), &enter);
        QVERIFY(enter.isAccepted());
        QApplication::sendEvent(view(), &drop);
        QVERIFY2(err->isVisible() && err->text().contains(QStringLiteral("broken-shirt.png")), qPrintable(view()->errorText() + QStringLiteral(" | ") + err->text()));
    }
    // A missing file, too.
    QVERIFY(!view()->setImageFile(tmp_.filePath(QStringLiteral("nosuch.png"))));
    QVERIFY(view()->errorText().contains(QStringLiteral("nosuch.png")));
    // A good file works and hides the message.
    const QString good = tmp_.filePath(QStringLiteral("images/class_1/img_2.png"));
    QVERIFY(view()->setImageFile(good));
    QVERIFY(!err->isVisible());
    QVERIFY(waitForPane(0));
}

void TestExplainView::stateRoundTrips() {
    ExplainSettings s = view()->settings();
    s.panes.resize(3);
    s.panes[2].method = pqw::Method::IntegratedGradients;
    s.panes[2].target = 1;
    s.panes[2].contrast = 2;
    s.panes[1].head = PaneHead::Probe;
    s.active = 2;
    s.overlay.alpha = 0.35;
    s.overlay.colormap = QStringLiteral("viridis");
    s.overlay.absolute = true;
    s.overlay.percentile = 97.5;
    s.overlay.smooth = false;
    s.overlay.withBias = true;
    s.compute.igSteps = 12;
    s.swipe = true;
    autoRun()->setChecked(false);  // nothing to compute for this test
    view()->edit(s, QStringLiteral("test"));
    view()->link()->set(2.5, QPointF(0.4, 0.6));
    const QJsonObject saved = view()->saveState();
    QCOMPARE(saved.value(QStringLiteral("panes")).toArray().size(), 3);

    ExplainView other(w_->session(), nullptr);
    other.restoreState(saved);
    QCOMPARE(other.saveState(), saved);
    QVERIFY(other.settings() == view()->settings());
    QCOMPARE(child<QSpinBox>(&other, QStringLiteral("paneCount"))->value(), 3);
    QCOMPARE(child<QComboBox>(&other, QStringLiteral("colormap"))->currentData().toString(), QStringLiteral("viridis"));
    QCOMPARE(child<QSlider>(&other, QStringLiteral("alpha"))->value(), 35);
    QVERIFY(!child<QCheckBox>(&other, QStringLiteral("autoRun"))->isChecked());
    QCOMPARE(other.link()->zoom(), 2.5);
    // Through text, as a project file stores it.
    ExplainView third(w_->session(), nullptr);
    third.restoreState(QJsonDocument::fromJson(QJsonDocument(saved).toJson()).object());
    QCOMPARE(third.saveState(), saved);
    // Nonsense is clamped or ignored, never fatal.
    ExplainView fourth(w_->session(), nullptr);
    fourth.restoreState(QJsonObject{{QStringLiteral("overlay"), QJsonObject{{QStringLiteral("alpha"), 7.0}, {QStringLiteral("colormap"), QStringLiteral("nope")}}},
                                    {QStringLiteral("panes"), QJsonArray{QJsonObject{{QStringLiteral("method"), QStringLiteral("bogus")}}}},
                                    {QStringLiteral("activePane"), 9}});
    QCOMPARE(fourth.settings().overlay.alpha, 1.0);
    QCOMPARE(fourth.settings().overlay.colormap, QStringLiteral("auto"));
    QCOMPARE(int(fourth.settings().panes.size()), 1);
    QCOMPARE(fourth.settings().active, 0);
    // Back to two panes with auto-run for the next test.
    w_->undoStack()->undo();
    autoRun()->setChecked(true);
    QCOMPARE(view()->visiblePanes(), 2);
}

void TestExplainView::swipeAllClassesAndFaithfulness() {
    QVERIFY(waitForPane(0));
    // Four panes, linked zoom: one ViewLink for all.
    child<QSpinBox>(view(), QStringLiteral("paneCount"))->setValue(4);
    QCOMPARE(view()->visiblePanes(), 4);
    QVERIFY(waitForPane(3));
    for (int i = 1; i < 4; ++i) QCOMPARE(canvas(i)->link(), canvas(0)->link());
    QVERIFY(pane(3)->isVisible());
    view()->link()->set(2.0, QPointF(0.5, 0.5));
    shot(QStringLiteral("explain-four-panes"));
    view()->link()->reset();
    w_->undoStack()->undo();
    QCOMPARE(view()->visiblePanes(), 2);
    // Swipe: pane 2 is drawn inside pane 1.
    ExplainSettings s = view()->settings();
    s.swipe = true;
    view()->edit(s, QStringLiteral("swipe"));
    QVERIFY(waitForPane(1));
    QVERIFY(canvas(0)->swiping());
    QVERIFY(!canvas(1)->isVisible());
    QVERIFY(numbers(1)->isVisible());  // its numbers stay in sight
    shot(QStringLiteral("explain-swipe"));
    w_->undoStack()->undo();
    QVERIFY(!canvas(0)->swiping());

    // All classes: one tile per class, computed as a job.
    sideTabs()->setCurrentIndex(1);
    QTRY_VERIFY_WITH_TIMEOUT(!w_->jobs()->busy() && view()->allClassesTiles() == 3, 60000);
    shot(QStringLiteral("explain-all-classes"));

    // Faithfulness of the active pane's map on this image: deletion starts from the original
    // image and insertion ends on it, so both equal the class probability shown.
    sideTabs()->setCurrentIndex(2);
    auto* plot = child<QCustomPlot>(view(), QStringLiteral("curvesPlot"));
    QTRY_VERIFY_WITH_TIMEOUT(!w_->jobs()->busy() && plot->graph(0)->dataCount() > 2, 60000);
    const auto del = plot->graph(0)->data();
    const auto ins = plot->graph(1)->data();
    QCOMPARE(del->size(), ins->size());
    const double z = pane(0)->shownOutput();
    auto r = view()->engine()->cachedMap(view()->engine()->mapKey(view()->settings().panes[0], view()->settings().compute));
    QVERIFY(r);
    double sum = 0;
    for (float l : r->logits) sum += std::exp(double(l) - z);  // z is the largest logit (the prediction)
    const double prob = 1.0 / sum;
    QVERIFY2(std::abs(del->at(0)->value - prob) < 1e-4, qPrintable(QStringLiteral("%1 vs %2").arg(del->at(0)->value).arg(prob)));
    QVERIFY(std::abs(ins->at(ins->size() - 1)->value - prob) < 1e-4);
    QCOMPARE(del->at(del->size() - 1)->key, 1.0);

    // The dataset-level table, as a job: one row per ticked method.
    auto* methods = view()->findChild<QListWidget*>();
    QVERIFY(methods);
    for (int i = 0; i < methods->count(); ++i) {
        const int m = methods->item(i)->data(Qt::UserRole).toInt();
        methods->item(i)->setCheckState(m == int(pqw::Method::Omenn) || m == int(pqw::Method::GradientInput) ? Qt::Checked : Qt::Unchecked);
    }
    const auto spins = view()->findChildren<QSpinBox*>();
    for (auto* sp : spins)
        if (sp->toolTip().startsWith(QStringLiteral("Test images"))) sp->setValue(3);
        else if (sp->toolTip().startsWith(QStringLiteral("Images for the model-randomisation"))) sp->setValue(0);
    auto* compute = view()->findChild<QPushButton*>(QStringLiteral("computeTable"));
    QVERIFY(compute);
    QTest::mouseClick(compute, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!w_->jobs()->busy() && faithfulnessTable()->rowCount() == 2, 120000);
    QCOMPARE(faithfulnessTable()->item(0, 0)->text(), QStringLiteral("OMENN"));
    // OMENN's completeness residual is float rounding.
    const QString residual = faithfulnessTable()->item(0, 5)->text();
    QVERIFY2(residual.section(QLatin1Char(' '), 0, 0).toDouble() < 1e-3, qPrintable(residual));
    shot(QStringLiteral("explain-faithfulness"));
    sideTabs()->setCurrentIndex(0);
}

void TestExplainView::projectKeepsTheView() {
    w_->showView(QStringLiteral("explain"));
    ExplainSettings s = view()->settings();
    s.panes[1].head = PaneHead::ProtoQuant;
    s.panes[1].method = pqw::Method::Saliency;
    s.panes[1].target = 1;
    s.overlay.alpha = 0.45;
    s.overlay.colormap = QStringLiteral("magma");
    view()->edit(s, QStringLiteral("for the project"));
    QVERIFY(waitForPane(1));
    const QJsonObject state = view()->saveState();
    const QString path = tmp_.filePath(QStringLiteral("explain.pqwproj"));
    bool saved = false;
    w_->project()->save(path, [&](bool ok, const QString& msg) { saved = ok; QVERIFY2(ok, qPrintable(msg)); });
    QTRY_VERIFY_WITH_TIMEOUT(saved && !w_->jobs()->busy(), 60000);
    // The panes are the project's chosen explanations.
    const auto chosen = w_->project()->capture().explanations;
    QCOMPARE(int(chosen.size()), 2);
    QCOMPARE(chosen[1].method, std::string("saliency"));
    QCOMPARE(chosen[1].target, 1);
    QCOMPARE(chosen[0].sample == -1 ? QString::fromStdString(chosen[0].image) : QString::number(chosen[0].sample),
             s.image.kind == ExplainImageRef::Kind::File ? s.image.path : QString::number(s.image.sample));

    MainWindow w2;
    bool opened = false;
    w2.project()->open(path, [&](bool ok, const QString& msg) { opened = ok; QVERIFY2(ok, qPrintable(msg)); });
    QTRY_VERIFY_WITH_TIMEOUT(opened && !w2.jobs()->busy(), 120000);
    QVERIFY(w2.explainView()->settings() == view()->settings());
    QCOMPARE(w2.explainView()->saveState().value(QStringLiteral("panes")), state.value(QStringLiteral("panes")));
    QCOMPARE(child<QSlider>(w2.explainView(), QStringLiteral("alpha"))->value(), 45);
    w2.jobs()->cancelAll();
    QTRY_VERIFY_WITH_TIMEOUT(!w2.jobs()->busy(), 60000);
}

void TestExplainView::reachableFromTheDatasetView() {
    w_->showView(QStringLiteral("dataset"));
    auto* grid = w_->datasetView()->grid();
    QTRY_VERIFY(grid->model()->rowCount() > 3);
    grid->setCurrentIndex(grid->model()->index(3, 0));
    auto* button = w_->datasetView()->findChild<QPushButton*>(QStringLiteral("explainSample"));
    QVERIFY(button && button->isEnabled());
    QTest::mouseClick(button, Qt::LeftButton);
    QCOMPARE(w_->currentView(), static_cast<QWidget*>(view()));
    QCOMPARE(view()->settings().image.kind, ExplainImageRef::Kind::Sample);
    QVERIFY(waitForPane(0));

    // From "This looks like that" on the Prototypes tab: the same image file.
    const QString file = tmp_.filePath(QStringLiteral("images/class_2/img_1.png"));
    QSignalSpy explained(w_->session(), &Session::explanationReady);
    w_->explainImage(file);
    QVERIFY(explained.wait(60000));
    auto* open = w_->prototypeView()->findChild<QPushButton*>(QStringLiteral("openInExplain"));
    QVERIFY(open && open->isEnabled());
    QTest::mouseClick(open, Qt::LeftButton);
    QCOMPARE(w_->currentView(), static_cast<QWidget*>(view()));
    QCOMPARE(view()->settings().image.kind, ExplainImageRef::Kind::File);
    QCOMPARE(view()->settings().image.path, QFileInfo(file).absoluteFilePath());
    QVERIFY(waitForPane(0));
}

void TestExplainView::compareWithAnotherCheckpoint() {
    w_->showView(QStringLiteral("explain"));
    QVERIFY(view()->setImageSample(sample_));
    ExplainSettings one = view()->settings();
    one.panes.resize(1);
    one.panes[0] = PaneSpec{};  // OMENN of the ProtoQuant head, predicted class
    view()->edit(one, QStringLiteral("one pane"));
    QVERIFY(waitForPane(0));

    // A second head on the same features: the session's model with half its prototypes
    // switched off (a different classifier), saved as a checkpoint.
    auto model = w_->session()->model();
    const QString other = tmp_.filePath(QStringLiteral("other.pqwh"));
    {
        model->save(other.toStdString());
        auto m2 = pqw::ProtoModel::load(other.toStdString());
        for (int p = 0; p < m2.numPrototypes(); p += 2) m2.setPrototypeEnabled(p, false);
        m2.save(other.toStdString());
    }
    // A file that is not a checkpoint: the note names it and says why; nothing else changes.
    const QString bad = tmp_.filePath(QStringLiteral("bad.pqwh"));
    {
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("not a checkpoint at all");
    }
    view()->compareWith(bad);
    QTRY_VERIFY_WITH_TIMEOUT(compareNote()->text().startsWith(QStringLiteral("Not loaded")), 60000);
    QVERIFY2(compareNote()->text().contains(QStringLiteral("bad.pqwh")) &&
                 compareNote()->text().contains(QStringLiteral("not a ProtoQuant Workbench checkpoint")),
             qPrintable(compareNote()->text()));
    QCOMPARE(view()->visiblePanes(), 1);
    QVERIFY(!view()->engine()->hasHead(PaneHead::Compare));
    // A checkpoint for another backbone and classes: refused, saying what differs.
    const QString data = qEnvironmentVariable("PQW_TEST_DATA");
    if (!data.isEmpty()) {
        const QString foreign = data + QStringLiteral("/bad/checkpoints/other_classes.pqwh");
        view()->compareWith(foreign);
        QTRY_VERIFY_WITH_TIMEOUT(compareNote()->text().startsWith(QStringLiteral("Not loaded")), 60000);
        const QString note = compareNote()->text();
        QVERIFY2(note.contains(QStringLiteral("other_classes.pqwh")) && note.contains(QStringLiteral("does not fit the loaded model")) &&
                     note.contains(QStringLiteral("backbone synthetic-backbone")),
                 qPrintable(note));
        QVERIFY(!view()->engine()->hasHead(PaneHead::Compare));
    }

    // The real one: it lands in a second pane with pane 1's method.
    const int undoBefore = w_->undoStack()->index();
    // Queued behind another job, the load must survive the view's refreshes (they drop queued
    // maps the view no longer shows; the screenshot mode hit this).
    w_->jobs()->submit(QStringLiteral("busy"), [](pqw::JobContext&) {
        QThread::msleep(300);
        return std::function<void()>();
    });
    view()->compareWith(other);
    view()->applySettings(view()->settings());
    QTRY_VERIFY_WITH_TIMEOUT(view()->visiblePanes() == 2 && view()->settings().panes[1].head == PaneHead::Compare, 60000);
    QCOMPARE(w_->undoStack()->index(), undoBefore + 1);  // one undo step
    QVERIFY(compareNote()->text().contains(QStringLiteral("other")));
    QVERIFY(waitForPane(1));
    QCOMPARE(box("head", 1)->currentText(), QStringLiteral("other"));

    // Its numbers are the second checkpoint's own: an independent Explainer on the file.
    auto bb = w_->session()->backbone();
    const auto rgb = w_->session()->dataset()->loadImage(sample_);
    const auto pp = bb->preprocess(model->inputSize());
    std::vector<float> x(size_t(3) * pp.size * pp.size);
    pqw::preprocessImage(rgb, pp, x.data());
    const auto m2 = pqw::ProtoModel::load(other.toStdString());
    const auto z2 = pqw::Explainer::fromModel(m2, *bb, pqw::ExplainHead::Interpretable).logits(x.data(), 1, pp.size);
    const auto z1 = pqw::Explainer::fromModel(*model, *bb, pqw::ExplainHead::Interpretable).logits(x.data(), 1, pp.size);
    const Shown s = parseNumbers(numbers(1)->text());
    QVERIFY2(s.ok, qPrintable(numbers(1)->text()));
    const double tol = 2e-4 * std::max(1.0, std::abs(s.logit));
    const float zmax2 = *std::max_element(z2.begin(), z2.end());
    const float zmax1 = *std::max_element(z1.begin(), z1.end());
    qInfo("pane 2 (other.pqwh) shows logit %.4f; the file's own model gives %.4f, the session's %.4f", s.logit, zmax2, zmax1);
    QVERIFY2(std::abs(s.logit - zmax2) <= tol, qPrintable(QStringLiteral("%1 vs %2").arg(s.logit).arg(zmax2)));
    QVERIFY(std::abs(s.weight + s.bias - s.logit) <= tol);
    QVERIFY(std::abs(zmax2 - zmax1) > 1e-3);  // a different model indeed
    QVERIFY(std::abs(pane(0)->shownOutput() - zmax1) <= tol);
    // The decomposition (of the loaded model's head) says so while pane 2 is the active one.
    sideTabs()->setCurrentIndex(0);
    QTRY_VERIFY_WITH_TIMEOUT(decompositionText()->text().contains(QStringLiteral("pane 2 explains the other")), 30000);

    // The project keeps it: the state names the file, and a restored view loads it again.
    const QJsonObject state = view()->saveState();
    QCOMPARE(state.value(QStringLiteral("compareCheckpoint")).toString(), other);
    QCOMPARE(state.value(QStringLiteral("panes")).toArray()[1].toObject().value(QStringLiteral("head")).toString(),
             QStringLiteral("compare"));
    shot(QStringLiteral("explain-compare"));
    {
        const QString path = tmp_.filePath(QStringLiteral("compare.pqwproj"));
        bool saved = false;
        w_->project()->save(path, [&](bool ok, const QString& msg) { saved = ok; QVERIFY2(ok, qPrintable(msg)); });
        QTRY_VERIFY_WITH_TIMEOUT(saved && !w_->jobs()->busy(), 60000);
        MainWindow w2;
        bool opened = false;
        w2.project()->open(path, [&](bool ok, const QString& msg) { opened = ok; QVERIFY2(ok, qPrintable(msg)); });
        QTRY_VERIFY_WITH_TIMEOUT(opened && !w2.jobs()->busy() && w2.explainView()->engine()->hasHead(PaneHead::Compare), 120000);
        QCOMPARE(w2.explainView()->engine()->comparisonPath(), other);
        QCOMPARE(w2.explainView()->settings().panes.size(), size_t(2));
        QCOMPARE(w2.explainView()->settings().panes[1].head, PaneHead::Compare);
        w2.jobs()->cancelAll();
        QTRY_VERIFY_WITH_TIMEOUT(!w2.jobs()->busy(), 60000);
    }

    // Undo puts the single pane back; the comparison stays loaded for later.
    w_->undoStack()->undo();
    QCOMPARE(view()->visiblePanes(), 1);
    QVERIFY(view()->engine()->hasHead(PaneHead::Compare));
}

void TestExplainView::cleanupTestCase() {
    w_->jobs()->cancelAll();
    QTRY_VERIFY_WITH_TIMEOUT(!w_->jobs()->busy(), 60000);
    w_.reset();
}

QTEST_MAIN(TestExplainView)
#include "test_explain_view.moc"
