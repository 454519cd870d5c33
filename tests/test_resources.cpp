// Resource bounds: a synthetic dataset of 200 000 tiny images opens and scrolls in the
// dataset view with bounded memory (RSS measured before / after), and feature extraction's
// peak memory does not grow with the dataset size (VmHWM of pqw extract on 2000 images vs
// 200).
#include <QtTest/QtTest>

#include <QListView>
#include <QScrollBar>
#include <QSignalSpy>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "cli_runner.h"
#include "datasetmodel.h"
#include "datasetview.h"
#include "fixtures.h"
#include "jobrunner.h"
#include "session.h"

using namespace pqwgui;

namespace {

double statusMiB(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string k;
    while (in >> k) {
        if (k == key) {
            double kb = 0;
            in >> kb;
            return kb / 1024.0;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

/// Runs pqw with args to completion; returns its exit code and peak RSS (MiB) via wait4.
std::pair<int, double> runWithPeakRss(const QStringList& args) {
    std::vector<std::string> store{fixtures::pqwPath().toStdString()};
    for (const auto& a : args) store.push_back(a.toStdString());
    std::vector<char*> argv;
    for (auto& s : store) argv.push_back(s.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    struct rusage ru {};
    ::wait4(pid, &status, 0, &ru);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, double(ru.ru_maxrss) / 1024.0};
}

/// An IDX dataset folder of n images of side s (distinct patterns) and 10 classes.
void writeIdx(const QString& dir, uint32_t n, uint32_t s) {
    QDir().mkpath(dir);
    auto be = [](std::ofstream& f, uint32_t v) {
        const unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
        f.write(reinterpret_cast<const char*>(b), 4);
    };
    std::ofstream img((dir + "/train-images-idx3-ubyte").toStdString(), std::ios::binary);
    be(img, 0x803);
    be(img, n);
    be(img, s);
    be(img, s);
    std::vector<char> px(size_t(n) * s * s);
    for (size_t i = 0; i < px.size(); ++i) px[i] = char((i * 7 + i / (s * s) * 13) & 0xff);
    img.write(px.data(), std::streamsize(px.size()));
    std::ofstream lab((dir + "/train-labels-idx1-ubyte").toStdString(), std::ios::binary);
    be(lab, 0x801);
    be(lab, n);
    std::vector<char> l(n);
    for (uint32_t i = 0; i < n; ++i) l[i] = char(i % 10);
    lab.write(l.data(), std::streamsize(l.size()));
}

}  // namespace

class TestResources : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void datasetView200k() {
        const QString dir = tmp_.path() + QStringLiteral("/tiny200k");
        writeIdx(dir, 200000, 8);
        const double rss0 = statusMiB("VmRSS:");
        JobRunner runner;
        Session session(&runner);
        DatasetView view(&session);
        view.resize(1000, 700);
        view.show();
        pqw::DatasetSpec spec;
        spec.path = dir.toStdString();
        spec.kind = "idx";
        QSignalSpy opened(&session, &Session::datasetChanged);
        QElapsedTimer t;
        t.start();
        session.openDataset(spec);
        QVERIFY(opened.wait(60000));
        QCOMPARE(view.model()->rowCount(), 200000);
        auto* bar = view.grid()->verticalScrollBar();
        QTRY_VERIFY_WITH_TIMEOUT(bar->maximum() > 0, 20000);
        const double openMs = t.elapsed();
        const double rssOpen = statusMiB("VmRSS:");
        auto scroll = [&] {
            for (int step = 0; step <= 80; ++step) {
                bar->setValue(int(qint64(bar->maximum()) * step / 80));
                QTest::qWait(20);
            }
            QTRY_VERIFY_WITH_TIMEOUT(view.model()->cachedThumbnails() > 0, 10000);
            QTest::qWait(500);  // let the loader finish what is on screen
        };
        scroll();
        const double rss1 = statusMiB("VmRSS:");
        scroll();
        const double rss2 = statusMiB("VmRSS:");
        qInfo("200000 tiny images: opened in %.0f ms; RSS %.0f MiB before, %.0f after opening, %.0f after one scroll "
              "top to bottom, %.0f after a second; %d thumbnails cached (%.1f MiB, cap %d MiB)",
              openMs, rss0, rssOpen, rss1, rss2, view.model()->cachedThumbnails(), view.model()->cachedBytes() / 1048576.0,
              DatasetListModel::kCacheBytes / 1048576);
        QVERIFY(view.model()->cachedBytes() <= DatasetListModel::kCacheBytes);
        // Bounded: scrolling adds at most the thumbnail cache (plus slack), and a second scroll
        // over different rows adds nothing proportional to the rows seen.
        QVERIFY2(rss1 - rssOpen < DatasetListModel::kCacheBytes / 1048576.0 + 64, qPrintable(QString::number(rss1 - rssOpen)));
        QVERIFY2(rss2 - rss1 < 32, qPrintable(QString::number(rss2 - rss1)));
        // The dataset itself: 200000 samples cost well under 1 KiB each once open.
        QVERIFY2(rssOpen - rss0 < 200, qPrintable(QString::number(rssOpen - rss0)));
    }

    void extractionMemoryDoesNotGrowWithN() {
        const QString small = tmp_.path() + QStringLiteral("/small"), large = tmp_.path() + QStringLiteral("/large");
        fixtures::writeImageFolder(small, 4, 50, 96);
        fixtures::writeImageFolder(large, 4, 500, 96);
        const auto [codeS, hwmS] = runWithPeakRss({"extract", "--dataset", small, "--size", "64", "--batch", "32", "--val",
                                                   "0", "--out", tmp_.path() + "/fs"});
        QCOMPARE(codeS, 0);
        QElapsedTimer t;
        t.start();
        const auto [codeL, hwmL] = runWithPeakRss({"extract", "--dataset", large, "--size", "64", "--batch", "32", "--val",
                                                   "0", "--out", tmp_.path() + "/fl"});
        QCOMPARE(codeL, 0);
        // 2000 decoded 96 px images alone are 53 MiB: holding them would show.
        qInfo("pqw extract peak RSS (VmHWM): %.0f MiB for 200 images, %.0f MiB for 2000 (%.1f s)", hwmS, hwmL,
              t.elapsed() / 1000.0);
        QVERIFY2(hwmL - hwmS < 40, qPrintable(QStringLiteral("%1 vs %2").arg(hwmL).arg(hwmS)));
    }
};

QTEST_MAIN(TestResources)
#include "test_resources.moc"
