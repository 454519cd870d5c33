// pqw's pruning commands through the process boundary: schedule, train-cnn, prune
// (unstructured and structured), sweep (and its resume), sweep-report, error exits.
#include <QtTest/QtTest>

#include "cli_runner.h"

#include <opencv2/imgcodecs.hpp>

#include "pqw/util.h"

using fixtures::Run;

class TestPruningCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString pqw_;

    Run run(const QStringList& args, int timeoutMs = 240000) { return fixtures::runPqw(args, timeoutMs); }
    QString path(const char* name) const { return tmp_.path() + "/" + name; }
    QStringList data() const { return {"--limit-train", "600", "--limit-test", "200", "--val", "0.2", "--threads", "1"}; }

private Q_SLOTS:
    void initTestCase() {
        pqw_ = qEnvironmentVariable("PQW_BIN_DIR") + QStringLiteral("/pqw");
        QVERIFY2(QFileInfo::exists(pqw_), qPrintable(pqw_));
    }

    void schedule() {
        auto r = run({"schedule", "--strategy", "hybrid", "--target", "0.9", "--steps", "5", "--first-step", "0.5"});
        QCOMPARE(r.code, 0);
        for (const char* v : {"0.5000", "0.0971", "0.0877", "0.0792", "0.0715", "0.0645", "0.9000"})
            QVERIFY2(r.out.contains(QLatin1String(v)), qPrintable(r.out));
        r = run({"schedule", "--strategy", "hybrid", "--target", "0.4", "--first-step", "0.5"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("first step"), qPrintable(r.err));
        r = run({"schedule", "--strategy", "twice"});
        QVERIFY(r.code != 0);
    }

    void trainAndPrune() {
        auto r = run(QStringList{"train-cnn", "--width", "4", "--epochs", "2", "-o", path("m.pqwcnn")} + data());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(QFileInfo::exists(path("m.pqwcnn")));
        QVERIFY2(r.err.contains("epoch 2"), qPrintable(r.err));
        r = run(QStringList{"prune", "-m", path("m.pqwcnn"), "--strategy", "iterative", "--target", "0.8", "--steps", "2",
                            "--epochs", "1", "--latency-reps", "1", "-o", path("u.pqwcnn"), "--log", path("u.jsonl")} +
                data());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("step 2  sparsity 0.8000"), qPrintable(r.out));
        QVERIFY(QFileInfo::exists(path("u.pqwcnn")));
        QVERIFY(pqw::readFile(path("u.jsonl").toStdString()).find("\"prune.step\"") != std::string::npos);
        r = run(QStringList{"prune", "-m", path("m.pqwcnn"), "--strategy", "one-shot", "--target", "0.5", "--modality",
                            "structured", "--criterion", "l1", "--patience", "1", "--epochs", "2", "--latency-reps", "0",
                            "-o", path("s.pqwcnn")} +
                data());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        // The structurally pruned model is an ordinary, smaller model: prune it again.
        QVERIFY(QFileInfo(path("s.pqwcnn")).size() < QFileInfo(path("m.pqwcnn")).size() * 0.6);
        r = run(QStringList{"prune", "-m", path("s.pqwcnn"), "--target", "0.6", "--modality", "structured",
                            "--criterion", "l2", "--epochs", "0", "--latency-reps", "0"} +
                data());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = run(QStringList{"prune", "-m", path("m.pqwcnn"), "--modality", "structured", "--criterion", "layerwise"} + data());
        QCOMPARE(r.code, 1);
        r = run({"prune", "-m", path("missing.pqwcnn")});
        QVERIFY(r.code != 0);
    }

    void sweepAndReport() {
        const QString spec = path("sweep.json");
        QFile f(spec);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"dataset\": {\"path\": \"fashion-mnist\", \"limit_train\": 400, \"limit_test\": 100, \"val\": 0.2},"
                " \"model\": {\"arch\": \"lenet\", \"width\": 4, \"pretrain_epochs\": 1}, \"latency_reps\": 1,"
                " \"grid\": {\"strategy\": [\"one-shot\", \"iterative-geometric\"], \"target\": [0.6], \"steps\": [2],"
                " \"fine_tune\": [{\"epochs\": 1}]}}");
        f.close();
        auto r = run({"sweep", spec, "--out", path("sw"), "--threads", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("[2/2] iterative-geometric"), qPrintable(r.err));
        QVERIFY(r.out.contains("2 run now, 0 already finished"));
        r = run({"sweep", spec, "--out", path("sw"), "--threads", "1"});
        QVERIFY2(r.out.contains("0 run now, 2 already finished"), qPrintable(r.out));
        r = run({"sweep-report", path("sw")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (const char* name : {"acc_vs_sparsity", "acc_vs_epochs"}) {
            const QString base = path("sw") + "/report/" + name;
            const cv::Mat png = cv::imread((base + ".png").toStdString());
            QVERIFY(!png.empty());
            QCOMPARE(png.cols, 820);
            const std::string svg = pqw::readFile((base + ".svg").toStdString());
            QVERIFY(svg.rfind("<svg", 0) == 0);
            QVERIFY(svg.find("one-shot") != std::string::npos);  // legend
        }
        const std::string csv = pqw::readFile((path("sw") + "/report/summary.csv").toStdString());
        QCOMPARE(int(std::count(csv.begin(), csv.end(), '\n')), 3);
        r = run({"sweep-report", tmp_.path()});
        QCOMPARE(r.code, 1);
    }
};

QTEST_GUILESS_MAIN(TestPruningCli)
#include "test_pruning_cli.moc"
