#pragma once
// A restricted pickle interpreter for PyTorch checkpoints (core-internal, torch-free so the
// fuzzer can build it without LibTorch).
//
// It understands what torch.save writes for state dicts and small payload dicts and nothing
// else: dict / collections.OrderedDict (state set by BUILD, i.e. _metadata, is ignored), list,
// tuple, None, bool, int, float, str, bytes, torch._utils._rebuild_tensor_v2 (and
// _rebuild_parameter) and torch.<Type>Storage persistent ids. Any other global is refused by
// name when it is met (GLOBAL / STACK_GLOBAL), before anything could call it: interpreting a
// file never runs code. Every storage is described, not read: the caller (pth.cpp) maps
// its bytes from the zip record (or the legacy stream) to the CPU, whatever the saved
// location ("cpu", "cuda:0", ...).
//
// Values live in an arena owned by the Pickle (raw pointers between them; memo references
// may even form cycles without leaking). Nesting is limited to kMaxDepth as it is built, but a
// memo reference can still close a cycle: anything that walks a tree recursively must stop
// at kMaxDepth itself.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pqw::pth {

constexpr int kMaxDepth = 64;

/// A storage as named by a persistent id: ('storage', torch.FloatStorage, key, location, numel).
struct StorageRef {
    std::string key;       ///< record "data/<key>" in a zip file; the legacy stream key
    std::string dtype;     ///< "float32", "float64", "float16", "bfloat16", "int64", ...
    int elementSize = 4;
    std::string location;  ///< as saved ("cpu", "cuda:0"); always loaded to the CPU
    int64_t numel = 0;     ///< elements
};

/// A tensor view of a storage (torch._utils._rebuild_tensor_v2). Validated: every element
/// it addresses lies inside the storage.
struct TensorRef {
    const StorageRef* storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> sizes, strides;
    int64_t numel() const;
};

struct Value {
    enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Storage, Global, Mark };
    Kind kind = Kind::None;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    bool bigInt = false;      ///< Int that does not fit 64 bits (s holds its little-endian bytes)
    std::string s;            ///< String, Bytes, Global ("module.name")
    bool ordered = false;     ///< Dict made by collections.OrderedDict
    std::vector<Value*> items;                    ///< List, Tuple
    std::vector<std::pair<Value*, Value*>> dict;  ///< Dict, in insertion order
    TensorRef tensor;
    StorageRef* storage = nullptr;  ///< Storage (persistent id)
    int depth = 1;

    bool isStr() const { return kind == Kind::String; }
    /// Dict lookup by string key (last wins, as Python); null when absent or not a dict.
    const Value* get(std::string_view key) const;
};

struct Pickle {
    std::vector<std::unique_ptr<Value>> arena;
    std::vector<std::unique_ptr<StorageRef>> storages;
    const Value* root = nullptr;
    size_t end = 0;  ///< offset just after STOP
};

/// Interprets one pickle starting at data[offset]; throws pqw::Error "<name>: ..." on anything
/// malformed or not allowed (the message names the offending global or opcode and offset).
Pickle parsePickle(std::string_view data, const std::string& name, size_t offset = 0);

/// Short description of a value's type for messages ("dict", "tensor [3, 4] float32", ...).
std::string describe(const Value* v);

/// The file-level structure of a legacy (non-zip) torch.save stream: magic number, protocol
/// version, system info, the object, the list of storage keys, then each storage as an
/// int64 element count followed by its bytes. Offsets of each storage's bytes are returned.
struct LegacyFile {
    Pickle object;
    std::vector<std::pair<std::string, size_t>> storageBytes;  ///< key -> offset of the data
};
/// True when data starts like a legacy torch.save stream (a pickle of the magic number).
bool looksLegacy(std::string_view data);
LegacyFile parseLegacy(std::string_view data, const std::string& name);

}  // namespace pqw::pth
