// Backbone: TFJS layers-models through pqw::nn, TorchScript through torch::jit.
#include "backbone_impl.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "nn/tfjs.h"
#include "nn/transformer.h"
#include "pqw/backbone_files.h"
#include "pth/arch.h"
#include "pqw/error.h"
#include "pqw/recorded_backbone.h"
#include "pqw/util.h"

namespace pqw {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultCut = "block_10_project_BN";
constexpr int kProbeSize = 224;

uint64_t hashTensor(const torch::Tensor& t, uint64_t h) {
    if (!t.defined()) return fnv1a64("-", 1, h);
    auto c = t.contiguous();
    for (auto d : c.sizes()) h = fnv1a64(&d, sizeof d, h);
    return fnv1a64(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size(), h);
}

/// Kaiming-normal (fan_out, ReLU gain) as torch.nn.init.kaiming_normal_(mode="fan_out").
void kaimingFanOut(torch::Tensor& w, at::Generator& gen) {
    int64_t fanOut = w.size(0);
    for (int64_t d = 2; d < w.dim(); ++d) fanOut *= w.size(d);
    w.normal_(0.0, std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fanOut, 1))), gen);
}

void randomiseGraph(nn::Graph& g, uint64_t seed) {
    torch::NoGradGuard noGrad;
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (const auto& n : g.nodes()) {
        if (auto c = std::dynamic_pointer_cast<nn::Conv2d>(n.module)) {
            kaimingFanOut(c->weight, gen);
            if (c->bias.defined()) c->bias.zero_();
        } else if (auto d = std::dynamic_pointer_cast<nn::Dense>(n.module)) {
            kaimingFanOut(d->weight, gen);
            if (d->bias.defined()) d->bias.zero_();
        } else if (auto b = std::dynamic_pointer_cast<nn::BatchNorm>(n.module)) {
            b->gamma.fill_(1.0);
            b->beta.zero_();
            b->mean.zero_();
            b->var.fill_(1.0);
        } else if (auto l = std::dynamic_pointer_cast<nn::LayerNorm>(n.module)) {
            if (l->gamma.defined()) l->gamma.fill_(1.0);
            if (l->beta.defined()) l->beta.zero_();
        } else if (auto a = std::dynamic_pointer_cast<nn::SelfAttention>(n.module)) {
            kaimingFanOut(a->inWeight, gen);
            kaimingFanOut(a->outWeight, gen);
            if (a->inBias.defined()) a->inBias.zero_();
            if (a->outBias.defined()) a->outBias.zero_();
        } else if (auto t = std::dynamic_pointer_cast<nn::PatchTokens>(n.module)) {
            // As torchvision initialises a ViT: class token zero, position embedding N(0, 0.02^2).
            if (t->classToken.defined()) t->classToken.zero_();
            t->position.copy_(torch::randn(t->position.sizes(), gen) * 0.02);
        }
    }
}

void randomiseScript(torch::jit::Module& m, uint64_t seed) {
    torch::NoGradGuard noGrad;
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (const auto& p : m.named_parameters(true)) {
        torch::Tensor t = p.value;
        const std::string& name = p.name;
        if (t.dim() >= 2) kaimingFanOut(t, gen);
        else if (name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) t.fill_(1.0);
        else t.zero_();
    }
    for (const auto& b : m.named_buffers(true)) {
        torch::Tensor t = b.value;
        const std::string& name = b.name;
        if (!t.is_floating_point()) continue;
        if (name.find("running_var") != std::string::npos) t.fill_(1.0);
        else if (name.find("running_mean") != std::string::npos) t.zero_();
    }
}

std::string shapeText(at::IntArrayRef s) {
    std::string o = "[";
    for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
    return o + "]";
}

}  // namespace

// --------------------------------------------------------------------------------- Impl

torch::Tensor Backbone::Impl::run(const torch::Tensor& x) const {
    if (fast) return fast->forward(x.contiguous(at::MemoryFormat::ChannelsLast));
    if (!script) throw Error("backbone: not loaded");
    torch::jit::IValue y;
    try {
        y = const_cast<torch::jit::Module&>(*script).forward({x});
    } catch (const c10::Error& e) {  // the module raised: its first line, not LibTorch's trace
        std::string what = e.what_without_backtrace();
        if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
        throw Error(modelPath + ": forward() failed: " + what);
    }
    if (!y.isTensor()) throw Error(modelPath + ": forward() must return a tensor (the feature map), not " + y.tagKind());
    auto t = y.toTensor();
    if (!t.is_floating_point())
        throw Error(modelPath + ": forward() returned " + std::string(c10::toString(t.scalar_type())) +
                    " values; the feature map must be floating point");
    if (t.dim() != 4 || t.size(0) != x.size(0))
        throw Error(modelPath + ": forward() must return a feature map [N, C, H, W]; got " + shapeText(t.sizes()));
    return t.to(torch::kFloat32);
}

