// pqw end to end through its process boundary: help, version, datasets, layers, extract
// (fresh on the second run), probe, demo on a small subset, and error exits.
#include <QtTest/QtTest>

#include "cli_runner.h"

#include <cmath>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>

#include "fixtures.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

using fixtures::Run;

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString pqw_;

    Run run(const QStringList& args, int timeoutMs = 300000) { return fixtures::runPqw(args, timeoutMs); }

private Q_SLOTS:
    void initTestCase() {
        pqw_ = qEnvironmentVariable("PQW_BIN_DIR") + QStringLiteral("/pqw");
        QVERIFY2(QFileInfo::exists(pqw_), qPrintable(pqw_));
        fixtures::writeImageFolder(tmp_.path() + "/data", 3, 6);
    }

    void versionAndHelp() {
        auto r = run({"--version"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains(QString::fromLatin1(pqw::version())));
        for (const char* cmd : {"datasets", "layers", "extract", "probe", "train", "eval", "prototypes", "explain-proto",
                                "metrics", "demo"}) {
            r = run({QString::fromLatin1(cmd), "--help"});
            QCOMPARE(r.code, 0);
            QVERIFY2(r.out.contains("Usage") || r.out.contains("usage"), qPrintable(r.out));
        }
    }

    void datasets() {
        auto r = run({"datasets"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("fashion-mnist"));
        QVERIFY(r.out.contains("mnist"));
        r = run({"datasets", tmp_.path() + "/data", "--val", "0.5"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("class_2"), qPrintable(r.out));
        QVERIFY2(r.out.contains("train 9, val 9, test 0"), qPrintable(r.out));
    }

    void layersOfDefaultBackbone() {
        if (pqw::assetsDir().empty()) QSKIP("default backbone not fetched");
        auto r = run({"layers", "--size", "224"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains(QRegularExpression("block_10_project_BN\\s+\\S+\\s+96x14x14")), qPrintable(r.out));
    }

    void layersOfAWholeClassifier() {
        if (pqw::assetsDir().empty()) QSKIP("default backbone not fetched");
        // The same model opened as a plain TFJS model: its default cut is the last layer, the
        // classifier's output, which is not a feature map. The list still comes, with usable cuts
        // marked, and only then the note about the cut (exit 0: listing is how one finds --layer).
        const QString model = QString::fromStdString(pqw::assetsDir()) + "/mobilenet_v2";
        auto r = run({"layers", "--backbone", model, "--size", "224"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        QVERIFY2(r.out.contains(QRegularExpression("block_10_project_BN\\s+\\S+\\s+96x14x14\\s+\\d+\\s+yes")), qPrintable(r.out));
        QVERIFY2(r.out.contains(QRegularExpression("dense_3\\s+Activation\\s+5\\s+\\d+\\s+no\\s+<- cut")), qPrintable(r.out));
        QVERIFY2(r.out.contains("does not give a feature map"), qPrintable(r.out));
        QVERIFY2(r.out.indexOf("block_10_project_BN") < r.out.indexOf("does not give"), qPrintable(r.out));
        // A layer the user chose that is not a feature map: the list, then a failure naming it.
        r = run({"layers", "--backbone", model, "--size", "224", "--layer", "flatten_1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.out.contains("block_10_project_BN"), qPrintable(r.out));
        QVERIFY2(r.err.contains("--layer flatten_1: not a feature map"), qPrintable(r.err));
        // A usable cut: the stride and receptive field follow.
        r = run({"layers", "--backbone", model, "--size", "224", "--layer", "block_10_project_BN"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("cut: block_10_project_BN  stride 16"), qPrintable(r.out));
    }

    void extractTwiceIsFresh() {
        if (pqw::assetsDir().empty()) QSKIP("default backbone not fetched");
        const QString out = tmp_.path() + "/feat";
        auto r = run({"extract", "--dataset", tmp_.path() + "/data", "--size", "32", "--out", out, "--val", "0.34"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("extracted 18"), qPrintable(r.out));
        QVERIFY(QFileInfo::exists(out + "/meta.json"));
        // Progress goes to stderr as plain lines when not on a terminal.
        QVERIFY2(r.err.contains("extract: 100%"), qPrintable(r.err));
        r = run({"extract", "--dataset", tmp_.path() + "/data", "--size", "32", "--out", out, "--val", "0.34"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.err.contains("fresh"), qPrintable(r.err));
        QVERIFY2(r.out.contains("extracted 0, reused 18"), qPrintable(r.out));
        r = run({"probe", out, "--epochs", "5", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(j.value("history").toArray().size(), 5);
        QCOMPARE(j.value("val").toObject().value("samples").toInt(), 6);
    }

    void errorsExitNonZeroWithOneLine() {
        auto r = run({"datasets", tmp_.path() + "/does-not-exist"});
        QVERIFY(r.code != 0);
        QCOMPARE(r.err.trimmed().count('\n'), 0);
        QVERIFY2(r.err.startsWith("pqw: ") && r.err.contains("does-not-exist"), qPrintable(r.err));
        r = run({"extract", "--dataset", tmp_.path() + "/data", "--out", tmp_.path() + "/x", "--backbone",
                 tmp_.path() + "/no-model"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("no-model"), qPrintable(r.err));
        r = run({"probe", tmp_.path() + "/nowhere"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("nowhere"), qPrintable(r.err));
        r = run({"extract", "--size", "5", "--out", tmp_.path() + "/x"});
        QVERIFY(r.code != 0);
        r = run({"no-such-command"});
        QVERIFY(r.code != 0);
    }

    void protoQuantCommands() {
        if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") || pqw::assetsDir().empty())
            QSKIP("Fashion-MNIST or the default backbone missing");
        const QString f = tmp_.path() + "/pq-feat", ck = tmp_.path() + "/pq.pqwh", base = tmp_.path() + "/base.pqwh";
        auto r = run({"extract", "-d", "fashion-mnist", "--limit-train", "400", "--limit-test", "100", "--size", "32",
                      "-o", f});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = run({"train", f, "-o", ck, "--codes", "24", "--epochs1", "3", "--epochs2", "12", "--lr2", "0.01"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("stage1 epoch 3") && r.err.contains("dead codes"), qPrintable(r.err));
        QVERIFY(QFileInfo::exists(ck + ".history.json"));
        r = run({"train", f, "-o", base, "--baseline", "--prototypes", "24", "--epochs2", "12", "--lr2", "0.01"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        // eval agrees with itself as JSON: confusion diagonal / samples == top-1.
        r = run({"eval", ck, "-f", f, "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto e = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(e.value("samples").toInt(), 100);
        const auto conf = e.value("confusion").toArray();
        int diag = 0;
        for (int c = 0; c < conf.size(); ++c) diag += conf[c].toArray()[c].toInt();
        QVERIFY(std::fabs(diag / 100.0 - e.value("top1").toDouble()) < 1e-9);
        QVERIFY(e.value("top1").toDouble() > 0.3);
        // Prototype strips and their manifest.
        const QString pd = tmp_.path() + "/protos";
        r = run({"prototypes", ck, "-f", f, "--top", "4", "-o", pd});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto pngs = QDir(pd).entryList({"prototype_*.png"});
        QVERIFY(!pngs.isEmpty());
        QFile manifest(pd + "/manifest.csv");
        QVERIFY(manifest.open(QIODevice::ReadOnly));
        const auto lines = QString::fromUtf8(manifest.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 1 + 4 * pngs.size());
        // Explain one image: JSON's logit equals the sum of the prototype scores.
        const QString img = tmp_.path() + "/data/class_0/img_0.png";
        r = run({"explain-proto", img, "-m", ck, "-f", f, "-o", tmp_.path() + "/ex.png", "--json", tmp_.path() + "/ex.json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QFile ej(tmp_.path() + "/ex.json");
        QVERIFY(ej.open(QIODevice::ReadOnly));
        const auto ex = QJsonDocument::fromJson(ej.readAll()).object();
        QVERIFY(std::fabs(ex.value("logit").toDouble() - ex.value("sum_of_scores").toDouble()) < 1e-4);
        QVERIFY(cv::imread((tmp_.path() + "/ex.png").toStdString()).cols > 300);
        // The interpretability table, ProtoQuant beside the baseline.
        r = run({"metrics", ck, "--baseline", base, "-f", f, "--samples", "5", "-o", tmp_.path() + "/m.json", "--csv",
                 tmp_.path() + "/m.csv"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QFile mj(tmp_.path() + "/m.json");
        QVERIFY(mj.open(QIODevice::ReadOnly));
        const auto mt = QJsonDocument::fromJson(mj.readAll()).object();
        for (const char* model : {"protoquant", "baseline"}) {
            const auto o = mt.value(QLatin1String(model)).toObject();
            QCOMPARE(o.value("stability").toArray().size(), 3);
            QVERIFY(o.value("global_size").toInt() >= 1);
            QCOMPARE(o.value("top_k_curve").toArray().size(), 7);
        }
        // A head refuses features of another size.
        const QString f2 = tmp_.path() + "/pq-feat-48";
        r = run({"extract", "-d", "fashion-mnist", "--limit-train", "400", "--limit-test", "100", "--size", "48", "-o", f2});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = run({"eval", ck, "-f", f2});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("input size (model: 32, features: 48)"), qPrintable(r.err));
    }

    void demoOnSubset() {
        if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") || pqw::assetsDir().empty())
            QSKIP("Fashion-MNIST or the default backbone missing");
        const QString out = tmp_.path() + "/demo";
        auto r = run({"demo", "--out", out, "--size", "32", "--limit-train", "500", "--limit-test", "200", "--codes", "32",
                      "--epochs1", "4", "--epochs2", "15"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("results: "), qPrintable(r.out));
        QFile f(out + "/report.json");
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto j = QJsonDocument::fromJson(f.readAll()).object();
        QCOMPARE(j.value("dataset").toObject().value("samples").toInt(), 700);
        const auto test = j.value("accuracy").toObject().value("test").toObject();
        for (const char* head : {"stage0", "quantised", "protoquant"}) {
            const double acc = test.value(QLatin1String(head)).toDouble();
            QVERIFY2(acc > 0.2 && acc <= 1.0, qPrintable(QStringLiteral("%1: %2").arg(head).arg(acc)));
        }
        QVERIFY(QFileInfo::exists(out + "/protoquant.pqwh"));
        QVERIFY(QFileInfo::exists(out + "/prototypes/manifest.csv"));
        QVERIFY(QFileInfo::exists(out + "/explanations/test_0.png"));
        // A second run reuses the features.
        r = run({"demo", "--out", out, "--size", "32", "--limit-train", "500", "--limit-test", "200", "--codes", "32",
                 "--epochs1", "1", "--epochs2", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("extracted 0, reused 700"), qPrintable(r.out));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
