#pragma once
// Explainer internals (core + torch tests): the trunk graph and the head as tensors, the
// real forward (for gradients, baselines and metrics) and OMENN's frozen pass.
#include <torch/torch.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "nn/graph.h"
#include "pqw/omenn.h"

namespace pqw {

struct Explainer::Impl {
    nn::GraphPtr trunk;   ///< unfolded graph; its last node is the output (the cut)
    nn::GraphPtr fast;    ///< inference graph for batched no-grad forwards (may be null)
    ExplainHead head = ExplainHead::None;
    std::vector<std::string> classes;
    int inputSize = 0;
    int channels = 3;     ///< input channels (a pruning CNN may be gray: 1)

    // Stage 0: mean over cells -> LayerNorm(D) (eps 1e-5) -> Linear(D, N).
    torch::Tensor lnWeight, lnBias, fcWeight, fcBias;
    // Interpretable head: codes [K, D], W [N, K], tau, enabled mask [K], threshold.
    torch::Tensor codes, W, enabled;
    double tau = 0.1;
    float threshold = 0.f;

    /// Real model on x [B, 3, S, S]: logits [B, N] (None head: the trunk output flattened).
    /// hook: passed to the trunk's forward (nothing is done in place when given).
    torch::Tensor forward(const torch::Tensor& x, const nn::NodeHook& hook = {}) const;
    /// Real head on trunk output f [B, D, H, W] (or [B, F] for None); also presences for
    /// the interpretable head (pi [B, K]).
    torch::Tensor headForward(const torch::Tensor& f, torch::Tensor* presence = nullptr) const;
    /// The scalar explained by t for every row of the batch: [B].
    /// inference: use the inference graph (BatchNorm folded, channels-last) when there is
    /// one and no hook is given (no-grad callers only).
    torch::Tensor targetValue(const torch::Tensor& x, const Target& t, const nn::NodeHook& hook = {},
                              bool inference = false) const;
    /// Throws pqw::Error naming the first layer OMENN cannot linearise.
    void checkSupported() const;
    int numOutputs() const;
};

/// Tests and tools: wraps a hand-built graph (head None) or a trunk + head.
Explainer makeExplainer(std::shared_ptr<Explainer::Impl> d);

/// OMENN of one target (Method::Omenn of explain()).
Attribution explainOmenn(const Explainer& e, const float* x, int size, const Target& t, const ExplainOptions& opt);
/// A hook that does nothing: passing it keeps Graph::forward from working in place (autograd).
inline void noHook(int, const nn::Node&, const std::vector<torch::Tensor>&, const torch::Tensor&) {}

/// OMENN over a TorchScript module (frozen with torch::jit::freeze, aten ops walked):
/// output `index` of the flattened forward output on x [1, C, H, W].
Attribution explainScriptModule(const torch::jit::Module& m, const torch::Tensor& x, int index);

/// Input tensor [1, 3, size, size] (a copy) from a float CHW buffer.
torch::Tensor inputTensor(const float* x, int size, int channels = 3);
/// Fills an Attribution's vectors from per-channel [C, H, W] and map [H, W] tensors.
void fillAttribution(Attribution& a, const torch::Tensor& perChannel, const torch::Tensor& map);

}  // namespace pqw
