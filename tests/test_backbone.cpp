// TFJS loader and Backbone: a tiny model written by the test (float32, uint8 / uint16
// quantised, float16)
// against a plain-loop reference, error paths, the default MobileNetV2 trunk, TorchScript.
#include <QtTest/QtTest>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <thread>
#include <atomic>

#include <nlohmann/json.hpp>

#include "backbone_impl.h"
#include "nn/tfjs.h"
#include "pqw/backbone.h"
#include "pqw/error.h"
#include "pqw/util.h"

using json = nlohmann::json;

namespace {

struct Weight {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;  ///< the values the model holds (dequantised when quantised)
    std::vector<uint16_t> q;    ///< codes when quantised to uint8 / uint16
    std::vector<uint16_t> half; ///< float16 bits when stored as float16
    float mn = 0, scale = 1;
};

/// A tiny functional Keras model: input 9x9x3 -> ZeroPadding2D((1,0),(0,1)) -> Conv2D(4, 3,
/// stride 2, valid, bias) -> BN -> ReLU(6) -> DepthwiseConv2D(3, same) -> Add(relu, dw) ->
/// GlobalAveragePooling2D -> Dense(2).
struct TinyModel {
    std::vector<Weight> weights;
    std::string storage;  ///< "float32", "uint8", "uint16" or "float16"

    explicit TinyModel(std::string storage_ = "float32", uint32_t seed = 7) : storage(std::move(storage_)) {
        std::mt19937 rng(seed);
        auto add = [&](const std::string& name, std::vector<int64_t> shape, float lo, float hi) {
            Weight w;
            w.name = name;
            w.shape = shape;
            int64_t n = 1;
            for (auto d : shape) n *= d;
            std::uniform_real_distribution<float> u(lo, hi);
            if (storage == "uint8" || storage == "uint16") {
                const int top = storage == "uint8" ? 255 : 65535;
                w.mn = lo;
                w.scale = (hi - lo) / static_cast<float>(top);
                std::uniform_int_distribution<int> qd(0, top);
                for (int64_t i = 0; i < n; ++i) {
                    w.q.push_back(static_cast<uint16_t>(qd(rng)));
                    w.values.push_back(static_cast<float>(w.q.back()) * w.scale + w.mn);
                }
            } else {
                for (int64_t i = 0; i < n; ++i) w.values.push_back(u(rng));
                if (storage == "float16") {
                    for (auto& v : w.values) {
                        const c10::Half h(v);
                        w.half.push_back(h.x);
                        v = static_cast<float>(h);
                    }
                }
            }
            weights.push_back(w);
        };
        add("conv/kernel", {3, 3, 3, 4}, -0.5f, 0.5f);
        add("conv/bias", {4}, -0.2f, 0.2f);
        add("bn/gamma", {4}, 0.5f, 1.5f);
        add("bn/beta", {4}, -0.3f, 0.3f);
        add("bn/moving_mean", {4}, -0.2f, 0.2f);
        add("bn/moving_variance", {4}, 0.3f, 1.2f);
        add("dw/depthwise_kernel", {3, 3, 4, 1}, -0.6f, 0.6f);
        add("dense/kernel", {4, 2}, -1.f, 1.f);
        add("dense/bias", {2}, -0.1f, 0.1f);
    }

    Weight& w(const std::string& name) {
        for (auto& x : weights)
            if (x.name == name) return x;
        throw std::runtime_error("no weight " + name);
    }

