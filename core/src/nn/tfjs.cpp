#include "nn/tfjs.h"
#include "nn/tfjs_manifest.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw::nn {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string shapeStr(const std::vector<int64_t>& s) {
    std::ostringstream o;
    o << '[';
    for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
    o << ']';
    return o.str();
}

/// Shape of a node's output as far as the loader knows it (-1 = unknown).
struct Shape {
    int rank = 4;  ///< 4 = N,C,H,W; 2 = N,features
    int64_t c = -1, h = -1, w = -1;
};

using RawLayer = TfjsRawLayer;

class Loader {
public:
    explicit Loader(std::string file) : file_(std::move(file)), dir_(fs::path(file_).parent_path().string()) {}

    [[noreturn]] void fail(const std::string& what) const { throw Error(file_ + ": " + what); }
    /// A range-checked integer from the layer config; the message names the file.
    int64_t intOf(const json& v, const std::string& name) const {
        try {
            return jsonu::asInt<int64_t>(v, "\"" + name + "\"");
        } catch (const Error& e) {
            fail(e.what());
        }
    }
    int64_t intOr(const json& c, const char* key, int64_t def, const std::string& layer) const {
        return c.contains(key) && !c[key].is_null() ? intOf(c[key], layer + "." + key) : def;
    }

    TfjsModel load(const std::string& cutName) {
        TfjsDocument doc = parseTfjs(file_, readFile(file_), [](const std::string& shard) {
            std::error_code ec;
            if (!fs::is_regular_file(shard, ec)) throw Error(shard + ": weight shard is missing");
            return readFile(shard);
        });
        layers_ = std::move(doc.layers);
        byName_ = std::move(doc.byName);
        outputName_ = std::move(doc.outputName);
        weights_ = std::move(doc.weights);
        TfjsModel m;
        m.modelPath = file_;
        for (const auto& l : layers_) m.allLayers.push_back(l.name);
        std::string cut = cutName.empty() ? outputName_ : cutName;
        if (!byName_.count(cut)) {
            std::string list;
            const size_t n = layers_.size();
            for (size_t i = 0, shown = 0; i < n && shown < 8; ++i, ++shown)
                list += (shown ? ", " : "") + layers_[n - 1 - i].name;
            fail("no layer named '" + cut + "' to cut at (" + std::to_string(n) + " layers; the last ones: " + list +
                 ")");
        }
        m.cut = cut;
        try {
            m.graph = build(cut);
        } catch (const Error&) {
            throw;
        } catch (const json::exception& e) {
            fail(std::string("malformed layer configuration: ") + e.what());
        } catch (const std::exception& e) {
            // A torch op refusing the weights (an inconsistent shape the checks above missed).
            fail(std::string("cannot build the layer graph: ") + e.what());
        }
        m.inputChannels = inputChannels_;
        return m;
    }

private:
    /// The weight layer/kind checked against the expected Keras shape (-1 = any).
    torch::Tensor weight(const std::string& layer, const std::string& kind, const std::vector<int64_t>& expect,
                         bool required = true) {
        auto lit = weights_.find(layer);
        if (lit == weights_.end() || !lit->second.count(kind)) {
            if (!required) return {};
            fail("layer '" + layer + "' has no weight '" + layer + "/" + kind + "' in the weights manifest");
        }
        const TfjsWeight& w = lit->second[kind];
        bool ok = w.shape.size() == expect.size();
        for (size_t i = 0; ok && i < expect.size(); ++i) ok = expect[i] < 0 || expect[i] == w.shape[i];
        if (!ok)
            fail("weight '" + layer + "/" + kind + "' has shape " + shapeStr(w.shape) + " but layer '" + layer +
                 "' needs " + shapeStr(expect));
        return torch::from_blob(const_cast<float*>(w.values.data()), w.shape, torch::kFloat32).clone();
    }

    // --------------------------------------------------------------------------- config

