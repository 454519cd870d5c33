// The part-based evaluation on funnybirds (pqw/funnybirds_eval.h): accuracy, single deletion,
// the controlled synthetic data check, preservation and deletion checks, target sensitivity,
// background share and independence; ProtoQuant part purity; adapters from pqw::Explainer.
// Torch-free. Protocols: docs/omenn.md, "Part-based evaluation".
#include "pqw/funnybirds_eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <opencv2/imgproc.hpp>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/faithfulness.h"
#include "pqw/omenn.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"

namespace pqw::funnybirds {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int argmax(const float* z, int n) { return int(std::max_element(z, z + n) - z); }

uint32_t slotsToParts(uint32_t slots) {
    uint32_t m = 0;
    for (int s = 0; s < kSlots; ++s)
        if (slots >> s & 1) m |= partBit(slotPart(s));
    return m;
}

/// Slots on which two classes agree (bit s = slot s).
uint32_t sharedSlots(int a, int b) {
    const auto& c = classes();
    uint32_t m = 0;
    for (int s = 0; s < kSlots; ++s)
        if (c[size_t(a)].types[size_t(s)] == c[size_t(b)].types[size_t(s)]) m |= 1u << s;
    return m;
}

/// FunnyBirds' target-sensitivity pair: two classes that each share exactly two slots with
/// `cls` (distance 3), on disjoint slot sets; the first such pair by index, or {-1, -1}.
std::pair<int, int> sensitivityPair(int cls) {
    const int n = int(classes().size());
    std::vector<int> cand;
    for (int c = 0; c < n; ++c)
        if (c != cls && classDistance(cls, c) == 3) cand.push_back(c);
    for (size_t i = 0; i < cand.size(); ++i)
        for (size_t j = i + 1; j < cand.size(); ++j)
            if ((sharedSlots(cls, cand[i]) & sharedSlots(cls, cand[j])) == 0) return {cand[i], cand[j]};
    return {-1, -1};
}

double slotSum(const std::array<double, kPartIds>& imp, uint32_t slots) {
    double s = 0;
    for (int k = 0; k < kSlots; ++k)
        if (slots >> k & 1) s += imp[size_t(slotPart(k))];
    return s;
}

double mapTotal(const Map& m) { return std::accumulate(m.values.begin(), m.values.end(), 0.0); }

/// Share of the map's positive mass on the background (NaN when there is none).
double backgroundShare(const Map& m, const cv::Mat& parts) {
    cv::Mat p = parts;
    if (p.rows != m.height || p.cols != m.width) cv::resize(parts, p, cv::Size(m.width, m.height), 0, 0, cv::INTER_NEAREST);
    double bg = 0, all = 0;
    for (int y = 0; y < m.height; ++y)
        for (int x = 0; x < m.width; ++x) {
            const double v = std::max(0.f, m.values[size_t(y) * size_t(m.width) + size_t(x)]);
            all += v;
            if (p.at<uint8_t>(y, x) == 0) bg += v;
        }
    return all > 0 ? bg / all : kNaN;
}

void checkMap(const Map& m, const std::string& method) {
    if (m.height <= 0 || m.width <= 0 || m.values.size() != size_t(m.height) * size_t(m.width))
        throw Error("funnybirds evaluation: method " + method + " returned a map of " + std::to_string(m.values.size()) +
                    " values for " + std::to_string(m.height) + " x " + std::to_string(m.width));
}

}  // namespace

Stat statOf(const std::vector<double>& v) {
    Stat s;
    double sum = 0, sq = 0;
    for (double x : v)
        if (!std::isnan(x)) sum += x, sq += x * x, ++s.n;
    if (s.n == 0) return s;
    s.mean = sum / s.n;
    s.std = s.n > 1 ? std::sqrt(std::max(0.0, (sq - sum * sum / s.n) / (s.n - 1))) : 0.0;
    return s;
}

