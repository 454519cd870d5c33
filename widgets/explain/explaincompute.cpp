#include "explain/explaincompute.h"

#include <QElapsedTimer>

#include <algorithm>
#include <random>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/job.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"
#include "pqw/recorded_backbone.h"

namespace pqwgui {

namespace {
int argmax(const std::vector<float>& v) { return v.empty() ? 0 : int(std::max_element(v.begin(), v.end()) - v.begin()); }
}  // namespace

std::shared_ptr<const pqw::Explainer> ExplainModels::get(PaneHead h) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& e = explainers_[int(h)];
    if (e) return e;
    if (!backbone || backbone->id() != model->backboneId() || backbone->spec().preprocess != model->backboneSpec().preprocess)
        backbone = std::make_shared<const pqw::Backbone>(
            pqw::openRecordedBackbone(model->backboneSpec(), model->backboneId(), "the head"));
    if (h == PaneHead::Compare) {
        if (!comparison) throw pqw::Error("no checkpoint is loaded for comparison");
        e = std::make_shared<const pqw::Explainer>(pqw::Explainer::fromModel(
            *comparison, *backbone, comparisonHasHead ? pqw::ExplainHead::Interpretable : pqw::ExplainHead::Stage0));
        return e;
    }
    e = std::make_shared<const pqw::Explainer>(pqw::Explainer::fromModel(
        *model, *backbone, h == PaneHead::Probe ? pqw::ExplainHead::Stage0 : pqw::ExplainHead::Interpretable));
    return e;
}

std::vector<float> ExplainModels::input(const cv::Mat& rgb) {
    std::shared_ptr<const pqw::Backbone> bb;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        bb = backbone;
    }
    const auto pp = bb->preprocess(model->inputSize());
    std::vector<float> x(size_t(3) * pp.size * pp.size);
    pqw::preprocessImage(rgb, pp, x.data());
    return x;
}

std::shared_ptr<const MapResult> computeMap(ExplainModels& m, const cv::Mat& rgb, const PaneSpec& p,
                                            const pqw::ExplainOptions& opt, pqw::JobContext& ctx) {
    QElapsedTimer clock;
    clock.start();
    ctx.progress(0.05, "building the explainer");
    const auto e = m.get(p.head);
    const auto x = m.input(rgb);
    const int size = m.model->inputSize();
    auto r = std::make_shared<MapResult>();
    r->method = p.method;
    r->logits = e->logits(x.data(), 1, size);
    r->predicted = argmax(r->logits);
    pqw::Target t;
    t.index = p.target < 0 ? r->predicted : p.target;
    t.contrast = p.contrast == t.index ? -1 : p.contrast;
    r->target = t.index;
    r->contrast = t.contrast;
    ctx.progress(0.2, pqw::methodName(p.method));
    pqw::ExplainOptions o = opt;
    o.cancel = &ctx;  // a running map stops at its next batch when cancelled
    r->attr = pqw::explain(*e, p.method, x.data(), size, t, o);  // perChannel kept: the .npy export
    r->seconds = clock.elapsed() / 1000.0;
    ctx.throwIfCancelled();
    return r;
}

std::shared_ptr<const DecompositionResult> computeDecomposition(ExplainModels& m, const cv::Mat& rgb, int cls,
                                                                pqw::JobContext& ctx) {
    const auto e = m.get(PaneHead::ProtoQuant);
    const auto x = m.input(rgb);
    const int size = m.model->inputSize();
    auto r = std::make_shared<DecompositionResult>();
    r->logits = e->logits(x.data(), 1, size);
    const int c = cls < 0 ? argmax(r->logits) : cls;
    ctx.progress(0.1, "prototype shares and their pixel maps");
    // Pixel maps for the bars shown (the top shares); one backward pass each.
    r->maps = kDecompositionBars;
    pqw::ExplainOptions o;
    o.cancel = &ctx;
    r->decision = pqw::explainDecision(*e, x.data(), size, c, r->maps, o);
    r->maps = std::min<int>(r->maps, int(r->decision.shares.size()));
    for (auto& s : r->decision.shares) {
        s.map.perChannel.clear();
        s.map.perChannel.shrink_to_fit();
    }
    ctx.throwIfCancelled();
    return r;
}

std::shared_ptr<const AllClassesResult> computeAllClasses(ExplainModels& m, const cv::Mat& rgb, PaneHead h,
                                                          pqw::JobContext& ctx) {
    const auto e = m.get(h);
    const auto x = m.input(rgb);
    const int size = m.model->inputSize();
    auto r = std::make_shared<AllClassesResult>();
    r->logits = e->logits(x.data(), 1, size);
    ctx.progress(0.1, "one backward pass per class");
    pqw::ExplainOptions o;
    o.cancel = &ctx;
    r->rows = pqw::explainAllClasses(*e, x.data(), size, o);
    for (auto& a : r->rows) {
        a.perChannel.clear();
        a.perChannel.shrink_to_fit();
    }
    ctx.throwIfCancelled();
    return r;
}

std::shared_ptr<const CurvesResult> computeCurves(ExplainModels& m, const cv::Mat& rgb, PaneHead h, const std::vector<float>& map,
                                                  int cls, pqw::JobContext& ctx) {
    const auto e = m.get(h);
    const auto x = m.input(rgb);
    const int size = m.model->inputSize();
    const auto f = pqw::batchModel(*e, size);
    pqw::ImageGeometry g;
    g.height = g.width = size;
    pqw::FaithfulnessOptions fo;
    fo.cell = std::max(2, size / 14);
    auto r = std::make_shared<CurvesResult>();
    r->cls = cls;
    const int outputs = e->numOutputs();
    r->deletion = pqw::deletionCurve(f, outputs, x.data(), g, cls, map, fo, false);
    ctx.progress(0.5, "insertion");
    ctx.throwIfCancelled();
    r->insertion = pqw::deletionCurve(f, outputs, x.data(), g, cls, map, fo, true);
    r->deletionAuc = pqw::trapezoidAuc(r->deletion);
    r->insertionAuc = pqw::trapezoidAuc(r->insertion);
    return r;
}

std::shared_ptr<const TableResult> computeTable(ExplainModels& m, const std::shared_ptr<const pqw::Dataset>& ds,
                                                const std::vector<pqw::Method>& methods, int images,
                                                const pqw::ExplainOptions& opt, int sanityImages, pqw::JobContext& ctx) {
    const auto e = m.get(m.model->hasHead() ? PaneHead::ProtoQuant : PaneHead::Probe);
    auto ids = ds->indices(pqw::Split::Test);
    if (ids.empty()) ids = ds->indices(pqw::Split::Val);
    if (ids.empty()) throw pqw::Error("the dataset has no test or validation images");
    std::mt19937_64 rng(0);  // the same seeded sample as `pqw faithfulness --seed 0`
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.resize(std::min(ids.size(), size_t(images)));
    const int size = m.model->inputSize();
    std::vector<std::vector<float>> xs;
    std::vector<int> targets;
    for (size_t id : ids) {
        ctx.throwIfCancelled();
        xs.push_back(m.input(ds->loadImage(id)));
        targets.push_back(argmax(e->logits(xs.back().data(), 1, size)));
    }
    pqw::FaithfulnessOptions fo;
    fo.cell = std::max(2, size / 14);
    auto r = std::make_shared<TableResult>();
    r->images = int(xs.size());
    r->rows = pqw::faithfulnessTable(*e, methods, xs, targets, size, opt, fo, std::min(sanityImages, int(xs.size())), ctx);
    return r;
}

}  // namespace pqwgui
