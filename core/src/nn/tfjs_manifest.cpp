// Torch-free parsing of TensorFlow.js layers models: see tfjs_manifest.h.
#include "nn/tfjs_manifest.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "json_util.h"
#include "pqw/error.h"

namespace pqw::nn {

namespace fs = std::filesystem;
using json = nlohmann::json;

float halfToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: renormalise
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

namespace {

/// Largest weight we accept (elements): far above any layer of a real backbone.
constexpr int64_t kMaxWeightElems = int64_t(1) << 31;

/// Collects inbound layer names from either the classic [[name, 0, 0, {}], ...] form or
/// the Keras 3 {"args": [{"config": {"keras_history": [name, 0, 0]}}]} form.
void collectRefs(const json& j, std::vector<std::string>& out, int depth = 0) {
    if (depth > 64) return;
    if (j.is_array()) {
        if (j.size() >= 3 && j[0].is_string() && j[1].is_number()) {
            out.push_back(j[0].get<std::string>());
            return;
        }
        for (const auto& e : j) collectRefs(e, out, depth + 1);
    } else if (j.is_object()) {
        if (j.contains("keras_history") && j["keras_history"].is_array() && !j["keras_history"].empty() &&
            j["keras_history"][0].is_string()) {
            out.push_back(j["keras_history"][0].get<std::string>());
            return;
        }
        for (const auto& [k, v] : j.items()) collectRefs(v, out, depth + 1);
    }
}

class Parser {
public:
    Parser(const std::string& file, const ShardReader& readShard)
        : file_(file), dir_(fs::path(file).parent_path()), readShard_(readShard) {
        doc_.file = file;
    }

    [[noreturn]] void fail(const std::string& what) const { throw Error(file_ + ": " + what); }

    TfjsDocument parse(const std::string& text) {
        const json root = jsonu::parse(text, file_ + ": ");
        try {
            if (!root.is_object() || !root.contains("modelTopology"))
                fail("not a TensorFlow.js layers model (no modelTopology)");
            if (root.contains("format") && root["format"].is_string() && root["format"] != "layers-model")
                fail("format '" + root["format"].get<std::string>() + "' is not supported (need a layers-model)");
            const json& topo = root["modelTopology"];
            if (!topo.is_object()) fail("modelTopology is not an object");
            const json& mc = topo.contains("model_config") ? topo["model_config"] : topo;
            if (!mc.is_object()) fail("model_config is not an object");
            parseLayers(mc);
            if (root.contains("weightsManifest")) loadWeights(root["weightsManifest"]);
        } catch (const json::exception& e) {
            fail(std::string("malformed model description: ") + e.what());
        }
        return std::move(doc_);
    }

private:
    void parseLayers(const json& mc) {
        const std::string cls = mc.value("class_name", "");
        const json* cfg = mc.contains("config") ? &mc["config"] : nullptr;
        if (!cfg) fail("modelTopology has no model config");
        const json* layers = nullptr;
        if (cfg->is_array()) layers = cfg;
        else if (cfg->is_object() && cfg->contains("layers")) layers = &(*cfg)["layers"];
        if (!layers || !layers->is_array() || layers->empty()) fail("model config has no layers");
        const bool sequential = cls == "Sequential";
        auto& L = doc_.layers;
        for (const auto& lj : *layers) {
            if (!lj.is_object()) fail("a layer entry is not an object");
            TfjsRawLayer l;
            l.cls = lj.value("class_name", "");
            l.config = lj.contains("config") ? lj["config"] : json::object();
            if (!l.config.is_object()) fail("layer config of a '" + l.cls + "' layer is not an object");
            l.name = lj.contains("name") ? lj["name"].get<std::string>() : l.config.value("name", "");
            if (l.name.empty()) fail("a layer of type '" + l.cls + "' has no name");
            l.layerJson = lj;
            if (!sequential) {
                if (lj.contains("inbound_nodes")) {
                    const json& ib = lj["inbound_nodes"];
                    if (ib.is_array() && ib.size() > 1)
                        fail("layer '" + l.name + "' is shared (called " + std::to_string(ib.size()) +
                             " times); shared layers are not supported");
                    if (ib.is_array() && !ib.empty()) collectRefs(ib[0], l.inputs);
                }
            } else if (!L.empty()) {
                l.inputs.push_back(L.back().name);
            }
            if (doc_.byName.count(l.name)) fail("duplicate layer name '" + l.name + "'");
            doc_.byName[l.name] = L.size();
            L.push_back(std::move(l));
        }
        if (sequential && L.front().cls != "InputLayer") {
            // Sequential models may carry the input shape on the first layer instead.
            TfjsRawLayer in;
            in.name = "input";
            in.cls = "InputLayer";
            in.config = json::object();
            if (L.front().config.contains("batch_input_shape"))
                in.config["batch_input_shape"] = L.front().config["batch_input_shape"];
            if (doc_.byName.count(in.name)) fail("a Sequential model without an InputLayer has a layer named 'input'");
            L.front().inputs = {in.name};
            L.insert(L.begin(), in);
            doc_.byName.clear();
            for (size_t i = 0; i < L.size(); ++i) doc_.byName[L[i].name] = i;
        }
        // The model's output: output_layers[0] or the last layer.
        doc_.outputName = L.back().name;
        if (cfg->is_object() && cfg->contains("output_layers")) {
            std::vector<std::string> outs;
            collectRefs((*cfg)["output_layers"], outs);
            if (outs.size() > 1) fail("models with several outputs are not supported");
            if (outs.size() == 1) doc_.outputName = outs[0];
            if (!doc_.byName.count(doc_.outputName))
                fail("output_layers names an unknown layer '" + doc_.outputName + "'");
        }
        for (const auto& l : L)
            for (const auto& i : l.inputs)
                if (!doc_.byName.count(i)) fail("layer '" + l.name + "' takes input from unknown layer '" + i + "'");
    }

