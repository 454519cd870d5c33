#pragma once
// Native torchvision architectures built from a state dict in the project's own layer
// modules (core-internal). The graph's node names are the torchvision module paths (as in
// the state dict, without its prefix), so cut layers read like the Python model; the last
// node is the feature map the official ProtoQuant code takes:
//
//  * ConvNeXt (torchvision, model.features): stem Conv 4x4/4 + LayerNorm2d; per block
//    depthwise Conv 7x7, LayerNorm over channels, Linear(C, 4C) on the NHWC map, GELU (erf),
//    Linear(4C, C) with the layer scale folded into its weight and bias (exact), residual
//    Add; downsampling LayerNorm2d + Conv 2x2/2. Depths and widths are read from the keys.
//    The output is the last stage's map (before the classifier's LayerNorm).
//  * ResNet (torchvision layout): conv1 7x7/2, bn1, relu, maxpool 3/2, layer1..4 of
//    BasicBlock or Bottleneck (stride on the 3x3 convolution, v1.5), downsample 1x1 conv + BN.
//    Block kind and counts are read from the keys.
//  * ViT (torchvision VisionTransformer or timm key names; nn/transformer.h): patch embedding
//    Conv p x p / p, PatchTokens (class token first, position embedding added), per layer
//    LayerNorm, SelfAttention, Add, LayerNorm, Linear, GELU (erf), Linear, Add (eps 1e-6), the
//    final LayerNorm when present, then TokenGrid: the class token dropped, the patch tokens
//    as a square map [D, h, w] (768 x 14 x 14 for ViT-B/16 at 224 px), as the official code
//    does with 197 / 257 tokens. Width, depth, patch and MLP sizes come from the shapes; the
//    heads are not stored: 64-dimensional heads are assumed (torchvision vit_b / vit_l, timm /
//    DeiT tiny .. large; width 1280 = vit_h_14's 16 heads). A cut inside the encoder gets its
//    own TokenGrid ("<cut>/grid"). The input size must fit the position embedding.
//
// Key layouts recognised: a torchvision classifier state dict ("features.*" / "conv1.*",
// "layer1.*" / "conv_proj.*", "encoder.*"), a timm ViT ("patch_embed.*", "blocks.*"), the
// official ProtoQuant payload ("backbone.*": ConvNeXt's features, ResNet as
// nn.Sequential(conv1, bn1, relu, maxpool, layer1..4) = "backbone.0", ".1", ".4".."7", the
// torchvision GAP ViT wrapper "backbone.vit_model.vit.*", the timm ViT "backbone.vit_model.*").
#include <string>

#include "nn/graph.h"
#include "pth/pth.h"

namespace pqw::pth {

struct Architecture {
    std::string family;       ///< "convnext", "resnet" or "vit"
    std::string name;         ///< torchvision's name when depths / widths match one ("convnext_tiny")
    std::string description;  ///< e.g. "ConvNeXt, depths 3-3-9-3, widths 96-192-384-768"
    std::string prefix;       ///< the key prefix the backbone was found under
    nn::GraphPtr graph;       ///< input "input", feature map last
    int64_t channels = 0;     ///< feature channels
};

/// Recognises and builds the backbone held by ck. Throws pqw::Error "<file>: ..." naming
/// what is missing or what does not fit (shapes fitting no known architecture).
Architecture buildBackbone(const Checkpoint& ck);

/// A backbone file opened for Backbone: the graph up to the cut (empty cut = the feature map
/// the official code takes), the cut's name, the file's content hash.
struct OpenedBackbone {
    Architecture arch;
    nn::GraphPtr graph;
    std::string cut;
    std::string fileHash;
};
OpenedBackbone openBackbone(const std::string& path, const std::string& cut);

}  // namespace pqw::pth
