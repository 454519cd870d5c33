// Pruning of the model kinds beyond the CNN family: a classifier on cached trunk features
// (feature-mlp / feature-conv), the ProtoQuant codebook (prototypes by usage) and class
// weights, and TorchScript modules; plus a sweep over a ProtoQuant kind. For each: the steps
// sum to the target, masked weights stay exactly zero through fine-tuning, the reported
// sparsity equals the counted zeros, and the pruned model saves, loads and predicts the same.
#include <QtTest/QtTest>

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"
#include "pqw/util.h"
#include "protoquant/model_impl.h"
#include "pruning/cnn_impl.h"
#include "synthetic_cache.h"

namespace fs = std::filesystem;
using namespace synth;
using pqw::Error;

namespace {

double sumOf(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
}

/// Zeros among conv / linear weights of a CnnModel, and their count.
std::pair<int64_t, int64_t> cnnZeros(const pqw::CnnModel& m) {
    int64_t z = 0, n = 0;
    for (const auto& node : m.impl().nodes)
        if (node.prunesWeight()) {
            z += (node.w == 0).sum().item<int64_t>();
            n += node.w.numel();
        }
    return {z, n};
}

torch::Tensor cnnLogits(const pqw::CnnModel& m, const pqw::ImageTensors& d) {
    torch::NoGradGuard ng;
    return m.impl().forward(d.impl()->x[2]);
}

pqw::PruneOptions options(pqw::PruneStrategy s, double target, int steps, pqw::PruneModality mod,
                          pqw::PruneCriterion crit, int epochs) {
    pqw::PruneOptions o;
    o.strategy = s;
    o.target = target;
    o.steps = steps;
    o.modality = mod;
    o.criterion = crit;
    o.fineTune.epochs = epochs;
    o.fineTune.lr = 1e-2;
    o.fineTune.momentum = 0.9;
    o.fineTune.batch = 32;
    o.latencyReps = 1;
    return o;
}

/// Every step's fraction sums to the target; the last step reports the target fraction.
void checkSteps(const std::vector<pqw::Event>& ev, double target) {
    QVERIFY(ev.size() >= 2);
    double sum = 0;
    for (size_t k = 1; k < ev.size(); ++k) sum += ev[k].value("step_fraction");
    QVERIFY(std::abs(sum - target) < 1e-9);
    QVERIFY(std::abs(ev.back().value("target_fraction") - target) < 1e-9);
    for (const auto& e : ev) {
        QVERIFY(e.values.count("val_top1") && e.values.count("test_top1") && e.values.count("params"));
        QVERIFY(e.texts.count("model_kind"));
    }
}

}  // namespace

class TestPruningKinds : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string cacheDir_;
    std::shared_ptr<pqw::FeatureCache> cache_;
    pqw::ProtoModel proto_;

    std::string path(const char* name) const { return (tmp_.path() + "/" + name).toStdString(); }

