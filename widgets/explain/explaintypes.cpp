#include "explain/explaintypes.h"

#include <QStringList>

#include <algorithm>
#include <cmath>

namespace pqwgui {

size_t qHash(const ExplainImageRef& r, size_t seed) { return qHashMulti(seed, int(r.kind), r.sample, r.path); }

pqw::ExplainOptions ComputeOptions::toCore() const {
    pqw::ExplainOptions o;
    o.steps = igSteps;
    o.samples = sgSamples;
    o.noise = sgNoise;
    o.patch = occPatch;
    o.stride = occStride;
    return o;
}

ComputeOptions ComputeOptions::relevantTo(pqw::Method m) const {
    ComputeOptions r;
    r.igSteps = r.sgSamples = r.occPatch = r.occStride = 0;
    r.sgNoise = 0;
    switch (m) {
        case pqw::Method::IntegratedGradients: r.igSteps = igSteps; break;
        case pqw::Method::SmoothGrad:
            r.sgSamples = sgSamples;
            r.sgNoise = sgNoise;
            break;
        case pqw::Method::Occlusion:
            r.occPatch = occPatch;
            r.occStride = occStride;
            break;
        default: break;
    }
    return r;
}

size_t qHash(const ComputeOptions& o, size_t seed) {
    return qHashMulti(seed, o.igSteps, o.sgSamples, o.sgNoise, o.occPatch, o.occStride);
}

size_t qHash(const CacheKey& k, size_t seed) {
    size_t h = qHashMulti(seed, int(k.kind), k.generation, int(k.head), k.image, int(k.method), k.target, k.contrast, k.options,
                          k.cls, k.images, k.path);
    for (auto m : k.methods) h = qHashMulti(h, int(m));
    return h;
}

QString CacheKey::toString() const {
    static const char* kinds[] = {"none", "map", "decision", "all", "curves", "table", "compare-load"};
    const char* h = head == PaneHead::Probe ? "probe" : head == PaneHead::Compare ? "cmp" : "pq";
    QString img;
    switch (image.kind) {
        case ExplainImageRef::Kind::Sample: img = QStringLiteral("sample:%1").arg(image.sample); break;
        case ExplainImageRef::Kind::File: img = QStringLiteral("file:") + image.path; break;
        case ExplainImageRef::Kind::None: break;
    }
    QString t = QStringLiteral("g%1|%2|%3|%4").arg(generation).arg(QLatin1String(h), img, QLatin1String(kinds[int(kind)]));
    switch (kind) {
        case Kind::Map:
        case Kind::Curves:
            t += QStringLiteral("|%1|t%2|vs%3").arg(QString::fromLatin1(pqw::methodName(method))).arg(target).arg(contrast);
            t += QStringLiteral("|ig%1|sg%2x%3|occ%4s%5").arg(options.igSteps).arg(options.sgSamples).arg(options.sgNoise).arg(options.occPatch).arg(options.occStride);
            if (kind == Kind::Curves) t += QStringLiteral("|c%1").arg(cls);
            break;
        case Kind::Decomposition: t += QStringLiteral("|%1").arg(cls); break;
        case Kind::Table: {
            QStringList m;
            for (auto x : methods) m << QString::fromLatin1(pqw::methodName(x));
            t += QStringLiteral("|%1|n%2|ig%3|sg%4x%5|occ%6s%7").arg(m.join(QLatin1Char(','))).arg(images).arg(options.igSteps)
                     .arg(options.sgSamples).arg(options.sgNoise).arg(options.occPatch).arg(options.occStride);
            break;
        }
        case Kind::CompareLoad: t += QLatin1Char('|') + path; break;
        default: break;
    }
    return t;
}

std::vector<std::pair<int, double>> topClasses(const std::vector<float>& logits, size_t k) {
    std::vector<std::pair<int, double>> out;
    if (logits.empty()) return out;
    std::vector<double> p(logits.size());
    const double mx = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (size_t c = 0; c < p.size(); ++c) z += (p[c] = std::exp(double(logits[c]) - mx));
    std::vector<int> order(p.size());
    for (size_t c = 0; c < order.size(); ++c) order[c] = int(c);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
    for (size_t i = 0; i < std::min(k, order.size()); ++i) out.emplace_back(order[i], p[size_t(order[i])] / z);
    return out;
}

}  // namespace pqwgui