std::array<double, kPartIds> partImportance(const Map& map, const cv::Mat& parts) {
    if (parts.type() != CV_8UC1) throw Error("funnybirds: a part map must be 8-bit single channel");
    cv::Mat p = parts;
    if (p.rows != map.height || p.cols != map.width)
        cv::resize(parts, p, cv::Size(map.width, map.height), 0, 0, cv::INTER_NEAREST);
    std::array<double, kPartIds> imp{};
    for (int y = 0; y < map.height; ++y) {
        const uint8_t* row = p.ptr<uint8_t>(y);
        for (int x = 0; x < map.width; ++x) {
            const int id = row[x];
            if (id < kPartIds) imp[size_t(id)] += map.values[size_t(y) * size_t(map.width) + size_t(x)];
        }
    }
    return imp;
}

double singleDeletionScore(const std::array<double, kSlots>& importance, const std::array<double, kSlots>& drop) {
    const double rho = spearman(std::vector<double>(importance.begin(), importance.end()),
                                std::vector<double>(drop.begin(), drop.end()));
    return std::isnan(rho) ? kNaN : 0.5 * rho + 0.5;
}

uint32_t importantSlots(const std::array<double, kPartIds>& importance, double total, double t) {
    uint32_t m = 0;
    for (int s = 0; s < kSlots; ++s)
        if (importance[size_t(slotPart(s))] > t * total) m |= 1u << s;
    return m;
}