    // ---------------------------------------------------------------------------- weights

    /// A shard path from the manifest, resolved inside the model's folder.
    std::string shardPath(const json& p) const {
        if (!p.is_string()) fail("weightsManifest path is not a string");
        const std::string rel = p.get<std::string>();
        const fs::path rp(rel);
        if (rel.empty() || rp.is_absolute()) fail("weight shard path '" + rel + "' is not relative to the model's folder");
        const fs::path norm = rp.lexically_normal();
        if (norm.empty() || *norm.begin() == ".." || norm == ".")
            fail("weight shard path '" + rel + "' leads outside the model's folder");
        return (dir_ / norm).string();
    }

    struct Spec {
        std::string name, dtype;  // dtype of the stored bytes
        std::vector<int64_t> shape;
        int64_t numel = 1;
        size_t bytes = 0;
        const json* j = nullptr;
    };

    Spec spec(const json& w) const {
        if (!w.is_object()) fail("weightsManifest entry is not an object");
        Spec s;
        s.j = &w;
        s.name = w.value("name", "");
        if (s.name.empty()) fail("a weight in the manifest has no name");
        try {
            s.shape = jsonu::intList<int64_t>(w, "shape", {}, s.name + ".");
        } catch (const Error& e) {
            fail(e.what());
        }
        if (s.shape.size() > 8) fail("weight '" + s.name + "' has " + std::to_string(s.shape.size()) + " dimensions");
        for (int64_t d : s.shape) {
            if (d < 0) fail("weight '" + s.name + "' has a negative dimension");
            if (d > 0 && s.numel > kMaxWeightElems / d)
                fail("weight '" + s.name + "' claims more than " + std::to_string(kMaxWeightElems) + " values");
            s.numel *= d;
        }
        const std::string stored = w.value("dtype", "float32");
        if (stored != "float32")
            fail("weight '" + s.name + "' has dtype '" + stored + "' (only float32 weights are supported)");
        s.dtype = stored;
        if (w.contains("quantization")) {
            const json& q = w["quantization"];
            if (!q.is_object()) fail("weight '" + s.name + "' has a malformed quantization entry");
            s.dtype = q.value("dtype", "");
        }
        size_t per = 0;
        if (s.dtype == "float32") per = 4;
        else if (s.dtype == "uint16" || s.dtype == "float16") per = 2;
        else if (s.dtype == "uint8") per = 1;
        else fail("weight '" + s.name + "' has unsupported dtype '" + s.dtype + "'");
        s.bytes = static_cast<size_t>(s.numel) * per;
        return s;
    }

