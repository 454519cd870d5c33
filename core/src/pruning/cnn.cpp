// The pruning CNN family: construction, forward, costs, save / load, training, evaluation.
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "json_util.h"
#include "pqw/training_checks.h"
#include "pqw/error.h"
#include "pqw/cnn_limits.h"
#include "pqw/feature_cache.h"
#include "pqw/util.h"
#include "pruning/cnn_impl.h"

namespace pqw {

using json = nlohmann::json;
using cnn::Node;
using cnn::Op;

// ------------------------------------------------------------------------------ data

ImageTensors::ImageTensors() = default;
ImageTensors::~ImageTensors() = default;
size_t ImageTensors::count(Split s) const { return d_ ? size_t(d_->y[int(s)].size(0)) : 0; }
int ImageTensors::channels() const { return d_ ? d_->channels : 0; }
int ImageTensors::inputSize() const { return d_ ? d_->size : 0; }
int ImageTensors::classes() const { return d_ ? d_->classes : 0; }

std::vector<float> ImageTensors::input(Split s, size_t i, int* label) const {
    if (i >= count(s))
        throw Error(std::string("image ") + std::to_string(i) + " of the " + splitName(s) + " split does not exist (" +
                    std::to_string(count(s)) + " images)");
    auto x = d_->x[int(s)][int64_t(i)].contiguous();
    if (label) *label = int(d_->y[int(s)][int64_t(i)].item<int64_t>());
    return {x.data_ptr<float>(), x.data_ptr<float>() + x.numel()};
}

ImageTensors ImageTensors::fromDataset(const Dataset& ds, int channels, int inputSize) {
    auto d = std::make_shared<Impl>();
    d->channels = channels > 0 ? channels : (ds.format() == "idx" ? 1 : 3);
    d->classes = int(ds.classNames().size());
    if (ds.size() == 0) throw Error("dataset " + ds.name() + " has no samples");
    d->size = inputSize > 0 ? inputSize : ds.loadImage(0).cols;
    const int S = d->size, C = d->channels;
    for (int s = 0; s < 3; ++s) {
        const auto idx = ds.indices(Split(s));
        auto x = torch::empty({int64_t(idx.size()), C, S, S});
        auto y = torch::empty({int64_t(idx.size())}, torch::kLong);
        float* px = x.data_ptr<float>();
        int64_t* py = y.data_ptr<int64_t>();
        for (size_t k = 0; k < idx.size(); ++k) {
            cv::Mat img = ds.loadImage(idx[k]);
            if (C == 1) cv::cvtColor(img, img, cv::COLOR_RGB2GRAY);
            if (img.rows != S || img.cols != S)
                cv::resize(img, img, cv::Size(S, S), 0, 0, (img.cols > S) ? cv::INTER_AREA : cv::INTER_LINEAR);
            float* o = px + k * size_t(C * S * S);
            for (int r = 0; r < S; ++r) {
                const uint8_t* row = img.ptr<uint8_t>(r);
                for (int c = 0; c < S; ++c)
                    for (int ch = 0; ch < C; ++ch) o[size_t(ch) * S * S + size_t(r) * S + c] = row[c * C + ch] / 255.0f;
            }
            py[k] = ds.sample(idx[k]).label;
        }
        d->x[s] = x;
        d->y[s] = y;
    }
    if (d->x[0].size(0) == 0) throw Error("dataset " + ds.name() + " has no training samples");
    const double mean = d->x[0].mean().item<double>(), sd = std::max(1e-6, d->x[0].std().item<double>());
    for (auto& x : d->x) x.sub_(mean).div_(sd);
    ImageTensors t;
    t.d_ = d;
    return t;
}

ImageTensors ImageTensors::fromFeatureCache(const FeatureCache& cache, size_t maxTrain) {
    requireFiniteFeatures(cache);  // the same check as every ProtoQuant stage (issue 17, case 6)
    const auto sh = cache.shape();
    if (sh[1] != sh[2])
        throw Error("the feature cache's maps are " + std::to_string(sh[1]) + "x" + std::to_string(sh[2]) +
                    "; a feature head needs square maps");
    auto d = std::make_shared<Impl>();
    d->channels = int(sh[0]);
    d->size = int(sh[1]);
    d->classes = int(cache.classNames().size());
    const int64_t per = sh[0] * sh[1] * sh[2];
    for (int s = 0; s < 3; ++s) {
        auto idx = cache.indices(Split(s));
        if (s == int(Split::Train) && maxTrain > 0 && idx.size() > maxTrain) idx.resize(maxTrain);
        auto x = torch::empty({int64_t(idx.size()), sh[0], sh[1], sh[2]});
        auto y = torch::empty({int64_t(idx.size())}, torch::kLong);
        float* px = x.data_ptr<float>();
        int64_t* py = y.data_ptr<int64_t>();
        for (size_t k = 0; k < idx.size(); ++k) {
            cache.read(idx[k], px + int64_t(k) * per);
            py[k] = int64_t(cache.label(idx[k]));
        }
        d->x[s] = x;
        d->y[s] = y;
    }
    if (d->x[0].size(0) == 0) throw Error("the feature cache has no training samples");
    ImageTensors t;
    t.d_ = d;
    return t;
}

// ------------------------------------------------------------------------------ model

namespace cnn {
static const char* kOps[] = {"input", "conv", "bn", "relu", "maxpool", "add", "gap", "flatten", "linear"};
const char* opName(Op op) { return kOps[int(op)]; }
Op parseOp(const std::string& s) {
    for (int i = 0; i < 9; ++i)
        if (s == kOps[i]) return Op(i);
    throw Error("unknown layer op '" + s + "'");
}
}  // namespace cnn

int CnnModel::Impl::add(Op op, const std::string& name, std::vector<int> in) {
    Node n;
    n.op = op;
    n.name = name;
    n.in = std::move(in);
    nodes.push_back(std::move(n));
    return int(nodes.size()) - 1;
}

torch::Tensor CnnModel::Impl::forward(const torch::Tensor& x) const {
    std::vector<torch::Tensor> out(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        const torch::Tensor& a = n.in.empty() ? x : out[size_t(n.in[0])];
        switch (n.op) {
        case Op::Input: out[i] = x; break;
        case Op::Conv: out[i] = torch::conv2d(a, n.w, n.b, n.stride, n.pad); break;
        case Op::BN: out[i] = torch::batch_norm(a, n.w, n.b, n.rm, n.rv, training, 0.1, 1e-5, false); break;
        case Op::ReLU: out[i] = torch::relu(a); break;
        case Op::MaxPool: out[i] = torch::max_pool2d(a, n.kernel, n.kernel); break;
        case Op::Add: {
            auto s = a;
            for (size_t k = 1; k < n.in.size(); ++k) s = s + out[size_t(n.in[k])];
            out[i] = s;
            break;
        }
        case Op::GlobalAvgPool: out[i] = a.mean({2, 3}); break;
        case Op::Flatten: out[i] = a.flatten(1); break;
        case Op::Linear: out[i] = torch::linear(a, n.w, n.b); break;
        }
    }
    return out.back();
}

std::vector<torch::Tensor> CnnModel::Impl::parameters() const {
    std::vector<torch::Tensor> p;
    for (const auto& n : nodes) {
        if (n.op != Op::Conv && n.op != Op::Linear && n.op != Op::BN) continue;
        if (n.w.defined()) p.push_back(n.w);
        if (n.b.defined()) p.push_back(n.b);
    }
    return p;
}

void CnnModel::Impl::setRequiresGrad(bool on) {
    for (auto& t : parameters()) t.set_requires_grad(on);
}

std::vector<std::vector<int64_t>> CnnModel::Impl::shapes() const {
    std::vector<std::vector<int64_t>> sh(nodes.size());
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> out(nodes.size());
    auto x = torch::zeros({1, spec.inChannels, spec.inputSize, spec.inputSize});
    // Evaluate in eval mode on a zero image just for the shapes (cheap for these models).
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        const torch::Tensor a = n.in.empty() ? x : out[size_t(n.in[0])];
        switch (n.op) {
        case Op::Input: out[i] = x; break;
        case Op::Conv: out[i] = torch::conv2d(a, n.w, n.b, n.stride, n.pad); break;
        case Op::MaxPool: out[i] = torch::max_pool2d(a, n.kernel, n.kernel); break;
        case Op::GlobalAvgPool: out[i] = a.mean({2, 3}); break;
        case Op::Flatten: out[i] = a.flatten(1); break;
        case Op::Linear: out[i] = torch::linear(a, n.w, n.b); break;
        default: out[i] = a; break;
        }
        auto s = out[i].sizes().vec();
        sh[i] = std::vector<int64_t>(s.begin() + 1, s.end());
    }
    return sh;
}

