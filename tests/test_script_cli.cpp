// Issue 14 through the pqw binary and against PyTorch / NumPy:
//  - preprocessing is the user's: pqw::InputPreprocessing (Resize(R) + CenterCrop(S), mean / std)
//    equals torchvision's transform on the same image (the PIL path, run by
//    tests/fixtures/gen_script_cli.py); `pqw extract / layers` take --mean --std --resize --crop,
//    the feature cache and the checkpoint record them, the features are the trunk's on exactly
//    those pixels, a head meets features made with other preprocessing only to be refused;
//  - `pqw explain IMAGE --script MODEL.pt` on every family fixture (gen_torchscript_families.py):
//    exit 0, the printed and the JSON residual small, the numbers equal the library's
//    (pqw::explainTorchScript on the same pixels), and the --npy map (read back by NumPy with
//    /usr/bin/python3) equals the library's map and, with the --with-bias map, sums to the logit;
//  - an unsupported op gives one line and exit 1.
#include <QDir>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli_runner.h"
#include "fixtures.h"
#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/omenn.h"
#include "pqw/preprocess.h"

using fixtures::Run;
using json = nlohmann::json;

namespace {

QString famDir() { return qEnvironmentVariable("PQW_FAMILY_DIR"); }
QString cliDir() { return qEnvironmentVariable("PQW_SCRIPT_CLI_DIR"); }

json readJson(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return json::parse(f.readAll().toStdString());
}

/// numpy.load(path) by /usr/bin/python3: {"shape", "dtype", "values"}.
json numpyLoad(const QString& path) {
    QProcess p;
    p.start(QStringLiteral("/usr/bin/python3"),
            {QStringLiteral("-c"),
             QStringLiteral("import json, sys, numpy as np\n"
                            "a = np.load(sys.argv[1])\n"
                            "print(json.dumps({'shape': list(a.shape), 'dtype': str(a.dtype), "
                            "'values': [float(v) for v in a.ravel()]}))"),
             path});
    if (!p.waitForFinished(60000)) return {};
    if (p.exitCode() != 0) qWarning("numpy: %s", p.readAllStandardError().constData());
    return json::parse(p.readAllStandardOutput().toStdString(), nullptr, false);
}

/// "... they add up to the score within X" in pqw explain's output.
double printedResidual(const QString& out) {
    static const QRegularExpression re(QStringLiteral("add up to the score within ([0-9.eE+-]+)"));
    const auto m = re.match(out);
    return m.hasMatch() ? m.captured(1).toDouble() : -1.0;
}

pqw::InputPreprocessing choiceOf(const json& c) {
    pqw::InputPreprocessing p;
    for (int k = 0; k < 3; ++k) {
        p.mean[size_t(k)] = c["mean"][size_t(k)].get<float>();
        p.stdev[size_t(k)] = c["std"][size_t(k)].get<float>();
    }
    p.centerCrop = c["crop"] == "center";
    p.resize = c["resize"].get<int>();
    return p;
}

double maxAbsDiff(const std::vector<float>& a, const json& b) {
    double w = 0;
    for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::abs(double(a[i]) - b[i].get<double>()));
    return w;
}

}  // namespace

class TestScriptCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(QFileInfo::exists(fixtures::pqwPath()), qPrintable(fixtures::pqwPath()));
        QVERIFY2(QFile::exists(famDir() + "/families.txt"), "PQW_FAMILY_DIR: gen_torchscript_families.py's fixtures");
        QVERIFY2(QFile::exists(cliDir() + "/preprocess.json"), "PQW_SCRIPT_CLI_DIR: gen_script_cli.py's fixtures");
    }

    // ------------------------------------------------------------------ preprocessing
    void torchvisionTransform_data() {
        QTest::addColumn<QString>("name");
        for (const char* n : {"center", "none", "up"}) QTest::newRow(n) << n;
    }

    /// Resize(R) + CenterCrop(S) (or Resize((S, S))) + ToTensor + Normalize, as torchvision on
    /// the PIL image: Pillow's fixed-point bilinear filter is reproduced bit for bit, so what is
    /// left is float rounding of the normalisation.
    void torchvisionTransform() {
        QFETCH(QString, name);
        const json all = readJson(cliDir() + "/preprocess.json");
        const json& c = all[name.toStdString()];
        const cv::Mat photo = pqw::loadImageFile((cliDir() + "/photo.png").toStdString());
        QCOMPARE(photo.cols, 58);
        const auto choice = choiceOf(c);
        const int S = c["size"].get<int>();
        const auto pp = choice.at(S);
        std::vector<float> x(size_t(3) * S * S);
        pqw::preprocessImage(photo, pp, x.data());
        const double worst = maxAbsDiff(x, c["tensor"]);
        // OpenCV's area / linear resampling (the default without these options), for the record.
        auto cvPp = pp;
        cvPp.pilBilinear = false;
        std::vector<float> xc(x.size());
        pqw::preprocessImage(photo, cvPp, xc.data());
        double cvWorst = maxAbsDiff(xc, c["tensor"]), cvMean = 0;
        for (size_t i = 0; i < xc.size(); ++i) cvMean += std::abs(double(xc[i]) - c["tensor"][i].get<double>());
        cvMean /= double(xc.size());
        qInfo("%s: max |ours - torchvision| %.3g (normalised units); OpenCV resampling instead: max %.3g, mean %.3g",
              qPrintable(name), worst, cvWorst, cvMean);
        if (name == "center") {
            const json& tp = all["center_tensor_path"]["tensor"];
            qInfo("torchvision's own tensor path (antialias off) vs its PIL path: max %.3g",
                  maxAbsDiff(std::vector<float>(c["tensor"].begin(), c["tensor"].end()), tp));
        }
        QVERIFY2(worst <= 1e-5, qPrintable(QString("max difference %1").arg(worst)));
    }

    void preprocessingChoiceIsChecked() {
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::parseRgb("0.5,0.4", "--mean"));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::parseRgb("0.5,x,0.3", "--mean"));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::parseRgb("0.5,0.4,0.3,0.2", "--mean"));
        QCOMPARE(pqw::parseRgb("0.5, 0.25,1", "--mean")[1], 0.25f);
        pqw::InputPreprocessing p;
        p.mean = {123.7f, 116.3f, 103.5f};  // the 0..255 scale: refused
        QVERIFY_THROWS_EXCEPTION(pqw::Error, p.validate());
        p = {};
        p.centerCrop = true;
        p.resize = 100;
        QVERIFY_THROWS_EXCEPTION(pqw::Error, p.at(112));  // crop larger than the resized image
        QCOMPARE(p.at(96).resize, 100);
        p.resize = 0;
        QCOMPARE(p.at(224).resize, 256);  // torchvision's validation transform by default
    }

    /// extract / layers / train / explain with --mean --std --resize --crop through pqw.
    void preprocessingRecordedAndReused() {
        const QString data = tmp_.path() + "/data", trunk = famDir() + "/convnext_trunk.pt";
        fixtures::writeImageFolder(data, 2, 4, 40);
        const QStringList pre{"--mean", "0.5,0.4,0.3", "--std", "0.2,0.25,0.3", "--resize", "40", "--crop", "center"};
        Run r = fixtures::runPqw(QStringList{"layers", "--backbone", trunk, "--size", "32"} + pre);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("preprocessing: mean 0.5,0.4,0.3 std 0.2,0.25,0.3, resize 40 + centre crop"), qPrintable(r.out));
        const QString feats = tmp_.path() + "/feats", plain = tmp_.path() + "/plain";
        r = fixtures::runPqw(QStringList{"extract", "-d", data, "--backbone", trunk, "--size", "32", "--val", "0.25",
                                         "-o", feats} + pre);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const json meta = readJson(feats + "/meta.json");
        QCOMPARE(meta["backbone"]["preprocess"]["crop"].get<std::string>(), std::string("center"));
        QCOMPARE(meta["backbone"]["preprocess"]["resize"].get<int>(), 40);
        QCOMPARE(meta["backbone"]["preprocess"]["mean"][1].get<float>(), 0.4f);
        // The features are the trunk's on exactly these pixels (not on a plain resize).
        const auto cache = pqw::FeatureCache::open(feats.toStdString());
        QVERIFY(cache.backboneSpec().preprocess.has_value());
        const auto bb = pqw::Backbone::open(cache.backboneSpec());
        const auto ds = pqw::Dataset::open(cache.datasetSpec());
        const auto s = cache.shape();
        std::vector<float> cached(size_t(s[0] * s[1] * s[2])), mine(cached.size()), other(cached.size());
        cache.read(0, cached.data());
        const cv::Mat img = ds.loadImage(0);
        std::vector<float> x(size_t(3) * 32 * 32);
        pqw::preprocessImage(img, bb.preprocess(32), x.data());
        bb.forward(x.data(), 1, 32, mine.data());
        pqw::Preprocess straight = bb.preprocess(32);
        straight.resize = 0;
        pqw::preprocessImage(img, straight, x.data());
        bb.forward(x.data(), 1, 32, other.data());
        double worst = 0, scale = 0, apart = 0;
        for (size_t i = 0; i < cached.size(); ++i) {
            worst = std::max(worst, double(std::abs(cached[i] - mine[i])));
            scale = std::max(scale, double(std::abs(mine[i])));
            apart = std::max(apart, double(std::abs(other[i] - mine[i])));
        }
        QVERIFY2(worst <= 2e-3 * scale, qPrintable(QString("cache vs trunk %1 of %2").arg(worst).arg(scale)));
        QVERIFY2(apart > 20 * worst, "the centre crop must change the features");
        // A head trained on these features keeps the preprocessing: explain reuses it ...
        const QString head = tmp_.path() + "/head.pqwh";
        r = fixtures::runPqw({"train", feats, "--out", head, "--codes", "3", "--epochs0", "1", "--epochs1", "1",
                              "--epochs2", "1"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QString image = data + "/class_0/" + QDir(data + "/class_0").entryList(QDir::Files).first();
        const QString js = tmp_.path() + "/h.json";
        r = fixtures::runPqw({"explain", image, "--model", head, "--backbone", trunk, "--out", tmp_.path() + "/h.png",
                              "--json", js});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const json e = readJson(js)["explanation"];
        QVERIFY(std::abs(e["weight_sum"].get<double>() + e["bias_sum"].get<double>() - e["output"].get<double>()) <=
                1e-4 * std::max(1.0, std::abs(e["output"].get<double>())));
        // ... and is not overridden there (one line) ...
        r = fixtures::runPqw({"explain", image, "--model", head, "--backbone", trunk, "--mean", "0.1,0.1,0.1", "--out",
                              tmp_.path() + "/h.png"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.trimmed().count('\n') == 0 && r.err.contains("--script") && r.err.contains(head), qPrintable(r.err));
        // ... and features made with the default preprocessing (no entry: as caches written
        // before it) do not fit the head: refused, naming both.
        r = fixtures::runPqw({"extract", "-d", data, "--backbone", trunk, "--size", "32", "--val", "0.25", "-o", plain});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(!readJson(plain + "/meta.json")["backbone"].contains("preprocess"));
        r = fixtures::runPqw({"faithfulness", "--model", head, "--backbone", trunk, "--features", plain, "--methods",
                              "omenn", "--n", "1", "--sanity", "0", "-o", tmp_.path() + "/f.csv"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("preprocessing (model: mean 0.5,0.4,0.3") && r.err.contains("features: ImageNet"),
                 qPrintable(r.err));
        // A traced ViT trunk (fused attention: no derivative, so no measured receptive field)
        // extracts too; its box is the whole input.
        r = fixtures::runPqw({"extract", "-d", data, "--backbone", famDir() + "/vit_trunk.pt", "--size", "224", "--val",
                              "0.25", "-o", tmp_.path() + "/vit"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(readJson(tmp_.path() + "/vit/meta.json")["backbone"]["effective_receptive_field"].get<int>(), 224);
        // Bad values: one line naming the switch.
        r = fixtures::runPqw({"layers", "--backbone", trunk, "--size", "32", "--mean", "124,117,104"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("0..1") && r.err.trimmed().count('\n') == 0, qPrintable(r.err));
        r = fixtures::runPqw({"layers", "--backbone", trunk, "--size", "32", "--resize", "40", "--crop", "none"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--resize"), qPrintable(r.err));
    }

    /// pqw import-protoquant --crop center (the official validation transform): the model records
    /// it and prints the extract switches; features made without them are refused by the model.
    void importWithCentreCrop() {
        const QString fx = qEnvironmentVariable("PQW_PTH_FIXTURES");
        QVERIFY2(QFile::exists(fx + "/pipnet_convnext.pth"), "PQW_PTH_FIXTURES: gen_pytorch_checkpoints.py's fixtures");
        const QString dir = tmp_.path() + "/imp", run = fx + "/pipnet_convnext.pth";
        fixtures::writeImageFolder(dir + "/images", 5, 2, 48);
        Run r = fixtures::runPqw({"import-protoquant", run, "--dataset", dir + "/images", "--size", "64", "--crop", "center",
                                  "-o", dir + "/model.pqwh"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("resize size x 256/224 + centre crop") && r.out.contains("--crop center"), qPrintable(r.out));
        r = fixtures::runPqw({"extract", "-d", dir + "/images", "--backbone", run, "--size", "64", "-o", dir + "/plain"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = fixtures::runPqw({"eval", dir + "/model.pqwh", "-f", dir + "/plain"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("different preprocessing"), qPrintable(r.err));
        r = fixtures::runPqw({"extract", "-d", dir + "/images", "--backbone", run, "--size", "64", "--crop", "center", "-o",
                              dir + "/crop"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = fixtures::runPqw({"eval", dir + "/model.pqwh", "-f", dir + "/crop"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
    }

    // ------------------------------------------------------------------ explain --script
    void explainFamilies_data() {
        QTest::addColumn<QString>("name");
        QFile f(famDir() + "/families.txt");
        QVERIFY(f.open(QIODevice::ReadOnly));
        for (const auto& n : QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts))
            QTest::newRow(qPrintable(n)) << n;
    }

    void explainFamilies() {
        QFETCH(QString, name);
        const json fx = readJson(famDir() + "/" + name + ".json");
        const int S = fx["shape"][2].get<int>();
        // An image of the model's size (so no resampling): pixels seeded per family.
        cv::Mat img(S, S, CV_8UC3);
        cv::RNG rng(static_cast<uint64_t>(qHash(name)) + 1);
        rng.fill(img, cv::RNG::UNIFORM, 0, 256);
        const QString png = tmp_.path() + "/" + name + ".png";
        cv::Mat bgr;
        cv::cvtColor(img, bgr, cv::COLOR_RGB2BGR);
        QVERIFY(cv::imwrite(png.toStdString(), bgr));
        const QString model = famDir() + "/" + name + ".pt", out = tmp_.path() + "/" + name;
        const bool perChannel = name == "convnext";
        QStringList args{"explain", png, "--script", model, "--size", QString::number(S), "--out", out + "-map.png",
                         "--json", out + ".json", "--npy", out + ".npy", "--with-bias", "--threads", "1"};
        if (perChannel) args << "--per-channel";
        const Run r = fixtures::runPqw(args);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const json j = readJson(out + ".json");
        const json& e = j["explanation"];
        const double z = e["output"], w = e["weight_sum"], b = e["bias_sum"];
        const double printed = printedResidual(r.out);
        QVERIFY2(printed >= 0 && printed <= 1e-4 * std::max(1.0, std::abs(z)), qPrintable(r.out));
        QVERIFY(std::abs(w + b - z) <= 1e-4 * std::max(1.0, std::abs(z)));
        // The library on the same pixels (ImageNet statistics, the default).
        pqw::Preprocess pp;
        pp.size = S;
        pp.mean = {0.485f, 0.456f, 0.406f};
        pp.stdev = {0.229f, 0.224f, 0.225f};
        std::vector<float> x(size_t(3) * S * S);
        pqw::preprocessImage(pqw::loadImageFile(png.toStdString()), pp, x.data());
        const auto zs = pqw::torchScriptOutputs(model.toStdString(), x.data(), 3, S, S);
        const int t = int(std::max_element(zs.begin(), zs.end()) - zs.begin());
        QCOMPARE(j["target"].get<int>(), t);
        const auto lib = pqw::explainTorchScript(model.toStdString(), x.data(), 3, S, S, t);
        QVERIFY(std::abs(lib.output - z) <= 1e-5 * std::max(1.0, std::abs(z)));
        // The .npy files, read back by NumPy.
        const json m = numpyLoad(out + ".npy"), bm = numpyLoad(out + "-bias.npy");
        QCOMPARE(m["dtype"].get<std::string>(), std::string("float32"));
        const std::vector<int> wantShape = perChannel ? std::vector<int>{3, S, S} : std::vector<int>{S, S};
        QCOMPARE(m["shape"].get<std::vector<int>>(), wantShape);
        QCOMPARE(bm["shape"].get<std::vector<int>>(), (std::vector<int>{S, S}));
        const auto& ref = perChannel ? lib.perChannel : lib.map;
        double scale = 0, sum = 0, bsum = 0;
        for (float v : ref) scale = std::max(scale, double(std::abs(v)));
        QVERIFY(scale > 0);
        QVERIFY2(maxAbsDiff(ref, m["values"]) <= 1e-5 * scale, "npy map vs library map");
        QVERIFY2(maxAbsDiff(lib.biasMap, bm["values"]) <= 1e-5 * std::max(1e-6, std::abs(lib.biasSum)), "npy bias vs library");
        for (const auto& v : m["values"]) sum += v.get<double>();
        for (const auto& v : bm["values"]) bsum += v.get<double>();
        const double res = std::abs(sum + bsum - z);
        qInfo("%s: logit %.6g  printed residual %.3g  npy: sum(C_w) + sum(C_b) - logit = %.3g", qPrintable(name), z,
              printed, res);
        QVERIFY2(res <= 1e-4 * std::max(1.0, std::abs(z)), qPrintable(QString("npy sums miss the logit by %1").arg(res)));
    }

    void unsupportedOpIsOneLine() {
        const QString png = tmp_.path() + "/u.png";
        cv::Mat img(16, 16, CV_8UC3, cv::Scalar(90, 140, 30));
        QVERIFY(cv::imwrite(png.toStdString(), img));
        Run r = fixtures::runPqw({"explain", png, "--script", cliDir() + "/unsupported.pt", "--size", "16", "--out",
                                  tmp_.path() + "/u-map.png"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.trimmed().count('\n') == 0 && r.err.contains("aten::sort") && !r.err.contains("internal"),
                 qPrintable(r.err));
        QVERIFY(!QFile::exists(tmp_.path() + "/u-map.png"));
        // Options that do not fit: one line each.
        r = fixtures::runPqw({"explain", png, "--script", cliDir() + "/unsupported.pt", "--per-channel"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--npy"), qPrintable(r.err));
        r = fixtures::runPqw({"explain", png, "--script", famDir() + "/op_zoo.pt", "--size", "16", "--target", "99",
                              "--out", tmp_.path() + "/t.png"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--target 99"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestScriptCli)
#include "test_script_cli.moc"
