#include "pqw/proto_metrics.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "model_impl.h"
#include "pqw/error.h"

namespace fs = std::filesystem;

namespace pqw {

SizeMetrics sizeMetrics(const ProtoModel& m, float threshold) {
    if (!m.hasHead()) throw Error("size metrics need an interpretable head");
    SizeMetrics s;
    const auto w = m.classWeights();
    std::vector<char> used(static_cast<size_t>(m.numPrototypes()), 0);
    for (const auto& row : w) {
        int n = 0;
        for (size_t p = 0; p < row.size(); ++p) {
            if (!m.prototypeEnabled(static_cast<int>(p))) continue;
            if (row[p] > threshold) ++n;
            if (row[p] > 0) used[p] = 1;
        }
        s.localSize.push_back(n);
    }
    s.localSizeMean = s.localSize.empty() ? 0.0
                                          : std::accumulate(s.localSize.begin(), s.localSize.end(), 0.0) /
                                                double(s.localSize.size());
    s.globalSize = static_cast<int>(std::count(used.begin(), used.end(), 1));
    return s;
}

std::vector<TopKPoint> topKAccuracyCurve(const ProtoModel& m, const FeatureCache& cache, Split split,
                                         const std::vector<int>& ks, JobContext& ctx) {
    if (!m.hasHead()) throw Error("the top-k curve needs an interpretable head");
    std::vector<TopKPoint> out;
    for (int k : ks) {
        if (k < 1) throw Error("top-k must be at least 1");
        ProtoModel c = m;
        auto& d = c.impl();
        torch::NoGradGuard ng;
        auto w = torch::relu(d.W);
        auto top = std::get<1>(w.topk(std::min<int64_t>(k, w.size(1)), 1));
        d.W = w * torch::zeros_like(w).scatter_(1, top, 1.0);
        out.push_back({k, evaluate(c, cache, split, HeadKind::Interpretable, ctx).top1});
    }
    return out;
}

namespace {

struct Observed {
    torch::Tensor presence;  // [K]
    torch::Tensor cells;     // [K] argmax cell of A[p]
    int predicted = 0;
};

Observed observe(const ProtoModel::Impl& d, const Backbone& bb, const cv::Mat& rgbSized, const Preprocess& pp) {
    std::vector<float> px(static_cast<size_t>(3 * pp.size * pp.size));
    preprocessImage(rgbSized, pp, px.data());
    const auto fs_ = bb.featureShape(pp.size);
    std::vector<float> feat(static_cast<size_t>(fs_[0] * fs_[1] * fs_[2]));
    bb.forward(px.data(), 1, pp.size, feat.data());
    auto f = torch::from_blob(feat.data(), {1, d.D(), d.HW()}).transpose(1, 2).contiguous();
    auto out = pq::headForward(d, f);
    Observed o;
    o.presence = out.presence[0].clone();
    o.cells = std::get<1>(out.A[0].max(0)).clone();
    o.predicted = static_cast<int>(out.logits[0].argmax().item<int64_t>());
    return o;
}

/// The pixels the backbone sees (its resize / centre crop), before normalisation; the
/// perturbations act on them, and `observe` then only normalises (sizedPp: no resize, no crop).
cv::Mat resizeTo(const cv::Mat& rgb, const Preprocess& pp) { return preprocessedView(rgb, pp); }
Preprocess sized(Preprocess pp) {
    pp.resize = 0;
    return pp;
}

/// The image plus Gaussian pixel noise (saturating to 8 bits).
cv::Mat withNoise(const cv::Mat& img, std::normal_distribution<double>& gauss, std::mt19937_64& rng) {
    cv::Mat f, out;
    img.convertTo(f, CV_32FC3);
    cv::Mat noise(f.size(), CV_32FC3);
    for (int y = 0; y < noise.rows; ++y)
        for (int x = 0; x < noise.cols; ++x)
            noise.at<cv::Vec3f>(y, x) = cv::Vec3f(float(gauss(rng)), float(gauss(rng)), float(gauss(rng)));
    f += noise;
    f.convertTo(out, CV_8UC3);
    return out;
}

/// The image moved right and down by px pixels, border replicated.
cv::Mat shifted(const cv::Mat& img, int px) {
    cv::Mat out;
    cv::Mat M = (cv::Mat_<double>(2, 3) << 1, 0, px, 0, 1, px);
    cv::warpAffine(img, out, M, img.size(), cv::INTER_NEAREST, cv::BORDER_REPLICATE);
    return out;
}

void checkStabilityInputs(const ProtoModel& m, const Dataset& ds, const Backbone& bb) {
    if (!m.hasHead()) throw Error("stability needs an interpretable head");
    const auto& d = m.impl();
    if (bb.id() != d.backboneId)
        throw Error("stability: the backbone (" + bb.id() + ") is not the one the head was trained on (" + d.backboneId + ")");
    if (ds.classNames() != d.classes) throw Error("stability: the dataset's classes differ from the head's");
}

}  // namespace

std::vector<StabilityRow> prototypeStability(const ProtoModel& m, const Dataset& ds, const Backbone& bb,
                                             const StabilityOptions& opt, JobContext& ctx) {
    checkStabilityInputs(m, ds, bb);
    const auto& d = m.impl();
    if (opt.samples < 1 || opt.topPrototypes < 1) throw Error("stability: samples and top prototypes must be positive");
    auto test = ds.indices(Split::Test);
    if (test.empty()) throw Error("stability: the dataset has no test split");
    std::mt19937_64 rng(opt.seed);
    for (size_t i = test.size(); i > 1; --i) std::swap(test[i - 1], test[rng() % i]);
    test.resize(std::min<size_t>(test.size(), static_cast<size_t>(opt.samples)));

    const int S = d.inputSize;
    const Preprocess full = bb.preprocess(S), pp = sized(full);
    const char* names[3] = {"noise", "shift", "distant-region"};
    std::vector<std::vector<double>> presence(3), location(3), overlap(3), kept(3);
    torch::NoGradGuard ng;
    const int W = static_cast<int>(d.shape[2]);
    std::normal_distribution<double> gauss(0.0, opt.noiseSigma * 255.0);
    size_t done = 0;
    for (size_t idx : test) {
        ctx.throwIfCancelled();
        const cv::Mat img = resizeTo(ds.loadImage(idx), full);
        const Observed base = observe(d, bb, img, pp);
        auto w = torch::relu(d.W[base.predicted]);
        const int64_t m_ = std::min<int64_t>(opt.topPrototypes, d.K());
        auto top = std::get<1>((w * base.presence).topk(m_));
        const int64_t best = top[0].item<int64_t>();
        const int bestCell = static_cast<int>(base.cells[best].item<int64_t>());
        for (int kind = 0; kind < 3; ++kind) {
            cv::Mat pert;
            if (kind == 0) {
                pert = withNoise(img, gauss, rng);
            } else if (kind == 1) {
                pert = shifted(img, opt.shiftPixels);
            } else {
                // A square of noise in the image corner farthest from the top prototype's cell.
                const Box b = cellBox(bestCell / W, bestCell % W, d.stride, d.receptiveField, S);
                const double cx = b.x + b.w / 2, cy = b.y + b.h / 2;
                const int side = std::max(1, static_cast<int>(opt.regionFraction * S));
                int rx = cx < S / 2.0 ? S - side : 0, ry = cy < S / 2.0 ? S - side : 0;
                pert = img.clone();
                cv::Mat roi = pert(cv::Rect(rx, ry, side, side));
                cv::randu(roi, cv::Scalar::all(0), cv::Scalar::all(255));
            }
            const Observed o = observe(d, bb, pert, pp);
            auto dp = (o.presence.index_select(0, top) - base.presence.index_select(0, top)).abs();
            presence[kind].push_back(dp.mean().item<double>());
            double dist = 0;
            for (int64_t j = 0; j < m_; ++j) {
                const int64_t p = top[j].item<int64_t>();
                const int a = static_cast<int>(base.cells[p].item<int64_t>()), c = static_cast<int>(o.cells[p].item<int64_t>());
                dist += std::hypot(double(a / W - c / W), double(a % W - c % W));
            }
            location[kind].push_back(dist / double(m_));
            auto w2 = torch::relu(d.W[o.predicted]);
            auto top2 = std::get<1>((w2 * o.presence).topk(m_));
            int common = 0;
            for (int64_t a = 0; a < m_; ++a)
                for (int64_t c = 0; c < m_; ++c) common += top[a].item<int64_t>() == top2[c].item<int64_t>();
            overlap[kind].push_back(double(common) / double(m_));
            kept[kind].push_back(o.predicted == base.predicted ? 1.0 : 0.0);
        }
        ++done;
        ctx.progress(double(done) / double(test.size()), "measuring prototype stability");
    }
    auto mean = [](const std::vector<double>& v) { return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); };
    std::vector<StabilityRow> rows;
    for (int k = 0; k < 3; ++k) {
        StabilityRow r;
        r.perturbation = names[k];
        r.samples = presence[k].size();
        r.presenceChange = mean(presence[k]);
        double var = 0;
        for (double v : presence[k]) var += (v - r.presenceChange) * (v - r.presenceChange);
        r.presenceChangeStd = presence[k].size() > 1 ? std::sqrt(var / double(presence[k].size() - 1)) : 0.0;
        r.locationChange = mean(location[k]);
        r.topOverlap = mean(overlap[k]);
        r.predictionKept = mean(kept[k]);
        rows.push_back(r);
    }
    return rows;
}

