#pragma once
// OMENN internals shared by the frozen pass over layer graphs (frozen_pass.cpp), the attribution
// (omenn.cpp) and the TorchScript walker (script_*.cpp): bias terms with their placement, the
// frozen pass's state, and the attribution read from one backward pass. See docs/omenn.md.
#include <torch/torch.h>
#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "omenn/explainer_impl.h"
#include "pqw/omenn.h"

namespace pqw::omenn {

/// Where a bias term's contribution lands on the image (docs/omenn.md, "bias placement").
struct Placement {
    enum class Kind {
        Legacy,  ///< 4-D [1, C, h, w] spatial, anything else global (the layer-graph pass)
        Global,  ///< spread uniformly over the whole image
        Grid,    ///< dims h and w of `at` are a spatial grid (any layout: NCHW, NHWC, ...)
        Tokens,  ///< dim t of `at` holds tokens: `extra` leading ones (class tokens: global),
                 ///< then a gh x gw patch grid (row-major); anything after it is global
    };
    Kind kind = Kind::Legacy;
    int h = -1, w = -1, t = -1;
    int64_t gh = 0, gw = 0, extra = 0;
};

/// A bias term b added at tensor `at` (broadcastable to it). Its contribution to z is
/// sum(dz/d at * b).
struct BiasTerm {
    std::string layer;
    torch::Tensor at, bias;  ///< bias may be a 0/1 mask, then scaled by `scale`
    double scale = 1.0;
    Placement place{};
};

/// A saturating ReLU's bias grid, written by FrozenClampedRelu's backward (frozen_pass.cpp).
/// When the ReLU is the only consumer of a convolution, the convolution's per-channel bias
/// term is read in the same sweep (`biasLayer`, `biasGrid`) instead of as a BiasTerm.
struct SaturationSlot {
    std::string layer;
    torch::Tensor grid;  ///< [h, w]: m * sum over channels of dz/dy where z >= m
    std::string biasLayer;
    torch::Tensor biasGrid;  ///< [h, w]: sum over channels of dz/dz_conv * b (when biasLayer is set)
};

struct FrozenPass {
    torch::Tensor x;        ///< leaf [1, 3, H, W] requiring grad (float or double)
    torch::Tensor logits;   ///< [N] frozen-pass outputs
    torch::Tensor presence; ///< [K] (interpretable head)
    std::vector<BiasTerm> biases;
    /// Stable addresses: the autograd nodes hold pointers to them until the pass is dropped.
    std::vector<std::unique_ptr<SaturationSlot>> saturations;
};

/// The Attribution of scalar z (a function of fp.x built in the frozen pass).
Attribution attribute(const FrozenPass& fp, const torch::Tensor& z, double real, bool retain);

/// The frozen pass of the explainer's model (trunk + head) on x0 [1, C, H, W] (frozen_pass.cpp).
FrozenPass frozenPass(const Explainer::Impl& m, const torch::Tensor& x0, bool dbl);

/// The frozen linear pass of a frozen TorchScript module on x (script_walker.cpp).
torch::Tensor scriptFrozenForward(const torch::jit::Module& frozen, const torch::Tensor& x,
                                  std::vector<BiasTerm>& biases);

}  // namespace pqw::omenn
