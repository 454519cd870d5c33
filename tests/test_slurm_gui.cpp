// The Pruning view follows a sweep folder that Slurm array tasks are writing (the private
// cluster of the slurm_cluster fixture): the view's "Run on Slurm" panel previews the batch
// script and submits the designed sweep; the folder watcher (QFileSystemWatcher + slow poll)
// delivers every log line, so the live plot ends with exactly one point per prune.step line in
// the run logs and the table shows each run's state with its Slurm job. A screenshot is saved
// (PQW_SCREENSHOT_DIR, default the test's temporary folder) for looking at.
// The Model & Features view's "Extract on Slurm" previews and submits a sharded extraction of
// the session's dataset and backbone, shows the shards' progress while the array runs, and
// loads the cache the join job made (screenshots model-slurm-running.png, model-slurm-joined.png).
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include "features/extractslurmpanel.h"
#include "features/shardfolderwatcher.h"
#include "jobrunner.h"
#include "modelview.h"
#include "pqw/extract_shards.h"
#include "pqw/pruning.h"
#include "pqw/slurm.h"
#include "pruning/slurmpanel.h"
#include "pruning/sweepfolderwatcher.h"
#include "pruning/pruningview.h"
#include "session.h"
#include "pruning/sweepmodel.h"

using namespace pqwgui;

class TestSlurmGui : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    QString shots() const {
        const QString d = qEnvironmentVariable("PQW_SCREENSHOT_DIR", tmp_.path());
        QDir().mkpath(d);
        return d;
    }

