// Crash safety through pqw's process boundary: SIGKILL in the middle of a feature extraction
// and in the middle of a sweep, then a resume: no finished result lost, no corrupt file, and
// the resumed outcome equals an uninterrupted run (features bitwise, sweep summaries minus
// timings). A full disk (a 1 MiB tmpfs, as root) gives a clear error and no partial file;
// atomic writes keep the old file when the new one cannot be written (RLIMIT_FSIZE).
#include <QtTest/QtTest>

#include <signal.h>
#include <csignal>
#include <sys/mount.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "fixtures.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/pruning.h"
#include "pqw/util.h"

namespace fs = std::filesystem;
using fixtures::Run;
using json = nlohmann::json;

namespace {

/// Starts pqw, polls `ready` every 20 ms and SIGKILLs the process as soon as it returns true.
/// Returns false when pqw ended before that.
template <typename Ready>
bool killWhen(const QStringList& args, Ready&& ready, int timeoutMs = 240000) {
    QProcess p;
    p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    p.start(fixtures::pqwPath(), args);
    if (!p.waitForStarted(10000)) return false;
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs) {
        if (p.waitForFinished(20)) return false;
        if (ready()) {
            p.kill();  // SIGKILL
            p.waitForFinished(10000);
            return p.exitStatus() == QProcess::CrashExit;
        }
    }
    p.kill();
    p.waitForFinished();
    return false;
}

std::string readOr(const std::string& path) {
    try {
        return pqw::readFile(path);
    } catch (const pqw::Error&) {
        return {};
    }
}

/// Every run log of a sweep folder by file (none while there is none).
std::map<std::string, std::string> runLogs(const std::string& dir) {
    std::map<std::string, std::string> logs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir + "/runs", ec))
        if (e.path().extension() == ".jsonl") logs[e.path().string()] = readOr(e.path().string());
    return logs;
}

/// Temporary files of interrupted atomic writes in dir.
int tempFiles(const std::string& dir) {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.path().filename().string().find(".tmp-") != std::string::npos;
    return n;
}

/// summary.csv without the columns that measure time (latency, seconds), rows sorted.
std::vector<std::string> summaryWithoutTimings(const std::string& csv) {
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(csv);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> cells;
        std::stringstream ls(line);
        std::string c;
        while (std::getline(ls, c, ',')) cells.push_back(c);
        rows.push_back(cells);
    }
    std::vector<std::string> out;
    if (rows.empty()) return out;
    std::vector<bool> keep;
    for (const auto& h : rows[0]) keep.push_back(h.find("latency") == std::string::npos && h != "seconds");
    for (const auto& r : rows) {
        std::string s;
        for (size_t i = 0; i < r.size(); ++i)
            if (i >= keep.size() || keep[i]) s += r[i] + "|";
        out.push_back(s);
    }
    std::sort(out.begin() + 1, out.end());
    return out;
}

}  // namespace

class TestCrashSafety : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString path(const QString& name) const { return tmp_.path() + QLatin1Char('/') + name; }

