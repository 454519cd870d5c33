// A sweep run against its dense base model on one image (pqw/sweep_compare.h).
#include "pqw/sweep_compare.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "pqw/error.h"
#include "pqw/prune.h"
#include "pqw/sweep.h"
#include "pqw/util.h"

namespace pqw {

namespace {

/// Identifies the images a sweep trains on.
std::string datasetKeyOf(const DatasetSpec& d) {
    return d.kind + "|" + d.path + "|" + std::to_string(d.valFraction) + "|" + std::to_string(d.seed) + "|" +
           std::to_string(d.maxTrain) + "|" + std::to_string(d.maxTest) + "|" + (d.cubCrop ? "crop" : "");
}

}  // namespace

PruneOptions SweepModels::prepare(const std::string& dir_, const std::string& run, JobContext& ctx) {
    const auto spec = parseSweep(readFile(dir_ + "/sweep.json"), dir_ + "/sweep.json");
    const SweepRun* sr = nullptr;
    for (const auto& r : spec.runs)
        if (r.id == run) sr = &r;
    if (!sr) throw Error("run " + run + " is not in " + dir_ + "/sweep.json's grid");
    const std::string dsKey = datasetKeyOf(spec.dataset);
    if (datasetKey != dsKey || !data) {
        ctx.progress(0.02, "loading the sweep's images");
        auto ds = std::make_shared<Dataset>(Dataset::open(spec.dataset));
        data = std::make_shared<ImageTensors>(ImageTensors::fromDataset(*ds));
        dataset = ds;
        datasetKey = dsKey;
    }
    if (dir != dir_ || !base) {
        base = std::make_shared<CnnModel>(CnnModel::load(dir_ + "/base_model.pqwcnn"));
        pruned.clear();
        rebuiltTest.clear();
        dir = dir_;
    }
    ctx.throwIfCancelled();
    if (!pruned.count(run)) {
        ctx.progress(0.05, "rebuilding the pruned model of " + run);
        auto m = std::make_shared<CnnModel>(*base);
        auto opt = sr->options;
        opt.latencyReps = 0;
        pruneModel(*m, *data, opt, ctx);
        rebuiltTest[run] = evaluateCnn(*m, *data, Split::Test).top1;
        pruned[run] = m;
    }
    return sr->options;
}

DensePrunedComparison compareDenseAndPruned(SweepModels& c, const std::string& dir, const std::string& run,
                                            size_t image, Method m, int side, JobContext& ctx) {
    const PruneOptions options = c.prepare(dir, run, ctx);
    DensePrunedComparison r;
    const auto& data = *c.data;
    r.testImages = data.count(Split::Test);
    if (image >= r.testImages)
        throw Error("test image " + std::to_string(image + 1) + " does not exist (the sweep's test split has " +
                    std::to_string(r.testImages) + " images)");
    const auto x = data.input(Split::Test, image, &r.label);
    r.rgb = c.dataset->loadImage(c.dataset->indices(Split::Test)[image]);
    cv::resize(r.rgb, r.rgb, cv::Size(side, side), 0, 0, r.rgb.cols < side ? cv::INTER_NEAREST : cv::INTER_AREA);
    r.classNames = c.dataset->classNames();
    const auto& prunedModel = *c.pruned.at(run);
    const auto dense = Explainer::fromCnn(*c.base, r.classNames);
    const auto pruned = Explainer::fromCnn(prunedModel, r.classNames);
    const int S = data.inputSize();
    const auto zd = dense.logits(x.data(), 1, S), zp = pruned.logits(x.data(), 1, S);
    r.denseClass = int(std::max_element(zd.begin(), zd.end()) - zd.begin());
    r.prunedClass = int(std::max_element(zp.begin(), zp.end()) - zp.begin());
    Target t;
    t.index = r.denseClass;  // both explain the dense model's prediction
    ctx.progress(0.8, "explaining");
    ExplainOptions eo;
    eo.cancel = &ctx;
    r.dense = explain(dense, m, x.data(), S, t, eo);
    r.pruned = explain(pruned, m, x.data(), S, t, eo);
    r.denseCost = c.base->cost();
    r.prunedCost = prunedModel.cost();
    r.originalPrunable = c.base->originalPrunable();
    r.rebuiltTestTop1 = c.rebuiltTest.at(run);
    r.runInWords = sweepRunInWords(options);
    return r;
}

}  // namespace pqw
