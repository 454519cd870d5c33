// ProtoQuant training stages on a feature cache: stage 0, codebook (stage 1), usage-based
// codebook pruning (1b), interpretable head (stage 2), the free-prototype baseline, and
// evaluation.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "model_impl.h"
#include "pqw/error.h"
#include "pqw/training_checks.h"

using json = nlohmann::json;
namespace F = torch::nn::functional;

namespace pqw {

namespace {

constexpr double kPi = 3.14159265358979323846;

void requireSplits(const FeatureCache& cache) {
    if (cache.indices(Split::Train).empty()) throw Error("the feature cache has no training samples");
    if (cache.indices(Split::Val).empty())
        throw Error("the feature cache has no validation samples (model selection needs them)");
    requireFiniteFeatures(cache);  // NaN / Inf features would train a NaN model
}

/// One rule for every training stage: a non-finite loss ends the stage with an error (the
/// model keeps what it had before the stage; nothing is saved).
void requireFiniteLoss(const std::string& stage, int epoch, double loss, double lr) {
    if (std::isfinite(loss)) return;
    std::ostringstream o;
    o << stage << ": the loss became " << (std::isnan(loss) ? "NaN" : "infinite") << " in epoch " << epoch
      << " (learning rate " << lr << "); training stopped and nothing was saved. Lower the learning rate or "
      << "check the features";
    throw Error(o.str());
}

/// Seeded permutation of 0..n-1 (std::mt19937_64 + our own Fisher-Yates: portable).
std::vector<size_t> permutation(size_t n, std::mt19937_64& rng) {
    std::vector<size_t> p(n);
    std::iota(p.begin(), p.end(), size_t(0));
    for (size_t i = n; i > 1; --i) std::swap(p[i - 1], p[rng() % i]);
    return p;
}

/// Runs fn(batchIds) over ids in chunks, checking for cancellation between chunks.
template <typename Fn>
void forBatches(const std::vector<size_t>& ids, size_t batch, JobContext& ctx, Fn&& fn) {
    for (size_t b = 0; b < ids.size(); b += batch) {
        ctx.throwIfCancelled();
        std::vector<size_t> chunk(ids.begin() + static_cast<long>(b),
                                  ids.begin() + static_cast<long>(std::min(ids.size(), b + batch)));
        fn(chunk);
    }
}

double lrAt(double base, int64_t step, int64_t warm, int64_t total) {
    if (step < warm) return base * double(step + 1) / double(warm);
    if (total <= warm) return base;
    return base * 0.5 * (1.0 + std::cos(kPi * double(step - warm) / double(total - warm)));
}

void setLr(torch::optim::Adam& opt, double lr) {
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

void emitRecord(JobContext& ctx, const EpochRecord& r) {
    Event e;
    e.kind = r.stage + ".epoch";
    e.values = {{"epoch", r.epoch}, {"loss", r.loss}, {"ce", r.ceLoss}, {"mse", r.mseLoss},
                {"train_accuracy", r.trainAccuracy}, {"val_accuracy", r.valAccuracy}, {"lr", r.lr}};
    if (r.deadCodes >= 0) e.values["dead_codes"] = r.deadCodes;
    if (r.perplexity >= 0) e.values["perplexity"] = r.perplexity;
    ctx.emit(e);
}

/// Accuracy of a logits function over a split.
template <typename LogitsFn>
double splitAccuracy(const pq::Batcher& b, const std::vector<size_t>& ids, JobContext& ctx, LogitsFn&& fn) {
    if (ids.empty()) return 0.0;
    torch::NoGradGuard ng;
    int64_t correct = 0;
    forBatches(ids, 512, ctx, [&](const std::vector<size_t>& chunk) {
        auto z = fn(b.features(chunk));
        correct += z.argmax(1).eq(b.labels(chunk)).sum().template item<int64_t>();
    });
    return double(correct) / double(ids.size());
}

/// Spherical k-means (cosine assignment, centres = mean of the raw assigned features, so
/// codes keep the features' scale) on a seeded sample of training cells.
torch::Tensor kmeansInit(const pq::Batcher& b, const std::vector<size_t>& train, int K, uint64_t seed,
                         JobContext& ctx) {
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    auto perm = permutation(train.size(), rng);
    // At most 2000 images' cells (98k cells at 7x7): enough for K in the thousands.
    std::vector<size_t> pick;
    for (size_t i = 0; i < std::min<size_t>(perm.size(), 2000); ++i) pick.push_back(train[perm[i]]);
    auto cells = b.features(pick).reshape({-1, b.cache().shape()[0]});  // [M, D]
    const int64_t M = cells.size(0);
    if (M < K) throw Error("k-means initialisation: " + std::to_string(M) + " cells for " + std::to_string(K) + " codes");
    // Seeds: K distinct random cells.
    std::vector<size_t> cellPerm = permutation(static_cast<size_t>(M), rng);
    std::vector<size_t> first(cellPerm.begin(), cellPerm.begin() + K);
    auto centres = cells.index_select(0, pq::toIndexTensor(first)).clone();
    for (int it = 0; it < 15; ++it) {
        ctx.throwIfCancelled();
        auto idx = pq::assign(cells, centres);
        auto sums = torch::zeros_like(centres).index_add_(0, idx, cells);
        auto counts = torch::bincount(idx, {}, K).to(torch::kFloat);
        auto alive = counts > 0;
        auto means = sums / counts.clamp_min(1).unsqueeze(1);
        centres = torch::where(alive.unsqueeze(1), means, centres);
    }
    return centres;
}

torch::Tensor orthogonalInit(const pq::Batcher& b, const std::vector<size_t>& train, int K, int64_t D) {
    auto c = torch::empty({K, D});
    torch::nn::init::orthogonal_(c);
    std::vector<size_t> some(train.begin(), train.begin() + static_cast<long>(std::min<size_t>(train.size(), 256)));
    const double scale = b.features(some).norm(2, -1).mean().item<double>();
    return F::normalize(c, F::NormalizeFuncOptions().dim(1)) * scale;
}

torch::Tensor initPrototypes(const std::string& init, const pq::Batcher& b, const std::vector<size_t>& train, int K,
                             int64_t D, uint64_t seed, JobContext& ctx) {
    if (K < 1) throw Error("the number of prototypes must be at least 1");
    if (init == "kmeans") return kmeansInit(b, train, K, seed, ctx);
    if (init == "orthogonal") return orthogonalInit(b, train, K, D);
    if (init == "random") return torch::randn({K, D});
    throw Error("unknown initialisation '" + init + "' (kmeans, orthogonal or random)");
}

json toJson(const CodebookOptions& o) {
    return {{"codes", o.codes}, {"init", o.init}, {"epochs", o.epochs}, {"batch_size", o.batchSize}, {"lr", o.lr},
            {"warmup_epochs", o.warmupEpochs}, {"label_smoothing", o.labelSmoothing}, {"mixup_alpha", o.mixupAlpha},
            {"commitment_weight", o.commitmentWeight}, {"seed", o.seed}};
}
json toJson(const HeadOptions& o) {
    return {{"epochs", o.epochs}, {"batch_size", o.batchSize}, {"lr", o.lr}, {"tau", o.tau}, {"l1", o.l1},
            {"finetune_codes", o.finetuneCodes}, {"top_k_per_class", o.topKPerClass}, {"seed", o.seed}};
}

/// Shared by stage 2 and the baseline: trains W (and the prototypes when asked).
std::vector<EpochRecord> fitHead(ProtoModel::Impl& d, const FeatureCache& cache, const HeadOptions& opt,
                                 bool trainPrototypes, const std::string& stage, JobContext& ctx) {
    if (opt.epochs < 1 || opt.batchSize < 1) throw Error(stage + ": epochs and batch size must be positive");
    if (!(opt.tau > 0)) throw Error(stage + ": tau must be positive");
    pq::Batcher b(cache);
    const auto train = cache.indices(Split::Train), val = cache.indices(Split::Val);
    torch::manual_seed(opt.seed);
    // Work on local tensors and commit at the end: a cancelled stage leaves the model as it was.
    auto Wt = (torch::randn({d.N(), d.K()}) * 0.1 + 1.0).set_requires_grad(true);
    auto codes = d.codes.detach().clone().set_requires_grad(trainPrototypes);
    std::vector<torch::Tensor> params{Wt};
    if (trainPrototypes) params.push_back(codes);
    torch::optim::Adam optim(params, torch::optim::AdamOptions(opt.lr));
    std::mt19937_64 rng(opt.seed);
    std::vector<EpochRecord> out;
    torch::Tensor bestW, bestCodes;
    double bestVal = -1;
    const auto noMask = torch::Tensor();
    for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
        const auto perm = permutation(train.size(), rng);
        std::vector<size_t> order;
        order.reserve(perm.size());
        for (auto i : perm) order.push_back(train[i]);
        double lossSum = 0;
        int64_t seen = 0, correct = 0;
        forBatches(order, static_cast<size_t>(opt.batchSize), ctx, [&](const std::vector<size_t>& ids) {
            auto f = b.features(ids);
            auto y = b.labels(ids);
            auto out = pq::headForward(f, codes, Wt, opt.tau, noMask, 0.f);
            auto loss = F::cross_entropy(out.logits, y);
            if (opt.l1 > 0) loss = loss + opt.l1 * torch::relu(Wt).sum() / double(d.N());
            optim.zero_grad();
            loss.backward();
            optim.step();
            lossSum += loss.item<double>() * double(ids.size());
            seen += static_cast<int64_t>(ids.size());
            correct += out.logits.argmax(1).eq(y).sum().item<int64_t>();
            ctx.progress((epoch - 1 + double(seen) / double(train.size())) / opt.epochs, "training " + stage);
        });
        EpochRecord r;
        r.stage = stage;
        r.epoch = epoch;
        r.loss = r.ceLoss = lossSum / double(seen);
        requireFiniteLoss(stage, epoch, r.loss, opt.lr);
        r.trainAccuracy = double(correct) / double(seen);
        r.lr = opt.lr;
        {
            torch::NoGradGuard ng;
            auto cd = codes.detach(), wd = Wt.detach();
            r.valAccuracy = splitAccuracy(b, val, ctx, [&](const torch::Tensor& f) {
                return pq::headForward(f, cd, wd, opt.tau, noMask, 0.f).logits;
            });
        }
        if (r.valAccuracy > bestVal) {
            bestVal = r.valAccuracy;
            bestW = Wt.detach().clone();
            bestCodes = codes.detach().clone();
        }
        out.push_back(r);
        emitRecord(ctx, r);
    }
    d.tau = opt.tau;
    d.W = bestW;
    d.codes = bestCodes;
    d.enabled.assign(static_cast<size_t>(d.K()), 1);
    return out;
}

}  // namespace

void requireFiniteFeatures(const FeatureCache& cache) {
    const auto s = cache.shape();
    const size_t per = size_t(s[0] * s[1] * s[2]);
    for (Split sp : {Split::Train, Split::Val})
        for (size_t i : cache.indices(sp)) {
            const uint16_t* p = cache.raw(i);
            for (size_t k = 0; k < per; ++k)
                if ((p[k] & 0x7c00) == 0x7c00)  // fp16 exponent all ones: Inf or NaN
                    throw Error(std::string("features.f16: sample ") + std::to_string(i) + " holds " +
                                ((p[k] & 0x03ff) ? "NaN" : "infinite") + " features (value " + std::to_string(k) +
                                "); extract the features again");
        }
}

TrainStages parseTrainStages(const std::string& list) {
    TrainStages st;
    size_t named = 0;
    std::string item;
    std::istringstream in(list);
    while (std::getline(in, item, ',')) {
        const auto a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
        item = a == std::string::npos ? std::string() : item.substr(a, b - a + 1);
        bool* flag = item == "0" ? &st.stage0 : item == "1" ? &st.stage1 : item == "1b" ? &st.stage1b : item == "2" ? &st.stage2 : nullptr;
        if (!flag)
            throw Error("'" + item + "' is not a stage; give a comma-separated list of 0, 1, 1b and 2 (e.g. 0,1,2)");
        if (*flag) throw Error("stage " + item + " is listed twice");
        *flag = true;
        ++named;
    }
    if (named == 0) throw Error("no stage given; give a comma-separated list of 0, 1, 1b and 2 (e.g. 0,1,2)");
    return st;
}

// ---------------------------------------------------------------------------------------
std::vector<EpochRecord> trainStage0(ProtoModel& m, const FeatureCache& cache, const Stage0Options& opt,
                                     JobContext& ctx) {
    m.checkCompatible(cache);
    requireSplits(cache);
    if (opt.epochs < 1 || opt.batchSize < 1) throw Error("stage 0: epochs and batch size must be positive");
    auto& d = m.impl();
    pq::Batcher b(cache);
    const auto train = cache.indices(Split::Train), val = cache.indices(Split::Val);
    ctx.progress(0, "pooling features");
    auto pool = [&](const std::vector<size_t>& ids) {
        std::vector<torch::Tensor> parts;
        forBatches(ids, 1024, ctx, [&](const std::vector<size_t>& c) { parts.push_back(b.features(c).mean(1)); });
        return torch::cat(parts);
    };
    const auto xtr = pool(train), xva = pool(val);
    const auto ytr = b.labels(train), yva = b.labels(val);
    torch::manual_seed(opt.seed);
    torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({d.D()}));
    torch::nn::Linear fc(d.D(), d.N());
    std::vector<torch::Tensor> params = ln->parameters();
    for (auto& p : fc->parameters()) params.push_back(p);
    torch::optim::AdamW optim(params, torch::optim::AdamWOptions(opt.lr).weight_decay(opt.weightDecay));
    std::mt19937_64 rng(opt.seed);
    std::vector<EpochRecord> out;
    double bestVal = -1;
    const int64_t n = xtr.size(0);
    for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
        const auto perm = pq::toIndexTensor(permutation(static_cast<size_t>(n), rng));
        double lossSum = 0;
        for (int64_t s = 0; s < n; s += opt.batchSize) {
            ctx.throwIfCancelled();
            auto ids = perm.slice(0, s, std::min(n, s + opt.batchSize));
            auto loss = F::cross_entropy(fc->forward(ln->forward(xtr.index_select(0, ids))), ytr.index_select(0, ids));
            optim.zero_grad();
            loss.backward();
            optim.step();
            lossSum += loss.item<double>() * double(ids.size(0));
        }
        EpochRecord r;
        r.stage = "stage0";
        r.epoch = epoch;
        r.loss = r.ceLoss = lossSum / double(n);
        requireFiniteLoss("stage 0", epoch, r.loss, opt.lr);
        r.lr = opt.lr;
        {
            torch::NoGradGuard ng;
            r.trainAccuracy = fc->forward(ln->forward(xtr)).argmax(1).eq(ytr).to(torch::kFloat).mean().item<double>();
            r.valAccuracy = fc->forward(ln->forward(xva)).argmax(1).eq(yva).to(torch::kFloat).mean().item<double>();
        }
        if (r.valAccuracy > bestVal) {
            bestVal = r.valAccuracy;
            d.lnWeight = ln->weight.detach().clone();
            d.lnBias = ln->bias.detach().clone();
            d.fcWeight = fc->weight.detach().clone();
            d.fcBias = fc->bias.detach().clone();
        }
        out.push_back(r);
        emitRecord(ctx, r);
        ctx.progress(double(epoch) / opt.epochs, "training stage 0");
    }
    d.stage0 = true;
    d.stage0Script.reset();  // a native stage 0 replaces a TorchScript one
    d.stage0ScriptBytes.clear();
    d.stage0ScriptName.clear();
    d.hyper["stage0"] = {{"epochs", opt.epochs}, {"batch_size", opt.batchSize}, {"lr", opt.lr},
                         {"weight_decay", opt.weightDecay}, {"seed", opt.seed}};
    d.history.insert(d.history.end(), out.begin(), out.end());
    return out;
}

