#include "explain/overlay.h"

#include <QCoreApplication>
#include <QPainter>

#include <algorithm>

#include "pqw/heatmap.h"

namespace pqwgui {

QImage composeOverlay(const QImage& input, const std::vector<float>& map, int h, int w, const OverlayOptions& o) {
    if (input.isNull()) return {};
    const int k = std::max(1, (kDisplaySide + input.width() - 1) / input.width());
    const int W = input.width() * k, H = input.height() * k;
    QImage base = input.convertToFormat(QImage::Format_RGB888).scaled(W, H, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    if (map.empty() || map.size() != size_t(h) * size_t(w)) return base;
    pqw::HeatmapOptions ho;
    ho.signedMap = !o.absolute;
    ho.colormap = o.colormap.toStdString();
    ho.percentile = o.percentile;
    ho.alpha = o.alpha;
    ho.smooth = o.smooth;
    ho.width = W;
    ho.height = H;
    const cv::Mat rgba = pqw::renderHeatmap(map, h, w, ho);
    const QImage over(rgba.data, rgba.cols, rgba.rows, int(rgba.step), QImage::Format_RGBA8888);
    QPainter p(&base);
    p.drawImage(0, 0, over);
    p.end();
    return base;
}

std::vector<float> shownMap(const pqw::Attribution& a, bool withBias) {
    auto m = a.map;
    if (withBias && a.biasMap.size() == m.size())
        for (size_t i = 0; i < m.size(); ++i) m[i] += a.biasMap[i];
    return m;
}

QImage composeAttribution(const QImage& input, const pqw::Attribution& a, const OverlayOptions& o) {
    return composeOverlay(input, shownMap(a, o.withBias), a.height, a.width, o);
}

QString overlayLegend(const OverlayOptions& o) {
    auto tr = [](const char* s) { return QCoreApplication::translate("pqwgui::ExplainView", s); };
    const bool bwr = o.colormap == QLatin1String("auto") || o.colormap == QLatin1String("bwr");
    return o.absolute ? tr("brighter: larger |contribution|")
           : bwr      ? tr("<span style='color:#d62728'>■</span> raises the score &nbsp;<span style='color:#1f4fd6'>■</span> lowers it")
                      : tr("colour scale centred at 0 (no effect)");
}

}  // namespace pqwgui
