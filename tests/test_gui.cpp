// GUI tests, offscreen: the job runner's threading contract, item models under
// QAbstractItemModelTester, the demo driven from a click to a filled prototype grid (with the
// event loop's responsiveness measured throughout), undo/redo of a prototype switch, and the
// screenshot mode of the executable.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QElapsedTimer>
#include <QImage>
#include <QListView>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QScrollBar>
#include <QMimeData>
#include <QSettings>
#include <QToolButton>
#include <QUndoStack>
#include <QtTest/QtTest>

#include <atomic>
#include <chrono>
#include <thread>

#include "datasetmodel.h"
#include "datasetview.h"
#include "fixtures.h"
#include "jobrunner.h"
#include "mainwindow.h"
#include "modelview.h"
#include "panels.h"
#include "plots.h"
#include "prototypemodel.h"
#include "prototypeview.h"
#include "qcp.h"
#include "session.h"
#include "tiny_demo.h"
#include "theme.h"
#include "trainingview.h"
#include "pqw/error.h"
#include "pqw/util.h"

using namespace pqwgui;

namespace {
/// Largest gap between ticks of a 10 ms timer: how long the GUI thread was ever blocked.
class LoopProbe : public QObject {
public:
    LoopProbe() {
        timer_.setInterval(10);
        timer_.setTimerType(Qt::PreciseTimer);
        QObject::connect(&timer_, &QTimer::timeout, this, [this] {
            const qint64 now = clock_.nsecsElapsed();
            if (last_ >= 0) maxGapMs_ = std::max(maxGapMs_, double(now - last_) / 1e6);
            last_ = now;
            ++ticks_;
        });
        clock_.start();
        timer_.start();
    }
    double maxGapMs() const { return maxGapMs_; }
    int ticks() const { return ticks_; }

private:
    QTimer timer_;
    QElapsedTimer clock_;
    qint64 last_ = -1;
    double maxGapMs_ = 0;
    int ticks_ = 0;
};
}  // namespace

class TestGui : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void jobRunnerDeliversOnGuiThread();
    void jobRunnerCancelsAndReportsErrors();
    void datasetModelLoadsThumbnailsLazily();
    void demoFromClickToPrototypes();
    void thumbnailMemoryStaysBounded();
    void datasetViewScrollsSmoothly();
    void screenshotModeWritesRequestedSize();
    void plotsRecolourWithTheme();
    void droppedFolderOpensAndIsRecent();

private:
    QTemporaryDir tmp_;
};

void TestGui::initTestCase() {
    QVERIFY(tmp_.isValid());
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("ProtoQuantTest"));
    // Settings (recent items, theme) go to the temporary folder, not the user's.
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, tmp_.filePath(QStringLiteral("settings")));
    pqw::initTorchThreads(2);
    Theme::instance()->init();
}

void TestGui::jobRunnerDeliversOnGuiThread() {
    JobRunner runner;
    QThread* gui = QThread::currentThread();
    QThread* workThread = nullptr;
    QThread* finisherThread = nullptr;
    int progressOnGui = 0, eventsOnGui = 0, progressOff = 0;
    connect(&runner, &JobRunner::progress, this, [&](int, double, const QString&) {
        (QThread::currentThread() == gui ? progressOnGui : progressOff)++;
    });
    std::vector<double> epochs;
    connect(&runner, &JobRunner::event, this, [&](int, const pqw::Event& e) {
        if (QThread::currentThread() == gui) ++eventsOnGui;
        epochs.push_back(e.value("epoch"));
    });
    QSignalSpy finished(&runner, &JobRunner::finished);
    runner.submit(QStringLiteral("count"), [&](pqw::JobContext& ctx) {
        workThread = QThread::currentThread();
        for (int i = 1; i <= 5; ++i) {
            ctx.emit(pqw::Event{"test.epoch", {{"epoch", double(i)}}, {}});
            ctx.progress(i / 5.0, "step");
            std::this_thread::sleep_for(std::chrono::milliseconds(60));
        }
        return std::function<void()>([&] { finisherThread = QThread::currentThread(); });
    });
    QVERIFY(finished.wait(5000));
    QCOMPARE(finished.first().at(1).value<JobStatus>(), JobStatus::Succeeded);
    QVERIFY(workThread && workThread != gui);
    QCOMPARE(finisherThread, gui);
    QCOMPARE(eventsOnGui, 5);
    QCOMPARE(epochs, (std::vector<double>{1, 2, 3, 4, 5}));
    QVERIFY(progressOnGui >= 2);
    QCOMPARE(progressOff, 0);
}

