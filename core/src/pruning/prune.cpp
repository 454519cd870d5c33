// Pruning: channel-group analysis, unstructured masks, physical channel removal,
// Taylor importance, fine-tuning with best-validation restore, whole schedules.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <numeric>

#include "pqw/error.h"
#include "pruning/cnn_impl.h"

namespace pqw {

using cnn::Node;
using cnn::Op;
using json = nlohmann::json;

namespace cnn {

std::vector<Group> channelGroups(const CnnModel::Impl& m, std::vector<int>* spaceOfOut) {
    const size_t N = m.nodes.size();
    std::vector<int> parent(N), space(N, -1);
    std::iota(parent.begin(), parent.end(), 0);
    std::function<int(int)> find = [&](int a) { return parent[size_t(a)] == a ? a : parent[size_t(a)] = find(parent[size_t(a)]); };
    for (size_t i = 0; i < N; ++i) {
        const Node& n = m.nodes[i];
        switch (n.op) {
        case Op::Input:
        case Op::Conv:
        case Op::Linear: space[i] = int(i); break;
        case Op::Add:
            space[i] = space[size_t(n.in[0])];
            for (size_t k = 1; k < n.in.size(); ++k) {
                const int a = find(space[i]), b = find(space[size_t(n.in[k])]);
                if (a != b) parent[size_t(std::max(a, b))] = std::min(a, b);
            }
            break;
        default: space[i] = space[size_t(n.in.at(0))]; break;
        }
    }
    std::vector<int> groupOfRoot(N, -1);
    std::vector<Group> groups;
    for (size_t i = 0; i < N; ++i) {
        const Node& n = m.nodes[i];
        if (!n.prunesWeight()) continue;
        const int r = find(int(i));
        if (groupOfRoot[size_t(r)] < 0) {
            groupOfRoot[size_t(r)] = int(groups.size());
            groups.push_back({});
            groups.back().channels = n.w.size(0);
        }
        groups[size_t(groupOfRoot[size_t(r)])].members.push_back(int(i));
    }
    // Spaces tied to the input (root 0) or reaching the output cannot lose channels.
    const int outRoot = find(space[N - 1]);
    for (size_t r = 0; r < N; ++r)
        if (groupOfRoot[r] >= 0 && (int(r) == outRoot || find(0) == int(r))) groups[size_t(groupOfRoot[r])].prunable = false;
    if (spaceOfOut) {
        spaceOfOut->assign(N, -1);
        for (size_t i = 0; i < N; ++i) (*spaceOfOut)[i] = groupOfRoot[size_t(find(space[i]))];
    }
    return groups;
}

}  // namespace cnn

namespace {

/// Averaged gradients of the loss w.r.t. every Conv / Linear weight over a few training
/// batches (eval-mode BatchNorm, so running statistics do not move).
std::vector<torch::Tensor> taylorGrads(CnnModel::Impl& m, const ImageTensors::Impl& d, int batches, uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed + 7919);
    const auto& X = d.x[0];
    const int64_t N = X.size(0), B = 64;
    auto perm = torch::randperm(N, gen, torch::kLong);
    m.training = false;
    m.setRequiresGrad(true);
    for (auto& t : m.parameters()) t.mutable_grad() = torch::Tensor();
    int used = 0;
    for (int64_t s = 0; s < N && used < batches; s += B, ++used) {
        auto idx = perm.slice(0, s, std::min(N, s + B));
        auto loss = torch::nn::functional::cross_entropy(m.forward(X.index_select(0, idx)), d.y[0].index_select(0, idx));
        loss.backward();
    }
    std::vector<torch::Tensor> g(m.nodes.size());
    for (size_t i = 0; i < m.nodes.size(); ++i) {
        auto& n = m.nodes[i];
        if (n.prunesWeight() && n.w.grad().defined()) g[i] = n.w.grad().detach().clone() / double(std::max(1, used));
        else if (n.prunesWeight()) g[i] = torch::zeros_like(n.w);
    }
    for (auto& t : m.parameters()) t.mutable_grad() = torch::Tensor();
    m.setRequiresGrad(false);
    return g;
}

void pruneUnstructured(CnnModel::Impl& m, double fraction, PruneCriterion crit, const std::vector<torch::Tensor>& grads,
                       uint64_t seed) {
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(seed + 104729);
    std::vector<int> layers;
    for (size_t i = 0; i < m.nodes.size(); ++i)
        if (m.nodes[i].prunesWeight()) layers.push_back(int(i));
    for (int i : layers) {
        auto& n = m.nodes[size_t(i)];
        if (!n.mask.defined()) n.mask = torch::ones_like(n.w);
    }
    auto score = [&](int i) {
        const auto& n = m.nodes[size_t(i)];
        torch::Tensor s;
        switch (crit) {
        case PruneCriterion::Random: s = torch::rand(n.w.sizes(), gen); break;
        case PruneCriterion::Taylor: s = (n.w * grads.at(size_t(i))).abs(); break;
        default: s = n.w.abs(); break;
        }
        s = s.flatten().clone();
        s.masked_fill_(n.mask.flatten() == 0, std::numeric_limits<float>::infinity());
        return s;
    };
    auto pruneSet = [&](const std::vector<int>& set) {
        int64_t total = 0, alive = 0;
        std::vector<torch::Tensor> scores;
        for (int i : set) {
            total += m.nodes[size_t(i)].w.numel();
            alive += m.nodes[size_t(i)].mask.sum().item<int64_t>();
            scores.push_back(score(i));
        }
        const int64_t want = int64_t(std::llround(fraction * double(total)));
        const int64_t k = want - (total - alive);
        if (k <= 0) return;
        auto idx = std::get<1>(torch::cat(scores).topk(std::min(k, alive), 0, /*largest=*/false, /*sorted=*/false));
        auto flat = torch::ones({total});
        flat.index_fill_(0, idx, 0.0);
        int64_t off = 0;
        for (int i : set) {
            auto& n = m.nodes[size_t(i)];
            n.mask.mul_(flat.slice(0, off, off + n.w.numel()).view(n.w.sizes()));
            off += n.w.numel();
        }
    };
    if (crit == PruneCriterion::LayerWise) {
        for (int i : layers) pruneSet({i});
    } else {
        pruneSet(layers);
    }
    m.applyMasks();
}

void pruneStructured(CnnModel::Impl& m, double fraction, PruneCriterion crit, const std::vector<torch::Tensor>& grads,
                     uint64_t seed) {
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(seed + 15485863);
    std::vector<int> spaceOf;
    const auto groups = cnn::channelGroups(m, &spaceOf);
    // Rank every group on the model as it is before this step, then remove: consumers' shapes
    // change as groups shrink, so importance (and Taylor gradients) must not be read in between.
    std::vector<torch::Tensor> keeps(groups.size());
    for (size_t gi = 0; gi < groups.size(); ++gi) {
        const auto& g = groups[gi];
        if (!g.prunable) continue;
        const int64_t C = g.channels;
        const int64_t C0 = m.nodes[size_t(g.members[0])].origOut > 0 ? m.nodes[size_t(g.members[0])].origOut : C;
        const int64_t keepN = std::max<int64_t>(1, C0 - int64_t(std::llround(fraction * double(C0))));
        if (keepN >= C) continue;
        torch::Tensor imp = torch::zeros({C});
        for (int i : g.members) {
            const auto& w = m.nodes[size_t(i)].w;
            auto rows = w.reshape({C, -1});
            switch (crit) {
            case PruneCriterion::L2: imp += rows.pow(2).sum(1).sqrt(); break;
            case PruneCriterion::Taylor: imp += (rows * grads.at(size_t(i)).reshape({C, -1})).abs().sum(1); break;
            case PruneCriterion::Random: break;
            default: imp += rows.abs().sum(1); break;  // L1 (and "magnitude")
            }
        }
        if (crit == PruneCriterion::Random) imp = torch::rand({C}, gen);
        keeps[gi] = std::get<0>(std::get<1>(imp.topk(keepN, 0, true, false)).sort());
    }
    for (size_t gi = 0; gi < groups.size(); ++gi) {
        if (!keeps[gi].defined()) continue;
        const torch::Tensor& keep = keeps[gi];
        const int64_t C = groups[gi].channels;
        for (size_t i = 0; i < m.nodes.size(); ++i) {
            Node& n = m.nodes[i];
            const bool produces = n.prunesWeight() && spaceOf[i] == int(gi);
            if (produces) {
                n.w = n.w.index_select(0, keep).contiguous();
                if (n.b.defined()) n.b = n.b.index_select(0, keep).contiguous();
                if (n.mask.defined()) n.mask = n.mask.index_select(0, keep).contiguous();
            } else if (n.op == Op::BN && spaceOf[i] == int(gi)) {
                for (auto* t : {&n.w, &n.b, &n.rm, &n.rv}) *t = t->index_select(0, keep).contiguous();
            }
            if (n.prunesWeight() && spaceOf[size_t(n.in[0])] == int(gi)) {
                torch::Tensor cols = keep;
                const int64_t fin = n.w.size(1);
                if (n.op == Op::Linear && fin != C) {  // after Flatten: C x H x W features
                    const int64_t hw = fin / C;
                    cols = (keep.unsqueeze(1) * hw + torch::arange(hw, torch::kLong).unsqueeze(0)).flatten();
                }
                n.w = n.w.index_select(1, cols).contiguous();
                if (n.mask.defined()) n.mask = n.mask.index_select(1, cols).contiguous();
            }
        }
    }
}

}  // namespace

