// Torch-free checkpoint parsing: see checkpoint_format.h.
#include "protoquant/checkpoint_format.h"

#include <cmath>
#include <cstring>

#include "json_util.h"
#include "preprocess_json.h"
#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw::detail {

using json = nlohmann::json;

json epochRecordToJson(const EpochRecord& r) {
    return {{"stage", r.stage}, {"epoch", r.epoch}, {"loss", r.loss}, {"ce", r.ceLoss}, {"mse", r.mseLoss},
            {"train_accuracy", r.trainAccuracy}, {"val_accuracy", r.valAccuracy}, {"lr", r.lr},
            {"dead_codes", r.deadCodes}, {"perplexity", r.perplexity}};
}

EpochRecord epochRecordFromJson(const json& j) {
    if (!j.is_object()) throw Error("a history entry is not an object");
    EpochRecord r;
    r.stage = j.value("stage", "");
    r.epoch = jsonu::intValue(j, "epoch", 0, "history.");
    r.loss = j.value("loss", 0.0);
    r.ceLoss = j.value("ce", 0.0);
    r.mseLoss = j.value("mse", 0.0);
    r.trainAccuracy = j.value("train_accuracy", 0.0);
    r.valAccuracy = j.value("val_accuracy", 0.0);
    r.lr = j.value("lr", 0.0);
    r.deadCodes = jsonu::intValue(j, "dead_codes", -1, "history.");
    r.perplexity = j.value("perplexity", -1.0);
    return r;
}

