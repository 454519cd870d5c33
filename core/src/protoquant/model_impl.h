#pragma once
// Internal: ProtoModel's state as torch tensors, and the forward functions shared by
// training, evaluation, the prototype index and explanations (and, later, OMENN).
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "pqw/protoquant.h"

namespace pqw {

namespace pq {
/// A frozen stage-0 head supplied as a TorchScript module (torch::jit::Module inside;
/// defined in stage0_script.cpp so that only it pays for torch/script.h).
struct ScriptHead;
}  // namespace pq

struct ProtoModel::Impl {
    std::string kind = "protoquant";
    // Where the features came from (compared on load against a cache).
    std::string backboneId, cutLayer, cacheFingerprint;
    BackboneSpec backboneSpec;
    int inputSize = 0, stride = 0, receptiveField = 0;
    std::array<int64_t, 3> shape{};  // D, H, W
    std::vector<std::string> classes;
    nlohmann::json hyper = nlohmann::json::object();  // options of every stage trained
    std::vector<EpochRecord> history;

    // Stage 0: LayerNorm(D) -> Linear(D, N), or a TorchScript module [B, D, H, W] -> [B, N].
    bool stage0 = false;
    torch::Tensor lnWeight, lnBias, fcWeight, fcBias;
    std::shared_ptr<const pq::ScriptHead> stage0Script;  // frozen, shared by copies
    std::string stage0ScriptBytes, stage0ScriptName;     // the module file as saved in checkpoints
    // Codebook / prototypes [K, D].
    torch::Tensor codes;
    // Interpretable head [N, K] (ReLU applied at use).
    torch::Tensor W;
    double tau = 0.1;
    float presenceThreshold = 0.0f;
    std::vector<char> enabled;  // per prototype

    int64_t D() const { return shape[0]; }
    int64_t HW() const { return shape[1] * shape[2]; }
    int64_t N() const { return static_cast<int64_t>(classes.size()); }
    int64_t K() const { return codes.defined() ? codes.size(0) : 0; }
    torch::Tensor enabledMask() const;  // [K] float
    void deepCopyFrom(const Impl& o);
};

namespace pq {

/// Stage-0 logits of pooled features [B, D] (the native LayerNorm + Linear head only).
torch::Tensor stage0Logits(const ProtoModel::Impl& m, const torch::Tensor& pooled);
/// Stage-0 logits of cell features f [B, HW, D]: the TorchScript head on the map when there
/// is one, else the native head on the average-pooled features. Differentiable in f.
torch::Tensor stage0LogitsMap(const ProtoModel::Impl& m, const torch::Tensor& f);
/// Loads a TorchScript stage-0 head from the module file's bytes (name: for messages).
std::shared_ptr<const ScriptHead> loadScriptHead(const std::string& bytes, const std::string& name);
/// Runs a TorchScript head on feature maps [B, D, H, W].
torch::Tensor scriptHeadForward(const ScriptHead& h, const torch::Tensor& maps);
/// Nearest code (cosine) of each cell: f [..., D] -> indices [...].
torch::Tensor assign(const torch::Tensor& f, const torch::Tensor& codes);
/// Quantised-model logits of cell features f [B, HW, D].
torch::Tensor quantisedLogits(const ProtoModel::Impl& m, const torch::Tensor& f);

struct HeadOut {
    torch::Tensor logits;    // [B, N]
    torch::Tensor A;         // [B, HW, K] softmax over prototypes per cell
    torch::Tensor presence;  // [B, K] after the enabled mask and threshold
};
/// Interpretable head on cell features f [B, HW, D] with prototypes `codes` and weights W.
HeadOut headForward(const torch::Tensor& f, const torch::Tensor& codes, const torch::Tensor& W, double tau,
                    const torch::Tensor& enabledMask, float threshold);
HeadOut headForward(const ProtoModel::Impl& m, const torch::Tensor& f);

/// Batches of a feature cache as float tensors [B, HW, D], without loading the cache whole.
class Batcher {
public:
    explicit Batcher(const FeatureCache& cache);
    /// Cell features of the given samples: [B, HW, D] float32.
    torch::Tensor features(const std::vector<size_t>& ids) const;
    torch::Tensor features(const torch::Tensor& ids) const;  // int64 indices
    torch::Tensor labels(const std::vector<size_t>& ids) const;
    const FeatureCache& cache() const { return cache_; }

private:
    const FeatureCache& cache_;
    torch::Tensor all_;  // [N, D, HW] half, a view of the memory map
};

torch::Tensor toIndexTensor(const std::vector<size_t>& ids);

}  // namespace pq
}  // namespace pqw
