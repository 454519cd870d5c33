#pragma once
// Checks shared by every training entry point (issue 17): which stages a list names, and
// that the features to train on are finite.
#include <string>

namespace pqw {

class FeatureCache;

/// Which training stages a list names ("0,1,2", "1b", "2"): a comma-separated list of the
/// known names 0, 1, 1b, 2 (spaces allowed, each at most once). Anything else, an empty list
/// or a repeated name is a pqw::Error naming the entry ("'10' is not a stage; ...").
struct TrainStages {
    bool stage0 = false, stage1 = false, stage1b = false, stage2 = false;
};
TrainStages parseTrainStages(const std::string& list);

/// Throws pqw::Error naming features.f16 and the first sample when a training or validation
/// sample holds NaN or Inf (training on them ends in a NaN model). Every training stage calls
/// it (an fp16 exponent scan at memory speed).
void requireFiniteFeatures(const FeatureCache& cache);

}  // namespace pqw
