// Pruning schedules, patience logic and option names (torch-free).
#include <cmath>

#include "pqw/error.h"
#include "pqw/pruning.h"

namespace pqw {

PruneStrategy parseStrategy(const std::string& s) {
    if (s == "one-shot" || s == "oneshot") return PruneStrategy::OneShot;
    if (s == "iterative" || s == "iterative-constant") return PruneStrategy::Iterative;
    if (s == "iterative-geometric" || s == "geometric") return PruneStrategy::IterativeGeometric;
    if (s == "hybrid") return PruneStrategy::Hybrid;
    throw Error("unknown pruning strategy '" + s + "' (one-shot, iterative, iterative-geometric, hybrid)");
}

const char* strategyName(PruneStrategy s) {
    switch (s) {
    case PruneStrategy::OneShot: return "one-shot";
    case PruneStrategy::Iterative: return "iterative";
    case PruneStrategy::IterativeGeometric: return "iterative-geometric";
    case PruneStrategy::Hybrid: return "hybrid";
    }
    return "?";
}

PruneModality parseModality(const std::string& s) {
    if (s == "unstructured") return PruneModality::Unstructured;
    if (s == "structured") return PruneModality::Structured;
    throw Error("unknown pruning modality '" + s + "' (unstructured, structured)");
}
const char* modalityName(PruneModality m) { return m == PruneModality::Structured ? "structured" : "unstructured"; }

PruneCriterion parseCriterion(const std::string& s) {
    if (s == "magnitude" || s == "global") return PruneCriterion::Magnitude;
    if (s == "layerwise" || s == "layer-wise") return PruneCriterion::LayerWise;
    if (s == "random") return PruneCriterion::Random;
    if (s == "l1") return PruneCriterion::L1;
    if (s == "l2") return PruneCriterion::L2;
    if (s == "taylor") return PruneCriterion::Taylor;
    if (s == "usage") return PruneCriterion::Usage;
    throw Error("unknown pruning criterion '" + s + "' (magnitude, layerwise, random, l1, l2, taylor, usage)");
}
const char* criterionName(PruneCriterion c) {
    switch (c) {
    case PruneCriterion::Magnitude: return "magnitude";
    case PruneCriterion::LayerWise: return "layerwise";
    case PruneCriterion::Random: return "random";
    case PruneCriterion::L1: return "l1";
    case PruneCriterion::L2: return "l2";
    case PruneCriterion::Taylor: return "taylor";
    case PruneCriterion::Usage: return "usage";
    }
    return "?";
}

PruneModelKind parseModelKind(const std::string& s) {
    if (s == "cnn") return PruneModelKind::Cnn;
    if (s == "feature-head") return PruneModelKind::FeatureHead;
    if (s == "protoquant-codebook") return PruneModelKind::ProtoCodebook;
    if (s == "protoquant-weights") return PruneModelKind::ProtoWeights;
    if (s == "torchscript") return PruneModelKind::TorchScript;
    throw Error("unknown model kind '" + s +
                "' (cnn, feature-head, protoquant-codebook, protoquant-weights, torchscript)");
}
const char* modelKindName(PruneModelKind k) {
    switch (k) {
    case PruneModelKind::Cnn: return "cnn";
    case PruneModelKind::FeatureHead: return "feature-head";
    case PruneModelKind::ProtoCodebook: return "protoquant-codebook";
    case PruneModelKind::ProtoWeights: return "protoquant-weights";
    case PruneModelKind::TorchScript: return "torchscript";
    }
    return "?";
}

std::vector<double> geometricSteps(double p, int n) {
    if (!(p > 0.0 && p < 1.0)) throw Error("target sparsity must be in (0, 1), got " + std::to_string(p));
    if (n < 1) throw Error("number of steps must be at least 1");
    const double r = 1.0 - std::pow(1.0 - p, 1.0 / n);
    std::vector<double> out;
    for (int k = 1; k <= n; ++k) out.push_back(r * std::pow(1.0 - r, k - 1));
    return out;
}

std::vector<double> pruneSchedule(PruneStrategy s, double p, int n, double s0) {
    if (!(p > 0.0 && p < 1.0)) throw Error("target sparsity must be in (0, 1), got " + std::to_string(p));
    if (n < 1) throw Error("number of steps must be at least 1");
    switch (s) {
    case PruneStrategy::OneShot: return {p};
    case PruneStrategy::Iterative: return std::vector<double>(size_t(n), p / n);
    case PruneStrategy::IterativeGeometric: return geometricSteps(p, n);
    case PruneStrategy::Hybrid: {
        if (!(s0 > 0.0 && s0 < p))
            throw Error("hybrid: the first step must be in (0, target), got " + std::to_string(s0));
        std::vector<double> out{s0};
        for (double v : geometricSteps(p - s0, n)) out.push_back(v);
        return out;
    }
    }
    return {};
}

EarlyStopper::EarlyStopper(int patience, double minDelta, int maxEpochs)
    : patience_(patience), maxEpochs_(maxEpochs), minDelta_(minDelta) {}

bool EarlyStopper::observe(double acc) {
    const int epoch = calls_++;
    if (epoch == 0 || acc > best_ + minDelta_) {
        best_ = acc;
        bestEpoch_ = epoch;
        sinceBest_ = 0;
        return true;
    }
    ++sinceBest_;
    return false;
}

bool EarlyStopper::shouldStop() const {
    if (epochs() >= maxEpochs_) return true;
    return patience_ > 0 && sinceBest_ >= patience_;
}

}  // namespace pqw