EvalReport evaluate(const ImageModel& model, int outputs, const std::vector<Method>& methods,
                    const std::vector<BirdParams>& images, const EvalOptions& opt, JobContext& ctx) {
    const int size = opt.size > 0 ? opt.size : 224;
    const int nClasses = int(classes().size());
    if (outputs < nClasses)
        throw Error("funnybirds evaluation: the model has " + std::to_string(outputs) + " outputs; funnybirds has " +
                    std::to_string(nClasses) + " classes");
    if (images.empty()) throw Error("funnybirds evaluation: no images");
    if (opt.thresholds.empty()) throw Error("funnybirds evaluation: no importance thresholds");
    auto run = [&](const std::vector<View>& v) {
        auto z = model(v);
        if (z.size() != v.size() * size_t(outputs))
            throw Error("funnybirds evaluation: the model returned " + std::to_string(z.size()) + " logits for " +
                        std::to_string(v.size()) + " images of " + std::to_string(outputs) + " classes");
        return z;
    };
    std::vector<double> acc, swapKept, swapDrop, bgInd, bgPixels;
    std::map<std::string, std::map<std::string, std::vector<double>>> per;  // method -> metric -> values
    const std::vector<std::string> metricNames{"single_deletion", "csdc", "preservation", "deletion",
                                               "target_sensitivity", "background_share"};
    for (const auto& m : methods)
        for (const auto& k : metricNames) per[m.name][k];

    for (size_t i = 0; i < images.size(); ++i) {
        ctx.throwIfCancelled();
        ctx.progress(double(i) / double(images.size()), "image " + std::to_string(i + 1) + " of " + std::to_string(images.size()));
        const BirdParams& p = images[i];
        const int cls = p.cls;
        const auto full = render(p, size);
        const View v0{full.rgb, i, 0, false};
        bgPixels.push_back(double(cv::countNonZero(full.parts == 0)) / double(full.parts.total()));
        // The model on the image, each single deletion, the swapped background, and the
        // target-sensitivity interventions: one batch.
        std::vector<View> batch{v0};
        for (int s = 0; s < kSlots; ++s) {
            const uint32_t rm = partBit(slotPart(s));
            batch.push_back({render(p, size, rm).rgb, i, rm, false});
        }
        const uint64_t swapBg = p.background ^ (opt.swapSeed * 0x9e3779b97f4a7c15ull + i);
        batch.push_back({render(p, size, 0, swapBg).rgb, i, 0, true});
        const auto [c1, c2] = sensitivityPair(cls);
        const uint32_t o1 = c1 >= 0 ? sharedSlots(cls, c1) : 0, o2 = c2 >= 0 ? sharedSlots(cls, c2) : 0;
        if (c1 >= 0) {
            batch.push_back({render(p, size, slotsToParts(o1)).rgb, i, slotsToParts(o1), false});
            batch.push_back({render(p, size, slotsToParts(o2)).rgb, i, slotsToParts(o2), false});
        }
        const auto z = run(batch);
        auto row = [&](size_t k) { return z.data() + k * size_t(outputs); };
        const int pred = argmax(row(0), outputs);
        const bool correct = pred == cls;
        acc.push_back(correct ? 1.0 : 0.0);
        std::array<double, kSlots> drop{};
        for (int s = 0; s < kSlots; ++s) drop[size_t(s)] = double(row(0)[cls]) - double(row(size_t(1 + s))[cls]);
        const float* zs = row(6);
        swapKept.push_back(argmax(zs, outputs) == pred ? 1.0 : 0.0);
        const double swapD = double(row(0)[pred]) - double(zs[pred]);
        swapDrop.push_back(swapD);
        bgInd.push_back(swapD > 0 && std::abs(swapD) >= 0.05 * std::abs(double(row(0)[pred])) ? 0.0 : 1.0);
        // Target sensitivity's assumption (on the model): removing the parts shared with c1
        // lowers c1 more than removing those shared with c2, and the other way round.
        bool tsValid = false;
        if (c1 >= 0) {
            const float *z1 = row(7), *z2 = row(8);
            tsValid = (z1[c1] - row(0)[c1]) < (z2[c1] - row(0)[c1]) && (z2[c2] - row(0)[c2]) < (z1[c2] - row(0)[c2]);
        }

        for (const auto& m : methods) {
            ctx.throwIfCancelled();
            auto& out = per[m.name];
            auto explainFor = [&](int target) {
                Map mp = m.explain(v0, target);
                checkMap(mp, m.name);
                return mp;
            };
            const Map mc = explainFor(cls);
            const auto impC = partImportance(mc, full.parts);
            std::array<double, kSlots> impSlots{};
            for (int s = 0; s < kSlots; ++s) impSlots[size_t(s)] = impC[size_t(slotPart(s))];
            out["single_deletion"].push_back(singleDeletionScore(impSlots, drop));
            out["background_share"].push_back(backgroundShare(mc, full.parts));
            const double totalC = mapTotal(mc);
            // CSDC: on correctly classified images, how much of the best-covered minimal
            // sufficient part set the important parts cover, averaged over thresholds.
            if (correct) {
                const auto sets = minimalSufficientSets(cls);
                double sum = 0;
                for (double t : opt.thresholds) {
                    const uint32_t imp = importantSlots(impC, totalC, t);
                    double best = 0;
                    for (uint32_t s : sets)
                        best = std::max(best, double(__builtin_popcount(s & imp)) / double(__builtin_popcount(s)));
                    sum += best;
                }
                out["csdc"].push_back(sum / double(opt.thresholds.size()));
            } else {
                out["csdc"].push_back(kNaN);
            }
            // Preservation and deletion checks on the prediction's explanation.
            const Map mpred = pred == cls ? mc : explainFor(pred);
            const auto impP = pred == cls ? impC : partImportance(mpred, full.parts);
            const double totalP = pred == cls ? totalC : mapTotal(mpred);
            std::vector<uint32_t> keep, del;
            std::set<uint32_t> masks;
            for (double t : opt.thresholds) {
                const uint32_t imp = importantSlots(impP, totalP, t);
                keep.push_back(slotsToParts(~imp & ((1u << kSlots) - 1)));
                del.push_back(slotsToParts(imp));
                masks.insert(keep.back());
                masks.insert(del.back());
            }
            std::vector<View> vs;
            std::vector<uint32_t> order(masks.begin(), masks.end());
            for (uint32_t rm : order) vs.push_back({rm ? render(p, size, rm).rgb : full.rgb, i, rm, false});
            const auto zm = run(vs);
            std::map<uint32_t, int> predOf;
            for (size_t k = 0; k < order.size(); ++k) predOf[order[k]] = argmax(zm.data() + k * size_t(outputs), outputs);
            double pc = 0, dc = 0;
            for (size_t k = 0; k < keep.size(); ++k) {
                pc += predOf[keep[k]] == pred ? 1.0 : 0.0;
                dc += predOf[del[k]] != pred ? 1.0 : 0.0;
            }
            out["preservation"].push_back(pc / double(keep.size()));
            out["deletion"].push_back(dc / double(del.size()));
            // Target sensitivity: the explanation of c1 weighs the parts shared with c1 more
            // than the explanation of c2 does, and the other way round (two 0/1 checks).
            if (tsValid) {
                const auto i1 = partImportance(explainFor(c1), full.parts);
                const auto i2 = partImportance(explainFor(c2), full.parts);
                const double a = (slotSum(i1, o1) > slotSum(i2, o1) ? 1.0 : 0.0) + (slotSum(i1, o2) < slotSum(i2, o2) ? 1.0 : 0.0);
                out["target_sensitivity"].push_back(a / 2);
            } else {
                out["target_sensitivity"].push_back(kNaN);
            }
        }
    }
    ctx.progress(1.0, "done");
    EvalReport r;
    r.accuracy = statOf(acc);
    r.swapKept = statOf(swapKept);
    r.swapDrop = statOf(swapDrop);
    r.backgroundIndependence = statOf(bgInd);
    r.backgroundPixels = statOf(bgPixels);
    for (const auto& m : methods) {
        MethodResult mr;
        mr.method = m.name;
        for (const auto& [k, v] : per[m.name]) mr.metrics[k] = statOf(v);
        r.methods.push_back(std::move(mr));
    }
    return r;
}

