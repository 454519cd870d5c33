#pragma once
// ProtoQuant: prototypes as a learned codebook in the latent space of a frozen trunk
// (docs/protoquant.md; ../shared/design/algorithms.md section 1). Everything trains on a
// feature cache. Torch-free interface.
//
//   stage 0   frozen classifier head: avg-pool -> LayerNorm(D) -> Linear(D, N)
//   stage 1   codebook C (K x D) learned through the frozen head:
//             k* = argmax_k cos(f_hw, c_k), q_hw = c_k*, logits = head(avgpool(q)),
//             loss = CE(logits, y) + MSE(q, stopgrad(f)) (mean over cells and channels)
//   stage 1b  usage-based codebook pruning to a target size in a number of steps
//   stage 2   interpretable head: S = cos(f, c_p); A = softmax_p(S / tau);
//             pi_p = max_hw A; z_c = sum_p ReLU(W[c,p]) * pi_p (no bias)
//   baseline  the same stage-2 head with prototypes as free parameters (no codebook)
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/feature_cache.h"
#include "pqw/job.h"

namespace pqw {

struct Stage0Options {
    int epochs = 15;
    int batchSize = 256;
    double lr = 3e-3;       ///< AdamW
    double weightDecay = 1e-4;
    uint64_t seed = 0;
};

struct CodebookOptions {
    int codes = 256;                  ///< K
    std::string init = "kmeans";      ///< "kmeans" (on a sample of cell features) or "orthogonal"
    int epochs = 10;
    int batchSize = 128;              ///< images per batch
    double lr = 5e-4;                 ///< Adam
    int warmupEpochs = 1;             ///< linear warm-up, then cosine decay to 0
    double labelSmoothing = 0.1;
    double mixupAlpha = 0.0;          ///< > 0: mixup of feature maps (Beta(alpha, alpha)); 0 = off
    double commitmentWeight = 1.0;    ///< weight of the MSE term
    uint64_t seed = 0;
};

struct CodebookPruneOptions {
    int target = 0;   ///< final number of codes
    int steps = 1;    ///< (K - target) / steps least-used codes removed per step
};

struct HeadOptions {
    int epochs = 10;
    int batchSize = 128;
    double lr = 1e-3;                 ///< Adam
    double tau = 0.1;                 ///< softmax temperature over prototypes
    double l1 = 0.0;                  ///< L1 on ReLU(W)
    bool finetuneCodes = false;       ///< stage 2: also train the prototypes (breaks grounding)
    int topKPerClass = 0;             ///< > 0: keep only each class's top-k weights afterwards
    uint64_t seed = 0;
};

/// Baseline: the stage-2 head with prototypes as free parameters (no codebook, no stage 1).
struct BaselineOptions {
    HeadOptions head;
    int prototypes = 256;
    std::string init = "kmeans";      ///< "kmeans" or "random"
};

/// One training epoch's numbers, also sent as an event ("<stage>.epoch").
struct EpochRecord {
    std::string stage;       ///< "stage0", "stage1", "stage2", "baseline"
    int epoch = 0;
    double loss = 0, ceLoss = 0, mseLoss = 0;
    double trainAccuracy = 0, valAccuracy = 0;
    double lr = 0;
    int deadCodes = -1;      ///< stage 1: codes with no assignment this epoch
    double perplexity = -1;  ///< stage 1: exp(entropy of the code usage distribution)
};

struct Evaluation {
    std::string split;
    size_t samples = 0;
    double top1 = 0, top5 = 0;
    std::vector<double> perClass;                ///< accuracy per class (NaN-free; 0 if no samples)
    std::vector<std::vector<int64_t>> confusion; ///< [true][predicted]
};

/// Which classifier evaluate() runs.
enum class HeadKind { Stage0, Quantised, Interpretable };

struct PatchRef {
    size_t sample = 0;     ///< index into the feature cache / dataset
    int cellY = 0, cellX = 0;
    float activation = 0;  ///< A[p] at that cell
    Box box;               ///< the cell's receptive field in input pixels (clamped to the input)
};

struct PrototypeInfo {
    int index = 0;
    int64_t usage = 0;                 ///< training cells whose nearest code (cosine) is this one
    std::vector<float> classWeights;   ///< ReLU(W[:, p])
    std::vector<PatchRef> topPatches;  ///< best first
};

/// A prototype's contribution to one decision.
struct PrototypeEvidence {
    int prototype = 0;
    float presence = 0;   ///< pi_p
    float weight = 0;     ///< ReLU(W[c, p]) for the explained class
    float score = 0;      ///< weight * presence
    int cellY = 0, cellX = 0;
    Box box;
    std::vector<float> activation;  ///< A[p] over the H x W grid (row-major)
};

struct LocalExplanation {
    int predicted = 0;
    int explainedClass = 0;
    std::vector<float> logits;
    std::vector<float> probabilities;
    std::vector<PrototypeEvidence> evidence;  ///< ranked by score, descending; score > 0 only
    int gridH = 0, gridW = 0;
};

/// Lets ProtoModel::load run the embedded TorchScript stage-0 head of this one file (the
/// window, after the user agreed), or of every file when `path` is empty (pqw's
/// --allow-torchscript-heads, given on the command line). Process-wide; thread-safe.
void allowEmbeddedTorchScript(const std::string& path = {});

class ProtoModel {
public:
    ProtoModel();
    ~ProtoModel();
    ProtoModel(ProtoModel&&) noexcept;
    ProtoModel& operator=(ProtoModel&&) noexcept;
    ProtoModel(const ProtoModel&);
    ProtoModel& operator=(const ProtoModel&);

