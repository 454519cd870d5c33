#pragma once
// A sweep run's pruned model against the dense base model on one test image: the sweep's
// data decoded once, the base model loaded, the run's pruned model rebuilt from it with the
// run's settings (the same seeds: the model the run logged), both explained with one method.
// What the Pruning view's "Dense vs pruned" tab shows. Torch-free header.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pqw/cnn.h"
#include "pqw/dataset.h"
#include "pqw/job.h"
#include "pqw/omenn.h"
#include "pqw/prune.h"

namespace pqw {

/// A sweep folder's data and models, kept between comparisons. Copies share the decoded data
/// and the models (shared_ptr to const), so a job can fill a copy and hand it back.
struct SweepModels {
    std::string datasetKey, dir;
    std::shared_ptr<const Dataset> dataset;
    std::shared_ptr<const ImageTensors> data;
    std::shared_ptr<const CnnModel> base;
    std::map<std::string, std::shared_ptr<const CnnModel>> pruned;  ///< by run id
    std::map<std::string, double> rebuiltTest;                     ///< rebuilt model's test top-1

    /// Loads what run `runId` of the sweep in dir needs (the data unless the same dataset is
    /// loaded, the base model unless it is this folder's) and rebuilds its pruned model once.
    /// Returns the run's settings. Throws pqw::Error when the run is not in dir's grid.
    PruneOptions prepare(const std::string& dir, const std::string& runId, JobContext& ctx);
};

struct DensePrunedComparison {
    Attribution dense, pruned;  ///< the same method and target (the dense model's prediction)
    int label = 0;              ///< the image's true class
    int denseClass = 0, prunedClass = 0;
    std::vector<std::string> classNames;
    cv::Mat rgb;                ///< the image, RGB 8-bit, resized to side x side
    ModelCost denseCost, prunedCost;
    int64_t originalPrunable = 0;
    double rebuiltTestTop1 = 0;  ///< the rebuilt pruned model's test top-1
    std::string runInWords;      ///< sweepRunInWords of the run's settings
    size_t testImages = 0;       ///< images in the sweep's test split
};

/// Explains test image `image` (0-based) of the sweep in dir with method m on the dense base
/// model and on run runId's pruned model (models.prepare first). Throws pqw::Error when the
/// image does not exist.
DensePrunedComparison compareDenseAndPruned(SweepModels& models, const std::string& dir, const std::string& runId,
                                            size_t image, Method m, int side, JobContext& ctx);

}  // namespace pqw