ModelCost CnnModel::Impl::cost() const {
    ModelCost c;
    const auto sh = shapes();
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        if (n.op == Op::Conv || n.op == Op::Linear || n.op == Op::BN) {
            c.params += n.w.numel() + (n.b.defined() ? n.b.numel() : 0);
        }
        if (n.prunesWeight()) {
            c.prunableParams += n.w.numel();
            c.nonzeroPrunable += n.mask.defined() ? n.mask.sum().item<int64_t>() : n.w.numel();
            if (n.op == Op::Conv)
                c.macs += n.w.numel() * sh[i][1] * sh[i][2];  // O * I * k * k * Ho * Wo
            else
                c.macs += n.w.numel();
        }
    }
    for (const auto& g : cnn::channelGroups(*this))
        if (g.prunable) {
            c.channels += g.channels;
            const int64_t o = nodes[size_t(g.members[0])].origOut;
            c.originalChannels += o > 0 ? o : g.channels;
        }
    return c;
}

void CnnModel::Impl::applyMasks() {
    torch::NoGradGuard ng;
    for (auto& n : nodes)
        if (n.mask.defined()) n.w.mul_(n.mask);
}

std::vector<torch::Tensor> CnnModel::Impl::snapshot() const {
    std::vector<torch::Tensor> s;
    torch::NoGradGuard ng;
    for (const auto& n : nodes)
        for (const auto* t : {&n.w, &n.b, &n.rm, &n.rv}) s.push_back(t->defined() ? t->detach().clone() : torch::Tensor());
    return s;
}

