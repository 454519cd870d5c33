#pragma once
// OMENN ("one matrix explains the neural network") and attribution baselines for a model
// made of a trunk (the project's layer graph) and a head (none, the stage-0 head, or the
// ProtoQuant interpretable head). Torch-free interface; docs/omenn.md has the choices and
// ../shared/design/algorithms.md section 2 the definitions.
//
//  * Inputs are preprocessed images, float CHW [3, size, size] (what Backbone::forward eats;
//    a pruning CNN's explainer takes its own channel count, see inputChannels()).
//  * OMENN: one forward pass through the frozen linear pieces of every layer (gates recorded
//    from the values on this input) + one backward pass gives, for the explained output z,
//      z = sum(C_w) + sum(C_b)     (to float32 rounding)
//    C_w = x * (row of the frozen matrix) per input element; C_b = each layer's bias term
//    times the frozen downstream row, spread over the input cells its position covers.
//  * Baselines share the interface: image + target -> Attribution.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/job.h"
#include "pqw/protoquant.h"

namespace pqw {

class CnnModel;

/// Which head sits on the trunk. Auto: the interpretable head if trained, else stage 0.
enum class ExplainHead { Auto, None, Stage0, Interpretable };

/// A model to explain: trunk graph + head. Cheap to copy (shared state).
class Explainer {
public:
    /// The head checkpoint on its backbone. Throws pqw::Error when the backbone's id differs
    /// from the one the head was trained on, when the trunk is TorchScript (no layer graph),
    /// or when the trunk / head contains a layer OMENN does not support (named).
    static Explainer fromModel(const ProtoModel& m, const Backbone& bb, ExplainHead head = ExplainHead::Auto);
    /// A pruning-family CNN (pqw/pruning.h), dense or pruned (masks applied, removed channels
    /// gone), as a layer graph with no head: outputs are its logits, inputs are its
    /// standardised images (ImageTensors::input: inChannels x inputSize x inputSize).
    /// classNames: optional labels of the outputs. A copy: later changes to m do not show.
    static Explainer fromCnn(const CnnModel& m, const std::vector<std::string>& classNames = {});

    Explainer();
    ~Explainer();
    Explainer(const Explainer&);
    Explainer& operator=(const Explainer&);

    int numOutputs() const;      ///< classes (or the trunk's flattened outputs for ExplainHead::None)
    int numPrototypes() const;   ///< 0 unless the head is interpretable
    int inputSize() const;       ///< the input side the head was trained at (0 = any)
    int inputChannels() const;   ///< channels of an input image (3, or the CNN's inChannels)
    std::string headName() const;///< "none", "stage0", "interpretable"
    std::vector<std::string> classNames() const;

    /// Logits of n images [n, inputChannels, size, size] (row-major n x numOutputs), batched, no grad.
    std::vector<float> logits(const float* x, int n, int size) const;

    struct Impl;
    explicit Explainer(std::shared_ptr<Impl> d);
    Impl& impl() const { return *d_; }

private:
    std::shared_ptr<Impl> d_;
};

/// The explained output: a logit (optionally minus another: contrastive) or a prototype's
/// presence pi_p (interpretable head only).
struct Target {
    enum class Kind { Logit, Presence };
    Kind kind = Kind::Logit;
    int index = 0;
    int contrast = -1;  ///< >= 0: explain logit[index] - logit[contrast]
};

enum class Method { Omenn, Saliency, GradientInput, IntegratedGradients, SmoothGrad, GradCam, Occlusion };
const char* methodName(Method m);
/// "omenn", "saliency", "gxi", "ig", "smoothgrad", "gradcam", "occlusion"; false otherwise.
bool parseMethod(const std::string& s, Method& m);

struct ExplainOptions {
    int steps = 50;             ///< IG: Riemann steps (midpoint rule)
    float baseline = 0.f;       ///< IG / completeness: constant baseline input value
    int samples = 25;           ///< SmoothGrad: noisy samples
    double noise = 0.15;        ///< SmoothGrad: noise std as a fraction of (max - min) of x
    std::string layer;          ///< Grad-CAM: node name (default: the last node with a spatial output)
    int patch = 8, stride = 4;  ///< Occlusion window and step, in pixels
    float occlusionValue = 0.f; ///< Occlusion: value written into the window
    uint64_t seed = 0;          ///< SmoothGrad noise
    bool doublePrecision = false;  ///< OMENN: run the frozen pass in float64
    int batch = 16;             ///< images per batched forward (IG, SmoothGrad, occlusion)
    /// When set, polled between batches (IG, SmoothGrad, occlusion) and between the per-class
    /// and per-prototype backward passes: a cancelled job stops with pqw::Cancelled.
    const JobContext* cancel = nullptr;
};

/// One attribution map for one input and one target.
struct Attribution {
    std::string method;
    int channels = 3, height = 0, width = 0;
    /// Per input element C x H x W: OMENN's C_w, Gradient x Input, IG, |gradient| (saliency,
    /// SmoothGrad). Empty for Grad-CAM and occlusion.
    std::vector<float> perChannel;
    /// H x W map shown to users: channel sum (OMENN C_w, GxI, IG), channel max (saliency,
    /// SmoothGrad), the upsampled CAM (Grad-CAM), the mean output drop (occlusion).
    std::vector<float> map;
    /// OMENN only: bias contributions spread over the input cells (H x W).
    std::vector<float> biasMap;
    double output = 0;        ///< the explained value z on the real model
    double weightSum = 0;     ///< sum of perChannel (or of map when perChannel is empty)
    double biasSum = 0;       ///< OMENN: sum of C_b
    /// OMENN: |weightSum + biasSum - output|; IG / GxI: |weightSum - (f(x) - f(baseline))|; NaN otherwise.
    double completenessError = std::numeric_limits<double>::quiet_NaN();
    std::vector<std::pair<std::string, double>> biasByLayer;  ///< OMENN: bias share per layer (non-zero)
};

Attribution explain(const Explainer& e, Method m, const float* x, int size, const Target& t,
                    const ExplainOptions& opt = {});

/// OMENN rows for every class (small models): one backward pass per class over one frozen forward.
std::vector<Attribution> explainAllClasses(const Explainer& e, const float* x, int size, const ExplainOptions& opt = {});

/// A ProtoQuant decision, composed exactly: z_c = sum_p ReLU(W[c,p]) * pi_p, then each
/// prototype's share split over pixels (OMENN of pi_p scaled by ReLU(W[c,p])).
struct PrototypeShare {
    int prototype = 0;
    float weight = 0, presence = 0, share = 0;  ///< share = weight * presence
    Attribution map;                            ///< filled for the top `maps` shares
};
struct DecisionExplanation {
    int cls = 0;
    double logit = 0;
    std::vector<PrototypeShare> shares;  ///< share > 0, descending
};
DecisionExplanation explainDecision(const Explainer& e, const float* x, int size, int cls, int maps = 3,
                                    const ExplainOptions& opt = {});

/// OMENN over a TorchScript module file (torch::jit::freeze, then its aten ops walked; see
/// docs/omenn.md for the supported ops): output `outputIndex` of the flattened forward output
/// on one input [channels, height, width]. An unsupported op is named in the pqw::Error.
Attribution explainTorchScript(const std::string& path, const float* x, int channels, int height, int width,
                               int outputIndex);
/// The flattened forward output of a TorchScript module file on one input (no grad).
std::vector<float> torchScriptOutputs(const std::string& path, const float* x, int channels, int height, int width);

}  // namespace pqw