std::vector<EpochRecord> trainCodebook(ProtoModel& m, const FeatureCache& cache, const CodebookOptions& opt,
                                       JobContext& ctx) {
    m.checkCompatible(cache);
    requireSplits(cache);
    auto& d = m.impl();
    if (!d.stage0) throw Error("stage 1 needs the frozen stage-0 head: train stage 0 first");
    if (opt.epochs < 1 || opt.batchSize < 1) throw Error("stage 1: epochs and batch size must be positive");
    if (opt.warmupEpochs < 0 || opt.warmupEpochs > opt.epochs) throw Error("stage 1: warm-up epochs out of range");
    pq::Batcher b(cache);
    const auto train = cache.indices(Split::Train), val = cache.indices(Split::Val);
    torch::manual_seed(opt.seed);
    ctx.progress(0, "initialising codebook");
    auto codes = initPrototypes(opt.init, b, train, opt.codes, d.D(), opt.seed, ctx).set_requires_grad(true);
    const int K = opt.codes;
    torch::optim::Adam optim({codes}, torch::optim::AdamOptions(opt.lr));
    std::mt19937_64 rng(opt.seed);
    std::gamma_distribution<double> gamma(opt.mixupAlpha > 0 ? opt.mixupAlpha : 1.0, 1.0);
    const int64_t stepsPerEpoch = (static_cast<int64_t>(train.size()) + opt.batchSize - 1) / opt.batchSize;
    const int64_t total = stepsPerEpoch * opt.epochs, warm = stepsPerEpoch * opt.warmupEpochs;
    int64_t step = 0;
    std::vector<EpochRecord> out;
    torch::Tensor bestCodes;
    double bestVal = -1;
    // The frozen head sees the quantised map (TorchScript head) or its average pool (native).
    const auto frozenHead = [&](const torch::Tensor& q) { return pq::stage0LogitsMap(d, q); };
    for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
        const auto perm = permutation(train.size(), rng);
        std::vector<size_t> order;
        order.reserve(perm.size());
        for (auto i : perm) order.push_back(train[i]);
        auto usage = torch::zeros({K}, torch::kLong);
        double lossSum = 0, ceSum = 0, mseSum = 0, lr = opt.lr;
        int64_t seen = 0, correct = 0;
        forBatches(order, static_cast<size_t>(opt.batchSize), ctx, [&](const std::vector<size_t>& ids) {
            auto f = b.features(ids);
            auto y = b.labels(ids);
            const auto B = f.size(0);
            double lam = 1.0;
            torch::Tensor y2;
            if (opt.mixupAlpha > 0 && B > 1) {
                const double g1 = gamma(rng), g2 = gamma(rng);
                lam = g1 / (g1 + g2);
                auto p = pq::toIndexTensor(permutation(static_cast<size_t>(B), rng));
                f = lam * f + (1 - lam) * f.index_select(0, p);
                y2 = y.index_select(0, p);
            }
            torch::Tensor idx;
            {
                torch::NoGradGuard ng;
                idx = pq::assign(f, codes.detach());  // no gradient through the argmax
            }
            auto q = codes.index_select(0, idx.reshape({-1})).view(f.sizes());
            auto logits = frozenHead(q);
            auto ceOpts = F::CrossEntropyFuncOptions().label_smoothing(opt.labelSmoothing);
            auto ce = F::cross_entropy(logits, y, ceOpts);
            if (y2.defined()) ce = lam * ce + (1 - lam) * F::cross_entropy(logits, y2, ceOpts);
            // MSE as F.mse_loss: mean over cells and channels (see docs/protoquant.md).
            auto mse = (q - f.detach()).pow(2).mean();
            auto loss = ce + opt.commitmentWeight * mse;
            lr = lrAt(opt.lr, step++, warm, total);
            setLr(optim, lr);
            optim.zero_grad();
            loss.backward();
            optim.step();
            usage += torch::bincount(idx.reshape({-1}), {}, K);
            lossSum += loss.item<double>() * double(B);
            ceSum += ce.item<double>() * double(B);
            mseSum += mse.item<double>() * double(B);
            seen += B;
            correct += logits.argmax(1).eq(y).sum().item<int64_t>();
            ctx.progress((epoch - 1 + double(seen) / double(train.size())) / opt.epochs, "learning the codebook");
        });
        EpochRecord r;
        r.stage = "stage1";
        r.epoch = epoch;
        r.loss = lossSum / double(seen);
        requireFiniteLoss("stage 1", epoch, r.loss, lr);
        r.ceLoss = ceSum / double(seen);
        r.mseLoss = mseSum / double(seen);
        r.trainAccuracy = double(correct) / double(seen);
        r.lr = lr;
        auto p = usage.to(torch::kDouble) / usage.sum().clamp_min(1).to(torch::kDouble);
        r.deadCodes = static_cast<int>((usage == 0).sum().item<int64_t>());
        r.perplexity = std::exp(-(p * torch::log(p.clamp_min(1e-30))).sum().item<double>());
        {
            torch::NoGradGuard ng;
            auto cd = codes.detach();
            r.valAccuracy = splitAccuracy(b, val, ctx, [&](const torch::Tensor& f) {
                auto idx = pq::assign(f, cd);
                return frozenHead(cd.index_select(0, idx.reshape({-1})).view(f.sizes()));
            });
        }
        if (r.valAccuracy > bestVal) {
            bestVal = r.valAccuracy;
            bestCodes = codes.detach().clone();
        }
        out.push_back(r);
        emitRecord(ctx, r);
        Event u{"stage1.usage", {{"epoch", epoch}}, {}};
        auto ua = usage.accessor<int64_t, 1>();
        for (int k = 0; k < K; ++k) u.values["code_" + std::to_string(k)] = double(ua[k]);
        ctx.emit(u);
    }
    d.codes = bestCodes;
    d.W = torch::Tensor();  // a new codebook invalidates any head
    d.enabled.assign(static_cast<size_t>(K), 1);
    d.kind = "protoquant";
    d.hyper["stage1"] = toJson(opt);
    d.history.insert(d.history.end(), out.begin(), out.end());
    return out;
}