void TestGui::jobRunnerCancelsAndReportsErrors() {
    JobRunner runner;
    QSignalSpy finished(&runner, &JobRunner::finished);
    std::atomic<int> loops{0};
    const int a = runner.submit(QStringLiteral("long"), [&](pqw::JobContext& ctx) {
        for (;;) {
            ctx.throwIfCancelled();
            ++loops;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return std::function<void()>();
    });
    bool ranQueued = false;
    const int b = runner.submit(QStringLiteral("queued"), [&](pqw::JobContext&) {
        ranQueued = true;
        return std::function<void()>();
    });
    const int c = runner.submit(QStringLiteral("fails"), [](pqw::JobContext&) -> std::function<void()> {
        throw pqw::Error("file 'x.png' is not an image");
    });
    QVERIFY(runner.busy());
    runner.cancel(b);  // still queued: never runs
    QTRY_VERIFY_WITH_TIMEOUT(loops > 3, 5000);
    runner.cancel(a);
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 5000);
    QMap<int, JobStatus> st;
    QMap<int, QString> msg;
    for (const auto& args : finished) {
        st[args.at(0).toInt()] = args.at(1).value<JobStatus>();
        msg[args.at(0).toInt()] = args.at(2).toString();
    }
    QCOMPARE(st[a], JobStatus::Cancelled);
    QCOMPARE(st[b], JobStatus::Cancelled);
    QCOMPARE(st[c], JobStatus::Failed);
    QVERIFY(msg[c].contains(QStringLiteral("x.png")));
    QVERIFY(!ranQueued);
    QVERIFY(!runner.busy());
}

void TestGui::datasetModelLoadsThumbnailsLazily() {
    const QString root = tmp_.filePath(QStringLiteral("folder"));
    fixtures::writeImageFolder(root, 3, 7, 40);
    pqw::DatasetSpec spec;
    spec.kind = "folder";
    spec.path = root.toStdString();
    auto ds = std::make_shared<const pqw::Dataset>(pqw::Dataset::open(spec));
    DatasetListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setDataset(ds);
    QCOMPARE(model.rowCount(), 21);
    QCOMPARE(model.cachedThumbnails(), 0);  // nothing decoded until asked
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    const QVariant first = model.index(4).data(Qt::DecorationRole);  // placeholder now, real image soon
    QCOMPARE(first.value<QImage>().size(), QSize(DatasetListModel::kThumb, DatasetListModel::kThumb));
    QTRY_VERIFY_WITH_TIMEOUT(changed.size() >= 1, 5000);
    const QImage img = model.index(4).data(Qt::DecorationRole).value<QImage>();
    QCOMPARE(std::max(img.width(), img.height()), DatasetListModel::kThumb);
    QCOMPARE(model.cachedThumbnails(), 1);
    QVERIFY(model.cachedBytes() <= DatasetListModel::kCacheBytes);
    model.setFilter(pqw::Split::Train, 1);
    QVERIFY(model.rowCount() > 0 && model.rowCount() < 7);
    for (int r = 0; r < model.rowCount(); ++r) QCOMPARE(model.index(r).data(DatasetListModel::LabelRole).toInt(), 1);
    model.setFilter(std::nullopt, -1);
    QCOMPARE(model.rowCount(), 21);
}