    /// A model for this cache's features and classes (no stage trained yet).
    static ProtoModel forCache(const FeatureCache& cache);
    /// Loads a checkpoint; throws pqw::Error naming the file on a malformed file. A head that
    /// embeds a TorchScript stage-0 head is code, not data (deserialising TorchScript runs
    /// it): such a file is refused, before any TorchScript is touched, unless it was allowed
    /// with allowEmbeddedTorchScript() first (docs/security.md).
    static ProtoModel load(const std::string& path);
    /// The name of the TorchScript stage-0 head that the checkpoint at `path` embeds, or ""
    /// when it embeds none (reads and checks the file; runs nothing). The window asks the
    /// user before loading such a file.
    static std::string embeddedTorchScript(const std::string& path);
    /// Writes a checkpoint atomically (weights + metadata + history).
    void save(const std::string& path) const;
    /// Refuses (pqw::Error saying what differs) when this model was not trained on features
    /// like these: backbone, cut layer, input size, feature shape or classes.
    void checkCompatible(const FeatureCache& cache) const;
    /// Why `other` cannot be explained beside this model on the same trunk and inputs (empty
    /// when it can): backbone, cut layer, input size, feature shape or classes differ.
    std::string differencesFrom(const ProtoModel& other) const;

    bool hasStage0() const;
    /// The file name a TorchScript stage-0 head came from; empty for the native head.
    const std::string& stage0TorchScript() const;
    bool hasCodebook() const;
    bool hasHead() const;
    /// "protoquant" or "baseline" (free prototypes).
    const std::string& kind() const;
    int numPrototypes() const;
    int numClasses() const;
    int featureDim() const;
    const std::vector<std::string>& classNames() const;
    const std::vector<EpochRecord>& history() const;
    double tau() const;
    /// The backbone the features came from, and the input size and grid geometry.
    const BackboneSpec& backboneSpec() const;
    const std::string& backboneId() const;
    int inputSize() const;
    int stride() const;
    /// Side of the box drawn for a feature cell: the backbone's effective receptive field.
    int receptiveField() const;
    std::array<int64_t, 3> featureShape() const;

    /// ReLU(W) as [classes][prototypes].
    std::vector<std::vector<float>> classWeights() const;
    /// The prototypes (codes) as [K][D].
    std::vector<std::vector<float>> prototypes() const;
    /// Switches prototypes off (their presence is forced to 0) or on; used by the GUI.
    void setPrototypeEnabled(int p, bool enabled);
    bool prototypeEnabled(int p) const;
    /// Inference option: presences below threshold count as 0 (PIP-Net convention; 0 = off).
    void setPresenceThreshold(float t);
    float presenceThreshold() const;

    /// Logits of one feature map (C x H x W floats) by the chosen head.
    std::vector<float> logits(const float* featureMap, HeadKind head = HeadKind::Interpretable) const;

    struct Impl;
    Impl& impl() const { return *d_; }

private:
    std::shared_ptr<Impl> d_;
};

std::vector<EpochRecord> trainStage0(ProtoModel& m, const FeatureCache& cache, const Stage0Options& opt, JobContext& ctx);
/// Stage 0 supplied as a TorchScript module: forward maps the cached feature map
/// [B, C, H, W] (float32) to logits [B, classes]. It is used frozen (stage 1 learns the codebook
/// through it), validated on two training samples of the cache (errors name the file and say
/// what does not fit), and stored inside the checkpoint. Replaces any stage 0 and clears a
/// codebook and head trained through the previous one.
void setStage0TorchScript(ProtoModel& m, const std::string& path, const FeatureCache& cache);
std::vector<EpochRecord> trainCodebook(ProtoModel& m, const FeatureCache& cache, const CodebookOptions& opt,
                                       JobContext& ctx);
/// Stage 1b: returns the code count after each step.
std::vector<int> pruneCodebook(ProtoModel& m, const FeatureCache& cache, const CodebookPruneOptions& opt,
                               JobContext& ctx);
std::vector<EpochRecord> trainHead(ProtoModel& m, const FeatureCache& cache, const HeadOptions& opt, JobContext& ctx);
std::vector<EpochRecord> trainBaseline(ProtoModel& m, const FeatureCache& cache, const BaselineOptions& opt,
                                       JobContext& ctx);
/// Keeps only the top-k weights of each class and drops prototypes no class uses.
/// Returns the number of prototypes left.
int sparsifyTopK(ProtoModel& m, int k);

Evaluation evaluate(const ProtoModel& m, const FeatureCache& cache, Split split, HeadKind head, JobContext& ctx);

/// Per-code assignment counts over one split (cosine nearest code per cell).
std::vector<int64_t> codeUsage(const ProtoModel& m, const FeatureCache& cache, Split split, JobContext& ctx);

/// For every prototype its top-k training patches (one pass over the training split: each
/// image's spatial max of A[p], global top-k), class weights and usage.
std::vector<PrototypeInfo> buildPrototypeIndex(const ProtoModel& m, const FeatureCache& cache, int topK,
                                               JobContext& ctx);

/// The pixel box of feature cell (y, x) for a trunk of this stride and receptive field at
/// this input size: centred on the cell's centre (y*stride + (stride-1)/2), side = receptive
/// field, clamped to the input square.
Box cellBox(int cellY, int cellX, int stride, int receptiveField, int inputSize);

/// "This looks like that" for one feature map: explains `cls` (-1 = the prediction).
LocalExplanation explainLocal(const ProtoModel& m, const float* featureMap, int gridH, int gridW, int stride,
                              int receptiveField, int inputSize, int cls = -1);

}  // namespace pqw
