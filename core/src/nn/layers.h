#pragma once
// pqw::nn: the project's own layer library (core-internal; includes torch).
//
// Internal API in short (used by the TFJS loader, Backbone, and later OMENN / pruning):
//
//  * Every layer is a torch::nn::Module derived from nn::Layer, NCHW float, eval only.
//    Weights are registered as parameters (requires_grad = false by default; pruning or
//    fine-tuning code may switch it on), BatchNorm statistics as buffers. Each layer has
//    its own forward(inputs, mayOverwrite): inputs are the outputs of its graph inputs in
//    order; when mayOverwrite is true the layer may write into inputs[0] and return it
//    (the Graph grants this only when nobody else can observe that tensor).
//  * Layers are data: their fields (weight, stride, pads, gamma, maxValue, ...) are public so
//    OMENN can read the frozen linear pieces (see algorithms.md section 2) and pruning can
//    replace tensors. After changing a tensor, keep the registered parameter in sync by
//    assigning through the same member (members alias the registered tensors).
//  * spatial() reports the kernel / stride a layer applies to H and W (for receptive
//    fields): kernel = effective (dilated) size; global = true for global pooling / flatten.
//  * Graph (graph.h) wires layers into a DAG of named nodes.
//
// Layout conventions: tensors are NCHW (N x features for 2-D). Where Keras semantics depend
// on NHWC order (Flatten, Dense / LayerNorm on 4-D input), the layer permutes to NHWC so
// Keras weights apply unchanged.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace pqw::nn {

/// Explicit zero padding of H and W (pixels added before / after).
struct Pad4 {
    int64_t top = 0, bottom = 0, left = 0, right = 0;
    bool symmetric() const { return top == bottom && left == right; }
    bool zero() const { return top == 0 && bottom == 0 && left == 0 && right == 0; }
};

/// TensorFlow "same" padding along one axis: pad_total = max((ceil(in/s)-1)*s + k_eff - in, 0),
/// before = total/2, after = total - before. k_eff = (k-1)*dilation + 1.
std::pair<int64_t, int64_t> tfSamePadding(int64_t in, int64_t k, int64_t s, int64_t dilation = 1);

/// Kernel / stride a layer applies to the spatial axes (for receptive-field arithmetic).
struct Spatial {
    bool spatial = false;      ///< false: the layer does not change the spatial grid
    bool global = false;       ///< the layer collapses H and W (global pooling, flatten)
    int64_t kernelH = 1, kernelW = 1, strideH = 1, strideW = 1;
};

/// Base class of every graph node's module.
class Layer : public torch::nn::Module {
public:
    explicit Layer(std::string kind) : kind_(std::move(kind)) {}
    /// Short type name of the module ("Conv2d", "BatchNorm", ...).
    const std::string& kind() const { return kind_; }
    /// Evaluates the layer (eval semantics). See the header comment for mayOverwrite.
    virtual torch::Tensor forward(const std::vector<torch::Tensor>& inputs, bool mayOverwrite = false) = 0;
    /// Convenience for single-input layers.
    torch::Tensor operator()(const torch::Tensor& x) { return forward({x}, false); }
    virtual Spatial spatial() const { return {}; }
    /// Number of parameter and buffer elements that are weights (not BN statistics).
    int64_t parameterCount() const;

protected:
    /// Registers or replaces a parameter (requires_grad off); undefined tensors allowed.
    torch::Tensor setParameter(const std::string& name, torch::Tensor t);

private:
    std::string kind_;
};
using LayerPtr = std::shared_ptr<Layer>;

/// Identity (graph input).
class Identity : public Layer {
public:
    Identity() : Layer("Identity") {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool) override { return in.at(0); }
};

/// 2-D convolution; depthwise when groups == in channels. weight [out, in/groups, kh, kw].
/// Symmetric padding is the convolution's own; asymmetric padding is applied by F::pad.
class Conv2d : public Layer {
public:
    Conv2d(torch::Tensor weight, torch::Tensor bias, std::array<int64_t, 2> stride, Pad4 pad,
           std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    Spatial spatial() const override;
    /// Replaces weight and bias (keeps the registered parameters in sync).
    void setWeights(torch::Tensor weight, torch::Tensor bias);
    /// Stores the weight channels-last (faster oneDNN convolutions on channels-last input).
    void toChannelsLast();

    /// The padding applied to an input of h x w (pad, or TF "same" padding when tfSame).
    Pad4 padFor(int64_t h, int64_t w) const;

    torch::Tensor weight, bias;  ///< bias may be undefined
    std::array<int64_t, 2> stride, dilation;
    Pad4 pad;
    int64_t groups;
    bool tfSame = false;  ///< TensorFlow "same": padding depends on the input size (see tfSamePadding)
};

/// Inference BatchNorm over channel axis 1: y = (x - mean) / sqrt(var + eps) * gamma + beta.
class BatchNorm : public Layer {
public:
    BatchNorm(torch::Tensor gamma, torch::Tensor beta, torch::Tensor mean, torch::Tensor var, double eps);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    /// Per-channel affine form: y = x * scale + shift (OMENN's frozen gate and bias piece).
    torch::Tensor scale() const;
    torch::Tensor shift() const;

