#include "nn/layers.h"

#include <cmath>
#include <limits>

#include "pqw/error.h"

namespace pqw::nn {

namespace F = torch::nn::functional;

std::pair<int64_t, int64_t> tfSamePadding(int64_t in, int64_t k, int64_t s, int64_t dilation) {
    const int64_t keff = (k - 1) * dilation + 1;
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + keff - in, 0);
    return {total / 2, total - total / 2};
}

int64_t Layer::parameterCount() const {
    int64_t n = 0;
    for (const auto& p : parameters(/*recurse=*/false)) n += p.numel();
    return n;
}

torch::Tensor Layer::setParameter(const std::string& name, torch::Tensor t) {
    // Keep channels-last weights as they are (inference graphs use them, see toChannelsLast).
    if (t.defined() && !t.is_contiguous() && !(t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast)))
        t = t.contiguous();
    if (parameters_.contains(name)) {
        if (t.defined()) t.set_requires_grad(false);
        parameters_[name] = t;
        return t;
    }
    return register_parameter(name, t, false);
}

namespace {
const torch::Tensor& single(const std::vector<torch::Tensor>& in, const std::string& kind) {
    if (in.size() != 1) throw Error(kind + ": expects 1 input, got " + std::to_string(in.size()));
    return in[0];
}
torch::Tensor padded(const torch::Tensor& x, const Pad4& p, double value = 0.0) {
    auto y = torch::constant_pad_nd(x, {p.left, p.right, p.top, p.bottom}, value);
    // Keep channels-last activations channels-last (the inference graph runs that way).
    if (x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
        !y.is_contiguous(at::MemoryFormat::ChannelsLast))
        y = y.contiguous(at::MemoryFormat::ChannelsLast);
    return y;
}
}  // namespace

// ---------------------------------------------------------------------------------- Conv2d

Conv2d::Conv2d(torch::Tensor w, torch::Tensor b, std::array<int64_t, 2> stride_, Pad4 pad_,
               std::array<int64_t, 2> dilation_, int64_t groups_)
    : Layer("Conv2d"), stride(stride_), dilation(dilation_), pad(pad_), groups(groups_) {
    setWeights(std::move(w), std::move(b));
}

void Conv2d::setWeights(torch::Tensor w, torch::Tensor b) {
    weight = setParameter("weight", std::move(w));
    bias = setParameter("bias", std::move(b));
}

void Conv2d::toChannelsLast() { setWeights(weight.contiguous(at::MemoryFormat::ChannelsLast), bias); }

Pad4 Conv2d::padFor(int64_t h, int64_t w) const {
    if (!tfSame) return pad;
    auto [t, b] = tfSamePadding(h, weight.size(2), stride[0], dilation[0]);
    auto [l, r] = tfSamePadding(w, weight.size(3), stride[1], dilation[1]);
    return {t, b, l, r};
}

torch::Tensor Conv2d::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    const Pad4 pad = padFor(x.size(2), x.size(3));
    const std::array<int64_t, 2> sym{pad.top, pad.left}, none{0, 0};
    if (pad.symmetric())
        return torch::conv2d(x, weight, bias, at::IntArrayRef(stride), at::IntArrayRef(sym), at::IntArrayRef(dilation), groups);
    return torch::conv2d(padded(x, pad), weight, bias, at::IntArrayRef(stride), at::IntArrayRef(none),
                         at::IntArrayRef(dilation), groups);
}

Spatial Conv2d::spatial() const {
    Spatial s;
    s.spatial = true;
    s.kernelH = (weight.size(2) - 1) * dilation[0] + 1;
    s.kernelW = (weight.size(3) - 1) * dilation[1] + 1;
    s.strideH = stride[0];
    s.strideW = stride[1];
    return s;
}

// ------------------------------------------------------------------------------- BatchNorm

