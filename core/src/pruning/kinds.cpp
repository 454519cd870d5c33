// Pruning of the model kinds that are not the CNN family: ProtoQuant prototypes (whole, by
// usage) and class weights (masked), and TorchScript modules (masked conv / linear weights).
// All of them go through the same schedule runner (pruneModel(Prunable&)) as the CNNs.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "pqw/error.h"
#include "pqw/util.h"
#include "protoquant/model_impl.h"
#include "pruning/cnn_impl.h"

namespace pqw {

using json = nlohmann::json;
namespace F = torch::nn::functional;

namespace {

/// Masks the lowest-scoring weights so that, over the set, round(fraction * total) entries are
/// masked (entries already masked count). scores: same shapes as the weights, higher = keep.
void maskLowest(std::vector<torch::Tensor*> weights, std::vector<torch::Tensor*> masks,
                const std::vector<torch::Tensor>& scores, double fraction) {
    torch::NoGradGuard ng;
    int64_t total = 0, alive = 0;
    std::vector<torch::Tensor> flat;
    for (size_t i = 0; i < weights.size(); ++i) {
        total += weights[i]->numel();
        alive += masks[i]->sum().item<int64_t>();
        auto s = scores[i].flatten().to(torch::kFloat).clone();
        s.masked_fill_(masks[i]->flatten() == 0, std::numeric_limits<float>::infinity());
        flat.push_back(s);
    }
    const int64_t want = int64_t(std::llround(fraction * double(total)));
    const int64_t k = want - (total - alive);
    if (k > 0) {
        auto idx = std::get<1>(torch::cat(flat).topk(std::min(k, alive), 0, /*largest=*/false, /*sorted=*/false));
        auto keep = torch::ones({total});
        keep.index_fill_(0, idx, 0.0);
        int64_t off = 0;
        for (size_t i = 0; i < weights.size(); ++i) {
            const int64_t n = weights[i]->numel();
            masks[i]->mul_(keep.slice(0, off, off + n).view(masks[i]->sizes()));
            off += n;
        }
    }
    for (size_t i = 0; i < weights.size(); ++i) weights[i]->mul_(*masks[i]);
}

template <typename Fn>
double medianMs(int reps, Fn&& fn) {
    fn();  // warm-up
    std::vector<double> t;
    for (int r = 0; r < std::max(1, reps); ++r) {
        const auto a = std::chrono::steady_clock::now();
        fn();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

std::vector<size_t> shuffled(std::vector<size_t> ids, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng() % i]);
    return ids;
}

// ------------------------------------------------------------------------------ ProtoQuant

class ProtoPrunable : public Prunable {
public:
    ProtoPrunable(const ProtoModel& m, std::shared_ptr<const FeatureCache> cache, PruneModelKind kind)
        : m_(m), cache_(std::move(cache)), kind_(kind) {
        if (!cache_) throw Error("ProtoQuant pruning needs the model's feature cache");
        m_.checkCompatible(*cache_);
        auto& d = m_.impl();
        if (!m_.hasCodebook()) throw Error("the ProtoQuant model has no prototypes to prune (train stage 1 first)");
        if (kind_ == PruneModelKind::ProtoWeights && !m_.hasHead())
            throw Error("protoquant-weights needs the interpretable head (train stage 2 first)");
        if (kind_ == PruneModelKind::ProtoCodebook && !m_.hasHead() && !m_.hasStage0())
            throw Error("protoquant-codebook needs the stage-0 head or the interpretable head");
        if (kind_ == PruneModelKind::ProtoWeights) {
            // Exact zeros in W are pruned entries: a pruned checkpoint reloads with its mask.
            torch::NoGradGuard ng;
            d.W = d.W.detach().clone();
            mask_ = (d.W != 0).to(torch::kFloat);
        }
        K0_ = d.K();
        const auto c = cost();
        origParams_ = c.params;
        origPrunable_ = c.prunableParams;
    }
    ProtoPrunable(const ProtoPrunable& o)
        : m_(o.m_), cache_(o.cache_), kind_(o.kind_), K0_(o.K0_), origParams_(o.origParams_),
          origPrunable_(o.origPrunable_) {
        if (o.mask_.defined()) mask_ = o.mask_.clone();
    }

