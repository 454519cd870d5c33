// OMENN's Explainer: construction, the real model's forward (logits, head, targets), the
// supported-layer check, input tensors and method names. See docs/omenn.md.
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
            dynamic_cast<const nn::LayerNorm*>(l) || dynamic_cast<const nn::PatchTokens*>(l) ||
            dynamic_cast<const nn::SelfAttention*>(l) || dynamic_cast<const nn::TokenGrid*>(l))
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

}  // namespace pqw
