// The Pruning view (offscreen): the schedule preview shows pruneSchedule's values; the
// results table model passes QAbstractItemModelTester and sorts; a tiny sweep (3 classes of
// 16 px images written here, LeNet width 2, 1 epoch) runs from the view and its plot receives
// every step event (points == prune.step lines in log.jsonl); opening the finished folder
// shows the same points; a sweep cancelled after its first run resumes without re-running
// finished runs; the dense-vs-pruned comparison is exact for OMENN; a loaded description is
// written back unchanged (CLI folders resume); saveState / restoreState round-trip; bad
// folders are refused with a message; the view's minimum width leaves the window on a 1280 px screen.
#include <QAbstractItemModelTester>
#include <QFile>
#include <QJsonDocument>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <cmath>
#include <set>

#include "benchmark_folder.h"
#include "fixtures.h"
#include "jobrunner.h"
#include "pqw/pruning.h"
#include "pqw/util.h"
#include "pruning/pruningview.h"
#include "qcp.h"
#include "session.h"
#include "pruning/sweepmodel.h"

using namespace pqwgui;

namespace {

/// kind -> count of complete lines in a sweep log.
std::map<std::string, int> logCounts(const QString& dir) {
    std::map<std::string, int> n;
    for (const auto& e : pqw::readSweepFolder(dir.toStdString())) n[e.event.kind]++;
    return n;
}

std::set<std::string> finishedRuns(const QString& dir) {
    std::set<std::string> s;
    for (const auto& e : pqw::readSweepFolder(dir.toStdString()))
        if (e.event.kind == "run.done") s.insert(e.run);
    return s;
}

QJsonObject json(const char* text) { return QJsonDocument::fromJson(QByteArray(text)).object(); }

}  // namespace

class TestPruningView : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString data_, sweepDir_;
    JobRunner* jobs_ = nullptr;
    Session* session_ = nullptr;

    QJsonObject tinySweep() const {
        QJsonObject j = json(R"({
            "dataset": {"kind": "folder", "val": 0.25, "seed": 0},
            "model": {"arch": "lenet", "width": 2, "pretrain_epochs": 1, "lr": 0.05, "seed": 0},
            "latency_reps": 0,
            "grid": {"strategy": ["one-shot", "iterative"], "target": [0.5, 0.8], "steps": [2],
                     "modality": ["unstructured"], "criterion": ["magnitude"], "fine_tune": [{"epochs": 1}]}})");
        QJsonObject ds = j.value(QStringLiteral("dataset")).toObject();
        ds[QStringLiteral("path")] = data_;
        j[QStringLiteral("dataset")] = ds;
        return j;
    }

    /// Runs the view's sweep to the end; returns the prune.step events the job sent.
    int runToEnd(PruningView& v, JobStatus expect = JobStatus::Succeeded) {
        int steps = 0;
        auto c = connect(jobs_, &JobRunner::event, this, [&](int id, const pqw::Event& e) {
            if (id == v.sweepJob() && e.kind == "prune.step") ++steps;
        });
        QSignalSpy done(&v, &PruningView::sweepFinished);
        if (v.startSweep() == 0) {
            disconnect(c);
            QTest::qFail(qPrintable(QStringLiteral("the sweep did not start: ") + v.statusText()), __FILE__, __LINE__);
            return -1;
        }
        if (!done.wait(240000)) QTest::qFail("the sweep did not finish", __FILE__, __LINE__);
        disconnect(c);
        if (!done.isEmpty() && done.first().at(0).value<JobStatus>() != expect)
            QTest::qFail(qPrintable(QStringLiteral("sweep ended %1: %2").arg(jobStatusName(done.first().at(0).value<JobStatus>()),
                                                                          v.statusText())),
                         __FILE__, __LINE__);
        return steps;
    }

