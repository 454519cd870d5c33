#include "pqw/probe.h"

#include <torch/torch.h>

#include "pqw/error.h"

namespace pqw {

namespace {

/// Global-average-pooled features of the given samples as an [n, C] tensor.
torch::Tensor pooled(const FeatureCache& cache, const std::vector<size_t>& idx) {
    const auto s = cache.shape();
    const int64_t hw = s[1] * s[2];
    auto out = torch::empty({static_cast<int64_t>(idx.size()), s[0]});
    std::vector<float> buf(static_cast<size_t>(s[0] * hw));
    for (size_t k = 0; k < idx.size(); ++k) {
        cache.read(idx[k], buf.data());
        out[static_cast<int64_t>(k)] = torch::from_blob(buf.data(), {s[0], hw}).mean(1);
    }
    return out;
}

torch::Tensor labelsOf(const FeatureCache& cache, const std::vector<size_t>& idx) {
    auto y = torch::empty({static_cast<int64_t>(idx.size())}, torch::kLong);
    auto a = y.accessor<int64_t, 1>();
    for (size_t k = 0; k < idx.size(); ++k) a[static_cast<int64_t>(k)] = cache.label(idx[k]);
    return y;
}

struct ProbeNet : torch::nn::Module {
    torch::nn::LayerNorm norm{nullptr};
    torch::nn::Linear fc{nullptr};
    bool useNorm;
    ProbeNet(int64_t d, int64_t n, bool ln) : useNorm(ln) {
        norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
        fc = register_module("fc", torch::nn::Linear(d, n));
    }
    torch::Tensor forward(const torch::Tensor& x) { return fc->forward(useNorm ? norm->forward(x) : x); }
};

double accuracy(ProbeNet& net, const torch::Tensor& x, const torch::Tensor& y) {
    if (x.size(0) == 0) return 0.0;
    torch::NoGradGuard ng;
    return net.forward(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>();
}

}  // namespace

ProbeResult trainProbe(const FeatureCache& cache, const ProbeOptions& opt, JobContext& ctx) {
    if (opt.epochs < 1 || opt.batchSize < 1) throw Error("probe: epochs and batch size must be positive");
    const auto trainIdx = cache.indices(Split::Train);
    const auto valIdx = cache.indices(Split::Val);
    const auto testIdx = cache.indices(Split::Test);
    if (trainIdx.empty()) throw Error("probe: the cache has no training samples");
    if (valIdx.empty()) throw Error("probe: the cache has no validation samples (model selection needs them)");
    torch::manual_seed(opt.seed);
    ctx.progress(0.0, "pooling features");
    const auto xtr = pooled(cache, trainIdx), xva = pooled(cache, valIdx), xte = pooled(cache, testIdx);
    const auto ytr = labelsOf(cache, trainIdx), yva = labelsOf(cache, valIdx), yte = labelsOf(cache, testIdx);
    const int64_t d = cache.shape()[0], nc = static_cast<int64_t>(cache.classNames().size());

    ProbeNet net(d, nc, opt.layerNorm);
    torch::optim::AdamW optim(net.parameters(), torch::optim::AdamWOptions(opt.lr).weight_decay(opt.weightDecay));
    ProbeResult res;
    std::vector<torch::Tensor> best;
    const int64_t n = xtr.size(0);
    auto gen = torch::make_generator<torch::CPUGeneratorImpl>(opt.seed);
    for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
        net.train();
        auto perm = torch::randperm(n, gen, torch::kLong);
        double lossSum = 0;
        int64_t seen = 0;
        for (int64_t b = 0; b < n; b += opt.batchSize) {
            ctx.throwIfCancelled();
            auto ids = perm.slice(0, b, std::min(n, b + opt.batchSize));
            auto loss = torch::nn::functional::cross_entropy(net.forward(xtr.index_select(0, ids)), ytr.index_select(0, ids));
            optim.zero_grad();
            loss.backward();
            optim.step();
            lossSum += loss.item<double>() * ids.size(0);
            seen += ids.size(0);
        }
        net.eval();
        const double trainAcc = accuracy(net, xtr, ytr), valAcc = accuracy(net, xva, yva);
        res.lossHistory.push_back(lossSum / double(seen));
        res.valHistory.push_back(valAcc);
        if (epoch == 1 || valAcc > res.valAccuracy) {
            res.valAccuracy = valAcc;
            res.trainAccuracy = trainAcc;
            res.bestEpoch = epoch;
            best.clear();
            for (const auto& p : net.parameters()) best.push_back(p.detach().clone());
        }
        ctx.emit(Event{"probe.epoch",
                       {{"epoch", double(epoch)}, {"loss", res.lossHistory.back()}, {"train_accuracy", trainAcc},
                        {"val_accuracy", valAcc}},
                       {}});
        ctx.progress(double(epoch) / opt.epochs, "training probe");
    }
    {
        torch::NoGradGuard ng;
        auto params = net.parameters();
        for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
    }
    net.eval();
    res.testAccuracy = accuracy(net, xte, yte);
    return res;
}

}  // namespace pqw
