// The bad-input corpus through pqw's process boundary: every case in
// tests/data/bad/expected.tsv makes the matching command exit 1 with the expected message
// (never a crash, a hang or "internal error"); odd-but-valid images extract.
#include <QtTest/QtTest>

#include "bad_corpus.h"
#include "cli_runner.h"
#include "fixtures.h"
#include "pqw/output.h"
#include "pqw/util.h"

using fixtures::Run;

class TestBadInputsCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    static QString kindOf(const QString& name) {
        if (name.startsWith(QLatin1String("idx_"))) return QStringLiteral("idx");
        if (name.startsWith(QLatin1String("cub_"))) return QStringLiteral("cub");
        if (name.endsWith(QLatin1String(".csv"))) return QStringLiteral("csv");
        return QStringLiteral("auto");
    }

    /// A synthetic cache whose sample 1 holds an fp16 NaN; empty on failure.
    QString nanCache(const QString& name) {
        const QString cache = tmp_.path() + QLatin1Char('/') + name;
        corpus::writeSyntheticCache(cache.toStdString());
        QFile f(cache + QStringLiteral("/features.f16"));
        if (!f.open(QIODevice::ReadWrite) || !f.seek(2 * 80) || f.write("\x00\x7e", 2) != 2) return {};  // fp16 NaN
        return cache;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(QFileInfo::exists(fixtures::pqwPath()), qPrintable(fixtures::pqwPath()));
        corpus::writeSyntheticCache((tmp_.path() + QStringLiteral("/cache")).toStdString());
    }

    void corpus_data() {
        QTest::addColumn<int>("index");
        const auto all = corpus::cases();
        QVERIFY2(all.size() >= 60, "tests/data/bad/expected.tsv missing or short");
        for (size_t i = 0; i < all.size(); ++i) {
            if (all[i].loader.startsWith(QLatin1String("image"))) continue;  // imageFolder() below
            QTest::newRow(qPrintable(all[i].name + QLatin1Char(' ') + all[i].loader)) << int(i);
        }
    }

    void corpus() {
        QFETCH(int, index);
        const corpus::Case c = corpus::cases()[size_t(index)];
        QStringList args;
        if (c.loader == QLatin1String("dataset")) args = {"datasets", c.path(), "--kind", kindOf(c.name)};
        else if (c.loader == QLatin1String("tfjs")) args = {"layers", "--backbone", c.path()};
        else if (c.loader.startsWith(QLatin1String("checkpoint"))) args = {"eval", c.path(), "--features", tmp_.path() + "/cache"};
        else if (c.loader == QLatin1String("head-backbone"))
            args = {"explain-proto", corpus::Case::dir() + "/images/rgba.png", "-m", c.path(), "-o", tmp_.path() + "/hb.png"};
        else if (c.loader == QLatin1String("sweep-log"))
            args = {"sweep-report", c.path(), "--out", tmp_.path() + "/report_" + c.name};
        else QFAIL(qPrintable("unknown loader " + c.loader));
        const Run r = fixtures::runPqw(args, 120000);
        const QString all = r.out + r.err;
        QVERIFY2(!all.contains(QLatin1String("internal error")), qPrintable(all));
        if (c.cli == QLatin1String("ok")) {
            QVERIFY2(r.code == 0, qPrintable(all));
            return;
        }
        QVERIFY2(r.code == 1, qPrintable(QStringLiteral("exit %1: %2").arg(r.code).arg(all)));
        QVERIFY2(r.err.startsWith(QLatin1String("pqw: ")), qPrintable(r.err));
        QVERIFY2(r.err.contains(c.cliExpect()),
                 qPrintable(QStringLiteral("expected '%1'\n     got '%2'").arg(c.cliExpect(), r.err)));
    }

    /// Numeric options are checked against their ranges before any work, in words (case 7:
    /// a batch of 0 spun forever, --threads 100000 started thousands of threads, -1 wrapped to
    /// 2^64 - 1); --stages is a list of stage names (case 9); a library error is one line
    /// naming what is wrong (case 10).
    void optionChecks_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expect");
        const QString cache = tmp_.path() + QStringLiteral("/cache"), out = tmp_.path() + QStringLiteral("/o.pqwh");
        QTest::newRow("batch 0") << QStringList{"train-cnn", "--batch", "0", "--out", out}
                                 << "--batch: must be a whole number between 1 and 4096, not 0";
        QTest::newRow("width 100000") << QStringList{"train-cnn", "--width", "100000", "--out", out}
                                      << "--width: must be a whole number between 1 and 1024, not 100000";
        QTest::newRow("epochs 1e9") << QStringList{"train-cnn", "--epochs", "1e9", "--out", out}
                                    << "--epochs: must be a whole number between 1 and 10000, not 1e9";
        QTest::newRow("threads") << QStringList{"explain", "x.png", "--threads", "100000"}
                                 << "--threads: must be a whole number between 0 and 256, not 100000";
        QTest::newRow("seed -1") << QStringList{"extract", "--seed", "-1", "--out", out}
                                 << "--seed: must be a whole number of at least 0, not -1";
        QTest::newRow("lr0 nan") << QStringList{"train", cache, "-o", out, "--lr0", "nan"} << "--lr0: must be a finite number, not nan";
        QTest::newRow("label smoothing 2") << QStringList{"train", cache, "-o", out, "--label-smoothing", "2"}
                                           << "--label-smoothing: must be at least 0 and less than 1, not 2";
        QTest::newRow("stages 3,x") << QStringList{"train", cache, "-o", out, "--stages", "3,x"} << "'3' is not a stage";
        QTest::newRow("stages 10") << QStringList{"train", cache, "-o", out, "--stages", "10"} << "'10' is not a stage";
        QTest::newRow("out under a file") << QStringList{"sweep-report", corpus::Case::dir() + "/sweep_cut_midline", "--out", "/dev/null/x"}
                                          << "pqw: /dev/null/x: Not a directory";
    }

    void optionChecks() {
        QFETCH(QStringList, args);
        QFETCH(QString, expect);
        const Run r = fixtures::runPqw(args, 60000);
        QVERIFY2(r.code != 0, qPrintable(r.out + r.err));
        QVERIFY2(!r.err.contains(QLatin1String("internal error")), qPrintable(r.err));
        QVERIFY2(r.err.contains(expect), qPrintable(QStringLiteral("expected '%1'\n     got '%2'").arg(expect, r.err)));
        QVERIFY(!QFileInfo::exists(tmp_.path() + QStringLiteral("/o.pqwh")));
    }

    /// Training on features holding NaN stops with a clear message and exit 1, and writes no
    /// checkpoint (case 6; it printed "loss nan", exited 0 and wrote a head pqw eval refused).
    void nanFeaturesStopTraining() {
        const QString cache = nanCache(QStringLiteral("nan_cache"));
        QVERIFY(!cache.isEmpty());
        const QString out = tmp_.path() + QStringLiteral("/nan.pqwh");
        const Run r = fixtures::runPqw({"train", cache, "-o", out, "--stages", "0", "--epochs0", "1"}, 120000);
        QVERIFY2(r.code == 1, qPrintable(r.out + r.err));
        QVERIFY2(r.err.contains(QStringLiteral("features.f16: sample 1 holds NaN features")), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(out));
    }

    /// The same NaN-holding cache under train-cnn (a feature-head CNN): exit 1, the sample
    /// named, no model file (case 6; train-cnn printed "loss nan" and exited 0).
    void nanFeaturesStopTrainCnn() {
        const QString cache = nanCache(QStringLiteral("nan_cache_cnn"));
        QVERIFY(!cache.isEmpty());
        const QString out = tmp_.path() + QStringLiteral("/nan.pqwcnn");
        const Run r = fixtures::runPqw({"train-cnn", "--arch", "feature-mlp", "--features", cache, "--epochs", "1", "-o", out}, 120000);
        QVERIFY2(r.code == 1, qPrintable(r.out + r.err));
        QVERIFY2(r.err.contains(QStringLiteral("features.f16: sample 1 holds NaN features")), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(out));
    }

    /// `pqw report` on a project whose head cannot be read: the report is written with the
    /// section marked, and pqw exits 1 naming it (case 11: it exited 0). A project with
    /// nothing wrong exits 0, so the check is the failed section, not the command.
    void reportWithFailedSectionExits1() {
        const QString dir = tmp_.path() + QStringLiteral("/report_case");
        QVERIFY(QDir().mkpath(dir));
        {
            QFile h(dir + QStringLiteral("/broken.pqwh"));
            QVERIFY(h.open(QIODevice::WriteOnly));
            h.write("not a checkpoint");
        }
        const auto writeProject = [&](const QString& name, const QString& heads) {
            QFile f(dir + QLatin1Char('/') + name);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QStringLiteral(R"({"format":"protoquant-workbench-project","version":1,"heads":[%1]})").arg(heads).toUtf8());
        };
        writeProject(QStringLiteral("ok.pqwproj"), QString());
        writeProject(QStringLiteral("bad.pqwproj"), QStringLiteral("\"broken.pqwh\""));
        const Run ok = fixtures::runPqw({"report", dir + "/ok.pqwproj", "-o", dir + "/ok_report", "--no-pdf"}, 120000);
        QVERIFY2(ok.code == 0, qPrintable(ok.out + ok.err));
        const Run bad = fixtures::runPqw({"report", dir + "/bad.pqwproj", "-o", dir + "/bad_report", "--no-pdf"}, 120000);
        QVERIFY2(bad.code == 1, qPrintable(bad.out + bad.err));
        QVERIFY2(bad.err.contains(QStringLiteral("is incomplete: 1 section(s) could not be made (first: Head ")) &&
                     bad.err.contains(QStringLiteral("broken.pqwh")),
                 qPrintable(bad.err));
        QVERIFY(QFileInfo::exists(dir + QStringLiteral("/bad_report/report.html")));  // what could be made is kept
    }

    /// One writer per output file (case 5): while another process holds the output lock of a
    /// checkpoint path (here: this test), `pqw train -o` and `train-cnn -o` are refused at once
    /// naming the holder, and the file stays as it was; once released, the next run gets past
    /// the lock (here to a missing cache) and leaves no lock file behind.
    void secondWriterOfAnOutputIsRefused() {
        const QString out = tmp_.path() + QStringLiteral("/locked.pqwh");
        {
            QFile f(out);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("keep me");
        }
        const QString missing = tmp_.path() + QStringLiteral("/no_such_cache");
        {
            const pqw::OutputLock held(out.toStdString(), "test");
            const QString holder = QStringLiteral("the file is being written by test_bad_inputs_cli (pid %1").arg(QCoreApplication::applicationPid());
            const Run r = fixtures::runPqw({"train", missing, "-o", out}, 60000);
            QVERIFY2(r.code == 1, qPrintable(r.err));
            QVERIFY2(r.err.contains(QStringLiteral("locked.pqwh: cannot train into it: ") + holder), qPrintable(r.err));
            const Run c = fixtures::runPqw({"train-cnn", "-o", out}, 60000);
            QVERIFY2(c.code == 1 && c.err.contains(holder), qPrintable(c.err));
        }
        QCOMPARE(pqw::readFile(out.toStdString()), std::string("keep me"));
        const Run after = fixtures::runPqw({"train", missing, "-o", out}, 60000);
        QVERIFY2(after.code == 1 && after.err.contains(QStringLiteral("no_such_cache")) && !after.err.contains(QStringLiteral("being written")),
                 qPrintable(after.err));
        QVERIFY2(!QFileInfo::exists(tmp_.path() + QStringLiteral("/.pqw-tmp")), "the lock file or pqw's temp folder was left behind");
    }

    /// A head whose backbone is TorchScript: --backbone names the file, which is checked by
    /// hash before it is loaded; a file with other bytes is refused unloaded (case 2).
    void torchScriptBackboneCheckedByHash() {
        const QString dir = corpus::Case::dir() + QStringLiteral("/checkpoints");
        const Run r = fixtures::runPqw({"explain-proto", corpus::Case::dir() + "/images/rgba.png", "-m",
                                        dir + "/torchscript_backbone.pqwh", "--backbone", dir + "/evil.pt", "-o",
                                        tmp_.path() + "/ts.png"});
        QVERIFY2(r.code == 1, qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("evil.pt: is not the backbone")) && r.err.contains(QStringLiteral("it was not loaded")),
                 qPrintable(r.err));
        QVERIFY2(!r.err.contains(QStringLiteral("TorchScript archive")), qPrintable(r.err));  // never handed to torch::jit::load
    }

    /// Every image case in one image folder with two good images: zero-byte and non-image
    /// files are skipped at open (with the reason), corrupt ones fail at extraction (with the
    /// reason), odd-but-valid ones (16-bit, alpha, 1 pixel, 1 bit) extract.
    void imageFolder() {
        const QString root = tmp_.path() + QStringLiteral("/images");
        fixtures::writeImageFolder(root, 1, 2, 24);
        const QString cls = root + QStringLiteral("/class_0/");
        int decodable = 2, corrupt = 0;
        std::vector<corpus::Case> imgs;
        for (const auto& c : corpus::cases()) {
            if (!c.loader.startsWith(QLatin1String("image"))) continue;
            QVERIFY(QFile::copy(c.path(), cls + c.name.section(QLatin1Char('/'), -1)));
            imgs.push_back(c);
            if (c.loader == QLatin1String("image-ok")) ++decodable;
            else if (c.cli.contains(QLatin1String("cannot decode"))) ++corrupt;
        }
        QVERIFY(imgs.size() >= 10);
        const Run ds = fixtures::runPqw({"datasets", root});
        QVERIFY2(ds.code == 0, qPrintable(ds.err));
        const Run ex = fixtures::runPqw({"extract", "--dataset", root, "--size", "32", "--val", "0", "--out",
                                         tmp_.path() + "/feat"});
        QVERIFY2(ex.code == 0, qPrintable(ex.err));
        const QString all = ds.out + ds.err + ex.out + ex.err;
        QVERIFY2(!all.contains(QLatin1String("internal error")), qPrintable(all));
        for (const auto& c : imgs)
            if (c.cli != QLatin1String("ok")) QVERIFY2(all.contains(c.cli), qPrintable(c.cli + " not in:\n" + all));
        QVERIFY2(ex.out.contains(QStringLiteral("extracted %1, reused 0, failed %2").arg(decodable + corrupt).arg(corrupt)),
                 qPrintable(ex.out));
    }
};

QTEST_GUILESS_MAIN(TestBadInputsCli)
#include "test_bad_inputs_cli.moc"