void TestGui::demoFromClickToPrototypes() {
    MainWindow w;
    const DemoConfig cfg = fixtures::tinyDemo(tmp_.filePath(QStringLiteral("demo")));
    w.setDemoConfig(cfg);
    w.resize(1100, 750);
    w.show();
    QAbstractItemModelTester protoTester(w.prototypeView()->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester proxyTester(w.prototypeView()->proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester layerTester(w.modelView()->layerModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);

    int epochEvents = 0, extractEvents = 0, jobsSeen = 0;
    std::vector<double> lastLoss;
    connect(w.jobs(), &JobRunner::started, this, [&] { ++jobsSeen; });
    connect(w.jobs(), &JobRunner::event, this, [&](int, const pqw::Event& e) {
        if (e.kind.size() > 6 && e.kind.compare(e.kind.size() - 6, 6, ".epoch") == 0) {
            ++epochEvents;
            lastLoss.push_back(e.value("loss"));
        }
        if (e.kind == "extract.batch") ++extractEvents;
    });
    QSignalSpy done(w.session(), &Session::demoFinished);

    LoopProbe probe;
    QElapsedTimer clock;
    clock.start();
    QTest::mouseClick(w.demoButton(), Qt::LeftButton);
    QVERIFY(!w.demoButton()->isEnabled());
    QVERIFY(w.jobs()->busy());
    QVERIFY(done.wait(120000));
    QVERIFY(done.first().at(0).toBool());
    const double seconds = clock.elapsed() / 1000.0;
    qInfo("demo (300 train images, 32 px, 2+2+2 epochs): %.1f s, %d jobs; largest 10 ms timer delay %.1f ms over %d ticks",
          seconds, jobsSeen, probe.maxGapMs(), probe.ticks());
    QVERIFY2(probe.maxGapMs() < 250, qPrintable(QStringLiteral("event loop blocked for %1 ms").arg(probe.maxGapMs())));

    // The demo lands on the prototype browser with a filled grid.
    QCOMPARE(w.currentView(), static_cast<QWidget*>(w.prototypeView()));
    QCOMPARE(w.prototypeView()->grid()->model()->rowCount(), 16);
    QVERIFY(!w.prototypeView()->grid()->model()->index(0, 0).data(Qt::DecorationRole).value<QImage>().isNull());
    QVERIFY(extractEvents >= 1);

    // The plots hold exactly the reported epochs: 2 + 2 + 2.
    auto* tv = w.trainingView();
    QCOMPARE(epochEvents, 6);
    QCOMPARE(tv->epochCount(), 6);
    auto* lossGraph = tv->lossPlot()->graph(0);
    QCOMPARE(lossGraph->dataCount(), 6);
    QCOMPARE(tv->accuracyPlot()->graph(0)->dataCount(), 6);
    QCOMPARE(tv->accuracyPlot()->graph(1)->dataCount(), 6);
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(lossGraph->data()->at(i)->key, double(i + 1));
        QCOMPARE(lossGraph->data()->at(i)->value, lastLoss[size_t(i)]);
    }
    QVERIFY(tv->liveReplots() >= 1 && tv->liveReplots() <= epochEvents);
    // Usage histogram: one bar per code.
    auto* bars = qobject_cast<QCPBars*>(tv->usagePlot()->plottable(0));
    QVERIFY(bars);
    QCOMPARE(bars->dataCount(), 16);
    QVERIFY(tv->summaryLabel()->text().contains(QStringLiteral("top-1")));
    QVERIFY(w.session()->testEvaluation().has_value());

    // The dataset's detail pane shows the model's prediction for the selected image (a quiet
    // job: not listed in the Jobs panel).
    QVERIFY(w.session()->canPredictSamples());
    QSignalSpy predicted(w.session(), &Session::samplePredicted);
    const int rowsBefore = w.jobsPanel()->rowCount();
    w.datasetView()->grid()->setCurrentIndex(w.datasetView()->model()->index(3));
    QVERIFY(predicted.wait(10000));
    QCOMPARE(predicted.first().at(0).value<size_t>(), w.datasetView()->model()->sampleAt(3));
    const QString prediction = predicted.first().at(1).toString();
    bool namesClass = false;
    for (const auto& c : w.session()->dataset()->classNames()) namesClass |= prediction.startsWith(QString::fromStdString(c));
    QVERIFY2(namesClass && prediction.contains(QLatin1Char('%')), qPrintable(prediction));
    QCOMPARE(w.jobsPanel()->rowCount(), rowsBefore);

    // Undo/redo of a prototype switch: the flag, the model's mask and a re-evaluation.
    auto* pm = w.prototypeView()->model();
    const QModelIndex p0 = pm->index(0);
    QSignalSpy applied(w.session(), &Session::prototypeMaskApplied);
    QVERIFY(pm->setData(p0, Qt::Unchecked, Qt::CheckStateRole));
    QCOMPARE(w.undoStack()->count(), 1);
    QCOMPARE(pm->data(p0, Qt::CheckStateRole).toInt(), int(Qt::Unchecked));
    QVERIFY(applied.wait(30000));
    QCOMPARE(w.session()->modelSummary().enabled[0], char(0));
    QVERIFY(w.prototypeView()->accuracyLabel()->text().contains(QStringLiteral("→")));
    w.undoStack()->undo();
    QCOMPARE(pm->data(p0, Qt::CheckStateRole).toInt(), int(Qt::Checked));
    QVERIFY(applied.wait(30000));
    QCOMPARE(w.session()->modelSummary().enabled[0], char(1));
    w.undoStack()->redo();
    QVERIFY(applied.wait(30000));
    QCOMPARE(w.session()->modelSummary().enabled[0], char(0));
    QCOMPARE(pm->data(p0, Qt::CheckStateRole).toInt(), int(Qt::Unchecked));
    qInfo("largest 10 ms timer delay including re-evaluations: %.1f ms", probe.maxGapMs());
    QVERIFY(probe.maxGapMs() < 250);

    // Responsiveness under heavier jobs: the same subset at 112 px (a 7 x 7 feature grid), a
    // fresh extraction and a training run with more epochs, with the timer probe running.
    {
        LoopProbe heavy;
        QElapsedTimer busy;
        busy.start();
        QSignalSpy idle(w.jobs(), &JobRunner::idle);
        w.session()->setInputSize(112);
        w.session()->setCacheDir(tmp_.filePath(QStringLiteral("features-112")));
        TrainConfig more = cfg.train;
        more.s0.epochs = more.s1.epochs = more.s2.epochs = 3;
        w.session()->extractFeatures([&w, more] { w.session()->train(more); });
        QVERIFY(idle.wait(120000));
        QTRY_VERIFY_WITH_TIMEOUT(!w.jobs()->busy(), 120000);
        QCOMPARE(w.session()->cache()->inputSize(), 112);
        QCOMPARE(w.trainingView()->epochCount(), 9);
        qInfo("extraction (400 images, 112 px) + training (3+3+3 epochs) + evaluation + index: %.1f s; largest 10 ms timer "
              "delay %.1f ms over %d ticks", busy.elapsed() / 1000.0, heavy.maxGapMs(), heavy.ticks());
        QVERIFY2(heavy.maxGapMs() < 250, qPrintable(QStringLiteral("event loop blocked for %1 ms").arg(heavy.maxGapMs())));
    }

    // Cancel from the Jobs panel: training stops, the previous model stays.
    const auto before = w.session()->model();
    TrainConfig longer = cfg.train;
    longer.s0.epochs = 500;
    QSignalSpy finished(w.jobs(), &JobRunner::finished);
    const int id = w.session()->train(longer);
    auto* cancel = w.jobsPanel()->findChild<QToolButton*>(QStringLiteral("cancelJob%1").arg(id));
    QVERIFY(cancel);
    QTRY_VERIFY_WITH_TIMEOUT(w.jobs()->runningId() == id, 10000);
    QTest::mouseClick(cancel, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() && finished.last().at(0).toInt() == id, 20000);
    QCOMPARE(finished.last().at(1).value<JobStatus>(), JobStatus::Cancelled);
    QCOMPARE(w.session()->model(), before);
    QVERIFY(tv->epochCount() < 500);
}

void TestGui::thumbnailMemoryStaysBounded() {
    // All of Fashion-MNIST (70 000 images): ask for every 7th thumbnail, as a fast scroll would.
    pqw::DatasetSpec spec;
    spec.path = "fashion-mnist";
    auto ds = std::make_shared<const pqw::Dataset>(pqw::Dataset::open(spec));
    DatasetListModel model;
    model.setDataset(ds);
    QCOMPARE(model.rowCount(), int(ds->size()));
    QVERIFY(model.rowCount() >= 70000);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QElapsedTimer t;
    t.start();
    for (int r = 0; r < model.rowCount(); r += 7) model.index(r).data(Qt::DecorationRole);
    const double askMs = t.nsecsElapsed() / 1e6;
    // Asking never decodes on this thread: 10 000 requests return placeholders at once.
    QVERIFY2(askMs < 500, qPrintable(QString::number(askMs)));
    QTRY_VERIFY_WITH_TIMEOUT(changed.size() >= 500, 20000);
    QVERIFY(model.cachedBytes() <= DatasetListModel::kCacheBytes);
    // Then scroll on page by page (500 rows a page) past what the cache may hold: the oldest
    // thumbnails are evicted and the bytes stay under the bound.
    const int perThumb = DatasetListModel::kThumb * DatasetListModel::kThumb * 3;
    const int pages = DatasetListModel::kCacheBytes / perThumb / 500 + 2;
    for (int page = 0; page < pages; ++page) {
        const int before = int(changed.size());
        int asked = 0;
        for (int r = 20000 + page * 500; r < 20000 + (page + 1) * 500; ++r)
            if (r % 7 != 0) model.index(r).data(Qt::DecorationRole), ++asked;  // rows not asked for above
        QTRY_VERIFY_WITH_TIMEOUT(int(changed.size()) >= before + asked, 20000);
        QVERIFY(model.cachedBytes() <= DatasetListModel::kCacheBytes);
    }
    QVERIFY(int(changed.size()) * perThumb > DatasetListModel::kCacheBytes);  // more was decoded than fits
    QVERIFY(model.cachedThumbnails() < int(changed.size()));
    qInfo("10000 thumbnail requests answered in %.1f ms; %d decoded so far, cache %d thumbnails / %.1f MB (bound %d MB)",
          askMs, int(changed.size()), model.cachedThumbnails(), model.cachedBytes() / 1048576.0, DatasetListModel::kCacheBytes / 1048576);
}

void TestGui::screenshotModeWritesRequestedSize() {
    const QString exe = qEnvironmentVariable("PQW_BIN_DIR") + QStringLiteral("/protoquant-workbench");
    if (!QFileInfo::exists(exe)) QSKIP("protoquant-workbench not built");
    const QString out = tmp_.filePath(QStringLiteral("start.png"));
    QProcess p;
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), tmp_.filePath(QStringLiteral("config")));
    p.setProcessEnvironment(env);
    p.start(exe, {QStringLiteral("--screenshot"), out, QStringLiteral("--view"), QStringLiteral("start"),
                  QStringLiteral("--size"), QStringLiteral("900x600")});
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitCode(), 0);
    const QImage img(out);
    QVERIFY(!img.isNull());
    QCOMPARE(img.size(), QSize(900, 600));
    // Not a blank image: many distinct colours (text, buttons).
    QSet<QRgb> colours;
    for (int y = 0; y < img.height(); y += 3)
        for (int x = 0; x < img.width(); x += 3) colours.insert(img.pixel(x, y));
    QVERIFY2(colours.size() > 20, qPrintable(QString::number(colours.size())));
    // A bad view name is refused.
    p.start(exe, {QStringLiteral("--screenshot"), out, QStringLiteral("--view"), QStringLiteral("nosuch")});
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitCode(), 2);
}

