// Attribution baselines with OMENN's interface: Saliency, Gradient x Input, Integrated
// Gradients, SmoothGrad, Grad-CAM, Occlusion; and the explain() dispatcher.
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "omenn/explainer_impl.h"
#include "pqw/error.h"

namespace pqw {
namespace {

namespace F = torch::nn::functional;

/// d target / d x for a batch x [B, 3, H, W] (each row's own target value).
torch::Tensor gradient(const Explainer::Impl& m, const torch::Tensor& x, const Target& t) {
    auto xi = x.detach().clone().requires_grad_(true);
    auto v = m.targetValue(xi, t, noHook);
    return torch::autograd::grad({v.sum()}, {xi})[0];
}

void pollCancel(const ExplainOptions& o) {
    if (o.cancel) o.cancel->throwIfCancelled();
}

torch::Tensor batchedGradientSum(const Explainer::Impl& m, const torch::Tensor& xs, const Target& t, int batch,
                                 bool absolute, const ExplainOptions& o) {
    torch::Tensor acc = torch::zeros(xs.sizes().slice(1), xs.options());
    for (int64_t i = 0; i < xs.size(0); i += batch) {
        pollCancel(o);
        auto g = gradient(m, xs.slice(0, i, std::min<int64_t>(xs.size(0), i + batch)), t);
        acc += (absolute ? g.abs() : g).sum(0);
    }
    return acc;
}

double valueAt(const Explainer::Impl& m, const torch::Tensor& x, const Target& t) {
    torch::NoGradGuard ng;
    return m.targetValue(x, t).item<double>();
}

torch::Tensor occlusionMap(const Explainer::Impl& m, const torch::Tensor& x, const Target& t, const ExplainOptions& o) {
    const int64_t H = x.size(2), W = x.size(3);
    const int64_t p = std::max(1, o.patch), s = std::max(1, o.stride);
    auto starts = [&](int64_t n) {
        std::vector<int64_t> v;
        for (int64_t a = 0; a + p <= n; a += s) v.push_back(a);
        if (v.empty() || v.back() + p < n) v.push_back(std::max<int64_t>(0, n - p));
        return v;
    };
    const auto ys = starts(H), xs = starts(W);
    std::vector<std::pair<int64_t, int64_t>> wins;
    for (auto y : ys)
        for (auto xx : xs) wins.emplace_back(y, xx);
    torch::NoGradGuard ng;
    const double base = m.targetValue(x, t).item<double>();
    auto sum = torch::zeros({H, W}, torch::kDouble), cnt = torch::zeros({H, W}, torch::kDouble);
    const int B = std::max(1, o.batch);
    for (size_t i = 0; i < wins.size(); i += static_cast<size_t>(B)) {
        pollCancel(o);
        const size_t n = std::min(wins.size() - i, static_cast<size_t>(B));
        auto xb = x.expand({static_cast<int64_t>(n), x.size(1), H, W}).clone();
        for (size_t k = 0; k < n; ++k) {
            auto [y, xx] = wins[i + k];
            xb[static_cast<int64_t>(k)].slice(1, y, y + p).slice(2, xx, xx + p).fill_(o.occlusionValue);
        }
        auto v = m.targetValue(xb, t).to(torch::kDouble);
        for (size_t k = 0; k < n; ++k) {
            auto [y, xx] = wins[i + k];
            sum.slice(0, y, y + p).slice(1, xx, xx + p) += base - v[static_cast<int64_t>(k)].item<double>();
            cnt.slice(0, y, y + p).slice(1, xx, xx + p) += 1.0;
        }
    }
    return torch::where(cnt > 0, sum / cnt.clamp_min(1.0), torch::zeros_like(sum));
}

torch::Tensor gradCam(const Explainer::Impl& m, const torch::Tensor& x, const Target& t, const std::string& layerName) {
    m.requireGraph("Grad-CAM");
    // Default: the last node with a spatial output (the trunk's output for a backbone; the
    // last convolution block of a CNN whose trunk ends in its classifier).
    const int layer = layerName.empty() ? -1 : m.trunk->indexOf(layerName);
    if (!layerName.empty() && layer < 0) throw Error("Grad-CAM: no layer named '" + layerName + "'");
    torch::Tensor act;
    auto xi = x.detach().clone().requires_grad_(true);
    auto v = m.targetValue(xi, t, [&](int i, const nn::Node&, const std::vector<torch::Tensor>&, const torch::Tensor& out) {
        if (layer >= 0 ? i == layer : out.dim() == 4) act = out;
    });
    if (!act.defined() || act.dim() != 4)
        throw Error(layer >= 0 ? "Grad-CAM: layer '" + m.trunk->node(layer).name + "' has no spatial output"
                               : std::string("Grad-CAM: the model has no layer with a spatial output"));
    auto g = torch::autograd::grad({v.sum()}, {act})[0];
    auto alpha = g.mean({2, 3}, true);
    auto cam = torch::relu((alpha * act).sum(1, true)).detach();  // [1, 1, h, w]
    cam = F::interpolate(cam, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
    return cam[0][0];
}

}  // namespace

Attribution explain(const Explainer& e, Method method, const float* x, int size, const Target& t,
                    const ExplainOptions& opt) {
    if (method == Method::Omenn) return explainOmenn(e, x, size, t, opt);
    const auto& m = e.impl();
    auto xt = inputTensor(x, size, m.channels);
    Attribution a;
    a.method = methodName(method);
    a.output = valueAt(m, xt, t);
    const int B = std::max(1, opt.batch);
    switch (method) {
        case Method::Saliency: {
            auto g = gradient(m, xt, t)[0].abs();
            fillAttribution(a, g, std::get<0>(g.max(0)));
            break;
        }
        case Method::GradientInput: {
            auto c = (gradient(m, xt, t) * xt)[0];
            fillAttribution(a, c, c.sum(0));
            break;
        }
        case Method::IntegratedGradients: {
            const int n = std::max(1, opt.steps);
            auto base = torch::full_like(xt, opt.baseline);
            // Midpoint rule; the path is made one batch at a time (never n images at once).
            torch::Tensor acc = torch::zeros(xt.sizes().slice(1), xt.options());
            for (int64_t i = 0; i < n; i += B) {
                pollCancel(opt);
                const int64_t k = std::min<int64_t>(n - i, B);
                auto alphas = (torch::arange(i, i + k, torch::kFloat) + 0.5) / n;
                acc += gradient(m, base + alphas.view({k, 1, 1, 1}) * (xt - base), t).sum(0);
            }
            auto avg = acc / n;
            auto c = (xt - base)[0] * avg;
            fillAttribution(a, c, c.sum(0));
            break;
        }
        case Method::SmoothGrad: {
            const int n = std::max(1, opt.samples);
            const double sigma = opt.noise * (xt.max() - xt.min()).item<double>();
            auto gen = at::detail::createCPUGenerator(opt.seed);
            auto noise = torch::randn({n, xt.size(1), xt.size(2), xt.size(3)}, gen, xt.options()) * sigma;
            auto avg = batchedGradientSum(m, xt + noise, t, B, true, opt) / n;
            fillAttribution(a, avg, std::get<0>(avg.max(0)));
            break;
        }
        case Method::GradCam: fillAttribution(a, {}, gradCam(m, xt, t, opt.layer)); break;
        case Method::Occlusion: fillAttribution(a, {}, occlusionMap(m, xt, t, opt)); break;
        default: throw Error("unknown method");
    }
    if (method == Method::GradientInput || method == Method::IntegratedGradients) {
        const double fb = valueAt(m, torch::full_like(xt, opt.baseline), t);
        a.completenessError = std::abs(a.weightSum - (a.output - fb));
    }
    return a;
}

}  // namespace pqw
