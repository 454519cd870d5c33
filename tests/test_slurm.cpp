// Sweeps on a real Slurm cluster (the private one-node cluster of tests/slurm/cluster.sh,
// started by the slurm_cluster CTest fixture; SLURM_CONF points at it):
//  - a 4-run sweep submitted as a job array ends with bitwise the same numbers as the same
//    sweep run locally (same seeds, one thread each);
//  - sweep-status reports pending, running and finished tasks; a task scancel'ed while running
//    is failed (its exit code recorded), one cancelled while pending never started;
//    --resubmit completes exactly those two (the running one resumed from its last finished
//    step) and leaves the other runs' logs byte for byte as they were; the result still
//    equals the local sweep bitwise;
//  - clear messages when sbatch is missing or SLURM_CONF names no file;
//  - a sharded extraction (4 shards, one array task each, a join job after the array) joins
//    into bitwise the cache of a local extraction, also after one shard was cancelled while
//    running and only that shard was resubmitted (the others' files untouched); extract-status
//    reports pending, running, failed and done shards.
#include <QtTest/QtTest>

#include <map>

#include "cli_runner.h"
#include "pqw/extract_shards.h"
#include "pqw/pruning.h"
#include "pqw/slurm.h"
#include "pqw/util.h"

using fixtures::Run;

namespace {

/// Per run: its finished attempt's prune.step values and run.done values that must not
/// depend on where or when it ran (not latency, not seconds).
std::map<std::string, std::vector<std::map<std::string, double>>> deterministicNumbers(const QString& dir) {
    std::map<std::string, std::vector<std::map<std::string, double>>> out;
    const char* keys[] = {"step", "val_top1", "val_top5", "test_top1", "test_top5", "sparsity_prunable",
                          "sparsity_all", "params", "nonzero_params", "macs", "epochs", "total_epochs",
                          "dense_val_top1", "dense_test_top1"};
    for (const auto& e : pqw::finishedRunEntries(pqw::readSweepFolder(dir.toStdString()))) {
        std::map<std::string, double> v;
        for (const char* k : keys)
            if (e.event.values.count(k)) v[k] = e.event.value(k);
        v["is_done"] = e.event.kind == "run.done";
        out[e.run].push_back(v);
    }
    return out;
}

}  // namespace