private Q_SLOTS:
    void initTestCase() {
        pqw::initTorchThreads(1);
        QVERIFY(tmp_.isValid());
        data_ = tmp_.path() + QStringLiteral("/images");
        fixtures::writeImageFolder(data_ + QStringLiteral("/train"), 3, 24, 16);
        fixtures::writeImageFolder(data_ + QStringLiteral("/test"), 3, 6, 16);
        sweepDir_ = tmp_.path() + QStringLiteral("/sweep");
        jobs_ = new JobRunner(this);
        session_ = new Session(jobs_, this);
    }

    void fitsTheScreen() {
        // The window must fit a 1280 px screen beside the other tabs: the view leaves room.
        PruningView v(session_);
        v.resize(1200, 700);
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        const auto dump = [&] {
            QString s;
            for (auto* w : v.findChildren<QWidget*>())
                if (w->minimumSizeHint().width() > 250 && w->isVisibleTo(&v))
                    s += QStringLiteral("\n%1 %2 %3 (parent %4)").arg(QString::fromLatin1(w->metaObject()->className()), w->objectName())
                             .arg(w->minimumSizeHint().width()).arg(QString::fromLatin1(w->parentWidget()->metaObject()->className()));
            return s;
        };
        QVERIFY2(v.minimumSizeHint().width() <= 1000, qPrintable(QString::number(v.minimumSizeHint().width()) + " " + dump()));
    }

    void previewShowsSchedules() {
        PruningView v(session_);
        QJsonObject j = tinySweep();
        QJsonObject g = j.value(QStringLiteral("grid")).toObject();
        g[QStringLiteral("strategy")] = QJsonArray{QStringLiteral("one-shot"), QStringLiteral("iterative"),
                                                   QStringLiteral("iterative-geometric"), QStringLiteral("hybrid")};
        g[QStringLiteral("target")] = QJsonArray{0.5, 0.9};
        g[QStringLiteral("steps")] = 5;
        g[QStringLiteral("first_step")] = 0.5;
        j[QStringLiteral("grid")] = g;
        QVERIFY(v.setSweepJson(j));
        // The preview uses the largest target: the docs' example (p=0.9, s0=0.5, n=5).
        const auto hybrid = v.previewSteps(QStringLiteral("hybrid"));
        const auto expect = pqw::pruneSchedule(pqw::PruneStrategy::Hybrid, 0.9, 5, 0.5);
        QCOMPARE(hybrid.size(), expect.size());
        QCOMPARE(int(hybrid.size()), 6);
        QVERIFY(std::abs(hybrid[1] - 0.0971) < 1e-4);
        std::map<QString, std::vector<double>> shown;
        for (int i = 0; i < v.findChild<QCustomPlot*>(QStringLiteral("schedulePreview"))->plottableCount(); ++i)
            if (auto* b = qobject_cast<QCPBars*>(v.findChild<QCustomPlot*>(QStringLiteral("schedulePreview"))->plottable(i)))
                for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it) shown[b->name()].push_back(it->value);
        QCOMPARE(int(shown.size()), 4);
        for (const char* s : {"one-shot", "iterative", "iterative-geometric", "hybrid"}) {
            const auto st = pqw::pruneSchedule(pqw::parseStrategy(s), 0.9, 5, 0.5);
            const auto& bars = shown[QString::fromLatin1(s)];
            QCOMPARE(bars.size(), st.size());
            for (size_t k = 0; k < st.size(); ++k) QVERIFY(std::abs(bars[k] - 100 * st[k]) < 1e-9);
        }
        // 4 strategies x 2 targets, less the hybrid whose first step (0.5) reaches its target (0.5).
        QCOMPARE(v.runCount(), 7);
        // Unticking a schedule removes its bars; a bad target list is reported, nothing runs.
        g[QStringLiteral("strategy")] = QJsonArray{QStringLiteral("iterative")};
        j[QStringLiteral("grid")] = g;
        QVERIFY(v.setSweepJson(j));
        QVERIFY(v.previewSteps(QStringLiteral("hybrid")).empty());
        int bars = 0;
        for (int i = 0; i < v.findChild<QCustomPlot*>(QStringLiteral("schedulePreview"))->plottableCount(); ++i) bars += qobject_cast<QCPBars*>(v.findChild<QCustomPlot*>(QStringLiteral("schedulePreview"))->plottable(i)) ? 1 : 0;
        QCOMPARE(bars, 1);
        g[QStringLiteral("target")] = QStringLiteral("0.5, x");
        j[QStringLiteral("grid")] = g;
        QVERIFY(v.setSweepJson(j));
        QCOMPARE(v.runCount(), 0);
        QVERIFY(v.designerError().contains(QStringLiteral("Targets")));
        QVERIFY(!v.findChild<QPushButton*>(QStringLiteral("runSweep"))->isEnabled());
        QCOMPARE(v.startSweep(), 0);
    }

    void loadedDescriptionIsKept() {
        // docs/sweeps/fmnist_unstructured.json: two fine-tuning settings, keys in its own
        // spelling. The designer must write it back as it was, or resuming its folder
        // would be refused (runSweep compares the dataset and model sections).
        const QJsonObject cli = json(R"({
          "dataset": {"path": "fashion-mnist", "limit_train": 3000, "limit_test": 1000, "val": 0.15, "seed": 0},
          "model": {"arch": "lenet", "width": 8, "pretrain_epochs": 8, "lr": 0.05, "seed": 0},
          "fine_tune_defaults": {"lr": 0.001, "momentum": 0.9, "weight_decay": 0.0005, "batch": 64},
          "latency_reps": 2,
          "grid": {
            "strategy": ["one-shot", "iterative", "iterative-geometric", "hybrid"],
            "target": [0.5, 0.7, 0.88, 0.96], "steps": [4], "first_step": [0.4],
            "modality": ["unstructured"], "criterion": ["magnitude"],
            "fine_tune": [{"epochs": 1}, {"patience": 2, "epochs": 6}], "seed": [0]}})");
        PruningView v(session_);
        QVERIFY(v.setSweepJson(cli));
        QCOMPARE(v.sweepJson(), cli);
        QCOMPARE(v.runCount(), 32);
        // An edit changes that key only: two fine-tuning settings become one.
        QJsonObject one = cli;
        QJsonObject g = one.value(QStringLiteral("grid")).toObject();
        g[QStringLiteral("fine_tune")] = QJsonArray{QJsonObject{{QStringLiteral("epochs"), 1}}};
        one[QStringLiteral("grid")] = g;
        QVERIFY(v.setSweepJson(one));
        QCOMPARE(v.sweepJson(), one);
        QCOMPARE(v.runCount(), 16);
        // Not a sweep description: refused, the designer keeps what it had.
        QString err;
        QVERIFY(!v.setSweepJson(QJsonObject{{QStringLiteral("x"), 1}}, &err));
        QVERIFY(!err.isEmpty());
        QCOMPARE(v.sweepJson(), one);
    }

    void resultsModelBasics() {
        SweepResultsModel m;
        SweepResultsProxy proxy;
        proxy.setSourceModel(&m);
        QAbstractItemModelTester t1(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const double acc[] = {0.7, 0.9, NAN, 0.8};
        for (int i = 0; i < 4; ++i) {
            pqw::Event e{"run.done",
                         {{"target", 0.5 + 0.1 * i}, {"steps", 2}, {"sparsity_prunable", 0.5 + 0.1 * i}, {"val_top1", 0.6},
                          {"dense_test_top1", 0.85}, {"total_epochs", double(i)}},
                         {{"strategy", "iterative"}, {"modality", "unstructured"}, {"criterion", "magnitude"}, {"fine_tune", "fixed1"}}};
            if (!std::isnan(acc[i])) e.values["test_top1"] = acc[i];
            m.addRun(SweepRunResult::fromDone(e, QStringLiteral("iterative_t%1_n2_unstructured_magnitude_fixed1_seed0").arg(i)));
        }
        QCOMPARE(m.rowCount(), 4);
        // The same id replaces its row.
        pqw::Event again{"run.done", {{"test_top1", 0.95}}, {{"strategy", "iterative"}}};
        m.addRun(SweepRunResult::fromDone(again, QStringLiteral("iterative_t0_n2_unstructured_magnitude_fixed1_seed0")));
        QCOMPARE(m.rowCount(), 4);
        QCOMPARE(m.run(0).testTop1, 0.95);
        proxy.sort(SweepResultsModel::TestTop1, Qt::DescendingOrder);
        std::vector<double> got;
        for (int r = 0; r < proxy.rowCount(); ++r) got.push_back(proxy.index(r, SweepResultsModel::TestTop1).data(Qt::UserRole).toDouble());
        QCOMPARE(got[0], 0.95);
        QCOMPARE(got[1], 0.9);
        QCOMPARE(got[2], 0.8);
        QVERIFY(!proxy.index(3, SweepResultsModel::TestTop1).data(Qt::UserRole).isValid());  // not measured: last
        QCOMPARE(proxy.index(3, SweepResultsModel::TestTop1).data().toString(), QStringLiteral("-"));
        proxy.sort(SweepResultsModel::TestTop1, Qt::AscendingOrder);  // last in this order too
        QCOMPARE(proxy.index(0, SweepResultsModel::TestTop1).data(Qt::UserRole).toDouble(), 0.8);
        QVERIFY(!proxy.index(3, SweepResultsModel::TestTop1).data(Qt::UserRole).isValid());
        proxy.sort(SweepResultsModel::Strategy, Qt::AscendingOrder);  // text columns sort too
        QCOMPARE(proxy.index(0, SweepResultsModel::FineTune).data().toString(), QStringLiteral("1 epoch per step"));
        proxy.setFilterFixedString(QStringLiteral("t2_"));
        QCOMPARE(proxy.rowCount(), 1);
        proxy.setFilterFixedString(QString());
        m.clear();
        QCOMPARE(proxy.rowCount(), 0);
        QCOMPARE(fineTuneLabel(QStringLiteral("pat2cap6d0")), QStringLiteral("patience 2 (max 6 per step)"));
    }

    void tinySweepRunsLive() {
        PruningView v(session_);
        QVERIFY(v.setSweepJson(tinySweep()));
        QCOMPARE(v.runCount(), 4);
        v.setOutputDir(sweepDir_);
        QVERIFY(v.findChild<QPushButton*>(QStringLiteral("runSweep"))->isEnabled());
        const int received = runToEnd(v);
        auto n = logCounts(sweepDir_);
        QCOMPARE(n["run.done"], 4);
        QCOMPARE(received, n["prune.step"]);            // the job sent every step
        QCOMPARE(v.sparsityPointCount(), n["prune.step"]);  // and the plot shows every one
        // The curves join one point per run, where it ends (no zig-zag through other runs' steps).
        int curvePoints = 0;
        for (const auto& [name, pts] : v.sparsityPoints())
            if (!name.endsWith(QStringLiteral(" (steps)"))) curvePoints += int(pts.size());
        QCOMPARE(curvePoints, n["run.done"]);
        QCOMPARE(n["prune.step"], 2 * 2 + 2 * 3);           // one-shot: steps 0, 1; iterative: 0, 1, 2
        int epochPoints = 0;
        for (int i = 0; i < v.findChild<QCustomPlot*>(QStringLiteral("accVsEpochs"))->graphCount(); ++i) epochPoints += v.findChild<QCustomPlot*>(QStringLiteral("accVsEpochs"))->graph(i)->dataCount();
        QCOMPARE(epochPoints, n["prune.step"]);
        QVERIFY(v.liveReplots() > 0);
        QVERIFY(v.liveReplots() <= n["prune.step"] + n["prune.epoch"] + n["run.start"] + n["run.done"] + 2);
        // The files are the ones `pqw sweep` writes.
        for (const char* f : {"sweep.json", "base_model.pqwcnn", "runs", "summary.csv"})
            QVERIFY2(QFile::exists(sweepDir_ + QLatin1Char('/') + QLatin1String(f)), f);
        // The results table: one row per run, sortable by any column.
        QCOMPARE(v.resultsModel()->rowCount(), 4);
        auto* proxy = v.resultsProxy();
        proxy->sort(SweepResultsModel::Target, Qt::AscendingOrder);
        for (int r = 1; r < proxy->rowCount(); ++r)
            QVERIFY(proxy->index(r - 1, SweepResultsModel::Target).data(Qt::UserRole).toDouble() <=
                    proxy->index(r, SweepResultsModel::Target).data(Qt::UserRole).toDouble());
        proxy->sort(SweepResultsModel::Sparsity, Qt::DescendingOrder);
        for (int r = 1; r < proxy->rowCount(); ++r)
            QVERIFY(proxy->index(r - 1, SweepResultsModel::Sparsity).data(Qt::UserRole).toDouble() >=
                    proxy->index(r, SweepResultsModel::Sparsity).data(Qt::UserRole).toDouble());
        // The per-epoch plot shows a selected run: steps x (just pruned + 1 epoch) plus the dense point.
        v.selectRun(QStringLiteral("iterative_t0.8_n2_unstructured_magnitude_fixed1_seed0"));
        QCOMPARE(v.findChild<QCustomPlot*>(QStringLiteral("runEpochs"))->graph(0)->dataCount(), 1 + 2 * 2);

        // Opening the finished folder shows the same points.
        PruningView w(session_);
        QVERIFY(w.openSweep(sweepDir_));
        QCOMPARE(w.sparsityPoints(), v.sparsityPoints());
        QCOMPARE(w.resultsModel()->rowCount(), 4);
        QCOMPARE(w.outputDir(), sweepDir_);
        QCOMPARE(w.sweepJson().value(QStringLiteral("dataset")), tinySweep().value(QStringLiteral("dataset")));
    }

    void compareDenseAndPruned() {
        PruningView v(session_);
        QVERIFY(v.openSweep(sweepDir_));
        QSignalSpy spy(&v, &PruningView::comparisonFinished);
        const QString run = QStringLiteral("iterative_t0.8_n2_unstructured_magnitude_fixed1_seed0");
        QVERIFY(v.compare(run, 2, QStringLiteral("omenn")) > 0);
        QVERIFY(spy.wait(120000));
        QCOMPARE(spy.first().at(0).toBool(), true);
        for (int i = 0; i < 2; ++i) {
            const auto& c = v.compared(i);
            QVERIFY(c.exact);
            QVERIFY2(std::abs(c.sum - c.logit) <= 1e-4 * std::max(0.1, std::abs(c.logit)),
                     qPrintable(QStringLiteral("%1: sum %2, logit %3").arg(i).arg(c.sum).arg(c.logit)));
        }
        QVERIFY(v.compared(0).logit != v.compared(1).logit);  // 80 % of the weights are gone
        QCOMPARE(v.compared(0).image.width(), 240);
        QCOMPARE(v.compared(1).image.width(), 240);
        QVERIFY(v.compared(0).image != v.compared(1).image);
        QVERIFY(!v.findChild<QLabel*>(QStringLiteral("denseMap"))->pixmap().isNull());
        QVERIFY(v.findChild<QLabel*>(QStringLiteral("denseCaption"))->text().contains(QStringLiteral("Dense")));
        // Another method on the same run reuses the rebuilt model; a missing image is refused.
        spy.clear();
        QVERIFY(v.compare(run, 0, QStringLiteral("gradcam")) > 0);
        QVERIFY(spy.wait(60000));
        QCOMPARE(spy.first().at(0).toBool(), true);
        QVERIFY(!v.compared(0).exact);
        spy.clear();
        QVERIFY(v.compare(run, 100000, QStringLiteral("saliency")) > 0);
        QVERIFY(spy.wait(60000));
        QCOMPARE(spy.first().at(0).toBool(), false);
    }

    void resumeAfterCancel() {
        const QString dir = tmp_.path() + QStringLiteral("/resumed");
        PruningView v(session_);
        QVERIFY(v.setSweepJson(tinySweep()));
        v.setOutputDir(dir);
        // Cancel as soon as the first run is done.
        auto c = connect(jobs_, &JobRunner::event, this, [&](int id, const pqw::Event& e) {
            if (id == v.sweepJob() && e.kind == "run.done") v.cancelSweep();
        });
        runToEnd(v, JobStatus::Cancelled);
        disconnect(c);
        const auto first = finishedRuns(dir);
        QVERIFY(first.size() >= 1 && first.size() < 4);
        QCOMPARE(v.resultsModel()->rowCount(), int(first.size()));
        QVERIFY(v.statusText().contains(QStringLiteral("Cancelled")));
        // Run again: only the other runs start.
        std::vector<std::string> started;
        auto c2 = connect(jobs_, &JobRunner::event, this, [&](int id, const pqw::Event& e) {
            if (id == v.sweepJob() && e.kind == "run.start") started.push_back(e.texts.at("run"));
        });
        runToEnd(v);
        disconnect(c2);
        QCOMPARE(int(started.size()), 4 - int(first.size()));
        for (const auto& id : started) QVERIFY2(!first.count(id), id.c_str());
        QCOMPARE(int(finishedRuns(dir).size()), 4);
        QCOMPARE(v.resultsModel()->rowCount(), 4);
        // The resumed view shows what a fresh look at the folder shows.
        PruningView w(session_);
        QVERIFY(w.openSweep(dir));
        QCOMPARE(w.sparsityPoints(), v.sparsityPoints());
    }

    void stateRoundTrip() {
        PruningView a(session_);
        QVERIFY(a.openSweep(sweepDir_));
        a.selectRun(QStringLiteral("one-shot_t0.5_n1_unstructured_magnitude_fixed1_seed0"));
        QJsonObject j = a.sweepJson();
        QJsonObject g = j.value(QStringLiteral("grid")).toObject();
        g[QStringLiteral("target")] = QJsonArray{0.3, 0.6};
        j[QStringLiteral("grid")] = g;
        QVERIFY(a.setSweepJson(j));  // designer edited after opening: the state keeps both
        a.setOutputDir(tmp_.path() + QStringLiteral("/next"));
        const QJsonObject s = a.saveState();
        QCOMPARE(s.value(QStringLiteral("sweep_dir")).toString(), sweepDir_);
        PruningView b(session_);
        b.restoreState(s);
        QCOMPARE(b.saveState(), s);
        QCOMPARE(b.sweepJson(), a.sweepJson());
        QCOMPARE(b.sweepJson().value(QStringLiteral("grid")).toObject().value(QStringLiteral("target")), QJsonValue(QJsonArray{0.3, 0.6}));
        QCOMPARE(b.sparsityPoints(), a.sparsityPoints());
        QCOMPARE(b.outputDir(), tmp_.path() + QStringLiteral("/next"));
        // A project saved before this view existed has no state for it: nothing changes.
        PruningView c(session_);
        c.setOutputDir(QStringLiteral("/somewhere"));
        const QJsonObject designer = c.sweepJson();
        c.restoreState(QJsonObject());
        QCOMPARE(c.outputDir(), QStringLiteral("/somewhere"));
        QCOMPARE(c.sweepJson(), designer);
    }

    void opensPruningBenchmarkFolder() {
        // "Open sweep folder..." on a Hydra multirun folder of the official pruning benchmark
        // (tests/benchmark_folder.h): every CSV row is a run, plotted at its sparsity and accuracy.
        const QString dir = tmp_.path() + QStringLiteral("/benchmark");
        fixtures::writeBenchmarkFolder(dir.toStdString());
        PruningView v(session_);
        v.resize(1200, 760);
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        QVERIFY2(v.openSweep(dir), qPrintable(v.statusText()));
        QVERIFY2(v.statusText().contains(QStringLiteral("7 runs, all finished")), qPrintable(v.statusText()));
        QCOMPARE(v.resultsModel()->rowCount(), 7);
        // One curve per scheduler; each (repeat, iteration) a point at (pruned %, top-1 %).
        const auto pts = v.sparsityPoints();
        std::vector<std::pair<double, double>> iterative, oneShot;
        for (const auto& [name, p] : pts) {
            if (name.endsWith(QStringLiteral(" (steps)"))) continue;
            if (name.startsWith(QStringLiteral("iterative"))) iterative.insert(iterative.end(), p.begin(), p.end());
            else if (name.startsWith(QStringLiteral("one-shot"))) oneShot.insert(oneShot.end(), p.begin(), p.end());
            else QFAIL(qPrintable(QStringLiteral("unexpected series ") + name));
        }
        QStringList names;
        for (const auto& kv : pts) names << kv.first;
        QVERIFY2(pts.count(QStringLiteral("iterative n3")) == 1, qPrintable(names.join(QStringLiteral(", "))));
        std::sort(iterative.begin(), iterative.end());
        const std::vector<std::pair<double, double>> wantIt{{30, 90}, {30, 92}, {60, 80}, {60, 84}, {90, 40}, {90, 50}};
        QCOMPARE(iterative.size(), wantIt.size());
        for (size_t i = 0; i < wantIt.size(); ++i) {
            QVERIFY(std::abs(iterative[i].first - wantIt[i].first) < 1e-6);
            QVERIFY(std::abs(iterative[i].second - wantIt[i].second) < 1e-6);
        }
        QCOMPARE(oneShot.size(), size_t(1));
        QVERIFY(std::abs(oneShot[0].first - 90) < 1e-6 && std::abs(oneShot[0].second - 30) < 1e-6);
        QTest::qWait(50);
        const QString shots = qEnvironmentVariable("PQW_SCREENSHOT_DIR", tmp_.path());
        QVERIFY(v.grab().save(shots + QStringLiteral("/pruning_benchmark.png")));
    }

    void badFolders() {
        PruningView v(session_);
        QVERIFY(!v.openSweep(tmp_.path() + QStringLiteral("/nowhere")));
        QVERIFY(v.statusText().contains(QStringLiteral("nowhere")));
        const QString bad = tmp_.path() + QStringLiteral("/badlog");
        QDir().mkpath(bad);
        {
            QFile f(bad + QStringLiteral("/log.jsonl"));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("{\"run\":\"a\",\"kind\":\"run.start\"}\nnot json\n");
        }
        QVERIFY(!v.openSweep(bad));
        QVERIFY2(v.statusText().contains(QStringLiteral("log.jsonl:2")), qPrintable(v.statusText()));
        // A folder holding a sweep of another model is refused before anything runs.
        QJsonObject j = tinySweep();
        QJsonObject md = j.value(QStringLiteral("model")).toObject();
        md[QStringLiteral("width")] = 3;
        j[QStringLiteral("model")] = md;
        QVERIFY(v.setSweepJson(j));
        v.setOutputDir(sweepDir_);
        QCOMPARE(v.startSweep(), 0);
        QVERIFY(v.statusText().contains(QStringLiteral("another dataset or model")));
    }
};

QTEST_MAIN(TestPruningView)
#include "test_pruning_view.moc"