std::vector<int64_t> codeUsage(const ProtoModel& m, const FeatureCache& cache, Split split, JobContext& ctx) {
    m.checkCompatible(cache);
    const auto& d = m.impl();
    if (!m.hasCodebook()) throw Error("the model has no codebook");
    pq::Batcher b(cache);
    torch::NoGradGuard ng;
    auto usage = torch::zeros({d.K()}, torch::kLong);
    forBatches(cache.indices(split), 512, ctx, [&](const std::vector<size_t>& ids) {
        usage += torch::bincount(pq::assign(b.features(ids), d.codes).reshape({-1}), {}, d.K());
    });
    return std::vector<int64_t>(usage.data_ptr<int64_t>(), usage.data_ptr<int64_t>() + usage.numel());
}

namespace {
/// Keeps the prototypes in `keep` (ascending indices): codes, W columns, enabled flags.
void keepPrototypes(ProtoModel::Impl& d, const std::vector<int64_t>& keep) {
    std::vector<size_t> k(keep.begin(), keep.end());
    auto ids = pq::toIndexTensor(k);
    d.codes = d.codes.detach().index_select(0, ids).clone();
    if (d.W.defined()) d.W = d.W.detach().index_select(1, ids).clone();
    std::vector<char> en;
    for (auto i : keep) en.push_back(static_cast<size_t>(i) < d.enabled.size() ? d.enabled[static_cast<size_t>(i)] : 1);
    d.enabled = en;
}
}  // namespace

