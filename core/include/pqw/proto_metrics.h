#pragma once
// Interpretability figures of a prototype head (docs/protoquant.md): local and global size,
// accuracy when each class keeps only its top-k prototypes, stability of the top prototypes
// under small perturbations of the image (the "prototype drift" ProtoQuant exists to
// remove), and part purity where CUB part annotations exist.
#include <cstdint>
#include <string>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"

namespace pqw {

struct SizeMetrics {
    std::vector<int> localSize;  ///< per class: prototypes with ReLU(W[c,p]) > threshold
    double localSizeMean = 0;
    int globalSize = 0;          ///< prototypes with any non-zero weight (and enabled)
};
SizeMetrics sizeMetrics(const ProtoModel& m, float threshold = 0.1f);

struct TopKPoint {
    int k = 0;
    double top1 = 0;
};
/// Test (or given split) top-1 when every class keeps only its k largest weights (other
/// weights zeroed; prototypes are not removed, so the softmax over prototypes is unchanged).
std::vector<TopKPoint> topKAccuracyCurve(const ProtoModel& m, const FeatureCache& cache, Split split,
                                         const std::vector<int>& ks, JobContext& ctx);

struct StabilityOptions {
    int samples = 50;          ///< test images, a seeded sample
    uint64_t seed = 0;
    int topPrototypes = 5;     ///< the prototypes followed per image (by score for the prediction)
    double noiseSigma = 0.05;  ///< Gaussian noise, as a fraction of the pixel range
    int shiftPixels = 4;       ///< translation in input pixels (right and down, border replicated)
    double regionFraction = 0.25;  ///< side of the perturbed square, as a fraction of the input
};

struct StabilityRow {
    std::string perturbation;    ///< "noise", "shift", "distant-region"
    size_t samples = 0;
    double presenceChange = 0;   ///< mean |pi' - pi| over the followed prototypes
    double presenceChangeStd = 0;
    double locationChange = 0;   ///< mean distance in cells between the argmax cells
    double topOverlap = 0;       ///< mean |top-m before ∩ top-m after| / m
    double predictionKept = 0;   ///< fraction of images whose prediction is unchanged
};

/// Runs the backbone on each sampled test image and its perturbations. The dataset must be
/// the one the head's features came from (same classes), the backbone the one it was
/// trained on (same id).
std::vector<StabilityRow> prototypeStability(const ProtoModel& m, const Dataset& ds, const Backbone& bb,
                                             const StabilityOptions& opt, JobContext& ctx);

/// Each prototype's own stability: over the images holding its best training patches (at
/// most imagesPerPrototype, from the prototype index), the mean change |pi_p' - pi_p| of its
/// presence under the noise and the shift perturbation of opt (averaged). Lower = more
/// stable. NaN for a prototype with no patches. Each image is observed once for all
/// prototypes.
std::vector<double> perPrototypeStability(const ProtoModel& m, const std::vector<PrototypeInfo>& index,
                                          const Dataset& ds, const Backbone& bb, const StabilityOptions& opt,
                                          int imagesPerPrototype, JobContext& ctx);

/// Part purity (CUB): for each prototype, over its top-k training patches, the largest
/// fraction of patches that contain one and the same visible part; the mean over prototypes.
/// Returns -1 when the dataset has no part annotations.
double partPurity(const std::vector<PrototypeInfo>& index, const Dataset& ds, int inputSize);

}  // namespace pqw
