// torchvision ConvNeXt / ResNet from a state dict (see arch.h).
#include "pth/arch.h"

#include <vector>

#include "nn/transformer.h"
#include "pqw/error.h"

namespace pqw::pth {

namespace {

using nn::Pad4;

std::string joinInts(const std::vector<int64_t>& v) {
    std::string o;
    for (size_t k = 0; k < v.size(); ++k) o += (k ? "-" : "") + std::to_string(v[k]);
    return o;
}

class Builder {
public:
    Builder(const Checkpoint& ck, std::string prefix) : ck_(ck), p_(std::move(prefix)) {
        g_ = std::make_shared<nn::Graph>("input");
    }
    torch::Tensor need(const std::string& key, std::vector<int64_t> shape = {}) const {
        return ck_.need(p_ + key, std::move(shape));
    }
    bool has(const std::string& key) const { return ck_.has(p_ + key); }
    int add(const std::string& name, const std::string& type, std::vector<int> in, nn::LayerPtr m) {
        return g_->addNode(name, type, std::move(in), std::move(m));
    }
    int conv(const std::string& name, const std::string& key, int in, int64_t stride, int64_t pad, int64_t groups,
             bool bias) {
        torch::Tensor w = need(key + ".weight");
        if (w.dim() != 4) throw Error(ck_.path + ": '" + p_ + key + ".weight' is not a convolution kernel");
        torch::Tensor b = bias ? need(key + ".bias", {w.size(0)}) : torch::Tensor();
        return add(name, "Conv2d", {in},
                   std::make_shared<nn::Conv2d>(w, b, std::array<int64_t, 2>{stride, stride}, Pad4{pad, pad, pad, pad},
                                                std::array<int64_t, 2>{1, 1}, groups));
    }
    int bn(const std::string& name, const std::string& key, int in, int64_t c) {
        return add(name, "BatchNorm", {in},
                   std::make_shared<nn::BatchNorm>(need(key + ".weight", {c}), need(key + ".bias", {c}),
                                                   need(key + ".running_mean", {c}), need(key + ".running_var", {c}),
                                                   1e-5));
    }
    int layerNorm(const std::string& name, const std::string& key, int in, int64_t c) {
        return add(name, "LayerNorm", {in},
                   std::make_shared<nn::LayerNorm>(need(key + ".weight", {c}), need(key + ".bias", {c}), 1e-6));
    }
    int relu(const std::string& name, int in) {
        return add(name, "ReLU", {in}, std::make_shared<nn::Activation>(nn::Activation::Fn::ReLU));
    }
    nn::GraphPtr graph() const { return g_; }