std::vector<double> perPrototypeStability(const ProtoModel& m, const std::vector<PrototypeInfo>& index,
                                          const Dataset& ds, const Backbone& bb, const StabilityOptions& opt,
                                          int imagesPerPrototype, JobContext& ctx) {
    checkStabilityInputs(m, ds, bb);
    if (imagesPerPrototype < 1) throw Error("stability: images per prototype must be positive");
    const auto& d = m.impl();
    const int K = static_cast<int>(d.K());
    // The union of the images that hold each prototype's best patches: each is observed once.
    std::map<size_t, size_t> slot;
    std::vector<std::vector<size_t>> imagesOf(static_cast<size_t>(K));
    for (const auto& info : index) {
        if (info.index < 0 || info.index >= K) throw Error("stability: the prototype index does not match the head");
        for (const auto& pr : info.topPatches) {
            auto& v = imagesOf[static_cast<size_t>(info.index)];
            if (int(v.size()) >= imagesPerPrototype) break;
            if (pr.sample >= ds.size()) throw Error("stability: the prototype index refers to sample " + std::to_string(pr.sample) + " outside the dataset");
            if (std::find(v.begin(), v.end(), pr.sample) != v.end()) continue;
            v.push_back(pr.sample);
            slot.emplace(pr.sample, slot.size());
        }
    }
    std::vector<size_t> order(slot.size());
    for (const auto& [sample, i] : slot) order[i] = sample;
    const int S = d.inputSize;
    const Preprocess full = bb.preprocess(S), pp = sized(full);
    std::mt19937_64 rng(opt.seed);
    std::normal_distribution<double> gauss(0.0, opt.noiseSigma * 255.0);
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> change(order.size());  // [K]: mean over noise and shift of |pi' - pi|
    for (size_t i = 0; i < order.size(); ++i) {
        ctx.throwIfCancelled();
        const cv::Mat img = resizeTo(ds.loadImage(order[i]), full);
        const Observed base = observe(d, bb, img, pp);
        const Observed noisy = observe(d, bb, withNoise(img, gauss, rng), pp);
        const Observed moved = observe(d, bb, shifted(img, opt.shiftPixels), pp);
        change[i] = 0.5 * ((noisy.presence - base.presence).abs() + (moved.presence - base.presence).abs());
        ctx.progress(double(i + 1) / double(order.size()), "measuring each prototype's stability");
    }
    std::vector<double> out(static_cast<size_t>(K), std::nan(""));
    for (int p = 0; p < K; ++p) {
        const auto& v = imagesOf[static_cast<size_t>(p)];
        if (v.empty()) continue;
        double sum = 0;
        for (size_t sample : v) sum += change[slot.at(sample)][p].item<double>();
        out[static_cast<size_t>(p)] = sum / double(v.size());
    }
    return out;
}