    const ProtoModel& model() const { return m_; }
    PruneModelKind kind() const override { return kind_; }
    int64_t originalParams() const override { return origParams_; }
    int64_t originalPrunable() const override { return origPrunable_; }

    ModelCost cost() const override {
        const auto& d = m_.impl();
        ModelCost c;
        const int64_t K = d.K(), D = d.D(), N = d.N(), HW = d.HW();
        const bool head = d.W.defined();
        c.params = K * D + (head ? N * K : 0);
        if (kind_ == PruneModelKind::ProtoCodebook) {
            c.prunableParams = K * D;
            c.nonzeroPrunable = K * D;
            c.channels = K;
            c.originalChannels = K0_;
        } else {
            c.prunableParams = N * K;
            c.nonzeroPrunable = mask_.sum().item<int64_t>();
            c.channels = K;
            c.originalChannels = K;
        }
        // Similarities of every cell to every prototype, then the class layer (or stage 0).
        c.macs = HW * K * D + (head ? N * K : (D * N));
        return c;
    }

    void pruneTo(double fraction, PruneModality mod, PruneCriterion crit, uint64_t seed, int) override {
        auto& d = m_.impl();
        torch::NoGradGuard ng;
        if (kind_ == PruneModelKind::ProtoCodebook) {
            if (mod != PruneModality::Structured)
                throw Error("protoquant-codebook removes whole prototypes: use --modality structured");
            if (crit != PruneCriterion::Usage && crit != PruneCriterion::Random)
                throw Error(std::string("criterion ") + criterionName(crit) +
                            " does not apply to prototypes (usage or random)");
            const int64_t keepN = std::max<int64_t>(1, K0_ - int64_t(std::llround(fraction * double(K0_))));
            const int64_t K = d.K();
            if (keepN >= K) return;
            torch::Tensor score;
            if (crit == PruneCriterion::Random) {
                auto gen = at::detail::createCPUGenerator(seed + 15485863);
                score = torch::rand({K}, gen);
            } else {
                // Training-split usage (the validation split selects fine-tuning epochs).
                JobContext quiet;
                const auto u = codeUsage(m_, *cache_, Split::Train, quiet);
                score = torch::tensor(std::vector<double>(u.begin(), u.end()), torch::kDouble);
                // Ties (e.g. unused codes) broken by index: the earlier prototype is kept.
                score = score - torch::arange(K, torch::kDouble) * 1e-6;
            }
            auto keep = std::get<0>(std::get<1>(score.topk(keepN, 0, true, false)).sort());
            d.codes = d.codes.detach().index_select(0, keep).clone();
            if (d.W.defined()) d.W = d.W.detach().index_select(1, keep).clone();
            std::vector<char> en;
            auto ka = keep.accessor<int64_t, 1>();
            for (int64_t i = 0; i < keep.size(0); ++i)
                en.push_back(size_t(ka[i]) < d.enabled.size() ? d.enabled[size_t(ka[i])] : 1);
            d.enabled = en;
            return;
        }
        if (mod != PruneModality::Unstructured)
            throw Error("protoquant-weights prunes single class weights: use --modality unstructured");
        torch::Tensor score;
        switch (crit) {
        case PruneCriterion::Magnitude:
        case PruneCriterion::LayerWise: score = d.W.detach().clone(); break;  // one matrix: the same
        case PruneCriterion::Random: {
            auto gen = at::detail::createCPUGenerator(seed + 104729);
            score = torch::rand(d.W.sizes(), gen);
            break;
        }
        default:
            throw Error(std::string("criterion ") + criterionName(crit) +
                        " does not apply to class weights (magnitude or random)");
        }
        maskLowest({&d.W}, {&mask_}, {score}, fraction);
    }