void pruneTo(CnnModel& model, double fraction, PruneModality mod, PruneCriterion crit, const ImageTensors* data,
             uint64_t seed, int taylorBatches) {
    auto& m = model.impl();
    if (crit == PruneCriterion::Usage) throw Error("criterion usage is for ProtoQuant prototypes (protoquant-codebook)");
    if (mod == PruneModality::Unstructured &&
        (crit == PruneCriterion::L1 || crit == PruneCriterion::L2))
        throw Error(std::string("criterion ") + criterionName(crit) + " is for structured pruning");
    if (mod == PruneModality::Structured && crit == PruneCriterion::LayerWise)
        throw Error("criterion layerwise is for unstructured pruning (structured pruning is layer-wise already)");
    std::vector<torch::Tensor> grads;
    if (crit == PruneCriterion::Taylor) {
        if (!data) throw Error("Taylor importance needs training data");
        grads = taylorGrads(m, *data->impl(), taylorBatches, seed);
    }
    if (mod == PruneModality::Unstructured)
        pruneUnstructured(m, fraction, crit, grads, seed);
    else
        pruneStructured(m, fraction, crit, grads, seed);
}

int fineTune(CnnModel& model, const ImageTensors& data, const FineTuneOptions& opt, uint64_t seed, JobContext& ctx) {
    auto& m = model.impl();
    const auto& d = *data.impl();
    EarlyStopper es(opt.patience, opt.minDelta, opt.epochs);
    const double pruned = cnn::evaluate(m, d, Split::Val).top1;  // "epoch 0": right after pruning
    es.observe(pruned);
    auto best = m.snapshot();
    if (es.shouldStop()) return 0;
    auto gen = at::detail::createCPUGenerator(seed);
    torch::optim::SGD sgd(m.parameters(),
                          torch::optim::SGDOptions(opt.lr).momentum(opt.momentum).weight_decay(opt.weightDecay));
    while (!es.shouldStop()) {
        auto [loss, acc] = cnn::trainEpoch(m, d, sgd, opt.batch, gen, ctx);
        const double val = cnn::evaluate(m, d, Split::Val).top1;
        if (es.observe(val)) best = m.snapshot();
        ctx.emit(Event{"prune.epoch",
                       {{"epoch", es.epochs()}, {"loss", loss}, {"train_accuracy", acc}, {"val_accuracy", val},
                        {"best_val", es.best()}, {"pruned_val_accuracy", pruned}},
                       {}});
    }
    m.restore(best);
    return es.epochs();
}

