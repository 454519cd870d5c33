// The window's project file, export and report, undo of view choices, stability sort.
#include <QComboBox>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QSvgRenderer>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QUndoStack>
#include <QtTest/QtTest>

#include <cmath>

#include "datasetmodel.h"
#include "datasetview.h"
#include "export.h"
#include "jobrunner.h"
#include "mainwindow.h"
#include "pqw/feature_cache.h"
#include "pqw/project.h"
#include "pqw/protoquant.h"
#include "pqw/util.h"
#include "project.h"
#include "prototypemodel.h"
#include "prototypeview.h"
#include "qcp.h"
#include "session.h"
#include "tiny_pipeline.h"

using namespace pqwgui;

namespace {
/// Runs until the window's jobs are done (and at least one ran when `started` is given).
bool waitIdle(MainWindow& w, int ms = 240000) {
    QTest::qWait(50);
    QElapsedTimer t;
    t.start();
    while (w.jobs()->busy() && t.elapsed() < ms) QTest::qWait(50);
    QTest::qWait(50);
    return !w.jobs()->busy();
}

/// The user picks item i of a combo (what a click does: the index changes, then activated).
void choose(QComboBox* c, int i) {
    QTest::qWait(1);  // let a repopulated combo settle (as between a user's clicks)
    c->setCurrentIndex(i);
    Q_EMIT c->activated(i);
}

/// Pages of a PDF written by Qt (one "/Type /Page" object each).
int pdfPages(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return 0;
    return int(f.readAll().count("/Type /Page\n"));
}

bool isPdf(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return false;
    const QByteArray all = f.readAll();
    return all.startsWith("%PDF-") && all.trimmed().endsWith("%%EOF") && all.size() > 500;
}
}  // namespace

