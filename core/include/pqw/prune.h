#pragma once
// Pruning a model: criteria and modalities, fine-tuning, the model kinds a schedule can
// prune (pqw::Prunable) and the schedule runner (pruneModel). Torch-free header.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pqw/cnn.h"
#include "pqw/job.h"
#include "pqw/prune_schedule.h"

namespace pqw {
class FeatureCache;
class ProtoModel;
}  // namespace pqw

namespace pqw {

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

/// Continuing a schedule part-way (a sweep run resumed from its last finished step).
struct PruneResume {
    int fromStep = 0;     ///< schedule steps already done; the model is in the state after them
    int totalEpochs = 0;  ///< fine-tuning epochs those steps took
    /// Called after step k's pruning and fine-tuning, before step k is measured and emitted
    /// (a sweep saves its checkpoint here, so a logged step always has one).
    std::function<void(int step, const Prunable& m)> afterStep;
};

/// Runs a whole schedule on any kind (see the CnnModel overload below for the events; every
/// prune.step event also carries texts["model_kind"]). With resume.fromStep = k > 0, step 0..k
/// are neither redone nor emitted: the run goes on with step k+1 exactly as an uninterrupted
/// run would (each step's seeds depend only on the run's seed and the step).
std::vector<Event> pruneModel(Prunable& m, const PruneOptions& opt, JobContext& ctx,
                              const PruneResume& resume = PruneResume());

/// Runs a whole schedule: step 0 is the unpruned model (measured, not fine-tuned), then for
/// each step prune -> fine-tune -> measure. Emits one "prune.step" event per step (values:
/// step, step_fraction, target_fraction, sparsity_prunable, sparsity_all, channel_sparsity,
/// params, nonzero_params, channels, macs,
/// latency_b1_ms, latency_b64_ms, val_top1, val_top5, test_top1, test_top5, epochs,
/// total_epochs) and returns them.
std::vector<Event> pruneModel(CnnModel& m, const ImageTensors& data, const PruneOptions& opt, JobContext& ctx);

}  // namespace pqw