void Backbone::Impl::refreshFast() {
    fast = nn::inferenceGraph(*graph);
    const auto rf = graph->receptiveFields().back();
    stride = static_cast<int>(rf.stride);
    receptiveField = static_cast<int>(rf.size);
    std::lock_guard<std::mutex> lock(shapeMutex);
    shapeCache.clear();
}

// ------------------------------------------------------------------------------- Backbone

Backbone::Backbone() : d_(std::make_unique<Impl>()) {}
Backbone::~Backbone() = default;
Backbone::Backbone(Backbone&&) noexcept = default;
Backbone& Backbone::operator=(Backbone&&) noexcept = default;

namespace {
/// The identifier Backbone::open gives a TorchScript file, from its bytes alone (nothing loaded).
std::string torchScriptId(const BackboneSpec& spec, const std::string& bytes) {
    uint64_t h = fnv1a64(spec.kind.data(), spec.kind.size());
    h = fnv1a64(bytes.data(), bytes.size(), h);
    if (spec.randomWeights) {
        h = fnv1a64("random", 6, h);
        h = fnv1a64(&spec.randomSeed, sizeof spec.randomSeed, h);
    }
    return spec.kind + ":" + hex64(h) + ":output";
}
}  // namespace

Backbone openRecordedBackbone(const BackboneSpec& recorded, const std::string& expectedId, const std::string& origin,
                              const std::string& userPath) {
    BackboneSpec spec = recorded;
    if (!userPath.empty()) spec.path = userPath;
    if (spec.kind == "torchscript") {
        if (userPath.empty())
            throw Error(origin + ": its backbone is a TorchScript program ('" + recorded.path +
                        "'); TorchScript runs code, so it is loaded only from a file you name yourself "
                        "(pqw: --backbone FILE; the window: choose the file)");
        std::error_code ec;
        if (!fs::is_regular_file(spec.path, ec)) throw Error(spec.path + ": TorchScript file not found");
        const std::string id = torchScriptId(spec, readFile(spec.path));
        if (id != expectedId)
            throw Error(spec.path + ": is not the backbone " + origin + " was made with (its hash gives " + id +
                        ", not " + expectedId + "); it was not loaded");
        return Backbone::open(spec);
    }
    Backbone b = Backbone::open(spec);
    if (b.id() != expectedId)
        throw Error("the backbone at '" + spec.path + "' is not the one " + origin + " was made with (" + b.id() +
                    " vs " + expectedId + ")");
    return b;
}

