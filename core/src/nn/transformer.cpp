// Vision Transformer layers (see transformer.h).
#include "nn/transformer.h"

#include <cmath>

#include "pqw/error.h"

namespace pqw::nn {

namespace {
const torch::Tensor& one(const std::vector<torch::Tensor>& in, const std::string& kind) {
    if (in.size() != 1) throw Error(kind + " takes one input, got " + std::to_string(in.size()));
    return in[0];
}
}  // namespace

// ---------------------------------------------------------------------------- PatchTokens

PatchTokens::PatchTokens(torch::Tensor cls, torch::Tensor pos, int64_t patch_) : Layer("PatchTokens"), patch(patch_) {
    classToken = setParameter("class_token", std::move(cls));
    position = setParameter("position", std::move(pos));
}

void PatchTokens::checkGrid(int64_t h, int64_t w) const {
    const int64_t T = position.size(1), n = T - extra();
    if (h * w == n) return;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(n, 0)))));
    std::string fits = side * side == n ? " (" + std::to_string(side * patch) + " px)" : std::string();
    throw Error("the position embedding holds " + std::to_string(n) + " patch tokens" + fits + " but this input gives " +
                std::to_string(h) + " x " + std::to_string(w) + " patches of " + std::to_string(patch) +
                " px; use the size the model was trained at");
}

torch::Tensor PatchTokens::tokenBias() const {
    if (!classToken.defined()) return position;
    auto b = position.clone();
    b.narrow(1, 0, 1).add_(classToken.reshape({1, 1, -1}));
    return b;
}

torch::Tensor PatchTokens::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = one(in, kind());
    if (x.dim() != 4) throw Error("PatchTokens expects a patch map [N, D, h, w]");
    checkGrid(x.size(2), x.size(3));
    const int64_t N = x.size(0), D = x.size(1);
    // NHWC order = row-major patches; a view when x is channels-last.
    auto t = x.permute({0, 2, 3, 1}).reshape({N, x.size(2) * x.size(3), D});
    if (classToken.defined()) t = torch::cat({classToken.to(t.scalar_type()).reshape({1, 1, D}).expand({N, 1, D}), t}, 1);
    return t + position.to(t.scalar_type());
}

// --------------------------------------------------------------------------- SelfAttention

SelfAttention::SelfAttention(torch::Tensor iw, torch::Tensor ib, torch::Tensor ow, torch::Tensor ob, int64_t heads_)
    : Layer("SelfAttention"), heads(heads_) {
    inWeight = setParameter("in_proj_weight", std::move(iw));
    inBias = setParameter("in_proj_bias", std::move(ib));
    outWeight = setParameter("out_proj_weight", std::move(ow));
    outBias = setParameter("out_proj_bias", std::move(ob));
}

Spatial SelfAttention::spatial() const {
    Spatial s;
    s.spatial = true;
    s.global = true;
    return s;
}

torch::Tensor SelfAttention::weights(const torch::Tensor& x) const {
    const int64_t N = x.size(0), T = x.size(1), D = x.size(2), dh = D / heads;
    auto qk = torch::linear(x, inWeight.narrow(0, 0, 2 * D).to(x.scalar_type()),
                            inBias.defined() ? inBias.narrow(0, 0, 2 * D).to(x.scalar_type()) : torch::Tensor());
    qk = qk.view({N, T, 2, heads, dh}).permute({2, 0, 3, 1, 4});  // [2, N, H, T, dh]
    auto s = torch::matmul(qk[0], qk[1].transpose(-2, -1)).mul_(1.0 / std::sqrt(static_cast<double>(dh)));
    return torch::softmax(s, -1);
}

torch::Tensor SelfAttention::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = one(in, kind());
    if (x.dim() != 3) throw Error("SelfAttention expects tokens [N, T, D]");
    const int64_t N = x.size(0), T = x.size(1), D = x.size(2), dh = D / heads;
    auto qkv = torch::linear(x, inWeight.to(x.scalar_type()), inBias.defined() ? inBias.to(x.scalar_type()) : torch::Tensor());
    qkv = qkv.view({N, T, 3, heads, dh}).permute({2, 0, 3, 1, 4});  // [3, N, H, T, dh]
    auto s = torch::matmul(qkv[0], qkv[1].transpose(-2, -1)).mul_(1.0 / std::sqrt(static_cast<double>(dh)));
    auto o = torch::matmul(torch::softmax(s, -1), qkv[2]);  // [N, H, T, dh]
    o = o.transpose(1, 2).reshape({N, T, D});
    return torch::linear(o, outWeight.to(x.scalar_type()), outBias.defined() ? outBias.to(x.scalar_type()) : torch::Tensor());
}

// ------------------------------------------------------------------------------- TokenGrid

torch::Tensor TokenGrid::forward(const std::vector<torch::Tensor>& in, bool) {
    const auto& x = one(in, kind());
    if (x.dim() != 3) throw Error("TokenGrid expects tokens [N, T, D]");
    const int64_t n = x.size(1) - extra;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(n, 0)))));
    if (n <= 0 || side * side != n)
        throw Error("the transformer gives " + std::to_string(n) + " patch tokens, not a square grid");
    return x.narrow(1, extra, n).reshape({x.size(0), side, side, x.size(2)}).permute({0, 3, 1, 2});
}

}  // namespace pqw::nn