    /// A size / stride pair from the layer config; every value must lie in [1, 4096].
    std::array<int64_t, 2> pair(const RawLayer& l, const char* key, int64_t def) const {
        const json& cfg = l.config;
        if (!cfg.contains(key) || cfg[key].is_null()) return {def, def};
        const json& v = cfg[key];
        std::array<int64_t, 2> r{};
        if (v.is_number_integer()) r = {v.get<int64_t>(), v.get<int64_t>()};
        else if (v.is_array() && v.size() == 1 && v[0].is_number_integer()) r = {v[0].get<int64_t>(), v[0].get<int64_t>()};
        else if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
            r = {v[0].get<int64_t>(), v[1].get<int64_t>()};
        else fail("layer '" + l.name + "' has a malformed " + key + " (need an integer or a pair of integers)");
        for (int64_t x : r)
            if (x < 1 || x > 4096)
                fail("layer '" + l.name + "' has " + key + " " + std::to_string(x) + " (must be in 1..4096)");
        return r;
    }

    void checkChannelsLast(const RawLayer& l) const {
        const std::string df = l.config.value("data_format", "channels_last");
        if (df != "channels_last")
            fail("layer '" + l.name + "' uses data_format '" + df + "' (only channels_last is supported)");
    }

    /// "same" / "valid" -> tfSame flag; anything else fails.
    bool samePadding(const RawLayer& l) const {
        const std::string p = l.config.value("padding", "valid");
        if (p == "same") return true;
        if (p == "valid") return false;
        fail("layer '" + l.name + "' has unsupported padding '" + p + "'");
    }

    static int64_t convOut(int64_t in, int64_t k, int64_t s, int64_t d, bool same) {
        if (in < 0) return -1;
        if (same) return (in + s - 1) / s;
        const int64_t keff = (k - 1) * d + 1;
        return in < keff ? 0 : (in - keff) / s + 1;
    }

    /// Torch axis for a Keras axis on a tensor of the given rank (NHWC -> NCHW).
    int64_t torchAxis(const RawLayer& l, int64_t kerasAxis, int rank) const {
        if (kerasAxis < 0) kerasAxis += rank;
        if (rank == 2 && kerasAxis == 1) return 1;
        if (rank == 4) {
            static const int64_t map[4] = {0, 2, 3, 1};
            if (kerasAxis >= 1 && kerasAxis <= 3) return map[kerasAxis];
        }
        fail("layer '" + l.name + "' uses axis " + std::to_string(kerasAxis) + " which is not supported");
    }

    // ---------------------------------------------------------------------------- build

    GraphPtr build(const std::string& cut) {
        // Which layers the cut needs.
        std::vector<bool> need(layers_.size(), false);
        need[byName_.at(cut)] = true;
        for (size_t i = layers_.size(); i-- > 0;)
            if (need[i])
                for (const auto& in : layers_[i].inputs) need[byName_.at(in)] = true;
        // Exactly one InputLayer among them.
        std::string inputName;
        for (size_t i = 0; i < layers_.size(); ++i)
            if (need[i] && (layers_[i].cls == "InputLayer" || layers_[i].inputs.empty())) {
                if (layers_[i].cls != "InputLayer") fail("layer '" + layers_[i].name + "' has no inputs");
                if (!inputName.empty()) fail("models with several inputs are not supported");
                inputName = layers_[i].name;
            }
        if (inputName.empty()) fail("the model has no InputLayer");
        auto g = std::make_shared<Graph>(inputName);
        std::map<std::string, Shape> shapes;
        {
            const RawLayer& in = layers_[byName_.at(inputName)];
            json bis = in.config.contains("batch_input_shape") ? in.config["batch_input_shape"]
                       : in.config.contains("batch_shape")     ? in.config["batch_shape"]
                                                               : json();
            Shape s;
            if (bis.is_array() && bis.size() == 4) {
                auto dim = [](const json& d) { return d.is_number_integer() ? d.get<int64_t>() : int64_t(-1); };
                s.h = dim(bis[1]);
                s.w = dim(bis[2]);
                s.c = dim(bis[3]);
            } else if (bis.is_array() && bis.size() == 2) {
                s.rank = 2;
                s.c = bis[1].is_number_integer() ? bis[1].get<int64_t>() : -1;
            } else {
                fail("InputLayer '" + inputName + "' has no usable batch_input_shape (need [null, H, W, C])");
            }
            shapes[inputName] = s;
            inputChannels_ = s.c;
        }
        pending_ = &shapes;
        g_ = g.get();
        // Keras file order is topological for functional models; follow it.
        std::vector<size_t> order;
        for (size_t i = 0; i < layers_.size(); ++i)
            if (need[i] && layers_[i].name != inputName) order.push_back(i);
        std::set<std::string> done{inputName};
        while (!order.empty()) {
            bool progress = false;
            for (auto it = order.begin(); it != order.end();) {
                const RawLayer& l = layers_[*it];
                bool ready = true;
                for (const auto& in : l.inputs) ready = ready && done.count(in);
                if (!ready) {
                    ++it;
                    continue;
                }
                addLayer(l);
                done.insert(l.name);
                it = order.erase(it);
                progress = true;
            }
            if (!progress) fail("the layer graph has a cycle");
        }
        return g;
    }