    int fineTune(const FineTuneOptions& opt, uint64_t seed, JobContext& ctx) override {
        auto& d = m_.impl();
        EarlyStopper es(opt.patience, opt.minDelta, opt.epochs);
        es.observe(evaluate(Split::Val).top1);
        auto best = snapshot();
        if (es.shouldStop()) return 0;
        const bool trainW = d.W.defined();  // else: the codes through the frozen stage-0 head
        torch::Tensor param = (trainW ? d.W : d.codes).detach().clone().set_requires_grad(true);
        torch::optim::Adam adam({param}, torch::optim::AdamOptions(opt.lr));
        pq::Batcher b(*cache_);
        const auto train = cache_->indices(Split::Train);
        const auto enabled = d.enabledMask();
        uint64_t epochSeed = seed;
        while (!es.shouldStop()) {
            const auto order = shuffled(train, epochSeed++);
            double lossSum = 0;
            int64_t seen = 0, correct = 0;
            for (size_t s = 0; s < order.size(); s += size_t(opt.batch)) {
                ctx.throwIfCancelled();
                std::vector<size_t> ids(order.begin() + long(s), order.begin() + long(std::min(order.size(), s + size_t(opt.batch))));
                auto f = b.features(ids);
                auto y = b.labels(ids);
                torch::Tensor logits, loss;
                if (trainW) {
                    logits = pq::headForward(f, d.codes, param, d.tau, enabled, 0.f).logits;
                    loss = F::cross_entropy(logits, y);
                } else {
                    torch::Tensor idx;
                    {
                        torch::NoGradGuard ng;
                        idx = pq::assign(f, param.detach());
                    }
                    auto q = param.index_select(0, idx.reshape({-1})).view(f.sizes());
                    logits = pq::stage0LogitsMap(d, q);
                    loss = F::cross_entropy(logits, y) + (q - f).pow(2).mean();
                }
                adam.zero_grad();
                loss.backward();
                adam.step();
                if (mask_.defined()) {
                    torch::NoGradGuard ng;
                    param.mul_(mask_);  // pruned weights stay exactly zero
                }
                lossSum += loss.item<double>() * double(ids.size());
                seen += int64_t(ids.size());
                correct += logits.argmax(1).eq(y).sum().item<int64_t>();
            }
            {
                torch::NoGradGuard ng;
                (trainW ? d.W : d.codes) = param.detach().clone();
            }
            const double val = evaluate(Split::Val).top1;
            if (es.observe(val)) best = snapshot();
            ctx.emit(Event{"prune.epoch",
                           {{"epoch", es.epochs()}, {"loss", lossSum / double(std::max<int64_t>(1, seen))},
                            {"train_accuracy", double(correct) / double(std::max<int64_t>(1, seen))},
                            {"val_accuracy", val}, {"best_val", es.best()}},
                           {}});
        }
        restore(best);
        return es.epochs();
    }

    Accuracy evaluate(Split s) const override {
        JobContext quiet;
        const auto e = pqw::evaluate(m_, *cache_, s, m_.hasHead() ? HeadKind::Interpretable : HeadKind::Quantised, quiet);
        Accuracy a;
        a.top1 = e.top1;
        a.top5 = e.top5;
        a.samples = e.samples;
        return a;
    }

    double latencyMs(int batch, int reps) const override {
        const auto& d = m_.impl();
        torch::NoGradGuard ng;
        auto f = torch::randn({batch, d.HW(), d.D()});
        return medianMs(reps, [&] {
            auto z = m_.hasHead() ? pq::headForward(d, f).logits : pq::quantisedLogits(d, f);
            (void)z.data_ptr<float>();
        });
    }

    void recordPruning(const PruneOptions& opt, int total) override {
        auto& d = m_.impl();
        d.hyper["pruned"] = {{"kind", modelKindName(kind_)},
                             {"strategy", strategyName(opt.strategy)},
                             {"target", opt.target},
                             {"steps", opt.steps},
                             {"criterion", criterionName(opt.criterion)},
                             {"total_epochs", total},
                             {"prototypes_before", K0_},
                             {"prototypes_after", d.K()}};
    }
    void save(const std::string& path) const override { m_.save(path); }
    std::unique_ptr<Prunable> clone() const override { return std::make_unique<ProtoPrunable>(*this); }

private:
    std::vector<torch::Tensor> snapshot() const {
        const auto& d = m_.impl();
        return {d.codes.detach().clone(), d.W.defined() ? d.W.detach().clone() : torch::Tensor()};
    }
    void restore(const std::vector<torch::Tensor>& s) {
        auto& d = m_.impl();
        d.codes = s[0].clone();
        if (s[1].defined()) d.W = s[1].clone();
    }

