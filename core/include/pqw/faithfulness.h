#pragma once
// Faithfulness and sanity metrics for attribution maps (../shared/design/algorithms.md
// section 4; docs/omenn.md). Torch-free. The model is seen through a batched callback so the
// metrics can be checked on hand-made models; Explainer::batchModel() adapts a real one.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pqw/job.h"
#include "pqw/omenn.h"

namespace pqw {

/// n images (channels x height x width floats each, contiguous) -> n x outputs logits.
using BatchModel = std::function<std::vector<float>(const float* x, int n)>;

struct ImageGeometry {
    int channels = 3, height = 0, width = 0;
    size_t size() const { return static_cast<size_t>(channels) * height * width; }
};

struct FaithfulnessOptions {
    int cell = 8;         ///< deletion / insertion: square pixel blocks of this side
    int steps = 20;       ///< points after step 0 of the deletion / insertion / pixel-flipping curves
    int subsets = 100;    ///< faithfulness correlation: random subsets
    int subsetSize = 0;   ///< pixels per subset; 0 = 2 % of the pixels
    int batch = 32;       ///< perturbed images per model call
    uint64_t seed = 0;
};

/// Area under y sampled at equally spaced points of [0, 1] (trapezoid rule).
double trapezoidAuc(const std::vector<double>& y);
/// Pearson correlation; NaN when either side is constant (or has fewer than 2 values).
double pearson(const std::vector<double>& a, const std::vector<double>& b);
/// Spearman rank correlation (average ranks for ties).
double spearman(const std::vector<double>& a, const std::vector<double>& b);

/// RISE deletion (insertion = false) or insertion curve: cells of `cell` px ordered by their
/// summed attribution (descending, stable); deletion sets them to 0, insertion copies them into
/// a Gaussian-blurred copy (kernel 11, sigma 5). Returns the softmax probability of cls after
/// each step (steps + 1 values, step 0 first).
std::vector<double> deletionCurve(const BatchModel& f, int outputs, const float* x, const ImageGeometry& g, int cls,
                                  const std::vector<float>& map, const FaithfulnessOptions& o, bool insertion);
/// Pixel flipping: pixels (all channels of a position) removed in descending attribution order,
/// set to the image minimum; the logit of cls after each step (steps + 1 values).
std::vector<double> pixelFlippingCurve(const BatchModel& f, int outputs, const float* x, const ImageGeometry& g,
                                       int cls, const std::vector<float>& map, const FaithfulnessOptions& o);
/// Faithfulness correlation: Pearson over random fixed-size pixel subsets (set to the minimum)
/// between the subset's attribution sum and the logit drop.
double faithfulnessCorrelation(const BatchModel& f, int outputs, const float* x, const ImageGeometry& g, int cls,
                               const std::vector<float>& map, const FaithfulnessOptions& o);

/// An explanation method as a function (used by the randomisation check).
using ExplainFn = std::function<Attribution(const Explainer&, const float* x, int size, const Target&)>;

struct RandomisationCheck {
    std::vector<std::string> stages;  ///< "head", "head+top-third", "head+all"
    std::vector<double> spearman;     ///< rank correlation of |map| with the original, per stage
    double threshold = 0.5;
    bool passed = false;              ///< the fully randomised map's |rho| < threshold (or the map became constant)
};
/// Adebayo's cascading model randomisation: the head, then the trunk's conv / dense layers from
/// the top are re-drawn (normal, each tensor's own std; seeded); the trunk is restored after.
RandomisationCheck randomisationCheck(const Explainer& e, const ExplainFn& method, const float* x, int size,
                                      const Target& t, uint64_t seed = 0, double threshold = 0.5);

/// Adapts an explainer to the metrics' callback (inputs of side `size`).
BatchModel batchModel(const Explainer& e, int size);

/// One row per method: mean and standard deviation of each metric over the images (NaN
/// values, e.g. a correlation with a constant map, are left out).
struct MethodScores {
    std::string method;
    int images = 0;
    std::map<std::string, std::pair<double, double>> metrics;  ///< name -> (mean, std)
};
/// Every metric for every method over the images (each 3 x size x size, explaining targets[i]).
/// The randomisation check runs on the first `sanityImages` images.
std::vector<MethodScores> faithfulnessTable(const Explainer& e, const std::vector<Method>& methods,
                                            const std::vector<std::vector<float>>& images,
                                            const std::vector<int>& targets, int size, const ExplainOptions& eo,
                                            const FaithfulnessOptions& fo, int sanityImages, JobContext& ctx);

}  // namespace pqw
