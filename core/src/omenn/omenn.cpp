// OMENN: the frozen (dynamically linear) pass, the Explainer, all-classes mode and the
// ProtoQuant decision composition. See docs/omenn.md.
#include <torch/torch.h>
#include <torch/script.h>

#include <unordered_map>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "backbone_impl.h"
#include "omenn/explainer_impl.h"
#include "protoquant/model_impl.h"
#include "pqw/error.h"

namespace pqw {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------- Explainer
Explainer::Explainer() : d_(std::make_shared<Impl>()) {}
Explainer::~Explainer() = default;
Explainer::Explainer(const Explainer&) = default;
Explainer& Explainer::operator=(const Explainer&) = default;
Explainer::Explainer(std::shared_ptr<Impl> d) : d_(std::move(d)) {}

Explainer makeExplainer(std::shared_ptr<Explainer::Impl> d) {
    d->checkSupported();
    return Explainer(std::move(d));
}

int Explainer::numOutputs() const { return d_->numOutputs(); }
int Explainer::numPrototypes() const {
    return d_->head == ExplainHead::Interpretable ? static_cast<int>(d_->codes.size(0)) : 0;
}
int Explainer::inputSize() const { return d_->inputSize; }
int Explainer::inputChannels() const { return d_->channels; }
std::string Explainer::headName() const {
    switch (d_->head) {
        case ExplainHead::Stage0: return "stage0";
        case ExplainHead::Interpretable: return "interpretable";
        default: return "none";
    }
}
std::vector<std::string> Explainer::classNames() const {
    if (!d_->classes.empty()) return d_->classes;
    std::vector<std::string> c;
    for (int i = 0; i < numOutputs(); ++i) c.push_back(std::to_string(i));
    return c;
}

std::vector<float> Explainer::logits(const float* x, int n, int size) const {
    torch::NoGradGuard ng;
    std::vector<float> out;
    const int64_t C = d_->channels;
    const int64_t per = C * size * size;
    for (int i = 0; i < n; i += 32) {
        const int b = std::min(32, n - i);
        auto t = torch::from_blob(const_cast<float*>(x + per * i), {b, C, size, size}, torch::kFloat);
        torch::Tensor z;
        if (d_->fast) {
            z = d_->headForward(d_->fast->forward(t.contiguous(at::MemoryFormat::ChannelsLast)).contiguous());
        } else {
            z = d_->forward(t);
        }
        z = z.contiguous();
        out.insert(out.end(), z.data_ptr<float>(), z.data_ptr<float>() + z.numel());
    }
    return out;
}

Explainer Explainer::fromModel(const ProtoModel& m, const Backbone& bb, ExplainHead head) {
    const auto& b = bb.impl();
    if (!b.graph && !b.script) throw Error("the backbone '" + bb.spec().path + "' has neither a layer graph nor a module");
    if (!m.backboneId().empty() && m.backboneId() != bb.id())
        throw Error("the head was trained on backbone " + m.backboneId() + " but the backbone opened is " + bb.id());
    auto d = std::make_shared<Impl>();
    if (b.graph) {
        d->trunk = b.graph;
        d->fast = b.fast;
    } else {
        // TorchScript trunk: frozen (constants folded, eval mode) for the aten-op walker.
        auto c = b.script->clone();
        c.eval();
        for (auto p : c.parameters()) p.set_requires_grad(false);  // only the input carries grad
        d->script = std::make_shared<torch::jit::Module>(torch::jit::freeze(c));
    }
    d->classes = m.classNames();
    d->inputSize = m.inputSize();
    if (head == ExplainHead::Auto) head = m.hasHead() ? ExplainHead::Interpretable : ExplainHead::Stage0;
    const auto& mi = m.impl();
    if (head == ExplainHead::Stage0) {
        if (!m.hasStage0()) throw Error("the model has no stage-0 head");
        if (!m.stage0TorchScript().empty())
            throw Error("the stage-0 head is a TorchScript module (" + m.stage0TorchScript() +
                        "); OMENN explains the native stage-0 head or the interpretable head");
        d->lnWeight = mi.lnWeight.detach().clone();
        d->lnBias = mi.lnBias.detach().clone();
        d->fcWeight = mi.fcWeight.detach().clone();
        d->fcBias = mi.fcBias.detach().clone();
    } else if (head == ExplainHead::Interpretable) {
        if (!m.hasHead()) throw Error("the model has no interpretable head");
        d->codes = mi.codes.detach().clone();
        d->W = mi.W.detach().clone();
        d->enabled = mi.enabledMask().detach().clone();
        d->tau = mi.tau;
        d->threshold = mi.presenceThreshold;
    } else {
        throw Error("a head checkpoint is explained with the stage0 or interpretable head");
    }
    d->head = head;
    return makeExplainer(d);
}

int Explainer::Impl::numOutputs() const {
    if (head == ExplainHead::Stage0) return static_cast<int>(fcWeight.size(0));
    if (head == ExplainHead::Interpretable) return static_cast<int>(W.size(0));
    if (!classes.empty()) return static_cast<int>(classes.size());
    // None: the flattened trunk output on a probe input.
    torch::NoGradGuard ng;
    const int s = inputSize > 0 ? inputSize : 32;
    return static_cast<int>(trunkForward(torch::zeros({1, channels, s, s})).numel());
}

torch::Tensor Explainer::Impl::trunkForward(const torch::Tensor& x, const nn::NodeHook& hook) const {
    if (script) return script->forward({x}).toTensor();
    return trunk->forward(x, -1, hook);
}

void Explainer::Impl::requireGraph(const std::string& what) const {
    if (script) throw Error(what + " needs a layer-graph trunk; this trunk is a TorchScript module");
}

torch::Tensor Explainer::Impl::headForward(const torch::Tensor& f, torch::Tensor* presence) const {
    switch (head) {
        case ExplainHead::Stage0: {
            auto pooled = f.dim() == 4 ? f.mean({2, 3}) : f;
            auto y = F::layer_norm(pooled, F::LayerNormFuncOptions({pooled.size(1)}).weight(lnWeight).bias(lnBias).eps(1e-5));
            return F::linear(y, fcWeight, fcBias);
        }
        case ExplainHead::Interpretable: {
            auto cells = f.flatten(2).transpose(1, 2);
            auto out = pq::headForward(cells, codes, W, tau, enabled, threshold);
            if (presence) *presence = out.presence;
            return out.logits;
        }
        default: return f.flatten(1);
    }
}

torch::Tensor Explainer::Impl::forward(const torch::Tensor& x, const nn::NodeHook& hook) const {
    return headForward(trunkForward(x, hook));
}

torch::Tensor Explainer::Impl::targetValue(const torch::Tensor& x, const Target& t, const nn::NodeHook& hook,
                                           bool inference) const {
    torch::Tensor pi;
    auto f = inference && fast && !hook ? fast->forward(x.contiguous(at::MemoryFormat::ChannelsLast)).contiguous()
                                        : trunkForward(x, hook);
    auto z = headForward(f, t.kind == Target::Kind::Presence ? &pi : nullptr);
    if (t.kind == Target::Kind::Presence) {
        if (head != ExplainHead::Interpretable) throw Error("prototype presence needs the interpretable head");
        if (t.index < 0 || t.index >= pi.size(1)) throw Error("prototype " + std::to_string(t.index) + " out of range");
        return pi.select(1, t.index);
    }
    if (t.index < 0 || t.index >= z.size(1)) throw Error("class " + std::to_string(t.index) + " out of range");
    auto v = z.select(1, t.index);
    if (t.contrast >= 0) {
        if (t.contrast >= z.size(1)) throw Error("class " + std::to_string(t.contrast) + " out of range");
        v = v - z.select(1, t.contrast);
    }
    return v;
}

void Explainer::Impl::checkSupported() const {
    if (script) return;  // the TorchScript walker names an unsupported op when it meets one
    for (const auto& n : trunk->nodes()) {
        const nn::Layer* l = n.module.get();
        if (dynamic_cast<const nn::Identity*>(l) || dynamic_cast<const nn::Conv2d*>(l) ||
            dynamic_cast<const nn::BatchNorm*>(l) || dynamic_cast<const nn::ZeroPad2d*>(l) ||
            dynamic_cast<const nn::Add*>(l) || dynamic_cast<const nn::Concat*>(l) ||
            dynamic_cast<const nn::AvgPool2d*>(l) || dynamic_cast<const nn::MaxPool2d*>(l) ||
            dynamic_cast<const nn::GlobalPool*>(l) || dynamic_cast<const nn::Flatten*>(l) ||
            dynamic_cast<const nn::Dense*>(l) || dynamic_cast<const nn::Dropout*>(l) ||
            dynamic_cast<const nn::LayerNorm*>(l))
            continue;
        if (auto a = dynamic_cast<const nn::Activation*>(l)) {
            using Fn = nn::Activation::Fn;
            if (a->fn == Fn::Linear || a->fn == Fn::ReLU || a->fn == Fn::GELU || a->fn == Fn::SiLU) continue;
            throw Error("OMENN does not support layer '" + n.name + "' (" + n.type + ", activation " +
                        nn::Activation::name(a->fn) + "): it has no frozen linear gate");
        }
        throw Error("OMENN does not support layer '" + n.name + "' (" + n.type + ")");
    }
}

torch::Tensor inputTensor(const float* x, int size, int channels) {
    return torch::from_blob(const_cast<float*>(x), {1, channels, size, size}, torch::kFloat).clone();
}

void fillAttribution(Attribution& a, const torch::Tensor& perChannel, const torch::Tensor& map) {
    auto m = map.to(torch::kFloat).contiguous();
    a.height = static_cast<int>(m.size(0));
    a.width = static_cast<int>(m.size(1));
    a.map.assign(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
    if (perChannel.defined()) {
        auto p = perChannel.to(torch::kFloat).contiguous();
        a.channels = static_cast<int>(p.size(0));
        a.perChannel.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
        a.weightSum = perChannel.to(torch::kDouble).sum().item<double>();
    } else {
        a.weightSum = map.to(torch::kDouble).sum().item<double>();
    }
}

const char* methodName(Method m) {
    switch (m) {
        case Method::Omenn: return "omenn";
        case Method::Saliency: return "saliency";
        case Method::GradientInput: return "gxi";
        case Method::IntegratedGradients: return "ig";
        case Method::SmoothGrad: return "smoothgrad";
        case Method::GradCam: return "gradcam";
        case Method::Occlusion: return "occlusion";
    }
    return "?";
}

bool parseMethod(const std::string& s, Method& m) {
    for (Method c : {Method::Omenn, Method::Saliency, Method::GradientInput, Method::IntegratedGradients,
                     Method::SmoothGrad, Method::GradCam, Method::Occlusion})
        if (s == methodName(c)) {
            m = c;
            return true;
        }
    return false;
}

// ------------------------------------------------------------------------- frozen pass
namespace {

/// A bias term b added at tensor `at` (broadcastable to it). Its contribution to z is
/// sum(dz/d at * b); `at` is 4-D [1, C, h, w] (spatial) or 2-D [1, F] (global).
struct BiasTerm {
    std::string layer;
    torch::Tensor at, bias;  ///< bias may be a 0/1 mask, then scaled by `scale`
    double scale = 1.0;
};

/// A saturating ReLU's bias grid, written by FrozenClampedRelu's backward (see below).
struct SaturationSlot {
    std::string layer;
    torch::Tensor grid;  ///< [h, w]: m * sum over channels of dz/dy where z >= m
};

struct FrozenPass {
    torch::Tensor x;       ///< leaf [1, 3, H, W] requiring grad (float or double)
    torch::Tensor logits;  ///< [N] frozen-pass outputs
    torch::Tensor presence;///< [K] (interpretable head)
    std::vector<BiasTerm> biases;
    /// Stable addresses: the autograd nodes hold pointers to them until the pass is dropped.
    std::vector<std::unique_ptr<SaturationSlot>> saturations;
};

/// ReLU6 (min(max(z, 0), m)) for the frozen pass in one fused kernel each way, used on the
/// inference graph (float32, channels-last, batch 1). Forward: hardtanh(z, 0, m). Backward:
/// the frozen gate 1[0 < z < m] (as hardtanh's own backward) and, in the same sweep over the
/// gradient, the saturated positions' bias contributions: where z >= m the output is the
/// constant m, which contributes m * dz/dy. The generic path (hardtanh plus a 0/1 mask kept as
/// a bias term) needs three extra passes in the forward and two in the reading of the bias.
/// One position's channels: gate the gradient (into gi) and return the saturated share.
/// Branch-free with eight partial sums so that the compiler vectorises it (a branchy version
/// was 15x slower on random signs).
float clampedReluBackward(const float* __restrict z, const float* __restrict g, float* __restrict gi, int64_t C,
                          float m) {
    float part[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    int64_t c = 0;
    for (; c + 8 <= C; c += 8)
        for (int k = 0; k < 8; ++k) {
            const float v = z[c + k], gv = g[c + k];
            gi[c + k] = (v > 0.f && v < m) ? gv : 0.f;
            part[k] += (v >= m) ? gv : 0.f;
        }
    float sat = 0.f;
    for (; c < C; ++c) {
        const float v = z[c];
        gi[c] = (v > 0.f && v < m) ? g[c] : 0.f;
        sat += (v >= m) ? g[c] : 0.f;
    }
    for (float x : part) sat += x;
    return sat * m;
}

class FrozenClampedRelu : public torch::autograd::Function<FrozenClampedRelu> {
public:
    static bool applies(const torch::Tensor& x) {
        return x.scalar_type() == torch::kFloat && x.dim() == 4 && x.size(0) == 1 &&
               x.is_contiguous(at::MemoryFormat::ChannelsLast);
    }
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double m,
                                 int64_t slot) {
        ctx->save_for_backward({x});
        ctx->saved_data["m"] = m;
        ctx->saved_data["slot"] = slot;
        return torch::hardtanh(x, 0.0, m);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list gradOut) {
        const auto z = ctx->get_saved_variables()[0];
        const float m = static_cast<float>(ctx->saved_data["m"].toDouble());
        auto* slot = reinterpret_cast<SaturationSlot*>(ctx->saved_data["slot"].toInt());
        const int64_t C = z.size(1), h = z.size(2), w = z.size(3);
        auto g = gradOut[0].contiguous(at::MemoryFormat::ChannelsLast);
        auto gi = torch::empty_like(g);
        auto grid = torch::empty({h, w}, g.options().memory_format(at::MemoryFormat::Contiguous));
        const float* zp = z.data_ptr<float>();
        const float* gp = g.data_ptr<float>();
        float* op = gi.data_ptr<float>();
        float* sp = grid.data_ptr<float>();
        // Channels-last: the C values of one position are contiguous.
        at::parallel_for(0, h * w, std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)), [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1; ++p) sp[p] = clampedReluBackward(zp + p * C, gp + p * C, op + p * C, C, m);
        });
        slot->grid = grid;
        return {gi, torch::Tensor(), torch::Tensor()};
    }
};