    json topology() const {
        auto node = [](const std::string& name, const std::string& cls, json cfg, std::vector<std::string> ins) {
            cfg["name"] = name;
            json inbound = json::array();
            if (!ins.empty()) {
                json n = json::array();
                for (const auto& i : ins) n.push_back(json::array({i, 0, 0, json::object()}));
                inbound.push_back(n);
            }
            return json{{"name", name}, {"class_name", cls}, {"config", cfg}, {"inbound_nodes", inbound}};
        };
        json layers = json::array();
        layers.push_back(node("input_1", "InputLayer", {{"batch_input_shape", {nullptr, 9, 9, 3}}, {"dtype", "float32"}}, {}));
        layers.push_back(node("pad", "ZeroPadding2D", {{"padding", {{1, 0}, {0, 1}}}, {"data_format", "channels_last"}}, {"input_1"}));
        layers.push_back(node("conv", "Conv2D",
                              {{"filters", 4}, {"kernel_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "valid"},
                               {"data_format", "channels_last"}, {"dilation_rate", {1, 1}}, {"activation", "linear"},
                               {"use_bias", true}},
                              {"pad"}));
        layers.push_back(node("bn", "BatchNormalization", {{"axis", -1}, {"epsilon", 0.001}, {"center", true}, {"scale", true}}, {"conv"}));
        layers.push_back(node("relu", "ReLU", {{"max_value", 6}, {"negative_slope", 0}, {"threshold", 0}}, {"bn"}));
        layers.push_back(node("dw", "DepthwiseConv2D",
                              {{"kernel_size", {3, 3}}, {"strides", {1, 1}}, {"padding", "same"}, {"depth_multiplier", 1},
                               {"data_format", "channels_last"}, {"activation", "linear"}, {"use_bias", false}},
                              {"relu"}));
        layers.push_back(node("add", "Add", json::object(), {"relu", "dw"}));
        layers.push_back(node("gap", "GlobalAveragePooling2D", {{"data_format", "channels_last"}}, {"add"}));
        layers.push_back(node("dense", "Dense", {{"units", 2}, {"activation", "linear"}, {"use_bias", true}}, {"gap"}));
        return {{"keras_version", "2.2.4"},
                {"backend", "tensorflow"},
                {"model_config",
                 {{"class_name", "Model"},
                  {"config",
                   {{"name", "tiny"},
                    {"layers", layers},
                    {"input_layers", {{"input_1", 0, 0}}},
                    {"output_layers", {{"dense", 0, 0}}}}}}}};
    }

    /// Writes model.json + weights.bin into dir; returns the raw weight bytes.
    std::string write(const QString& dir, json topo = {}) const {
        if (topo.is_null()) topo = topology();
        json manifest = json::array();
        json ws = json::array();
        std::string bytes;
        for (const auto& w : weights) {
            json e{{"name", w.name}, {"shape", w.shape}, {"dtype", "float32"}};
            if (storage == "uint8") {
                e["quantization"] = {{"min", w.mn}, {"scale", w.scale}, {"dtype", "uint8"}};
                for (auto q : w.q) bytes.push_back(static_cast<char>(q));
            } else if (storage == "uint16") {
                e["quantization"] = {{"dtype", "uint16"}, {"min", w.mn}, {"scale", w.scale}};
                bytes.append(reinterpret_cast<const char*>(w.q.data()), w.q.size() * 2);
            } else if (storage == "float16") {
                e["quantization"] = {{"dtype", "float16"}};
                bytes.append(reinterpret_cast<const char*>(w.half.data()), w.half.size() * 2);
            } else {
                bytes.append(reinterpret_cast<const char*>(w.values.data()), w.values.size() * 4);
            }
            ws.push_back(e);
        }
        manifest.push_back({{"paths", {"weights.bin"}}, {"weights", ws}});
        json root{{"format", "layers-model"}, {"modelTopology", topo}, {"weightsManifest", manifest}};
        std::ofstream(QDir(dir).filePath("model.json").toStdString()) << root.dump();
        std::ofstream(QDir(dir).filePath("weights.bin").toStdString(), std::ios::binary) << bytes;
        return bytes;
    }

    /// Plain-loop NHWC reference using the Keras-layout weights. x is NCHW [N,3,9,9].
    /// Returns (add output as NCHW [N,4,4,4], dense output [N,2]).
    std::pair<torch::Tensor, torch::Tensor> reference(const torch::Tensor& x) const {
        auto W = [&](const std::string& name) -> const std::vector<float>& {
            for (const auto& w : weights)
                if (w.name == name) return w.values;
            throw std::runtime_error(name);
        };
        const auto &K = W("conv/kernel"), &B = W("conv/bias"), &G = W("bn/gamma"), &Be = W("bn/beta"),
                   &M = W("bn/moving_mean"), &V = W("bn/moving_variance"), &DK = W("dw/depthwise_kernel"),
                   &DW = W("dense/kernel"), &DB = W("dense/bias");
        const int64_t N = x.size(0);
        auto addOut = torch::zeros({N, 4, 4, 4});
        auto dense = torch::zeros({N, 2});
        auto X = x.accessor<float, 4>();
        for (int64_t n = 0; n < N; ++n) {
            auto P = [&](int h, int w, int c) -> double {  // padded 10x10: top 1, right 1
                const int r = h - 1, q = w;
                return (r < 0 || r >= 9 || q < 0 || q >= 9) ? 0.0 : X[n][c][r][q];
            };
            double R[4][4][4], A[4][4][4];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j)
                    for (int o = 0; o < 4; ++o) {
                        double s = B[o];
                        for (int u = 0; u < 3; ++u)
                            for (int v = 0; v < 3; ++v)
                                for (int c = 0; c < 3; ++c) s += P(2 * i + u, 2 * j + v, c) * K[((u * 3 + v) * 3 + c) * 4 + o];
                        s = (s - M[o]) / std::sqrt(V[o] + 1e-3) * G[o] + Be[o];
                        R[i][j][o] = std::min(std::max(s, 0.0), 6.0);
                    }
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j)
                    for (int c = 0; c < 4; ++c) {
                        double s = 0;  // "same", stride 1, k 3 on 4: pad 1 each side
                        for (int u = 0; u < 3; ++u)
                            for (int v = 0; v < 3; ++v) {
                                const int r = i + u - 1, q = j + v - 1;
                                if (r < 0 || r >= 4 || q < 0 || q >= 4) continue;
                                s += R[r][q][c] * DK[(u * 3 + v) * 4 + c];
                            }
                        A[i][j][c] = R[i][j][c] + s;
                        addOut[n][c][i][j] = A[i][j][c];
                    }
            for (int k = 0; k < 2; ++k) {
                double s = DB[k];
                for (int c = 0; c < 4; ++c) {
                    double g = 0;
                    for (int i = 0; i < 4; ++i)
                        for (int j = 0; j < 4; ++j) g += A[i][j][c] / 16.0;
                    s += g * DW[c * 2 + k];
                }
                dense[n][k] = s;
            }
        }
        return {addOut, dense};
    }
};