std::vector<int> pruneCodebook(ProtoModel& m, const FeatureCache& cache, const CodebookPruneOptions& opt,
                               JobContext& ctx) {
    auto& d = m.impl();
    if (!m.hasCodebook()) throw Error("stage 1b needs a codebook: train stage 1 first");
    const int K0 = static_cast<int>(d.K());
    if (opt.target < 1 || opt.target > K0)
        throw Error("codebook pruning target " + std::to_string(opt.target) + " must be in 1.." + std::to_string(K0));
    if (opt.steps < 1) throw Error("codebook pruning needs at least one step");
    std::vector<int> sizes;
    const int toRemove = K0 - opt.target;
    for (int s = 0; s < opt.steps; ++s) {
        const int K = static_cast<int>(d.K());
        // Equal steps; the last one takes the remainder so the steps sum to K0 - target.
        const int remove = (s == opt.steps - 1) ? K - opt.target : toRemove / opt.steps;
        auto usage = codeUsage(m, cache, Split::Val, ctx);
        std::vector<int64_t> order(static_cast<size_t>(K));
        std::iota(order.begin(), order.end(), 0);
        // Least used first; ties broken by index so the result is deterministic.
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return usage[size_t(a)] < usage[size_t(b)]; });
        std::vector<int64_t> keep(order.begin() + remove, order.end());
        std::sort(keep.begin(), keep.end());
        keepPrototypes(d, keep);
        sizes.push_back(static_cast<int>(d.K()));
        ctx.emit(Event{"stage1b.step", {{"step", s + 1}, {"codes", double(d.K())}, {"removed", double(remove)}}, {}});
        ctx.progress(double(s + 1) / opt.steps, "pruning the codebook");
    }
    d.hyper["stage1b"] = {{"target", opt.target}, {"steps", opt.steps}};
    return sizes;
}

