// OMENN on the model families of the papers (issue 14), as TorchScript exported by
// torch.jit.trace from torchvision: ConvNeXt, ViT, Swin, ResNet (basic, bottleneck), VGG,
// EfficientNet, MobileNetV3, a hand-written attention block (explicit q @ k^T, LayerNorm
// written out, tanh GELU, sigmoid / tanh gates) and an op zoo (fused attention, roll, einsum,
// gather, upsampling, ...). The fixtures and references come from
// tests/fixtures/gen_torchscript_families.py (PyTorch, run at build time). Per family:
//  - the logit equals PyTorch's (the traced module's output) within 1e-4 relative;
//  - sum(C_w) + sum(C_b) equals the logit within 1e-4 relative; the bias map sums to C_b;
//  - C_w equals, element by element within 1e-4 of its scale, Gradient x Input of the same
//    network with every gate detached, computed by PyTorch in float64 (independent).
// Then: a bilinear model is refused in one line naming aten::mul, and TorchScript trunks
// (ConvNeXt features, ViT patch tokens as a grid) under a stage-0 and a ProtoQuant head
// decompose exactly (every logit, every prototype presence, the decision over prototypes).
#include <QtTest/QtTest>

#include <torch/torch.h>
#include <torch/script.h>

#include <cmath>

#include "backbone_impl.h"
#include "omenn/explainer_impl.h"
#include "protoquant/model_impl.h"
#include "pqw/backbone.h"
#include "pqw/error.h"
#include "pqw/omenn.h"

using namespace pqw;

namespace {

QString dir() { return qEnvironmentVariable("PQW_FAMILY_DIR"); }

QJsonObject readJson(const QString& name) {
    QFile f(dir() + "/" + name + ".json");
    if (!f.open(QIODevice::ReadOnly)) qFatal("missing fixture %s", qPrintable(f.fileName()));
    return QJsonDocument::fromJson(f.readAll()).object();
}

std::vector<float> floats(const QJsonArray& a) {
    std::vector<float> v;
    v.reserve(size_t(a.size()));
    for (const auto& e : a) v.push_back(float(e.toDouble()));
    return v;
}

torch::Tensor inputOf(const QJsonObject& j) {
    std::vector<int64_t> shape;
    for (const auto& e : j["shape"].toArray()) shape.push_back(e.toInt());
    auto v = floats(j["input"].toArray());
    return torch::from_blob(v.data(), shape, torch::kFloat).clone();
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-2); }

torch::Tensor rnd(std::vector<int64_t> s, double scale = 1.0) { return torch::randn(s) * scale; }

}  // namespace