BatchNorm::BatchNorm(torch::Tensor g, torch::Tensor b, torch::Tensor m, torch::Tensor v, double eps_)
    : Layer("BatchNorm"), eps(eps_) {
    const int64_t c = m.numel();
    if (!g.defined()) g = torch::ones({c});
    if (!b.defined()) b = torch::zeros({c});
    gamma = register_parameter("gamma", g.contiguous(), false);
    beta = register_parameter("beta", b.contiguous(), false);
    mean = register_buffer("mean", m.contiguous());
    var = register_buffer("var", v.contiguous());
}

torch::Tensor BatchNorm::scale() const { return gamma / torch::sqrt(var + eps); }
torch::Tensor BatchNorm::shift() const { return beta - mean * scale(); }

torch::Tensor BatchNorm::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    return torch::batch_norm(x, gamma, beta, mean, var, /*training=*/false, 0.0, eps, /*cudnn=*/false);
}

// ------------------------------------------------------------------------------ Activation

Activation::Activation(Fn fn_, double maxValue_, double negativeSlope_)
    : Layer("Activation"), fn(fn_), maxValue(maxValue_), negativeSlope(negativeSlope_) {}

const char* Activation::name(Fn fn) {
    switch (fn) {
    case Fn::Linear: return "linear";
    case Fn::ReLU: return "relu";
    case Fn::Sigmoid: return "sigmoid";
    case Fn::Softmax: return "softmax";
    case Fn::GELU: return "gelu";
    case Fn::SiLU: return "silu";
    case Fn::Tanh: return "tanh";
    }
    return "?";
}

bool Activation::fromKeras(const std::string& n, Fn& fn, double& maxValue) {
    maxValue = 0.0;
    if (n == "linear") fn = Fn::Linear;
    else if (n == "relu") fn = Fn::ReLU;
    else if (n == "relu6") { fn = Fn::ReLU; maxValue = 6.0; }
    else if (n == "sigmoid") fn = Fn::Sigmoid;
    else if (n == "softmax") fn = Fn::Softmax;
    else if (n == "gelu") fn = Fn::GELU;
    else if (n == "silu" || n == "swish") fn = Fn::SiLU;
    else if (n == "tanh") fn = Fn::Tanh;
    else return false;
    return true;
}

torch::Tensor Activation::forward(const std::vector<torch::Tensor>& in, bool mayOverwrite) {
    torch::Tensor x = single(in, kind());
    switch (fn) {
    case Fn::Linear: return x;
    case Fn::ReLU:
        if (negativeSlope != 0.0) {
            x = mayOverwrite ? torch::leaky_relu_(x, negativeSlope) : torch::leaky_relu(x, negativeSlope);
            return maxValue > 0 ? x.clamp_max_(maxValue) : x;
        }
        if (maxValue > 0) return mayOverwrite ? x.clamp_(0.0, maxValue) : x.clamp(0.0, maxValue);
        return mayOverwrite ? x.relu_() : x.relu();
    case Fn::Sigmoid: return mayOverwrite ? x.sigmoid_() : x.sigmoid();
    case Fn::Softmax: return torch::softmax(x, 1);
    case Fn::GELU: return torch::gelu(x);
    case Fn::SiLU: return mayOverwrite ? torch::silu_(x) : torch::silu(x);
    case Fn::Tanh: return mayOverwrite ? x.tanh_() : x.tanh();
    }
    return x;
}

// ------------------------------------------------------------------------- padding, merges

torch::Tensor ZeroPad2d::forward(const std::vector<torch::Tensor>& in, bool) {
    return padded(single(in, kind()), pad);
}

Spatial ZeroPad2d::spatial() const { return {}; }

torch::Tensor Add::forward(const std::vector<torch::Tensor>& in, bool mayOverwrite) {
    if (in.empty()) throw Error("Add: no inputs");
    torch::Tensor y = mayOverwrite ? in[0] : in[0] + in.at(1);
    for (size_t i = mayOverwrite ? 1 : 2; i < in.size(); ++i) y.add_(in[i]);
    return y;
}