Backbone Backbone::open(const BackboneSpec& spec) {
    Backbone b;
    Impl& d = *b.d_;
    d.spec = spec;
    if (spec.preprocess) spec.preprocess->validate();  // before loading anything
    if (spec.kind == "default" || spec.kind == "tfjs") {
        std::string path = spec.path;
        std::string cut = spec.cutLayer;
        if (spec.kind == "default") {
            if (path.empty()) {
                const std::string assets = assetsDir();
                path = (fs::path(assets.empty() ? "datasets/assets" : assets) / "mobilenet_v2").string();
            }
            if (cut.empty()) cut = kDefaultCut;
            std::error_code ec;
            if (!fs::is_regular_file(fs::path(path) / "model.json", ec))
                throw Error(path + ": the default backbone (MobileNetV2 from nsfwjs) is not there; run "
                                   "datasets/fetch.sh to fetch and convert it");
        } else if (path.empty()) {
            throw Error("tfjs backbone: no path given (a folder with model.json, or the model.json file)");
        }
        nn::TfjsModel m = nn::loadTfjs(path, cut);
        if (m.inputChannels >= 0 && m.inputChannels != 3)
            throw Error(m.modelPath + ": the model takes " + std::to_string(m.inputChannels) +
                        " input channels; backbones must take RGB (3)");
        d.modelPath = m.modelPath;
        d.cut = m.cut;
        d.graph = m.graph;
        if (spec.randomWeights) randomiseGraph(*d.graph, spec.randomSeed);
        d.refreshFast();
        // Identity: architecture up to the cut (names, types, configs, wiring) + weights.
        uint64_t h = fnv1a64(spec.kind.data(), spec.kind.size());
        for (const auto& n : d.graph->nodes()) {
            h = fnv1a64(n.name.data(), n.name.size() + 1, h);
            h = fnv1a64(n.type.data(), n.type.size() + 1, h);
            h = fnv1a64(n.config.data(), n.config.size(), h);
            for (int i : n.inputs) h = fnv1a64(&i, sizeof i, h);
            for (const auto& p : n.module->named_parameters(false)) h = hashTensor(p.value(), h);
            for (const auto& p : n.module->named_buffers(false)) h = hashTensor(p.value(), h);
        }
        d.id = spec.kind + ":" + hex64(h) + ":" + d.cut;
    } else if (spec.kind == "torchscript") {
        if (spec.path.empty()) throw Error("torchscript backbone: no path given (a .pt file)");
        std::error_code ec;
        if (!fs::is_regular_file(spec.path, ec)) throw Error(spec.path + ": TorchScript file not found");
        if (!spec.cutLayer.empty() && spec.cutLayer != "output")
            throw Error(spec.path + ": TorchScript backbones cannot be cut at '" + spec.cutLayer +
                        "'; export a module whose forward returns the feature map");
        try {
            d.script = std::make_shared<torch::jit::Module>(torch::jit::load(spec.path));
        } catch (const std::exception& e) {
            std::string what = e.what();
            if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
            throw Error(spec.path + ": not a loadable TorchScript archive (" + what + ")");
        }
        d.script->eval();
        if (spec.randomWeights) randomiseScript(*d.script, spec.randomSeed);
        d.modelPath = spec.path;
        d.cut = "output";
        // Probe: output shape (also validates forward) and stride.
        const auto fs224 = b.featureShape(kProbeSize);
        d.stride = static_cast<int>(std::lround(static_cast<double>(kProbeSize) / static_cast<double>(fs224[1])));
        // Receptive field: the extent of the input gradient of the centre cell (a measured
        // lower bound, clipped to the probe image); the stride if autograd is unavailable.
        d.receptiveField = d.stride;
        try {
            auto x = torch::randn({1, 3, kProbeSize, kProbeSize}, at::detail::createCPUGenerator(12345),
                                  torch::TensorOptions().dtype(torch::kFloat32))
                         .requires_grad_(true);
            auto y = d.script->forward({x}).toTensor();
            y.select(0, 0).select(1, y.size(2) / 2).select(1, y.size(3) / 2).sum().backward();
            auto g = x.grad().abs().select(0, 0).sum(0);  // [S, S]
            auto rows = torch::nonzero(g.sum(1) > 0);
            auto cols = torch::nonzero(g.sum(0) > 0);
            if (rows.numel() > 0 && cols.numel() > 0) {
                const int64_t eh = rows.max().item().toLong() - rows.min().item().toLong() + 1;
                const int64_t ew = cols.max().item().toLong() - cols.min().item().toLong() + 1;
                d.receptiveField = static_cast<int>(std::max(eh, ew));
            }
        } catch (const std::exception&) {
        }
        d.id = torchScriptId(spec, readFile(spec.path));
    } else if (spec.kind == "pth") {
        // A torchvision / ProtoQuant state dict (torch.save), built natively (pth/arch.h).
        if (spec.path.empty()) throw Error("pth backbone: no path given (a .pth state dict)");
        pth::OpenedBackbone o = pth::openBackbone(spec.path, spec.cutLayer);
        d.modelPath = spec.path;
        d.cut = o.cut;
        d.graph = o.graph;
        if (spec.randomWeights) randomiseGraph(*d.graph, spec.randomSeed);
        d.refreshFast();
        std::string h = o.fileHash;
        if (spec.randomWeights) h += "-random" + std::to_string(spec.randomSeed);
        d.id = "pth:" + h + ":" + d.cut;
    } else {
        throw Error("backbone kind '" + spec.kind + "' is not known (default, tfjs, torchscript, pth)");
    }
    return b;
}

