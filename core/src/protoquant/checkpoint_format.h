#pragma once
// Torch-free reading of a ProtoQuant head checkpoint:
//   "PQWHEAD1" | uint64 LE json length | JSON metadata | float32 LE tensor payloads.
// parseCheckpoint validates everything about the bytes (magic, lengths, metadata fields and
// types, tensor table offsets and sizes, the shapes the head needs, NaN/Inf) so that
// ProtoModel::load only copies arrays into tensors. Kept free of torch so the fuzz target
// (tests/fuzz/fuzz_checkpoint.cpp) can link it alone.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pqw/backbone.h"
#include "pqw/protoquant.h"

namespace pqw::detail {

constexpr char kCheckpointMagic[8] = {'P', 'Q', 'W', 'H', 'E', 'A', 'D', '1'};
/// 1: the native heads; 2: may hold a TorchScript stage-0 head.
constexpr int kCheckpointVersion = 2;

struct CheckpointTensor {
    std::vector<int64_t> shape;
    std::vector<float> values;  ///< row-major, product of shape
};

struct CheckpointData {
    std::string kind;  ///< "protoquant" or "baseline"
    std::string backboneId, cutLayer, cacheFingerprint;
    BackboneSpec backboneSpec;
    int inputSize = 0, stride = 0, receptiveField = 0;
    std::array<int64_t, 3> shape{};  ///< D, H, W
    std::vector<std::string> classes;
    nlohmann::json hyper = nlohmann::json::object();
    std::vector<EpochRecord> history;
    double tau = 0.1;
    float presenceThreshold = 0.0f;
    bool stage0 = false;
    std::vector<int> disabled;  ///< prototype indices switched off, each in [0, K)
    /// "ln.weight", "ln.bias", "fc.weight", "fc.bias" (stage 0), "codes" [K, D], "W" [N, K].
    std::map<std::string, CheckpointTensor> tensors;
    /// Version 2: a TorchScript stage-0 head stored whole (bytes checked against its hash);
    /// then the native stage-0 tensors are absent.
    std::string stage0ScriptBytes, stage0ScriptName;
};

/// Parses a checkpoint's bytes; throws pqw::Error starting with `path` and saying what is
/// wrong. Never throws another exception type for bad bytes.
CheckpointData parseCheckpoint(std::string_view file, const std::string& path);

nlohmann::json epochRecordToJson(const EpochRecord& r);
EpochRecord epochRecordFromJson(const nlohmann::json& j);

}  // namespace pqw::detail
