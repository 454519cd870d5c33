// Explainer::fromCnn: a pruning-family CNN (LeNet with its NCHW flatten, a residual net with
// BatchNorm and residual adds), dense and pruned (unstructured masks, structurally removed
// channels), explained with OMENN. Checks: the explainer's logits equal the CNN's own forward
// (an independent computation: cnn_impl's plain-torch DAG), OMENN is exact for every class
// (sum C_w + sum C_b == logit, relative 1e-4), the baselines run on gray 1-channel inputs and
// Grad-CAM finds the last spatial layer by default; bad class names are refused.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <cmath>

#include "pqw/error.h"
#include "pqw/omenn.h"
#include "pqw/pruning.h"
#include "pruning/cnn_impl.h"

using namespace pqw;

namespace {

CnnModel make(const std::string& arch, int width, int channels, int size, int classes, uint64_t seed) {
    CnnSpec s;
    s.arch = arch;
    s.width = width;
    s.depth = 1;
    s.inChannels = channels;
    s.inputSize = size;
    s.classes = classes;
    auto m = CnnModel::create(s, seed);
    // BatchNorm as after training: non-trivial statistics and affine parameters.
    torch::NoGradGuard ng;
    torch::manual_seed(int64_t(seed));
    for (auto& n : m.impl().nodes)
        if (n.op == cnn::Op::BN) {
            const int64_t c = n.w.size(0);
            n.w.copy_(1 + 0.2 * torch::randn({c}));
            n.b.copy_(0.3 * torch::randn({c}));
            n.rm.copy_(0.3 * torch::randn({c}));
            n.rv.copy_(0.5 + torch::rand({c}));
        }
    return m;
}

std::vector<float> input(const CnnModel& m, uint64_t seed) {
    torch::manual_seed(int64_t(seed));
    auto x = torch::randn({m.spec().inChannels, m.spec().inputSize, m.spec().inputSize}).contiguous();
    return {x.data_ptr<float>(), x.data_ptr<float>() + x.numel()};
}

/// Logits from the CNN's own forward (not the converted graph).
std::vector<double> ownLogits(const CnnModel& m, const std::vector<float>& x) {
    torch::NoGradGuard ng;
    const auto& s = m.spec();
    auto t = torch::from_blob(const_cast<float*>(x.data()), {1, s.inChannels, s.inputSize, s.inputSize}).clone();
    auto z = m.impl().forward(t)[0].to(torch::kDouble).contiguous();
    return {z.data_ptr<double>(), z.data_ptr<double>() + z.numel()};
}

/// Explainer logits == own forward; OMENN exact for every class. Returns the worst relative error.
double checkExact(const CnnModel& m, uint64_t seed) {
    const auto e = Explainer::fromCnn(m);
    const int S = m.spec().inputSize;
    const auto x = input(m, seed);
    const auto ref = ownLogits(m, x);
    const auto z = e.logits(x.data(), 1, S);
    if (int(z.size()) != m.spec().classes || e.numOutputs() != m.spec().classes) {
        QTest::qFail("wrong output count", __FILE__, __LINE__);
        return 1;
    }
    double worst = 0;
    for (size_t c = 0; c < ref.size(); ++c) {
        const double scale = std::max(std::abs(ref[c]), 0.1);
        if (std::abs(double(z[c]) - ref[c]) > 1e-4 * scale) {
            QTest::qFail(qPrintable(QStringLiteral("class %1: explainer logit %2, CNN logit %3").arg(c).arg(z[c]).arg(ref[c])),
                         __FILE__, __LINE__);
            return 1;
        }
        Target t;
        t.index = int(c);
        const auto a = explain(e, Method::Omenn, x.data(), S, t);
        if (a.height != S || a.width != S || a.channels != m.spec().inChannels) {
            QTest::qFail("wrong map shape", __FILE__, __LINE__);
            return 1;
        }
        // Against the independent logit, not just the explainer's own output.
        worst = std::max(worst, std::abs(a.weightSum + a.biasSum - ref[c]) / scale);
        worst = std::max(worst, std::abs(a.output - ref[c]) / scale);
    }
    return worst;
}

int64_t channels(const CnnModel& m) { return m.cost().channels; }

}  // namespace

class TestCnnExplain : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(1); }

    void lenetDenseAndPruned() {
        auto m = make("lenet", 3, 1, 16, 3, 1);
        QVERIFY(checkExact(m, 7) < 1e-4);
        // Unstructured: 70 % of the weights masked.
        auto u = m;
        pruneTo(u, 0.7, PruneModality::Unstructured, PruneCriterion::Magnitude, nullptr);
        QVERIFY(u.cost().nonzeroPrunable < m.cost().nonzeroPrunable / 2);
        QVERIFY(checkExact(u, 8) < 1e-4);
        // Structured: half the channels of conv1, conv2, fc1, fc2 physically removed (fc1's
        // input columns follow conv2's removed channels through the flatten).
        auto s = m;
        pruneTo(s, 0.5, PruneModality::Structured, PruneCriterion::L1, nullptr);
        QVERIFY(channels(s) < channels(m));
        QVERIFY(s.cost().params < m.cost().params);
        QVERIFY(checkExact(s, 9) < 1e-4);
        // The pruned model explains differently: its logits differ from the dense model's.
        const auto x = input(m, 9);
        QVERIFY(ownLogits(m, x) != ownLogits(s, x));
    }

    void resnetDenseAndPruned() {
        auto m = make("resnet", 4, 3, 12, 4, 2);
        QVERIFY(checkExact(m, 11) < 1e-4);
        auto s = m;
        pruneTo(s, 0.5, PruneModality::Structured, PruneCriterion::L2, nullptr);
        QVERIFY(channels(s) < channels(m));
        QVERIFY(checkExact(s, 12) < 1e-4);
    }

    void baselinesOnGrayInput() {
        auto m = make("lenet", 2, 1, 12, 3, 3);
        const auto e = Explainer::fromCnn(m, {"a", "b", "c"});
        QCOMPARE(e.inputChannels(), 1);
        QCOMPARE(e.inputSize(), 12);
        QCOMPARE(e.classNames(), (std::vector<std::string>{"a", "b", "c"}));
        const auto x = input(m, 5);
        Target t;
        t.index = 1;
        ExplainOptions o;
        o.steps = 8;
        o.samples = 4;
        o.patch = 4;
        o.stride = 4;
        for (Method mt : {Method::Saliency, Method::GradientInput, Method::IntegratedGradients, Method::SmoothGrad,
                          Method::GradCam, Method::Occlusion}) {
            const auto a = explain(e, mt, x.data(), 12, t, o);
            QCOMPARE(a.height, 12);
            QCOMPARE(a.width, 12);
            QCOMPARE(int(a.map.size()), 144);
            for (float v : a.map) QVERIFY(std::isfinite(v));
            QVERIFY(std::abs(a.output - ownLogits(m, x)[1]) < 1e-4 * std::max(1.0, std::abs(a.output)));
        }
        // Grad-CAM on a named layer that is not spatial is refused with its name.
        o.layer = "fc1";
        QVERIFY_THROWS_EXCEPTION(Error, explain(e, Method::GradCam, x.data(), 12, t, o));
    }

    void badClassNames() {
        auto m = make("lenet", 2, 1, 12, 3, 4);
        QVERIFY_THROWS_EXCEPTION(Error, Explainer::fromCnn(m, {"only", "two"}));
    }
};

QTEST_GUILESS_MAIN(TestCnnExplain)
#include "test_cnn_explain.moc"