class TestOmennFamilies : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(!dir().isEmpty() && QFile::exists(dir() + "/families.txt"),
                 "PQW_FAMILY_DIR must hold the generated fixtures (tests/fixtures/gen_torchscript_families.py)");
        torch::set_num_threads(1);
    }

    void family_data() {
        QTest::addColumn<QString>("name");
        QFile f(dir() + "/families.txt");
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto names = QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts);
        QVERIFY(names.size() >= 10);
        for (const auto& n : names) QTest::newRow(qPrintable(n)) << n;
    }

    void family() {
        QFETCH(QString, name);
        const auto j = readJson(name);
        auto m = torch::jit::load((dir() + "/" + name + ".pt").toStdString());
        const auto x = inputOf(j);
        const int target = j["target"].toInt();
        const auto logits = floats(j["logits"].toArray());
        const auto ref = floats(j["cw"].toArray());
        QCOMPARE(ref.size(), size_t(x.numel()));
        Attribution a;
        try {
            a = explainScriptModule(m, x, target);
        } catch (const Error& e) {
            QFAIL(e.what());
        }
        const double zPt = logits[size_t(target)];
        // The logit (the real module run by LibTorch) equals PyTorch's.
        QVERIFY2(rel(a.output, zPt) <= 1e-4, qPrintable(QString("logit %1 vs PyTorch %2").arg(a.output).arg(zPt)));
        // The sum rule.
        const double residual = std::abs(a.weightSum + a.biasSum - a.output);
        QVERIFY2(residual <= 1e-4 * std::max(std::abs(a.output), 1e-2),
                 qPrintable(QString("sum C_w %1 + sum C_b %2 vs z %3").arg(a.weightSum).arg(a.biasSum).arg(a.output)));
        double bm = 0;
        for (float v : a.biasMap) bm += v;
        QVERIFY(std::abs(bm - a.biasSum) <= 1e-4 * std::max(1.0, std::abs(a.biasSum)));
        // C_w against PyTorch's Gradient x Input of the gate-detached network: per element and
        // the channel-summed map, within 1e-4 of the scale.
        QCOMPARE(a.perChannel.size(), ref.size());
        const int64_t HW = x.size(2) * x.size(3), C = x.size(1);
        double scale = 0, worst = 0, mapScale = 0, mapWorst = 0;
        for (size_t i = 0; i < ref.size(); ++i) scale = std::max(scale, double(std::abs(ref[i])));
        for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::abs(a.perChannel[i] - ref[i])));
        for (int64_t p = 0; p < HW; ++p) {
            double r = 0;
            for (int64_t c = 0; c < C; ++c) r += ref[size_t(c * HW + p)];
            mapScale = std::max(mapScale, std::abs(r));
            mapWorst = std::max(mapWorst, std::abs(double(a.map[size_t(p)]) - r));
        }
        QVERIFY(scale > 0);
        qInfo("%s: z %.6g (PyTorch %.6g)  residual %.3g  max |C_w - ref| / scale: per element %.3g, map %.3g  "
              "bias share %.3g",
              qPrintable(name), a.output, zPt, residual, worst / scale, mapWorst / mapScale, a.biasSum / a.output);
        QVERIFY2(worst <= 1e-4 * scale, qPrintable(QString("per element %1 of %2").arg(worst).arg(scale)));
        QVERIFY2(mapWorst <= 1e-4 * mapScale, qPrintable(QString("map %1 of %2").arg(mapWorst).arg(mapScale)));
    }

    void bilinearIsRefusedNamingTheOp() {
        const auto j = readJson("bilinear");
        auto m = torch::jit::load((dir() + "/bilinear.pt").toStdString());
        try {
            explainScriptModule(m, inputOf(j), 0);
            QFAIL("a product of two linear-path values must be refused");
        } catch (const Error& e) {
            const QString msg = e.what();
            QVERIFY2(msg.contains(j["refused_op"].toString()), e.what());
            QVERIFY2(msg.contains("two input-dependent values"), e.what());
            QVERIFY2(!msg.contains('\n') && !msg.contains("internal"), e.what());
        }
        // The public entry point on the file says the same (one line).
        auto x = inputOf(j).contiguous();
        try {
            explainTorchScript((dir() + "/bilinear.pt").toStdString(), x.data_ptr<float>(), 3, 8, 8, 0);
            QFAIL("refused");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("aten::mul"), e.what());
        }
    }

    void trunkUnderHeads_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("convnext features") << "convnext_trunk";
        QTest::newRow("vit tokens as a grid") << "vit_trunk";
    }

    void trunkUnderHeads() {
        QFETCH(QString, name);
        const auto j = readJson(name);
        BackboneSpec spec;
        spec.kind = "torchscript";
        spec.path = (dir() + "/" + name + ".pt").toStdString();
        auto bb = Backbone::open(spec);
        const auto xt = inputOf(j).contiguous();
        const int S = int(xt.size(2));
        const std::vector<float> x(xt.data_ptr<float>(), xt.data_ptr<float>() + xt.numel());
        std::vector<int64_t> fs;
        for (const auto& e : j["feature_shape"].toArray()) fs.push_back(e.toInt());
        QCOMPARE(int(fs.size()), 4);
        const auto fv = floats(j["logits"].toArray());  // the traced trunk's features (PyTorch)
        auto f = torch::from_blob(const_cast<float*>(fv.data()), fs, torch::kFloat).clone();
        const int64_t D = fs[1], K = 6, N = 4;
        torch::manual_seed(5);
        pqw::ProtoModel pm;
        auto& pi = pm.impl();
        pi.backboneId = bb.id();
        pi.shape = {int(D), int(fs[2]), int(fs[3])};
        pi.inputSize = S;
        pi.classes = {"a", "b", "c", "d"};
        pi.stage0 = true;
        pi.lnWeight = 1 + rnd({D}, 0.1);
        pi.lnBias = rnd({D}, 0.1);
        pi.fcWeight = rnd({N, D}, 0.3);
        pi.fcBias = rnd({N}, 0.1);
        auto cells = f.flatten(2)[0].t();
        pi.codes = (cells.index_select(0, torch::tensor({0L, 3L, 5L, 9L, 12L, 15L})) + rnd({K, D}, 0.1)).contiguous();
        pi.W = rnd({N, K});
        pi.enabled.assign(size_t(K), 1);
        pi.tau = 0.1;
        for (auto head : {ExplainHead::Stage0, ExplainHead::Interpretable}) {
            auto e = Explainer::fromModel(pm, bb, head);
            const auto z = e.logits(x.data(), 1, S);
            torch::Tensor ref;
            {
                torch::NoGradGuard ng;
                ref = head == ExplainHead::Stage0 ? pqw::pq::stage0Logits(pi, f.mean({2, 3}))
                                                  : pqw::pq::headForward(pi, f.flatten(2).transpose(1, 2)).logits;
            }
            for (int c = 0; c < N; ++c)
                QVERIFY2(std::abs(z[size_t(c)] - ref[0][c].item<float>()) <= 1e-4 * std::max(1.f, std::abs(z[size_t(c)])),
                         "head on the module's features vs head on PyTorch's features");
            for (int c = 0; c < N; ++c) {
                Target t;
                t.index = c;
                auto a = explain(e, Method::Omenn, x.data(), S, t);
                const double r = std::abs(a.weightSum + a.biasSum - a.output) / std::max(1.0, std::abs(a.output));
                QVERIFY2(r <= 1e-4, qPrintable(QString("%1 logit %2: %3").arg(e.headName().c_str()).arg(c).arg(r)));
            }
        }
        auto e = Explainer::fromModel(pm, bb, ExplainHead::Interpretable);
        for (int p = 0; p < K; ++p) {
            Target tp;
            tp.kind = Target::Kind::Presence;
            tp.index = p;
            auto a = explain(e, Method::Omenn, x.data(), S, tp);
            QVERIFY(std::abs(a.weightSum + a.biasSum - a.output) <= 1e-4 * std::max(1.0, std::abs(a.output)));
        }
        // The decision over prototypes: the shares sum to the logit; each map sums to its share.
        const auto zz = e.logits(x.data(), 1, S);
        for (int c = 0; c < N; ++c) {
            auto dec = explainDecision(e, x.data(), S, c, 2);
            double total = 0;
            for (const auto& s : dec.shares) total += s.share;
            QVERIFY2(std::abs(total - zz[size_t(c)]) <= 1e-4 * std::max(1.0, double(std::abs(zz[size_t(c)]))),
                     qPrintable(QString("class %1: shares %2 vs logit %3").arg(c).arg(total).arg(zz[size_t(c)])));
            for (size_t i = 0; i < std::min<size_t>(2, dec.shares.size()); ++i) {
                const auto& s = dec.shares[i];
                QVERIFY(std::abs(s.map.weightSum + s.map.biasSum - s.share) <= 1e-4 * std::max(1.0, double(s.share)));
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestOmennFamilies)
#include "test_omenn_families.moc"
