// Faithfulness metrics (deletion / insertion, pixel flipping, faithfulness correlation,
// completeness) and the cascading model-randomisation sanity check.
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "omenn/explainer_impl.h"
#include "pqw/error.h"
#include "pqw/faithfulness.h"
#include "pqw/method_text.h"

namespace pqw {

double trapezoidAuc(const std::vector<double>& y) {
    if (y.size() < 2) return y.empty() ? 0.0 : y[0];
    double s = 0;
    for (size_t i = 1; i < y.size(); ++i) s += 0.5 * (y[i - 1] + y[i]);
    return s / static_cast<double>(y.size() - 1);
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
    const size_t n = std::min(a.size(), b.size());
    if (n < 2) return std::nan("");
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
    ma /= n, mb /= n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; ++i) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    if (saa <= 0 || sbb <= 0) return std::nan("");  // a constant side: undefined
    return sab / std::sqrt(saa * sbb);
}

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size();) {
        size_t j = i;
        while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
        const double avg = 0.5 * static_cast<double>(i + j);
        for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
        i = j + 1;
    }
    return r;
}

/// Runs f over images in batches; returns outputs per image.
std::vector<std::vector<float>> runBatched(const BatchModel& f, int outputs, const std::vector<float>& imgs, size_t per,
                                           int batch) {
    const size_t n = imgs.size() / per;
    std::vector<std::vector<float>> out;
    for (size_t i = 0; i < n; i += static_cast<size_t>(batch)) {
        const int b = static_cast<int>(std::min(n - i, static_cast<size_t>(batch)));
        auto z = f(imgs.data() + i * per, b);
        if (z.size() != static_cast<size_t>(b) * outputs) throw Error("metrics: model returned the wrong number of outputs");
        for (int k = 0; k < b; ++k) out.emplace_back(z.begin() + k * outputs, z.begin() + (k + 1) * outputs);
    }
    return out;
}

double softmaxAt(const std::vector<float>& z, int c) {
    const double m = *std::max_element(z.begin(), z.end());
    double s = 0;
    for (float v : z) s += std::exp(v - m);
    return std::exp(z[static_cast<size_t>(c)] - m) / s;
}