    ProtoModel m_;
    std::shared_ptr<const FeatureCache> cache_;
    PruneModelKind kind_;
    torch::Tensor mask_;  // ProtoWeights: [N, K]
    int64_t K0_ = 0, origParams_ = 0, origPrunable_ = 0;
};

// ------------------------------------------------------------------------------ TorchScript

class ScriptPrunable : public Prunable {
public:
    ScriptPrunable(const std::string& path, ImageTensors data) : path_(path), data_(std::move(data)) {
        torch::jit::ExtraFilesMap extra{{"pqw_pruning.json", ""}};
        try {
            mod_ = torch::jit::load(path, c10::nullopt, extra);
        } catch (const std::exception& e) {
            throw Error(path + ": not a TorchScript module (" + std::string(e.what()).substr(0, 160) + ")");
        }
        init();
        // Metadata of an earlier pruning by pqw (original counts, history), if any.
        if (!extra["pqw_pruning.json"].empty()) {
            json meta;
            try {
                meta = jsonu::parse(extra["pqw_pruning.json"], path + ": pqw_pruning.json is ");
            } catch (const Error&) {
                meta = json();  // not ours or damaged: the module is still usable, without history
            }
            if (meta.is_object()) {
                origParams_ = meta.value("original_params", origParams_);
                origPrunable_ = meta.value("original_prunable", origPrunable_);
                history_ = meta.value("history", json::array());
            }
        }
    }
    ScriptPrunable(const ScriptPrunable& o) : path_(o.path_), data_(o.data_), history_(o.history_) {
        std::stringstream ss;
        o.mod_.save(ss);
        mod_ = torch::jit::load(ss);
        init();
        origParams_ = o.origParams_;
        origPrunable_ = o.origPrunable_;
    }

    PruneModelKind kind() const override { return PruneModelKind::TorchScript; }
    int64_t originalParams() const override { return origParams_; }
    int64_t originalPrunable() const override { return origPrunable_; }
    ModelCost cost() const override {
        ModelCost c;
        for (const auto& p : mod_.parameters()) c.params += p.numel();
        for (const auto& w : prunable_) {
            c.prunableParams += w.w.numel();
            c.nonzeroPrunable += w.mask.sum().item<int64_t>();
        }
        c.macs = -1;  // a TorchScript graph has no shape-derived MAC count here
        return c;
    }

    void pruneTo(double fraction, PruneModality mod, PruneCriterion crit, uint64_t seed, int taylorBatches) override {
        if (mod != PruneModality::Unstructured)
            throw Error(path_ + ": TorchScript models are pruned unstructured only (their graph is not rewritten)");
        std::vector<torch::Tensor> grads;
        if (crit == PruneCriterion::Taylor) grads = taylorGrads(taylorBatches, seed);
        auto gen = at::detail::createCPUGenerator(seed + 104729);
        torch::NoGradGuard ng;
        auto scoreOf = [&](size_t i) -> torch::Tensor {
            switch (crit) {
            case PruneCriterion::Magnitude:
            case PruneCriterion::LayerWise: return prunable_[i].w.abs();
            case PruneCriterion::Random: return torch::rand(prunable_[i].w.sizes(), gen);
            case PruneCriterion::Taylor: return (prunable_[i].w * grads[i]).abs();
            default:
                throw Error(std::string("criterion ") + criterionName(crit) +
                            " does not apply to TorchScript weights (magnitude, layerwise, random, taylor)");
            }
        };
        if (crit == PruneCriterion::LayerWise) {
            for (size_t i = 0; i < prunable_.size(); ++i) maskLowest({&prunable_[i].w}, {&prunable_[i].mask}, {scoreOf(i)}, fraction);
        } else {
            std::vector<torch::Tensor*> w, m;
            std::vector<torch::Tensor> s;
            for (size_t i = 0; i < prunable_.size(); ++i) {
                w.push_back(&prunable_[i].w);
                m.push_back(&prunable_[i].mask);
                s.push_back(scoreOf(i));
            }
            maskLowest(w, m, s, fraction);
        }
    }