double partPurity(const std::vector<PrototypeInfo>& index, const Dataset& ds, int inputSize) {
    if (ds.partsDir().empty()) return -1;
    const std::string locs = (fs::path(ds.partsDir()) / "part_locs.txt").string();
    std::ifstream in(locs);
    if (!in) return -1;
    // image id -> list of (part id, x, y) visible parts, in original image pixels.
    std::map<int64_t, std::vector<std::tuple<int, double, double>>> parts;
    std::string line;
    size_t lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (line.empty()) continue;
        std::istringstream ls(line);
        int64_t img;
        int part, visible;
        double x, y;
        if (!(ls >> img >> part >> x >> y >> visible)) throw Error(locs + ":" + std::to_string(lineNo) + ": malformed line");
        if (visible) parts[img].emplace_back(part, x, y);
    }
    double total = 0;
    int counted = 0;
    for (const auto& info : index) {
        if (info.topPatches.empty()) continue;
        std::map<int, int> hits;
        for (const auto& pr : info.topPatches) {
            const Sample& s = ds.sample(pr.sample);
            auto it = parts.find(s.id);
            if (it == parts.end()) continue;
            // The patch box lives in input pixels; map it to the (possibly cropped) original.
            const cv::Mat img = ds.loadImage(pr.sample);
            const double sx = double(img.cols) / inputSize, sy = double(img.rows) / inputSize;
            const double ox = s.hasBox && ds.spec().cubCrop ? s.box.x : 0, oy = s.hasBox && ds.spec().cubCrop ? s.box.y : 0;
            const double x0 = ox + pr.box.x * sx, x1 = ox + (pr.box.x + pr.box.w) * sx;
            const double y0 = oy + pr.box.y * sy, y1 = oy + (pr.box.y + pr.box.h) * sy;
            std::map<int, bool> inside;
            for (const auto& [part, x, y] : it->second)
                if (x >= x0 && x <= x1 && y >= y0 && y <= y1) inside[part] = true;
            for (const auto& [part, v] : inside) hits[part]++;
        }
        int best = 0;
        for (const auto& [part, n] : hits) best = std::max(best, n);
        total += double(best) / double(info.topPatches.size());
        ++counted;
    }
    return counted ? total / counted : -1;
}

}  // namespace pqw