    int idx(const std::string& name) const { return g_->indexOf(name); }

    /// Adds the linear op, plus an activation node when the layer has a non-linear one.
    void addWithActivation(const RawLayer& l, LayerPtr op, const Shape& out) {
        const std::string act = l.config.value("activation", "linear");
        Activation::Fn fn;
        double mx;
        if (!Activation::fromKeras(act, fn, mx))
            fail("layer '" + l.name + "' has unsupported activation '" + act + "'");
        std::vector<int> ins;
        for (const auto& i : l.inputs) ins.push_back(idx(i));
        const std::string cfg = l.layerJson.dump();
        if (fn == Activation::Fn::Linear) {
            g_->addNode(l.name, l.cls, ins, op, cfg);
        } else {
            const int pre = g_->addNode(l.name + "/preact", l.cls, ins, op, cfg);
            g_->addNode(l.name, "Activation", {pre}, std::make_shared<Activation>(fn, mx), {});
        }
        (*pending_)[l.name] = out;
    }

    void add(const RawLayer& l, LayerPtr op, const Shape& out) {
        std::vector<int> ins;
        for (const auto& i : l.inputs) ins.push_back(idx(i));
        g_->addNode(l.name, l.cls, ins, std::move(op), l.layerJson.dump());
        (*pending_)[l.name] = out;
    }

