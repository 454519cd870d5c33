#pragma once
// Drawing an attribution map over the image as the model sees it.
#include <QImage>
#include <QString>

#include <vector>

#include "explain/explainsettings.h"
#include "explain/methods.h"

namespace pqwgui {

/// Overlays are rendered at about this many pixels.
constexpr int kDisplaySide = 448;

/// The image as the model sees it with a map drawn over it, upsampled to a display size.
QImage composeOverlay(const QImage& input, const std::vector<float>& map, int h, int w, const OverlayOptions& o);
/// The map to draw: C_w, or C_w + C_b when withBias (and the method has a bias map).
std::vector<float> shownMap(const pqw::Attribution& a, bool withBias);
/// composeOverlay of an attribution with the options (its bias map added when asked).
QImage composeAttribution(const QImage& input, const pqw::Attribution& a, const OverlayOptions& o);
/// The line under the overlay options that says what the colours mean.
QString overlayLegend(const OverlayOptions& o);

}  // namespace pqwgui