    void loadWeights(const json& manifest) {
        if (!manifest.is_array()) fail("weightsManifest is not a list");
        for (const auto& group : manifest) {
            if (!group.is_object() || !group.contains("paths") || !group.contains("weights"))
                fail("weightsManifest group without paths or weights");
            if (!group["paths"].is_array() || !group["weights"].is_array())
                fail("weightsManifest paths and weights must be lists");
            std::vector<Spec> specs;
            size_t need = 0;
            for (const auto& w : group["weights"]) {
                specs.push_back(spec(w));
                need += specs.back().bytes;  // each <= 2^33: no overflow for any real count
            }
            std::string data, lastShard;
            for (const auto& p : group["paths"]) {
                lastShard = shardPath(p);
                data += readShard_(lastShard);
                if (data.size() > need) break;  // already too long: no need to read more
            }
            if (lastShard.empty() && need > 0) fail("weightsManifest group has weights but no paths");
            const std::string where = lastShard.empty() ? file_ : lastShard;
            if (data.size() != need)
                throw Error(where + ": weight data is " + std::to_string(data.size()) + " bytes but the manifest needs " +
                            std::to_string(need) + (data.size() < need ? " (truncated?)" : " (extra bytes)"));
            size_t off = 0;
            for (const auto& s : specs) {
                decode(s, data.data() + off, where);
                off += s.bytes;
            }
        }
    }

    void decode(const Spec& s, const char* bytes, const std::string& shard) {
        TfjsWeight t;
        t.shape = s.shape;
        t.values.resize(static_cast<size_t>(s.numel));
        float* dst = t.values.data();
        const size_t n = t.values.size();
        if (s.dtype == "float32") {
            std::memcpy(dst, bytes, n * 4);
        } else if (s.dtype == "float16") {
            for (size_t i = 0; i < n; ++i) {
                uint16_t v;
                std::memcpy(&v, bytes + 2 * i, 2);
                dst[i] = halfToFloat(v);
            }
        } else {
            const json& q = (*s.j)["quantization"];
            if (!q.contains("scale") || !q.contains("min") || !q["scale"].is_number() || !q["min"].is_number())
                fail("weight '" + s.name + "' is quantised as " + s.dtype + " without a numeric scale and min");
            const float scale = q["scale"].get<float>(), mn = q["min"].get<float>();
            if (s.dtype == "uint8") {
                const auto* p = reinterpret_cast<const uint8_t*>(bytes);
                for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(p[i]) * scale + mn;
            } else {
                for (size_t i = 0; i < n; ++i) {
                    uint16_t v;
                    std::memcpy(&v, bytes + 2 * i, 2);
                    dst[i] = static_cast<float>(v) * scale + mn;
                }
            }
        }
        for (size_t i = 0; i < n; ++i)
            if (!std::isfinite(dst[i]))
                throw Error(shard + ": weight '" + s.name + "' contains NaN or infinite values (value " +
                            std::to_string(i) + ")");
        // "layer/kind" (TF 2 names may carry a ":0" suffix or a model-name prefix).
        std::string name = s.name;
        if (auto c = name.rfind(':'); c != std::string::npos) name.resize(c);
        const auto slash = name.rfind('/');
        if (slash == std::string::npos) return;  // not a layer weight
        std::string layer = name.substr(0, slash), kind = name.substr(slash + 1);
        while (!doc_.byName.count(layer)) {
            const auto sl = layer.find('/');
            if (sl == std::string::npos) break;
            layer = layer.substr(sl + 1);
        }
        doc_.weights[layer][kind] = std::move(t);
    }

    std::string file_;
    fs::path dir_;
    const ShardReader& readShard_;
    TfjsDocument doc_;
};

}  // namespace

TfjsDocument parseTfjs(const std::string& file, const std::string& text, const ShardReader& readShard) {
    return Parser(file, readShard).parse(text);
}

}  // namespace pqw::nn