namespace {

/// A CnnModel (CNN family or feature head) with its data.
class CnnPrunable : public Prunable {
public:
    CnnPrunable(CnnModel* m, ImageTensors d, std::shared_ptr<CnnModel> own = nullptr)
        : m_(m), own_(std::move(own)), data_(std::move(d)) {}
    PruneModelKind kind() const override {
        return m_->spec().arch.rfind("feature-", 0) == 0 ? PruneModelKind::FeatureHead : PruneModelKind::Cnn;
    }
    ModelCost cost() const override { return m_->cost(); }
    int64_t originalParams() const override { return m_->originalParams(); }
    int64_t originalPrunable() const override { return m_->originalPrunable(); }
    void pruneTo(double f, PruneModality mod, PruneCriterion crit, uint64_t seed, int tb) override {
        pqw::pruneTo(*m_, f, mod, crit, &data_, seed, tb);
    }
    int fineTune(const FineTuneOptions& o, uint64_t seed, JobContext& ctx) override {
        return pqw::fineTune(*m_, data_, o, seed, ctx);
    }
    Accuracy evaluate(Split s) const override { return evaluateCnn(*m_, data_, s); }
    double latencyMs(int batch, int reps) const override { return measureLatencyMs(*m_, batch, reps); }
    void recordPruning(const PruneOptions& opt, int total) override {
        m_->impl().history.push_back({{"pruned",
                                      {{"strategy", strategyName(opt.strategy)},
                                       {"target", opt.target},
                                       {"steps", opt.steps},
                                       {"modality", modalityName(opt.modality)},
                                       {"criterion", criterionName(opt.criterion)},
                                       {"total_epochs", total}}}});
    }
    void save(const std::string& path) const override { m_->save(path); }
    std::unique_ptr<Prunable> clone() const override {
        auto c = std::make_shared<CnnModel>(*m_);
        return std::make_unique<CnnPrunable>(c.get(), data_, c);
    }

private:
    CnnModel* m_;
    std::shared_ptr<CnnModel> own_;
    ImageTensors data_;
};

}  // namespace

