#pragma once
// The stage-0 probe: global average pool -> LayerNorm(D) -> Linear(D, N), fitted with
// cross-entropy on a feature cache. Model selection uses the validation split only; the
// test split is evaluated once, at the chosen epoch.
#include <cstdint>
#include <vector>

#include "pqw/feature_cache.h"
#include "pqw/job.h"

namespace pqw {

struct ProbeOptions {
    int epochs = 15;
    int batchSize = 256;
    double lr = 3e-3;
    double weightDecay = 1e-4;
    bool layerNorm = true;
    uint64_t seed = 0;
};

struct ProbeResult {
    double trainAccuracy = 0;  ///< at the chosen epoch
    double valAccuracy = 0;    ///< best over epochs (selects the epoch)
    double testAccuracy = 0;   ///< at the chosen epoch
    int bestEpoch = 0;         ///< 1-based
    std::vector<double> valHistory;
    std::vector<double> lossHistory;
};

/// Fits the probe; emits "probe.epoch" events (epoch, loss, train_accuracy, val_accuracy)
/// and honours cancellation between batches.
ProbeResult trainProbe(const FeatureCache& cache, const ProbeOptions& opt, JobContext& ctx);

}  // namespace pqw
