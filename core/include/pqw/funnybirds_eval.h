#pragma once
// The part-based evaluation of explanations on funnybirds (after the FunnyBirds protocols of
// Hesse et al., ICCV 2023; docs/omenn.md, "Part-based evaluation"). Torch-free: the model and
// the explanation methods are callbacks, so every protocol is checked on hand-made models;
// explainerCallbacks() adapts a real pqw::Explainer.
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pqw/funnybirds.h"
#include "pqw/job.h"
#include "pqw/omenn.h"

namespace pqw {
class Dataset;
struct PrototypeInfo;
}

namespace pqw::funnybirds {

/// One image the evaluation shows a model: the RGB pixels (CV_8UC3, size x size) and, for
/// hand-made test models only, the intervention that drew them. Real models read rgb alone.
struct View {
    cv::Mat rgb;
    size_t image = 0;         ///< index into the evaluated images
    uint32_t removed = 0;     ///< partBit mask of the removed parts
    bool swapped = false;     ///< drawn on another background
};
/// n views -> n x outputs logits (row-major).
using ImageModel = std::function<std::vector<float>(const std::vector<View>& views)>;
/// An attribution map of one view for one class; any resolution (the part map is resized to
/// it by nearest neighbour).
struct Map {
    int height = 0, width = 0;
    std::vector<float> values;
};
using ImageExplainer = std::function<Map(const View& view, int target)>;

struct Method {
    std::string name;
    ImageExplainer explain;
};

struct EvalOptions {
    int size = 0;  ///< render size (0 = 224)
    /// Importance thresholds t: a part is "important" when its importance exceeds t times the
    /// map's total (as FunnyBirds). Protocols that use them average over the thresholds.
    std::vector<double> thresholds = {0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5};
    uint64_t swapSeed = 0x5eed;  ///< seed of the swapped backgrounds
};

/// Mean and standard deviation over images (NaN values left out; n counts the rest).
struct Stat {
    double mean = std::numeric_limits<double>::quiet_NaN();
    double std = std::numeric_limits<double>::quiet_NaN();
    int n = 0;
};
Stat statOf(const std::vector<double>& v);

struct MethodResult {
    std::string method;
    /// single_deletion, csdc, preservation, deletion, target_sensitivity, background_share
    std::map<std::string, Stat> metrics;
};
struct EvalReport {
    Stat accuracy;          ///< prediction == class over the images
    Stat swapKept;          ///< prediction unchanged when the background is swapped
    Stat swapDrop;          ///< explained logit minus its value on the swapped background
    Stat backgroundIndependence;  ///< FunnyBirds' score: 1 - share of images whose logit drops by >= 5 % on the swap
    Stat backgroundPixels;  ///< share of the pixels that are background: what a uniform map's background_share is
    std::vector<MethodResult> methods;
};

/// Sum of the map over each part id's pixels (index = part id; 0 = background). The part map
/// is resized to the map's resolution by nearest neighbour.
std::array<double, kPartIds> partImportance(const Map& map, const cv::Mat& parts);
/// 0.5 * Spearman(importance, drop) + 0.5 over the five slots; NaN when either is constant.
double singleDeletionScore(const std::array<double, kSlots>& importance, const std::array<double, kSlots>& drop);
/// The slots whose importance exceeds t * total (bit s = slot s).
uint32_t importantSlots(const std::array<double, kPartIds>& importance, double total, double t);

/// Runs every protocol for every method over the images (drawn at opt.size from their
/// parameters). The explained class is the image's class for single deletion and CSDC (the
/// latter on correctly classified images only, as FunnyBirds), the prediction for the
/// preservation and deletion checks.
EvalReport evaluate(const ImageModel& model, int outputs, const std::vector<Method>& methods,
                    const std::vector<BirdParams>& images, const EvalOptions& opt, JobContext& ctx);

/// The names explainerCallbacks() knows: "omenn" (C = C_w + C_b, summing to the logit),
/// "omenn-cw" (C_w alone), "gxi", "ig", "saliency", "smoothgrad", "gradcam", "occlusion",
/// and "protoquant" (interpretable head only: each prototype's box weighted by its score).
std::vector<std::string> methodNames();
/// A real model: images preprocessed for the backbone at the head's input size (straight
/// resize; a centre-cropping preprocessing would misalign the part maps); maps at that size.
/// The backbone must outlive the callbacks.
ImageModel modelOf(const Explainer& e, const Backbone& bb);
/// The methods by name; "protoquant" needs the head's model. Unknown names throw pqw::Error
/// listing the known ones.
std::vector<Method> methodsOf(const Explainer& e, const Backbone& bb, const std::vector<std::string>& names,
                              const ProtoModel* model = nullptr, const ExplainOptions& eo = {});

/// ProtoQuant part purity on funnybirds: for each prototype with patches, the largest
/// fraction of its top training patches whose box centre lies on one and the same part
/// (body ... wings; background counts for none); the mean over prototypes, and the share of
/// patch centres on the background. `inputSize`: the size the boxes are in.
struct Purity {
    double purity = std::numeric_limits<double>::quiet_NaN();
    double onBackground = std::numeric_limits<double>::quiet_NaN();
    int prototypes = 0;
    std::map<std::string, int> dominantPart;  ///< part name -> prototypes it dominates
};
Purity partPurity(const std::vector<PrototypeInfo>& index, const Dataset& ds, int inputSize);

}  // namespace pqw::funnybirds
