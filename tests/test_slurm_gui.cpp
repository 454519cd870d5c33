// The Pruning view follows a sweep folder that Slurm array tasks are writing (the private
// cluster of the slurm_cluster fixture): the view's "Run on Slurm" panel previews the batch
// script and submits the designed sweep; the folder watcher (QFileSystemWatcher + slow poll)
// delivers every log line, so the live plot ends with exactly one point per prune.step line in
// the run logs and the table shows each run's state with its Slurm job. A screenshot is saved
// (PQW_SCREENSHOT_DIR, default the test's temporary folder) for looking at.
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include "jobrunner.h"
#include "pqw/pruning.h"
#include "pqw/slurm.h"
#include "pruning/slurmpanel.h"
#include "pruning/sweepfolderwatcher.h"
#include "pruningview.h"
#include "session.h"
#include "sweepmodel.h"

using namespace pqwgui;

class TestSlurmGui : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
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
        SlurmPanel* p = v.slurmPanel();
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
        QVERIFY(!v.resultsTable()->isColumnHidden(SweepResultsModel::State));
        const QString shots = qEnvironmentVariable("PQW_SCREENSHOT_DIR", tmp_.path());
        QDir().mkpath(shots);
        QVERIFY(v.grab().save(shots + QStringLiteral("/pruning-slurm.png")));
        qInfo("screenshot: %s", qPrintable(shots + QStringLiteral("/pruning-slurm.png")));
    }
};

QTEST_MAIN(TestSlurmGui)
#include "test_slurm_gui.moc"