// ---- real models -------------------------------------------------------------------------

std::vector<std::string> methodNames() {
    return {"omenn", "omenn-cw", "gxi", "ig", "saliency", "smoothgrad", "gradcam", "occlusion", "protoquant"};
}

namespace {

std::vector<float> preprocessViews(const std::vector<View>& views, const Preprocess& pp) {
    std::vector<float> x(views.size() * size_t(3) * size_t(pp.size) * size_t(pp.size));
    for (size_t k = 0; k < views.size(); ++k)
        preprocessImage(views[k].rgb, pp, x.data() + k * size_t(3) * size_t(pp.size) * size_t(pp.size));
    return x;
}

}  // namespace

ImageModel modelOf(const Explainer& e, const Backbone& bb) {
    const int size = e.inputSize() > 0 ? e.inputSize() : 224;
    const Preprocess pp = bb.preprocess(size);
    return [e, pp, size](const std::vector<View>& views) {
        const auto x = preprocessViews(views, pp);
        std::vector<float> z;
        const size_t per = size_t(3) * size_t(size) * size_t(size);
        for (size_t k = 0; k < views.size(); k += 16) {  // small batches bound the memory
            const int n = int(std::min<size_t>(16, views.size() - k));
            const auto zk = e.logits(x.data() + k * per, n, size);
            z.insert(z.end(), zk.begin(), zk.end());
        }
        return z;
    };
}

