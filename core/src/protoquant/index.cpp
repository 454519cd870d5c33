// What users look at: the prototype index (top-k training patches per prototype) and the
// local "this looks like that" explanation of one feature map.
#include <algorithm>
#include <cmath>

#include "model_impl.h"
#include "pqw/error.h"

namespace pqw {

Box cellBox(int cellY, int cellX, int stride, int receptiveField, int inputSize) {
    auto span = [&](int cell) {
        const double centre = cell * stride + (stride - 1) / 2.0;
        double lo = centre - receptiveField / 2.0 + 0.5, hi = centre + receptiveField / 2.0 + 0.5;
        lo = std::max(0.0, lo);
        hi = std::min<double>(inputSize, hi);
        return std::make_pair(lo, hi);
    };
    const auto [y0, y1] = span(cellY);
    const auto [x0, x1] = span(cellX);
    return Box{static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1 - x0), static_cast<float>(y1 - y0)};
}

std::vector<PrototypeInfo> buildPrototypeIndex(const ProtoModel& m, const FeatureCache& cache, int topK,
                                               JobContext& ctx) {
    m.checkCompatible(cache);
    if (!m.hasHead()) throw Error("the prototype index needs an interpretable head");
    if (topK < 1) throw Error("top-k must be at least 1");
    const auto& d = m.impl();
    pq::Batcher b(cache);
    torch::NoGradGuard ng;
    const auto train = cache.indices(Split::Train);
    const int64_t K = d.K(), W = d.shape[2];
    const int64_t k = std::min<int64_t>(topK, static_cast<int64_t>(train.size()));
    // Running top-k per prototype: values [k, K], sample ids and cells [k, K].
    auto bestVal = torch::full({0, K}, -1.0f);
    auto bestSample = torch::zeros({0, K}, torch::kLong);
    auto bestCell = torch::zeros({0, K}, torch::kLong);
    auto usage = torch::zeros({K}, torch::kLong);
    const auto noMask = torch::Tensor();
    size_t done = 0;
    for (size_t s = 0; s < train.size(); s += 256) {
        ctx.throwIfCancelled();
        std::vector<size_t> ids(train.begin() + static_cast<long>(s),
                                train.begin() + static_cast<long>(std::min(train.size(), s + 256)));
        auto f = b.features(ids);
        auto out = pq::headForward(f, d.codes, d.W, d.tau, noMask, 0.f);
        auto [mx, cell] = out.A.max(1);  // [B, K] spatial max and its cell
        // Softmax is monotone, so the argmax of A is the nearest code by cosine: no second
        // similarity product for the usage counts.
        usage += torch::bincount(out.A.argmax(-1).reshape({-1}), {}, K);
        auto sid = pq::toIndexTensor(ids).unsqueeze(1).expand({-1, K});
        auto vals = torch::cat({bestVal, mx});
        auto samples = torch::cat({bestSample, sid});
        auto cells = torch::cat({bestCell, cell});
        const int64_t kk = std::min<int64_t>(k, vals.size(0));
        auto [tv, ti] = vals.topk(kk, 0);
        bestVal = tv;
        bestSample = samples.gather(0, ti);
        bestCell = cells.gather(0, ti);
        done += ids.size();
        ctx.progress(double(done) / double(train.size()), "indexing prototype patches");
    }
    const auto weights = m.classWeights();
    std::vector<PrototypeInfo> out(static_cast<size_t>(K));
    auto va = bestVal.accessor<float, 2>();
    auto sa = bestSample.accessor<int64_t, 2>();
    auto ca = bestCell.accessor<int64_t, 2>();
    for (int64_t p = 0; p < K; ++p) {
        auto& info = out[static_cast<size_t>(p)];
        info.index = static_cast<int>(p);
        info.usage = usage[p].item<int64_t>();
        for (const auto& row : weights) info.classWeights.push_back(row[static_cast<size_t>(p)]);
        for (int64_t r = 0; r < bestVal.size(0); ++r) {
            PatchRef ref;
            ref.sample = static_cast<size_t>(sa[r][p]);
            ref.cellY = static_cast<int>(ca[r][p] / W);
            ref.cellX = static_cast<int>(ca[r][p] % W);
            ref.activation = va[r][p];
            ref.box = cellBox(ref.cellY, ref.cellX, d.stride, d.receptiveField, d.inputSize);
            info.topPatches.push_back(ref);
        }
    }
    return out;
}

LocalExplanation explainLocal(const ProtoModel& m, const float* featureMap, int gridH, int gridW, int stride,
                              int receptiveField, int inputSize, int cls) {
    if (!m.hasHead()) throw Error("explaining needs an interpretable head");
    const auto& d = m.impl();
    if (gridH != d.shape[1] || gridW != d.shape[2])
        throw Error("feature map is " + std::to_string(gridH) + "x" + std::to_string(gridW) + ", the head expects " +
                    std::to_string(d.shape[1]) + "x" + std::to_string(d.shape[2]));
    torch::NoGradGuard ng;
    auto f = torch::from_blob(const_cast<float*>(featureMap), {1, d.D(), d.HW()}).transpose(1, 2).contiguous();
    auto out = pq::headForward(d, f);
    LocalExplanation ex;
    ex.gridH = gridH;
    ex.gridW = gridW;
    auto z = out.logits[0].contiguous();
    ex.logits.assign(z.data_ptr<float>(), z.data_ptr<float>() + z.numel());
    auto pr = torch::softmax(z, 0).contiguous();
    ex.probabilities.assign(pr.data_ptr<float>(), pr.data_ptr<float>() + pr.numel());
    ex.predicted = static_cast<int>(z.argmax().item<int64_t>());
    if (cls >= static_cast<int>(d.N())) throw Error("class " + std::to_string(cls) + " does not exist");
    ex.explainedClass = cls < 0 ? ex.predicted : cls;
    auto w = torch::relu(d.W[ex.explainedClass]);
    auto pi = out.presence[0];
    auto score = (w * pi).contiguous();
    auto A = out.A[0].contiguous();  // [HW, K]
    std::vector<int64_t> order(static_cast<size_t>(d.K()));
    for (int64_t p = 0; p < d.K(); ++p) order[static_cast<size_t>(p)] = p;
    const float* sc = score.data_ptr<float>();
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sc[a] > sc[b]; });
    for (auto p : order) {
        if (!(sc[p] > 0)) break;
        PrototypeEvidence e;
        e.prototype = static_cast<int>(p);
        e.presence = pi[p].item<float>();
        e.weight = w[p].item<float>();
        e.score = sc[p];
        auto col = A.select(1, p).contiguous();
        e.activation.assign(col.data_ptr<float>(), col.data_ptr<float>() + col.numel());
        const int64_t best = col.argmax().item<int64_t>();
        e.cellY = static_cast<int>(best / gridW);
        e.cellX = static_cast<int>(best % gridW);
        e.box = cellBox(e.cellY, e.cellX, stride, receptiveField, inputSize);
        ex.evidence.push_back(std::move(e));
    }
    return ex;
}

}  // namespace pqw
