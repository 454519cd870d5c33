// OMENN: the attribution read from one backward pass through the frozen pass (bias
// placement), and the explanation modes (one target, all classes, ProtoQuant decisions).
// See docs/omenn.md.
#include <torch/torch.h>
#include <torch/script.h>

#include <unordered_map>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "backbone_impl.h"
#include "nn/transformer.h"
#include "omenn/explainer_impl.h"
#include "omenn/frozen.h"
#include "protoquant/model_impl.h"
#include "pqw/error.h"

namespace pqw {

namespace F = torch::nn::functional;

namespace {

using omenn::BiasTerm;
using omenn::FrozenPass;
using omenn::frozenPass;

/// Spreads a [h, w] grid over [H, W]: row i covers input rows [floor(i*H/h), floor((i+1)*H/h))
/// (at least one row), uniformly. Returns [H, h].
torch::Tensor spreadMatrix(int64_t H, int64_t h) {
    auto P = torch::zeros({H, h}, torch::kDouble);
    auto a = P.accessor<double, 2>();
    for (int64_t i = 0; i < h; ++i) {
        int64_t r0 = i * H / h, r1 = (i + 1) * H / h;
        r0 = std::min(r0, H - 1);
        r1 = std::max(r1, r0 + 1);
        r1 = std::min(r1, H);
        for (int64_t r = r0; r < r1; ++r) a[r][i] = 1.0 / static_cast<double>(r1 - r0);
    }
    return P;
}

}  // namespace

/// One bias term's contribution as a grid [h, w] (a spatial grid of `at`, a token tensor's
/// patch grid, or [1, 1] for a global term); `global` receives what has no position (class
/// tokens, tokens past the grid).
static torch::Tensor biasGrid(const BiasTerm& bt, const torch::Tensor& g, double& global) {
    using K = omenn::Placement::Kind;
    const auto& p = bt.place;
    if (p.kind == K::Legacy) {
        if (bt.at.dim() == 4) {
            if (bt.bias.dim() == 4 && bt.bias.size(2) == 1 && bt.bias.size(3) == 1)
                return torch::matmul(g[0].permute({1, 2, 0}), bt.bias.reshape({-1}).to(g.scalar_type()));
            return (g * bt.bias).sum(1)[0];
        }
        return (g * bt.bias).sum().view({1, 1});
    }
    if (p.kind == K::Grid && p.h >= 0 && p.w >= 0 && p.h < g.dim() && p.w < g.dim() && p.h != p.w) {
        if (p.h == 2 && p.w == 3 && g.dim() == 4 && bt.bias.dim() == 4 && bt.bias.numel() == g.size(1) &&
            bt.bias.size(1) == g.size(1))
            return torch::matmul(g.sum(0).permute({1, 2, 0}), bt.bias.reshape({-1}).to(g.scalar_type()));
        auto c = (g * bt.bias).movedim({p.h, p.w}, {0, 1});
        return c.reshape({c.size(0), c.size(1), -1}).sum(2);
    }
    if (p.kind == K::Tokens && p.t >= 0 && p.t < g.dim()) {
        auto c = (g * bt.bias).movedim(p.t, 0);
        auto per = c.reshape({c.size(0), -1}).sum(1);  // [T]
        const int64_t T = per.size(0), n = p.gh * p.gw;
        if (p.extra >= 0 && p.extra + n <= T && n > 0) {
            if (p.extra > 0) global += per.narrow(0, 0, p.extra).sum().item<double>();
            if (p.extra + n < T) global += per.narrow(0, p.extra + n, T - p.extra - n).sum().item<double>();
            return per.narrow(0, p.extra, n).reshape({p.gh, p.gw});
        }
        global += per.sum().item<double>();
        return torch::Tensor();
    }
    global += (g * bt.bias).sum().item<double>();
    return torch::Tensor();
}

/// The Attribution of scalar z (a function of fp.x built in the frozen pass).
Attribution omenn::attribute(const FrozenPass& fp, const torch::Tensor& z, double real, bool retain) {
    std::vector<torch::Tensor> inputs{fp.x};
    for (const auto& b : fp.biases) inputs.push_back(b.at);
    for (const auto& sl : fp.saturations) {  // written by this backward
        sl->grid = torch::Tensor();
        sl->biasGrid = torch::Tensor();
    }
    auto grads = torch::autograd::grad({z}, inputs, {}, retain, false, /*allow_unused=*/true);
    const int64_t H = fp.x.size(2), W = fp.x.size(3);
    Attribution a;
    a.method = "omenn";
    auto cw = (fp.x.detach() * grads[0])[0];  // [3, H, W]
    fillAttribution(a, cw, cw.sum(0));
    // Each bias term's [h, w] grid of contributions (one matrix-vector product for a per-channel
    // bias). Grids of one resolution are stacked: one reduction gives every layer's share, one
    // their sum, which is spread over the image once per resolution (in double).
    struct Level {
        std::vector<torch::Tensor> grids;
        std::vector<const std::string*> layers;
    };
    std::map<std::pair<int64_t, int64_t>, Level> levels;
    for (size_t i = 0; i < fp.biases.size(); ++i) {
        const auto& g = grads[i + 1];
        if (!g.defined()) continue;
        const auto& bt = fp.biases[i];
        double global = 0;
        torch::Tensor grid = biasGrid(bt, g, global);
        if (global != 0.0) {
            auto& lg = levels[{1, 1}];
            lg.grids.push_back(torch::full({1, 1}, global * bt.scale, torch::kDouble));
            lg.layers.push_back(&bt.layer);
        }
        if (!grid.defined()) continue;
        grid = grid.to(torch::kDouble);
        if (bt.scale != 1.0) grid = grid * bt.scale;
        auto& lv = levels[{grid.size(0), grid.size(1)}];
        lv.grids.push_back(grid);
        lv.layers.push_back(&bt.layer);
    }
    for (const auto& sl : fp.saturations) {
        if (!sl->grid.defined()) continue;
        auto& lv = levels[{sl->grid.size(0), sl->grid.size(1)}];
        lv.grids.push_back(sl->grid.to(torch::kDouble));
        lv.layers.push_back(&sl->layer);
        if (!sl->biasGrid.defined()) continue;
        lv.grids.push_back(sl->biasGrid.to(torch::kDouble));
        lv.layers.push_back(&sl->biasLayer);
    }
    auto bias = torch::zeros({H, W}, torch::kDouble);
    std::map<std::string, double> perLayer;
    for (const auto& [hw, lv] : levels) {
        auto stacked = torch::stack(lv.grids).to(torch::kDouble);  // [n, h, w]
        auto shares = stacked.sum({1, 2}).contiguous();
        const double* v = shares.data_ptr<double>();
        for (size_t k = 0; k < lv.layers.size(); ++k) perLayer[*lv.layers[k]] += v[k];
        auto acc = stacked.sum(0);
        if (hw.first == 1 && hw.second == 1)
            bias += acc.item<double>() / static_cast<double>(H * W);
        else
            bias += torch::matmul(torch::matmul(spreadMatrix(H, hw.first), acc), spreadMatrix(W, hw.second).t());
    }
    auto bm = bias.to(torch::kFloat).contiguous();
    a.biasMap.assign(bm.data_ptr<float>(), bm.data_ptr<float>() + bm.numel());
    a.biasSum = bias.sum().item<double>();
    for (const auto& [k, v] : perLayer)
        if (v != 0.0) a.biasByLayer.emplace_back(k, v);
    a.output = real;
    a.completenessError = std::abs(a.weightSum + a.biasSum - real);
    return a;
}

namespace {

torch::Tensor frozenTarget(const FrozenPass& fp, const Target& t) {
    if (t.kind == Target::Kind::Presence) {
        if (!fp.presence.defined()) throw Error("prototype presence needs the interpretable head");
        if (t.index < 0 || t.index >= fp.presence.size(0)) throw Error("prototype out of range");
        return fp.presence[t.index];
    }
    if (t.index < 0 || t.index >= fp.logits.size(0)) throw Error("class " + std::to_string(t.index) + " out of range");
    auto z = fp.logits[t.index];
    if (t.contrast >= 0) {
        if (t.contrast >= fp.logits.size(0)) throw Error("class " + std::to_string(t.contrast) + " out of range");
        z = z - fp.logits[t.contrast];
    }
    return z;
}

/// Whether the frozen pass is itself the model's forward pass, so that z is read from it. On
/// the inference graph in float32 it is: the same kernels on the same values (each gate
/// reproduces its activation); test_omenn checks z against Explainer::logits. The same holds
/// for a TorchScript trunk (the walker runs the frozen module's own ops; its z is checked
/// against PyTorch in test_omenn_families). The layer graph (BatchNorm not folded: another
/// rounding) and float64 compare with a separate no-grad forward.
bool frozenIsForward(const Explainer::Impl& m, const ExplainOptions& opt) {
    return (m.fast || m.script) && !opt.doublePrecision;
}

}  // namespace

Attribution explainOmenn(const Explainer& e, const float* x, int size, const Target& t, const ExplainOptions& opt) {
    const auto& m = e.impl();
    auto xt = inputTensor(x, size, m.channels);
    const bool fromFrozen = frozenIsForward(m, opt);
    double real = 0;
    if (!fromFrozen) {
        torch::NoGradGuard ng;
        real = m.targetValue(xt, t, {}, /*inference=*/true).item<double>();
    }
    auto fp = frozenPass(m, xt, opt.doublePrecision);
    auto z = frozenTarget(fp, t);
    if (fromFrozen) real = z.item<double>();
    return attribute(fp, z, real, false);
}

std::vector<Attribution> explainAllClasses(const Explainer& e, const float* x, int size, const ExplainOptions& opt) {
    const auto& m = e.impl();
    auto xt = inputTensor(x, size, m.channels);
    // One frozen pass for every class; with frozenIsForward its logits are the real ones.
    torch::Tensor real;
    if (!frozenIsForward(m, opt)) {
        torch::NoGradGuard ng;
        real = m.forward(xt, [](int, const nn::Node&, const std::vector<torch::Tensor>&, const torch::Tensor&) {})[0];
    }
    auto fp = frozenPass(m, xt, opt.doublePrecision);
    if (!real.defined()) real = fp.logits.detach().to(torch::kDouble);
    std::vector<Attribution> out;
    const int64_t N = fp.logits.size(0);
    for (int64_t c = 0; c < N; ++c) {
        if (opt.cancel) opt.cancel->throwIfCancelled();
        out.push_back(attribute(fp, fp.logits[c], real[c].item<double>(), c + 1 < N));
    }
    return out;
}

DecisionExplanation explainDecision(const Explainer& e, const float* x, int size, int cls, int maps,
                                    const ExplainOptions& opt) {
    const auto& m = e.impl();
    if (m.head != ExplainHead::Interpretable) throw Error("a prototype decision needs the interpretable head");
    auto xt = inputTensor(x, size, m.channels);
    torch::Tensor logits, pi;
    {
        torch::NoGradGuard ng;
        auto f = m.trunkForward(xt, [](int, const nn::Node&, const std::vector<torch::Tensor>&, const torch::Tensor&) {});
        logits = m.headForward(f, &pi)[0];
        pi = pi[0];
    }
    if (cls < 0 || cls >= logits.size(0)) throw Error("class " + std::to_string(cls) + " out of range");
    DecisionExplanation d;
    d.cls = cls;
    d.logit = logits[cls].item<double>();
    auto w = torch::relu(m.W[cls]);
    for (int64_t p = 0; p < pi.size(0); ++p) {
        PrototypeShare s;
        s.prototype = static_cast<int>(p);
        s.weight = w[p].item<float>();
        s.presence = pi[p].item<float>();
        s.share = s.weight * s.presence;
        if (s.share > 0) d.shares.push_back(std::move(s));
    }
    std::stable_sort(d.shares.begin(), d.shares.end(), [](const auto& a, const auto& b) { return a.share > b.share; });
    if (maps > 0 && !d.shares.empty()) {
        auto fp = frozenPass(m, xt, opt.doublePrecision);
        const int n = std::min<int>(maps, static_cast<int>(d.shares.size()));
        for (int i = 0; i < n; ++i) {
            if (opt.cancel) opt.cancel->throwIfCancelled();
            auto& s = d.shares[static_cast<size_t>(i)];
            auto a = attribute(fp, fp.presence[s.prototype] * s.weight, s.share, i + 1 < n);
            a.method = "omenn-prototype";
            s.map = std::move(a);
        }
    }
    return d;
}

}  // namespace pqw