void CnnModel::Impl::restore(const std::vector<torch::Tensor>& s) {
    torch::NoGradGuard ng;
    size_t k = 0;
    for (auto& n : nodes)
        for (auto* t : {&n.w, &n.b, &n.rm, &n.rv}) {
            if (t->defined()) t->copy_(s.at(k));
            ++k;
        }
}

void CnnModel::Impl::deepCopyFrom(const Impl& o) {
    spec = o.spec;
    training = o.training;
    origParams = o.origParams;
    origPrunable = o.origPrunable;
    history = o.history;
    nodes = o.nodes;
    torch::NoGradGuard ng;
    for (auto& n : nodes)
        for (auto* t : {&n.w, &n.b, &n.rm, &n.rv, &n.mask})
            if (t->defined()) {
                const bool rg = t->requires_grad();
                *t = t->detach().clone();
                if (rg) t->set_requires_grad(true);
            }
}

namespace {

torch::Tensor kaiming(std::vector<int64_t> shape, int64_t fanIn, at::Generator& gen) {
    const double bound = std::sqrt(6.0 / double(fanIn));  // He-uniform for ReLU nets
    return torch::empty(shape).uniform_(-bound, bound, gen);
}

int conv(CnnModel::Impl& m, const std::string& name, int in, int64_t cin, int64_t cout, int64_t k, int64_t stride,
         int64_t pad, bool bias, at::Generator& gen) {
    int i = m.add(Op::Conv, name, {in});
    auto& n = m.nodes[size_t(i)];
    n.w = kaiming({cout, cin, k, k}, cin * k * k, gen);
    if (bias) n.b = torch::zeros({cout});
    n.stride = stride;
    n.pad = pad;
    return i;
}

int bn(CnnModel::Impl& m, const std::string& name, int in, int64_t c) {
    int i = m.add(Op::BN, name, {in});
    auto& n = m.nodes[size_t(i)];
    n.w = torch::ones({c});
    n.b = torch::zeros({c});
    n.rm = torch::zeros({c});
    n.rv = torch::ones({c});
    return i;
}

int linear(CnnModel::Impl& m, const std::string& name, int in, int64_t fin, int64_t fout, at::Generator& gen) {
    int i = m.add(Op::Linear, name, {in});
    auto& n = m.nodes[size_t(i)];
    n.w = kaiming({fout, fin}, fin, gen);
    const double b = 1.0 / std::sqrt(double(fin));
    n.b = torch::empty({fout}).uniform_(-b, b, gen);
    return i;
}

}  // namespace