private Q_SLOTS:
    void initTestCase() { QVERIFY2(QFileInfo::exists(fixtures::pqwPath()), qPrintable(fixtures::pqwPath())); }

    void killDuringExtraction() {
        const QString data = path(QStringLiteral("images"));
        // 600 images at 224 px in batches of 8: several seconds even on a quiet machine, and
        // meta.json records progress every 2 s, so the kill lands after a recorded flush.
        fixtures::writeImageFolder(data, 3, 200, 32);
        const QStringList common{"extract", "--dataset", data, "--size", "224", "--batch", "8", "--val", "0.2"};
        Run r = fixtures::runPqw(common + QStringList{"--out", path(QStringLiteral("whole"))});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const std::string cut = path(QStringLiteral("cut")).toStdString();
        // Kill once meta.json records finished batches.
        size_t doneAtKill = 0;
        const bool killed = killWhen(common + QStringList{"--out", QString::fromStdString(cut)}, [&] {
            const std::string m = readOr(cut + "/meta.json");
            if (m.empty()) return false;
            const json j = json::parse(m, nullptr, false);  // written atomically: never half a file
            if (j.is_discarded()) return false;
            doneAtKill = j.value("done", size_t(0));
            return doneAtKill >= 8;
        });
        QVERIFY2(killed, "pqw finished before it could be killed");
        // What the killed run left: a meta.json that parses and describes a partial cache.
        const json meta = json::parse(pqw::readFile(cut + "/meta.json"));
        const size_t done = meta["done"].get<size_t>();
        QVERIFY2(done >= doneAtKill && done < 600, qPrintable(QStringLiteral("%1 %2").arg(done).arg(doneAtKill)));
        qInfo("killed at %zu of 600 samples; %d temporary file(s) left by the kill", done, tempFiles(cut));
        // Files of the user's that merely look like temporary files survive the clean-up of the
        // resume (issue 17, case 8: a thesis.tmp-999999-final.txt vanished).
        const std::vector<std::string> userFiles = {"thesis.tmp-999999-final.txt", "meta.json.tmp-999999-4242"};
        for (const auto& u : userFiles) pqw::writeFileAtomic(cut + "/" + u, "the user's");
        r = fixtures::runPqw(common + QStringList{"--out", QString::fromStdString(cut)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("resuming")), qPrintable(r.err));
        QVERIFY2(r.out.contains(QStringLiteral("reused %1").arg(done)), qPrintable(r.out));  // no finished batch lost
        for (const auto& u : userFiles) QVERIFY2(fs::exists(cut + "/" + u), u.c_str());
        QCOMPARE(tempFiles(cut), 2);  // the user's two, nothing of pqw's
        QVERIFY(!fs::exists(cut + "/.pqw-tmp"));
        const std::string whole = path(QStringLiteral("whole")).toStdString();
        QVERIFY(pqw::readFile(cut + "/features.f16") == pqw::readFile(whole + "/features.f16"));  // bitwise
        const json a = json::parse(pqw::readFile(cut + "/meta.json")), b = json::parse(pqw::readFile(whole + "/meta.json"));
        for (const char* k : {"fingerprint", "done", "count", "labels", "splits", "invalid", "shape"}) QCOMPARE(a[k], b[k]);
    }

    /// Two extractions into one folder (issue 17, case 5): with the first paused, a second one
    /// with other settings is refused, naming the holder; the first then finishes a cache
    /// whose meta.json and features belong together.
    void secondWriterOfACacheIsRefused() {
        const QString data = path(QStringLiteral("images_lock"));
        fixtures::writeImageFolder(data, 2, 40, 32);
        const std::string dir = path(QStringLiteral("locked_cache")).toStdString();
        const QStringList first{"extract", "--dataset", data, "--size", "224", "--batch", "8", "--val", "0.2", "--out",
                                QString::fromStdString(dir)};
        QProcess p;
        p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        p.start(fixtures::pqwPath(), first);
        QVERIFY(p.waitForStarted(10000));
        QElapsedTimer t;
        t.start();
        while (!fs::exists(dir + "/meta.json") && t.elapsed() < 120000 && !p.waitForFinished(20)) {
        }
        QVERIFY2(p.state() == QProcess::Running, "the first extraction ended before the second could start");
        const qint64 firstPid = p.processId();
        ::kill(pid_t(firstPid), SIGSTOP);  // paused, still holding the folder
        const Run second = fixtures::runPqw({"extract", "--dataset", data, "--size", "64", "--val", "0.2", "--out",
                                             QString::fromStdString(dir)});
        ::kill(pid_t(firstPid), SIGCONT);
        QVERIFY(p.waitForFinished(240000));
        QCOMPARE(p.exitCode(), 0);
        QCOMPARE(second.code, 1);
        const QString expect = QStringLiteral("cannot extract features into it: the folder is in use by pqw extract (pid %1")
                                   .arg(firstPid);
        QVERIFY2(second.err.contains(expect), qPrintable(second.err));
        const auto cache = pqw::FeatureCache::open(dir);  // complete and consistent
        QCOMPARE(cache.inputSize(), 224);
    }

    void killDuringSweep() {
        const QString spec = path(QStringLiteral("sweep.json"));
        {
            QFile f(spec);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("{\"dataset\": {\"path\": \"fashion-mnist\", \"limit_train\": 300, \"limit_test\": 100, \"val\": 0.2},"
                    " \"model\": {\"arch\": \"lenet\", \"width\": 4, \"pretrain_epochs\": 1}, \"latency_reps\": 0,"
                    " \"grid\": {\"strategy\": [\"one-shot\", \"iterative\"], \"target\": [0.6], \"steps\": [2],"
                    " \"fine_tune\": [{\"epochs\": 2}]}}");
        }
        Run r = fixtures::runPqw({"sweep", spec, "--out", path(QStringLiteral("sw_whole")), "--threads", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const std::string dir = path(QStringLiteral("sw_cut")).toStdString();
        // Kill in the middle of the second run (the first one finished).
        const bool killed = killWhen({"sweep", spec, "--out", QString::fromStdString(dir), "--threads", "1"}, [&] {
            // the first run finished and the second one is fine-tuning
            bool oneDone = false, oneTuning = false;
            for (const auto& [file, log] : runLogs(dir)) {
                const bool done = log.find("\"run.done\"") != std::string::npos;
                oneDone = oneDone || done;
                oneTuning = oneTuning || (!done && log.find("\"prune.epoch\"") != std::string::npos);
            }
            return oneDone && oneTuning;
        });
        QVERIFY2(killed, "pqw finished before it could be killed");
        std::map<std::string, std::string> logsBefore;
        for (const auto& e : fs::directory_iterator(dir + "/runs"))
            if (e.path().extension() == ".jsonl") logsBefore[e.path().string()] = pqw::readFile(e.path().string());
        QCOMPARE(int(logsBefore.size()), 2);
        const auto entriesBefore = pqw::readSweepFolder(dir);  // every complete line reads
        QVERIFY(!pqw::finishedRunEntries(entriesBefore).empty());
        r = fixtures::runPqw({"sweep", spec, "--out", QString::fromStdString(dir), "--threads", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(QStringLiteral("1 run now, 1 already finished")), qPrintable(r.out));
        // Nothing of the killed run's finished work is lost: its complete lines are still there.
        for (const auto& [file, logBefore] : logsBefore) {
            const std::string logAfter = pqw::readFile(file);
            const size_t lastNl = logBefore.rfind('\n');
            QVERIFY(logAfter.compare(0, lastNl + 1, logBefore, 0, lastNl + 1) == 0);
        }
        QCOMPARE(summaryWithoutTimings(pqw::readFile(dir + "/summary.csv")),
                 summaryWithoutTimings(pqw::readFile(path(QStringLiteral("sw_whole/summary.csv")).toStdString())));
        r = fixtures::runPqw({"sweep-report", QString::fromStdString(dir)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
    }

    /// A write that cannot complete (file size limit: EFBIG) leaves the previous file intact
    /// and no temporary file.
    void atomicWriteKeepsOldFile() {
        const std::string dir = path(QStringLiteral("atomic")).toStdString();
        fs::create_directories(dir);
        const std::string target = dir + "/meta.json";
        pqw::writeFileAtomic(target, "old content");
        struct rlimit old {};
        getrlimit(RLIMIT_FSIZE, &old);
        auto prev = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = old;
        lim.rlim_cur = 4096;
        QCOMPARE(setrlimit(RLIMIT_FSIZE, &lim), 0);
        std::string msg;
        try {
            pqw::writeFileAtomic(target, std::string(100000, 'x'));
        } catch (const pqw::Error& e) {
            msg = e.what();
        }
        setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, prev);
        QVERIFY2(msg.find("meta.json: cannot write: File too large") != std::string::npos, msg.c_str());
        QCOMPARE(pqw::readFile(target), std::string("old content"));
        QCOMPARE(tempFiles(dir), 0);
    }

    /// pqw writing into a full disk (a 1 MiB tmpfs): a clear error, no partial file.
    void fullDisk() {
        const std::string mnt = path(QStringLiteral("small_disk")).toStdString();
        fs::create_directories(mnt);
        if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0)
            QSKIP("cannot mount a tmpfs here (needs root); atomicWriteKeepsOldFile covers the write path");
        struct Unmount {
            std::string p;
            ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
        } unmount{mnt};
        // Extraction whose features do not fit: refused before any work, nothing left behind.
        const QString data = path(QStringLiteral("images_disk"));
        fixtures::writeImageFolder(data, 2, 100, 24);
        Run r = fixtures::runPqw({"extract", "--dataset", data, "--size", "112", "--out", QString::fromStdString(mnt + "/features")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(QStringLiteral("features.f16: cannot reserve")) && r.err.contains(QStringLiteral("No space left")),
                 qPrintable(r.err));
        QVERIFY(!fs::exists(mnt + "/features/features.f16"));
        QVERIFY(!fs::exists(mnt + "/features/meta.json"));
        // An atomic write that runs out of space: the old file stays, no partial file.
        const std::string target = mnt + "/report.json";
        pqw::writeFileAtomic(target, "{\"old\": true}");
        std::string msg;
        try {
            pqw::writeFileAtomic(target, std::string(2 << 20, 'x'));
        } catch (const pqw::Error& e) {
            msg = e.what();
        }
        QVERIFY2(msg.find("report.json: cannot write: No space left on device") != std::string::npos, msg.c_str());
        QCOMPARE(pqw::readFile(target), std::string("{\"old\": true}"));
        QCOMPARE(tempFiles(mnt), 0);
        // A sweep whose log cannot grow: a clear error naming the file.
        QFile f(path(QStringLiteral("sweep_disk.json")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"dataset\": {\"path\": \"fashion-mnist\", \"limit_train\": 300, \"limit_test\": 100, \"val\": 0.2},"
                " \"model\": {\"arch\": \"lenet\", \"width\": 64, \"pretrain_epochs\": 1}, \"latency_reps\": 0,"
                " \"grid\": {\"strategy\": [\"one-shot\"], \"target\": [0.5], \"steps\": [1], \"fine_tune\": [{\"epochs\": 0}]}}");
        f.close();
        fs::remove(target);
        pqw::writeFileAtomic(mnt + "/filler", std::string(900 << 10, 'f'));  // leave ~100 KiB
        r = fixtures::runPqw({"sweep", f.fileName(), "--out", QString::fromStdString(mnt + "/sweep"), "--threads", "1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(QStringLiteral("No space left on device")) && r.err.contains(QString::fromStdString(mnt)),
                 qPrintable(r.err));
        QCOMPARE(tempFiles(mnt), 0);
    }
};

QTEST_GUILESS_MAIN(TestCrashSafety)
#include "test_crash_safety.moc"
