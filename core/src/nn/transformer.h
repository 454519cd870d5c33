#pragma once
// Vision Transformer layers of pqw::nn (core-internal; see layers.h for the conventions).
//
// Token tensors are [N, T, D] (batch, tokens, features): Dense, LayerNorm, Activation and Add
// of layers.h act on the last axis of a 3-D tensor, so a transformer block is built from them
// plus SelfAttention. PatchTokens turns the patch embedding's map [N, D, h, w] into tokens
// (class token first, position embedding added); TokenGrid turns tokens back into a map
// [N, D, h, w] (the leading class token dropped), the feature map heads and caches take.
#include "nn/layers.h"

namespace pqw::nn {

/// [N, D, h, w] -> [N, extra + h*w, D]: the patch map as tokens (row-major), the class token
/// (classToken [1, 1, D], may be undefined: extra = 0) prepended, position [1, T, D] added.
/// An input whose grid does not fit the position embedding throws pqw::Error saying which
/// input size fits (patch = the patch side in pixels, for that message).
class PatchTokens : public Layer {
public:
    PatchTokens(torch::Tensor classToken, torch::Tensor position, int64_t patch);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    int64_t extra() const { return classToken.defined() ? 1 : 0; }
    /// The constant added to the tokens: the class token at 0 (zeros elsewhere) + position.
    torch::Tensor tokenBias() const;
    /// Throws unless an h x w patch grid fits the position embedding.
    void checkGrid(int64_t h, int64_t w) const;
    torch::Tensor classToken, position;
    int64_t patch;
};

/// Multi-head self-attention on [N, T, D] as torch.nn.MultiheadAttention (batch first, no
/// mask, eval): q, k, v = x inWeight^T + inBias split in three (each D rows); per head
/// softmax(q k^T / sqrt(D / heads)) v; heads concatenated; x outWeight^T + outBias.
class SelfAttention : public Layer {
public:
    SelfAttention(torch::Tensor inWeight, torch::Tensor inBias, torch::Tensor outWeight, torch::Tensor outBias,
                  int64_t heads);
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    /// Every token sees every other: the receptive field is the whole input.
    Spatial spatial() const override;
    /// The attention weights [N, heads, T, T] of x (the gate OMENN freezes).
    torch::Tensor weights(const torch::Tensor& x) const;
    torch::Tensor inWeight, inBias, outWeight, outBias;
    int64_t heads;
};

/// [N, extra + h*w, D] -> [N, D, h, w] with h = w = sqrt(T - extra): the leading `extra`
/// tokens (class token) dropped; throws pqw::Error when the rest is not a square.
class TokenGrid : public Layer {
public:
    explicit TokenGrid(int64_t extra) : Layer("TokenGrid"), extra(extra) {}
    torch::Tensor forward(const std::vector<torch::Tensor>& in, bool mayOverwrite = false) override;
    int64_t extra;
};

}  // namespace pqw::nn