CnnModel::CnnModel() : d_(std::make_unique<Impl>()) {}
CnnModel::~CnnModel() = default;
CnnModel::CnnModel(const CnnModel& o) : d_(std::make_unique<Impl>()) { d_->deepCopyFrom(*o.d_); }
CnnModel& CnnModel::operator=(const CnnModel& o) {
    if (this != &o) d_->deepCopyFrom(*o.d_);
    return *this;
}
CnnModel::CnnModel(CnnModel&&) noexcept = default;
CnnModel& CnnModel::operator=(CnnModel&&) noexcept = default;
CnnModel::Impl& CnnModel::impl() { return *d_; }
const CnnModel::Impl& CnnModel::impl() const { return *d_; }
const CnnSpec& CnnModel::spec() const { return d_->spec; }
ModelCost CnnModel::cost() const { return d_->cost(); }
int64_t CnnModel::originalParams() const { return d_->origParams; }
int64_t CnnModel::originalPrunable() const { return d_->origPrunable; }

void validateCnnSpec(const CnnSpec& spec) {
    const bool featureArch = spec.arch.rfind("feature-", 0) == 0;
    auto req = [](const char* what, int64_t v, int64_t lo, int64_t hi) {
        if (v < lo || v > hi)
            throw Error(std::string("the CNN's ") + what + " must be between " + std::to_string(lo) + " and " +
                        std::to_string(hi) + ", not " + std::to_string(v));
    };
    req("width", spec.width, 1, kMaxCnnWidth);
    req("depth", spec.depth, 1, kMaxCnnDepth);
    req("input channels", spec.inChannels, 1, featureArch ? 65536 : 4);
    req("input size", spec.inputSize, featureArch ? 1 : 4, kMaxCnnInputSize);
    req("number of classes", spec.classes, 2, 100000);
    // Size before anything is allocated: parameters and the largest activation of one image.
    const double w = spec.width, c = spec.inChannels, s = spec.inputSize, k = spec.classes, d = spec.depth;
    double params = 0, act = 0;
    if (spec.arch == "lenet") {
        params = c * w * 25 + w * 2 * w * 25 + 2 * w * (s / 4) * (s / 4) * 120 + 120 * 84 + 84 * k;
        act = w * s * s;
    } else if (spec.arch == "resnet") {
        params = c * w * 9 + d * 2 * 9 * (w * w + 4 * w * w + 16 * w * w) + 4 * w * k;
        act = w * s * s;
    } else if (spec.arch == "feature-mlp") {
        params = c * s * s * w + d * w * w + w * k;
        act = std::max(c * s * s, w);
    } else {
        params = c * w + d * 9 * w * w + w * k;
        act = std::max(c, w) * s * s;
    }
    if (params > double(kMaxCnnParams) || act > double(kMaxCnnActivation))
        throw Error("the CNN (" + spec.arch + ", width " + std::to_string(spec.width) + ", depth " +
                    std::to_string(spec.depth) + ", input " + std::to_string(spec.inputSize) + " px) would need about " +
                    std::to_string(int64_t(std::max(params, act) / 1e6)) + " million values per layer or in total; the limit is " +
                    std::to_string(kMaxCnnParams / 1000000) + " million parameters and " +
                    std::to_string(kMaxCnnActivation / 1000000) + " million activations per image");
}