class TestProjectGui : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString cache_, head_;

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        if (!fixtures::tinyPipelineAvailable()) QSKIP("Fashion-MNIST or the default backbone missing");
        pqw::initTorchThreads(2);
        cache_ = tmp_.filePath(QStringLiteral("feat"));
        const auto t = fixtures::makeTinyPipeline(cache_.toStdString(), 32, 10);
        const auto& m = t.model;
        head_ = tmp_.filePath(QStringLiteral("head.pqwh"));
        m.save(head_.toStdString());
    }

    void saveAndReopenRestoresEverything() {
        const QString path = tmp_.filePath(QStringLiteral("proj/one.pqwproj"));
        QDir().mkpath(QFileInfo(path).absolutePath());
        {
            MainWindow w;
            w.setAskToSave(false);
            w.openFeatures(cache_, head_);
            QVERIFY(waitIdle(w));
            QVERIFY(w.session()->model());
            // View state a user set: dataset filters, prototype order, the current tab.
            choose(w.datasetView()->splitCombo(), 3);  // Test
            choose(w.datasetView()->classCombo(), 2);
            w.datasetView()->grid()->setCurrentIndex(w.datasetView()->model()->index(1));
            const size_t sample = w.datasetView()->currentSample();
            choose(w.prototypeView()->sortCombo(), 2);  // by number
            w.showView(QStringLiteral("prototypes"));
            QVERIFY(w.project()->isDirty());
            QVERIFY(w.windowTitle().contains(QLatin1Char('*')));
            QVERIFY(w.saveProjectAs(path));
            QVERIFY(waitIdle(w));
            QVERIFY(QFileInfo::exists(path));
            QVERIFY(!w.project()->isDirty());
            QVERIFY(!w.windowTitle().contains(QLatin1Char('*')));
            const pqw::Project p = pqw::loadProject(path.toStdString());
            QCOMPARE(QString::fromStdString(p.cacheDir), cache_);
            QCOMPARE(QString::fromStdString(p.activeHeadPath()), head_);  // loaded and unchanged: not copied
            const auto vs = QJsonDocument::fromJson(QByteArray::fromStdString(p.viewState)).object();
            QCOMPARE(vs.value("dataset").toObject().value("sample").toInteger(), qint64(sample));

            MainWindow w2;
            w2.setAskToSave(false);
            QSignalSpy opened(w2.project(), &ProjectController::opened);
            bool ok = false;
            w2.project()->open(path, [&](bool good, const QString&) { ok = good; });
            QVERIFY(opened.wait(240000));
            QVERIFY(ok);
            QVERIFY(waitIdle(w2));
            QCOMPARE(w2.session()->cacheDir(), cache_);
            QCOMPARE(w2.session()->modelPath(), head_);
            QCOMPARE(w2.session()->dataset()->fingerprint(), w.session()->dataset()->fingerprint());
            QCOMPARE(w2.datasetView()->splitCombo()->currentIndex(), 3);
            QCOMPARE(w2.datasetView()->classCombo()->currentIndex(), 2);
            QCOMPARE(w2.datasetView()->model()->rowCount(), w.datasetView()->model()->rowCount());
            QCOMPARE(w2.datasetView()->currentSample(), sample);
            QCOMPARE(w2.prototypeView()->sortCombo()->currentIndex(), 2);
            QCOMPARE(w2.currentView(), static_cast<QWidget*>(w2.prototypeView()));
            QVERIFY(!w2.project()->isDirty());
            QCOMPARE(w2.project()->path(), QFileInfo(path).absoluteFilePath());
        }
    }

    void changedHeadIsSavedBesideTheProject() {
        MainWindow w;
        w.setAskToSave(false);
        w.openFeatures(cache_, head_);
        QVERIFY(waitIdle(w));
        // Switch prototype 0 off: the model in memory now differs from head.pqwh.
        auto* pm = w.prototypeView()->model();
        QVERIFY(pm->setData(pm->index(0), Qt::Unchecked, Qt::CheckStateRole));
        QVERIFY(waitIdle(w));
        QVERIFY(!w.session()->modelSaved());
        const QString path = tmp_.filePath(QStringLiteral("proj/two.pqwproj"));
        QVERIFY(w.saveProjectAs(path));
        QVERIFY(waitIdle(w));
        const QString copy = tmp_.filePath(QStringLiteral("proj/two.heads/head-1.pqwh"));
        QVERIFY(QFileInfo::exists(copy));
        const pqw::Project p = pqw::loadProject(path.toStdString());
        QCOMPARE(QString::fromStdString(p.activeHeadPath()), copy);
        QCOMPARE(p.heads.size(), size_t(2));  // the original and the changed copy
        QVERIFY(pqw::readFile(path.toStdString()).find("\"./two.heads/head-1.pqwh\"") != std::string::npos);
        QVERIFY(!pqw::ProtoModel::load(copy.toStdString()).prototypeEnabled(0));
        QVERIFY(pqw::ProtoModel::load(head_.toStdString()).prototypeEnabled(0));  // the original is untouched
    }

    void viewChoicesAreUndoable() {
        MainWindow w;
        w.setAskToSave(false);
        w.openFeatures(cache_, head_);
        QVERIFY(waitIdle(w));
        auto* split = w.datasetView()->splitCombo();
        const int all = w.datasetView()->model()->rowCount();
        const int before = w.undoStack()->count();
        choose(split, 3);
        const int test = w.datasetView()->model()->rowCount();
        QVERIFY(test < all);
        choose(w.datasetView()->classCombo(), 1);
        QVERIFY(w.datasetView()->model()->rowCount() < test);
        QCOMPARE(w.undoStack()->count(), before + 2);
        w.undoStack()->undo();
        QCOMPARE(w.datasetView()->classCombo()->currentIndex(), 0);
        QCOMPARE(w.datasetView()->model()->rowCount(), test);
        w.undoStack()->undo();
        QCOMPARE(split->currentIndex(), 0);
        QCOMPARE(w.datasetView()->model()->rowCount(), all);
        w.undoStack()->redo();
        QCOMPARE(split->currentIndex(), 3);
        QCOMPARE(w.datasetView()->model()->rowCount(), test);
        // Choosing the same item again is not a step; code changes are not steps.
        choose(split, 3);
        split->setCurrentIndex(1);
        QCOMPARE(w.undoStack()->count(), before + 2);
    }

    void prototypesSortByStability() {
        MainWindow w;
        w.setAskToSave(false);
        w.openFeatures(cache_, head_);
        QVERIFY(waitIdle(w));
        QSignalSpy measured(w.session(), &Session::stabilityChanged);
        auto* sort = w.prototypeView()->sortCombo();
        choose(sort, sort->findData(int(PrototypeSortProxy::ByStability)));
        QVERIFY(measured.wait(240000) || !measured.isEmpty());
        const auto& s = w.session()->stability();
        QCOMPARE(int(s.size()), w.session()->modelSummary().prototypes);
        // The tiles run from the smallest presence change to the largest, unmeasured last.
        auto* proxy = w.prototypeView()->proxy();
        double last = -1;
        bool nanSeen = false;
        for (int r = 0; r < proxy->rowCount(); ++r) {
            const double v = proxy->index(r, 0).data(PrototypeListModel::StabilityRole).toDouble();
            if (std::isnan(v)) {
                nanSeen = true;
                continue;
            }
            QVERIFY2(!nanSeen, "a measured prototype after an unmeasured one");
            QVERIFY2(v >= last, qPrintable(QStringLiteral("row %1: %2 after %3").arg(r).arg(v).arg(last)));
            last = v;
        }
        QVERIFY(last >= 0);
    }

    void exportsPlotsViewsAndReport() {
        MainWindow w;
        w.setAskToSave(false);
        w.resize(1100, 750);
        w.show();
        w.openFeatures(cache_, head_);
        QVERIFY(waitIdle(w));
        w.showView(QStringLiteral("dataset"));
        QTest::qWait(100);
        auto* plot = w.datasetView()->classChart();
        QCOMPARE(plot->contextMenuPolicy(), Qt::CustomContextMenu);  // the export menu is installed
        const QString base = tmp_.filePath(QStringLiteral("export/classes"));
        QDir().mkpath(QFileInfo(base).absolutePath());
        QCOMPARE(exportPlot(plot, base + ".png", 640, 400), QString());
        const QImage png(base + ".png");
        QVERIFY(!png.isNull());
        QCOMPARE(png.size(), QSize(1280, 800));  // 2x for print
        QCOMPARE(exportPlot(plot, base + ".svg", 640, 400), QString());
        QSvgRenderer svg(base + ".svg");
        QVERIFY(svg.isValid());
        QCOMPARE(svg.viewBox(), QRect(0, 0, 640, 400));
        QCOMPARE(exportPlot(plot, base + ".pdf", 640, 400), QString());
        QVERIFY(isPdf(base + ".pdf"));
        QVERIFY(exportPlot(plot, base + ".bmp").contains(QStringLiteral("unknown format")));
        QVERIFY(exportPlot(plot, QStringLiteral("/nonexistent/dir/x.png")).contains(QStringLiteral("/nonexistent/dir/x.png")));
        // The whole view as PNG.
        w.exportViewPng(base + "-view.png");
        const QImage view(base + "-view.png");
        QCOMPARE(view.size(), w.datasetView()->size());
        // The report, from the window, as a job.
        const QString rep = tmp_.filePath(QStringLiteral("report"));
        QDir().mkpath(rep);
        w.exportReport(rep);
        QVERIFY(waitIdle(w));
        QVERIFY(QFileInfo(rep + "/report.html").size() > 1000);
        QVERIFY(isPdf(rep + "/report.pdf"));
        // The whole page made it into the PDF: several pages with the figures (an empty
        // single page is about 1 KB).
        QVERIFY2(pdfPages(rep + "/report.pdf") >= 2, qPrintable(QString::number(pdfPages(rep + "/report.pdf"))));
        QVERIFY(QFileInfo(rep + "/report.pdf").size() > 30000);
        const QString html = QString::fromUtf8(pqw::readFile((rep + "/report.html").toStdString()));
        QVERIFY(html.contains(QStringLiteral("Prototype gallery")));
        QVERIFY(html.contains(QStringLiteral("Confusion matrix")));
    }

    void recoveryAfterACrash() {
        QFile::remove(ProjectController::recoveryPath());
        {
            MainWindow w;
            w.setAskToSave(false);
            w.openFeatures(cache_, head_);
            QVERIFY(waitIdle(w));
            choose(w.datasetView()->splitCombo(), 2);
            auto* pm = w.prototypeView()->model();
            QVERIFY(pm->setData(pm->index(1), Qt::Unchecked, Qt::CheckStateRole));
            QVERIFY(waitIdle(w));
            QVERIFY(w.project()->isDirty());
            w.project()->writeRecovery();  // what the autosave timer does
            QVERIFY(waitIdle(w));
            QVERIFY(w.project()->hasRecovery());
            // No clean exit: the window is destroyed without closeEvent (a crash keeps the file).
        }
        MainWindow w2;
        w2.setAskToSave(false);
        QVERIFY(w2.project()->hasRecovery());
        QSignalSpy opened(w2.project(), &ProjectController::opened);
        w2.project()->restoreRecovery();
        QVERIFY(opened.wait(240000));
        QVERIFY(waitIdle(w2));
        QCOMPARE(w2.session()->cacheDir(), cache_);
        QCOMPARE(w2.datasetView()->splitCombo()->currentIndex(), 2);
        QCOMPARE(w2.session()->modelSummary().enabled[1], char(0));  // the unsaved switch survived
        QVERIFY(w2.project()->isDirty());                             // and is still unsaved
        QVERIFY(!w2.session()->modelSaved());
        // Saving puts the head beside the project, not in the recovery folder.
        const QString path = tmp_.filePath(QStringLiteral("proj/three.pqwproj"));
        QVERIFY(w2.saveProjectAs(path));
        QVERIFY(waitIdle(w2));
        const pqw::Project p = pqw::loadProject(path.toStdString());
        QVERIFY(QString::fromStdString(p.activeHeadPath()).startsWith(tmp_.filePath(QStringLiteral("proj/three.heads"))));
        QVERIFY(!w2.project()->hasRecovery());
    }

    void badProjectsAreRefusedClearly() {
        MainWindow w;
        w.setAskToSave(false);
        const QString newer = tmp_.filePath(QStringLiteral("newer.pqwproj"));
        pqw::writeFileAtomic(newer.toStdString(), R"({"format":"protoquant-workbench-project","version":99})");
        QString msg;
        bool ok = true;
        w.project()->open(newer, [&](bool good, const QString& m) {
            ok = good;
            msg = m;
        });
        QVERIFY(!ok);
        QVERIFY2(msg.contains(newer) && msg.contains(QStringLiteral("newer ProtoQuant Workbench")), qPrintable(msg));
        // A project whose head is gone: the opening stops with the head's name, nothing half-open hangs.
        const QString gone = tmp_.filePath(QStringLiteral("gone.pqwproj"));
        pqw::Project p;
        p.cacheDir = cache_.toStdString();
        p.heads = {tmp_.filePath(QStringLiteral("missing.pqwh")).toStdString()};
        p.activeHead = 0;
        pqw::saveProject(p, gone.toStdString());
        ok = true;
        msg.clear();
        w.project()->open(gone, [&](bool good, const QString& m) {
            ok = good;
            msg = m;
        });
        QVERIFY(waitIdle(w));
        QTRY_VERIFY(!msg.isEmpty());
        QVERIFY(!ok);
        QVERIFY2(msg.contains(QStringLiteral("missing.pqwh")), qPrintable(msg));
    }
};

QTEST_MAIN(TestProjectGui)
#include "test_project_gui.moc"