private Q_SLOTS:
    void shardedExtraction() {
        QVERIFY(tmp_.isValid());
        const std::string why = pqw::slurmProblem();
        QVERIFY2(why.empty(), why.c_str());
        JobRunner jobs;
        Session session(&jobs);
        ModelFeaturesView v(&session);
        v.resize(1400, 900);
        pqw::DatasetSpec ds;
        ds.path = "fashion-mnist";
        ds.maxTrain = 400;
        ds.maxTest = 100;
        session.openDataset(ds);
        session.setInputSize(32);
        session.openBackbone(pqw::BackboneSpec{});
        QTRY_VERIFY_WITH_TIMEOUT(session.dataset() && session.backbone() && !jobs.busy(), 60000);
        const QString dir = tmp_.path() + QStringLiteral("/features");
        session.setCacheDir(dir);
        ExtractSlurmPanel* p = v.extractSlurmPanel();
        QVERIFY(p);
        p->slurm()->setChecked(true);
        p->shards()->setValue(4);
        p->slurm()->cpus()->setValue(1);
        p->slurm()->parallel()->setValue(2);
        p->slurm()->updatePreview();
        const QString script = p->slurm()->preview()->toPlainText();
        QVERIFY2(script.contains("extract-shard") && script.contains("extract-join") && script.contains("--array=0-3%2") &&
                     script.contains("4 of 4 shards (500 images)"),
                 qPrintable(script));
        QTRY_VERIFY_WITH_TIMEOUT(p->slurm()->availability()->text().contains("Slurm answers"), 30000);
        QSignalSpy joined(p, &ExtractSlurmPanel::joined);
        const QString job = p->slurm()->submit();
        QVERIFY2(!job.isEmpty(), qPrintable(p->slurm()->findChildren<QLabel*>().last()->text()));
        QVERIFY(p->watcher()->following());
        p->watcher()->setPollInterval(300);
        p->watcher()->setSlurmInterval(1);
        // The progress while the array runs: pending and running shards with their jobs.
        QElapsedTimer t;
        t.start();
        bool sawRunning = false, sawPending = false, shot = false;
        while (joined.isEmpty() && t.elapsed() < 180000) {
            QTest::qWait(100);
            const QString text = p->progress()->text();
            const bool running = text.contains(QRegularExpression(QStringLiteral("[1-9] running")));
            sawRunning = sawRunning || running;
            sawPending = sawPending || text.contains(QRegularExpression(QStringLiteral("[1-9] pending")));
            if (running && !shot) {
                shot = v.grab().save(shots() + QStringLiteral("/model-slurm-running.png"));
                bool jobShown = false;
                for (int r = 0; r < p->shardTable()->rowCount(); ++r)
                    jobShown = jobShown || (p->shardTable()->item(r, 4) &&
                                            p->shardTable()->item(r, 4)->text() == job + "_" + QString::number(r));
                QVERIFY2(jobShown, "no shard row shows its Slurm job");
            }
        }
        QCOMPARE(joined.size(), 1);
        QVERIFY2(sawRunning && sawPending, qPrintable(p->progress()->text()));
        QVERIFY2(p->progress()->text().contains("4 shards: 4 done") && p->progress()->text().contains("joined"),
                 qPrintable(p->progress()->text()));
        // The joined cache becomes the session's features.
        QTRY_VERIFY_WITH_TIMEOUT(session.cache() && !jobs.busy(), 60000);
        QCOMPARE(session.cache()->size(), size_t(500));
        QCOMPARE(QString::fromStdString(session.cache()->datasetFingerprint()),
                 QString::fromStdString(session.dataset()->fingerprint()));
        QCOMPARE(int(session.cacheStatus().state), int(pqw::CacheState::Fresh));
        QTRY_VERIFY_WITH_TIMEOUT(v.findChild<QLabel*>(QStringLiteral("cacheState"))->text().contains("fresh"), 10000);
        QVERIFY(v.grab().save(shots() + QStringLiteral("/model-slurm-joined.png")));
        qInfo("screenshots: %s/model-slurm-*.png", qPrintable(shots()));
    }

    void followsArrayTasks() {
        QVERIFY(tmp_.isValid());
        const std::string why = pqw::slurmProblem();
        QVERIFY2(why.empty(), why.c_str());
        JobRunner jobs;
        Session session(&jobs);
        PruningView v(&session);
        v.resize(1500, 950);
        const auto j = QJsonDocument::fromJson(
                           R"({"dataset": {"path": "fashion-mnist", "limit_train": 400, "limit_test": 100, "val": 0.2},
                "model": {"arch": "lenet", "width": 4, "pretrain_epochs": 1}, "latency_reps": 0,
                "grid": {"strategy": ["one-shot", "iterative"], "target": [0.5, 0.8], "steps": [3],
                         "modality": ["unstructured"], "criterion": ["magnitude"], "fine_tune": [{"epochs": 1}]}})")
                           .object();
        QString err;
        QVERIFY2(v.setSweepJson(j, &err), qPrintable(err));
        const QString dir = tmp_.path() + QStringLiteral("/sweep");
        v.setOutputDir(dir);
        SlurmPanel* p = v.findChild<SlurmPanel*>();
        QVERIFY(p);
        p->setChecked(true);
        p->cpus()->setValue(1);
        p->parallel()->setValue(2);
        p->updatePreview();
        const QString script = p->preview()->toPlainText();
        QVERIFY2(script.contains("--array=0-3%2") && script.contains("sweep-run") && script.contains("--cpus-per-task=1"),
                 qPrintable(script));
        QTRY_VERIFY_WITH_TIMEOUT(p->availability()->text().contains("Slurm answers"), 30000);
        const QString job = p->submit();
        QVERIFY2(!job.isEmpty(), qPrintable(p->findChildren<QLabel*>().last()->text()));
        // Submitting follows the folder.
        QVERIFY(v.folderWatcher() && v.folderWatcher()->following());
        v.folderWatcher()->setSlurmInterval(1);
        v.folderWatcher()->setPollInterval(500);
        // Until every task is gone from the queue, then one last look.
        QElapsedTimer t;
        t.start();
        bool sawRunning = false;
        while (t.elapsed() < 240000) {
            QTest::qWait(300);
            for (int r = 0; r < v.resultsModel()->rowCount(); ++r)
                sawRunning = sawRunning || v.resultsModel()->run(r).state.startsWith(QLatin1String("running (") + job);
            const auto q = pqw::runCommand({"squeue", "-h", "-j", job.toStdString(), "-o", "%i"});
            if (q.code == 0 && QString::fromStdString(q.out).trimmed().isEmpty()) break;
        }
        v.folderWatcher()->readNew();
        v.folderWatcher()->refreshStates();
        QTest::qWait(1500);
        v.folderWatcher()->refreshStates();
        QTRY_VERIFY_WITH_TIMEOUT(v.resultsModel()->rowCount() == 4, 10000);
        // Every prune.step line in the run logs is one point on the live plot.
        int stepLines = 0;
        for (const auto& e : pqw::readSweepFolder(dir.toStdString())) stepLines += e.event.kind == "prune.step";
        QCOMPARE(stepLines, 2 * 2 + 2 * 4);  // one-shot: steps 0, 1; iterative: 0..3
        QTRY_COMPARE_WITH_TIMEOUT(v.sparsityPointCount(), stepLines, 5000);
        QVERIFY(v.folderWatcher()->delivered() >= stepLines);
        QVERIFY2(sawRunning, "the table never showed a running task with its Slurm job");
        QTRY_VERIFY_WITH_TIMEOUT(v.resultsModel()->hasStates(), 5000);
        for (int r = 0; r < 4; ++r) {
            QTRY_VERIFY_WITH_TIMEOUT(v.resultsModel()->run(r).state.startsWith(QLatin1String("done (") + job), 5000);
        }
        QVERIFY(!v.findChild<QTableView*>(QStringLiteral("sweepResults"))->isColumnHidden(SweepResultsModel::State));
        QVERIFY(v.grab().save(shots() + QStringLiteral("/pruning-slurm.png")));
        qInfo("screenshot: %s", qPrintable(shots() + QStringLiteral("/pruning-slurm.png")));
    }
};

QTEST_MAIN(TestSlurmGui)
#include "test_slurm_gui.moc"
