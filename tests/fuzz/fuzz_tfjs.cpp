// Fuzzes the TensorFlow.js manifest + shard reader: the input is model.json, a NUL byte, then
// the bytes of the first weight shard (later shards read as empty).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_common.h"
#include "nn/tfjs_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = reinterpret_cast<const char*>(data);
    const char* nul = static_cast<const char*>(std::memchr(p, 0, size));
    const std::string text(p, nul ? size_t(nul - p) : size);
    const std::string shard = nul ? std::string(nul + 1, size - size_t(nul - p) - 1) : std::string();
    int reads = 0;
    expectOnlyPqwErrors([&] {
        auto doc = pqw::nn::parseTfjs("/fuzz/model/model.json", text, [&](const std::string& path) {
            // Paths are resolved inside the model's folder.
            if (path.compare(0, 12, "/fuzz/model/") != 0 || path.find("/../") != std::string::npos) std::abort();
            return reads++ == 0 ? shard : std::string();
        });
        // Invariants: each weight holds exactly the product of its shape, all finite.
        for (const auto& [layer, kinds] : doc.weights)
            for (const auto& [kind, w] : kinds) {
                size_t n = 1;
                for (auto d : w.shape) n *= static_cast<size_t>(d);
                if (n != w.values.size()) std::abort();
            }
        if (doc.layers.empty() || !doc.byName.count(doc.outputName)) std::abort();
    });
    return 0;
}