void TestGui::datasetViewScrollsSmoothly() {
    JobRunner runner;
    Session session(&runner);
    DatasetView view(&session);
    view.resize(1000, 700);
    view.show();
    pqw::DatasetSpec spec;
    spec.path = "fashion-mnist";
    QSignalSpy opened(&session, &Session::datasetChanged);
    LoopProbe probe;
    session.openDataset(spec);
    QVERIFY(opened.wait(30000));
    QCOMPARE(view.model()->rowCount(), 70000);
    // Drag the scroll bar from top to bottom in 40 steps, 25 ms apart, while thumbnails load.
    auto* bar = view.grid()->verticalScrollBar();
    QTRY_VERIFY_WITH_TIMEOUT(bar->maximum() > 0, 10000);
    for (int step = 0; step <= 40; ++step) {
        bar->setValue(int(qint64(bar->maximum()) * step / 40));
        QTest::qWait(25);
    }
    QTRY_VERIFY_WITH_TIMEOUT(view.model()->cachedThumbnails() > 0, 10000);
    qInfo("70000-image grid, opening and scrolling top to bottom: largest 10 ms timer delay %.1f ms; %d thumbnails cached",
          probe.maxGapMs(), view.model()->cachedThumbnails());
    QVERIFY2(probe.maxGapMs() < 250, qPrintable(QString::number(probe.maxGapMs())));
    QVERIFY(view.model()->cachedBytes() <= DatasetListModel::kCacheBytes);
}