    int fineTune(const FineTuneOptions& opt, uint64_t seed, JobContext& ctx) override {
        const auto& d = *data_.impl();
        EarlyStopper es(opt.patience, opt.minDelta, opt.epochs);
        es.observe(evaluate(Split::Val).top1);
        auto best = snapshot();
        if (es.shouldStop()) return 0;
        std::vector<torch::Tensor> params;
        for (auto p : mod_.parameters()) {
            p.set_requires_grad(true);
            params.push_back(p);
        }
        torch::optim::SGD sgd(params,
                              torch::optim::SGDOptions(opt.lr).momentum(opt.momentum).weight_decay(opt.weightDecay));
        auto gen = at::detail::createCPUGenerator(seed);
        const int64_t N = d.x[0].size(0);
        while (!es.shouldStop()) {
            mod_.train(true);
            auto perm = torch::randperm(N, gen, torch::kLong);
            double lossSum = 0;
            int64_t correct = 0;
            for (int64_t s = 0; s < N; s += opt.batch) {
                ctx.throwIfCancelled();
                auto idx = perm.slice(0, s, std::min(N, s + opt.batch));
                auto y = d.y[0].index_select(0, idx);
                auto logits = mod_.forward({d.x[0].index_select(0, idx)}).toTensor();
                auto loss = F::cross_entropy(logits, y);
                sgd.zero_grad();
                loss.backward();
                sgd.step();
                applyMasks();
                lossSum += loss.item<double>() * double(idx.size(0));
                correct += logits.argmax(1).eq(y).sum().item<int64_t>();
            }
            mod_.train(false);
            const double val = evaluate(Split::Val).top1;
            if (es.observe(val)) best = snapshot();
            ctx.emit(Event{"prune.epoch",
                           {{"epoch", es.epochs()}, {"loss", lossSum / double(std::max<int64_t>(1, N))},
                            {"train_accuracy", double(correct) / double(std::max<int64_t>(1, N))},
                            {"val_accuracy", val}, {"best_val", es.best()}},
                           {}});
        }
        for (auto p : mod_.parameters()) p.set_requires_grad(false);
        restore(best);
        return es.epochs();
    }

    Accuracy evaluate(Split split) const override {
        const auto& d = *data_.impl();
        auto m = mod_;  // shallow handle: same module
        m.eval();
        return cnn::accuracyOf(d.x[int(split)], d.y[int(split)], 256,
                               [&](const torch::Tensor& x) { return m.forward({x}).toTensor(); });
    }

    double latencyMs(int batch, int reps) const override {
        const auto& d = *data_.impl();
        torch::NoGradGuard ng;
        auto m = mod_;
        m.eval();
        auto x = torch::randn({batch, d.channels, d.size, d.size});
        return medianMs(reps, [&] { (void)m.forward({x}).toTensor().data_ptr<float>(); });
    }

    void recordPruning(const PruneOptions& opt, int total) override {
        history_.push_back({{"pruned",
                             {{"strategy", strategyName(opt.strategy)},
                              {"target", opt.target},
                              {"steps", opt.steps},
                              {"criterion", criterionName(opt.criterion)},
                              {"total_epochs", total}}}});
    }

    void save(const std::string& path) const override {
        std::ostringstream os;
        const json meta = {{"format", "pqw-torchscript-pruning"},
                           {"version", 1},
                           {"original_params", origParams_},
                           {"original_prunable", origPrunable_},
                           {"history", history_}};
        torch::jit::ExtraFilesMap extra{{"pqw_pruning.json", meta.dump()}};
        mod_.save(os, extra);
        writeFileAtomic(path, os.str());
    }
    std::unique_ptr<Prunable> clone() const override { return std::make_unique<ScriptPrunable>(*this); }

private:
    struct Weight {
        std::string name;
        torch::Tensor w, mask;
    };

