#pragma once
// Frozen feature extractors ("trunks"): a TensorFlow.js Keras layers-model built from the
// project's own layer modules (so gates can be recorded and channels pruned later), or a
// TorchScript module. Torch-free interface; see core/src/nn/ for the implementation.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pqw/preprocess.h"

namespace pqw {

struct LayerInfo {
    std::string name;
    std::string type;                  ///< Keras class name ("Conv2D", ...) or "TorchScript"
    std::vector<std::string> inputs;   ///< names of the layers feeding this one
    std::vector<int64_t> outputShape;  ///< C, H, W (or features) at the probed input size
    int64_t parameters = 0;
};

struct BackboneSpec {
    /// "default" (MobileNetV2 from nsfwjs), "tfjs" (a folder or model.json),
    /// "torchscript" (a .pt file whose forward returns the feature map).
    std::string kind = "default";
    std::string path;
    /// Layer whose output is the feature map; empty = the model's default
    /// ("block_10_project_BN" for the default backbone, the last layer otherwise).
    std::string cutLayer;
    /// Replace every weight by a seeded random initialisation (BatchNorm statistics set to
    /// identity): the same architecture without the pretrained information.
    bool randomWeights = false;
    uint64_t randomSeed = 0;
    /// The user's preprocessing (mean / std / resize + centre crop, torchvision's resampling);
    /// unset: the kind's default (TFJS: RGB in [0, 1]; TorchScript and .pth: ImageNet mean /
    /// std), resized straight to the input size with OpenCV. Recorded with the features and
    /// the heads made from them; a head and features with different ones do not fit.
    std::optional<InputPreprocessing> preprocess;
};

/// "default preprocessing of <kind>" or InputPreprocessing::describe().
std::string describePreprocessing(const BackboneSpec& spec);
/// The preprocessing a backbone opened from spec applies at inputSize (Backbone::preprocess
/// without opening it: the user's choice, else the kind's default).
Preprocess preprocessFor(const BackboneSpec& spec, int inputSize);

class Backbone {
public:
    /// Loads a backbone; throws pqw::Error naming the file and what is wrong.
    static Backbone open(const BackboneSpec& spec);

    Backbone();
    ~Backbone();
    Backbone(Backbone&&) noexcept;
    Backbone& operator=(Backbone&&) noexcept;

    const BackboneSpec& spec() const;
    /// A stable identifier: kind, a hash of the architecture and weights, the cut layer.
    const std::string& id() const;
    const std::string& cutLayer() const;
    /// Every layer the model has (up to and including the cut for TFJS models), with output
    /// shapes computed at inputSize.
    std::vector<LayerInfo> layers(int inputSize = 224) const;
    /// The preprocessing this model expects at a given input size (TFJS default: RGB in [0,1]).
    Preprocess preprocess(int inputSize) const;
    /// Feature map shape C, H, W at the cut for a square input of inputSize.
    std::array<int64_t, 3> featureShape(int inputSize) const;
    /// Total stride of the cut layer (input pixels per feature cell).
    int stride() const;
    /// Receptive field of one feature cell, in input pixels (side of the square).
    int receptiveField() const;
    /// Effective receptive field at this input size: the side of the smallest square, centred
    /// on the centre cell, that holds half of the input-gradient mass of that cell (over four
    /// seeded random images). Much smaller than the theoretical field (Luo et al. 2016); it is
    /// the box the workbench draws for a cell. Measured once per size and cached.
    int effectiveReceptiveField(int inputSize) const;

    /// Runs the trunk on n preprocessed images (float NCHW, 3 x size x size each) and writes
    /// n feature maps (float C x H x W each) to out. Thread-safe for concurrent callers.
    void forward(const float* input, int n, int size, float* out) const;

    struct Impl;
    /// Internal access for core (OMENN, pruning); not part of the stable API.
    Impl& impl() const { return *d_; }

private:
    std::unique_ptr<Impl> d_;
};

}  // namespace pqw