CnnModel CnnModel::create(const CnnSpec& spec, uint64_t seed) {
    validateCnnSpec(spec);
    CnnModel model;
    Impl& m = *model.d_;
    m.spec = spec;
    auto gen = at::detail::createCPUGenerator(seed);
    const int64_t w = spec.width;
    int x = m.add(Op::Input, "input", {});
    if (spec.arch == "lenet") {
        x = conv(m, "conv1", x, spec.inChannels, w, 5, 1, 2, true, gen);
        x = m.add(Op::ReLU, "relu1", {x});
        x = m.add(Op::MaxPool, "pool1", {x});
        x = conv(m, "conv2", x, w, 2 * w, 5, 1, 0, true, gen);
        x = m.add(Op::ReLU, "relu2", {x});
        x = m.add(Op::MaxPool, "pool2", {x});
        const int64_t s = ((spec.inputSize / 2) - 4) / 2;
        if (s < 1) throw Error("lenet needs an input of at least 12 pixels");
        x = m.add(Op::Flatten, "flatten", {x});
        x = linear(m, "fc1", x, 2 * w * s * s, 120, gen);
        x = m.add(Op::ReLU, "relu3", {x});
        x = linear(m, "fc2", x, 120, 84, gen);
        x = m.add(Op::ReLU, "relu4", {x});
        linear(m, "fc3", x, 84, spec.classes, gen);
    } else if (spec.arch == "resnet") {
        x = conv(m, "stem", x, spec.inChannels, w, 3, 1, 1, false, gen);
        x = bn(m, "stem_bn", x, w);
        x = m.add(Op::ReLU, "stem_relu", {x});
        int64_t cin = w;
        for (int st = 0; st < 3; ++st) {
            const int64_t c = w << st;
            for (int b = 0; b < spec.depth; ++b) {
                const std::string p = "s" + std::to_string(st + 1) + "b" + std::to_string(b + 1) + "_";
                const int64_t stride = (st > 0 && b == 0) ? 2 : 1;
                int y = conv(m, p + "conv1", x, cin, c, 3, stride, 1, false, gen);
                y = bn(m, p + "bn1", y, c);
                y = m.add(Op::ReLU, p + "relu1", {y});
                y = conv(m, p + "conv2", y, c, c, 3, 1, 1, false, gen);
                y = bn(m, p + "bn2", y, c);
                int sc = x;
                if (stride != 1 || cin != c) {
                    sc = conv(m, p + "down", x, cin, c, 1, stride, 0, false, gen);
                    sc = bn(m, p + "down_bn", sc, c);
                }
                y = m.add(Op::Add, p + "add", {y, sc});
                x = m.add(Op::ReLU, p + "relu2", {y});
                cin = c;
            }
        }
        x = m.add(Op::GlobalAvgPool, "gap", {x});
        linear(m, "fc", x, cin, spec.classes, gen);
    } else if (spec.arch == "feature-mlp") {
        // A classifier on cached trunk features: every hidden layer is a prunable group.
        x = m.add(Op::Flatten, "flatten", {x});
        int64_t fin = int64_t(spec.inChannels) * spec.inputSize * spec.inputSize;
        for (int k = 1; k <= spec.depth; ++k) {
            x = linear(m, "fc" + std::to_string(k), x, fin, w, gen);
            x = m.add(Op::ReLU, "relu" + std::to_string(k), {x});
            fin = w;
        }
        linear(m, "classifier", x, fin, spec.classes, gen);
    } else if (spec.arch == "feature-conv") {
        x = conv(m, "reduce", x, spec.inChannels, w, 1, 1, 0, false, gen);
        x = bn(m, "reduce_bn", x, w);
        x = m.add(Op::ReLU, "reduce_relu", {x});
        for (int k = 1; k <= spec.depth; ++k) {
            const std::string p = "conv" + std::to_string(k);
            x = conv(m, p, x, w, w, 3, 1, 1, false, gen);
            x = bn(m, p + "_bn", x, w);
            x = m.add(Op::ReLU, p + "_relu", {x});
        }
        x = m.add(Op::GlobalAvgPool, "gap", {x});
        linear(m, "classifier", x, w, spec.classes, gen);
    } else {
        throw Error("unknown CNN architecture '" + spec.arch + "' (lenet, resnet, feature-mlp, feature-conv)");
    }
    for (auto& n : m.nodes)
        if (n.prunesWeight()) n.origOut = n.w.size(0);
    const auto c = m.cost();
    m.origParams = c.params;
    m.origPrunable = c.prunableParams;
    return model;
}

