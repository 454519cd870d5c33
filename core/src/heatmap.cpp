// Heat-map rendering (see pqw/heatmap.h).
#include "pqw/heatmap.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "pqw/error.h"

namespace pqw {

double heatmapClip(const std::vector<float>& map, double percentile) {
    if (map.empty()) return 0.0;
    std::vector<float> a(map.size());
    for (size_t i = 0; i < map.size(); ++i) a[i] = std::abs(map[i]);
    const double p = std::clamp(percentile, 0.0, 100.0) / 100.0;
    const size_t k = std::min(a.size() - 1, static_cast<size_t>(std::ceil(p * static_cast<double>(a.size() - 1))));
    std::nth_element(a.begin(), a.begin() + static_cast<long>(k), a.end());
    return a[k];
}

namespace {

/// Blue-white-red: t in [0, 1], 0.5 = white.
cv::Vec3b bwr(double t) {
    t = std::clamp(t, 0.0, 1.0);
    if (t < 0.5) {
        const double u = t / 0.5;  // 0 = blue, 1 = white
        return {static_cast<uchar>(std::lround(255 * u)), static_cast<uchar>(std::lround(255 * u)), 255};
    }
    const double u = (t - 0.5) / 0.5;  // 0 = white, 1 = red
    return {255, static_cast<uchar>(std::lround(255 * (1 - u))), static_cast<uchar>(std::lround(255 * (1 - u)))};
}

int cvMap(const std::string& name) {
    if (name == "jet") return cv::COLORMAP_JET;
    if (name == "viridis") return cv::COLORMAP_VIRIDIS;
    if (name == "inferno") return cv::COLORMAP_INFERNO;
    if (name == "magma") return cv::COLORMAP_MAGMA;
    if (name == "gray") return -2;
    return -1;
}

}  // namespace

cv::Mat renderHeatmap(const std::vector<float>& map, int h, int w, const HeatmapOptions& o) {
    if (h <= 0 || w <= 0 || map.size() != static_cast<size_t>(h) * w)
        throw Error("heat map: " + std::to_string(map.size()) + " values do not make a " + std::to_string(h) + " x " +
                    std::to_string(w) + " map");
    std::string cm = o.colormap == "auto" ? (o.signedMap ? "bwr" : "inferno") : o.colormap;
    if (cm != "bwr" && cvMap(cm) == -1) throw Error("heat map: unknown colour map '" + o.colormap + "'");
    const double clip = heatmapClip(map, o.percentile);
    const int W = o.width > 0 ? o.width : w, H = o.height > 0 ? o.height : h;
    cv::Mat m(h, w, CV_32F, const_cast<float*>(map.data()));
    cv::Mat up;
    cv::resize(m, up, cv::Size(W, H), 0, 0, o.smooth ? cv::INTER_LINEAR : cv::INTER_NEAREST);
    // t in [0, 1]: signed maps centre 0 at 0.5; absolute maps use |v|.
    cv::Mat t(H, W, CV_64F), strength(H, W, CV_64F);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            double v = up.at<float>(y, x);
            if (!o.signedMap) v = std::abs(v);
            const double n = clip > 0 ? std::clamp(v / clip, -1.0, 1.0) : 0.0;
            t.at<double>(y, x) = o.signedMap ? 0.5 + 0.5 * n : n;
            strength.at<double>(y, x) = std::abs(n);
        }
    cv::Mat rgb(H, W, CV_8UC3);
    if (cm == "bwr") {
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) rgb.at<cv::Vec3b>(y, x) = bwr(t.at<double>(y, x));
    } else {
        cv::Mat g8;
        t.convertTo(g8, CV_8U, 255.0);
        if (cvMap(cm) == -2) {
            cv::cvtColor(g8, rgb, cv::COLOR_GRAY2RGB);
        } else {
            cv::Mat bgr;
            cv::applyColorMap(g8, bgr, cvMap(cm));
            cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        }
    }
    cv::Mat rgba(H, W, CV_8UC4);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            const auto c = rgb.at<cv::Vec3b>(y, x);
            const double a = std::clamp(o.alpha, 0.0, 1.0) * strength.at<double>(y, x);
            rgba.at<cv::Vec4b>(y, x) = {c[0], c[1], c[2], static_cast<uchar>(std::lround(255 * a))};
        }
    return rgba;
}

cv::Mat blendOverlay(const cv::Mat& rgb, const cv::Mat& rgba) {
    if (rgb.size() != rgba.size() || rgb.type() != CV_8UC3 || rgba.type() != CV_8UC4)
        throw Error("overlay: image and heat map differ in size or type");
    cv::Mat out(rgb.size(), CV_8UC3);
    for (int y = 0; y < rgb.rows; ++y)
        for (int x = 0; x < rgb.cols; ++x) {
            const auto p = rgb.at<cv::Vec3b>(y, x);
            const auto h = rgba.at<cv::Vec4b>(y, x);
            const double a = h[3] / 255.0;
            cv::Vec3b r;
            for (int c = 0; c < 3; ++c) r[c] = static_cast<uchar>(std::lround((1 - a) * p[c] + a * h[c]));
            out.at<cv::Vec3b>(y, x) = r;
        }
    return out;
}

}  // namespace pqw
