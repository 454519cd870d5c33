#pragma once
// What the Explain engine's jobs run on the worker thread: the explainable models (explainers
// built lazily by the first job that needs one and shared by later jobs) and one function per
// result kind. Nothing here touches a widget or the GUI thread's state.
#include <QList>

#include <memory>
#include <mutex>
#include <vector>

#include <opencv2/core.hpp>

#include "explain/explaintypes.h"

namespace pqw {
class Backbone;
class Dataset;
class ProtoModel;
class JobContext;
}  // namespace pqw

namespace pqwgui {

/// The explainable models, shared with the jobs.
struct ExplainModels {
    std::shared_ptr<const pqw::ProtoModel> model;
    std::shared_ptr<const pqw::Backbone> backbone;
    std::shared_ptr<const pqw::Dataset> dataset;
    std::shared_ptr<const pqw::ProtoModel> comparison;  ///< the Compare head's checkpoint
    bool comparisonHasHead = false;

    /// The explainer of a head, built on first use (on the worker thread).
    std::shared_ptr<const pqw::Explainer> get(PaneHead h);
    /// The image preprocessed as the model's backbone does (3 x size x size floats).
    std::vector<float> input(const cv::Mat& rgb);

private:
    std::mutex mutex_;
    std::shared_ptr<const pqw::Explainer> explainers_[3];
};

/// The bars the Decomposition panel draws: their shares get pixel maps.
constexpr int kDecompositionBars = 10;

std::shared_ptr<const MapResult> computeMap(ExplainModels& m, const cv::Mat& rgb, const PaneSpec& p,
                                            const pqw::ExplainOptions& opt, pqw::JobContext& ctx);
std::shared_ptr<const DecompositionResult> computeDecomposition(ExplainModels& m, const cv::Mat& rgb, int cls,
                                                                pqw::JobContext& ctx);
std::shared_ptr<const AllClassesResult> computeAllClasses(ExplainModels& m, const cv::Mat& rgb, PaneHead h,
                                                          pqw::JobContext& ctx);
/// Deletion and insertion curves of `map` for class cls.
std::shared_ptr<const CurvesResult> computeCurves(ExplainModels& m, const cv::Mat& rgb, PaneHead h, const std::vector<float>& map,
                                                  int cls, pqw::JobContext& ctx);
/// The dataset table over `images` seeded test images (validation if no test split).
std::shared_ptr<const TableResult> computeTable(ExplainModels& m, const std::shared_ptr<const pqw::Dataset>& ds,
                                                const std::vector<pqw::Method>& methods, int images,
                                                const pqw::ExplainOptions& opt, int sanityImages, pqw::JobContext& ctx);

}  // namespace pqwgui
