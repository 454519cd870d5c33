// OMENN engine: the exactness invariant sum(C_w) + sum(C_b) == z on every supported layer
// type in isolation, on seeded random networks, on the default pretrained trunk with a
// stage-0 head and with a ProtoQuant head; OMENN == Gradient x Input on a pure ReLU/BN/pool
// network and != on GELU / LayerNorm / cosine; refusal of unsupported layers; all-classes
// and contrastive maps; the ProtoQuant decision composition; baselines (IG completeness,
// occlusion by hand, Grad-CAM); faithfulness metrics on hand-made cases; rendering.
#include <QtTest/QtTest>

#include <filesystem>

#include <torch/torch.h>

#include <cmath>
#include <random>

#include <opencv2/imgproc.hpp>

#include "backbone_impl.h"
#include "nn/graph.h"
#include "nn/layers.h"
#include "omenn/explainer_impl.h"
#include "protoquant/model_impl.h"
#include "pqw/backbone.h"
#include "pqw/error.h"
#include "pqw/recorded_backbone.h"
#include "pqw/faithfulness.h"
#include "pqw/heatmap.h"
#include "pqw/omenn.h"
#include "pqw/method_text.h"

using namespace pqw;
using nn::Activation;
using Fn = nn::Activation::Fn;

namespace {

torch::Tensor rnd(std::vector<int64_t> s, double scale = 1.0) { return torch::randn(s) * scale; }

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, bool same = true,
                                 int64_t groups = 1) {
    auto c = std::make_shared<nn::Conv2d>(rnd({out, in / groups, k, k}, 1.0 / std::sqrt(double(in / groups * k * k))),
                                          rnd({out}, 0.2), std::array<int64_t, 2>{stride, stride}, nn::Pad4{},
                                          std::array<int64_t, 2>{1, 1}, groups);
    c->tfSame = same;
    return c;
}
std::shared_ptr<nn::BatchNorm> bn(int64_t c) {
    return std::make_shared<nn::BatchNorm>(1 + rnd({c}, 0.2), rnd({c}, 0.3), rnd({c}, 0.3), 0.5 + torch::rand({c}), 1e-3);
}
std::shared_ptr<nn::Dense> dense(int64_t in, int64_t out) {
    return std::make_shared<nn::Dense>(rnd({out, in}, 1.0 / std::sqrt(double(in))), rnd({out}, 0.3));
}
std::shared_ptr<nn::LayerNorm> lnorm(int64_t c) {
    return std::make_shared<nn::LayerNorm>(1 + rnd({c}, 0.2), rnd({c}, 0.3), 1e-3);
}

Explainer wrap(nn::GraphPtr g, int size = 16) {
    auto d = std::make_shared<Explainer::Impl>();
    d->trunk = std::move(g);
    d->inputSize = size;
    return makeExplainer(d);
}

std::vector<float> image(int size, uint64_t seed, int channels = 3) {
    torch::manual_seed(seed);
    auto t = torch::rand({channels, size, size}).contiguous();
    return {t.data_ptr<float>(), t.data_ptr<float>() + t.numel()};
}

double relErr(const Attribution& a) { return std::abs(a.weightSum + a.biasSum - a.output) / std::max(1.0, std::abs(a.output)); }

/// Exactness of every output of e on x; returns the largest relative error.
double checkAllOutputs(const Explainer& e, const std::vector<float>& x, int size) {
    double worst = 0;
    for (int c = 0; c < e.numOutputs(); ++c) {
        Target t;
        t.index = c;
        auto a = explain(e, Method::Omenn, x.data(), size, t);
        // C_b is computed from the layer biases, not as the residual: its spatial map sums to it.
        double bm = 0;
        for (float v : a.biasMap) bm += v;
        if (std::abs(bm - a.biasSum) > 1e-4 * std::max(1.0, std::abs(a.biasSum))) return 1e9;
        worst = std::max(worst, relErr(a));
    }
    return worst;
}

/// input -> [pre] -> layer under test -> readout (global avg pool or flatten) -> Dense(3).
nn::GraphPtr isolated(const std::string& kind, nn::LayerPtr layer, int64_t cin, int64_t cout, bool spatialOut = true,
                      bool twoInputs = false) {
    auto g = std::make_shared<nn::Graph>();
    int pre = g->addNode("pre", "Conv2D", {0}, conv(3, cin, 3));
    int x = pre;
    if (twoInputs) {
        int pre2 = g->addNode("pre2", "Conv2D", {0}, conv(3, cin, 1));
        x = g->addNode(kind, kind, {pre, pre2}, layer);
    } else {
        x = g->addNode(kind, kind, {pre}, layer);
    }
    if (spatialOut) x = g->addNode("gap", "GlobalAveragePooling2D", {x}, std::make_shared<nn::GlobalPool>());
    g->addNode("out", "Dense", {x}, dense(cout, 3));
    return g;
}

/// A pure ReLU / BN / pool network (no bias-free non-linearity other than ReLU).
nn::GraphPtr reluNet() {
    auto g = std::make_shared<nn::Graph>();
    int x = g->addNode("c1", "Conv2D", {0}, conv(3, 6, 3));
    x = g->addNode("b1", "BatchNormalization", {x}, bn(6));
    x = g->addNode("r1", "ReLU", {x}, std::make_shared<Activation>(Fn::ReLU));
    x = g->addNode("mp", "MaxPooling2D", {x}, std::make_shared<nn::MaxPool2d>(std::array<int64_t, 2>{2, 2}, std::array<int64_t, 2>{2, 2}));
    x = g->addNode("c2", "Conv2D", {x}, conv(6, 8, 3));
    x = g->addNode("r2", "ReLU", {x}, std::make_shared<Activation>(Fn::ReLU, 6.0));
    x = g->addNode("ap", "AveragePooling2D", {x}, std::make_shared<nn::AvgPool2d>(std::array<int64_t, 2>{2, 2}, std::array<int64_t, 2>{2, 2}));
    x = g->addNode("fl", "Flatten", {x}, std::make_shared<nn::Flatten>());
    g->addNode("out", "Dense", {x}, dense(8 * 4 * 4, 4));
    return g;
}