private Q_SLOTS:
    void initTestCase() {
        pqw::initTorchThreads(1);
        cacheDir_ = path("cache");
        writeSyntheticCache(cacheDir_, 300, 3);
        cache_ = std::make_shared<pqw::FeatureCache>(pqw::FeatureCache::open(cacheDir_));
        // A small ProtoQuant model on the cache: stage 0, 8 codes, interpretable head.
        pqw::JobContext ctx;
        proto_ = pqw::ProtoModel::forCache(*cache_);
        pqw::Stage0Options s0;
        s0.epochs = 20;
        s0.batchSize = 32;
        s0.lr = 1e-2;
        pqw::trainStage0(proto_, *cache_, s0, ctx);
        pqw::CodebookOptions s1;
        s1.codes = 8;
        s1.epochs = 5;
        s1.batchSize = 16;
        s1.lr = 5e-3;
        pqw::trainCodebook(proto_, *cache_, s1, ctx);
        pqw::HeadOptions s2;
        s2.epochs = 15;
        s2.batchSize = 16;
        s2.lr = 2e-2;
        pqw::trainHead(proto_, *cache_, s2, ctx);
    }

    // ------------------------------------------------------------------ feature heads
    void featureMlpUnstructured() {
        const auto data = pqw::ImageTensors::fromFeatureCache(*cache_);
        QCOMPARE(data.channels(), D);
        QCOMPARE(data.inputSize(), H);
        QCOMPARE(int(data.count(pqw::Split::Train)), 180);
        // The tensors are the cache's values (fp16 -> fp32), labels and splits.
        std::vector<float> f(size_t(D * H * W));
        const auto trainIds = cache_->indices(pqw::Split::Train);
        cache_->read(trainIds[5], f.data());
        QCOMPARE(data.impl()->x[0][5][2][1][1].item<float>(), f[size_t(2 * H * W + 1 * W + 1)]);
        QCOMPARE(data.impl()->y[0][5].item<int64_t>(), int64_t(cache_->label(trainIds[5])));
        QCOMPARE(int(pqw::ImageTensors::fromFeatureCache(*cache_, 50).count(pqw::Split::Train)), 50);

        pqw::CnnSpec spec;
        spec.arch = "feature-mlp";
        spec.width = 32;
        spec.depth = 2;
        spec.inChannels = D;
        spec.inputSize = H;
        spec.classes = NC;
        auto m = pqw::CnnModel::create(spec, 1);
        pqw::JobContext ctx;
        pqw::CnnTrainOptions t;
        t.epochs = 8;
        t.batch = 32;
        t.lr = 0.05;
        pqw::trainCnn(m, data, t, ctx);
        const double dense = pqw::evaluateCnn(m, data, pqw::Split::Test).top1;
        QVERIFY2(dense > 0.7, qPrintable(QString::number(dense)));  // chance: 1/3

        auto p = pqw::prunableCnn(m, data);
        QVERIFY(p->kind() == pqw::PruneModelKind::FeatureHead);
        const auto ev = pqw::pruneModel(
            *p, options(pqw::PruneStrategy::IterativeGeometric, 0.8, 3, pqw::PruneModality::Unstructured,
                        pqw::PruneCriterion::Magnitude, 2),
            ctx);
        checkSteps(ev, 0.8);
        QCOMPARE(QString::fromStdString(ev.back().texts.at("model_kind")), QString("feature-head"));
        const auto [zeros, n] = cnnZeros(m);
        QCOMPARE(zeros, int64_t(std::llround(0.8 * double(n))));
        QVERIFY(std::abs(ev.back().value("sparsity_prunable") - double(zeros) / double(n)) < 1e-12);
        // Masked weights are exactly the zeros (momentum and weight decay did not revive them).
        for (const auto& node : m.impl().nodes)
            if (node.prunesWeight()) QVERIFY(((node.mask == 0) == (node.w == 0)).all().item<bool>());
        QVERIFY2(ev.back().value("test_top1") > dense - 0.15, qPrintable(QString::number(ev.back().value("test_top1"))));
        // Save, load, same predictions.
        m.save(path("head.pqwcnn"));
        const auto back = pqw::CnnModel::load(path("head.pqwcnn"));
        QVERIFY(torch::equal(cnnLogits(m, data), cnnLogits(back, data)));
        QCOMPARE(back.spec().arch, std::string("feature-mlp"));
    }

    void featureConvStructured() {
        const auto data = pqw::ImageTensors::fromFeatureCache(*cache_);
        pqw::CnnSpec spec;
        spec.arch = "feature-conv";
        spec.width = 16;
        spec.depth = 1;
        spec.inChannels = D;
        spec.inputSize = H;
        spec.classes = NC;
        auto m = pqw::CnnModel::create(spec, 2);
        pqw::JobContext ctx;
        pqw::CnnTrainOptions t;
        t.epochs = 3;
        t.batch = 32;
        pqw::trainCnn(m, data, t, ctx);
        const auto before = m.cost();
        const auto ev = pqw::pruneModel(m, data,
                                        options(pqw::PruneStrategy::Iterative, 0.5, 2, pqw::PruneModality::Structured,
                                                pqw::PruneCriterion::L1, 1),
                                        ctx);
        checkSteps(ev, 0.5);
        // Both hidden groups (reduce, conv1) lost half their channels, physically.
        const auto after = m.cost();
        QCOMPARE(after.channels, before.channels / 2);
        QVERIFY(after.params < before.params && after.macs < before.macs);
        QCOMPARE(ev.back().value("channel_sparsity"), 0.5);
        m.save(path("conv.pqwcnn"));
        const auto back = pqw::CnnModel::load(path("conv.pqwcnn"));
        QCOMPARE(back.cost().params, after.params);
        QVERIFY(torch::equal(cnnLogits(m, data), cnnLogits(back, data)));
    }

    // ------------------------------------------------------------------ ProtoQuant
    void protoCodebookByUsage() {
        pqw::JobContext ctx;
        const auto usage = pqw::codeUsage(proto_, *cache_, pqw::Split::Train, ctx);
        auto p = pqw::prunableProto(proto_, cache_, pqw::PruneModelKind::ProtoCodebook);
        QCOMPARE(p->cost().channels, int64_t(8));
        // One-shot to half the prototypes: exactly the 4 most used stay (ties to the lower index).
        auto one = p->clone();
        one->pruneTo(0.5, pqw::PruneModality::Structured, pqw::PruneCriterion::Usage, 0, 0);
        std::vector<int> order(8);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return usage[size_t(a)] > usage[size_t(b)]; });
        std::vector<int> kept(order.begin(), order.begin() + 4);
        std::sort(kept.begin(), kept.end());
        const auto* pm = pqw::prunedProtoModel(*one);
        QVERIFY(pm);
        QCOMPARE(pm->numPrototypes(), 4);
        const auto codesBefore = proto_.prototypes(), codesAfter = pm->prototypes();
        for (int i = 0; i < 4; ++i) QVERIFY(codesAfter[size_t(i)] == codesBefore[size_t(kept[size_t(i)])]);
        // The schedule: iterative 2 steps to 0.75 -> 8, 5, 2 prototypes.
        const auto ev = pqw::pruneModel(*p,
                                        options(pqw::PruneStrategy::Iterative, 0.75, 2, pqw::PruneModality::Structured,
                                                pqw::PruneCriterion::Usage, 2),
                                        ctx);
        checkSteps(ev, 0.75);
        QCOMPARE(ev[1].value("channels"), 5.0);  // 8 - round(0.375 * 8) = 5
        QCOMPARE(ev[2].value("channels"), 2.0);
        QCOMPARE(ev.back().value("channel_sparsity"), 0.75);
        QCOMPARE(ev.back().value("sparsity_prunable"), 0.75);
        QCOMPARE(ev.back().value("params"), double(2 * D + NC * 2));
        const auto* pruned = pqw::prunedProtoModel(*p);
        QCOMPARE(pruned->numPrototypes(), 2);
        p->save(path("codebook.pqwh"));
        const auto back = pqw::ProtoModel::load(path("codebook.pqwh"));
        QCOMPARE(back.numPrototypes(), 2);
        std::vector<float> f(size_t(D * H * W));
        for (size_t i : cache_->indices(pqw::Split::Test)) {
            cache_->read(i, f.data());
            QVERIFY(back.logits(f.data()) == pruned->logits(f.data()));
        }
        // Without an interpretable head the quantised model is pruned: the codes are
        // fine-tuned through the frozen stage-0 head, and it is what the events measure.
        auto noHead = proto_;
        noHead.impl().W = torch::Tensor();
        auto q = pqw::prunableProto(noHead, cache_, pqw::PruneModelKind::ProtoCodebook);
        const auto evq = pqw::pruneModel(*q,
                                         options(pqw::PruneStrategy::OneShot, 0.5, 1, pqw::PruneModality::Structured,
                                                 pqw::PruneCriterion::Usage, 1),
                                         ctx);
        const auto* qm = pqw::prunedProtoModel(*q);
        QVERIFY(!qm->hasHead());
        QCOMPARE(qm->numPrototypes(), 4);
        QCOMPARE(evq.back().value("params"), double(4 * D));
        QCOMPARE(evq.back().value("test_top1"),
                 pqw::evaluate(*qm, *cache_, pqw::Split::Test, pqw::HeadKind::Quantised, ctx).top1);
        // Unstructured pruning of prototypes is refused with a reason.
        QVERIFY_THROWS_EXCEPTION(Error, p->pruneTo(0.9, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Usage, 0, 0));
    }

    void protoClassWeights() {
        pqw::JobContext ctx;
        auto p = pqw::prunableProto(proto_, cache_, pqw::PruneModelKind::ProtoWeights);
        QCOMPARE(p->cost().prunableParams, int64_t(NC * 8));
        const auto ev = pqw::pruneModel(*p,
                                        options(pqw::PruneStrategy::Hybrid, 0.75, 2, pqw::PruneModality::Unstructured,
                                                pqw::PruneCriterion::Magnitude, 3),
                                        ctx);
        checkSteps(ev, 0.75);
        const auto* pm = pqw::prunedProtoModel(*p);
        const auto Wt = pm->impl().W;
        const int64_t zeros = (Wt == 0).sum().item<int64_t>();
        QCOMPARE(zeros, int64_t(18));  // round(0.75 * 24)
        QVERIFY(std::abs(ev.back().value("sparsity_prunable") - double(zeros) / 24.0) < 1e-12);
        // Fine-tuning (Adam, 3 epochs per step) ran and did not revive a pruned weight: every
        // positive class weight left is among the 6 unmasked ones, and the model still works.
        int epochs = 0;
        for (size_t k = 1; k < ev.size(); ++k) epochs += int(ev[k].value("epochs"));
        QVERIFY(epochs >= 1);
        QVERIFY(ev.back().value("test_top1") > 0.6);
        p->save(path("weights.pqwh"));
        const auto back = pqw::ProtoModel::load(path("weights.pqwh"));
        QVERIFY(torch::equal(back.impl().W, Wt));
        std::vector<float> f(size_t(D * H * W));
        for (size_t i : cache_->indices(pqw::Split::Val)) {
            cache_->read(i, f.data());
            QVERIFY(back.logits(f.data()) == pm->logits(f.data()));
        }
        // Reloaded, the zeros are the mask: the same sparsity, and pruning further keeps them.
        auto again = pqw::prunableProto(back, cache_, pqw::PruneModelKind::ProtoWeights);
        QCOMPARE(again->cost().nonzeroPrunable, int64_t(6));
        again->pruneTo(0.875, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Magnitude, 0, 0);
        again->fineTune(options(pqw::PruneStrategy::OneShot, 0.5, 1, pqw::PruneModality::Unstructured,
                                pqw::PruneCriterion::Magnitude, 2).fineTune, 0, ctx);
        const auto W2 = pqw::prunedProtoModel(*again)->impl().W;
        QCOMPARE((W2 == 0).sum().item<int64_t>(), int64_t(21));
        QVERIFY(((Wt == 0) & (W2 != 0)).sum().item<int64_t>() == 0);
        // A model without the interpretable head cannot be pruned as class weights.
        auto noHead = pqw::ProtoModel::forCache(*cache_);
        QVERIFY_THROWS_EXCEPTION(Error, pqw::prunableProto(noHead, cache_, pqw::PruneModelKind::ProtoWeights));
    }

    // ------------------------------------------------------------------ TorchScript
    void torchScriptModule() {
        // A module with conv and linear submodules, as torch.jit.script would save it.
        torch::manual_seed(5);
        torch::jit::Module conv("Conv");
        conv.register_parameter("weight", torch::randn({6, D, 3, 3}) * 0.2, false);
        conv.register_parameter("bias", torch::zeros({6}), false);
        conv.define("def forward(self, x):\n    return torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)\n");
        torch::jit::Module fc("Fc");
        fc.register_parameter("weight", torch::randn({NC, 6 * H * W}) * 0.2, false);
        fc.register_parameter("bias", torch::zeros({NC}), false);
        fc.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
        torch::jit::Module net("Net");
        net.register_module("conv", conv);
        net.register_module("fc", fc);
        net.register_parameter("scale", torch::ones({1}), false);  // not prunable (1-D)
        net.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.conv.forward(x))
    return self.fc.forward(torch.flatten(y, 1)) * self.scale
)JIT");
        const std::string pt = path("net.pt");
        net.save(pt);
        const auto data = pqw::ImageTensors::fromFeatureCache(*cache_);
        auto p = pqw::prunableTorchScript(pt, data);
        QVERIFY(p->kind() == pqw::PruneModelKind::TorchScript);
        const int64_t nPrunable = 6 * D * 9 + NC * 6 * H * W;
        QCOMPARE(p->cost().prunableParams, nPrunable);
        QCOMPARE(p->cost().params, nPrunable + 6 + NC + 1);
        pqw::JobContext ctx;
        // Train the dense module first (fine-tuning's own loop, nothing pruned yet).
        auto o = options(pqw::PruneStrategy::Iterative, 0.8, 2, pqw::PruneModality::Unstructured,
                         pqw::PruneCriterion::Magnitude, 12);
        o.fineTune.lr = 0.01;
        p->fineTune(o.fineTune, 1, ctx);
        const double dense = p->evaluate(pqw::Split::Test).top1;
        QVERIFY2(dense > 0.8, qPrintable(QString::number(dense)));
        QCOMPARE(p->cost().nonzeroPrunable, nPrunable);
        o.fineTune.epochs = 3;
        int epochEvents = 0;
        ctx.setEventHandler([&](const pqw::Event& e) { epochEvents += e.kind == "prune.epoch"; });
        const auto ev = pqw::pruneModel(*p, o, ctx);
        QCOMPARE(epochEvents, 6);
        checkSteps(ev, 0.8);
        QVERIFY(!ev.back().values.count("macs"));
        QVERIFY(ev.back().values.count("latency_b64_ms"));
        QVERIFY2(ev.back().value("test_top1") > 0.6, qPrintable(QString::number(ev.back().value("test_top1"))));  // chance 1/3
        const std::string out = path("net_pruned.pt");
        p->save(out);
        auto back = torch::jit::load(out);
        int64_t zeros = 0;
        for (const auto& np : back.named_parameters())
            if (np.name == "conv.weight" || np.name == "fc.weight") zeros += (np.value == 0).sum().item<int64_t>();
        QCOMPARE(zeros, int64_t(std::llround(0.8 * double(nPrunable))));
        QVERIFY(std::abs(ev.back().value("sparsity_prunable") - double(zeros) / double(nPrunable)) < 1e-12);
        // Fine-tuning trained the unpruned weights (and the 1-D scale), so predictions moved,
        // and the saved module predicts what the pruned one in memory does.
        torch::NoGradGuard ng;
        back.eval();
        const auto x = data.impl()->x[2];
        const auto zOut = back.forward({x}).toTensor();
        auto reloaded = pqw::prunableTorchScript(out, data);
        QCOMPARE(reloaded->cost().nonzeroPrunable, p->cost().nonzeroPrunable);
        QCOMPARE(reloaded->originalPrunable(), nPrunable);
        QCOMPARE(reloaded->evaluate(pqw::Split::Test).top1, p->evaluate(pqw::Split::Test).top1);
        QVERIFY(!torch::equal(zOut, net.forward({x}).toTensor()));
        // Pruning the reloaded module further keeps the zeros it came with.
        reloaded->pruneTo(0.9, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Magnitude, 0, 0);
        reloaded->save(path("net_pruned2.pt"));
        auto b2 = torch::jit::load(path("net_pruned2.pt"));
        int64_t zeros2 = 0;
        for (const auto& np : b2.named_parameters()) {
            if (np.name != "conv.weight" && np.name != "fc.weight") continue;
            zeros2 += (np.value == 0).sum().item<int64_t>();
            for (const auto& op : back.named_parameters())
                if (op.name == np.name) QVERIFY(((op.value == 0) & (np.value != 0)).sum().item<int64_t>() == 0);
        }
        QCOMPARE(zeros2, int64_t(std::llround(0.9 * double(nPrunable))));
        // Bad inputs: not a module; a module whose output does not fit the classes; structured.
        QVERIFY_THROWS_EXCEPTION(Error, pqw::prunableTorchScript(cacheDir_ + "/meta.json", data));
        torch::jit::Module wrong("Wrong");
        wrong.register_parameter("weight", torch::randn({5, D * H * W}), false);
        wrong.define("def forward(self, x):\n    return torch.linear(torch.flatten(x, 1), self.weight, None)\n");
        wrong.save(path("wrong.pt"));
        try {
            pqw::prunableTorchScript(path("wrong.pt"), data);
            QFAIL("a 5-way output for 3 classes must be refused");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("wrong.pt") && QString(e.what()).contains("3 classes"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, p->pruneTo(0.9, pqw::PruneModality::Structured, pqw::PruneCriterion::L1, 0, 0));
    }

    // ------------------------------------------------------------------ sweeps
    void sweepOverProtoWeights() {
        proto_.save(path("base.pqwh"));
        using J = nlohmann::json;
        const J grid = {{"strategy", {"one-shot", "iterative"}},
                        {"target", {0.5}},
                        {"steps", 2},
                        {"modality", {"unstructured", "structured"}},
                        {"criterion", {"magnitude", "l1", "usage"}},
                        {"fine_tune", J::array({J{{"epochs", 1}}})}};
        const std::string json = J{{"model", {{"kind", "protoquant-weights"}}},
                                   {"model_path", path("base.pqwh")},
                                   {"features", cacheDir_},
                                   {"latency_reps", 0},
                                   {"grid", grid}}
                                     .dump();
        const auto spec = pqw::parseSweep(json, "test.json");
        // Structured cells and criteria that do not apply to class weights are dropped.
        QCOMPARE(int(spec.runs.size()), 2);
        QVERIFY(spec.kind == pqw::PruneModelKind::ProtoWeights);
        const std::string dir = path("sweep");
        pqw::JobContext ctx;
        const auto st = pqw::runSweep(spec, dir, ctx);
        QCOMPARE(int(st.finished), 2);
        QVERIFY(fs::exists(dir + "/base_model.pqwh"));
        const auto fin = pqw::finishedRunEntries(pqw::readSweepFolder(dir));
        int done = 0;
        for (const auto& e : fin)
            if (e.event.kind == "run.done") {
                ++done;
                QCOMPARE(QString::fromStdString(e.event.texts.at("model_kind")), QString("protoquant-weights"));
                QCOMPARE(e.event.value("sparsity_prunable"), 0.5);
            }
        QCOMPARE(done, 2);
        QVERIFY(pqw::readFile(dir + "/summary.csv").find(",protoquant-weights\n") != std::string::npos);
        const auto files = pqw::writeSweepReport(dir, dir + "/report");
        QVERIFY(fs::exists(dir + "/report/acc_vs_sparsity.png"));
        QVERIFY(!files.empty());
        // Missing pieces are named.
        try {
            pqw::parseSweep("{\"model\": {\"kind\": \"protoquant-codebook\"}, \"model_path\": \"x.pqwh\"}", "t.json");
            QFAIL("a ProtoQuant sweep without features must be refused");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("features"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, pqw::parseSweep("{\"model\": {\"kind\": \"bogus\"}}", "t.json"));
    }

    // ------------------------------------------------------------------ through pqw
    void commandLine() {
        if (!QFileInfo::exists(fixtures::pqwPath())) QSKIP("pqw is not built");
        const QString cache = QString::fromStdString(cacheDir_);
        const QString dir = tmp_.path();
        // A feature head: train-cnn on the cache, then prune it (kind found from the arch).
        auto r = fixtures::runPqw({"train-cnn", "--features", cache, "--arch", "feature-mlp", "--width", "16", "--epochs",
                                   "2", "--threads", "1", "-o", dir + "/fh.pqwcnn"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = fixtures::runPqw({"prune", "-m", dir + "/fh.pqwcnn", "--features", cache, "--strategy", "iterative", "--target",
                              "0.5", "--steps", "2", "--epochs", "1", "--latency-reps", "0", "--threads", "1", "-o",
                              dir + "/fh_p.pqwcnn"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("step 2  sparsity 0.5000"), qPrintable(r.out));
        QVERIFY2(r.err.contains("pruning a feature-head model"), qPrintable(r.err));
        // Without --features a feature head is refused with the reason.
        r = fixtures::runPqw({"prune", "-m", dir + "/fh.pqwcnn", "--threads", "1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("needs --features"), qPrintable(r.err));
        // The ProtoQuant codebook (structured, by usage) and class weights.
        proto_.save(path("cli.pqwh"));
        r = fixtures::runPqw({"prune", "-m", dir + "/cli.pqwh", "--features", cache, "--modality", "structured",
                              "--criterion", "usage", "--target", "0.5", "--epochs", "1", "--latency-reps", "0",
                              "--threads", "1", "-o", dir + "/cli_cb.pqwh"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("pruning a protoquant-codebook model"), qPrintable(r.err));
        QCOMPARE(pqw::ProtoModel::load(path("cli_cb.pqwh")).numPrototypes(), 4);
        r = fixtures::runPqw({"prune", "-m", dir + "/cli.pqwh", "--features", cache, "--target", "0.5", "--epochs", "1",
                              "--latency-reps", "0", "--threads", "1", "-o", dir + "/cli_w.pqwh"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE((pqw::ProtoModel::load(path("cli_w.pqwh")).impl().W == 0).sum().item<int64_t>(), int64_t(12));
        // A TorchScript stage-0 head for `pqw train`, and one that does not fit.
        torch::jit::Module head("Stage0");
        head.register_parameter("w", torch::randn({NC, D}), false);
        head.define("def forward(self, x):\n    return torch.linear(torch.mean(x, [2, 3]), self.w, None)\n");
        head.save(path("s0.pt"));
        r = fixtures::runPqw({"train", cache, "--stage0-torchscript", dir + "/s0.pt", "--stages", "0,1", "--codes", "4",
                              "--epochs1", "1", "-o", dir + "/s0.pqwh"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        // The head now embeds code: pqw loads it only with --allow-torchscript-heads.
        r = fixtures::runPqw({"eval", dir + "/s0.pqwh", "-f", cache, "--head", "stage0"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("s0.pqwh: embeds a TorchScript stage-0 head ('s0.pt')") && r.err.contains("--allow-torchscript-heads"),
                 qPrintable(r.err));
        r = fixtures::runPqw({"eval", dir + "/s0.pqwh", "-f", cache, "--head", "stage0", "--allow-torchscript-heads"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        pqw::allowEmbeddedTorchScript(path("s0.pqwh"));
        const auto m = pqw::ProtoModel::load(path("s0.pqwh"));
        QCOMPARE(m.stage0TorchScript(), std::string("s0.pt"));
        QCOMPARE(m.numPrototypes(), 4);
        torch::jit::Module bad("Bad");
        bad.register_parameter("w", torch::randn({NC, D + 1}), false);
        bad.define("def forward(self, x):\n    return torch.linear(torch.mean(x, [2, 3]), self.w, None)\n");
        bad.save(path("bad_s0.pt"));
        r = fixtures::runPqw({"train", cache, "--stage0-torchscript", dir + "/bad_s0.pt", "-o", dir + "/bad.pqwh"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("bad_s0.pt") && r.err.contains("does not run"), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(dir + "/bad.pqwh"));
    }
};

QTEST_GUILESS_MAIN(TestPruningKinds)
#include "test_pruning_kinds.moc"
