#pragma once
// PyTorch checkpoint (.pth / .pt from torch.save) reader, core-internal (includes torch).
//
// Zip files (torch.save since 1.6): the records are read with LibTorch's
// caffe2::serialize::PyTorchStreamReader, data.pkl is interpreted by the restricted pickle
// machine of pickle.h (no code ever runs), and each storage record "data/<key>" is copied
// to a CPU tensor whatever its saved location ("cuda:0" included). Legacy non-zip files
// (torch.save(..., _use_new_zipfile_serialization=False)) are read too; anything else is
// refused with a line saying how to re-save it.
//
// The result is flattened to what the workbench needs: the state dict (the root dict, or its
// "model" / "state_dict" entry; the official ProtoQuant loader's "module." and
// "model_to_wrap." prefixes stripped) as name -> tensor in file order, and the root's number
// entries (epoch, val_top1; a 0-dim tensor counts as a number).
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pqw::pth {

struct Checkpoint {
    std::string path;
    bool legacy = false;             ///< the pre-1.6 non-zip format
    std::string container;           ///< "state_dict", "payload:model", "payload:state_dict", "tensor"
    std::vector<std::pair<std::string, torch::Tensor>> tensors;  ///< the state dict, file order
    std::map<std::string, double> numbers;  ///< root-level numbers (payload dicts only)
    std::vector<std::string> locations;     ///< distinct saved storage locations

    /// The tensor named key, or an undefined tensor.
    torch::Tensor get(const std::string& key) const;
    bool has(const std::string& key) const { return get(key).defined(); }
    /// The tensor named key as float32; throws pqw::Error "<path>: missing key 'key'" when
    /// absent and names the expected shape when given (-1 = any) and it differs.
    torch::Tensor need(const std::string& key, std::vector<int64_t> shape = {}) const;
};

/// Reads a checkpoint; throws pqw::Error "<path>: ..." (one line) on anything unreadable,
/// malformed or not allowed.
Checkpoint readCheckpoint(const std::string& path);

/// Short SHA-like content hash of a file (FNV-1a 64 over its bytes, hex), for identities.
std::string fileHash(const std::string& path);

}  // namespace pqw::pth