std::vector<EpochRecord> trainHead(ProtoModel& m, const FeatureCache& cache, const HeadOptions& opt, JobContext& ctx) {
    m.checkCompatible(cache);
    requireSplits(cache);
    auto& d = m.impl();
    if (!m.hasCodebook()) throw Error("stage 2 needs a codebook: train stage 1 first");
    auto out = fitHead(d, cache, opt, opt.finetuneCodes, "stage2", ctx);
    d.hyper["stage2"] = toJson(opt);
    d.history.insert(d.history.end(), out.begin(), out.end());
    if (opt.topKPerClass > 0) sparsifyTopK(m, opt.topKPerClass);
    return out;
}

std::vector<EpochRecord> trainBaseline(ProtoModel& m, const FeatureCache& cache, const BaselineOptions& opt,
                                       JobContext& ctx) {
    m.checkCompatible(cache);
    requireSplits(cache);
    pq::Batcher b(cache);
    torch::manual_seed(opt.head.seed);
    auto work = m;  // a cancelled or failed run leaves m as it was
    auto& w = work.impl();
    w.codes = initPrototypes(opt.init, b, cache.indices(Split::Train), opt.prototypes, w.D(), opt.head.seed, ctx);
    w.W = torch::Tensor();
    auto out = fitHead(w, cache, opt.head, true, "baseline", ctx);
    w.kind = "baseline";
    m = std::move(work);
    auto& d = m.impl();
    d.hyper["baseline"] = toJson(opt.head);
    d.hyper["baseline"]["prototypes"] = opt.prototypes;
    d.hyper["baseline"]["init"] = opt.init;
    d.history.insert(d.history.end(), out.begin(), out.end());
    if (opt.head.topKPerClass > 0) sparsifyTopK(m, opt.head.topKPerClass);
    return out;
}