/// A seeded random network: convs (some depthwise), BN, random activations, residual adds,
/// concat, pooling, then dense + LayerNorm + dense.
nn::GraphPtr randomNet(uint64_t seed) {
    torch::manual_seed(seed);
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto g = std::make_shared<nn::Graph>();
    const Fn acts[] = {Fn::ReLU, Fn::GELU, Fn::SiLU, Fn::Linear};
    int64_t c = 8;
    int x = g->addNode("stem", "Conv2D", {0}, conv(3, c, 3, 2));
    for (int b = 0; b < 3; ++b) {
        const std::string p = "b" + std::to_string(b) + "_";
        int y = g->addNode(p + "dw", "DepthwiseConv2D", {x}, conv(c, c, 3, 1, true, c));
        y = g->addNode(p + "bn", "BatchNormalization", {y}, bn(c));
        const bool relu6 = rng() % 3 == 0;
        y = g->addNode(p + "act", "Activation", {y},
                       std::make_shared<Activation>(relu6 ? Fn::ReLU : acts[rng() % 4], relu6 ? 6.0 : 0.0));
        y = g->addNode(p + "pw", "Conv2D", {y}, conv(c, c, 1));
        switch (rng() % 3) {
            case 0: x = g->addNode(p + "add", "Add", {x, y}, std::make_shared<nn::Add>()); break;
            case 1: {
                int z = g->addNode(p + "cat", "Concatenate", {x, y}, std::make_shared<nn::Concat>());
                x = g->addNode(p + "squeeze", "Conv2D", {z}, conv(2 * c, c, 1));
                break;
            }
            default: {
                auto mp = std::make_shared<nn::MaxPool2d>(std::array<int64_t, 2>{3, 3}, std::array<int64_t, 2>{1, 1});
                mp->tfSame = true;
                x = g->addNode(p + "mp", "MaxPooling2D", {y}, mp);
            }
        }
    }
    x = g->addNode("gap", "GlobalAveragePooling2D", {x}, std::make_shared<nn::GlobalPool>());
    x = g->addNode("fc1", "Dense", {x}, dense(c, 16));
    x = g->addNode("ln", "LayerNormalization", {x}, lnorm(16));
    x = g->addNode("gelu", "Activation", {x}, std::make_shared<Activation>(Fn::GELU));
    x = g->addNode("drop", "Dropout", {x}, std::make_shared<nn::Dropout>(0.2));
    g->addNode("fc2", "Dense", {x}, dense(16, 5));
    return g;
}

std::string defaultAssets() {
    const char* d = std::getenv("PQW_DATA_DIR");
    return d ? d : "";
}

}  // namespace

