#pragma once
// Torch-free half of the TensorFlow.js loader: model.json -> layer list, and the weights
// manifest + shard bytes -> float arrays, with every check on the bytes (JSON structure,
// shard paths, sizes, dtypes, NaN/Inf). tfjs.cpp builds the torch graph from the result.
// Kept free of torch so the fuzz target (tests/fuzz/fuzz_tfjs.cpp) can link it alone.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pqw::nn {

struct TfjsRawLayer {
    std::string name, cls;
    nlohmann::json config;
    nlohmann::json layerJson;
    std::vector<std::string> inputs;
};

/// One decoded weight: its Keras shape and row-major float32 values (product of shape).
struct TfjsWeight {
    std::vector<int64_t> shape;
    std::vector<float> values;
};

struct TfjsDocument {
    std::string file;  ///< the model.json, for messages
    std::vector<TfjsRawLayer> layers;
    std::map<std::string, size_t> byName;
    std::string outputName;  ///< output_layers[0] or the last layer
    /// layer name -> weight kind ("kernel", "bias", ...) -> weight.
    std::map<std::string, std::map<std::string, TfjsWeight>> weights;
};

/// Reads a weight shard given its path (already resolved inside the model's folder).
using ShardReader = std::function<std::string(const std::string& path)>;

/// Parses model.json text (`file` names it in messages; shard paths are resolved against
/// its folder and must stay inside it). Throws pqw::Error naming the file and the problem;
/// never another exception type for bad bytes.
TfjsDocument parseTfjs(const std::string& file, const std::string& text, const ShardReader& readShard);

/// IEEE half -> float.
float halfToFloat(uint16_t h);

}  // namespace pqw::nn
