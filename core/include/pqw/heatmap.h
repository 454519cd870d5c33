#pragma once
// Attribution heat maps: a float map (H x W, row-major) rendered as an RGBA overlay with
// OpenCV (Qt-free). Signed maps use a diverging colour map centred at zero; absolute maps a
// sequential one. Clipping is symmetric at a percentile of |value|.
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace pqw {

struct HeatmapOptions {
    bool signedMap = true;          ///< true: diverging, centred at 0; false: |value|
    std::string colormap = "auto";  ///< "auto" (bwr when signed, inferno otherwise), "bwr", "jet", "viridis", "inferno", "magma", "gray"
    double percentile = 99.0;       ///< clip |value| at this percentile (symmetric); 100 = the maximum
    double alpha = 0.6;             ///< opacity of the strongest values (alpha scales with |value| / clip)
    bool smooth = true;             ///< bilinear (true) or nearest (false) upsampling to the output size
    int width = 0, height = 0;      ///< output size; 0 = the map's size
};

/// The clipping value: the `percentile` of |map| (0 when the map is all zero).
double heatmapClip(const std::vector<float>& map, double percentile);

/// Renders the map (h x w) as 8-bit RGBA of the requested size. Throws pqw::Error on a size
/// mismatch or an unknown colour map.
cv::Mat renderHeatmap(const std::vector<float>& map, int h, int w, const HeatmapOptions& o = {});

/// Blends an RGBA overlay onto an RGB image of the same size (returns RGB).
cv::Mat blendOverlay(const cv::Mat& rgb, const cv::Mat& rgba);

}  // namespace pqw