class TestSlurm : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    QString path(const QString& name) const { return tmp_.path() + "/" + name; }
    Run run(const QStringList& args, int timeoutMs = 240000) { return fixtures::runPqw(args, timeoutMs); }

    /// Waits until Slurm has none of these jobs queued or running.
    bool waitGone(const QStringList& jobs, int seconds = 240) {
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < seconds * 1000) {
            const auto r = pqw::runCommand({"squeue", "-h", "-j", jobs.join(',').toStdString(), "-o", "%i"}, 20);
            if (r.code == 0 && QString::fromStdString(r.out).trimmed().isEmpty()) return true;
            QThread::msleep(200);
        }
        return false;
    }
    static QString jobOf(const Run& r) {
        const auto m = QRegularExpression(QStringLiteral("job array (\\d+)")).match(r.out);
        return m.hasMatch() ? m.captured(1) : QString();
    }
    static QString baseJobOf(const Run& r) {
        const auto m = QRegularExpression(QStringLiteral("base model: job (\\d+)")).match(r.out);
        return m.hasMatch() ? m.captured(1) : QString();
    }
    /// The sweep-status line of one run.
    static QString statusLine(const Run& r, const QString& id) {
        for (const auto& l : r.out.split('\n'))
            if (l.contains(QStringLiteral(" ") + id + QStringLiteral(" "))) return l;
        return {};
    }
    /// The extract-status line of shard i.
    static QString shardLine(const Run& r, int i) {
        for (const auto& l : r.out.split('\n'))
            if (l.startsWith(QString::number(i) + QLatin1Char(' '))) return l;
        return {};
    }
    static int stepsLogged(const QString& dir, const QString& id) {
        int n = 0;
        for (const auto& e : pqw::readSweepLog(pqw::sweepRunLogPath(dir.toStdString(), id.toStdString())))
            n += e.event.kind == "prune.step" && e.event.value("step") >= 1;
        return n;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        QVERIFY2(!qEnvironmentVariable("SLURM_CONF").isEmpty(), "SLURM_CONF is not set (the slurm_cluster fixture sets it)");
        const std::string why = pqw::slurmProblem();
        QVERIFY2(why.empty(), why.c_str());
        // 4 runs; the iterative ones have 4 fine-tuned steps each.
        QFile f(path("sweep.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"dataset\": {\"path\": \"fashion-mnist\", \"limit_train\": 500, \"limit_test\": 100, \"val\": 0.2},"
                " \"model\": {\"arch\": \"lenet\", \"width\": 4, \"pretrain_epochs\": 1}, \"latency_reps\": 0,"
                " \"grid\": {\"strategy\": [\"one-shot\", \"iterative\"], \"target\": [0.5, 0.8], \"steps\": [4],"
                " \"fine_tune\": [{\"epochs\": 2}]}}");
    }

    void noSlurmMessages() {
        // SLURM_CONF naming no file, and no sbatch on PATH: one clear line each, nothing queued.
        QProcess p;
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("SLURM_CONF"), path("missing/slurm.conf"));
        p.setProcessEnvironment(env);
        p.start(fixtures::pqwPath(), {"sweep", path("sweep.json"), "-o", path("nos"), "--slurm"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 1);
        QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains("SLURM_CONF=") && err.contains("does not exist"), qPrintable(err));
        env.insert(QStringLiteral("PATH"), path("empty-bin"));
        p.setProcessEnvironment(env);
        p.start(fixtures::pqwPath(), {"sweep", path("sweep.json"), "-o", path("nos"), "--slurm"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 1);
        err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains("sbatch not found"), qPrintable(err));
        QVERIFY(!QFileInfo::exists(path("nos/slurm")));
        // --dry-run needs no Slurm: the script and the sbatch lines.
        p.start(fixtures::pqwPath(),
                {"sweep", path("sweep.json"), "-o", path("nos"), "--slurm", "--dry-run", "--cpus-per-task", "2",
                 "--max-parallel", "3", "--partition", "debug", "--time", "00:10:00"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const QString out = QString::fromUtf8(p.readAllStandardOutput());
        for (const char* s : {"#SBATCH --cpus-per-task=2", "#SBATCH --partition=debug", "#SBATCH --time=00:10:00",
                              "sweep-run", "--array=0-3%3", "--dependency=afterok:", "SLURM_CPUS_PER_TASK"})
            QVERIFY2(out.contains(QLatin1String(s)), qPrintable(s + QStringLiteral(" missing in:\n") + out));
        QVERIFY(!QFileInfo::exists(path("nos/slurm")));
    }

    void shardedExtractionEqualsLocal() {
        // 500 Fashion-MNIST images at 48 px in batches of 25: 20 batches, 5 per shard.
        const QStringList data{"-d", "fashion-mnist", "--limit-train", "400", "--limit-test", "100",
                               "--size", "48", "--batch", "25"};
        auto r = run(QStringList{"extract"} + data + QStringList{"-o", path("feat-local"), "--threads", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        // The dry run shows the script and both sbatch lines and writes nothing.
        r = run(QStringList{"extract"} + data + QStringList{"-o", path("feat"), "--slurm", "--shards", "4", "--dry-run"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (const char* s : {"extract-shard", "extract-join", "--array=0-3", "--dependency=afterok:", "shard 3: 375-499"})
            QVERIFY2(r.out.contains(QLatin1String(s)), qPrintable(s + QStringLiteral(" missing in:\n") + r.out));
        QVERIFY(!QFileInfo::exists(path("feat")));
        // One task at a time, so shards are pending, running and done in turn.
        r = run(QStringList{"extract"} + data +
                QStringList{"-o", path("feat"), "--slurm", "--shards", "4", "--cpus-per-task", "1", "--max-parallel", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        const QString array = jobOf(r);
        const auto jm = QRegularExpression(QStringLiteral("join: job (\\d+)")).match(r.out);
        QVERIFY2(!array.isEmpty() && jm.hasMatch(), qPrintable(r.out));
        const QString join = jm.captured(1);
        // Cancel shard 1 while it runs: freeze it as soon as Slurm runs it, look, then scancel.
        QElapsedTimer t;
        t.start();
        bool caught = false;
        while (t.elapsed() < 120000 && !caught) {
            const auto q = pqw::runCommand({"squeue", "-h", "-r", "-j", array.toStdString(), "-o", "%i %T"});
            caught = QString::fromStdString(q.out).contains(array + "_1 RUNNING");
            if (!caught) QThread::msleep(50);
        }
        QVERIFY2(caught, "shard 1 never ran");
        // Right after a task starts, scancel may fail ("can not be altered now") or reach only some
        // of its steps: Slurm's STOPPED state says when the signal arrived.
        bool stopped = false;
        for (t.restart(); t.elapsed() < 20000 && !stopped; QThread::msleep(100)) {
            pqw::runCommand({"scancel", "--full", "--signal=STOP", (array + "_1").toStdString()});
            const auto q = pqw::runCommand({"squeue", "-h", "-r", "-j", array.toStdString(), "-o", "%i %T"});
            stopped = QString::fromStdString(q.out).contains(array + "_1 STOPPED");
        }
        QVERIFY2(stopped, "shard 1's task could not be stopped");
        r = run({"extract-status", path("feat")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(shardLine(r, 0).contains(" done ") && shardLine(r, 1).contains(" running ") &&
                     shardLine(r, 1).contains(array + "_1") && shardLine(r, 3).contains(" pending "),
                 qPrintable(r.out));
        // Cancelled while stopped (Slurm wakes it to deliver SIGTERM, then SIGKILL after KillWait).
        QVERIFY(pqw::runCommand({"scancel", (array + "_1").toStdString()}).code == 0);
        QVERIFY(waitGone({array, join}));
        r = run({"extract-status", path("feat")});
        QVERIFY2(r.out.contains("4 shards: 3 done, 0 running, 0 pending, 1 failed"), qPrintable(r.out));
        QVERIFY2(shardLine(r, 1).contains("CANCELLED"), qPrintable(r.out));
        QVERIFY2(r.out.contains("not joined yet; join job " + join + " CANCELLED"), qPrintable(r.out));
        // The finished shards' files, to see that the resubmission leaves them alone.
        std::map<int, std::string> before;
        for (int i : {0, 2, 3}) before[i] = pqw::readFile(pqw::shardDir(path("feat").toStdString(), size_t(i)) + "/features.f16");
        r = run({"extract", "-o", path("feat"), "--slurm"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--resubmit"), qPrintable(r.err));
        r = run({"extract", "-o", path("feat"), "--slurm", "--resubmit", "--dry-run"});
        QVERIFY2(r.out.contains("--array=1\n") || r.out.contains("--array=1 "), qPrintable(r.out));
        for (int i : {0, 2, 3})
            QCOMPARE(pqw::readFile(pqw::shardDir(path("feat").toStdString(), size_t(i)) + "/features.f16"), before[i]);
        r = run({"extract", "-o", path("feat"), "--slurm", "--resubmit"});
        QVERIFY2(r.code == 0 && r.out.contains("(1 of 4 shards"), qPrintable(r.err + r.out));
        const QString array2 = jobOf(r), join2 = QRegularExpression(QStringLiteral("join: job (\\d+)")).match(r.out).captured(1);
        QVERIFY(waitGone({array2, join2}));
        r = run({"extract-status", path("feat")});
        QVERIFY2(r.out.contains("4 shards: 4 done") && r.out.contains("cache: joined (500 samples)"), qPrintable(r.out));
        // Bitwise the local extraction.
        QCOMPARE(pqw::readFile(path("feat/features.f16").toStdString()), pqw::readFile(path("feat-local/features.f16").toStdString()));
        QCOMPARE(pqw::readFile(path("feat/meta.json").toStdString()), pqw::readFile(path("feat-local/meta.json").toStdString()));
        // A complete folder has nothing to submit.
        r = run({"extract", "-o", path("feat"), "--slurm", "--resubmit"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("complete"), qPrintable(r.err));
    }

    void arraySweepEqualsLocal() {
        auto r = run({"sweep", path("sweep.json"), "-o", path("local"), "--threads", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QElapsedTimer t;
        t.start();
        r = run({"sweep", path("sweep.json"), "-o", path("array"), "--slurm", "--cpus-per-task", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        const QString array = jobOf(r), base = baseJobOf(r);
        QVERIFY2(!array.isEmpty() && !base.isEmpty(), qPrintable(r.out));
        QVERIFY(QFileInfo::exists(path("array/slurm/array-1.sh")));
        QVERIFY(waitGone({array, base}));
        qInfo("array sweep: %.1f s from submission to the last task's end", t.elapsed() / 1000.0);
        r = run({"sweep-status", path("array")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("4 runs: 4 done, 0 running, 0 pending, 0 failed, 0 never started"), qPrintable(r.out));
        // The job id of every run is recorded (its log's run.start and the status table).
        const auto spec = pqw::loadSweepFolder(path("array").toStdString());
        for (size_t i = 0; i < spec.runs.size(); ++i) {
            const QString line = statusLine(r, QString::fromStdString(spec.runs[i].id));
            QVERIFY2(line.contains(array + "_" + QString::number(i)), qPrintable(r.out));
        }
        // Bitwise the same base model and the same numbers as the local sweep.
        QCOMPARE(pqw::readFile(path("array/base_model.pqwcnn").toStdString()),
                 pqw::readFile(path("local/base_model.pqwcnn").toStdString()));
        const auto a = deterministicNumbers(path("array")), l = deterministicNumbers(path("local"));
        QCOMPARE(a.size(), size_t(4));
        QVERIFY(a == l);
        QCOMPARE(pqw::readFile(path("array/summary.csv").toStdString()).size() > 100, true);
    }

    void statusCancelResubmit() {
        // One task at a time, so the array's tasks are pending, running and done in turn.
        auto r = run({"sweep", path("sweep.json"), "-o", path("arr2"), "--slurm", "--max-parallel", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        const QString array = jobOf(r), base = baseJobOf(r);
        QVERIFY(!array.isEmpty());
        const auto spec = pqw::loadSweepFolder(path("arr2").toStdString());
        QCOMPARE(spec.runs.size(), size_t(4));
        const QString x = QString::fromStdString(spec.runs[2].id), last = QString::fromStdString(spec.runs[3].id);
        QVERIFY(x.startsWith("iterative"));
        // While the base model job runs, every run waits.
        r = run({"sweep-status", path("arr2")});
        QVERIFY2(statusLine(r, last).contains("pending"), qPrintable(r.out));
        // Wait until run 2 has logged a fine-tuned step, then look and cancel it.
        QElapsedTimer t;
        t.start();
        while (stepsLogged(path("arr2"), x) < 1 && t.elapsed() < 200000) QThread::msleep(50);
        QVERIFY2(stepsLogged(path("arr2"), x) >= 1, "run 2 never logged a step");
        // Freeze it (SIGSTOP to the task), so it is still running when we look; it is woken
        // (SIGCONT) right before scancel sends its SIGTERM.
        QVERIFY(pqw::runCommand({"scancel", "--full", "--signal=STOP", (array + "_2").toStdString()}).code == 0);
        r = run({"sweep-status", path("arr2")});
        const QString running = statusLine(r, x);
        // (Slurm itself calls a task it signalled with SIGSTOP "STOPPED"; it holds its CPU.)
        QVERIFY2(running.contains(" running ") && running.contains(array + "_2") && running.contains(" 1/4 "),
                 qPrintable(r.out));
        QVERIFY2(statusLine(r, QString::fromStdString(spec.runs[0].id)).contains("done"), qPrintable(r.out));
        QVERIFY2(statusLine(r, last).contains("pending"), qPrintable(r.out));
        QVERIFY2(stepsLogged(path("arr2"), x) < 4, "run 2 finished before it could be cancelled");
        QVERIFY(pqw::runCommand({"scancel", "--full", "--signal=CONT", (array + "_2").toStdString()}).code == 0);
        QVERIFY(pqw::runCommand({"scancel", (array + "_2").toStdString()}).code == 0);
        QVERIFY(pqw::runCommand({"scancel", (array + "_3").toStdString()}).code == 0);
        QVERIFY(waitGone({array, base}));
        r = run({"sweep-status", path("arr2")});
        QVERIFY2(r.out.contains("4 runs: 2 done, 0 running, 0 pending, 1 failed, 1 never started"), qPrintable(r.out));
        const QString failed = statusLine(r, x);
        QVERIFY2(failed.contains("failed") && failed.contains(array + "_2") && failed.contains("CANCELLED"),
                 qPrintable(failed));
        QVERIFY2(failed.contains(" 130 ") || failed.contains(" 143 ") || failed.contains(" 137 "), qPrintable(failed));
        QVERIFY2(statusLine(r, last).contains("never started"), qPrintable(r.out));
        // The runs that finished are untouched by the resubmission.
        std::map<std::string, std::string> before;
        for (int i : {0, 1}) before[spec.runs[i].id] = pqw::readFile(pqw::sweepRunLogPath(path("arr2").toStdString(), spec.runs[i].id));
        // Without --resubmit a second submission is refused.
        r = run({"sweep", path("arr2"), "--slurm"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--resubmit"), qPrintable(r.err));
        r = run({"sweep", path("arr2"), "--slurm", "--resubmit"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        QVERIFY2(r.out.contains("(2 runs"), qPrintable(r.out));
        const QString array2 = jobOf(r);
        QVERIFY(waitGone({array2}));
        r = run({"sweep-status", path("arr2")});
        QVERIFY2(r.out.contains("4 runs: 4 done"), qPrintable(r.out));
        QVERIFY2(statusLine(r, x).contains(array2 + "_0"), qPrintable(r.out));
        for (int i : {0, 1})
            QCOMPARE(pqw::readFile(pqw::sweepRunLogPath(path("arr2").toStdString(), spec.runs[i].id)), before[spec.runs[i].id]);
        // The cancelled run resumed after its last finished step (not from scratch) ...
        bool resumed = false;
        for (const auto& e : pqw::readSweepLog(pqw::sweepRunLogPath(path("arr2").toStdString(), x.toStdString())))
            if (e.event.kind == "run.start" && e.attempt == 2) resumed = e.event.value("resumed_from_step") >= 1;
        QVERIFY(resumed);
        // ... and every number still equals the local sweep's, bitwise.
        const auto a = deterministicNumbers(path("arr2")), l = deterministicNumbers(path("local"));
        QVERIFY(a == l);
    }
};

QTEST_GUILESS_MAIN(TestSlurm)
#include "test_slurm.moc"