std::unique_ptr<Prunable> prunableCnn(CnnModel& model, const ImageTensors& data) {
    return std::make_unique<CnnPrunable>(&model, data);
}

std::vector<Event> pruneModel(Prunable& m, const PruneOptions& opt, JobContext& ctx, const PruneResume& resume) {
    const auto steps = pruneSchedule(opt.strategy, opt.target, opt.steps, opt.firstStep);
    if (resume.fromStep < 0 || size_t(resume.fromStep) > steps.size())
        throw Error("cannot resume at step " + std::to_string(resume.fromStep) + " of a " +
                    std::to_string(steps.size()) + "-step schedule");
    std::vector<Event> out;
    int total = resume.totalEpochs;
    double cum = 0;
    for (int k = 0; k < resume.fromStep; ++k) cum += steps[size_t(k)];  // the same sums, in the same order
    const double origPrunable = double(std::max<int64_t>(1, m.originalPrunable()));
    const double origParams = double(std::max<int64_t>(1, m.originalParams()));
    auto measure = [&](int k, double stepFrac, int epochs) {
        const auto c = m.cost();
        Event e;
        e.kind = "prune.step";
        e.texts = {{"strategy", strategyName(opt.strategy)},
                   {"modality", modalityName(opt.modality)},
                   {"criterion", criterionName(opt.criterion)},
                   {"model_kind", modelKindName(m.kind())}};
        const double zeros = double(c.prunableParams - c.nonzeroPrunable);
        e.values = {{"step", k},
                    {"steps", double(steps.size())},
                    {"step_fraction", stepFrac},
                    {"target_fraction", cum},
                    {"sparsity_prunable", 1.0 - double(c.nonzeroPrunable) / origPrunable},
                    {"sparsity_all", 1.0 - (double(c.params) - zeros) / origParams},
                    {"params", double(c.params)},
                    {"nonzero_params", double(c.params) - zeros},
                    {"channels", double(c.channels)},
                    {"channel_sparsity", c.originalChannels ? 1.0 - double(c.channels) / double(c.originalChannels) : 0.0},
                    {"epochs", epochs},
                    {"total_epochs", total}};
        if (c.macs >= 0) e.values["macs"] = double(c.macs);
        const auto val = m.evaluate(Split::Val);
        e.values["val_top1"] = val.top1;
        e.values["val_top5"] = val.top5;
        if (opt.evaluateTest) {
            const auto te = m.evaluate(Split::Test);
            e.values["test_top1"] = te.top1;
            e.values["test_top5"] = te.top5;
        }
        if (opt.latencyReps > 0) {
            const double l1 = m.latencyMs(1, opt.latencyReps * 4), l64 = m.latencyMs(64, opt.latencyReps);
            if (l1 >= 0) e.values["latency_b1_ms"] = l1;
            if (l64 >= 0) e.values["latency_b64_ms"] = l64;
        }
        ctx.emit(e);
        out.push_back(e);
    };
    if (resume.fromStep == 0) measure(0, 0.0, 0);
    for (size_t k = size_t(resume.fromStep); k < steps.size(); ++k) {
        ctx.throwIfCancelled();
        cum += steps[k];
        ctx.progress(double(k) / double(steps.size()), "step " + std::to_string(k + 1) + "/" +
                                                          std::to_string(steps.size()));
        m.pruneTo(cum, opt.modality, opt.criterion, opt.seed + k, opt.taylorBatches);
        const int ep = m.fineTune(opt.fineTune, opt.seed * 1000 + k, ctx);
        total += ep;
        if (resume.afterStep) resume.afterStep(int(k + 1), m);
        measure(int(k + 1), steps[k], ep);
    }
    ctx.progress(1.0, "done");
    m.recordPruning(opt, total);
    return out;
}

std::vector<Event> pruneModel(CnnModel& model, const ImageTensors& data, const PruneOptions& opt, JobContext& ctx) {
    CnnPrunable p(&model, data);
    return pruneModel(p, opt, ctx);
}

}  // namespace pqw