    const Checkpoint& ck_;
    std::string p_;

private:
    nn::GraphPtr g_;
};

// ------------------------------------------------------------------------------ ConvNeXt

Architecture convnext(const Checkpoint& ck, const std::string& prefix) {
    Builder b(ck, prefix);
    torch::Tensor stem = b.need("0.0.weight");
    if (stem.dim() != 4 || stem.size(1) != 3 || stem.size(2) != 4 || stem.size(3) != 4)
        throw Error(ck.path + ": '" + prefix + "0.0.weight' should be a 4x4 stem convolution over RGB [C, 3, 4, 4]");
    int64_t c = stem.size(0);
    int x = b.conv("0.0", "0.0", 0, 4, 0, 1, true);
    x = b.layerNorm("0.1", "0.1", x, c);
    std::vector<int64_t> depths, widths;
    for (int stage = 0; stage < 4; ++stage) {
        const std::string s = std::to_string(1 + 2 * stage);
        if (stage > 0) {
            const std::string d = std::to_string(2 * stage);
            if (!b.has(d + ".1.weight")) break;
            x = b.layerNorm(d + ".0", d + ".0", x, c);
            torch::Tensor w = b.need(d + ".1.weight");
            if (w.dim() != 4 || w.size(1) != c || w.size(2) != 2 || w.size(3) != 2)
                throw Error(ck.path + ": '" + prefix + d + ".1.weight' should be a 2x2 downsampling convolution [*, " +
                            std::to_string(c) + ", 2, 2]");
            c = w.size(0);
            x = b.conv(d + ".1", d + ".1", x, 2, 0, 1, true);
        }
        int64_t n = 0;
        while (b.has(s + "." + std::to_string(n) + ".block.0.weight")) {
            const std::string k = s + "." + std::to_string(n);
            const int in = x;
            torch::Tensor dw = b.need(k + ".block.0.weight", {c, 1, 7, 7});
            int y = b.conv(k + ".block.0", k + ".block.0", in, 1, 3, c, true);
            y = b.layerNorm(k + ".block.2", k + ".block.2", y, c);
            torch::Tensor w1 = b.need(k + ".block.3.weight", {-1, c});
            const int64_t h = w1.size(0);
            y = b.add(k + ".block.3", "Dense", {y}, std::make_shared<nn::Dense>(w1, b.need(k + ".block.3.bias", {h})));
            y = b.add(k + ".block.4", "GELU", {y}, std::make_shared<nn::Activation>(nn::Activation::Fn::GELU));
            torch::Tensor gamma = b.need(k + ".layer_scale", {c, 1, 1}).reshape({c});
            torch::Tensor w2 = b.need(k + ".block.5.weight", {c, h}) * gamma.unsqueeze(1);
            torch::Tensor b2 = b.need(k + ".block.5.bias", {c}) * gamma;
            y = b.add(k + ".block.5", "Dense", {y}, std::make_shared<nn::Dense>(w2, b2));
            x = b.add(k, "Add", {in, y}, std::make_shared<nn::Add>());
            ++n;
        }
        if (n == 0) {
            if (stage == 0) throw Error(ck.path + ": ConvNeXt stem found but no block under '" + prefix + "1.0.block'");
            throw Error(ck.path + ": ConvNeXt downsampling layer " + std::to_string(2 * stage) + " has no stage after it");
        }
        depths.push_back(n);
        widths.push_back(c);
    }
    Architecture a;
    a.family = "convnext";
    a.prefix = prefix;
    a.graph = b.graph();
    a.channels = c;
    const std::vector<int64_t> t{3, 3, 9, 3}, s{3, 3, 27, 3};
    if (depths == t && widths == std::vector<int64_t>{96, 192, 384, 768}) a.name = "convnext_tiny";
    else if (depths == s && widths == std::vector<int64_t>{96, 192, 384, 768}) a.name = "convnext_small";
    else if (depths == s && widths == std::vector<int64_t>{128, 256, 512, 1024}) a.name = "convnext_base";
    else if (depths == s && widths == std::vector<int64_t>{192, 384, 768, 1536}) a.name = "convnext_large";
    else a.name = "convnext";
    a.description = "ConvNeXt, depths " + joinInts(depths) + ", widths " + joinInts(widths);
    return a;
}

// -------------------------------------------------------------------------------- ResNet

Architecture resnet(const Checkpoint& ck, const std::string& prefix, bool sequential) {
    Builder b(ck, prefix);
    // Module names: torchvision's (conv1, bn1, layer1..) or the Sequential's indices.
    auto mod = [&](const std::string& tv) -> std::string {
        if (!sequential) return tv;
        if (tv == "conv1") return "0";
        if (tv == "bn1") return "1";
        return std::to_string(3 + (tv[5] - '0'));  // layerK -> 3 + K
    };
    torch::Tensor w = b.need(mod("conv1") + ".weight");
    if (w.dim() != 4 || w.size(1) != 3 || w.size(2) != 7 || w.size(3) != 7)
        throw Error(ck.path + ": '" + prefix + mod("conv1") + ".weight' should be a 7x7 stem convolution [C, 3, 7, 7]");
    int64_t c = w.size(0);
    int x = b.conv(mod("conv1"), mod("conv1"), 0, 2, 3, 1, false);
    x = b.bn(mod("bn1"), mod("bn1"), x, c);
    x = b.relu(sequential ? "2" : "relu", x);
    x = b.add(sequential ? "3" : "maxpool", "MaxPool2d", {x},
              std::make_shared<nn::MaxPool2d>(std::array<int64_t, 2>{3, 3}, std::array<int64_t, 2>{2, 2}, Pad4{1, 1, 1, 1}));
    const bool bottleneck = b.has(mod("layer1") + ".0.conv3.weight");
    std::vector<int64_t> counts;
    for (int layer = 1; layer <= 4; ++layer) {
        const std::string L = mod("layer" + std::to_string(layer));
        int64_t n = 0;
        while (b.has(L + "." + std::to_string(n) + ".conv1.weight")) {
            const std::string k = L + "." + std::to_string(n);
            const int64_t stride = (n == 0 && layer > 1) ? 2 : 1;
            const int in = x;
            int y;
            torch::Tensor w1 = b.need(k + ".conv1.weight", {-1, c, -1, -1});
            if (bottleneck) {
                const int64_t width = w1.size(0);
                b.need(k + ".conv1.weight", {width, c, 1, 1});
                y = b.conv(k + ".conv1", k + ".conv1", in, 1, 0, 1, false);
                y = b.bn(k + ".bn1", k + ".bn1", y, width);
                y = b.relu(k + ".relu1", y);
                b.need(k + ".conv2.weight", {width, width, 3, 3});
                y = b.conv(k + ".conv2", k + ".conv2", y, stride, 1, 1, false);
                y = b.bn(k + ".bn2", k + ".bn2", y, width);
                y = b.relu(k + ".relu2", y);
                torch::Tensor w3 = b.need(k + ".conv3.weight", {-1, width, 1, 1});
                y = b.conv(k + ".conv3", k + ".conv3", y, 1, 0, 1, false);
                y = b.bn(k + ".bn3", k + ".bn3", y, w3.size(0));
            } else {
                const int64_t out = w1.size(0);
                b.need(k + ".conv1.weight", {out, c, 3, 3});
                y = b.conv(k + ".conv1", k + ".conv1", in, stride, 1, 1, false);
                y = b.bn(k + ".bn1", k + ".bn1", y, out);
                y = b.relu(k + ".relu1", y);
                b.need(k + ".conv2.weight", {out, out, 3, 3});
                y = b.conv(k + ".conv2", k + ".conv2", y, 1, 1, 1, false);
                y = b.bn(k + ".bn2", k + ".bn2", y, out);
            }
            const int64_t outC = ck.need(prefix + k + (bottleneck ? ".bn3.weight" : ".bn2.weight")).size(0);
            int skip = in;
            if (b.has(k + ".downsample.0.weight")) {
                b.need(k + ".downsample.0.weight", {outC, c, 1, 1});
                skip = b.conv(k + ".downsample.0", k + ".downsample.0", in, stride, 0, 1, false);
                skip = b.bn(k + ".downsample.1", k + ".downsample.1", skip, outC);
            } else if (outC != c || stride != 1) {
                throw Error(ck.path + ": block '" + prefix + k + "' changes the shape but has no downsample weights");
            }
            y = b.add(k + ".add", "Add", {skip, y}, std::make_shared<nn::Add>());
            x = b.relu(k, y);
            c = outC;
            ++n;
        }
        if (n == 0) throw Error(ck.path + ": ResNet '" + prefix + L + "' has no blocks (missing keys '" + prefix + L + ".0.*')");
        counts.push_back(n);
    }
    Architecture a;
    a.family = "resnet";
    a.prefix = prefix;
    a.graph = b.graph();
    a.channels = c;
    const bool std64 = w.size(0) == 64;
    struct Named { const char* name; bool bottleneck; std::vector<int64_t> counts; };
    const Named known[] = {{"resnet18", false, {2, 2, 2, 2}}, {"resnet34", false, {3, 4, 6, 3}},
                           {"resnet50", true, {3, 4, 6, 3}},  {"resnet101", true, {3, 4, 23, 3}},
                           {"resnet152", true, {3, 8, 36, 3}}};
    a.name = "resnet";
    for (const auto& k : known)
        if (std64 && k.bottleneck == bottleneck && k.counts == counts) a.name = k.name;
    a.description = std::string("ResNet, ") + (bottleneck ? "Bottleneck" : "BasicBlock") + " blocks " + joinInts(counts) +
                    ", stem width " + std::to_string(w.size(0)) + ", " + std::to_string(c) + " feature channels";
    return a;
}


// -------------------------------------------------------------------- Vision Transformer

/// Module names of one ViT key layout (torchvision VisionTransformer or timm).
struct VitKeys {
    const char* layout;
    const char *patch, *cls, *pos, *block, *ln1, *qkvW, *qkvB, *proj, *ln2, *fc1, *fc2, *norm;
};
const VitKeys kTorchvisionVit{"torchvision", "conv_proj", "class_token", "encoder.pos_embedding",
                              "encoder.layers.encoder_layer_", "ln_1", "self_attention.in_proj_weight",
                              "self_attention.in_proj_bias", "self_attention.out_proj", "ln_2", "mlp.0", "mlp.3",
                              "encoder.ln"};
const VitKeys kTimmVit{"timm", "patch_embed.proj", "cls_token", "pos_embed", "blocks.", "norm1", "attn.qkv.weight",
                       "attn.qkv.bias", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2", "norm"};

/// Attention heads of a ViT of width D (a state dict does not store them): 64-dimensional
/// heads, as torchvision's vit_b (12 x 64) and vit_l (16 x 64) and timm's / DeiT's tiny,
/// small, base and large (3, 6, 12, 16 x 64); width 1280 is torchvision's vit_h_14 (16 x 80).
int64_t vitHeads(const Checkpoint& ck, int64_t D) {
    if (D == 1280) return 16;  // torchvision vit_h_14: 16 heads of 80
    if (D % 64 != 0)
        throw Error(ck.path + ": cannot tell the attention heads of a ViT of width " + std::to_string(D) +
                    " (the workbench takes 64-dimensional heads, as torchvision's and timm's ViTs; " +
                    std::to_string(D) + " is not a multiple of 64)");
    return D / 64;
}

Architecture vit(const Checkpoint& ck, const std::string& prefix, const VitKeys& k) {
    Builder b(ck, prefix);
    const std::string P = k.patch;
    torch::Tensor pw = b.need(P + ".weight");
    if (pw.dim() != 4 || pw.size(1) != 3 || pw.size(2) != pw.size(3))
        throw Error(ck.path + ": '" + prefix + P + ".weight' should be a square patch embedding over RGB [D, 3, p, p]");
    if (b.has("dist_token"))
        throw Error(ck.path + ": a distilled DeiT (dist_token): only ViTs with one class token are supported");
    const int64_t D = pw.size(0), patch = pw.size(2);
    int x = b.conv(P, P, 0, patch, 0, 1, true);
    torch::Tensor cls = b.need(std::string(k.cls), {1, 1, D});
    torch::Tensor pos = b.need(std::string(k.pos), {1, -1, D});
    x = b.add(k.pos, "PatchTokens", {x}, std::make_shared<nn::PatchTokens>(cls, pos, patch));
    const int64_t heads = vitHeads(ck, D);
    int64_t layers = 0, mlp = 0;
    for (;; ++layers) {
        const std::string L = k.block + std::to_string(layers);
        if (!b.has(L + "." + k.ln1 + ".weight")) break;
        const int in = x;
        int y = b.add(L + "." + k.ln1, "LayerNorm", {in},
                      std::make_shared<nn::LayerNorm>(b.need(L + "." + k.ln1 + ".weight", {D}),
                                                      b.need(L + "." + k.ln1 + ".bias", {D}), 1e-6));
        // timm's optional layer scales (ls1 / ls2) fold into the projection after them (exact).
        torch::Tensor ow = b.need(L + "." + k.proj + ".weight", {D, D}), ob = b.need(L + "." + k.proj + ".bias", {D});
        if (b.has(L + ".ls1.gamma")) {
            torch::Tensor g1 = b.need(L + ".ls1.gamma", {D});
            ow = ow * g1.unsqueeze(1);
            ob = ob * g1;
        }
        y = b.add(L + ".self_attention", "SelfAttention", {y},
                  std::make_shared<nn::SelfAttention>(b.need(L + "." + k.qkvW, {3 * D, D}), b.need(L + "." + k.qkvB, {3 * D}),
                                                      ow, ob, heads));
        const int mid = b.add(L + ".add_1", "Add", {in, y}, std::make_shared<nn::Add>());
        y = b.add(L + "." + k.ln2, "LayerNorm", {mid},
                  std::make_shared<nn::LayerNorm>(b.need(L + "." + k.ln2 + ".weight", {D}),
                                                  b.need(L + "." + k.ln2 + ".bias", {D}), 1e-6));
        // torchvision before 0.12 named the MLP's Linears linear_1 / linear_2.
        const bool old = &k == &kTorchvisionVit && !b.has(L + "." + k.fc1 + ".weight") && b.has(L + ".mlp.linear_1.weight");
        const std::string fc1 = L + "." + (old ? "mlp.linear_1" : k.fc1), fc2 = L + "." + (old ? "mlp.linear_2" : k.fc2);
        torch::Tensor w1 = b.need(fc1 + ".weight", {-1, D});
        mlp = w1.size(0);
        y = b.add(fc1, "Dense", {y}, std::make_shared<nn::Dense>(w1, b.need(fc1 + ".bias", {mlp})));
        y = b.add(L + ".mlp.gelu", "GELU", {y}, std::make_shared<nn::Activation>(nn::Activation::Fn::GELU));
        torch::Tensor w2 = b.need(fc2 + ".weight", {D, mlp}), b2 = b.need(fc2 + ".bias", {D});
        if (b.has(L + ".ls2.gamma")) {
            torch::Tensor g2 = b.need(L + ".ls2.gamma", {D});
            w2 = w2 * g2.unsqueeze(1);
            b2 = b2 * g2;
        }
        y = b.add(fc2, "Dense", {y}, std::make_shared<nn::Dense>(w2, b2));
        x = b.add(L, "Add", {mid, y}, std::make_shared<nn::Add>());
    }
    if (layers == 0)
        throw Error(ck.path + ": ViT patch embedding found but no encoder layer under '" + prefix + k.block + "0'");
    // The final LayerNorm when the features include it (torchvision's encoder.ln; timm's norm,
    // absent in global_pool="avg" models whose fc_norm belongs to the head).
    const std::string norm = k.norm;
    if (b.has(norm + ".weight"))
        x = b.add(norm, "LayerNorm", {x},
                  std::make_shared<nn::LayerNorm>(b.need(norm + ".weight", {D}), b.need(norm + ".bias", {D}), 1e-6));
    else if (&k == &kTorchvisionVit)
        throw Error(ck.path + ": missing key '" + prefix + norm + ".weight' (torchvision's final encoder LayerNorm)");
    b.add("grid", "TokenGrid", {x}, std::make_shared<nn::TokenGrid>(1));
    Architecture a;
    a.family = "vit";
    a.prefix = prefix;
    a.graph = b.graph();
    a.channels = D;
    a.name = "vit";
    struct Named { const char* name; int64_t D, layers, patch; };
    for (const Named& n : {Named{"vit_b_16", 768, 12, 16}, Named{"vit_b_32", 768, 12, 32}, Named{"vit_l_16", 1024, 24, 16},
                           Named{"vit_l_32", 1024, 24, 32}, Named{"vit_h_14", 1280, 32, 14}})
        if (D == n.D && layers == n.layers && patch == n.patch) a.name = n.name;
    const int64_t tokens = pos.size(1) - 1;
    a.description = "ViT (" + std::string(k.layout) + " keys), patch " + std::to_string(patch) + ", " +
                    std::to_string(layers) + " layers, width " + std::to_string(D) + ", " + std::to_string(heads) +
                    " heads, MLP " + std::to_string(mlp) + ", " + std::to_string(tokens) + " patch tokens + class token" +
                    (b.has(norm + ".weight") ? "" : ", no final norm");
    return a;
}

}  // namespace

Architecture buildBackbone(const Checkpoint& ck) {
    for (const std::string p : {"backbone.", "features.", ""}) {
        if (ck.has(p + "0.0.weight") && ck.has(p + "1.0.block.0.weight")) return convnext(ck, p);
    }
    if (ck.has("backbone.0.weight") && ck.has("backbone.4.0.conv1.weight")) return resnet(ck, "backbone.", true);
    if (ck.has("0.weight") && ck.has("4.0.conv1.weight")) return resnet(ck, "", true);
    if (ck.has("backbone.conv1.weight") && ck.has("backbone.layer1.0.conv1.weight")) return resnet(ck, "backbone.", false);
    if (ck.has("conv1.weight") && ck.has("layer1.0.conv1.weight")) return resnet(ck, "", false);
    // ViTs: the official code's torchvision GAP wrapper (backbone.vit_model.vit.*), its timm
    // model (backbone.vit_model.*), a torchvision classifier or train_full.py's ViTWithGAP.
    for (const std::string p : {"backbone.vit_model.vit.", "backbone.vit_model.", "backbone.vit.", "backbone.", "vit.", ""}) {
        if (ck.has(p + "conv_proj.weight") && ck.has(p + "encoder.pos_embedding")) return vit(ck, p, kTorchvisionVit);
        if (ck.has(p + "patch_embed.proj.weight") && ck.has(p + "pos_embed")) return vit(ck, p, kTimmVit);
    }
    std::string first;
    for (size_t k = 0; k < ck.tensors.size() && k < 3; ++k) first += (k ? ", " : "") + ck.tensors[k].first;
    throw Error(ck.path + ": the weights fit no known backbone (torchvision ConvNeXt, ResNet or ViT); first keys: " + first);
}

OpenedBackbone openBackbone(const std::string& path, const std::string& cut) {
    OpenedBackbone o;
    o.arch = buildBackbone(readCheckpoint(path));
    const nn::Graph& g = *o.arch.graph;
    const int idx = cut.empty() ? g.outputIndex() : g.indexOf(cut);
    if (idx < 0)
        throw Error(path + ": no layer named '" + cut + "' in this " + o.arch.description +
                    " (pqw layers --backbone lists them)");
    o.cut = g.node(idx).name;
    o.graph = idx == g.outputIndex() ? o.arch.graph : g.upTo(idx);
    // A ViT cut inside the encoder gives tokens: its patch tokens as a map, as at the end.
    if (o.arch.family == "vit" && idx != g.outputIndex() && g.node(idx).type != "Conv2d")
        o.graph->addNode(o.cut + "/grid", "TokenGrid", {o.graph->outputIndex()}, std::make_shared<nn::TokenGrid>(1));
    o.fileHash = fileHash(path);
    return o;
}

}  // namespace pqw::pth