int sparsifyTopK(ProtoModel& m, int k) {
    auto& d = m.impl();
    if (!m.hasHead()) throw Error("top-k sparsification needs an interpretable head");
    if (k < 1) throw Error("top-k must be at least 1");
    torch::NoGradGuard ng;
    auto w = torch::relu(d.W.detach());
    const int64_t kk = std::min<int64_t>(k, w.size(1));
    auto top = std::get<1>(w.topk(kk, 1));
    auto mask = torch::zeros_like(w).scatter_(1, top, 1.0);
    d.W = (w * mask).contiguous();
    auto used = (d.W > 0).any(0);
    std::vector<int64_t> keep;
    auto ua = used.accessor<bool, 1>();
    for (int64_t p = 0; p < used.size(0); ++p)
        if (ua[p]) keep.push_back(p);
    if (keep.empty()) throw Error("top-k sparsification left no prototype with a positive weight");
    keepPrototypes(d, keep);
    d.hyper["top_k_per_class"] = k;
    return static_cast<int>(d.K());
}

Evaluation evaluate(const ProtoModel& m, const FeatureCache& cache, Split split, HeadKind head, JobContext& ctx) {
    m.checkCompatible(cache);
    const auto& d = m.impl();
    if (head == HeadKind::Stage0 && !d.stage0) throw Error("the model has no stage-0 head");
    if (head == HeadKind::Quantised && !(d.stage0 && m.hasCodebook())) throw Error("the model has no codebook");
    if (head == HeadKind::Interpretable && !m.hasHead()) throw Error("the model has no interpretable head");
    pq::Batcher b(cache);
    torch::NoGradGuard ng;
    const auto ids = cache.indices(split);
    const int64_t N = d.N();
    Evaluation ev;
    ev.split = splitName(split);
    ev.samples = ids.size();
    ev.confusion.assign(static_cast<size_t>(N), std::vector<int64_t>(static_cast<size_t>(N), 0));
    int64_t top1 = 0, top5 = 0, done = 0;
    forBatches(ids, 512, ctx, [&](const std::vector<size_t>& chunk) {
        auto f = b.features(chunk);
        torch::Tensor z;
        if (head == HeadKind::Stage0) z = pq::stage0LogitsMap(d, f);
        else if (head == HeadKind::Quantised) z = pq::quantisedLogits(d, f);
        else z = pq::headForward(d, f).logits;
        auto y = b.labels(chunk);
        auto pred = z.argmax(1);
        top1 += pred.eq(y).sum().item<int64_t>();
        auto t5 = std::get<1>(z.topk(std::min<int64_t>(5, N), 1));
        top5 += t5.eq(y.unsqueeze(1)).any(1).sum().item<int64_t>();
        auto pa = pred.accessor<int64_t, 1>();
        auto ya = y.accessor<int64_t, 1>();
        for (int64_t i = 0; i < y.size(0); ++i) ev.confusion[size_t(ya[i])][size_t(pa[i])]++;
        done += static_cast<int64_t>(chunk.size());
        ctx.progress(double(done) / double(ids.size()), "evaluating");
    });
    if (!ids.empty()) {
        ev.top1 = double(top1) / double(ids.size());
        ev.top5 = double(top5) / double(ids.size());
    }
    for (int64_t c = 0; c < N; ++c) {
        int64_t total = 0;
        for (auto v : ev.confusion[size_t(c)]) total += v;
        ev.perClass.push_back(total ? double(ev.confusion[size_t(c)][size_t(c)]) / double(total) : 0.0);
    }
    return ev;
}

}  // namespace pqw