    void init() {
        torch::NoGradGuard ng;
        prunable_.clear();
        for (const auto& np : mod_.named_parameters(/*recurse=*/true)) {
            const std::string& n = np.name;
            const std::string last = n.substr(n.rfind('.') == std::string::npos ? 0 : n.rfind('.') + 1);
            if (last != "weight" || (np.value.dim() != 2 && np.value.dim() != 4)) continue;
            prunable_.push_back({n, np.value, (np.value != 0).to(torch::kFloat)});
        }
        if (prunable_.empty())
            throw Error(path_ + ": the TorchScript module has no conv / linear parameters named 'weight'");
        const auto c = cost();
        origParams_ = c.params;
        origPrunable_ = c.prunableParams;
        // The module must map the data to logits over the data's classes.
        const auto& d = *data_.impl();
        torch::Tensor out;
        try {
            auto m = mod_;
            m.eval();
            out = m.forward({d.x[0].slice(0, 0, 2)}).toTensor();
        } catch (const std::exception& e) {
            throw Error(path_ + ": the module does not run on the data's [N, " + std::to_string(d.channels) + ", " +
                        std::to_string(d.size) + ", " + std::to_string(d.size) + "] tensors (" +
                        std::string(e.what()).substr(0, 200) + ")");
        }
        if (out.dim() != 2 || out.size(1) != d.classes)
            throw Error(path_ + ": the module's output has shape " + std::string(c10::str(out.sizes())) +
                        "; logits over the data's " + std::to_string(d.classes) + " classes are needed");
    }

    void applyMasks() {
        torch::NoGradGuard ng;
        for (auto& w : prunable_) w.w.mul_(w.mask);
    }

    std::vector<torch::Tensor> taylorGrads(int batches, uint64_t seed) {
        const auto& d = *data_.impl();
        auto gen = at::detail::createCPUGenerator(seed + 7919);
        const int64_t N = d.x[0].size(0);
        auto perm = torch::randperm(N, gen, torch::kLong);
        mod_.eval();
        for (auto& w : prunable_) {
            w.w.set_requires_grad(true);
            w.w.mutable_grad() = torch::Tensor();
        }
        int used = 0;
        for (int64_t s = 0; s < N && used < batches; s += 64, ++used) {
            auto idx = perm.slice(0, s, std::min(N, s + 64));
            F::cross_entropy(mod_.forward({d.x[0].index_select(0, idx)}).toTensor(), d.y[0].index_select(0, idx))
                .backward();
        }
        std::vector<torch::Tensor> g;
        for (auto& w : prunable_) {
            g.push_back(w.w.grad().defined() ? w.w.grad().detach().clone() / double(std::max(1, used))
                                             : torch::zeros_like(w.w));
            w.w.mutable_grad() = torch::Tensor();
            w.w.set_requires_grad(false);
        }
        return g;
    }

    std::vector<torch::Tensor> snapshot() const {
        std::vector<torch::Tensor> s;
        for (const auto& p : mod_.parameters()) s.push_back(p.detach().clone());
        for (const auto& b : mod_.buffers()) s.push_back(b.detach().clone());
        return s;
    }
    void restore(const std::vector<torch::Tensor>& s) {
        torch::NoGradGuard ng;
        size_t k = 0;
        for (auto p : mod_.parameters()) p.copy_(s.at(k++));
        for (auto b : mod_.buffers()) b.copy_(s.at(k++));
    }

    std::string path_;
    ImageTensors data_;
    torch::jit::Module mod_;
    std::vector<Weight> prunable_;
    json history_ = json::array();
    int64_t origParams_ = 0, origPrunable_ = 0;
};

}  // namespace

std::unique_ptr<Prunable> prunableProto(const ProtoModel& model, std::shared_ptr<const FeatureCache> cache,
                                        PruneModelKind kind) {
    if (kind != PruneModelKind::ProtoCodebook && kind != PruneModelKind::ProtoWeights)
        throw Error(std::string("a ProtoQuant model is pruned as protoquant-codebook or protoquant-weights, not ") +
                    modelKindName(kind));
    return std::make_unique<ProtoPrunable>(model, std::move(cache), kind);
}

std::unique_ptr<Prunable> prunableTorchScript(const std::string& path, const ImageTensors& data) {
    return std::make_unique<ScriptPrunable>(path, data);
}

const ProtoModel* prunedProtoModel(const Prunable& p) {
    auto* pp = dynamic_cast<const ProtoPrunable*>(&p);
    return pp ? &pp->model() : nullptr;
}

}  // namespace pqw