/// Positions (y * W + x) in descending order of score (stable).
std::vector<size_t> order(const std::vector<double>& score) {
    std::vector<size_t> idx(score.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
    return idx;
}

void checkMap(const std::vector<float>& map, const ImageGeometry& g) {
    if (map.size() != static_cast<size_t>(g.height) * g.width)
        throw Error("metrics: the attribution map is not height x width");
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) { return pearson(ranks(a), ranks(b)); }

std::vector<double> deletionCurve(const BatchModel& f, int outputs, const float* x, const ImageGeometry& g, int cls,
                                  const std::vector<float>& map, const FaithfulnessOptions& o, bool insertion) {
    checkMap(map, g);
    const int cs = std::max(1, o.cell);
    const int gh = (g.height + cs - 1) / cs, gw = (g.width + cs - 1) / cs;
    std::vector<double> score(static_cast<size_t>(gh) * gw, 0.0);
    for (int y = 0; y < g.height; ++y)
        for (int xx = 0; xx < g.width; ++xx) score[static_cast<size_t>((y / cs) * gw + xx / cs)] += map[static_cast<size_t>(y * g.width + xx)];
    const auto ord = order(score);
    const size_t per = g.size(), plane = static_cast<size_t>(g.height) * g.width;
    std::vector<float> start(x, x + per);
    if (insertion) {
        for (int c = 0; c < g.channels; ++c) {
            cv::Mat m(g.height, g.width, CV_32F, start.data() + c * plane);
            cv::GaussianBlur(m, m, cv::Size(11, 11), 5.0, 5.0, cv::BORDER_REFLECT_101);
        }
    }
    const int steps = std::max(1, o.steps);
    const size_t ncells = ord.size();
    std::vector<float> imgs;
    imgs.reserve(per * (steps + 1));
    std::vector<float> cur = start;
    size_t done = 0;
    for (int k = 0; k <= steps; ++k) {
        const size_t upto = static_cast<size_t>(std::llround(double(k) * ncells / steps));
        for (; done < upto; ++done) {
            const size_t cell = ord[done];
            const int cy = static_cast<int>(cell / gw), cx = static_cast<int>(cell % gw);
            for (int c = 0; c < g.channels; ++c)
                for (int y = cy * cs; y < std::min(g.height, (cy + 1) * cs); ++y)
                    for (int xx = cx * cs; xx < std::min(g.width, (cx + 1) * cs); ++xx) {
                        const size_t i = c * plane + static_cast<size_t>(y * g.width + xx);
                        cur[i] = insertion ? x[i] : 0.f;
                    }
        }
        imgs.insert(imgs.end(), cur.begin(), cur.end());
    }
    const auto z = runBatched(f, outputs, imgs, per, o.batch);
    std::vector<double> curve;
    for (const auto& v : z) curve.push_back(softmaxAt(v, cls));
    return curve;
}

std::vector<double> pixelFlippingCurve(const BatchModel& f, int outputs, const float* x, const ImageGeometry& g,
                                       int cls, const std::vector<float>& map, const FaithfulnessOptions& o) {
    checkMap(map, g);
    const size_t per = g.size(), plane = static_cast<size_t>(g.height) * g.width;
    const float mn = *std::min_element(x, x + per);
    const auto ord = order(std::vector<double>(map.begin(), map.end()));
    const int steps = std::max(1, o.steps);
    std::vector<float> cur(x, x + per), imgs;
    imgs.reserve(per * (steps + 1));
    size_t done = 0;
    for (int k = 0; k <= steps; ++k) {
        const size_t upto = static_cast<size_t>(std::llround(double(k) * plane / steps));
        for (; done < upto; ++done)
            for (int c = 0; c < g.channels; ++c) cur[c * plane + ord[done]] = mn;
        imgs.insert(imgs.end(), cur.begin(), cur.end());
    }
    const auto z = runBatched(f, outputs, imgs, per, o.batch);
    std::vector<double> curve;
    for (const auto& v : z) curve.push_back(v[static_cast<size_t>(cls)]);
    return curve;
}

double faithfulnessCorrelation(const BatchModel& f, int outputs, const float* x, const ImageGeometry& g, int cls,
                               const std::vector<float>& map, const FaithfulnessOptions& o) {
    checkMap(map, g);
    const size_t per = g.size(), plane = static_cast<size_t>(g.height) * g.width;
    const float mn = *std::min_element(x, x + per);
    const size_t k = o.subsetSize > 0 ? std::min<size_t>(plane, static_cast<size_t>(o.subsetSize))
                                      : std::max<size_t>(1, plane / 50);
    std::mt19937_64 rng(o.seed);
    std::vector<size_t> all(plane);
    std::iota(all.begin(), all.end(), 0);
    std::vector<float> imgs(x, x + per);  // image 0: the original
    std::vector<double> attr;
    for (int s = 0; s < std::max(2, o.subsets); ++s) {
        // Partial Fisher-Yates: the first k of a seeded shuffle.
        for (size_t i = 0; i < k; ++i) std::swap(all[i], all[i + rng() % (plane - i)]);
        std::vector<float> img(x, x + per);
        double a = 0;
        for (size_t i = 0; i < k; ++i) {
            a += map[all[i]];
            for (int c = 0; c < g.channels; ++c) img[c * plane + all[i]] = mn;
        }
        attr.push_back(a);
        imgs.insert(imgs.end(), img.begin(), img.end());
    }
    const auto z = runBatched(f, outputs, imgs, per, o.batch);
    std::vector<double> drop;
    for (size_t i = 1; i < z.size(); ++i) drop.push_back(z[0][static_cast<size_t>(cls)] - z[i][static_cast<size_t>(cls)]);
    return pearson(attr, drop);
}

BatchModel batchModel(const Explainer& e, int size) {
    return [e, size](const float* x, int n) { return e.logits(x, n, size); };
}

// ------------------------------------------------------------------- randomisation check
namespace {

/// Re-draws tensors in place (normal with the tensor's own std; seeded) and restores them.
class Scrambler {
public:
    explicit Scrambler(uint64_t seed) : gen_(at::detail::createCPUGenerator(seed)) {}
    ~Scrambler() {
        torch::NoGradGuard ng;
        for (auto& [t, saved] : saved_) t.copy_(saved);
    }
    void scramble(torch::Tensor t) {
        if (!t.defined() || t.numel() == 0) return;
        torch::NoGradGuard ng;
        saved_.emplace_back(t, t.clone());
        const double sd = t.numel() > 1 ? t.std().item<double>() : std::abs(t.item<double>());
        t.copy_(torch::randn(t.sizes(), gen_, t.options()) * (sd > 0 ? sd : 1.0));
    }

private:
    at::Generator gen_;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;
};

std::vector<double> absMap(const Attribution& a) {
    std::vector<double> v;
    for (float f : a.map) v.push_back(std::abs(f));
    return v;
}

}  // namespace

RandomisationCheck randomisationCheck(const Explainer& e, const ExplainFn& method, const float* x, int size,
                                      const Target& t, uint64_t seed, double threshold) {
    RandomisationCheck r;
    r.threshold = threshold;
    const auto ref = absMap(method(e, x, size, t));
    e.impl().requireGraph("the model-randomisation check");
    // A copy whose head tensors are scrambled; the trunk is shared and scrambled in place.
    auto d = std::make_shared<Explainer::Impl>(e.impl());
    d->fast.reset();  // the inference graph holds its own conv copies: use the scrambled trunk only
    for (auto* p : {&d->lnWeight, &d->lnBias, &d->fcWeight, &d->fcBias, &d->codes, &d->W})
        if (p->defined()) *p = p->clone();
    Explainer copy(d);
    std::vector<nn::Layer*> weighted;  // top first
    for (int i = d->trunk->size() - 1; i >= 0; --i) {
        auto* l = d->trunk->node(i).module.get();
        if (dynamic_cast<nn::Conv2d*>(l) || dynamic_cast<nn::Dense*>(l)) weighted.push_back(l);
    }
    Scrambler s(seed);
    const bool hasHead = d->head != ExplainHead::None;
    if (hasHead) {
        for (auto* p : {&d->lnWeight, &d->lnBias, &d->fcWeight, &d->fcBias, &d->codes, &d->W}) s.scramble(*p);
        r.stages.push_back("head");
        r.spearman.push_back(spearman(ref, absMap(method(copy, x, size, t))));
    }
    const size_t third = std::max<size_t>(1, weighted.size() / 3);
    size_t done = 0;
    for (size_t upto : {third, weighted.size()}) {
        for (; done < upto && done < weighted.size(); ++done) {
            auto* l = weighted[done];
            if (auto c = dynamic_cast<nn::Conv2d*>(l)) {
                s.scramble(c->weight);
                s.scramble(c->bias);
            } else if (auto dn = dynamic_cast<nn::Dense*>(l)) {
                s.scramble(dn->weight);
                s.scramble(dn->bias);
            }
        }
        r.stages.push_back(std::string(hasHead ? "head+" : "") + (upto == weighted.size() ? "all" : "top-third"));
        r.spearman.push_back(spearman(ref, absMap(method(copy, x, size, t))));
    }
    // A constant randomised map (NaN correlation, e.g. Grad-CAM all zero) has lost the
    // original ranking: it changed, so it passes.
    r.passed = !r.spearman.empty() && (std::isnan(r.spearman.back()) || std::abs(r.spearman.back()) < threshold);
    return r;
}

// ------------------------------------------------------------------------------ the table
std::vector<MethodScores> faithfulnessTable(const Explainer& e, const std::vector<Method>& methods,
                                            const std::vector<std::vector<float>>& images,
                                            const std::vector<int>& targets, int size, const ExplainOptions& eo,
                                            const FaithfulnessOptions& fo, int sanityImages, JobContext& ctx) {
    const ImageGeometry g{3, size, size};
    const auto f = batchModel(e, size);
    const int outputs = e.numOutputs();
    std::vector<MethodScores> out;
    const double total = static_cast<double>(methods.size() * images.size());
    size_t doneCount = 0;
    for (Method m : methods) {
        std::map<std::string, std::vector<double>> vals;
        for (size_t i = 0; i < images.size(); ++i) {
            ctx.throwIfCancelled();
            const auto& x = images[i];
            Target t;
            t.index = targets.at(i);
            auto a = explain(e, m, x.data(), size, t, eo);
            vals["deletion_auc"].push_back(trapezoidAuc(deletionCurve(f, outputs, x.data(), g, t.index, a.map, fo, false)));
            vals["insertion_auc"].push_back(trapezoidAuc(deletionCurve(f, outputs, x.data(), g, t.index, a.map, fo, true)));
            vals["pixel_flipping_auc"].push_back(trapezoidAuc(pixelFlippingCurve(f, outputs, x.data(), g, t.index, a.map, fo)));
            vals["faithfulness_corr"].push_back(faithfulnessCorrelation(f, outputs, x.data(), g, t.index, a.map, fo));
            if (!std::isnan(a.completenessError)) vals["completeness_residual"].push_back(a.completenessError);
            if (static_cast<int>(i) < sanityImages) {
                auto fn = [m, eo](const Explainer& ex, const float* xx, int s, const Target& tt) {
                    return explain(ex, m, xx, s, tt, eo);
                };
                auto rc = randomisationCheck(e, fn, x.data(), size, t, fo.seed + i);
                vals["randomisation_spearman"].push_back(rc.spearman.back());
            }
            ctx.progress(static_cast<double>(++doneCount) / total, methodTitle(m));
        }
        MethodScores s;
        s.method = methodName(m);
        s.images = static_cast<int>(images.size());
        for (auto& [k, all] : vals) {
            std::vector<double> v;  // NaN (undefined, e.g. a constant map) is left out
            for (double d : all)
                if (!std::isnan(d)) v.push_back(d);
            if (v.empty()) continue;
            double mean = 0, var = 0;
            for (double x : v) mean += x;
            mean /= static_cast<double>(v.size());
            for (double x : v) var += (x - mean) * (x - mean);
            s.metrics[k] = {mean, v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0};
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace pqw
