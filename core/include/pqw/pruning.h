#pragma once
// Pruning engine (algorithms.md section 3): schedules, a small CNN family trained from
// scratch, unstructured (masked) and structured (physical channel removal) pruning with
// fine-tuning after each step, and sweeps over grids of settings. Torch-free header.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pqw/dataset.h"
#include "pqw/job.h"

namespace pqw {
class FeatureCache;
class ProtoModel;
}  // namespace pqw

namespace pqw {

// ---------------------------------------------------------------------------------------
// Schedules: step sizes as fractions of the ORIGINAL prunable count.

enum class PruneStrategy { OneShot, Iterative, IterativeGeometric, Hybrid };
/// "one-shot", "iterative", "iterative-geometric", "hybrid"; throws pqw::Error otherwise.
PruneStrategy parseStrategy(const std::string& s);
const char* strategyName(PruneStrategy s);

/// geometric(p, n): r = 1 - (1-p)^(1/n); step k (1-based) = r (1-r)^(k-1); sums to p.
std::vector<double> geometricSteps(double target, int steps);
/// one-shot [p]; iterative [p/n]*n; geometric as above; hybrid [s0] + geometric(p - s0, n)
/// (n + 1 steps). Throws pqw::Error on target outside (0,1), n < 1, or s0 outside (0, p).
std::vector<double> pruneSchedule(PruneStrategy s, double target, int steps, double firstStep = 0.5);

// ---------------------------------------------------------------------------------------
// Patience-based stopping. Epoch 0 is the model right after pruning (before fine-tuning).

class EarlyStopper {
public:
    /// patience <= 0: never stops early (fixed epochs: maxEpochs).
    EarlyStopper(int patience, double minDelta, int maxEpochs);
    /// Records one validation accuracy (the first call is epoch 0). Returns true when it is
    /// a new best, i.e. beats the best so far by more than minDelta (the first call always is).
    bool observe(double accuracy);
    /// True when fine-tuning should end: maxEpochs epochs done, or patience epochs in a row
    /// without a new best.
    bool shouldStop() const;
    double best() const { return best_; }
    int bestEpoch() const { return bestEpoch_; }
    /// Fine-tuning epochs observed so far (calls after epoch 0).
    int epochs() const { return calls_ > 0 ? calls_ - 1 : 0; }

private:
    int patience_, maxEpochs_;
    double minDelta_;
    double best_ = -1.0;
    int bestEpoch_ = -1, calls_ = 0, sinceBest_ = 0;
};

// ---------------------------------------------------------------------------------------
// Data: a dataset's images decoded once into memory at native size (or inputSize).

class ImageTensors {
public:
    /// Decodes every train / val / test sample. channels 0 = auto (1 for IDX data, else 3);
    /// inputSize 0 = the first image's size (others resized to it). Pixels are scaled to
    /// [0,1] and standardised with the training split's mean and std.
    static ImageTensors fromDataset(const Dataset& ds, int channels = 0, int inputSize = 0);
    /// The frozen trunk's cached feature maps as the "images" (C x H x W, H == W), as stored
    /// (no standardisation), with the cache's labels and splits. maxTrain > 0 keeps the first
    /// maxTrain training samples (validation and test whole). Throws when H != W.
    static ImageTensors fromFeatureCache(const FeatureCache& cache, size_t maxTrain = 0);
    ImageTensors();
    ~ImageTensors();
    size_t count(Split s) const;
    int channels() const;
    int inputSize() const;
    int classes() const;
    /// One sample's standardised input (channels x size x size floats, what the models eat)
    /// and its label. i indexes the split in dataset order: row i is Dataset::indices(s)[i].
    /// Throws pqw::Error when i is out of range.
    std::vector<float> input(Split s, size_t i, int* label = nullptr) const;
    struct Impl;
    std::shared_ptr<const Impl> impl() const { return d_; }

private:
    std::shared_ptr<const Impl> d_;
};

// ---------------------------------------------------------------------------------------
// The CNN family.

struct CnnSpec {
    /// "lenet" (conv5-pool-conv5-pool-fc-fc-fc), "resnet" (BN, basic blocks), or a classifier
    /// on cached trunk features: "feature-mlp" (flatten, `depth` hidden fc+ReLU of `width`,
    /// fc) or "feature-conv" (conv1x1(width)-BN-ReLU, `depth` x conv3x3(width)-BN-ReLU, global
    /// average pool, fc).
    std::string arch = "lenet";
    int width = 16;              ///< lenet: first conv channels (second 2x, fc 120/84); resnet: stem channels
    int depth = 1;               ///< resnet: basic blocks per stage (3 stages, width x1/x2/x4)
    int inChannels = 1;
    int inputSize = 28;
    int classes = 10;
};

struct CnnTrainOptions {
    int epochs = 5;
    int batch = 64;
    double lr = 0.05;
    double momentum = 0.9;
    double weightDecay = 5e-4;
    uint64_t seed = 0;
};

struct Accuracy {
    double top1 = 0, top5 = 0;
    size_t samples = 0;
};

/// Measured shape-derived costs of a model.
struct ModelCost {
    int64_t params = 0;           ///< every weight, bias and BN affine element
    int64_t prunableParams = 0;   ///< conv + linear weights
    int64_t nonzeroPrunable = 0;  ///< of those, not masked out
    int64_t channels = 0;         ///< output channels / neurons in structurally prunable groups
    int64_t originalChannels = 0; ///< the same before any structured pruning
    int64_t macs = 0;             ///< multiply-accumulates per image, from shapes (-1: unknown)
};

class CnnModel {
public:
    /// A freshly initialised model (Kaiming-uniform, seeded).
    static CnnModel create(const CnnSpec& spec, uint64_t seed = 0);
    /// Loads a model file; throws pqw::Error naming the file when it is not one.
    static CnnModel load(const std::string& path);
    CnnModel();
    ~CnnModel();
    CnnModel(const CnnModel&);             ///< deep copy
    CnnModel& operator=(const CnnModel&);  ///< deep copy
    CnnModel(CnnModel&&) noexcept;
    CnnModel& operator=(CnnModel&&) noexcept;

