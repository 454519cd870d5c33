#pragma once
// Small Qt-free plotting: line / scatter series with a legend, axes and ticks, written as
// hand-made SVG text or drawn into a cv::Mat with OpenCV (PNG). For reports and the CLI.
#include <cmath>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace pqw {

struct PlotSeries {
    std::string name;            ///< legend text (empty: not in the legend)
    std::vector<double> x, y;
    bool line = true;            ///< connect the points in the given order
    bool markers = true;         ///< draw a marker at each point
    bool dashed = false;
    int color = -1;              ///< index into the palette (-1: the series' position)
};

struct PlotSpec {
    std::string title, xLabel, yLabel;
    std::vector<PlotSeries> series;
    int width = 820, height = 520;
    /// Axis ranges; NaN = from the data (with a small margin).
    double xMin = NAN, xMax = NAN, yMin = NAN, yMax = NAN;
};

/// Round tick values covering [lo, hi] (about `target` of them: 1, 2, 2.5 or 5 x 10^k steps).
std::vector<double> niceTicks(double lo, double hi, int target = 6);
/// The plot as an SVG document.
std::string plotSvg(const PlotSpec& p);
/// The plot drawn into an 8-bit BGR image of p.width x p.height.
cv::Mat plotImage(const PlotSpec& p);
/// Writes base + ".svg" and base + ".png" (atomically). Returns both paths.
std::vector<std::string> writePlot(const PlotSpec& p, const std::string& base);

}  // namespace pqw