std::string backboneKindForPath(const std::string& path) {
    const std::string ext = fs::path(path).extension().string();
    if (ext != ".pt" && ext != ".pth" && ext != ".ptl" && ext != ".torchscript" && ext != ".bin" && ext != ".tar")
        return "tfjs";
    // torch.save files (state dicts) hold data.pkl; TorchScript archives hold constants.pkl.
    // The zip's central directory (at the end) names every record: look at both ends.
    std::ifstream f(path, std::ios::binary);
    if (!f) return "torchscript";  // opening reports the problem with the file
    constexpr std::streamoff kWindow = 256 << 10;
    std::string head(static_cast<size_t>(kWindow), '\0'), tail;
    f.read(head.data(), kWindow);
    head.resize(static_cast<size_t>(f.gcount()));
    f.clear();
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    if (size > kWindow) {
        tail.resize(static_cast<size_t>(kWindow));
        f.seekg(size - kWindow);
        f.read(tail.data(), kWindow);
        tail.resize(static_cast<size_t>(f.gcount()));
    }
    if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && static_cast<unsigned char>(head[1]) == 0x02)
        return "pth";  // legacy torch.save stream
    const std::string all = head + tail;
    if (all.find("/data.pkl") != std::string::npos && all.find("/constants.pkl") == std::string::npos &&
        all.find("/code/") == std::string::npos)
        return "pth";
    return "torchscript";
}

const BackboneSpec& Backbone::spec() const { return d_->spec; }
const std::string& Backbone::id() const { return d_->id; }
const std::string& Backbone::cutLayer() const { return d_->cut; }
int Backbone::stride() const { return d_->stride; }
int Backbone::receptiveField() const { return d_->receptiveField; }

int Backbone::effectiveReceptiveField(int inputSize) const {
    {
        std::lock_guard<std::mutex> lock(d_->shapeMutex);
        auto it = d_->erfCache.find(inputSize);
        if (it != d_->erfCache.end()) return it->second;
    }
    const auto shape = featureShape(inputSize);
    int side = stride();
    try {
        torch::AutoGradMode grad(true);
        auto gen = at::detail::createCPUGenerator(20240601);
        auto x = torch::rand({4, 3, inputSize, inputSize}, gen, torch::TensorOptions().dtype(torch::kFloat32))
                     .requires_grad_(true);
        torch::Tensor y;
        if (d_->script) {
            y = d_->script->forward({x}).toTensor();
        } else {
            // A hook turns off in-place evaluation, which autograd needs.
            y = d_->graph->forward(x, -1, [](int, const nn::Node&, const std::vector<torch::Tensor>&,
                                             const torch::Tensor&) {});
        }
        const int64_t cy = shape[1] / 2, cx = shape[2] / 2;
        y.select(2, cy).select(2, cx).sum().backward();
        torch::Tensor g = x.grad().abs().sum(std::vector<int64_t>{0, 1}).contiguous();  // [S, S]
        const double total = g.sum().item<double>();
        if (total > 0) {
            // Centre of the cell in input pixels; grow a square until it holds 90 %.
            const double c0 = cy * stride() + (stride() - 1) / 2.0, c1 = cx * stride() + (stride() - 1) / 2.0;
            auto ga = g.accessor<float, 2>();
            for (int s = 1; s <= 2 * inputSize; ++s) {
                const int y0 = std::max(0, static_cast<int>(std::floor(c0 - s / 2.0 + 0.5)));
                const int x0 = std::max(0, static_cast<int>(std::floor(c1 - s / 2.0 + 0.5)));
                const int y1 = std::min(inputSize, y0 + s), x1 = std::min(inputSize, x0 + s);
                double mass = 0;
                for (int yy = y0; yy < y1; ++yy)
                    for (int xx = x0; xx < x1; ++xx) mass += ga[yy][xx];
                if (mass >= 0.5 * total) {
                    side = std::max(s, stride());
                    break;
                }
            }
        }
    } catch (const std::exception&) {
        // A TorchScript module without a derivative for one of its ops (the fused
        // _native_multi_head_attention of a traced ViT): attention mixes every patch, so the
        // whole input is the box.
        side = inputSize;
    }
    std::lock_guard<std::mutex> lock(d_->shapeMutex);
    d_->erfCache[inputSize] = side;
    return side;
}

Preprocess Backbone::preprocess(int inputSize) const { return preprocessFor(d_->spec, inputSize); }

Preprocess preprocessFor(const BackboneSpec& spec, int inputSize) {
    if (spec.preprocess) return spec.preprocess->at(inputSize);  // resize / crop follow the size
    Preprocess p;  // TFJS: RGB in [0, 1]
    p.size = inputSize;
    if (spec.kind == "torchscript" || spec.kind == "pth") {
        p.mean = {0.485f, 0.456f, 0.406f};  // ImageNet statistics, as torchvision
        p.stdev = {0.229f, 0.224f, 0.225f};
    }
    return p;
}