torch::Tensor padZero(const torch::Tensor& x, const nn::Pad4& p, double value = 0.0) {
    if (p.zero()) return x;
    return torch::constant_pad_nd(x, {p.left, p.right, p.top, p.bottom}, value);
}

/// One node's frozen linear piece applied to the frozen-pass inputs; gates from their values.
torch::Tensor frozenNode(const nn::Node& n, const std::vector<torch::Tensor>& in, std::vector<BiasTerm>& biases,
                         std::vector<std::unique_ptr<SaturationSlot>>& saturations) {
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
                    saturations.push_back(std::make_unique<SaturationSlot>(SaturationSlot{n.name, {}}));
                    return FrozenClampedRelu::apply(x, a->maxValue,
                                                   reinterpret_cast<int64_t>(saturations.back().get()));
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

/// The frozen linear pass of a (frozen) TorchScript module on x (defined with the walker below).
torch::Tensor scriptFrozenForward(const torch::jit::Module& frozen, const torch::Tensor& x,
                                  std::vector<BiasTerm>& biases);

FrozenPass frozenPass(const Explainer::Impl& m, const torch::Tensor& x0, bool dbl) {
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
    vals[0] = fp.x;
    for (int i = 1; i < g.size(); ++i) {
        if (!need[static_cast<size_t>(i)]) continue;
        const auto& n = g.node(i);
        std::vector<torch::Tensor> in;
        for (int j : n.inputs) in.push_back(vals[static_cast<size_t>(j)]);
        vals[static_cast<size_t>(i)] = frozenNode(n, in, fp.biases, fp.saturations);
        for (int j : n.inputs)
            if (--remaining[static_cast<size_t>(j)] == 0 && j != out) vals[static_cast<size_t>(j)] = torch::Tensor();
    }
    torch::Tensor f = vals[static_cast<size_t>(out)];
    frozenHeadPass(m, f, fp);
    return fp;
}

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

/// The Attribution of scalar z (a function of fp.x built in the frozen pass).
Attribution attribute(const FrozenPass& fp, const torch::Tensor& z, double real, bool retain) {
    std::vector<torch::Tensor> inputs{fp.x};
    for (const auto& b : fp.biases) inputs.push_back(b.at);
    for (const auto& sl : fp.saturations) sl->grid = torch::Tensor();  // written by this backward
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
        torch::Tensor grid;
        if (bt.at.dim() == 4) {
            if (bt.bias.size(2) == 1 && bt.bias.size(3) == 1)
                grid = torch::matmul(g[0].permute({1, 2, 0}), bt.bias.view({-1}).to(g.scalar_type()));
            else
                grid = (g * bt.bias).sum(1)[0];
        } else {
            grid = (g * bt.bias).sum().view({1, 1});
        }
        if (bt.scale != 1.0) grid = grid * bt.scale;
        auto& lv = levels[{grid.size(0), grid.size(1)}];
        lv.grids.push_back(grid);
        lv.layers.push_back(&bt.layer);
    }
    for (const auto& sl : fp.saturations) {
        if (!sl->grid.defined()) continue;
        auto& lv = levels[{sl->grid.size(0), sl->grid.size(1)}];
        lv.grids.push_back(sl->grid);
        lv.layers.push_back(&sl->layer);
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

}  // namespace

Attribution explainOmenn(const Explainer& e, const float* x, int size, const Target& t, const ExplainOptions& opt) {
    const auto& m = e.impl();
    auto xt = inputTensor(x, size, m.channels);
    // On the inference graph in float32 the frozen pass is itself the model's forward pass: the
    // same kernels on the same values (each gate reproduces its activation), so z is read from
    // it and no second forward is run (test_omenn checks z against Explainer::logits). The
    // layer graph, float64 and TorchScript paths compare with a separate no-grad forward.
    const bool frozenIsForward = m.fast && !m.script && !opt.doublePrecision;
    double real = 0;
    if (!frozenIsForward) {
        torch::NoGradGuard ng;
        real = m.targetValue(xt, t, {}, /*inference=*/true).item<double>();
    }
    auto fp = frozenPass(m, xt, opt.doublePrecision);
    auto z = frozenTarget(fp, t);
    if (frozenIsForward) real = z.item<double>();
    return attribute(fp, z, real, false);
}

std::vector<Attribution> explainAllClasses(const Explainer& e, const float* x, int size, const ExplainOptions& opt) {
    const auto& m = e.impl();
    auto xt = inputTensor(x, size, m.channels);
    torch::Tensor real;
    {
        torch::NoGradGuard ng;
        real = m.forward(xt, [](int, const nn::Node&, const std::vector<torch::Tensor>&, const torch::Tensor&) {})[0];
    }
    auto fp = frozenPass(m, xt, opt.doublePrecision);
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

// ------------------------------------------------------------------ TorchScript graphs
namespace {

/// Evaluates a frozen TorchScript graph as its frozen linear map (see docs/omenn.md).
/// Values depending on the input are the tensors that require grad.
class ScriptEval {
public:
    explicit ScriptEval(std::vector<BiasTerm>& biases) : biases_(biases) {}
    std::unordered_map<const torch::jit::Value*, c10::IValue> env;

    void runBlock(torch::jit::Block* b) {
        for (auto* n : b->nodes()) runNode(n);
    }

private:
    std::vector<BiasTerm>& biases_;

    static bool dep(const c10::IValue& v) {
        if (v.isTensor()) return v.toTensor().defined() && v.toTensor().requires_grad();
        if (v.isTensorList()) {
            for (const auto& t : v.toTensorVector())
                if (t.requires_grad()) return true;
        }
        if (v.isList())
            for (const auto& e : v.toListRef())
                if (dep(e)) return true;
        if (v.isTuple())
            for (const auto& e : v.toTupleRef().elements())
                if (dep(e)) return true;
        return false;
    }
    void generic(torch::jit::Node* n) {
        torch::jit::Stack stack;
        for (auto* v : n->inputs()) stack.push_back(env.at(v));
        n->getOperation()(stack);
        for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = stack.at(i);
    }
    torch::Tensor t(torch::jit::Node* n, size_t i) { return env.at(n->input(i)).toTensor(); }
    double scalar(torch::jit::Node* n, size_t i) { return env.at(n->input(i)).toScalar().toDouble(); }
    void bias(const std::string& name, const torch::Tensor& at, const torch::Tensor& b) {
        biases_.push_back({name, at, b.detach()});
    }
    static torch::Tensor channelView(const torch::Tensor& b, const torch::Tensor& y) {
        std::vector<int64_t> shape(static_cast<size_t>(y.dim()), 1);
        if (y.dim() >= 2) shape[1] = -1;
        else shape[0] = -1;
        return b.view(shape);
    }

    void runNode(torch::jit::Node* n) {
        const std::string k = n->kind().toQualString();
        if (k == "prim::Constant") {
            env[n->output()] = torch::jit::toIValue(n->output()).value();
            return;
        }
        if (k == "prim::If") {
            auto* blk = n->blocks()[env.at(n->input(0)).toBool() ? 0 : 1];
            runBlock(blk);
            for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = env.at(blk->outputs()[i]);
            return;
        }
        if (!n->blocks().empty()) throw Error("OMENN (TorchScript): control flow '" + k + "' is not supported");
        if (k == "prim::ListConstruct") {
            auto elem = n->output()->type()->expectRef<c10::ListType>().getElementType();
            std::vector<c10::IValue> items;
            for (auto* v : n->inputs()) items.push_back(env.at(v));
            if (elem->kind() == c10::TypeKind::TensorType) {
                c10::List<at::Tensor> l;
                for (auto& i : items) l.push_back(i.toTensor());
                env[n->output()] = l;
            } else if (elem->kind() == c10::TypeKind::IntType) {
                c10::List<int64_t> l;
                for (auto& i : items) l.push_back(i.toInt());
                env[n->output()] = l;
            } else if (elem->kind() == c10::TypeKind::FloatType) {
                c10::List<double> l;
                for (auto& i : items) l.push_back(i.toDouble());
                env[n->output()] = l;
            } else {
                c10::impl::GenericList l(elem);
                for (auto& i : items) l.push_back(i);
                env[n->output()] = l;
            }
            return;
        }
        if (k == "prim::ListUnpack") {
            auto l = env.at(n->input(0)).toListRef();
            for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = l[i];
            return;
        }
        if (k == "prim::TupleConstruct") {
            std::vector<c10::IValue> items;
            for (auto* v : n->inputs()) items.push_back(env.at(v));
            env[n->output()] = c10::ivalue::Tuple::create(std::move(items));
            return;
        }
        if (k == "prim::TupleUnpack") {
            const auto& e = env.at(n->input(0)).toTupleRef().elements();
            for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = e[i];
            return;
        }
        bool anyDep = false;
        for (auto* v : n->inputs()) anyDep = anyDep || dep(env.at(v));
        bool tensorOut = false;
        for (auto* v : n->outputs()) tensorOut = tensorOut || v->type()->kind() == c10::TypeKind::TensorType;
        if (!anyDep || !tensorOut || k.rfind("prim::", 0) == 0) {
            generic(n);  // constants, shape bookkeeping, list / tuple plumbing
            return;
        }
        const std::string name = k + " (" + n->output(0)->debugName() + ")";
        const bool first = env.at(n->input(0)).isTensor();
        auto x = first ? t(n, 0) : torch::Tensor();
        auto z = first ? x.detach() : torch::Tensor();
        if (!first && k != "aten::cat" && k != "aten::stack")
            throw Error("OMENN (TorchScript): unsupported op " + k + " (output " + n->output(0)->debugName() + ")");
        auto out = [&](torch::Tensor y) { env[n->output(0)] = std::move(y); };
        if (k == "aten::relu" || k == "aten::relu_") return out(torch::relu(x));
        if (k == "aten::hardtanh" || k == "aten::hardtanh_" || k == "aten::relu6" || k == "aten::relu6_" ||
            k == "aten::clamp" || k == "aten::clamp_") {
            const bool r6 = k.find("relu6") != std::string::npos;
            auto opt = [&](size_t i, double dflt, bool& has) {
                has = r6 || (n->inputs().size() > i && !env.at(n->input(i)).isNone());
                return r6 ? dflt : (has ? scalar(n, i) : dflt);
            };
            bool hasLo = false, hasHi = false;
            const double lo = opt(1, 0.0, hasLo), hi = opt(2, 6.0, hasHi);
            torch::Tensor y = x;
            if (hasLo) y = y.clamp_min(lo);
            if (hasHi) y = y.clamp_max(hi);
            torch::Tensor b = torch::zeros_like(z);
            if (hasLo) b = b + (z < lo).to(z.dtype()) * lo;
            if (hasHi) b = b + (z > hi).to(z.dtype()) * hi;
            if ((b != 0).any().item<bool>()) bias(name, y, b);
            return out(y);
        }
        if (k == "aten::gelu") {
            if (n->inputs().size() > 1 && env.at(n->input(1)).isString() && env.at(n->input(1)).toStringRef() != "none")
                throw Error("OMENN (TorchScript): gelu with approximate='" + env.at(n->input(1)).toStringRef() + "' is not supported");
            return out(x * (0.5 * (1.0 + torch::erf(z * M_SQRT1_2))));
        }
        if (k == "aten::silu" || k == "aten::silu_") return out(x * torch::sigmoid(z));
        if (k == "aten::softmax") {  // attention weights frozen: a constant downstream
            generic(n);
            env[n->output(0)] = env[n->output(0)].toTensor().detach();
            return;
        }
        if (k == "aten::layer_norm") {
            const auto shape = env.at(n->input(1)).toIntVector();
            std::vector<int64_t> dims;
            for (size_t i = 0; i < shape.size(); ++i) dims.push_back(x.dim() - 1 - static_cast<int64_t>(i));
            const double eps = scalar(n, 4);
            auto sd = torch::sqrt(z.var(dims, false, true) + eps);
            auto y = (x - x.mean(dims, true)) / sd;
            const auto& w = env.at(n->input(2));
            const auto& b = env.at(n->input(3));
            if (w.isTensor()) y = y * w.toTensor();
            if (b.isTensor()) {
                y = y + b.toTensor();
                bias(name, y, b.toTensor());
            }
            return out(y);
        }
        if (k == "aten::conv2d" || k == "aten::conv1d" || k == "aten::linear" || k == "aten::_convolution") {
            generic(n);
            const auto& b = env.at(n->input(2));
            auto y = env.at(n->output(0)).toTensor();
            if (b.isTensor() && b.toTensor().defined())
                bias(name, y, k == "aten::linear" ? b.toTensor() : channelView(b.toTensor(), y));
            return;
        }
        if (k == "aten::addmm") {
            if (dep(env.at(n->input(0)))) throw Error("OMENN (TorchScript): addmm with an input-dependent bias");
            generic(n);
            const double beta = n->inputs().size() > 3 ? scalar(n, 3) : 1.0;
            bias(name, env.at(n->output(0)).toTensor(), t(n, 0) * beta);
            return;
        }
        if (k == "aten::batch_norm") {
            generic(n);  // eval: an affine map per channel
            auto y = env.at(n->output(0)).toTensor();
            const auto& w = env.at(n->input(1));
            const auto& b = env.at(n->input(2));
            auto mean = t(n, 3), var = t(n, 4);
            const double eps = scalar(n, 7);
            auto scale = torch::rsqrt(var + eps);
            if (w.isTensor()) scale = scale * w.toTensor();
            auto shift = -mean * scale;
            if (b.isTensor()) shift = shift + b.toTensor();
            bias(name, y, channelView(shift, y));
            return;
        }
        if (k == "aten::add" || k == "aten::add_" || k == "aten::sub" || k == "aten::sub_") {
            const bool sub = k.rfind("aten::sub", 0) == 0;
            const auto& a = env.at(n->input(0));
            const auto& b = env.at(n->input(1));
            const double alpha = (n->inputs().size() > 2 ? scalar(n, 2) : 1.0) * (sub ? -1.0 : 1.0);
            torch::Tensor y = b.isTensor() ? a.toTensor() + alpha * b.toTensor() : a.toTensor() + alpha * b.toScalar().toDouble();
            if (!dep(a)) bias(name, y, a.toTensor());
            if (!dep(b)) bias(name, y, b.isTensor() ? (alpha * b.toTensor()) : torch::full_like(z, alpha * b.toScalar().toDouble()));
            return out(y);
        }
        if (k == "aten::mul" || k == "aten::div" || k == "aten::matmul" || k == "aten::mm" || k == "aten::bmm") {
            int deps = 0;
            for (auto* v : n->inputs()) deps += dep(env.at(v)) ? 1 : 0;
            if (deps > 1 || (k == "aten::div" && dep(env.at(n->input(1)))))
                throw Error("OMENN (TorchScript): " + name + " multiplies two input-dependent values");
            return generic(n);
        }
        static const char* linearOps[] = {"aten::max_pool2d", "aten::adaptive_avg_pool2d", "aten::avg_pool2d",
                                          "aten::adaptive_max_pool2d", "aten::mean", "aten::sum", "aten::cat",
                                          "aten::flatten", "aten::view", "aten::reshape", "aten::dropout",
                                          "aten::contiguous", "aten::permute", "aten::transpose", "aten::t",
                                          "aten::squeeze", "aten::unsqueeze", "aten::select", "aten::slice",
                                          "aten::pad", "aten::constant_pad_nd", "aten::neg", "aten::clone",
                                          "aten::feature_dropout", "aten::max_pool1d", "aten::avg_pool1d", "aten::stack"};
        for (const char* o : linearOps)
            if (k == o) {
                if (k == "aten::dropout" && env.at(n->input(2)).toBool()) throw Error("OMENN (TorchScript): dropout in training mode");
                return generic(n);  // linear (max pooling: autograd's one-hot is the frozen gate)
            }
        throw Error("OMENN (TorchScript): unsupported op " + k + " (output " + n->output(0)->debugName() + ")");
    }
};

torch::Tensor scriptFrozenForward(const torch::jit::Module& frozen, const torch::Tensor& x,
                                  std::vector<BiasTerm>& biases) {
    auto graph = frozen.get_method("forward").graph();
    ScriptEval ev(biases);
    ev.env[graph->inputs()[0]] = frozen._ivalue();
    ev.env[graph->inputs()[1]] = x;
    ev.runBlock(graph->block());
    auto out = ev.env.at(graph->outputs()[0]);
    if (!out.isTensor()) throw Error("OMENN (TorchScript): forward must return one tensor");
    return out.toTensor();
}

}  // namespace

Attribution explainScriptModule(const torch::jit::Module& module, const torch::Tensor& x0, int index) {
    auto m = module.clone();
    m.eval();
    auto frozen = torch::jit::freeze(m);
    double real;
    {
        torch::NoGradGuard ng;
        auto y = m.forward({x0}).toTensor().flatten();
        if (index < 0 || index >= y.size(0)) throw Error("output " + std::to_string(index) + " out of range");
        real = y[index].item<double>();
    }
    FrozenPass fp;
    fp.x = x0.detach().clone().requires_grad_(true);
    auto graph = frozen.get_method("forward").graph();
    ScriptEval ev(fp.biases);
    ev.env[graph->inputs()[0]] = frozen._ivalue();
    ev.env[graph->inputs()[1]] = fp.x;
    ev.runBlock(graph->block());
    auto out = ev.env.at(graph->outputs()[0]);
    if (!out.isTensor()) throw Error("OMENN (TorchScript): forward must return one tensor");
    fp.logits = out.toTensor().flatten();
    auto z = fp.logits[index];
    if (!z.requires_grad()) {  // the output does not depend on the input: all bias
        Attribution a;
        a.method = "omenn";
        a.channels = static_cast<int>(x0.size(1));
        a.height = static_cast<int>(x0.size(2));
        a.width = static_cast<int>(x0.size(3));
        a.perChannel.assign(static_cast<size_t>(x0.numel()), 0.f);
        a.map.assign(static_cast<size_t>(a.height * a.width), 0.f);
        a.biasSum = z.item<double>();
        a.biasMap.assign(a.map.size(), static_cast<float>(a.biasSum / static_cast<double>(a.map.size())));
        a.output = real;
        a.completenessError = std::abs(a.biasSum - real);
        return a;
    }
    return attribute(fp, z, real, false);
}

namespace {
torch::jit::Module loadScript(const std::string& path) {
    try {
        return torch::jit::load(path);
    } catch (const c10::Error& e) {
        throw Error(path + ": not a TorchScript module (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
}
}  // namespace

std::vector<float> torchScriptOutputs(const std::string& path, const float* x, int channels, int height, int width) {
    auto m = loadScript(path);
    m.eval();
    torch::NoGradGuard ng;
    auto xt = torch::from_blob(const_cast<float*>(x), {1, channels, height, width}, torch::kFloat).clone();
    // The output must be what a classifier returns (checked here: issue 17, case 11).
    torch::jit::IValue out;
    try {
        out = m.forward({xt});
    } catch (const c10::Error& e) {
        std::string what = e.what_without_backtrace();
        if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
        throw Error(path + ": forward() failed: " + what);
    }
    if (!out.isTensor()) throw Error(path + ": forward() must return a tensor of logits [1, classes], not " + out.tagKind());
    auto y = out.toTensor();
    if (!y.is_floating_point())
        throw Error(path + ": forward() returned " + std::string(c10::toString(y.scalar_type())) +
                    " values; logits must be floating point");
    if (y.dim() != 2 || y.size(0) != 1)
        throw Error(path + ": forward() returned shape " + c10::str(y.sizes()) + "; a classifier's logits [1, classes] are needed");
    y = y.to(torch::kFloat).flatten().contiguous();
    if (!torch::isfinite(y).all().item<bool>()) throw Error(path + ": forward() returned NaN or infinite logits");
    return {y.data_ptr<float>(), y.data_ptr<float>() + y.numel()};
}

Attribution explainTorchScript(const std::string& path, const float* x, int channels, int height, int width,
                               int outputIndex) {
    auto m = loadScript(path);
    auto xt = torch::from_blob(const_cast<float*>(x), {1, channels, height, width}, torch::kFloat).clone();
    return explainScriptModule(m, xt, outputIndex);
}

}  // namespace pqw