    void addLayer(const RawLayer& l) {
        const json& c = l.config;
        std::vector<Shape> in;
        for (const auto& i : l.inputs) in.push_back(pending_->at(i));
        auto need1 = [&] {
            if (in.size() != 1) fail("layer '" + l.name + "' needs exactly one input");
            return in[0];
        };
        auto need4 = [&] {
            Shape s = need1();
            if (s.rank != 4) fail("layer '" + l.name + "' (" + l.cls + ") needs an image-shaped (4-D) input");
            return s;
        };
        const std::string& t = l.cls;
        if (t == "InputLayer") fail("models with several inputs are not supported");
        if (t == "Conv2D" || t == "DepthwiseConv2D") {
            checkChannelsLast(l);
            const Shape s = need4();
            const bool dw = t == "DepthwiseConv2D";
            const auto k = pair(l, "kernel_size", 1), st = pair(l, "strides", 1), d = pair(l, "dilation_rate", 1);
            const bool same = samePadding(l);
            const bool useBias = c.value("use_bias", true);
            torch::Tensor w, b;
            int64_t groups = 1, outC;
            if (dw) {
                const int64_t m = intOr(c, "depth_multiplier", 1, l.name);
                if (m < 1 || m > 4096) fail("layer '" + l.name + "' has depth_multiplier " + std::to_string(m));
                w = weight(l.name, "depthwise_kernel", {k[0], k[1], s.c, m});
                const int64_t cin = w.size(2);
                outC = cin * m;
                groups = cin;
                w = w.permute({2, 3, 0, 1}).reshape({outC, 1, k[0], k[1]});
            } else {
                groups = intOr(c, "groups", 1, l.name);
                if (groups < 1 || (s.c > 0 && s.c % groups != 0))
                    fail("layer '" + l.name + "' has groups " + std::to_string(groups) + " for " + std::to_string(s.c) +
                         " input channels");
                outC = c.value("filters", int64_t(-1));
                w = weight(l.name, "kernel", {k[0], k[1], s.c < 0 ? -1 : s.c / groups, outC});
                outC = w.size(3);
                w = w.permute({3, 2, 0, 1});
            }
            if (useBias) b = weight(l.name, "bias", {outC});
            auto conv = std::make_shared<Conv2d>(w.contiguous(), b, st, Pad4{}, d, groups);
            conv->tfSame = same;
            Shape o{4, outC, convOut(s.h, k[0], st[0], d[0], same), convOut(s.w, k[1], st[1], d[1], same)};
            addWithActivation(l, conv, o);
        } else if (t == "Dense") {
            const Shape s = need1();
            const int64_t units = c.value("units", int64_t(-1));
            const int64_t fin = s.rank == 2 ? s.c : s.c;
            auto w = weight(l.name, "kernel", {fin, units});
            torch::Tensor b;
            if (c.value("use_bias", true)) b = weight(l.name, "bias", {w.size(1)});
            Shape o = s;
            o.c = w.size(1);
            addWithActivation(l, std::make_shared<Dense>(w.t().contiguous(), b), o);
        } else if (t == "BatchNormalization") {
            const Shape s = need1();
            int64_t axis = -1;
            if (c.contains("axis")) {
                const json& a = c["axis"];
                if (a.is_array()) {
                    if (a.size() != 1) fail("layer '" + l.name + "' normalises over several axes (not supported)");
                    axis = intOf(a[0], l.name + ".axis");
                } else {
                    axis = intOf(a, l.name + ".axis");
                }
            }
            if (torchAxis(l, axis, s.rank) != 1)
                fail("layer '" + l.name + "' normalises over axis " + std::to_string(axis) + " (only channels)");
            const std::vector<int64_t> cs{s.c};
            auto gamma = weight(l.name, "gamma", cs, c.value("scale", true));
            auto beta = weight(l.name, "beta", cs, c.value("center", true));
            auto mean = weight(l.name, "moving_mean", cs);
            auto var = weight(l.name, "moving_variance", cs);
            Shape o = s;
            o.c = mean.size(0);
            add(l, std::make_shared<BatchNorm>(gamma, beta, mean, var, c.value("epsilon", 1e-3)), o);
        } else if (t == "LayerNormalization") {
            const Shape s = need1();
            const json& a = c.contains("axis") ? c["axis"] : json(-1);
            const int64_t axis = a.is_array() ? (a.size() == 1 ? intOf(a[0], l.name + ".axis") : 99)
                                               : intOf(a, l.name + ".axis");
            if (axis == 99 || torchAxis(l, axis, s.rank) != 1)
                fail("layer '" + l.name + "' normalises over axes other than the features (not supported)");
            const std::vector<int64_t> cs{s.c};
            auto gamma = weight(l.name, "gamma", cs, c.value("scale", true));
            auto beta = weight(l.name, "beta", cs, c.value("center", true));
            add(l, std::make_shared<LayerNorm>(gamma, beta, c.value("epsilon", 1e-3)), s);
        } else if (t == "ReLU" || t == "LeakyReLU") {
            const Shape s = need1();
            double mx = 0, slope = 0;
            if (t == "ReLU") {
                if (c.contains("max_value") && !c["max_value"].is_null()) mx = c["max_value"].get<double>();
                if (c.contains("negative_slope") && !c["negative_slope"].is_null()) slope = c["negative_slope"].get<double>();
                if (c.contains("threshold") && !c["threshold"].is_null() && c["threshold"].get<double>() != 0.0)
                    fail("layer '" + l.name + "' uses a ReLU threshold (not supported)");
            } else {
                slope = c.contains("alpha") ? c["alpha"].get<double>() : c.value("negative_slope", 0.3);
            }
            add(l, std::make_shared<Activation>(Activation::Fn::ReLU, mx, slope), s);
        } else if (t == "Activation" || t == "Softmax") {
            const Shape s = need1();
            const std::string act = t == "Softmax" ? "softmax" : c.value("activation", "linear");
            if (t == "Softmax" && c.contains("axis") && torchAxis(l, intOf(c["axis"], l.name + ".axis"), s.rank) != 1)
                fail("layer '" + l.name + "' applies softmax over a non-channel axis (not supported)");
            Activation::Fn fn;
            double mx;
            if (!Activation::fromKeras(act, fn, mx))
                fail("layer '" + l.name + "' has unsupported activation '" + act + "'");
            add(l, std::make_shared<Activation>(fn, mx), s);
        } else if (t == "ZeroPadding2D") {
            checkChannelsLast(l);
            const Shape s = need4();
            Pad4 p;
            const json& v = c.contains("padding") ? c["padding"] : json(1);
            const std::string pn = l.name + ".padding";
            if (v.is_number()) {
                const int64_t a = intOf(v, pn);
                p = {a, a, a, a};
            } else if (v.is_array() && v.size() == 2 && v[0].is_number()) {
                const int64_t a = intOf(v[0], pn), b = intOf(v[1], pn);
                p = {a, a, b, b};
            } else if (v.is_array() && v.size() == 2 && v[0].is_array() && v[1].is_array() && v[0].size() == 2 &&
                       v[1].size() == 2) {
                p = {intOf(v[0][0], pn), intOf(v[0][1], pn), intOf(v[1][0], pn), intOf(v[1][1], pn)};
            } else {
                fail("layer '" + l.name + "' has a padding I cannot read");
            }
            for (int64_t x : {p.top, p.bottom, p.left, p.right})
                if (x < 0 || x > 4096) fail("layer '" + l.name + "' has padding " + std::to_string(x) + " (must be in 0..4096)");
            Shape o = s;
            if (o.h >= 0) o.h += p.top + p.bottom;
            if (o.w >= 0) o.w += p.left + p.right;
            add(l, std::make_shared<ZeroPad2d>(p), o);
        } else if (t == "Add") {
            if (in.size() < 2) fail("layer '" + l.name + "' (Add) needs at least two inputs");
            for (const auto& s : in)
                if (s.c >= 0 && in[0].c >= 0 && s.c != in[0].c)
                    fail("layer '" + l.name + "' adds tensors with different channel counts");
            add(l, std::make_shared<Add>(), in[0]);
        } else if (t == "Concatenate") {
            if (in.empty()) fail("layer '" + l.name + "' has no inputs");
            const int64_t ax = torchAxis(l, c.value("axis", int64_t(-1)), in[0].rank);
            Shape o = in[0];
            if (ax == 1) {
                for (size_t i = 1; i < in.size(); ++i) o.c = (o.c < 0 || in[i].c < 0) ? -1 : o.c + in[i].c;
            } else {
                o.h = o.w = -1;
            }
            add(l, std::make_shared<Concat>(ax), o);
        } else if (t == "AveragePooling2D" || t == "MaxPooling2D") {
            checkChannelsLast(l);
            const Shape s = need4();
            const auto k = pair(l, "pool_size", 2);
            auto st = (c.contains("strides") && !c["strides"].is_null()) ? pair(l, "strides", 1) : k;
            const bool same = samePadding(l);
            std::shared_ptr<Pool2d> op;
            if (t == "AveragePooling2D") op = std::make_shared<AvgPool2d>(k, st);
            else op = std::make_shared<MaxPool2d>(k, st);
            op->tfSame = same;
            Shape o{4, s.c, convOut(s.h, k[0], st[0], 1, same), convOut(s.w, k[1], st[1], 1, same)};
            add(l, op, o);
        } else if (t == "GlobalAveragePooling2D" || t == "GlobalMaxPooling2D") {
            checkChannelsLast(l);
            const Shape s = need4();
            const bool keep = c.value("keepdims", false);
            Shape o = keep ? Shape{4, s.c, 1, 1} : Shape{2, s.c, -1, -1};
            add(l, std::make_shared<GlobalPool>(t == "GlobalMaxPooling2D", keep), o);
        } else if (t == "Flatten") {
            checkChannelsLast(l);
            const Shape s = need1();
            Shape o{2, -1, -1, -1};
            if (s.rank == 2) o.c = s.c;
            else if (s.c >= 0 && s.h >= 0 && s.w >= 0) o.c = s.c * s.h * s.w;
            add(l, std::make_shared<Flatten>(), o);
        } else if (t == "Dropout" || t == "SpatialDropout2D") {
            add(l, std::make_shared<Dropout>(c.value("rate", 0.0)), need1());
        } else {
            fail("layer '" + l.name + "' has unsupported type '" + t + "'");
        }
    }

    std::string file_, dir_;
    std::vector<RawLayer> layers_;
    std::map<std::string, size_t> byName_;
    std::string outputName_;
    std::map<std::string, std::map<std::string, TfjsWeight>> weights_;
    std::map<std::string, Shape>* pending_ = nullptr;
    Graph* g_ = nullptr;
    int64_t inputChannels_ = -1;
};

}  // namespace

TfjsModel loadTfjs(const std::string& path, const std::string& cut) {
    std::error_code ec;
    std::string file = path;
    if (fs::is_directory(path, ec)) file = (fs::path(path) / "model.json").string();
    if (!fs::is_regular_file(file, ec)) throw Error(file + ": model file not found");
    return Loader(file).load(cut);
}

}  // namespace pqw::nn