torch::Tensor Concat::forward(const std::vector<torch::Tensor>& in, bool) {
    return torch::cat(in, axis);
}

// ---------------------------------------------------------------------------------- pooling

Pad4 Pool2d::padFor(int64_t h, int64_t w) const {
    if (!tfSame) return pad;
    auto [t, b] = tfSamePadding(h, kernel[0], stride[0]);
    auto [l, r] = tfSamePadding(w, kernel[1], stride[1]);
    return {t, b, l, r};
}

Spatial Pool2d::spatial() const {
    return {true, false, kernel[0], kernel[1], stride[0], stride[1]};
}

torch::Tensor AvgPool2d::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    const Pad4 pad = padFor(x.size(2), x.size(3));
    if (pad.zero()) return torch::avg_pool2d(x, kernel, stride);
    if (pad.symmetric() && pad.top <= kernel[0] / 2 && pad.left <= kernel[1] / 2)
        return torch::avg_pool2d(x, kernel, stride, {pad.top, pad.left}, false, /*count_include_pad=*/false);
    // Asymmetric: sum over the padded input divided by the number of real cells in each window.
    auto ones = torch::ones({1, 1, x.size(2), x.size(3)}, x.options());
    auto sum = torch::avg_pool2d(padded(x, pad), kernel, stride);
    auto cnt = torch::avg_pool2d(padded(ones, pad), kernel, stride);
    return sum / cnt;
}

torch::Tensor MaxPool2d::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    const Pad4 pad = padFor(x.size(2), x.size(3));
    if (pad.symmetric() && pad.top <= kernel[0] / 2 && pad.left <= kernel[1] / 2)
        return torch::max_pool2d(x, kernel, stride, {pad.top, pad.left});
    return torch::max_pool2d(padded(x, pad, -std::numeric_limits<double>::infinity()), kernel, stride);
}

torch::Tensor GlobalPool::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    if (x.dim() != 4) throw Error(kind() + ": expects a 4-D input");
    return max ? x.amax({2, 3}, keepDims) : x.mean({2, 3}, keepDims);
}

Spatial GlobalPool::spatial() const { return {true, true, 0, 0, 0, 0}; }

torch::Tensor Flatten::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    if (x.dim() == 4) return x.permute({0, 2, 3, 1}).flatten(1);
    return x.flatten(1);
}

Spatial Flatten::spatial() const { return {true, true, 0, 0, 0, 0}; }

// ---------------------------------------------------------------------------- Dense, LayerNorm

Dense::Dense(torch::Tensor w, torch::Tensor b) : Layer("Dense") { setWeights(std::move(w), std::move(b)); }

void Dense::setWeights(torch::Tensor w, torch::Tensor b) {
    weight = setParameter("weight", std::move(w));
    bias = setParameter("bias", std::move(b));
}

torch::Tensor Dense::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    if (x.dim() == 4) return torch::linear(x.permute({0, 2, 3, 1}), weight, bias).permute({0, 3, 1, 2});
    return torch::linear(x, weight, bias);
}

LayerNorm::LayerNorm(torch::Tensor g, torch::Tensor b, double eps_) : Layer("LayerNorm"), eps(eps_) {
    gamma = register_parameter("gamma", g.defined() ? g.contiguous() : torch::Tensor(), false);
    beta = register_parameter("beta", b.defined() ? b.contiguous() : torch::Tensor(), false);
}

torch::Tensor LayerNorm::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = single(in, kind());
    if (x.dim() == 4) {
        auto y = torch::layer_norm(x.permute({0, 2, 3, 1}), {x.size(1)}, gamma, beta, eps);
        return y.permute({0, 3, 1, 2});
    }
    return torch::layer_norm(x, {x.size(-1)}, gamma, beta, eps);
}

}  // namespace pqw::nn