std::string CnnModel::summary() const {
    std::ostringstream o;
    const auto sh = d_->shapes();
    for (size_t i = 0; i < d_->nodes.size(); ++i) {
        const auto& n = d_->nodes[i];
        o << n.name << "  " << cnn::opName(n.op) << "  [";
        for (size_t k = 0; k < sh[i].size(); ++k) o << (k ? "x" : "") << sh[i][k];
        o << "]";
        if (n.mask.defined())
            o << "  density " << n.mask.mean().item<double>();
        o << "\n";
    }
    return o.str();
}

// ------------------------------------------------------------------------------ files

void CnnModel::save(const std::string& path) const {
    json meta = {{"format", "pqw-cnn"},
                 {"version", 1},
                 {"spec",
                  {{"arch", d_->spec.arch},
                   {"width", d_->spec.width},
                   {"depth", d_->spec.depth},
                   {"in_channels", d_->spec.inChannels},
                   {"input_size", d_->spec.inputSize},
                   {"classes", d_->spec.classes}}},
                 {"original_params", d_->origParams},
                 {"original_prunable", d_->origPrunable},
                 {"history", d_->history}};
    torch::serialize::OutputArchive ar;
    json nodes = json::array();
    for (size_t i = 0; i < d_->nodes.size(); ++i) {
        const auto& n = d_->nodes[i];
        nodes.push_back({{"op", cnn::opName(n.op)},
                         {"name", n.name},
                         {"in", n.in},
                         {"stride", n.stride},
                         {"pad", n.pad},
                         {"kernel", n.kernel},
                         {"orig_out", n.origOut}});
        const std::string k = "n" + std::to_string(i) + ".";
        if (n.w.defined()) ar.write(k + "w", n.w.detach());
        if (n.b.defined()) ar.write(k + "b", n.b.detach());
        if (n.rm.defined()) ar.write(k + "rm", n.rm, true);
        if (n.rv.defined()) ar.write(k + "rv", n.rv, true);
        if (n.mask.defined()) ar.write(k + "mask", n.mask, true);
    }
    meta["nodes"] = nodes;
    ar.write("meta", c10::IValue(meta.dump()));
    std::ostringstream os;
    ar.save_to(os);
    writeFileAtomic(path, os.str());
}

