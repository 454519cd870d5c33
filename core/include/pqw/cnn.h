#pragma once
// The pruning family's data and models: a dataset's images decoded into tensors once, the
// CNN family trained from scratch (LeNet, ResNet, classifiers on cached trunk features),
// their costs, training, evaluation and latency. Torch-free header.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pqw/dataset.h"
#include "pqw/job.h"

namespace pqw {
class FeatureCache;
}  // namespace pqw

namespace pqw {

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

}  // namespace pqw
