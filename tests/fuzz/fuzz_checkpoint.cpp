// Fuzzes the ProtoQuant head checkpoint parser (magic, metadata length, JSON metadata,
// tensor table, payload).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "protoquant/checkpoint_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    expectOnlyPqwErrors([&] {
        auto c = pqw::detail::parseCheckpoint(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.pqwh");
        for (const auto& [name, t] : c.tensors) {
            size_t n = 1;
            for (auto d : t.shape) n *= static_cast<size_t>(d);
            if (n != t.values.size()) std::abort();
        }
        if (c.classes.empty() || c.shape[0] <= 0) std::abort();
    });
    return 0;
}