CnnModel CnnModel::load(const std::string& path) {
    torch::serialize::InputArchive ar;
    std::string metaText;
    try {
        ar.load_from(path);
        c10::IValue v;
        ar.read("meta", v);
        metaText = v.toStringRef();
    } catch (const std::exception& e) {
        throw Error(path + ": not a pqw CNN model file");
    }
    const json meta = jsonu::parse(metaText, path + ": metadata is ");
    if (meta.value("format", "") != "pqw-cnn") throw Error(path + ": not a pqw CNN model file");
    if (meta.value("version", 0) != 1) throw Error(path + ": unsupported CNN model version");
    CnnModel model;
    Impl& m = *model.d_;
    try {
        const auto& s = meta.at("spec");
        m.spec.arch = s.at("arch");
        m.spec.width = jsonu::intAt<int>(s, "width", "spec.");
        m.spec.depth = jsonu::intAt<int>(s, "depth", "spec.");
        m.spec.inChannels = jsonu::intAt<int>(s, "in_channels", "spec.");
        m.spec.inputSize = jsonu::intAt<int>(s, "input_size", "spec.");
        m.spec.classes = jsonu::intAt<int>(s, "classes", "spec.");
        validateCnnSpec(m.spec);  // limits checked before shapes() runs anything
        m.origParams = meta.at("original_params");
        m.origPrunable = meta.at("original_prunable");
        m.history = meta.value("history", json::array());
        const auto& nodes = meta.at("nodes");
        for (size_t i = 0; i < nodes.size(); ++i) {
            const auto& j = nodes[i];
            Node n;
            n.op = cnn::parseOp(j.at("op"));
            n.name = j.at("name");
            n.in = j.at("in").get<std::vector<int>>();
            for (int k : n.in)
                if (k < 0 || size_t(k) >= i) throw Error("node " + n.name + " has a bad input");
            n.stride = j.at("stride");
            n.pad = j.at("pad");
            n.kernel = j.at("kernel");
            n.origOut = j.value("orig_out", int64_t(0));
            const std::string k = "n" + std::to_string(i) + ".";
            ar.try_read(k + "w", n.w);
            ar.try_read(k + "b", n.b);
            ar.try_read(k + "rm", n.rm, true);
            ar.try_read(k + "rv", n.rv, true);
            ar.try_read(k + "mask", n.mask, true);
            if ((n.op == Op::Conv || n.op == Op::Linear || n.op == Op::BN) && !n.w.defined())
                throw Error("node " + n.name + " has no weight");
            m.nodes.push_back(std::move(n));
        }
        m.shapes();  // validates that the tensors fit together
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    } catch (const std::exception& e) {
        throw Error(path + ": corrupt CNN model (" + std::string(e.what()).substr(0, 200) + ")");
    }
    for (auto& n : m.nodes)
        for (auto* t : {&n.w, &n.b, &n.rm, &n.rv, &n.mask})
            if (t->defined()) *t = t->detach().clone();
    return model;
}

// ------------------------------------------------------------------------------ training

namespace cnn {

std::pair<double, double> trainEpoch(CnnModel::Impl& m, const ImageTensors::Impl& d, torch::optim::Optimizer& opt,
                                     int batch, at::Generator& gen, JobContext& ctx) {
    // Shared by train-cnn, pruning fine-tuning and sweeps: a batch of 0 would never advance.
    if (batch < 1) throw Error("the batch size must be at least 1 (it is " + std::to_string(batch) + ")");
    m.training = true;
    m.setRequiresGrad(true);
    bool masked = false;
    for (const auto& n : m.nodes) masked = masked || n.mask.defined();
    const auto& X = d.x[0];
    const auto& Y = d.y[0];
    const int64_t N = X.size(0);
    auto perm = torch::randperm(N, gen, torch::kLong);
    double lossSum = 0;
    int64_t correct = 0;
    for (int64_t s = 0; s < N; s += batch) {
        ctx.throwIfCancelled();
        auto idx = perm.slice(0, s, std::min(N, s + batch));
        auto x = X.index_select(0, idx), y = Y.index_select(0, idx);
        opt.zero_grad();
        auto logits = m.forward(x);
        auto loss = torch::nn::functional::cross_entropy(logits, y);
        loss.backward();
        opt.step();
        if (masked) m.applyMasks();
        lossSum += loss.item<double>() * double(idx.size(0));
        correct += (logits.argmax(1) == y).sum().item<int64_t>();
    }
    m.training = false;
    m.setRequiresGrad(false);
    const double loss = lossSum / double(std::max<int64_t>(1, N));
    if (!std::isfinite(loss))
        throw Error(std::string("the training loss became ") + (std::isnan(loss) ? "NaN" : "infinite") +
                    " (learning rate too high?); training stopped and nothing was saved");
    return {loss, double(correct) / double(std::max<int64_t>(1, N))};
}

Accuracy accuracyOf(const torch::Tensor& X, const torch::Tensor& Y, int64_t batch,
                    const std::function<torch::Tensor(const torch::Tensor&)>& logitsOf) {
    Accuracy a;
    const int64_t N = X.size(0);
    a.samples = size_t(N);
    if (N == 0) return a;
    torch::NoGradGuard ng;
    int64_t c1 = 0, c5 = 0;
    for (int64_t s = 0; s < N; s += batch) {
        auto logits = logitsOf(X.slice(0, s, std::min(N, s + batch)));
        auto y = Y.slice(0, s, std::min(N, s + batch));
        auto top = std::get<1>(logits.topk(std::min<int64_t>(5, logits.size(1)), 1));
        auto hit = top.eq(y.unsqueeze(1));
        c1 += hit.select(1, 0).sum().item<int64_t>();
        c5 += hit.any(1).sum().item<int64_t>();
    }
    a.top1 = double(c1) / double(N);
    a.top5 = double(c5) / double(N);
    return a;
}

Accuracy evaluate(const CnnModel::Impl& m, const ImageTensors::Impl& d, Split split) {
    return accuracyOf(d.x[int(split)], d.y[int(split)], 512, [&](const torch::Tensor& x) { return m.forward(x); });
}

}  // namespace cnn