class TestOmenn : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(1); }  // the machine is shared: one thread is the fastest here

    void eachLayerTypeIsExact() {
        torch::manual_seed(1);
        struct Case {
            std::string name;
            nn::GraphPtr g;
        };
        std::vector<Case> cases;
        auto asym = std::make_shared<nn::Conv2d>(rnd({5, 4, 3, 3}, 0.3), rnd({5}, 0.2), std::array<int64_t, 2>{2, 2},
                                                 nn::Pad4{0, 1, 0, 1});
        cases.push_back({"conv stride 2 asymmetric pad", isolated("conv", asym, 4, 5)});
        cases.push_back({"depthwise conv", isolated("dw", conv(4, 4, 3, 2, true, 4), 4, 4)});
        cases.push_back({"batchnorm", isolated("bn", bn(4), 4, 4)});
        cases.push_back({"relu", isolated("relu", std::make_shared<Activation>(Fn::ReLU), 4, 4)});
        cases.push_back({"relu6", isolated("relu6", std::make_shared<Activation>(Fn::ReLU, 0.3), 4, 4)});
        cases.push_back({"leaky relu", isolated("leaky", std::make_shared<Activation>(Fn::ReLU, 0.0, 0.1), 4, 4)});
        cases.push_back({"gelu", isolated("gelu", std::make_shared<Activation>(Fn::GELU), 4, 4)});
        cases.push_back({"silu", isolated("silu", std::make_shared<Activation>(Fn::SiLU), 4, 4)});
        cases.push_back({"linear", isolated("linear", std::make_shared<Activation>(Fn::Linear), 4, 4)});
        cases.push_back({"zero pad", isolated("pad", std::make_shared<nn::ZeroPad2d>(nn::Pad4{1, 2, 0, 3}), 4, 4)});
        cases.push_back({"add", isolated("add", std::make_shared<nn::Add>(), 4, 4, true, true)});
        cases.push_back({"concat", isolated("cat", std::make_shared<nn::Concat>(), 4, 8, true, true)});
        auto ap = std::make_shared<nn::AvgPool2d>(std::array<int64_t, 2>{3, 3}, std::array<int64_t, 2>{2, 2});
        ap->tfSame = true;
        cases.push_back({"avg pool same", isolated("ap", ap, 4, 4)});
        auto mp = std::make_shared<nn::MaxPool2d>(std::array<int64_t, 2>{3, 3}, std::array<int64_t, 2>{2, 2});
        mp->tfSame = true;
        cases.push_back({"max pool same", isolated("mp", mp, 4, 4)});
        cases.push_back({"global avg", isolated("gap2", std::make_shared<nn::GlobalPool>(false, true), 4, 4)});
        cases.push_back({"global max", isolated("gmp", std::make_shared<nn::GlobalPool>(true), 4, 4, false)});
        {
            auto g = std::make_shared<nn::Graph>();
            int x = g->addNode("pre", "Conv2D", {0}, conv(3, 4, 3, 4));
            x = g->addNode("flat", "Flatten", {x}, std::make_shared<nn::Flatten>());
            g->addNode("out", "Dense", {x}, dense(4 * 4 * 4, 3));
            cases.push_back({"flatten + dense 2-D", g});
        }
        cases.push_back({"dense on 4-D", isolated("dense4", dense(4, 6), 4, 6)});
        cases.push_back({"dropout", isolated("drop", std::make_shared<nn::Dropout>(0.5), 4, 4)});
        cases.push_back({"layernorm 4-D", isolated("ln4", lnorm(4), 4, 4)});
        {
            auto g = std::make_shared<nn::Graph>();
            int x = g->addNode("pre", "Conv2D", {0}, conv(3, 4, 3, 2));
            x = g->addNode("gap", "GlobalAveragePooling2D", {x}, std::make_shared<nn::GlobalPool>());
            x = g->addNode("ln", "LayerNormalization", {x}, lnorm(4));
            g->addNode("out", "Dense", {x}, dense(4, 3));
            cases.push_back({"layernorm 2-D", g});
        }
        const auto x = image(16, 7);
        for (const auto& c : cases) {
            double err = 0;
            try {
                err = checkAllOutputs(wrap(c.g), x, 16);
            } catch (const std::exception& ex) {
                QFAIL(qPrintable(QString::fromStdString(c.name + ": " + std::string(ex.what()).substr(0, 200))));
            }
            if (!(err <= 1e-4)) QFAIL(qPrintable(QString::fromStdString(c.name) + ": relative error " + QString::number(err)));
        }
        // ReLU6 saturated somewhere in the relu6 case: the constant 6-style bias is present.
        Target t;
        auto a = explain(wrap(cases[4].g), Method::Omenn, x.data(), 16, t);
        bool found = false;
        for (const auto& [name, v] : a.biasByLayer) found = found || name == "relu6";
        QVERIFY2(found, "the saturated ReLU6 must contribute a bias term");
    }

    void randomNetworksAreExact() {
        for (uint64_t s = 0; s < 6; ++s) {
            auto e = wrap(randomNet(100 + s), 24);
            const auto x = image(24, s);
            const double err = checkAllOutputs(e, x, 24);
            QVERIFY2(err <= 1e-4, qPrintable(QString("seed %1: relative error %2").arg(s).arg(err)));
        }
    }

    void matchesGradientTimesInputOnReluNetworks() {
        torch::manual_seed(3);
        auto e = wrap(reluNet());
        const auto x = image(16, 3);
        for (int c = 0; c < 4; ++c) {
            Target t;
            t.index = c;
            auto o = explain(e, Method::Omenn, x.data(), 16, t);
            auto g = explain(e, Method::GradientInput, x.data(), 16, t);
            QCOMPARE(o.perChannel.size(), g.perChannel.size());
            double diff = 0, mag = 0;
            for (size_t i = 0; i < o.perChannel.size(); ++i) {
                diff = std::max(diff, double(std::abs(o.perChannel[i] - g.perChannel[i])));
                mag = std::max(mag, double(std::abs(g.perChannel[i])));
            }
            QVERIFY2(mag > 0 && diff <= 1e-5 * std::max(1.0, mag), qPrintable(QString::number(diff)));
            // The bias map is OMENN's addition: z = sum(GxI) + sum(C_b).
            QVERIFY(std::abs(g.weightSum + o.biasSum - o.output) <= 1e-4 * std::max(1.0, std::abs(o.output)));
        }
    }

    void differsFromGradientOnGeluLayerNormCosine() {
        torch::manual_seed(4);
        auto maxDiff = [](const Explainer& e, const std::vector<float>& x, int size, Target t = {}) {
            auto o = explain(e, Method::Omenn, x.data(), size, t);
            auto g = explain(e, Method::GradientInput, x.data(), size, t);
            double d = 0, mag = 0;
            for (size_t i = 0; i < o.perChannel.size(); ++i) {
                d = std::max(d, double(std::abs(o.perChannel[i] - g.perChannel[i])));
                mag = std::max(mag, double(std::abs(g.perChannel[i])));
            }
            return d / std::max(1e-12, mag);
        };
        const auto x = image(16, 5);
        QVERIFY(maxDiff(wrap(isolated("gelu", std::make_shared<Activation>(Fn::GELU), 4, 4)), x, 16) > 1e-2);
        QVERIFY(maxDiff(wrap(isolated("ln4", lnorm(4), 4, 4)), x, 16) > 1e-2);
        // Cosine + softmax presence: a ProtoQuant head on a tiny trunk.
        auto g = std::make_shared<nn::Graph>();
        int t = g->addNode("c1", "Conv2D", {0}, conv(3, 6, 3, 2));
        g->addNode("r1", "ReLU", {t}, std::make_shared<Activation>(Fn::ReLU));
        auto d = std::make_shared<Explainer::Impl>();
        d->trunk = g;
        d->head = ExplainHead::Interpretable;
        d->codes = torch::randn({5, 6});
        d->W = torch::randn({3, 5});
        d->enabled = torch::ones({5});
        d->tau = 0.2;
        auto e = makeExplainer(d);
        Target pres;
        pres.kind = Target::Kind::Presence;
        pres.index = 1;
        QVERIFY(maxDiff(e, x, 16, pres) > 1e-2);
        QVERIFY(checkAllOutputs(e, x, 16) <= 1e-4);
        for (int p = 0; p < 5; ++p) {
            pres.index = p;
            QVERIFY(relErr(explain(e, Method::Omenn, x.data(), 16, pres)) <= 1e-4);
        }
    }

    void unsupportedLayerIsRefusedByName() {
        auto g = isolated("my_sigmoid", std::make_shared<Activation>(Fn::Sigmoid), 4, 4);
        try {
            wrap(g);
            QFAIL("a sigmoid must be refused");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("my_sigmoid"), e.what());
        }
    }

    void allClassesAndContrast() {
        torch::manual_seed(6);
        auto e = wrap(randomNet(7), 24);
        const auto x = image(24, 9);
        auto all = explainAllClasses(e, x.data(), 24);
        QCOMPARE(int(all.size()), e.numOutputs());
        Target t;
        t.index = 1;
        t.contrast = 3;
        auto c = explain(e, Method::Omenn, x.data(), 24, t);
        QVERIFY(relErr(c) <= 1e-4);
        QVERIFY(std::abs(c.output - (all[1].output - all[3].output)) < 1e-4);
        for (size_t i = 0; i < c.perChannel.size(); ++i)
            QVERIFY(std::abs(c.perChannel[i] - (all[1].perChannel[i] - all[3].perChannel[i])) < 1e-5);
        for (size_t k = 0; k < all.size(); ++k) {
            Target one;
            one.index = static_cast<int>(k);
            auto a = explain(e, Method::Omenn, x.data(), 24, one);
            QVERIFY(relErr(all[k]) <= 1e-4);
            QVERIFY(std::abs(a.weightSum - all[k].weightSum) < 1e-4);
        }
    }

    void defaultTrunkWithStage0AndProtoQuantHeads() {
        BackboneSpec spec;
        Backbone bb;
        try {
            bb = Backbone::open(spec);
        } catch (const Error& e) {
            QSKIP(e.what());
        }
        const int S = 64;
        const auto fs = bb.featureShape(S);
        torch::manual_seed(11);
        const auto x = image(S, 12);
        // Stage-0 head (seeded weights; the layer types are what matters for exactness), on
        // the unfolded graph and on the inference graph (BatchNorm folded, channels-last).
        auto d = std::make_shared<Explainer::Impl>();
        d->trunk = bb.impl().graph;
        d->head = ExplainHead::Stage0;
        d->lnWeight = 1 + torch::randn({fs[0]}) * 0.1;
        d->lnBias = torch::randn({fs[0]}) * 0.1;
        d->fcWeight = torch::randn({10, fs[0]}) * 0.1;
        d->fcBias = torch::randn({10}) * 0.1;
        auto e0 = makeExplainer(d);
        auto df = std::make_shared<Explainer::Impl>(*d);
        df->fast = bb.impl().fast;
        auto e0f = makeExplainer(df);
        for (int c : {0, 7}) {
            Target t;
            t.index = c;
            auto a = explain(e0, Method::Omenn, x.data(), S, t);
            QVERIFY2(relErr(a) <= 1e-4, qPrintable(QString("stage0 class %1: %2 (z %3, w %4, b %5)").arg(c).arg(relErr(a))
                                                        .arg(a.output).arg(a.weightSum).arg(a.biasSum)));
            QVERIFY(!a.biasByLayer.empty());
            auto af = explain(e0f, Method::Omenn, x.data(), S, t);
            QVERIFY2(relErr(af) <= 1e-4, qPrintable(QString("stage0 (inference graph) class %1: %2").arg(c).arg(relErr(af))));
            // Same affine map: the weight contributions agree up to float rounding.
            QVERIFY(std::abs(af.weightSum - a.weightSum) <= 1e-3 * std::max(1.0, std::abs(a.weightSum)));
            QVERIFY(std::abs(af.biasSum - a.biasSum) <= 1e-3 * std::max(1.0, std::abs(a.biasSum)));
            // On the inference graph z is read from the frozen pass itself: it must be the
            // model's output as an independent no-grad forward computes it.
            const double zf = e0f.logits(x.data(), 1, S)[static_cast<size_t>(c)];
            QVERIFY2(std::abs(af.output - zf) <= 1e-5 * std::max(1.0, std::abs(zf)),
                     qPrintable(QString("frozen z %1 vs forward %2").arg(af.output).arg(zf)));
            // Pixel by pixel the maps agree too; the bias map checks the fused ReLU6 backward,
            // which collects the saturated positions' constants itself (the layer graph
            // keeps them as ordinary bias terms).
            auto maxDiff = [](const std::vector<float>& u, const std::vector<float>& v, double& scale) {
                double d = 0;
                scale = 0;
                for (size_t i = 0; i < u.size(); ++i) {
                    d = std::max(d, double(std::abs(u[i] - v[i])));
                    scale = std::max(scale, double(std::abs(u[i])));
                }
                return d;
            };
            double sw = 0, sb = 0;
            QCOMPARE(af.map.size(), a.map.size());
            QCOMPARE(af.biasMap.size(), a.biasMap.size());
            QVERIFY(maxDiff(a.map, af.map, sw) <= 1e-3 * sw);
            QVERIFY(maxDiff(a.biasMap, af.biasMap, sb) <= 1e-3 * sb);
            QVERIFY(sb > 0);
            double sat = 0, satFast = 0;
            for (const auto& [name, v] : a.biasByLayer)
                if (name.find("relu") != std::string::npos) sat += v;
            for (const auto& [name, v] : af.biasByLayer)
                if (name.find("relu") != std::string::npos) satFast += v;
            QVERIFY2(sat != 0 && std::abs(sat - satFast) <= 1e-3 * std::abs(sat),
                     qPrintable(QString("saturation share %1 vs %2").arg(sat).arg(satFast)));
        }
        // The randomisation check scrambles the trunk the explanation really uses (the
        // inference graph has its own conv copies): same answer with and without it.
        ExplainFn om = [](const Explainer& ex, const float* xx, int size, const Target& tt) {
            return explain(ex, Method::Omenn, xx, size, tt);
        };
        auto r0 = randomisationCheck(e0, om, x.data(), S, Target{}, 5);
        auto r1 = randomisationCheck(e0f, om, x.data(), S, Target{}, 5);
        QCOMPARE(r0.spearman.size(), r1.spearman.size());
        for (size_t i = 0; i < r0.spearman.size(); ++i) QVERIFY(std::abs(r0.spearman[i] - r1.spearman[i]) < 1e-3);
        QVERIFY(r0.spearman.back() < 0.99);
        // ProtoQuant head: codes drawn from the image's own cells so presences are peaked.
        auto p = std::make_shared<Explainer::Impl>();
        p->trunk = bb.impl().graph;
        p->fast = bb.impl().fast;
        p->head = ExplainHead::Interpretable;
        torch::Tensor f;
        {
            torch::NoGradGuard ng;
            f = bb.impl().graph->forward(torch::from_blob(const_cast<float*>(x.data()), {1, 3, S, S}));
        }
        auto cells = f.flatten(2)[0].t();
        p->codes = (cells.index_select(0, torch::tensor({0L, 3L, 5L, 9L, 15L})) + torch::randn({5, fs[0]}) * 0.1).contiguous();
        p->W = torch::randn({4, 5});
        p->enabled = torch::ones({5});
        p->tau = 0.1;
        auto e1 = makeExplainer(p);
        QVERIFY(checkAllOutputs(e1, x, S) <= 1e-4);
        // Composition: logit = sum of prototype shares; each map sums to its share.
        auto dec = explainDecision(e1, x.data(), S, 2, 2);
        double total = 0;
        for (const auto& s : dec.shares) total += s.share;
        QVERIFY(std::abs(total - dec.logit) <= 1e-5 * std::max(1.0, std::abs(dec.logit)));
        for (size_t i = 0; i < std::min<size_t>(2, dec.shares.size()); ++i) {
            const auto& s = dec.shares[i];
            QVERIFY(std::abs(s.map.weightSum + s.map.biasSum - s.share) <= 1e-4 * std::max(1.0, double(s.share)));
        }
    }

    // ------------------------------------------------------------------- baselines
    void integratedGradientsApproachCompleteness() {
        auto e = wrap(randomNet(21), 24);
        const auto x = image(24, 22);
        Target t;
        t.index = 2;
        ExplainOptions o;
        o.steps = 2;
        auto coarse = explain(e, Method::IntegratedGradients, x.data(), 24, t, o);
        o.steps = 128;
        o.batch = 32;
        auto fine = explain(e, Method::IntegratedGradients, x.data(), 24, t, o);
        QVERIFY(!std::isnan(fine.completenessError));
        QVERIFY2(fine.completenessError <= coarse.completenessError + 1e-6,
                 qPrintable(QString("%1 vs %2").arg(fine.completenessError).arg(coarse.completenessError)));
        QVERIFY2(fine.completenessError <= 2e-3 * std::max(1.0, std::abs(fine.output)),
                 qPrintable(QString::number(fine.completenessError)));
    }

    void occlusionByHand() {
        // f(x) = w . flatten_NHWC(x) + b on a 3 x 4 x 4 image; 2 x 2 windows, stride 2.
        torch::manual_seed(8);
        auto g = std::make_shared<nn::Graph>();
        int f = g->addNode("flat", "Flatten", {0}, std::make_shared<nn::Flatten>());
        auto lin = dense(48, 1);
        g->addNode("out", "Dense", {f}, lin);
        auto e = wrap(g, 4);
        const auto x = image(4, 9);
        ExplainOptions o;
        o.patch = 2;
        o.stride = 2;
        auto a = explain(e, Method::Occlusion, x.data(), 4, Target{}, o);
        auto w = lin->weight[0];
        for (int y = 0; y < 4; ++y)
            for (int xx = 0; xx < 4; ++xx) {
                double drop = 0;  // the window containing (y, xx)
                for (int c = 0; c < 3; ++c)
                    for (int yy = (y / 2) * 2; yy < (y / 2) * 2 + 2; ++yy)
                        for (int xw = (xx / 2) * 2; xw < (xx / 2) * 2 + 2; ++xw)
                            drop += w[(yy * 4 + xw) * 3 + c].item<double>() * x[size_t(c * 16 + yy * 4 + xw)];
                QVERIFY(std::abs(a.map[size_t(y * 4 + xx)] - drop) < 1e-5);
            }
        // Overlapping windows (stride 1): the mean drop of the windows covering the pixel.
        o.stride = 1;
        auto b = explain(e, Method::Occlusion, x.data(), 4, Target{}, o);
        auto windowDrop = [&](int y0, int x0) {
            double d = 0;
            for (int c = 0; c < 3; ++c)
                for (int yy = y0; yy < y0 + 2; ++yy)
                    for (int xw = x0; xw < x0 + 2; ++xw) d += w[(yy * 4 + xw) * 3 + c].item<double>() * x[size_t(c * 16 + yy * 4 + xw)];
            return d;
        };
        // pixel (0, 0) is covered by the window at (0, 0) only; (1, 1) by 4 windows.
        QVERIFY(std::abs(b.map[0] - windowDrop(0, 0)) < 1e-5);
        const double m11 = (windowDrop(0, 0) + windowDrop(0, 1) + windowDrop(1, 0) + windowDrop(1, 1)) / 4;
        QVERIFY(std::abs(b.map[5] - m11) < 1e-5);
    }

    void saliencySmoothGradGradCam() {
        torch::manual_seed(12);
        auto e = wrap(reluNet());
        const auto x = image(16, 13);
        Target t;
        t.index = 1;
        auto sal = explain(e, Method::Saliency, x.data(), 16, t);
        auto gxi = explain(e, Method::GradientInput, x.data(), 16, t);
        for (size_t i = 0; i < sal.perChannel.size(); ++i) {
            QVERIFY(sal.perChannel[i] >= 0);
            if (std::abs(x[i]) > 1e-3)  // |g| from GxI / x: an independent route to the gradient
                QVERIFY(std::abs(sal.perChannel[i] - std::abs(gxi.perChannel[i] / x[i])) < 1e-3);
        }
        ExplainOptions o;
        o.noise = 0;
        o.samples = 3;
        auto sg0 = explain(e, Method::SmoothGrad, x.data(), 16, t, o);
        for (size_t i = 0; i < sal.perChannel.size(); ++i) QVERIFY(std::abs(sg0.perChannel[i] - sal.perChannel[i]) < 1e-5);
        o.noise = 0.2;
        auto sg = explain(e, Method::SmoothGrad, x.data(), 16, t, o);
        double d = 0;
        for (size_t i = 0; i < sal.perChannel.size(); ++i) d += std::abs(sg.perChannel[i] - sal.perChannel[i]);
        QVERIFY(d > 1e-4);  // the noise changes the average
        o.layer = "r1";
        auto cam = explain(e, Method::GradCam, x.data(), 16, t, o);
        QCOMPARE(cam.height, 16);
        QVERIFY(*std::min_element(cam.map.begin(), cam.map.end()) >= 0);
        o.layer = "no_such_layer";
        QVERIFY_THROWS_EXCEPTION(Error, explain(e, Method::GradCam, x.data(), 16, t, o));
    }

    /// methodIsSigned (the one table the window, the Pruning view's comparison and the report
    /// draw with) agrees with the maps: a method drawn as a magnitude never gives a negative
    /// value, and every method drawn signed does give negative values on this network.
    void signedMethodsAreTheOnesWithNegativeValues() {
        torch::manual_seed(21);
        auto e = wrap(reluNet());
        const auto x = image(16, 5);
        Target t;
        t.index = 0;
        ExplainOptions o;
        o.layer = "r1";
        o.samples = 4;
        o.steps = 8;
        o.patch = 4;
        o.stride = 2;
        for (const Method m : allMethods()) {
            const auto a = explain(e, m, x.data(), 16, t, o);
            const float lo = *std::min_element(a.map.begin(), a.map.end());
            QVERIFY2(methodIsSigned(m) ? lo < 0 : lo >= 0,
                     qPrintable(QStringLiteral("%1: smallest value %2").arg(QString::fromUtf8(methodTitle(m))).arg(lo)));
        }
        QCOMPARE(allMethods().size(), size_t(7));
    }

    // ---------------------------------------------------------------------- metrics
    void metricHelpers() {
        QCOMPARE(trapezoidAuc({1, 1, 1}), 1.0);
        QCOMPARE(trapezoidAuc({0, 1}), 0.5);
        QCOMPARE(trapezoidAuc({0, 1, 0}), 0.5);
        QVERIFY(std::abs(pearson({1, 2, 3}, {2, 4, 6}) - 1) < 1e-12);
        QVERIFY(std::abs(pearson({1, 2, 3}, {3, 2, 1}) + 1) < 1e-12);
        QVERIFY(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));  // constant: undefined
        QVERIFY(std::abs(spearman({1, 2, 3, 4}, {1, 8, 27, 64}) - 1) < 1e-12);
        QVERIFY(std::abs(spearman({1, 2, 2, 3}, {1, 2, 3, 4}) - 4.5 / std::sqrt(22.5)) < 1e-12);
    }

    void deletionInsertionFlippingByHand() {
        // 1-channel 4 x 4 image; logits [s, 0] with s = sum of the left half.
        const ImageGeometry g{1, 4, 4};
        BatchModel f = [](const float* x, int n) {
            std::vector<float> z;
            for (int i = 0; i < n; ++i) {
                float s = 0;
                for (int y = 0; y < 4; ++y)
                    for (int c = 0; c < 2; ++c) s += x[i * 16 + y * 4 + c];
                z.push_back(s);
                z.push_back(0);
            }
            return z;
        };
        std::vector<float> x(16, 1.f);
        std::vector<float> good(16, 0.f), bad(16, 0.f);
        for (int y = 0; y < 4; ++y)
            for (int c = 0; c < 4; ++c) {
                good[size_t(y * 4 + c)] = c < 2 ? 1.f : 0.f;
                bad[size_t(y * 4 + c)] = c < 2 ? 0.f : 1.f;
            }
        FaithfulnessOptions o;
        o.cell = 2;
        o.steps = 4;
        auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
        auto dg = deletionCurve(f, 2, x.data(), g, 0, good, o, false);
        auto db = deletionCurve(f, 2, x.data(), g, 0, bad, o, false);
        const std::vector<double> eg{sig(8), sig(4), sig(0), sig(0), sig(0)}, eb{sig(8), sig(8), sig(8), sig(4), sig(0)};
        QCOMPARE(dg.size(), size_t(5));
        for (size_t i = 0; i < 5; ++i) {
            QVERIFY(std::abs(dg[i] - eg[i]) < 1e-6);
            QVERIFY(std::abs(db[i] - eb[i]) < 1e-6);
        }
        QVERIFY(trapezoidAuc(dg) < trapezoidAuc(db));
        // Insertion from a blurred copy of an image whose evidence is on the left.
        std::vector<float> xl(16, 0.f);
        for (int y = 0; y < 4; ++y) xl[size_t(y * 4)] = xl[size_t(y * 4 + 1)] = 1.f;
        auto ig = deletionCurve(f, 2, xl.data(), g, 0, good, o, true);
        auto ib = deletionCurve(f, 2, xl.data(), g, 0, bad, o, true);
        QVERIFY(std::abs(ig.back() - sig(8)) < 1e-6);  // everything inserted = the original
        QVERIFY(ig.front() < ig.back());                // the blurred start has less evidence
        QVERIFY(trapezoidAuc(ig) > trapezoidAuc(ib));
        // Pixel flipping: one pixel per step, removed pixels set to the minimum (0).
        std::vector<float> xm(16, 1.f);
        xm[15] = 0.f;
        o.steps = 16;
        auto pf = pixelFlippingCurve(f, 2, xm.data(), g, 0, good, o);
        QCOMPARE(pf.size(), size_t(17));
        for (int k = 0; k <= 8; ++k) QVERIFY(std::abs(pf[size_t(k)] - (8 - k)) < 1e-6);
        QVERIFY(std::abs(trapezoidAuc(pf) - (32.0 / 16.0)) < 1e-9);  // triangle of height 8 over half the axis
    }

    void faithfulnessCorrelationByHand() {
        // Linear model: the exact attribution w * x (minimum 0) correlates perfectly.
        const ImageGeometry g{1, 8, 8};
        std::mt19937 rng(3);
        std::normal_distribution<float> nd;
        std::vector<float> w(64), x(64), exact(64), noise(64);
        for (size_t i = 0; i < 64; ++i) {
            w[i] = nd(rng);
            x[i] = std::abs(nd(rng));
            exact[i] = w[i] * x[i];
            noise[i] = nd(rng);
        }
        x[0] = 0;
        exact[0] = 0;
        BatchModel f = [w](const float* xs, int n) {
            std::vector<float> z;
            for (int i = 0; i < n; ++i) {
                double s = 0;
                for (size_t k = 0; k < 64; ++k) s += w[k] * xs[size_t(i) * 64 + k];
                z.push_back(float(s));
            }
            return z;
        };
        FaithfulnessOptions o;
        o.subsetSize = 6;
        QVERIFY(std::abs(faithfulnessCorrelation(f, 1, x.data(), g, 0, exact, o) - 1) < 1e-5);
        QVERIFY(faithfulnessCorrelation(f, 1, x.data(), g, 0, noise, o) < 0.8);
    }

    void randomisationFlagsAnEdgeDetector() {
        torch::manual_seed(14);
        auto e = wrap(reluNet());
        const auto x = image(16, 15);
        const auto before = e.logits(x.data(), 1, 16);
        ExplainFn edges = [](const Explainer&, const float* xx, int size, const Target&) {
            cv::Mat gray(size, size, CV_32F, cv::Scalar(0));
            for (int c = 0; c < 3; ++c) gray += cv::Mat(size, size, CV_32F, const_cast<float*>(xx + c * size * size));
            cv::Mat gx, gy, mag;
            cv::Sobel(gray, gx, CV_32F, 1, 0);
            cv::Sobel(gray, gy, CV_32F, 0, 1);
            cv::magnitude(gx, gy, mag);
            Attribution a;
            a.height = a.width = size;
            a.map.assign(mag.begin<float>(), mag.end<float>());
            return a;
        };
        auto re = randomisationCheck(e, edges, x.data(), 16, Target{}, 1);
        QVERIFY(!re.passed);
        for (double r : re.spearman) QVERIFY(std::abs(r - 1) < 1e-9);
        ExplainFn sal = [](const Explainer& ex, const float* xx, int size, const Target& t) {
            return explain(ex, Method::Saliency, xx, size, t);
        };
        auto rs = randomisationCheck(e, sal, x.data(), 16, Target{}, 1);
        qInfo("saliency randomisation spearman: %s",
              qPrintable(QString::number(rs.spearman.front()) + " -> " + QString::number(rs.spearman.back())));
        QVERIFY(rs.spearman.back() < re.spearman.back() - 0.3);
        // The trunk is restored.
        const auto after = e.logits(x.data(), 1, 16);
        for (size_t i = 0; i < before.size(); ++i) QCOMPARE(after[i], before[i]);
    }


    // ------------------------------------------------------------------ TorchScript
    void torchScriptGraphsAreExact() {
        torch::manual_seed(31);
        torch::jit::Module m("Net");
        auto P = [&](const char* n, torch::Tensor v) { m.register_parameter(n, v, false); };
        P("w1", rnd({6, 3, 3, 3}, 0.3));
        P("b1", rnd({6}, 0.2));
        P("g", 1 + rnd({6}, 0.2));
        P("be", rnd({6}, 0.2));
        m.register_buffer("mu", rnd({6}, 0.2));
        m.register_buffer("var", 0.5 + torch::rand({6}));
        P("w2", rnd({6, 1, 3, 3}, 0.3));
        P("w3", rnd({6, 12, 1, 1}, 0.3));
        P("lg", 1 + rnd({6}, 0.1));
        P("lb", rnd({6}, 0.1));
        P("wq", rnd({6, 4}, 0.5));
        P("wl", rnd({5, 6}, 0.4));
        P("bl", rnd({5}, 0.2));
        P("bm", rnd({5}, 0.2));
        P("wm", rnd({5, 5}, 0.4));
        m.define(R"JIT(
def forward(self, x):
    y = torch.conv2d(x, self.w1, self.b1, [2, 2], [1, 1], [1, 1], 1)
    y = torch.batch_norm(y, self.g, self.be, self.mu, self.var, False, 0.1, 1e-3, False)
    y = torch.relu(y)
    d = torch.conv2d(y, self.w2, None, [1, 1], [1, 1], [1, 1], 6)
    d = torch.clamp(d, 0.0, 0.2)
    y = y + d
    y = torch.gelu(y)
    c = torch.cat([y, torch.silu(d)], 1)
    y = torch.conv2d(c, self.w3, None, [1, 1], [0, 0], [1, 1], 1)
    y = torch.max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], False)
    p = torch.adaptive_avg_pool2d(y, [1, 1])
    h = torch.flatten(p, 1)
    h = torch.layer_norm(h, [6], self.lg, self.lb, 1e-5, False)
    a = torch.softmax(torch.matmul(h, self.wq), 1)
    h = h * torch.sum(a, 1, True) * 2.0
    h = torch.linear(h, self.wl, self.bl)
    h = torch.addmm(self.bm, h, self.wm, beta=1.0, alpha=1.0)
    return h
)JIT");
        auto x = torch::rand({1, 3, 16, 16});
        for (int c = 0; c < 5; ++c) {
            auto a = explainScriptModule(m, x, c);
            QVERIFY2(relErr(a) <= 1e-4, qPrintable(QString("output %1: %2 (z %3 w %4 b %5)").arg(c).arg(relErr(a))
                                                       .arg(a.output).arg(a.weightSum).arg(a.biasSum)));
            double bm = 0;
            for (float v : a.biasMap) bm += v;
            QVERIFY(std::abs(bm - a.biasSum) <= 1e-4 * std::max(1.0, std::abs(a.biasSum)));
        }
        // Pure ReLU / BN / pool script: C_w equals Gradient x Input.
        torch::jit::Module r("Relu");
        r.register_parameter("w", rnd({4, 3, 3, 3}, 0.3), false);
        r.register_parameter("b", rnd({4}, 0.2), false);
        r.register_parameter("wl", rnd({2, 4}, 0.5), false);
        r.define(R"JIT(
def forward(self, x):
    y = torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))
    y = torch.max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], False)
    return torch.linear(torch.flatten(torch.adaptive_avg_pool2d(y, [1, 1]), 1), self.wl, None)
)JIT");
        auto xr = torch::rand({1, 3, 8, 8});
        auto o = explainScriptModule(r, xr, 1);
        QVERIFY(relErr(o) <= 1e-4);
        auto xg = xr.clone().requires_grad_(true);
        auto z = r.forward({xg}).toTensor()[0][1];
        auto gxi = (torch::autograd::grad({z}, {xg})[0] * xr).contiguous();
        for (int64_t i = 0; i < gxi.numel(); ++i) QVERIFY(std::abs(o.perChannel[size_t(i)] - gxi.data_ptr<float>()[i]) < 1e-5);
        // The public entry point on a saved file agrees with the module's own output.
        const QString pt = QDir::temp().filePath(QString("omenn-%1.pt").arg(QCoreApplication::applicationPid()));
        r.save(pt.toStdString());
        auto xr3 = xr.contiguous();
        const std::vector<float> xv(xr3.data_ptr<float>(), xr3.data_ptr<float>() + xr3.numel());
        const auto outs = torchScriptOutputs(pt.toStdString(), xv.data(), 3, 8, 8);
        QCOMPARE(int(outs.size()), 2);
        auto of = explainTorchScript(pt.toStdString(), xv.data(), 3, 8, 8, 1);
        QVERIFY(std::abs(of.output - outs[1]) < 1e-6);
        QVERIFY(relErr(of) <= 1e-4);
        QFile::remove(pt);
        QVERIFY_THROWS_EXCEPTION(Error, explainTorchScript(pt.toStdString() + ".missing", xv.data(), 3, 8, 8, 0));
        // An unsupported op is named.
        torch::jit::Module u("Sig");
        u.register_parameter("w", rnd({2, 3 * 4 * 4}, 0.3), false);
        u.define(R"JIT(
def forward(self, x):
    return torch.linear(torch.sigmoid(torch.flatten(x, 1)), self.w, None)
)JIT");
        try {
            explainScriptModule(u, torch::rand({1, 3, 4, 4}), 0);
            QFAIL("sigmoid must be refused");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("aten::sigmoid"), e.what());
        }
    }

    /// TorchScript outputs are checked (issue 17, cases 10 and 11): a classifier must return
    /// floating-point logits [1, classes], all finite; a module that raises gives one line. A
    /// TorchScript backbone recorded in a head loads only from a file named by the user, and
    /// only when its bytes hash to the record (case 2).
    void torchScriptOutputsAndRecordedBackbone() {
        const std::string dir =
            QDir::temp().filePath(QString("pqw-ts-%1").arg(QCoreApplication::applicationPid())).toStdString();
        std::filesystem::create_directories(dir);
        const std::vector<float> x(3 * 4 * 4, 0.5f);
        auto save = [&](const std::string& name, const char* body) {
            torch::jit::Module m("M");
            m.define(body);
            const std::string p = dir + "/" + name + ".pt";
            m.save(p);
            return p;
        };
        struct Case {
            const char* name;
            const char* body;
            const char* expect;
        };
        const Case cases[] = {
            {"four_d", "def forward(self, x):\n    return x\n", "returned shape [1, 3, 4, 4]; a classifier's logits [1, classes] are needed"},
            {"one_d", "def forward(self, x):\n    return torch.flatten(x)\n", "returned shape [48]"},
            {"tuple", "def forward(self, x):\n    return (x, x)\n", "must return a tensor of logits [1, classes], not Tuple"},
            {"ints", "def forward(self, x):\n    return torch.flatten(x, 1).long()\n", "returned Long values"},
            {"nan", "def forward(self, x):\n    return torch.flatten(x, 1) * float('nan')\n", "returned NaN or infinite logits"},
            {"raises", "def forward(self, x):\n    return torch.mm(torch.flatten(x, 1), torch.flatten(x, 1))\n", "fails on a 3x4x4 input: "},
        };
        for (const auto& c : cases) {
            const std::string p = save(c.name, c.body);
            std::string msg = "<no error>";
            try {
                torchScriptOutputs(p, x.data(), 3, 4, 4);
            } catch (const Error& e) {
                msg = e.what();
            }
            QVERIFY2(msg.find(p + ": ") == 0 && msg.find(c.expect) != std::string::npos && msg.find('\n') == std::string::npos,
                     (std::string(c.name) + ": " + msg).c_str());
        }
        // A recorded TorchScript backbone.
        torch::manual_seed(5);
        torch::jit::Module t("Trunk");
        t.register_parameter("w", rnd({4, 3, 3, 3}, 0.3), false);
        t.define("def forward(self, x):\n    return torch.relu(torch.conv2d(x, self.w, None, [2, 2], [1, 1], [1, 1], 1))\n");
        const std::string trunk = dir + "/trunk.pt", other = dir + "/other.pt";
        t.save(trunk);
        t.register_parameter("w", rnd({4, 3, 3, 3}, 0.3), false);
        t.save(other);
        BackboneSpec spec;
        spec.kind = "torchscript";
        spec.path = trunk;
        const std::string id = Backbone::open(spec).id();
        auto err = [&](auto&& fn) {
            try {
                fn();
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("<no error>");
        };
        std::string msg = err([&] { openRecordedBackbone(spec, id, "head.pqwh"); });
        QVERIFY2(msg.find("head.pqwh: its backbone is a TorchScript program") == 0, msg.c_str());
        QCOMPARE(openRecordedBackbone(spec, id, "head.pqwh", trunk).id(), id);
        msg = err([&] { openRecordedBackbone(spec, id, "head.pqwh", other); });
        QVERIFY2(msg.find("other.pt: is not the backbone head.pqwh was made with") != std::string::npos, msg.c_str());
        std::filesystem::remove_all(dir);
    }

    void torchScriptTrunkWithProtoQuantHead() {
        // A TorchScript trunk (conv-BN-ReLU-conv-GELU, stride 4) opened as a backbone, under a
        // ProtoQuant model: OMENN walks the module's aten ops into the head, exactly.
        torch::manual_seed(41);
        torch::jit::Module t("Trunk");
        t.register_parameter("w1", rnd({8, 3, 3, 3}, 0.3), false);
        t.register_parameter("b1", rnd({8}, 0.2), false);
        t.register_parameter("g", 1 + rnd({8}, 0.2), false);
        t.register_parameter("be", rnd({8}, 0.2), false);
        t.register_buffer("mu", rnd({8}, 0.2));
        t.register_buffer("var", 0.5 + torch::rand({8}));
        t.register_parameter("w2", rnd({6, 8, 3, 3}, 0.3), false);
        t.register_parameter("b2", rnd({6}, 0.2), false);
        t.define(R"JIT(
def forward(self, x):
    y = torch.conv2d(x, self.w1, self.b1, [2, 2], [1, 1], [1, 1], 1)
    y = torch.batch_norm(y, self.g, self.be, self.mu, self.var, False, 0.1, 1e-5, False)
    y = torch.relu(y)
    return torch.gelu(torch.conv2d(y, self.w2, self.b2, [2, 2], [1, 1], [1, 1], 1))
)JIT");
        const QString pt = QDir::temp().filePath(QString("omenn-trunk-%1.pt").arg(QCoreApplication::applicationPid()));
        t.save(pt.toStdString());
        BackboneSpec spec;
        spec.kind = "torchscript";
        spec.path = pt.toStdString();
        auto bb = Backbone::open(spec);
        QFile::remove(pt);
        const int S = 24;
        const auto x = image(S, 42);
        torch::Tensor f;
        {
            torch::NoGradGuard ng;
            f = t.forward({torch::from_blob(const_cast<float*>(x.data()), {1, 3, S, S}).clone()}).toTensor();
        }
        QCOMPARE(f.sizes().vec(), (std::vector<int64_t>{1, 6, 6, 6}));
        pqw::ProtoModel pm;
        auto& pi = pm.impl();
        pi.backboneId = bb.id();
        pi.shape = {6, 6, 6};
        pi.inputSize = S;
        pi.classes = {"a", "b", "c", "d"};
        pi.stage0 = true;
        pi.lnWeight = 1 + rnd({6}, 0.1);
        pi.lnBias = rnd({6}, 0.1);
        pi.fcWeight = rnd({4, 6}, 0.3);
        pi.fcBias = rnd({4}, 0.1);
        auto cells = f.flatten(2)[0].t();
        pi.codes = (cells.index_select(0, torch::tensor({0L, 7L, 20L, 33L, 35L})) + rnd({5, 6}, 0.1)).contiguous();
        pi.W = rnd({4, 5});
        pi.enabled.assign(5, 1);
        pi.tau = 0.1;
        for (auto head : {ExplainHead::Stage0, ExplainHead::Interpretable}) {
            auto e = Explainer::fromModel(pm, bb, head);
            // The real model is the module's forward composed with the head.
            const auto z = e.logits(x.data(), 1, S);
            torch::Tensor ref;
            {
                torch::NoGradGuard ng;
                ref = head == ExplainHead::Stage0
                          ? pqw::pq::stage0Logits(pi, f.mean({2, 3}))
                          : pqw::pq::headForward(pi, f.flatten(2).transpose(1, 2)).logits;
            }
            for (int c = 0; c < 4; ++c) QVERIFY(std::abs(z[size_t(c)] - ref[0][c].item<float>()) < 1e-5);
            QVERIFY2(checkAllOutputs(e, x, S) <= 1e-4, head == ExplainHead::Stage0 ? "stage0" : "interpretable");
        }
        auto e = Explainer::fromModel(pm, bb, ExplainHead::Interpretable);
        for (int p = 0; p < 5; ++p) {
            Target tp;
            tp.kind = Target::Kind::Presence;
            tp.index = p;
            auto a = explain(e, Method::Omenn, x.data(), S, tp);
            QVERIFY2(relErr(a) <= 1e-4, qPrintable(QString("presence %1: %2").arg(p).arg(relErr(a))));
        }
        // The decision composes exactly: logit = sum of shares; each map sums to its share.
        auto dec = explainDecision(e, x.data(), S, 1, 2);
        double total = 0;
        for (const auto& s : dec.shares) total += s.share;
        QVERIFY(std::abs(total - dec.logit) <= 1e-5 * std::max(1.0, std::abs(dec.logit)));
        for (size_t i = 0; i < std::min<size_t>(2, dec.shares.size()); ++i) {
            const auto& s = dec.shares[i];
            QVERIFY(std::abs(s.map.weightSum + s.map.biasSum - s.share) <= 1e-4 * std::max(1.0, double(s.share)));
        }
        // Gradient baselines run through the module; layer-based ones say why they cannot.
        Target t0;
        auto g = explain(e, Method::GradientInput, x.data(), S, t0);
        QCOMPARE(int(g.perChannel.size()), 3 * S * S);
        try {
            explain(e, Method::GradCam, x.data(), S, t0);
            QFAIL("Grad-CAM needs a layer graph");
        } catch (const Error& err) {
            QVERIFY2(QString(err.what()).contains("TorchScript"), err.what());
        }
    }

    // -------------------------------------------------------------------- rendering
    void heatmapRendering() {
        HeatmapOptions o;
        o.percentile = 100;
        o.alpha = 1;
        o.smooth = false;
        o.width = 6;
        o.height = 2;
        auto m = renderHeatmap({-1.f, 0.f, 1.f}, 1, 3, o);
        QCOMPARE(m.type(), CV_8UC4);
        QCOMPARE(m.cols, 6);
        QCOMPARE(m.rows, 2);
        QVERIFY(m.at<cv::Vec4b>(0, 0) == cv::Vec4b(0, 0, 255, 255));     // negative: blue, opaque
        QVERIFY(m.at<cv::Vec4b>(1, 3) == cv::Vec4b(255, 255, 255, 0));   // zero: white, transparent
        QVERIFY(m.at<cv::Vec4b>(0, 5) == cv::Vec4b(255, 0, 0, 255));     // positive: red
        o.signedMap = false;
        o.colormap = "gray";
        auto a = renderHeatmap({-1.f, 0.f, 1.f}, 1, 3, o);
        QVERIFY(a.at<cv::Vec4b>(0, 0) == a.at<cv::Vec4b>(0, 5));  // absolute: the sign is gone
        // Symmetric percentile clipping: the outlier does not wash out the rest.
        std::vector<float> v(100, 0.1f);
        v[0] = 10.f;
        QVERIFY(std::abs(heatmapClip(v, 50) - 0.1) < 1e-6);
        QVERIFY(std::abs(heatmapClip(v, 100) - 10) < 1e-6);
        o.percentile = 50;
        o.width = o.height = 0;
        auto c = renderHeatmap(v, 10, 10, o);
        QCOMPARE(int(c.at<cv::Vec4b>(5, 5)[3]), 255);
        o.colormap = "rainbow-unicorn";
        QVERIFY_THROWS_EXCEPTION(Error, renderHeatmap(v, 10, 10, o));
        QVERIFY_THROWS_EXCEPTION(Error, renderHeatmap(v, 9, 10, HeatmapOptions{}));
        // Smooth upsampling interpolates; blending an opaque red over black gives red.
        HeatmapOptions s;
        s.percentile = 100;
        s.width = 4;
        s.height = 1;
        auto sm = renderHeatmap({0.f, 1.f}, 1, 2, s);
        QVERIFY(sm.at<cv::Vec4b>(0, 1)[3] < sm.at<cv::Vec4b>(0, 3)[3]);
        cv::Mat black(1, 4, CV_8UC3, cv::Scalar(0, 0, 0));
        s.alpha = 1;
        auto bl = blendOverlay(black, renderHeatmap({1.f, 1.f}, 1, 2, s));
        QVERIFY(bl.at<cv::Vec3b>(0, 0) == cv::Vec3b(255, 0, 0));
    }
};

QTEST_GUILESS_MAIN(TestOmenn)
#include "test_omenn.moc"
