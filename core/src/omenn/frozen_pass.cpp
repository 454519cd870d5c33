// OMENN's frozen (dynamically linear) pass over layer graphs and the heads: every node
// replaced by its linear piece on this input, bias terms recorded. See docs/omenn.md.
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

// ------------------------------------------------------------------------- frozen pass
namespace {

using omenn::BiasTerm;
using omenn::FrozenPass;
using omenn::SaturationSlot;

/// ReLU6 (min(max(z, 0), m)) for the frozen pass in one fused kernel each way, used on the
/// inference graph (float32, channels-last, batch 1). Forward: hardtanh(z, 0, m). Backward:
/// the frozen gate 1[0 < z < m] (as hardtanh's own backward) and, in the same sweep over the
/// gradient, the saturated positions' bias contributions: where z >= m the output is the
/// constant m, which contributes m * dz/dy. The generic path (hardtanh plus a 0/1 mask kept as
/// a bias term) needs three extra passes in the forward and two in the reading of the bias.
/// One position's channels: gate the gradient (into gi) and return the saturated share.
/// Branch-free with eight partial sums so that the compiler vectorises it (a branchy version
/// was 15x slower on random signs). With b (the preceding convolution's bias, when this ReLU
/// is its only consumer) it also returns, in `bias`, sum_c gi[c] * b[c]: that convolution's
/// bias contribution at this position, read while the gated gradient is in registers instead
/// of in a separate pass over a retained gradient tensor.
template <bool WithBias>
float clampedReluBackward(const float* __restrict z, const float* __restrict g, float* __restrict gi, int64_t C,
                          float m, const float* __restrict b, float& bias) {
    float part[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    float bpart[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    int64_t c = 0;
    for (; c + 8 <= C; c += 8)
        for (int k = 0; k < 8; ++k) {
            const float v = z[c + k], gv = g[c + k];
            const float o = (v > 0.f && v < m) ? gv : 0.f;
            gi[c + k] = o;
            part[k] += (v >= m) ? gv : 0.f;
            if constexpr (WithBias) bpart[k] += o * b[c + k];
        }
    float sat = 0.f, bs = 0.f;
    for (; c < C; ++c) {
        const float v = z[c];
        const float o = (v > 0.f && v < m) ? g[c] : 0.f;
        gi[c] = o;
        sat += (v >= m) ? g[c] : 0.f;
        if constexpr (WithBias) bs += o * b[c];
    }
    for (float x : part) sat += x;
    if constexpr (WithBias) {
        for (float x : bpart) bs += x;
        bias = bs;
    }
    return sat * m;
}

class FrozenClampedRelu : public torch::autograd::Function<FrozenClampedRelu> {
public:
    static bool applies(const torch::Tensor& x) {
        return x.scalar_type() == torch::kFloat && x.dim() == 4 && x.size(0) == 1 &&
               x.is_contiguous(at::MemoryFormat::ChannelsLast);
    }
    /// bias: the preceding convolution's bias [C] (float, contiguous) to read in the backward
    /// sweep, or undefined.
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double m,
                                 int64_t slot, const torch::Tensor& bias) {
        ctx->save_for_backward({x});
        ctx->saved_data["m"] = m;
        ctx->saved_data["slot"] = slot;
        ctx->saved_data["bias"] = bias;
        return torch::hardtanh(x, 0.0, m);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list gradOut) {
        const auto z = ctx->get_saved_variables()[0];
        const float m = static_cast<float>(ctx->saved_data["m"].toDouble());
        auto* slot = reinterpret_cast<SaturationSlot*>(ctx->saved_data["slot"].toInt());
        const auto bias = ctx->saved_data["bias"].toTensor();
        const int64_t C = z.size(1), h = z.size(2), w = z.size(3);
        auto g = gradOut[0].contiguous(at::MemoryFormat::ChannelsLast);
        auto gi = torch::empty_like(g);
        auto grid = torch::empty({h, w}, g.options().memory_format(at::MemoryFormat::Contiguous));
        torch::Tensor bgrid;
        const float* zp = z.data_ptr<float>();
        const float* gp = g.data_ptr<float>();
        float* op = gi.data_ptr<float>();
        float* sp = grid.data_ptr<float>();
        const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1));
        // Channels-last: the C values of one position are contiguous.
        if (bias.defined()) {
            bgrid = torch::empty_like(grid);
            const float* bp = bias.data_ptr<float>();
            float* bo = bgrid.data_ptr<float>();
            at::parallel_for(0, h * w, grain, [&](int64_t p0, int64_t p1) {
                for (int64_t p = p0; p < p1; ++p)
                    sp[p] = clampedReluBackward<true>(zp + p * C, gp + p * C, op + p * C, C, m, bp, bo[p]);
            });
        } else {
            at::parallel_for(0, h * w, grain, [&](int64_t p0, int64_t p1) {
                float unused = 0.f;
                for (int64_t p = p0; p < p1; ++p)
                    sp[p] = clampedReluBackward<false>(zp + p * C, gp + p * C, op + p * C, C, m, nullptr, unused);
            });
        }
        slot->grid = grid;
        slot->biasGrid = bgrid;
        return {gi, torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

torch::Tensor padZero(const torch::Tensor& x, const nn::Pad4& p, double value = 0.0) {
    if (p.zero()) return x;
    return torch::constant_pad_nd(x, {p.left, p.right, p.top, p.bottom}, value);
}

/// One node's frozen linear piece applied to the frozen-pass inputs; gates from their values.
/// soleConsumer: this node is the only consumer of its (first) input.
torch::Tensor frozenNode(const nn::Node& n, const std::vector<torch::Tensor>& in, std::vector<BiasTerm>& biases,
                         std::vector<std::unique_ptr<SaturationSlot>>& saturations, bool soleConsumer) {
    nn::Layer* l = n.module.get();
    const auto dt = in.at(0).scalar_type();
    const auto& x = in.at(0);
    if (auto c = dynamic_cast<nn::Conv2d*>(l)) {
        const auto p = c->padFor(x.size(2), x.size(3));
        auto w = c->weight.to(dt);
        auto b = c->bias.defined() ? c->bias.to(dt) : torch::Tensor();
        torch::Tensor y;
        if (p.symmetric()) {
            const std::array<int64_t, 2> sym{p.top, p.left};
            y = torch::conv2d(x, w, b, at::IntArrayRef(c->stride), at::IntArrayRef(sym), at::IntArrayRef(c->dilation),
                              c->groups);
        } else {
            const std::array<int64_t, 2> none{0, 0};
            y = torch::conv2d(padZero(x, p), w, b, at::IntArrayRef(c->stride), at::IntArrayRef(none),
                              at::IntArrayRef(c->dilation), c->groups);
        }
        // The bias is fused into the convolution; its contribution is read at y.
        if (b.defined()) biases.push_back({n.name, y, b.view({1, -1, 1, 1})});
        return y;
    }
    if (auto bn = dynamic_cast<nn::BatchNorm*>(l)) {
        auto b = bn->shift().to(dt).view({1, -1, 1, 1});
        auto y = torch::addcmul(b, x, bn->scale().to(dt).view({1, -1, 1, 1}));
        biases.push_back({n.name, y, b});
        return y;
    }
    if (auto a = dynamic_cast<nn::Activation*>(l)) {
        using Fn = nn::Activation::Fn;
        auto z = x.detach();
        switch (a->fn) {
            case Fn::Linear: return x;
            case Fn::ReLU: {
                // Built-in ops whose autograd is exactly the frozen gate: relu -> 1[z > 0];
                // leaky -> 1 or slope; clamp(0, m) -> 1[0 <= z <= m] (0 where saturated, where
                // the output is the constant m: a bias term).
                if (a->maxValue > 0 && a->negativeSlope == 0.0 && FrozenClampedRelu::applies(x)) {
                    saturations.push_back(std::make_unique<SaturationSlot>(SaturationSlot{n.name, {}, {}, {}}));
                    auto* slot = saturations.back().get();
                    // The convolution that produced x, when this ReLU is its only consumer: its
                    // per-channel bias is read in the ReLU's backward sweep (the gradient at x
                    // is exactly the gated gradient there), not as a separate term.
                    torch::Tensor fused;
                    if (soleConsumer && !biases.empty() && biases.back().at.is_same(x) &&
                        biases.back().place.kind == omenn::Placement::Kind::Legacy && biases.back().scale == 1.0 &&
                        biases.back().bias.dim() == 4 && biases.back().bias.numel() == x.size(1) &&
                        biases.back().bias.size(1) == x.size(1) && biases.back().bias.scalar_type() == torch::kFloat) {
                        fused = biases.back().bias.reshape({-1}).contiguous();
                        slot->biasLayer = biases.back().layer;
                        biases.pop_back();
                    }
                    return FrozenClampedRelu::apply(x, a->maxValue, reinterpret_cast<int64_t>(slot), fused);
                }
                if (a->maxValue > 0 && a->negativeSlope == 0.0) {
                    // ReLU6 as one hardtanh(0, m): its backward is the gate 1[0 < z < m] in one
                    // kernel (relu + clamp_max cost three, and clamp's backward a slow where).
                    // Where z >= m the output is the constant m: a bias term.
                    auto y = torch::hardtanh(x, 0.0, a->maxValue);
                    // (A float 0/1 mask, scaled by m when the bias is read; no "any saturated?"
                    // test: most ReLU6 layers saturate somewhere, and the test costs a pass.)
                    // 1[z >= m] as sign(z - m) + 1 clamped to 1: three float kernels are ~3x
                    // faster than ge() + a bool-to-float copy on this CPU build.
                    biases.push_back({n.name, y, (z - a->maxValue).sign_().add_(1).clamp_max_(1), a->maxValue});
                    return y;
                }
                torch::Tensor y = a->negativeSlope != 0.0 ? torch::leaky_relu(x, a->negativeSlope) : torch::relu(x);
                if (a->maxValue > 0) {
                    y = y.clamp_max(a->maxValue);
                    auto sat = (z > a->maxValue);
                    if (sat.any().item<bool>()) biases.push_back({n.name, y, sat.to(dt) * a->maxValue});
                }
                return y;
            }
            case Fn::GELU: return x * (0.5 * (1.0 + torch::erf(z * M_SQRT1_2)));
            case Fn::SiLU: return x * torch::sigmoid(z);
            default: break;
        }
        throw Error("OMENN does not support layer '" + n.name + "' (activation " + nn::Activation::name(a->fn) + ")");
    }
    if (auto mp = dynamic_cast<nn::MaxPool2d*>(l)) {
        const auto p = mp->padFor(x.size(2), x.size(3));
        auto zp = padZero(x.detach(), p, -std::numeric_limits<double>::infinity());
        auto idx = std::get<1>(torch::max_pool2d_with_indices(zp, mp->kernel, mp->stride));
        auto xp = padZero(x, p, 0.0);
        return xp.flatten(2).gather(2, idx.flatten(2)).view(idx.sizes());
    }
    if (auto gp = dynamic_cast<nn::GlobalPool*>(l)) {
        if (!gp->max) return gp->forward(in, false);
        auto idx = x.detach().flatten(2).argmax(2, true);
        auto y = x.flatten(2).gather(2, idx).squeeze(2);
        return gp->keepDims ? y.view({y.size(0), y.size(1), 1, 1}) : y;
    }
    if (auto d = dynamic_cast<nn::Dense*>(l)) {
        auto w = d->weight.to(dt);
        if (x.dim() == 4) {
            auto b = d->bias.defined() ? d->bias.to(dt) : torch::Tensor();
            auto y = torch::linear(x.permute({0, 2, 3, 1}), w, b).permute({0, 3, 1, 2});
            if (b.defined()) biases.push_back({n.name, y, b.view({1, -1, 1, 1})});
            return y;
        }
        auto b = d->bias.defined() ? d->bias.to(dt) : torch::Tensor();
        auto y = torch::linear(x, w, b);
        if (b.defined()) biases.push_back({n.name, y, b.view({1, -1})});
        return y;
    }
    if (auto ln = dynamic_cast<nn::LayerNorm*>(l)) {
        // Centring is linear; the standard deviation is frozen; gamma scales; beta is the bias.
        auto v = x.dim() == 4 ? x.permute({0, 2, 3, 1}) : x;
        auto sd = torch::sqrt(v.detach().var(-1, /*unbiased=*/false, /*keepdim=*/true) + ln->eps);
        auto y = (v - v.mean(-1, true)) / sd;
        if (ln->gamma.defined()) y = y * ln->gamma.to(dt);
        torch::Tensor b;
        if (ln->beta.defined()) {
            b = ln->beta.to(dt);
            y = y + b;
        }
        if (x.dim() == 4) y = y.permute({0, 3, 1, 2});
        if (b.defined()) biases.push_back({n.name, y, x.dim() == 4 ? b.view({1, -1, 1, 1}) : b.view({1, -1})});
        return y;
    }
    if (dynamic_cast<nn::Identity*>(l) || dynamic_cast<nn::ZeroPad2d*>(l) || dynamic_cast<nn::Add*>(l) ||
        dynamic_cast<nn::Concat*>(l) || dynamic_cast<nn::AvgPool2d*>(l) || dynamic_cast<nn::Flatten*>(l) ||
        dynamic_cast<nn::Dropout*>(l))
        return l->forward(in, false);  // already linear, no bias
    throw Error("OMENN does not support layer '" + n.name + "' (" + n.type + ")");
}

/// The frozen pieces of the ViT layers (nn/transformer.h); undefined when n is not one.
/// PatchTokens is linear in its input plus a constant (class token and position embedding:
/// one bias term, placed per token). SelfAttention: the attention weights softmax(q k^T /
/// sqrt(d)) are its gate, computed from the detached input and held constant; the values
/// x Wv^T + bv and the output projection are then linear, bv and the output bias are bias
/// terms. TokenGrid is a reshape. `tokens` receives the token layout (class token, then the
/// patch grid) so that the biases of later token layers are placed on their patches.
torch::Tensor frozenTransformerNode(const nn::Node& n, const std::vector<torch::Tensor>& in,
                                    std::vector<BiasTerm>& biases, omenn::Placement& tokens) {
    nn::Layer* l = n.module.get();
    const auto& x = in.at(0);
    const auto dt = x.scalar_type();
    if (auto pt = dynamic_cast<nn::PatchTokens*>(l)) {
        pt->checkGrid(x.size(2), x.size(3));
        const int64_t N = x.size(0), D = x.size(1);
        auto t = x.permute({0, 2, 3, 1}).reshape({N, x.size(2) * x.size(3), D});
        if (pt->extra() > 0) t = torch::cat({torch::zeros({N, pt->extra(), D}, t.options()), t}, 1);
        auto b = pt->tokenBias().to(dt);
        auto y = t + b;
        tokens = omenn::Placement{omenn::Placement::Kind::Tokens, -1, -1, 1, x.size(2), x.size(3), pt->extra()};
        biases.push_back({n.name, y, b, 1.0, tokens});
        return y;
    }
    if (auto a = dynamic_cast<nn::SelfAttention*>(l)) {
        const int64_t N = x.size(0), T = x.size(1), D = x.size(2), H = a->heads;
        auto A = a->weights(x.detach());  // [N, H, T, T]: the frozen gate
        auto bv = a->inBias.defined() ? a->inBias.narrow(0, 2 * D, D).to(dt) : torch::Tensor();
        auto v = torch::linear(x, a->inWeight.narrow(0, 2 * D, D).to(dt), bv);
        if (bv.defined()) biases.push_back({n.name + "/values", v, bv.view({1, 1, D}), 1.0, tokens});
        auto o = torch::matmul(A, v.view({N, T, H, D / H}).transpose(1, 2)).transpose(1, 2).reshape({N, T, D});
        auto bo = a->outBias.defined() ? a->outBias.to(dt) : torch::Tensor();
        auto y = torch::linear(o, a->outWeight.to(dt), bo);
        if (bo.defined()) biases.push_back({n.name, y, bo.view({1, 1, D}), 1.0, tokens});
        return y;
    }
    if (dynamic_cast<nn::TokenGrid*>(l)) return l->forward(in, false);
    return {};
}

/// The head's frozen pass on the trunk output f (a function of fp.x); sets logits / presence.
void frozenHeadPass(const Explainer::Impl& m, const torch::Tensor& f, FrozenPass& fp) {
    const auto dt = f.scalar_type();
    switch (m.head) {
        case ExplainHead::Stage0: {
            auto pooled = f.dim() == 4 ? f.mean({2, 3}) : f;
            auto sd = torch::sqrt(pooled.detach().var(-1, false, true) + 1e-5);
            auto y = (pooled - pooled.mean(-1, true)) / sd * m.lnWeight.to(dt);
            auto b1 = m.lnBias.to(dt).view({1, -1});
            y = y + b1;
            fp.biases.push_back({"head.layer_norm", y, b1});
            auto b2 = m.fcBias.to(dt).view({1, -1});
            auto z = torch::linear(y, m.fcWeight.to(dt)) + b2;
            fp.biases.push_back({"head.linear", z, b2});
            fp.logits = z[0];
            break;
        }
        case ExplainHead::Interpretable: {
            const int64_t D = f.size(1), H = f.size(2), Wd = f.size(3), K = m.codes.size(0);
            auto cells = f.flatten(2)[0].t();  // [HW, D]
            // Cosine: divide by the cell's norm (frozen); prototypes are constants.
            auto nrm = cells.detach().norm(2, -1, true).clamp_min(1e-8);
            auto cn = F::normalize(m.codes.to(dt), F::NormalizeFuncOptions().dim(-1).eps(1e-8));
            auto S = torch::matmul(cells / nrm, cn.t());  // [HW, K]
            auto Sd = S.detach();
            auto A = torch::softmax(Sd / m.tau, -1);
            auto arg = std::get<1>(A.max(0));  // winning cell per prototype
            auto onehot = torch::zeros_like(A).scatter_(0, arg.unsqueeze(0), 1.0);
            auto Aw = A * onehot;
            // Scalar gate A/S at the winning cell; when |S| is tiny the term goes to the bias.
            auto ok = Sd.abs() > 1e-6;
            auto gate = torch::where(ok, Aw / torch::where(ok, Sd, torch::ones_like(Sd)), torch::zeros_like(Sd));
            auto bcell = torch::where(ok, torch::zeros_like(Aw), Aw);
            auto pre = (S * gate).t().reshape({1, K, H, Wd});
            auto b4 = bcell.t().reshape({1, K, H, Wd});
            pre = pre + b4;
            if ((b4 != 0).any().item<bool>()) fp.biases.push_back({"head.presence", pre, b4});
            auto piVal = Aw.sum(0);  // [K]
            auto mask = m.enabled.defined() ? m.enabled.to(dt) : torch::ones({K}, piVal.options());
            if (m.threshold > 0) mask = mask * (piVal * mask >= m.threshold).to(dt);
            auto pi = (pre * mask.view({1, K, 1, 1})).sum({2, 3});  // [1, K]
            fp.presence = pi[0];
            fp.logits = torch::matmul(pi, torch::relu(m.W.to(dt)).t())[0];
            (void)D;
            break;
        }
        default: fp.logits = f.flatten(); break;
    }
}


}  // namespace

FrozenPass omenn::frozenPass(const Explainer::Impl& m, const torch::Tensor& x0, bool dbl) {
    FrozenPass fp;
    if (m.script) {
        if (dbl) throw Error("OMENN in double precision needs a layer-graph trunk (this one is TorchScript)");
        fp.x = x0.to(torch::kFloat).detach().clone().requires_grad_(true);
        auto f = scriptFrozenForward(*m.script, fp.x, fp.biases);
        frozenHeadPass(m, f, fp);
        return fp;
    }
    // The inference graph (BatchNorm folded into the convolutions: exact, the folded bias is
    // the conv bias and the BN shift together; channels-last weights) is the same affine
    // map per input and ~3x cheaper to differentiate on CPU; float32 only.
    const bool useFast = m.fast && !dbl;
    fp.x = x0.to(dbl ? torch::kDouble : torch::kFloat).detach().clone();
    if (useFast) fp.x = fp.x.contiguous(at::MemoryFormat::ChannelsLast);
    fp.x.requires_grad_(true);
    const auto& g = useFast ? *m.fast : *m.trunk;
    const int out = g.outputIndex();
    const auto need = g.ancestors(out);
    std::vector<torch::Tensor> vals(static_cast<size_t>(g.size()));
    // Free each value after its last consumer (as Graph::forward does).
    std::vector<int> remaining(static_cast<size_t>(g.size()), 0);
    for (int i = 0; i < g.size(); ++i)
        if (need[static_cast<size_t>(i)])
            for (int j : g.node(i).inputs) remaining[static_cast<size_t>(j)]++;
    const std::vector<int> consumers = remaining;
    vals[0] = fp.x;
    omenn::Placement tokens;  // a ViT's token layout, once its PatchTokens node ran
    for (int i = 1; i < g.size(); ++i) {
        if (!need[static_cast<size_t>(i)]) continue;
        const auto& n = g.node(i);
        std::vector<torch::Tensor> in;
        for (int j : n.inputs) in.push_back(vals[static_cast<size_t>(j)]);
        const size_t before = fp.biases.size();
        torch::Tensor y = frozenTransformerNode(n, in, fp.biases, tokens);
        const bool sole = !n.inputs.empty() && consumers[static_cast<size_t>(n.inputs[0])] == 1 && n.inputs[0] != out;
        vals[static_cast<size_t>(i)] = y.defined() ? y : frozenNode(n, in, fp.biases, fp.saturations, sole);
        // Biases of Dense / LayerNorm on tokens land on their tokens' patches.
        if (tokens.kind == omenn::Placement::Kind::Tokens)
            for (size_t k = before; k < fp.biases.size(); ++k)
                if (fp.biases[k].place.kind == omenn::Placement::Kind::Legacy && fp.biases[k].at.dim() == 3)
                    fp.biases[k].place = tokens;
        for (int j : n.inputs)
            if (--remaining[static_cast<size_t>(j)] == 0 && j != out) vals[static_cast<size_t>(j)] = torch::Tensor();
    }
    torch::Tensor f = vals[static_cast<size_t>(out)];
    frozenHeadPass(m, f, fp);
    return fp;
}

}  // namespace pqw