void trainCnn(CnnModel& model, const ImageTensors& data, const CnnTrainOptions& opt, JobContext& ctx) {
    auto& m = model.impl();
    const auto& d = *data.impl();
    if (d.channels != m.spec.inChannels || d.size != m.spec.inputSize || d.classes != m.spec.classes)
        throw Error("the model expects " + std::to_string(m.spec.inChannels) + "x" + std::to_string(m.spec.inputSize) +
                    " px images and " + std::to_string(m.spec.classes) + " classes; the data has " +
                    std::to_string(d.channels) + "x" + std::to_string(d.size) + " and " + std::to_string(d.classes));
    auto gen = at::detail::createCPUGenerator(opt.seed);
    m.setRequiresGrad(true);
    torch::optim::SGD sgd(m.parameters(),
                          torch::optim::SGDOptions(opt.lr).momentum(opt.momentum).weight_decay(opt.weightDecay));
    for (int e = 1; e <= opt.epochs; ++e) {
        // Cosine learning rate over the run: from-scratch training converges faster with it.
        const double lr = opt.lr * 0.5 * (1.0 + std::cos(M_PI * double(e - 1) / double(opt.epochs)));
        for (auto& g : sgd.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
        auto [loss, acc] = cnn::trainEpoch(m, d, sgd, opt.batch, gen, ctx);
        const auto val = cnn::evaluate(m, d, Split::Val);
        Event ev{"cnn.epoch", {{"epoch", e}, {"loss", loss}, {"train_accuracy", acc}, {"val_accuracy", val.top1}, {"lr", lr}}, {}};
        ctx.emit(ev);
        ctx.progress(double(e) / opt.epochs, "epoch " + std::to_string(e));
    }
    m.setRequiresGrad(false);
    m.history.push_back({{"trained", {{"epochs", opt.epochs}, {"lr", opt.lr}, {"seed", opt.seed}}}});
}

Accuracy evaluateCnn(const CnnModel& m, const ImageTensors& data, Split split) {
    return cnn::evaluate(m.impl(), *data.impl(), split);
}

double measureLatencyMs(const CnnModel& model, int batch, int reps) {
    const auto& m = model.impl();
    torch::NoGradGuard ng;
    auto x = torch::randn({batch, m.spec.inChannels, m.spec.inputSize, m.spec.inputSize});
    m.forward(x);  // warm-up
    std::vector<double> t;
    for (int r = 0; r < std::max(1, reps); ++r) {
        const auto a = std::chrono::steady_clock::now();
        auto y = m.forward(x);
        (void)y.data_ptr<float>();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace pqw
