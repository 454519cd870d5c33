#include "explain/explainsettings.h"

#include <QJsonArray>

#include <algorithm>

#include "explain/methods.h"

namespace pqwgui {

const char* const kColormaps[7] = {"auto", "bwr", "jet", "viridis", "inferno", "magma", "gray"};

ExplainSettings::ExplainSettings() {
    PaneSpec a, b;
    b.method = pqw::Method::IntegratedGradients;
    panes = {a, b};
}

ExplainSettings ExplainSettings::withPaneCount(int n) const {
    ExplainSettings s = *this;
    while (int(s.panes.size()) < n) {
        PaneSpec p = s.panes.back();
        for (const pqw::Method m : explainMethods()) {
            bool used = false;
            for (const auto& q : s.panes) used |= q.method == m;
            if (!used) {
                p.method = m;
                break;
            }
        }
        s.panes.push_back(p);
    }
    s.panes.resize(size_t(n));
    s.active = std::min(s.active, n - 1);
    if (n < 2) s.swipe = false;
    return s;
}

ExplainSettings ExplainSettings::fittedTo(int classes, bool proto, bool probe, bool compare, bool comparePending) const {
    ExplainSettings s = *this;
    for (auto& p : s.panes) {
        if (p.head == PaneHead::Compare && !compare && !comparePending) p.head = proto ? PaneHead::ProtoQuant : PaneHead::Probe;
        if (p.head == PaneHead::ProtoQuant && !proto && probe) p.head = PaneHead::Probe;
        if (p.head == PaneHead::Probe && !probe && proto) p.head = PaneHead::ProtoQuant;
        if (p.target >= classes) p.target = -1;
        if (p.contrast >= classes) p.contrast = -1;
    }
    return s;
}

ExplainSettings ExplainSettings::withComparison(int pane) const {
    ExplainSettings s = *this;
    if (pane >= 0 && pane < int(s.panes.size())) {
        // Chosen in that pane's model list.
        s.panes[size_t(pane)].head = PaneHead::Compare;
        s.active = pane;
    } else {
        // Beside what pane 1 shows: the last pane (a second one if there is one pane).
        if (s.panes.size() < 2) s.panes.push_back(s.panes.front());
        s.panes.back().head = PaneHead::Compare;
        s.panes.back().method = s.panes.front().method;
        s.active = int(s.panes.size()) - 1;
    }
    return s;
}

std::vector<pqw::ProjectExplanation> chosenExplanations(const ExplainSettings& s) {
    std::vector<pqw::ProjectExplanation> out;
    if (s.image.kind == ExplainImageRef::Kind::None) return out;
    for (const auto& p : s.panes) {
        if (p.head != PaneHead::ProtoQuant) continue;  // the report explains the project's active head
        pqw::ProjectExplanation e;
        if (s.image.kind == ExplainImageRef::Kind::File) e.image = s.image.path.toStdString();
        else e.sample = static_cast<long long>(s.image.sample);
        e.method = pqw::methodName(p.method);
        e.target = p.target;
        e.contrast = p.contrast;
        bool seen = false;
        for (const auto& o : out) seen = seen || (o.method == e.method && o.target == e.target && o.contrast == e.contrast);
        if (!seen) out.push_back(e);
    }
    return out;
}

namespace {
QJsonObject imageJson(const ExplainImageRef& r) {
    QJsonObject o;
    switch (r.kind) {
        case ExplainImageRef::Kind::Sample:
            o[QStringLiteral("kind")] = QStringLiteral("sample");
            o[QStringLiteral("sample")] = double(r.sample);
            break;
        case ExplainImageRef::Kind::File:
            o[QStringLiteral("kind")] = QStringLiteral("file");
            o[QStringLiteral("path")] = r.path;
            break;
        case ExplainImageRef::Kind::None: o[QStringLiteral("kind")] = QStringLiteral("none"); break;
    }
    return o;
}

ExplainImageRef imageFromJson(const QJsonObject& o) {
    ExplainImageRef r;
    const QString k = o.value(QStringLiteral("kind")).toString();
    if (k == QLatin1String("sample") && o.value(QStringLiteral("sample")).toDouble(-1) >= 0) {
        r.kind = ExplainImageRef::Kind::Sample;
        r.sample = size_t(o.value(QStringLiteral("sample")).toDouble());
    } else if (k == QLatin1String("file") && !o.value(QStringLiteral("path")).toString().isEmpty()) {
        r.kind = ExplainImageRef::Kind::File;
        r.path = o.value(QStringLiteral("path")).toString();
    }
    return r;
}
}  // namespace

QJsonObject settingsToJson(const ExplainSettings& s) {
    QJsonObject o;
    o[QStringLiteral("image")] = imageJson(s.image);
    QJsonArray panes;
    for (const auto& p : s.panes)
        panes.append(QJsonObject{{QStringLiteral("method"), QString::fromLatin1(pqw::methodName(p.method))},
                                 {QStringLiteral("target"), p.target},
                                 {QStringLiteral("contrast"), p.contrast},
                                 {QStringLiteral("head"), p.head == PaneHead::Probe     ? QStringLiteral("probe")
                                                          : p.head == PaneHead::Compare ? QStringLiteral("compare")
                                                                                        : QStringLiteral("protoquant")}});
    o[QStringLiteral("panes")] = panes;
    o[QStringLiteral("activePane")] = s.active;
    const auto& v = s.overlay;
    o[QStringLiteral("overlay")] = QJsonObject{{QStringLiteral("alpha"), v.alpha},
                                               {QStringLiteral("colormap"), v.colormap},
                                               {QStringLiteral("absolute"), v.absolute},
                                               {QStringLiteral("percentile"), v.percentile},
                                               {QStringLiteral("smooth"), v.smooth},
                                               {QStringLiteral("withBias"), v.withBias}};
    const auto& c = s.compute;
    o[QStringLiteral("compute")] = QJsonObject{{QStringLiteral("igSteps"), c.igSteps},
                                               {QStringLiteral("smoothGradSamples"), c.sgSamples},
                                               {QStringLiteral("smoothGradNoise"), c.sgNoise},
                                               {QStringLiteral("occlusionPatch"), c.occPatch},
                                               {QStringLiteral("occlusionStride"), c.occStride}};
    o[QStringLiteral("swipe")] = s.swipe;
    return o;
}

ExplainSettings settingsFromJson(const QJsonObject& o) {
    ExplainSettings s;
    s.image = imageFromJson(o.value(QStringLiteral("image")).toObject());
    const QJsonArray panes = o.value(QStringLiteral("panes")).toArray();
    if (!panes.isEmpty()) {
        s.panes.clear();
        for (const auto& pv : panes) {
            if (s.panes.size() == 4) break;
            const QJsonObject p = pv.toObject();
            PaneSpec ps;
            pqw::Method m;
            if (pqw::parseMethod(p.value(QStringLiteral("method")).toString().toStdString(), m)) ps.method = m;
            ps.target = std::max(-1, p.value(QStringLiteral("target")).toInt(-1));
            ps.contrast = std::max(-1, p.value(QStringLiteral("contrast")).toInt(-1));
            const QString head = p.value(QStringLiteral("head")).toString();
            ps.head = head == QLatin1String("probe")     ? PaneHead::Probe
                      : head == QLatin1String("compare") ? PaneHead::Compare
                                                         : PaneHead::ProtoQuant;
            s.panes.push_back(ps);
        }
    }
    s.active = std::clamp(o.value(QStringLiteral("activePane")).toInt(0), 0, int(s.panes.size()) - 1);
    const QJsonObject v = o.value(QStringLiteral("overlay")).toObject();
    s.overlay.alpha = std::clamp(v.value(QStringLiteral("alpha")).toDouble(s.overlay.alpha), 0.0, 1.0);
    const QString cm = v.value(QStringLiteral("colormap")).toString(s.overlay.colormap);
    for (const char* k : kColormaps)
        if (cm == QLatin1String(k)) s.overlay.colormap = cm;
    s.overlay.absolute = v.value(QStringLiteral("absolute")).toBool(s.overlay.absolute);
    s.overlay.percentile = std::clamp(v.value(QStringLiteral("percentile")).toDouble(s.overlay.percentile), 50.0, 100.0);
    s.overlay.smooth = v.value(QStringLiteral("smooth")).toBool(s.overlay.smooth);
    s.overlay.withBias = v.value(QStringLiteral("withBias")).toBool(s.overlay.withBias);
    const QJsonObject c = o.value(QStringLiteral("compute")).toObject();
    s.compute.igSteps = std::clamp(c.value(QStringLiteral("igSteps")).toInt(s.compute.igSteps), 2, 512);
    s.compute.sgSamples = std::clamp(c.value(QStringLiteral("smoothGradSamples")).toInt(s.compute.sgSamples), 2, 256);
    s.compute.sgNoise = std::clamp(c.value(QStringLiteral("smoothGradNoise")).toDouble(s.compute.sgNoise), 0.0, 1.0);
    s.compute.occPatch = std::clamp(c.value(QStringLiteral("occlusionPatch")).toInt(s.compute.occPatch), 1, 256);
    s.compute.occStride = std::clamp(c.value(QStringLiteral("occlusionStride")).toInt(s.compute.occStride), 1, 256);
    s.swipe = o.value(QStringLiteral("swipe")).toBool(false);
    return s;
}

}  // namespace pqwgui