torch::Tensor input(int n, int size, uint64_t seed) {
    return torch::rand({n, 3, size, size}, at::detail::createCPUGenerator(seed), torch::TensorOptions().dtype(torch::kFloat32));
}

bool close(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-4) {
    if (a.sizes() != b.sizes()) return false;
    const double err = (a - b).abs().max().item<double>();
    if (err > tol * std::max(1.0, b.abs().max().item<double>())) {
        qWarning() << "max abs error" << err;
        return false;
    }
    return true;
}

/// Runs f and returns the pqw::Error message ("" when nothing was thrown).
template <class F>
QString errorOf(F&& f) {
    try {
        f();
    } catch (const pqw::Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

std::string defaultModelDir() {
    const std::string a = pqw::assetsDir();
    return a.empty() ? std::string() : a + "/mobilenet_v2";
}

}  // namespace

class TestBackbone : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { pqw::initTorchThreads(2); }

    void tinyModelFloatAndQuantised() {
        for (const char* storage : {"float32", "uint8", "uint16", "float16"}) {
            QTemporaryDir dir;
            TinyModel m(storage);
            m.write(dir.path());
            const auto x = input(2, 9, 3);
            const auto [refAdd, refDense] = m.reference(x);
            auto model = pqw::nn::loadTfjs(dir.path().toStdString());
            QCOMPARE(model.cut, std::string("dense"));
            QCOMPARE(model.graph->size(), 9);
            QVERIFY(close(model.graph->forward(x), refDense));
            // Through Backbone, cut at the residual add.
            pqw::BackboneSpec spec;
            spec.kind = "tfjs";
            spec.path = QDir(dir.path()).filePath("model.json").toStdString();
            spec.cutLayer = "add";
            auto bb = pqw::Backbone::open(spec);
            QCOMPARE(bb.cutLayer(), std::string("add"));
            const auto fs = bb.featureShape(9);
            QCOMPARE(fs[0], int64_t(4));
            QCOMPARE(fs[1], int64_t(4));
            QCOMPARE(fs[2], int64_t(4));
            QCOMPARE(bb.stride(), 2);
            QCOMPARE(bb.receptiveField(), 7);  // conv k3 (3) + dw k3 at jump 2 (+4)
            std::vector<float> out(2 * 4 * 4 * 4);
            bb.forward(x.data_ptr<float>(), 2, 9, out.data());
            QVERIFY(close(torch::from_blob(out.data(), {2, 4, 4, 4}), refAdd));
            // The folded inference graph dropped the conv node (merged into "bn").
            QVERIFY(bb.impl().fast->indexOf("conv") < 0);
            QVERIFY(bb.impl().graph->indexOf("conv") >= 0);
            const auto layers = bb.layers(9);
            QCOMPARE(layers.size(), size_t(7));
            QCOMPARE(layers.back().name, std::string("add"));
            QCOMPARE(layers.back().inputs, (std::vector<std::string>{"relu", "dw"}));
            QCOMPARE(layers[2].type, std::string("Conv2D"));
            QCOMPARE(layers[2].outputShape, (std::vector<int64_t>{4, 4, 4}));
            QCOMPARE(layers[2].parameters, int64_t(3 * 3 * 3 * 4 + 4));
            const auto pp = bb.preprocess(9);
            QCOMPARE(pp.size, 9);
            QCOMPARE(pp.mean[0], 0.f);
            QCOMPARE(pp.stdev[0], 1.f);
            QVERIFY(bb.id().rfind("tfjs:", 0) == 0);
        }
    }

    void keras3InboundFormat() {
        // Keras 3 writes inbound nodes as {"args": [keras tensors], "kwargs": {}} and the input
        // shape as batch_shape.
        QTemporaryDir dir;
        TinyModel m;
        json topo = m.topology();
        for (auto& l : topo["model_config"]["config"]["layers"]) {
            json args = json::array();
            for (const auto& ref : l["inbound_nodes"].empty() ? json::array() : l["inbound_nodes"][0])
                args.push_back({{"class_name", "__keras_tensor__"}, {"config", {{"shape", {nullptr}}, {"keras_history", {ref[0], 0, 0}}}}});
            l["inbound_nodes"] = json::array();
            if (!args.empty()) l["inbound_nodes"].push_back({{"args", args.size() == 1 ? args : json::array({args})}, {"kwargs", json::object()}});
            if (l["class_name"] == "InputLayer") {
                l["config"]["batch_shape"] = l["config"]["batch_input_shape"];
                l["config"].erase("batch_input_shape");
            }
        }
        m.write(dir.path(), topo);
        auto model = pqw::nn::loadTfjs(dir.path().toStdString());
        const auto x = input(1, 9, 8);
        QVERIFY(close(model.graph->forward(x), m.reference(x).second));
        const int add = model.graph->indexOf("add");
        QCOMPARE(model.graph->node(add).inputs.size(), size_t(2));
    }

    void effectiveReceptiveField() {
        if (!std::filesystem::exists(defaultModelDir() + "/model.json")) QSKIP("default backbone not fetched");
        const auto bb = pqw::Backbone::open(pqw::BackboneSpec{});
        int previous = 0;
        for (int size : {64, 112, 224}) {
            const int erf = bb.effectiveReceptiveField(size);
            qInfo("effective receptive field at %d px: %d px (theoretical %d)", size, erf, bb.receptiveField());
            QVERIFY(erf >= bb.stride());
            QVERIFY(erf <= std::min(size, bb.receptiveField()));
            QVERIFY(erf >= previous);  // a larger image never shrinks it
            QCOMPARE(bb.effectiveReceptiveField(size), erf);  // measured once, seeded
            previous = erf;
        }
        // The tiny test model cut after its first convolution: between stride and exact field.
        QTemporaryDir dir;
        TinyModel m;
        m.write(dir.path());
        pqw::BackboneSpec spec;
        spec.kind = "tfjs";
        spec.path = dir.path().toStdString();
        spec.cutLayer = "conv";
        const auto tiny = pqw::Backbone::open(spec);
        QVERIFY(tiny.effectiveReceptiveField(32) >= tiny.stride());
        QVERIFY(tiny.effectiveReceptiveField(32) <= tiny.receptiveField());
    }

    void concurrentForward() {
        QTemporaryDir dir;
        TinyModel m("uint8");
        m.write(dir.path());
        pqw::BackboneSpec spec;
        spec.kind = "tfjs";
        spec.path = dir.path().toStdString();
        spec.cutLayer = "add";
        const auto bb = pqw::Backbone::open(spec);
        const auto x = input(3, 9, 21);
        const auto ref = m.reference(x).first;
        std::atomic<int> bad{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                std::vector<float> out(3 * 64);
                for (int i = 0; i < 50; ++i) {
                    bb.forward(x.data_ptr<float>(), 3, 9, out.data());
                    if (!close(torch::from_blob(out.data(), {3, 4, 4, 4}), ref)) ++bad;
                }
            });
        for (auto& t : threads) t.join();
        QCOMPARE(bad.load(), 0);
    }

    void idChangesWithWeightsAndCut() {
        QTemporaryDir dir;
        TinyModel m;
        m.write(dir.path());
        pqw::BackboneSpec spec;
        spec.kind = "tfjs";
        spec.path = dir.path().toStdString();
        spec.cutLayer = "add";
        const auto a = pqw::Backbone::open(spec);
        QCOMPARE(pqw::Backbone::open(spec).id(), a.id());
        spec.cutLayer = "dw";
        QVERIFY(pqw::Backbone::open(spec).id() != a.id());
        spec.cutLayer = "add";
        spec.randomWeights = true;
        spec.randomSeed = 1;
        const auto r1 = pqw::Backbone::open(spec);
        QVERIFY(r1.id() != a.id());
        QCOMPARE(pqw::Backbone::open(spec).id(), r1.id());  // seeded: reproducible
        spec.randomSeed = 2;
        QVERIFY(pqw::Backbone::open(spec).id() != r1.id());
        m.w("dw/depthwise_kernel").values[0] += 0.25f;
        m.write(dir.path());
        spec.randomWeights = false;
        QVERIFY(pqw::Backbone::open(spec).id() != a.id());
    }

    void errors() {
        QTemporaryDir dir;
        const QString d = dir.path();
        const std::string modelJson = QDir(d).filePath("model.json").toStdString();
        TinyModel m;
        auto load = [&] { pqw::nn::loadTfjs(d.toStdString()); };

        // Unsupported layer type, named.
        json topo = m.topology();
        topo["model_config"]["config"]["layers"][7]["class_name"] = "Bar";
        m.write(d, topo);
        QString e = errorOf(load);
        QVERIFY2(e.contains("layer 'gap' has unsupported type 'Bar'") && e.contains("model.json"), qPrintable(e));

        // Shard too short / too long.
        const std::string bytes = m.write(d);
        std::ofstream(QDir(d).filePath("weights.bin").toStdString(), std::ios::binary) << bytes.substr(0, bytes.size() - 1);
        e = errorOf(load);
        QVERIFY2(e.contains("weights.bin") && e.contains("bytes but the manifest needs"), qPrintable(e));
        std::ofstream(QDir(d).filePath("weights.bin").toStdString(), std::ios::binary) << bytes << "xx";
        e = errorOf(load);
        QVERIFY2(e.contains("weights.bin") && e.contains("extra bytes"), qPrintable(e));

        // NaN weight.
        {
            TinyModel bad;
            bad.w("bn/gamma").values[1] = std::nanf("");
            bad.write(d);
            e = errorOf(load);
            QVERIFY2(e.contains("weights.bin") && e.contains("bn/gamma") && e.contains("NaN"), qPrintable(e));
        }
        // A weight whose shape disagrees with the layer.
        {
            TinyModel bad;
            auto& k = bad.w("conv/kernel");
            k.shape = {3, 3, 2, 4};
            k.values.resize(3 * 3 * 2 * 4);
            bad.write(d);
            e = errorOf(load);
            QVERIFY2(e.contains("conv/kernel") && e.contains("[3,3,2,4]") && e.contains("[3,3,3,4]"), qPrintable(e));
        }
        // Bad cut layer: names a few valid ones.
        m.write(d);
        pqw::BackboneSpec spec;
        spec.kind = "tfjs";
        spec.path = d.toStdString();
        spec.cutLayer = "block_99";
        e = errorOf([&] { pqw::Backbone::open(spec); });
        QVERIFY2(e.contains("block_99") && e.contains("dense") && e.contains("gap"), qPrintable(e));
        // A cut whose output is not a feature map.
        spec.cutLayer = "dense";
        auto flat = pqw::Backbone::open(spec);
        e = errorOf([&] { flat.featureShape(9); });
        QVERIFY2(e.contains("not a feature map"), qPrintable(e));
        // Malformed JSON; missing file.
        std::ofstream(modelJson) << "{\"format\": \"layers-model\", \"modelTopology\": {";
        e = errorOf(load);
        QVERIFY2(e.contains("model.json") && e.contains("not valid JSON"), qPrintable(e));
        e = errorOf([&] { pqw::nn::loadTfjs(d.toStdString() + "/nope"); });
        QVERIFY2(e.contains("/nope") && e.contains("not found"), qPrintable(e));
        spec.path = d.toStdString() + "/nope";
        spec.cutLayer.clear();
        spec.kind = "default";
        e = errorOf([&] { pqw::Backbone::open(spec); });
        QVERIFY2(e.contains("datasets/fetch.sh"), qPrintable(e));
        spec.kind = "keras";
        QVERIFY(errorOf([&] { pqw::Backbone::open(spec); }).contains("not known"));
    }

    void torchScriptErrors() {
        QTemporaryDir dir;
        pqw::BackboneSpec spec;
        spec.kind = "torchscript";
        spec.path = QDir(dir.path()).filePath("missing.pt").toStdString();
        QString e = errorOf([&] { pqw::Backbone::open(spec); });
        QVERIFY2(e.contains("missing.pt") && e.contains("not found"), qPrintable(e));
        spec.path = QDir(dir.path()).filePath("junk.pt").toStdString();
        std::ofstream(spec.path) << "this is not a zip archive";
        e = errorOf([&] { pqw::Backbone::open(spec); });
        QVERIFY2(e.contains("junk.pt") && e.contains("not a loadable TorchScript archive"), qPrintable(e));
    }

    void torchScriptModule() {
        // A TorchScript trunk built and saved from C++ (no Python needed):
        // conv 3x3 s2 p1 (8) -> BN -> ReLU -> conv 3x3 s2 p1 (16).
        QTemporaryDir dir;
        const std::string pt = QDir(dir.path()).filePath("tiny_trunk.pt").toStdString();
        {
            auto gen = at::detail::createCPUGenerator(99);
            auto r = [&](std::vector<int64_t> s) { return torch::randn(s, gen, torch::TensorOptions().dtype(torch::kFloat32)); };
            torch::jit::Module m("TinyTrunk");
            m.register_parameter("conv1_weight", r({8, 3, 3, 3}), false);
            m.register_parameter("conv1_bias", r({8}), false);
            m.register_parameter("bn_weight", r({8}).abs() + 0.5, false);
            m.register_parameter("bn_bias", r({8}), false);
            m.register_buffer("running_mean", r({8}) * 0.1);
            m.register_buffer("running_var", r({8}).abs() + 0.5);
            m.register_parameter("conv2_weight", r({16, 8, 3, 3}), false);
            m.register_parameter("conv2_bias", r({16}), false);
            m.define(R"JIT(
def forward(self, x):
    y = torch.conv2d(x, self.conv1_weight, self.conv1_bias, [2, 2], [1, 1])
    y = torch.batch_norm(y, self.bn_weight, self.bn_bias, self.running_mean, self.running_var, False, 0.1, 1e-5, False)
    y = torch.relu(y)
    return torch.conv2d(y, self.conv2_weight, self.conv2_bias, [2, 2], [1, 1])
)JIT");
            m.save(pt);
        }
        pqw::BackboneSpec spec;
        spec.kind = "torchscript";
        spec.path = pt;
        auto bb = pqw::Backbone::open(spec);
        const auto fs = bb.featureShape(32);
        QCOMPARE(fs, (std::array<int64_t, 3>{16, 8, 8}));
        QCOMPARE(bb.stride(), 4);
        QCOMPARE(bb.receptiveField(), 7);  // 3 + (3 - 1) * 2, measured by the gradient probe
        QCOMPARE(bb.cutLayer(), std::string("output"));
        QCOMPARE(bb.preprocess(32).mean[0], 0.485f);
        QCOMPARE(bb.preprocess(32).stdev[2], 0.225f);
        const auto x = input(2, 32, 5);
        std::vector<float> out(2 * 16 * 8 * 8);
        bb.forward(x.data_ptr<float>(), 2, 32, out.data());
        torch::Tensor ref;
        {
            torch::NoGradGuard ng;
            ref = bb.impl().script->forward({x}).toTensor();
        }
        QVERIFY(close(torch::from_blob(out.data(), {2, 16, 8, 8}), ref));
        const auto layers = bb.layers(32);
        QCOMPARE(layers.size(), size_t(1));
        QCOMPARE(layers[0].type, std::string("TorchScript"));
        QCOMPARE(layers[0].parameters, int64_t(8 * 27 + 8 + 8 + 8 + 16 * 72 + 16));
        QCOMPARE(layers[0].outputShape, (std::vector<int64_t>{16, 8, 8}));
        QCOMPARE(pqw::Backbone::open(spec).id(), bb.id());
        spec.randomWeights = true;
        auto rb = pqw::Backbone::open(spec);
        QVERIFY(rb.id() != bb.id());
        std::vector<float> rout(out.size());
        rb.forward(x.data_ptr<float>(), 2, 32, rout.data());
        QVERIFY(!torch::allclose(torch::from_blob(rout.data(), {2, 16, 8, 8}), ref));
        spec.randomWeights = false;
        spec.cutLayer = "layer3";
        QVERIFY(errorOf([&] { pqw::Backbone::open(spec); }).contains("cannot be cut"));
    }

    void defaultTrunk() {
        const std::string dir = defaultModelDir();
        if (dir.empty() || !QFile::exists(QString::fromStdString(dir + "/model.json")))
            QSKIP("default backbone assets missing (run datasets/fetch.sh)");
        auto bb = pqw::Backbone::open({});
        QCOMPARE(bb.cutLayer(), std::string("block_10_project_BN"));
        const auto fs = bb.featureShape(224);
        QCOMPARE(fs, (std::array<int64_t, 3>{96, 14, 14}));
        QCOMPARE(bb.featureShape(112), (std::array<int64_t, 3>{96, 7, 7}));
        QCOMPARE(bb.stride(), 16);
        qInfo() << "default trunk receptive field" << bb.receptiveField() << "id" << QString::fromStdString(bb.id());
        // Conv1 3 (jump 2); dw k3 at jumps 2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16 (blocks 0-10).
        QCOMPARE(bb.receptiveField(), 203);
        const auto layers = bb.layers(224);
        QCOMPARE(layers.back().name, std::string("block_10_project_BN"));
        QCOMPARE(layers.back().outputShape, (std::vector<int64_t>{96, 14, 14}));
        QCOMPARE(layers.front().type, std::string("InputLayer"));

        const auto x = input(2, 224, 11);
        std::vector<float> out(2 * 96 * 14 * 14);
        bb.forward(x.data_ptr<float>(), 2, 224, out.data());
        auto y = torch::from_blob(out.data(), {2, 96, 14, 14});
        QVERIFY(torch::isfinite(y).all().item<bool>());
        QVERIFY(y.abs().max().item<double>() > 0);
        // Folded inference graph == unfolded graph.
        torch::Tensor ref;
        {
            c10::InferenceMode g;
            ref = bb.impl().graph->forward(x);
        }
        const double rel = ((y - ref).abs().max() / ref.abs().max()).item<double>();
        QVERIFY2(rel < 1e-4, qPrintable(QString::number(rel)));

        // Batches beyond one chunk (16 images at 224 px) give the same per-image features.
        {
            const auto xs = input(17, 224, 13);
            std::vector<float> all(17 * 96 * 14 * 14), one(96 * 14 * 14);
            bb.forward(xs.data_ptr<float>(), 17, 224, all.data());
            for (int i : {0, 16}) {
                bb.forward(xs[i].contiguous().data_ptr<float>(), 1, 224, one.data());
                QVERIFY(close(torch::from_blob(all.data() + i * one.size(), {96, 14, 14}), torch::from_blob(one.data(), {96, 14, 14})));
            }
        }

        pqw::BackboneSpec rs;
        rs.randomWeights = true;
        rs.randomSeed = 3;
        auto rb = pqw::Backbone::open(rs);
        QVERIFY(rb.id() != bb.id());
        std::vector<float> rout(out.size());
        rb.forward(x.data_ptr<float>(), 2, 224, rout.data());
        QVERIFY(!torch::allclose(torch::from_blob(rout.data(), {2, 96, 14, 14}), y));

        // Timing (informational; the real benchmark is bench/): batch 4 at 224, inference
        // graph vs the unfolded graph.
        const auto xb = input(4, 224, 12);
        std::vector<float> ob(4 * 96 * 14 * 14);
        auto time = [&](auto&& f) {
            f();
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < 2; ++i) f();
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 2;
        };
        const double tFast = time([&] { bb.forward(xb.data_ptr<float>(), 4, 224, ob.data()); });
        const double tPlain = time([&] {
            c10::InferenceMode g;
            bb.impl().graph->forwardAll(xb);
        });
        qInfo("batch 4 @224: forward %.1f ms (%.1f img/s), unfolded graph %.1f ms", tFast * 1e3, 4 / tFast, tPlain * 1e3);
    }
};

QTEST_GUILESS_MAIN(TestBackbone)
#include "test_backbone.moc"
