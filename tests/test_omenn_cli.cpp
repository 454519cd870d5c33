// `pqw explain` and `pqw faithfulness` through the process boundary on a tiny image folder:
// the JSON's contribution sums add up to the logit, PNGs are written (one per class with
// --all-classes), an unknown method fails with one line, the metrics CSV has one row per method.
#include <QtTest/QtTest>

#include "cli_runner.h"

#include <cmath>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "fixtures.h"

using fixtures::Run;

class TestOmennCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString pqw_, head_, image_;

    Run run(const QStringList& args, int timeoutMs = 300000) { return fixtures::runPqw(args, timeoutMs); }
    nlohmann::json readJson(const QString& path) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) return {};
        return nlohmann::json::parse(f.readAll().toStdString());
    }

private Q_SLOTS:
    void initTestCase() {
        pqw_ = qEnvironmentVariable("PQW_BIN_DIR") + QStringLiteral("/pqw");
        QVERIFY2(QFileInfo::exists(pqw_), qPrintable(pqw_));
        fixtures::writeImageFolder(tmp_.path() + "/data", 3, 6);
        const QString feats = tmp_.path() + "/feats";
        auto r = run({"extract", "--dataset", tmp_.path() + "/data", "--size", "32", "--out", feats, "--val", "0.34"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        head_ = tmp_.path() + "/head.pqwh";
        r = run({"train", feats, "--out", head_, "--codes", "4", "--epochs0", "2", "--epochs1", "1", "--epochs2", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QDir d(tmp_.path() + "/data");
        const auto sub = d.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        QVERIFY(!sub.isEmpty());
        const auto files = QDir(d.filePath(sub[0])).entryList(QDir::Files);
        QVERIFY(!files.isEmpty());
        image_ = QDir(d.filePath(sub[0])).filePath(files[0]);
    }

    void explainOmennJsonAddsUp() {
        const QString png = tmp_.path() + "/heat.png", js = tmp_.path() + "/heat.json";
        auto r = run({"explain", image_, "--model", head_, "--method", "omenn", "--out", png, "--json", js});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = readJson(js)["explanation"];
        const double z = j["output"], w = j["weight_sum"], b = j["bias_sum"];
        QVERIFY2(std::abs(w + b - z) <= 1e-4 * std::max(1.0, std::abs(z)), qPrintable(QString::fromStdString(j.dump())));
        QVERIFY(j.contains("bias_share"));
        const cv::Mat img = cv::imread(png.toStdString());
        QCOMPARE(img.cols, 32);
        // Stage-0 head and a contrast.
        r = run({"explain", image_, "--model", head_, "--head", "stage0", "--target", "0", "--vs", "1", "--out", png,
                 "--json", js});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto c = readJson(js)["explanation"];
        QVERIFY(std::abs(double(c["weight_sum"]) + double(c["bias_sum"]) - double(c["output"])) <= 1e-4);
    }

    void numbersAreLabelledPerMethod() {
        // Each method's printed numbers say what they are: OMENN's two shares add up to the score;
        // IG has no "weight contributions", only attributions and their distance from completeness.
        const QString png = tmp_.path() + "/lab.png";
        auto r = run({"explain", image_, "--model", head_, "--method", "omenn", "--out", png});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("OMENN, score for ") && r.out.contains("from the pixels (sum C_w)") &&
                     r.out.contains("from the network's offsets (sum C_b)"), qPrintable(r.out));
        r = run({"explain", image_, "--model", head_, "--method", "ig", "--steps", "8", "--out", png});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("Integrated Gradients, score for ") && r.out.contains("sum of the attributions") &&
                     r.out.contains("step error"), qPrintable(r.out));
        QVERIFY2(!r.out.contains("weight") && !r.out.contains("C_w") && !r.out.contains("C_b"), qPrintable(r.out));
        r = run({"explain", image_, "--model", head_, "--method", "saliency", "--out", png});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("not a share of the score"), qPrintable(r.out));
    }

    void compareTwoHeads() {
        // A second head on the same features (3 codes instead of 4): another model.
        const QString feats = tmp_.path() + "/feats", head2 = tmp_.path() + "/head2.pqwh";
        auto r = run({"train", feats, "--out", head2, "--codes", "3", "--epochs0", "2", "--epochs1", "1", "--epochs2", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QString png = tmp_.path() + "/cmp.png", js = tmp_.path() + "/cmp.json", js2 = tmp_.path() + "/alone.json";
        r = run({"explain", image_, "--model", head_, "--compare", head2, "--out", png, "--json", js});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = readJson(js);
        QVERIFY2(j.contains("compare"), qPrintable(QString::fromStdString(j.dump())));
        const auto c = j["compare"]["explanation"];
        const double z = c["output"], w = c["weight_sum"], b = c["bias_sum"];
        QVERIFY(std::abs(w + b - z) <= 1e-4 * std::max(1.0, std::abs(z)));
        // Its numbers are those of the second model explained on its own.
        r = run({"explain", image_, "--model", head2, "--out", tmp_.path() + "/alone.png", "--json", js2});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto alone = readJson(js2)["explanation"];
        QVERIFY(std::abs(double(alone["output"]) - z) <= 1e-5 * std::max(1.0, std::abs(z)));
        QVERIFY(std::abs(double(j["explanation"]["output"]) - z) > 1e-6);  // two different models
        // One PNG, the two maps side by side.
        const cv::Mat img = cv::imread(png.toStdString());
        QCOMPARE(img.cols, 64);
        QCOMPARE(img.rows, 32);
        // A head for other features is refused, naming the file and what differs.
        const QString foreign = qEnvironmentVariable("PQW_TEST_DATA") + "/bad/checkpoints/other_classes.pqwh";
        r = run({"explain", image_, "--model", head_, "--compare", foreign, "--out", png});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("other_classes.pqwh: does not fit") && r.err.contains("backbone synthetic-backbone"), qPrintable(r.err));
        r = run({"explain", image_, "--model", head_, "--compare", head2, "--all-classes", "--out", png});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--all-classes"), qPrintable(r.err));
    }

    void baselinesAndAllClasses() {
        const QString js = tmp_.path() + "/ig.json";
        auto r = run({"explain", image_, "--model", head_, "--method", "ig", "--steps", "8", "--out",
                      tmp_.path() + "/ig.png", "--json", js});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(readJson(js)["explanation"].contains("completeness_error"));
        for (const char* m : {"gxi", "saliency", "smoothgrad", "gradcam", "occlusion"}) {
            r = run({"explain", image_, "--model", head_, "--method", m, "--samples", "3", "--out", tmp_.path() + "/b.png"});
            QVERIFY2(r.code == 0, qPrintable(QString(m) + ": " + r.err));
        }
        r = run({"explain", image_, "--model", head_, "--all-classes", "--out", tmp_.path() + "/all.png"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (int k = 0; k < 3; ++k) QVERIFY(QFileInfo::exists(tmp_.path() + QString("/all-%1.png").arg(k)));
        r = run({"explain", image_, "--model", head_, "--method", "bogus", "--out", tmp_.path() + "/x.png"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.trimmed().count('\n') == 0 && r.err.contains("bogus"), qPrintable(r.err));
    }

    void faithfulnessTable() {
        const QString csv = tmp_.path() + "/f.csv";
        auto r = run({"faithfulness", "--model", head_, "--features", tmp_.path() + "/feats", "--methods", "omenn,gxi",
                      "--n", "3", "--sanity", "1", "--cell", "8", "--out", csv});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto lines = QString::fromUtf8(f.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 3);
        QVERIFY(lines[0].startsWith("method,images,"));
        QVERIFY(lines[1].startsWith("omenn,"));
        const auto cells = lines[1].split(',');
        bool ok = false;
        const double del = cells[2].toDouble(&ok);
        QVERIFY(ok && del >= 0 && del <= 1);
    }
};

QTEST_GUILESS_MAIN(TestOmennCli)
#include "test_omenn_cli.moc"