std::string describePreprocessing(const BackboneSpec& spec) {
    if (spec.preprocess) return spec.preprocess->describe();
    if (spec.kind == "torchscript" || spec.kind == "pth")
        return "ImageNet mean 0.485,0.456,0.406 std 0.229,0.224,0.225, resized to the input size (no crop; the default)";
    return "RGB in [0, 1], resized to the input size (no crop; the default)";
}

std::array<int64_t, 3> Backbone::featureShape(int inputSize) const {
    if (inputSize <= 0) throw Error("backbone: input size must be positive");
    {
        std::lock_guard<std::mutex> lock(d_->shapeMutex);
        auto it = d_->shapeCache.find(inputSize);
        if (it != d_->shapeCache.end()) return it->second;
    }
    c10::InferenceMode guard;
    torch::Tensor y;
    try {
        y = d_->run(torch::zeros({1, 3, inputSize, inputSize}));
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        std::string what = e.what();
        if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
        throw Error(d_->modelPath + ": the model cannot run at " + std::to_string(inputSize) + " px (" + what + ")");
    }
    if (y.dim() != 4)
        throw Error(d_->modelPath + ": the cut layer '" + d_->cut + "' gives " + shapeText(y.sizes()) +
                    ", not a feature map [N, C, H, W]");
    std::array<int64_t, 3> s{y.size(1), y.size(2), y.size(3)};
    std::lock_guard<std::mutex> lock(d_->shapeMutex);
    d_->shapeCache[inputSize] = s;
    return s;
}

std::vector<LayerInfo> Backbone::layers(int inputSize) const {
    std::vector<LayerInfo> out;
    c10::InferenceMode guard;
    const auto x = torch::zeros({1, 3, inputSize, inputSize});
    if (d_->graph) {
        const auto all = d_->graph->forwardAll(x);
        int64_t extraTokens = -1;  // a ViT's leading class tokens, once its PatchTokens node is met
        for (int i = 0; i < d_->graph->size(); ++i) {
            const auto& n = d_->graph->node(i);
            LayerInfo li;
            li.name = n.name;
            li.type = n.type;
            for (int j : n.inputs) li.inputs.push_back(d_->graph->node(j).name);
            if (auto pt = std::dynamic_pointer_cast<nn::PatchTokens>(n.module)) extraTokens = pt->extra();
            const int64_t side = all[i].defined() && all[i].dim() == 3 && extraTokens >= 0
                                     ? static_cast<int64_t>(std::llround(std::sqrt(double(all[i].size(1) - extraTokens))))
                                     : -1;
            if (side > 0 && side * side == all[i].size(1) - extraTokens)
                li.outputShape = {all[i].size(2), side, side};  // tokens: the map a cut there gives
            else if (all[i].defined())
                for (int64_t k = 1; k < all[i].dim(); ++k) li.outputShape.push_back(all[i].size(k));
            li.parameters = n.module->parameterCount();
            out.push_back(std::move(li));
        }
    } else if (d_->script) {
        LayerInfo li;
        li.name = fs::path(d_->modelPath).stem().string();
        li.type = "TorchScript";
        const auto s = featureShape(inputSize);
        li.outputShape = {s[0], s[1], s[2]};
        for (const auto& p : d_->script->parameters(true)) li.parameters += p.numel();
        out.push_back(std::move(li));
    }
    return out;
}

void Backbone::forward(const float* input, int n, int size, float* out) const {
    if (n <= 0) return;
    c10::InferenceMode guard;
    // Large batches run in chunks of about kChunkPixels input pixels: the activations of a
    // chunk stay cache-friendly (measured: 64 x 224 px in one go is ~3x slower per image
    // than in chunks of 16).
    constexpr int64_t kChunkPixels = 16 * 224 * 224;
    const int64_t chunk = std::max<int64_t>(1, kChunkPixels / (int64_t(size) * size));
    const int64_t inPer = int64_t(3) * size * size;
    int64_t outPer = -1;
    for (int64_t i = 0; i < n; i += chunk) {
        const int64_t m = std::min<int64_t>(chunk, n - i);
        auto x = torch::from_blob(const_cast<float*>(input) + i * inPer, {m, 3, size, size}, torch::kFloat32);
        auto y = d_->run(x);
        if (outPer < 0) outPer = y.numel() / m;
        // One copy, converting channels-last to the caller's NCHW layout on the way.
        torch::from_blob(out + i * outPer, y.sizes(), torch::kFloat32).copy_(y);
    }
}

}  // namespace pqw
