// The bad-input corpus through pqw's process boundary: every case in
// tests/data/bad/expected.tsv makes the matching command exit 1 with the expected message
// (never a crash, a hang or "internal error"); odd-but-valid images extract.
#include <QtTest/QtTest>

#include "bad_corpus.h"
#include "cli_runner.h"
#include "fixtures.h"

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