    torch::Tensor gamma, beta, mean, var;
    double eps;
};

/// Element-wise activations. ReLU with maxValue > 0 is ReLU6-style clamp(0, maxValue);
/// negativeSlope gives a leaky ReLU. Softmax acts over channel axis 1.
class Activation : public Layer {
public:
    enum class Fn { Linear, ReLU, Sigmoid, Softmax, GELU, SiLU, Tanh };
    explicit Activation(Fn fn, double maxValue = 0.0, double negativeSlope = 0.0);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    /// Parses a Keras activation name ("relu", "relu6", "linear", "sigmoid", "softmax",
    /// "gelu", "silu"/"swish", "tanh"); returns false for anything else.
    static bool fromKeras(const std::string& name, Fn& fn, double& maxValue);
    static const char* name(Fn fn);

    Fn fn;
    double maxValue;       ///< ReLU only; 0 = unbounded
    double negativeSlope;  ///< ReLU only
};

/// Zero padding of H and W.
class ZeroPad2d : public Layer {
public:
    explicit ZeroPad2d(Pad4 pad) : Layer("ZeroPad2d"), pad(pad) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    Spatial spatial() const override;
    Pad4 pad;
};

/// Element-wise sum of all inputs.
class Add : public Layer {
public:
    Add() : Layer("Add") {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
};

/// Concatenation along a torch axis (1 = channels for NCHW).
class Concat : public Layer {
public:
    explicit Concat(int64_t axis = 1) : Layer("Concat"), axis(axis) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    int64_t axis;
};

/// What average and max pooling share: window, stride, and explicit or TF "same" padding.
class Pool2d : public Layer {
public:
    Pool2d(std::string kind, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, Pad4 pad)
        : Layer(std::move(kind)), kernel(kernel), stride(stride), pad(pad) {}
    Spatial spatial() const override;
    /// The padding applied to an input of h x w (pad, or TF "same" padding when tfSame).
    Pad4 padFor(int64_t h, int64_t w) const;
    std::array<int64_t, 2> kernel, stride;
    Pad4 pad;
    bool tfSame = false;
};

/// Average pooling; padded cells are excluded from the mean (TensorFlow "same" semantics).
class AvgPool2d : public Pool2d {
public:
    AvgPool2d(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, Pad4 pad = {})
        : Pool2d("AvgPool2d", kernel, stride, pad) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
};

/// Max pooling; padded cells never win (padding is -inf).
class MaxPool2d : public Pool2d {
public:
    MaxPool2d(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, Pad4 pad = {})
        : Pool2d("MaxPool2d", kernel, stride, pad) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
};

/// Mean (or max) over H and W: [N, C, H, W] -> [N, C] (or [N, C, 1, 1] with keepDims).
class GlobalPool : public Layer {
public:
    explicit GlobalPool(bool max = false, bool keepDims = false)
        : Layer(max ? "GlobalMaxPool" : "GlobalAvgPool"), max(max), keepDims(keepDims) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    Spatial spatial() const override;
    bool max, keepDims;
};

/// Keras Flatten: 4-D input is flattened in NHWC order (so Keras Dense weights match).
class Flatten : public Layer {
public:
    Flatten() : Layer("Flatten") {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    Spatial spatial() const override;
};

/// Fully connected layer, weight [out, in]. On 4-D input it acts on the channel axis
/// (Keras Dense on NHWC), i.e. as a 1x1 convolution.
class Dense : public Layer {
public:
    Dense(torch::Tensor weight, torch::Tensor bias);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    void setWeights(torch::Tensor weight, torch::Tensor bias);
    torch::Tensor weight, bias;  ///< bias may be undefined
};

/// Dropout: the identity at inference.
class Dropout : public Layer {
public:
    explicit Dropout(double rate = 0.0) : Layer("Dropout"), rate(rate) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool) override { return in.at(0); }
    double rate;
};

/// Layer normalisation over the feature axis (axis 1 of 2-D input; channels of 4-D input,
/// as Keras LayerNormalization(axis=-1) on NHWC). gamma / beta may be undefined.
class LayerNorm : public Layer {
public:
    LayerNorm(torch::Tensor gamma, torch::Tensor beta, double eps);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    torch::Tensor gamma, beta;
    double eps;
};

}  // namespace pqw::nn