std::vector<Method> methodsOf(const Explainer& e, const Backbone& bb, const std::vector<std::string>& names,
                              const ProtoModel* model, const ExplainOptions& eo) {
    const int size = e.inputSize() > 0 ? e.inputSize() : 224;
    const Preprocess pp = bb.preprocess(size);
    std::vector<Method> out;
    for (const auto& name : names) {
        Method m;
        m.name = name;
        if (name == "protoquant") {
            if (e.headName() != "interpretable" || !model)
                throw Error("method protoquant explains the ProtoQuant (interpretable) head only");
            const ProtoModel pm = *model;
            const Backbone* b = &bb;
            m.explain = [pm, b, pp, size](const View& v, int target) {
                const auto x = preprocessViews({v}, pp);
                const auto shape = b->featureShape(size);
                std::vector<float> f(size_t(shape[0] * shape[1] * shape[2]));
                b->forward(x.data(), 1, size, f.data());
                const auto le = explainLocal(pm, f.data(), int(shape[1]), int(shape[2]), b->stride(),
                                             b->effectiveReceptiveField(size), size, target);
                // Each prototype's score spread evenly over its box: the map sums to the logit.
                Map mp{size, size, std::vector<float>(size_t(size) * size_t(size), 0.f)};
                for (const auto& ev : le.evidence) {
                    const int x0 = std::clamp(int(std::floor(ev.box.x)), 0, size), y0 = std::clamp(int(std::floor(ev.box.y)), 0, size);
                    const int x1 = std::clamp(int(std::ceil(ev.box.x + ev.box.w)), 0, size);
                    const int y1 = std::clamp(int(std::ceil(ev.box.y + ev.box.h)), 0, size);
                    if (x1 <= x0 || y1 <= y0) continue;
                    const float per = ev.score / float((x1 - x0) * (y1 - y0));
                    for (int y = y0; y < y1; ++y)
                        for (int xx = x0; xx < x1; ++xx) mp.values[size_t(y) * size_t(size) + size_t(xx)] += per;
                }
                return mp;
            };
        } else {
            pqw::Method pm;
            const bool cw = name == "omenn-cw";
            if (cw) pm = pqw::Method::Omenn;
            else if (!parseMethod(name, pm)) {
                std::string known;
                for (const auto& n : methodNames()) known += (known.empty() ? "" : ", ") + n;
                throw Error("unknown method '" + name + "' (known: " + known + ")");
            }
            const bool withBias = pm == pqw::Method::Omenn && !cw;
            m.explain = [e, pp, size, pm, withBias, eo](const View& v, int target) {
                const auto x = preprocessViews({v}, pp);
                Target t;
                t.index = target;
                const auto a = explain(e, pm, x.data(), size, t, eo);
                Map mp{a.height, a.width, a.map};
                if (withBias && a.biasMap.size() == mp.values.size())
                    for (size_t k = 0; k < mp.values.size(); ++k) mp.values[k] += a.biasMap[k];
                return mp;
            };
        }
        out.push_back(std::move(m));
    }
    return out;
}

Purity partPurity(const std::vector<PrototypeInfo>& index, const Dataset& ds, int inputSize) {
    (void)optionsOf(ds);  // throws for other datasets
    Purity r;
    double total = 0;
    long patches = 0, onBg = 0;
    std::map<size_t, cv::Mat> maps;  // part maps read once
    for (const auto& info : index) {
        if (info.topPatches.empty()) continue;
        std::array<int, kPartIds> hits{};
        for (const auto& pr : info.topPatches) {
            auto it = maps.find(pr.sample);
            if (it == maps.end()) it = maps.emplace(pr.sample, partMapOf(ds, pr.sample)).first;
            const cv::Mat& pm = it->second;
            const double cx = (pr.box.x + pr.box.w / 2) * pm.cols / inputSize, cy = (pr.box.y + pr.box.h / 2) * pm.rows / inputSize;
            const int x = std::clamp(int(cx), 0, pm.cols - 1), y = std::clamp(int(cy), 0, pm.rows - 1);
            const int id = pm.at<uint8_t>(y, x);
            ++hits[size_t(std::min(id, kPartIds - 1))];
            ++patches;
            onBg += id == 0;
        }
        int best = 0, bestId = 0;
        for (int id = 1; id < kPartIds; ++id)
            if (hits[size_t(id)] > best) best = hits[size_t(id)], bestId = id;
        total += double(best) / double(info.topPatches.size());
        ++r.prototypes;
        r.dominantPart[best > 0 ? partName(bestId) : "background"]++;
    }
    if (r.prototypes) {
        r.purity = total / r.prototypes;
        r.onBackground = double(onBg) / double(patches);
    }
    return r;
}

}  // namespace pqw::funnybirds