namespace {

/// Largest dimension and element count of one tensor (far above any real head).
constexpr int64_t kMaxDim = int64_t(1) << 31;

void parseInto(CheckpointData& d, const json& meta, std::string_view payload) {
    if (!meta.is_object()) throw Error("metadata is not a JSON object");
    if (meta.value("format", "") != "pqw-head") throw Error("format is not pqw-head");
    const int v = jsonu::intValue(meta, "version", 0);
    if (v > kCheckpointVersion)
        throw Error("written by a newer version (checkpoint version " + std::to_string(v) + ", this build reads " +
                    std::to_string(kCheckpointVersion) + ")");
    d.kind = meta.at("kind").get<std::string>();
    if (d.kind != "protoquant" && d.kind != "baseline") throw Error("unknown kind '" + d.kind + "'");
    const json& bb = meta.at("backbone");
    if (!bb.is_object()) throw Error("'backbone' is not an object");
    d.backboneId = bb.at("id").get<std::string>();
    d.cutLayer = bb.at("cut").get<std::string>();
    d.stride = jsonu::intValue(bb, "stride", 0, "backbone.");
    d.receptiveField = jsonu::intValue(bb, "receptive_field", 0, "backbone.");
    d.backboneSpec.kind = bb.value("kind", "default");
    d.backboneSpec.path = bb.value("path", "");
    d.backboneSpec.cutLayer = d.cutLayer;
    d.backboneSpec.randomWeights = bb.value("random_weights", false);
    d.backboneSpec.randomSeed = jsonu::intValue(bb, "random_seed", uint64_t(0), "backbone.");
    d.backboneSpec.preprocess = preprocessingFromJson(bb, "backbone.");
    d.inputSize = jsonu::intAt<int>(meta, "input_size");
    if (d.inputSize <= 0) throw Error("input_size must be positive");
    const auto fs = jsonu::intList<int64_t>(meta, "feature_shape");
    if (fs.size() != 3 || fs[0] <= 0 || fs[1] <= 0 || fs[2] <= 0 || fs[0] > kMaxDim || fs[1] > 65536 || fs[2] > 65536)
        throw Error("feature_shape must be 3 positive sizes");
    d.shape = {fs[0], fs[1], fs[2]};
    d.classes = meta.at("classes").get<std::vector<std::string>>();
    if (d.classes.empty()) throw Error("no classes");
    d.cacheFingerprint = meta.value("cache_fingerprint", "");
    d.hyper = meta.value("hyper_parameters", json::object());
    for (const auto& r : meta.value("history", json::array())) d.history.push_back(epochRecordFromJson(r));
    d.tau = meta.at("tau").get<double>();
    if (!(d.tau > 0) || !std::isfinite(d.tau)) throw Error("tau must be positive");
    d.presenceThreshold = meta.value("presence_threshold", 0.0f);
    if (!(d.presenceThreshold >= 0.f && d.presenceThreshold < 1.f)) throw Error("presence_threshold must be in [0, 1)");
    d.stage0 = meta.at("stage0").get<bool>();

    const json& table = meta.at("tensors");
    if (!table.is_array()) throw Error("'tensors' is not a list");
    for (const auto& e : table) {
        if (!e.is_object()) throw Error("a tensor entry is not an object");
        const auto name = e.at("name").get<std::string>();
        if (!e.contains("shape")) throw Error("tensor '" + name + "' has no shape");
        const auto shape = jsonu::intList<int64_t>(e, "shape", {}, name + ".");
        const auto off = jsonu::intAt<uint64_t>(e, "offset", name + ".");
        const auto bytes = jsonu::intAt<uint64_t>(e, "bytes", name + ".");
        if (shape.size() > 4) throw Error("tensor '" + name + "' has " + std::to_string(shape.size()) + " dimensions");
        // Overflow-safe element count, bounded by what the payload can hold.
        const uint64_t maxElems = payload.size() / sizeof(float);
        uint64_t numel = 1;
        for (auto s : shape) {
            if (s < 0 || s > kMaxDim) throw Error("tensor '" + name + "' has a bad shape");
            if (s > 0 && numel > maxElems / uint64_t(s))
                throw Error("tensor '" + name + "' lies beyond the end of the file (truncated?)");
            numel *= uint64_t(s);
        }
        if (bytes != numel * sizeof(float)) throw Error("tensor '" + name + "' size mismatch");
        if (off > payload.size() || bytes > payload.size() - off)
            throw Error("tensor '" + name + "' lies beyond the end of the file (truncated?)");
        CheckpointTensor t;
        t.shape = shape;
        t.values.resize(numel);
        if (bytes) std::memcpy(t.values.data(), payload.data() + off, bytes);
        for (float x : t.values)
            if (!std::isfinite(x)) throw Error("tensor '" + name + "' holds NaN or Inf");
        if (!d.tensors.emplace(name, std::move(t)).second) throw Error("tensor '" + name + "' appears twice");
    }

    const int64_t D = d.shape[0], N = static_cast<int64_t>(d.classes.size());
    auto need = [&](const char* name, std::vector<int64_t> shape) {
        auto it = d.tensors.find(name);
        if (it == d.tensors.end()) throw Error(std::string("tensor '") + name + "' missing");
        if (it->second.shape != shape) throw Error(std::string("tensor '") + name + "' has the wrong shape");
    };
    if (auto it = meta.find("stage0_torchscript"); it != meta.end()) {
        const json& sj = *it;
        if (!sj.is_object()) throw Error("'stage0_torchscript' is not an object");
        const auto off = jsonu::intAt<uint64_t>(sj, "offset", "stage0_torchscript."),
                   bytes = jsonu::intAt<uint64_t>(sj, "bytes", "stage0_torchscript.");
        if (off > payload.size() || bytes > payload.size() - off)
            throw Error("the TorchScript stage-0 head lies beyond the end of the file (truncated?)");
        d.stage0ScriptBytes = std::string(payload.substr(off, bytes));
        d.stage0ScriptName = sj.value("name", "");
        if (sj.contains("fnv1a64") &&
            sj.at("fnv1a64").get<std::string>() != hex64(fnv1a64(d.stage0ScriptBytes.data(), d.stage0ScriptBytes.size())))
            throw Error("the TorchScript stage-0 head's hash does not match (corrupt file)");
        if (!d.stage0) throw Error("a TorchScript stage-0 head in a model without stage 0");
        if (d.stage0ScriptBytes.empty()) throw Error("the TorchScript stage-0 head is empty");
    } else if (d.stage0) {
        need("ln.weight", {D});
        need("ln.bias", {D});
        need("fc.weight", {N, D});
        need("fc.bias", {N});
    }
    int64_t K = 0;
    if (auto it = d.tensors.find("codes"); it != d.tensors.end()) {
        const auto& s = it->second.shape;
        if (s.size() != 2 || s[1] != D) throw Error("tensor 'codes' has the wrong shape");
        K = s[0];
    }
    if (d.tensors.count("W")) {
        if (!d.tensors.count("codes")) throw Error("a head without prototypes");
        need("W", {N, K});
    }
    for (const auto& p : meta.value("disabled_prototypes", json::array())) {
        const int k = jsonu::asInt<int>(p, "\"disabled_prototypes\" entries");
        if (k < 0 || k >= K) throw Error("disabled prototype index out of range");
        d.disabled.push_back(k);
    }
}

}  // namespace

CheckpointData parseCheckpoint(std::string_view file, const std::string& path) {
    if (file.size() < 16 || std::memcmp(file.data(), kCheckpointMagic, 8) != 0)
        throw Error(path + ": not a ProtoQuant Workbench checkpoint (.pqwh): the file does not start like one");
    uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(file[8 + i])) << (8 * i);
    if (len > file.size() - 16) throw Error(path + ": metadata length " + std::to_string(len) + " exceeds the file");
    const json meta = jsonu::parse(file.substr(16, len), path + ": metadata is ");
    CheckpointData d;
    try {
        parseInto(d, meta, file.substr(16 + len));
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    } catch (const json::exception& e) {
        throw Error(path + ": malformed metadata (" + e.what() + ")");
    }
    return d;
}

}  // namespace pqw::detail