    /// Writes the model (architecture, tensors, masks, pruning history) atomically.
    void save(const std::string& path) const;
    const CnnSpec& spec() const;
    ModelCost cost() const;
    /// Parameter count of the model before any structured pruning (kept across saves).
    int64_t originalParams() const;
    int64_t originalPrunable() const;
    /// One line per layer: name, op, shape.
    std::string summary() const;

    struct Impl;
    Impl& impl();
    const Impl& impl() const;

private:
    std::unique_ptr<Impl> d_;
};

/// Trains from scratch with SGD (momentum, weight decay), one "cnn.epoch" event per epoch
/// (epoch, loss, train_accuracy, val_accuracy).
void trainCnn(CnnModel& m, const ImageTensors& data, const CnnTrainOptions& opt, JobContext& ctx);
Accuracy evaluateCnn(const CnnModel& m, const ImageTensors& data, Split split);
/// Median forward time in milliseconds for a batch of the given size (eval mode).
double measureLatencyMs(const CnnModel& m, int batch, int reps);

// ---------------------------------------------------------------------------------------
// Pruning.

enum class PruneModality { Unstructured, Structured };
/// Unstructured: Magnitude (global |w|), LayerWise, Random, Taylor (|w dL/dw|).
/// Structured: L1, L2 (filter norms), Taylor (sum over the filter of |w dL/dw|), Random.
/// Usage: ProtoQuant prototypes by how many training cells they are the nearest code of.
enum class PruneCriterion { Magnitude, LayerWise, Random, L1, L2, Taylor, Usage };
PruneModality parseModality(const std::string& s);
const char* modalityName(PruneModality m);
PruneCriterion parseCriterion(const std::string& s);
const char* criterionName(PruneCriterion c);

struct FineTuneOptions {
    int epochs = 5;        ///< fixed mode: epochs per step; patience mode: the cap
    int patience = 0;      ///< > 0: patience-based (stop after P epochs without a new best)
    double minDelta = 0.0; ///< patience mode: improvement needed to count as a new best
    double lr = 1e-3, momentum = 0.9, weightDecay = 5e-4;
    int batch = 64;
};

struct PruneOptions {
    PruneStrategy strategy = PruneStrategy::OneShot;
    double target = 0.5;
    int steps = 1;
    double firstStep = 0.5;  ///< hybrid only
    PruneModality modality = PruneModality::Unstructured;
    PruneCriterion criterion = PruneCriterion::Magnitude;
    FineTuneOptions fineTune;
    uint64_t seed = 0;
    int taylorBatches = 8;        ///< training batches averaged for Taylor gradients
    int latencyReps = 5;          ///< 0 = do not measure latency
    bool evaluateTest = true;
};

/// Prunes cumulative fraction `fraction` (of the original prunable count / of each group's
/// original channels) with the given criterion, without fine-tuning. For structured pruning
/// the removed channels are gone from the tensors afterwards. data may be null unless the
/// criterion is Taylor.
void pruneTo(CnnModel& m, double fraction, PruneModality mod, PruneCriterion crit, const ImageTensors* data,
             uint64_t seed = 0, int taylorBatches = 8);

/// Fine-tunes with a fresh SGD, masks re-applied after every step, best-validation weights
/// restored at the end. Emits one "prune.epoch" event per epoch (epoch, loss, train_accuracy,
/// val_accuracy, best_val, pruned_val_accuracy = validation top-1 right after pruning, before
/// any fine-tuning). Returns the epochs spent.
int fineTune(CnnModel& m, const ImageTensors& data, const FineTuneOptions& opt, uint64_t seed, JobContext& ctx);

// ---------------------------------------------------------------------------------------
// Model kinds. Every kind is pruned by the same schedule runner through this interface.

enum class PruneModelKind {
    Cnn,                 ///< the CNN family on images (CnnModel)
    FeatureHead,         ///< a CnnModel of arch feature-mlp / feature-conv on a feature cache
    ProtoCodebook,       ///< a ProtoModel's prototypes, removed whole by usage (structured)
    ProtoWeights,        ///< a ProtoModel's class-weight matrix (unstructured, masked)
    TorchScript          ///< a TorchScript module's conv / linear weights (unstructured, masked)
};
/// "cnn", "feature-head", "protoquant-codebook", "protoquant-weights", "torchscript".
PruneModelKind parseModelKind(const std::string& s);
const char* modelKindName(PruneModelKind k);

/// Something a schedule can prune: the model together with its data.
class Prunable {
public:
    virtual ~Prunable() = default;
    virtual PruneModelKind kind() const = 0;
    virtual ModelCost cost() const = 0;
    virtual int64_t originalParams() const = 0;
    virtual int64_t originalPrunable() const = 0;
    /// Prunes to cumulative fraction `fraction` of the original prunable count (no fine-tuning);
    /// throws pqw::Error naming what is not supported for this kind.
    virtual void pruneTo(double fraction, PruneModality mod, PruneCriterion crit, uint64_t seed, int taylorBatches) = 0;
    /// Fine-tunes (fresh optimiser, masks re-applied after every step, best-validation state
    /// restored), emitting "prune.epoch" events; returns the epochs spent.
    virtual int fineTune(const FineTuneOptions& opt, uint64_t seed, JobContext& ctx) = 0;
    virtual Accuracy evaluate(Split s) const = 0;
    /// Median forward milliseconds for this batch size; < 0 when not measurable.
    virtual double latencyMs(int batch, int reps) const = 0;
    /// Records a finished schedule in the model's history (saved with it).
    virtual void recordPruning(const PruneOptions& opt, int totalEpochs) = 0;
    /// Writes the model in its own format (.pqwcnn, .pqwh checkpoint, TorchScript), atomically.
    virtual void save(const std::string& path) const = 0;
    /// An independent deep copy (the same data).
    virtual std::unique_ptr<Prunable> clone() const = 0;
};

/// A CnnModel (CNN or feature head) with its data; `model` is pruned in place and must
/// outlive the result.
std::unique_ptr<Prunable> prunableCnn(CnnModel& model, const ImageTensors& data);
/// A ProtoQuant model on its feature cache (kind ProtoCodebook or ProtoWeights). The model
/// is copied. Codebook: evaluates the interpretable head when there is one (fine-tuning its
/// class weights, codes frozen), else the quantised model (fine-tuning the codes through the
/// frozen stage-0 head). Weights: needs the interpretable head. Fine-tuning uses Adam at
/// FineTuneOptions::lr (the head's own optimiser), momentum / weight decay unused.
std::unique_ptr<Prunable> prunableProto(const ProtoModel& model, std::shared_ptr<const FeatureCache> cache,
                                        PruneModelKind kind);
/// A TorchScript module (file) mapping data tensors [N, C, S, S] to logits [N, classes].
/// Prunable weights: parameters named `weight` with 2 or 4 dimensions. Weights that are
/// exactly zero in the file count as already pruned (a pruned module reloads with its masks).
/// Throws pqw::Error naming the file when it cannot be loaded or does not fit the data.
std::unique_ptr<Prunable> prunableTorchScript(const std::string& path, const ImageTensors& data);
/// The pruned model inside a Prunable made by prunableProto (nullptr for other kinds).
const ProtoModel* prunedProtoModel(const Prunable& p);

/// Runs a whole schedule on any kind (see the CnnModel overload below for the events; every
/// prune.step event also carries texts["model_kind"]).
std::vector<Event> pruneModel(Prunable& m, const PruneOptions& opt, JobContext& ctx);

/// Runs a whole schedule: step 0 is the unpruned model (measured, not fine-tuned), then for
/// each step prune -> fine-tune -> measure. Emits one "prune.step" event per step (values:
/// step, step_fraction, target_fraction, sparsity_prunable, sparsity_all, channel_sparsity,
/// params, nonzero_params, channels, macs,
/// latency_b1_ms, latency_b64_ms, val_top1, val_top5, test_top1, test_top5, epochs,
/// total_epochs) and returns them.
std::vector<Event> pruneModel(CnnModel& m, const ImageTensors& data, const PruneOptions& opt, JobContext& ctx);

// ---------------------------------------------------------------------------------------
// Sweeps (see docs/pruning.md for the JSON grid and the log format).

struct SweepRun {
    std::string id;  ///< stable id from the settings ("one-shot_t0.9_n1_magnitude_fixed5_s0_unstructured")
    PruneOptions options;
};

struct SweepSpec {
    PruneModelKind kind = PruneModelKind::Cnn;  ///< JSON model.kind
    std::string features;   ///< feature cache folder (feature-head, protoquant-*, optional torchscript)
    DatasetSpec dataset;
    CnnSpec model;
    CnnTrainOptions pretrain;
    std::string modelPath;  ///< optional: start from this model instead of training one
                            ///< (required for protoquant-* and torchscript)
    std::vector<SweepRun> runs;
    std::string json;       ///< the normalised spec text (saved beside the log)
};

/// Parses a sweep JSON grid; throws pqw::Error naming the file / key on bad input.
SweepSpec parseSweep(const std::string& jsonText, const std::string& origin = "sweep");

struct SweepStatus {
    size_t total = 0, skipped = 0, finished = 0;
};

/// Runs the sweep into dir (creates it): sweep.json, base_model.pqwcnn, log.jsonl
/// (append-only, one event per line, fsync per line), summary.csv (rewritten atomically
/// after each run). Runs whose "run.done" line is in the log are skipped. Cancellation
/// leaves every finished run intact. Events are forwarded to ctx with texts["run"] set.
SweepStatus runSweep(const SweepSpec& spec, const std::string& dir, JobContext& ctx);

/// One parsed log line.
struct SweepLogEntry {
    std::string run;
    int attempt = 0;
    Event event;
};
/// Reads log.jsonl, ignoring a partial last line. Returns every complete line.
std::vector<SweepLogEntry> readSweepLog(const std::string& path);
/// The "prune.step" / "run.done" entries of finished runs only (their last attempt).
std::vector<SweepLogEntry> finishedRunEntries(const std::vector<SweepLogEntry>& log);
/// The CSV summary of finished runs (one row per run: settings + final step's numbers).
std::string sweepSummaryCsv(const std::vector<SweepLogEntry>& log);

/// Writes accuracy-vs-sparsity and accuracy-vs-total-epochs plots (PNG and SVG) and
/// summary.csv / summary.md into outDir from a sweep folder. Returns the files written.
std::vector<std::string> writeSweepReport(const std::string& sweepDir, const std::string& outDir);

}  // namespace pqw
