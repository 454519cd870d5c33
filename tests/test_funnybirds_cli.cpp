// pqw on funnybirds end to end, tiny: `datasets funnybirds:...`, extraction at 32 px, a short
// ProtoQuant training, and `funnybirds-eval` on both heads (CSV rows, score ranges, purity
// file); bad options named.
#include <QtTest/QtTest>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli_runner.h"

using fixtures::runPqw;

class TestFunnyBirdsCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    QString path(const char* name) const { return dir_.filePath(QString::fromUtf8(name)); }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        ::setenv("PQW_CACHE_DIR", dir_.filePath(QStringLiteral("cache")).toUtf8().constData(), 1);  // inherited by pqw
    }

    void datasetsListsAndDescribes() {
        auto r = runPqw({"datasets"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains(QStringLiteral("funnybirds")));
        r = runPqw({"datasets", "funnybirds:images=100,size=32"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains(QStringLiteral("(funnybirds)")));
        QVERIFY(r.out.contains(QStringLiteral("classes:  50")));
        QVERIFY(r.out.contains(QStringLiteral("cache:")));
        r = runPqw({"datasets", "funnybirds:images=100,shape=3"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(QStringLiteral("unknown option 'shape'")), qPrintable(r.err));
    }

    void evaluationEndToEnd() {
        const QString ds = QStringLiteral("funnybirds:images=250,size=64");
        auto r = runPqw({"extract", "-d", ds, "--val", "0.25", "--size", "32", "-o", path("f")});  // one val image per class
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = runPqw({"train", path("f"), "-o", path("h.pqwh"), "--epochs0", "3", "--codes", "16", "--epochs1", "1",
                    "--epochs2", "2"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = runPqw({"funnybirds-eval", "-m", path("h.pqwh"), "-d", ds, "--n", "2", "--methods", "omenn,gxi,protoquant", "-f",
                    path("f"), "-o", path("eval.csv")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        std::ifstream in(path("eval.csv").toStdString());
        std::string header, line;
        std::getline(in, header);
        QVERIFY(header.rfind("head,method,images,accuracy_mean", 0) == 0);
        int rows = 0;
        while (std::getline(in, line)) {
            ++rows;
            std::stringstream ss(line);
            std::string cell;
            std::vector<std::string> cells;
            while (std::getline(ss, cell, ',')) cells.push_back(cell);
            QVERIFY(cells.size() >= 7);
            QCOMPARE(cells[2], std::string("2"));
            const double acc = std::stod(cells[3]);
            QVERIFY(acc >= 0 && acc <= 1);
        }
        QCOMPARE(rows, 2 + 3);  // stage0: omenn, gxi; protoquant: omenn, gxi, protoquant
        QVERIFY(r.out.contains(QStringLiteral("part purity")));
        QVERIFY(QFile::exists(path("eval-purity.csv")));
        // Not a funnybirds dataset; an unknown method.
        r = runPqw({"funnybirds-eval", "-m", path("h.pqwh"), "-d", "mnist"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(QStringLiteral("not a funnybirds dataset")), qPrintable(r.err));
        r = runPqw({"funnybirds-eval", "-m", path("h.pqwh"), "-d", ds, "--methods", "lime", "--n", "1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(QStringLiteral("unknown method 'lime'")), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestFunnyBirdsCli)
#include "test_funnybirds_cli.moc"
