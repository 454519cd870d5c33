// Fuzzes the restricted pickle interpreter of the .pth reader (core/src/pth/pickle.cpp): one
// pickle as in a zip checkpoint's data.pkl, and the whole legacy (non-zip) torch.save stream.
// Every tensor view it accepts must lie inside its storage, and walking the result with the
// documented depth bound must terminate.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_common.h"
#include "pth/pickle.h"

namespace {

size_t walk(const pqw::pth::Value* v, int depth) {
    if (depth > pqw::pth::kMaxDepth) return 0;
    size_t n = 1;
    for (const auto* c : v->items) n += walk(c, depth + 1);
    for (const auto& [k, c] : v->dict) n += walk(k, depth + 1) + walk(c, depth + 1);
    if (v->kind == pqw::pth::Value::Kind::Tensor) {
        const auto& t = v->tensor;
        if (!t.storage || t.sizes.size() != t.strides.size()) std::abort();
        int64_t last = t.offset;
        bool empty = false;
        for (size_t k = 0; k < t.sizes.size(); ++k) {
            if (t.sizes[k] < 0 || t.strides[k] < 0) std::abort();
            empty = empty || t.sizes[k] == 0;
            if (t.sizes[k] > 0) last += (t.sizes[k] - 1) * t.strides[k];
        }
        if (!empty && last >= t.storage->numel) std::abort();
        (void)pqw::pth::describe(v);
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    expectOnlyPqwErrors([&] {
        auto p = pqw::pth::parsePickle(bytes, "fuzz/data.pkl");
        if (!p.root || p.end > size) std::abort();
        walk(p.root, 0);
    });
    expectOnlyPqwErrors([&] {
        auto l = pqw::pth::parseLegacy(bytes, "fuzz.pth");
        walk(l.object.root, 0);
        for (const auto& [key, off] : l.storageBytes)
            if (off > size) std::abort();
    });
    return 0;
}