void TestGui::plotsRecolourWithTheme() {
    std::unique_ptr<QCustomPlot> plot(makePlot(QStringLiteral("t")));
    Theme::instance()->setMode(Theme::Light, false);
    const QColor light = plot->xAxis->tickLabelColor();
    QVERIFY(!Theme::instance()->isDark());
    Theme::instance()->setMode(Theme::Dark, false);
    QVERIFY(Theme::instance()->isDark());
    const QColor dark = plot->xAxis->tickLabelColor();
    QVERIFY(dark.lightness() > 128 && light.lightness() < 128);
    QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 128);
    Theme::instance()->setMode(Theme::System, false);
}

void TestGui::droppedFolderOpensAndIsRecent() {
    const QString root = tmp_.filePath(QStringLiteral("dropped"));
    fixtures::writeImageFolder(root, 2, 5, 24);
    MainWindow w;
    w.show();
    QSignalSpy opened(w.session(), &Session::datasetChanged);
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(root)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &drop);
    QVERIFY(opened.wait(10000));
    QCOMPARE(w.session()->dataset()->size(), size_t(10));
    QCOMPARE(w.currentView(), static_cast<QWidget*>(w.datasetView()));
    QCOMPARE(w.datasetView()->model()->rowCount(), 10);
    const QStringList recent = QSettings().value(QStringLiteral("recent")).toStringList();
    QVERIFY(!recent.isEmpty());
    QCOMPARE(recent.first(), QStringLiteral("folder:") + root);
    w.jobs()->cancelAll();  // the default backbone load queued after the dataset
    QTRY_VERIFY_WITH_TIMEOUT(!w.jobs()->busy(), 20000);
}

QTEST_MAIN(TestGui)
#include "test_gui.moc"
