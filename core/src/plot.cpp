// Qt-free plotting: SVG by hand, PNG through OpenCV drawing.
#include "pqw/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw {

namespace {

struct Rgb {
    int r, g, b;
};
const Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
Rgb colorOf(const PlotSeries& s, size_t i) { return kPalette[size_t(s.color >= 0 ? s.color : int(i)) % 10]; }

std::string fmt(double v) {
    char b[32];
    if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3))
        std::snprintf(b, sizeof b, "%.3g", v);
    else
        std::snprintf(b, sizeof b, "%.6g", std::round(v * 1e6) / 1e6);
    return b;
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '&') o += "&amp;";
        else if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else if (c == '"') o += "&quot;";
        else o += c;
    }
    return o;
}

/// Data ranges, ticks and the mapping to pixels shared by both back ends.
struct Frame {
    double x0, x1, y0, y1;
    std::vector<double> xt, yt;
    int left = 78, right = 200, top = 44, bottom = 62, W, H;
    explicit Frame(const PlotSpec& p) : W(p.width), H(p.height) {
        double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
        for (const auto& s : p.series)
            for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
                if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
                xl = std::min(xl, s.x[i]);
                xh = std::max(xh, s.x[i]);
                yl = std::min(yl, s.y[i]);
                yh = std::max(yh, s.y[i]);
            }
        if (!std::isfinite(xl)) xl = 0, xh = 1, yl = 0, yh = 1;
        auto pad = [](double& lo, double& hi) {
            if (hi - lo < 1e-12) {
                lo -= 0.5;
                hi += 0.5;
            } else {
                const double m = 0.05 * (hi - lo);
                lo -= m;
                hi += m;
            }
        };
        pad(xl, xh);
        pad(yl, yh);
        x0 = std::isnan(p.xMin) ? xl : p.xMin;
        x1 = std::isnan(p.xMax) ? xh : p.xMax;
        y0 = std::isnan(p.yMin) ? yl : p.yMin;
        y1 = std::isnan(p.yMax) ? yh : p.yMax;
        xt = niceTicks(x0, x1);
        yt = niceTicks(y0, y1);
        size_t longest = 0;  // legend column sized to the longest name (~7 px per character)
        for (const auto& s : p.series) longest = std::max(longest, s.name.size());
        right = longest == 0 ? 24 : std::min(W / 2, 52 + 7 * int(longest));
    }
    double px(double x) const { return left + (x - x0) / (x1 - x0) * (W - left - right); }
    double py(double y) const { return H - bottom - (y - y0) / (y1 - y0) * (H - top - bottom); }
    bool inside(double x, double y) const { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }
};

}  // namespace

std::vector<double> niceTicks(double lo, double hi, int target) {
    std::vector<double> t;
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return t;
    const double raw = (hi - lo) / std::max(1, target);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (raw <= m * mag) {
            step = m * mag;
            break;
        }
    // k * step, rounded to the step's decimals, so 3 x 0.2 is 0.6 and not 0.6000000000000001
    const double scale = std::pow(10.0, std::max(0.0, 1.0 - std::floor(std::log10(step))));
    for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1.0) {
        const double v = std::round(k * step * scale) / scale;
        t.push_back(v == 0.0 ? 0.0 : v);
    }
    return t;
}

std::string plotSvg(const PlotSpec& p) {
    const Frame f(p);
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << p.width << "\" height=\"" << p.height
      << "\" viewBox=\"0 0 " << p.width << " " << p.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    const double L = f.left, R = f.W - f.right, T = f.top, B = f.H - f.bottom;
    for (double x : f.xt) {
        o << "<line x1=\"" << f.px(x) << "\" y1=\"" << T << "\" x2=\"" << f.px(x) << "\" y2=\"" << B
          << "\" stroke=\"#e4e4e4\"/>\n";
        o << "<text x=\"" << f.px(x) << "\" y=\"" << B + 16 << "\" text-anchor=\"middle\">" << fmt(x) << "</text>\n";
    }
    for (double y : f.yt) {
        o << "<line x1=\"" << L << "\" y1=\"" << f.py(y) << "\" x2=\"" << R << "\" y2=\"" << f.py(y)
          << "\" stroke=\"#e4e4e4\"/>\n";
        o << "<text x=\"" << L - 6 << "\" y=\"" << f.py(y) + 4 << "\" text-anchor=\"end\">" << fmt(y) << "</text>\n";
    }
    o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << R - L << "\" height=\"" << B - T
      << "\" fill=\"none\" stroke=\"black\"/>\n";
    o << "<text x=\"" << (L + R) / 2 << "\" y=\"" << f.H - 18 << "\" text-anchor=\"middle\">" << esc(p.xLabel)
      << "</text>\n";
    o << "<text transform=\"translate(18," << (T + B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(p.yLabel)
      << "</text>\n";
    o << "<text x=\"" << (L + R) / 2 << "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">" << esc(p.title)
      << "</text>\n";
    o << "<defs><clipPath id=\"plotarea\"><rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << R - L
      << "\" height=\"" << B - T << "\"/></clipPath></defs>\n";
    int legendRow = 0;
    for (size_t i = 0; i < p.series.size(); ++i) {
        const auto& s = p.series[i];
        const Rgb c = colorOf(s, i);
        char col[16];
        std::snprintf(col, sizeof col, "#%02x%02x%02x", c.r, c.g, c.b);
        const size_t n = std::min(s.x.size(), s.y.size());
        o << "<g clip-path=\"url(#plotarea)\">\n";
        if (s.line && n > 1) {
            o << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\""
              << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"";
            for (size_t k = 0; k < n; ++k) o << f.px(s.x[k]) << "," << f.py(s.y[k]) << " ";
            o << "\"/>\n";
        }
        if (s.markers)
            for (size_t k = 0; k < n; ++k)
                o << "<circle cx=\"" << f.px(s.x[k]) << "\" cy=\"" << f.py(s.y[k]) << "\" r=\"3.5\" fill=\"" << col
                  << "\"/>\n";
        o << "</g>\n";
        if (!s.name.empty()) {
            const double ly = T + 8 + 18 * legendRow++;
            o << "<line x1=\"" << R + 12 << "\" y1=\"" << ly << "\" x2=\"" << R + 34 << "\" y2=\"" << ly
              << "\" stroke=\"" << col << "\" stroke-width=\"2\"" << (s.dashed ? " stroke-dasharray=\"6,4\"" : "")
              << "/>\n";
            if (s.markers) o << "<circle cx=\"" << R + 23 << "\" cy=\"" << ly << "\" r=\"3.5\" fill=\"" << col << "\"/>\n";
            o << "<text x=\"" << R + 40 << "\" y=\"" << ly + 4 << "\">" << esc(s.name) << "</text>\n";
        }
    }
    o << "</svg>\n";
    return o.str();
}

cv::Mat plotImage(const PlotSpec& p) {
    const Frame f(p);
    cv::Mat img(p.height, p.width, CV_8UC3, cv::Scalar(255, 255, 255));
    const int L = f.left, R = f.W - f.right, T = f.top, B = f.H - f.bottom;
    const auto font = cv::FONT_HERSHEY_SIMPLEX;
    auto text = [&](const std::string& s, int x, int y, int align, double scale = 0.42) {
        int base = 0;
        const cv::Size sz = cv::getTextSize(s, font, scale, 1, &base);
        const int xx = align == 0 ? x - sz.width / 2 : align > 0 ? x - sz.width : x;
        cv::putText(img, s, {xx, y}, font, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    };
    for (double x : f.xt) {
        const int X = int(std::lround(f.px(x)));
        cv::line(img, {X, T}, {X, B}, cv::Scalar(228, 228, 228), 1);
        text(fmt(x), X, B + 16, 0);
    }
    for (double y : f.yt) {
        const int Y = int(std::lround(f.py(y)));
        cv::line(img, {L, Y}, {R, Y}, cv::Scalar(228, 228, 228), 1);
        text(fmt(y), L - 6, Y + 4, 1);
    }
    cv::rectangle(img, {L, T}, {R, B}, cv::Scalar(0, 0, 0), 1);
    text(p.xLabel, (L + R) / 2, f.H - 18, 0, 0.5);
    text(p.title, (L + R) / 2, 26, 0, 0.6);
    {  // rotated y label: draw horizontally, then rotate the patch
        int base = 0;
        const cv::Size sz = cv::getTextSize(p.yLabel, font, 0.5, 1, &base);
        if (sz.width > 0) {
            cv::Mat patch(sz.height + base + 4, sz.width + 4, CV_8UC3, cv::Scalar(255, 255, 255));
            cv::putText(patch, p.yLabel, {2, sz.height + 2}, font, 0.5, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
            cv::rotate(patch, patch, cv::ROTATE_90_COUNTERCLOCKWISE);
            const int y0 = std::max(0, (T + B) / 2 - patch.rows / 2);
            if (y0 + patch.rows <= img.rows && 6 + patch.cols <= img.cols) patch.copyTo(img(cv::Rect(6, y0, patch.cols, patch.rows)));
        }
    }
    cv::Mat area = img(cv::Rect(L + 1, T + 1, R - L - 1, B - T - 1));
    int legendRow = 0;
    for (size_t i = 0; i < p.series.size(); ++i) {
        const auto& s = p.series[i];
        const Rgb c = colorOf(s, i);
        const cv::Scalar col(c.b, c.g, c.r);
        const size_t n = std::min(s.x.size(), s.y.size());
        auto pt = [&](size_t k) {
            return cv::Point(int(std::lround(f.px(s.x[k]))) - (L + 1), int(std::lround(f.py(s.y[k]))) - (T + 1));
        };
        if (s.line)
            for (size_t k = 1; k < n; ++k) {
                if (!s.dashed) {
                    cv::line(area, pt(k - 1), pt(k), col, 2, cv::LINE_AA);
                    continue;
                }
                const cv::Point2d a = pt(k - 1), b = pt(k);
                const double len = cv::norm(b - a);
                for (double t = 0; t < len; t += 10)
                    cv::line(area, a + (b - a) * (t / len), a + (b - a) * (std::min(len, t + 6) / len), col, 2, cv::LINE_AA);
            }
        if (s.markers)
            for (size_t k = 0; k < n; ++k) cv::circle(area, pt(k), 4, col, cv::FILLED, cv::LINE_AA);
        if (!s.name.empty()) {
            const int ly = T + 8 + 18 * legendRow++;
            cv::line(img, {R + 12, ly}, {R + 34, ly}, col, 2, cv::LINE_AA);
            if (s.markers) cv::circle(img, {R + 23, ly}, 4, col, cv::FILLED, cv::LINE_AA);
            text(s.name, R + 40, ly + 4, -1, 0.4);
        }
    }
    return img;
}

std::vector<std::string> writePlot(const PlotSpec& p, const std::string& base) {
    writeFileAtomic(base + ".svg", plotSvg(p));
    std::vector<uchar> png;
    if (!cv::imencode(".png", plotImage(p), png)) throw Error(base + ".png: cannot encode");
    writeFileAtomic(base + ".png", std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
    return {base + ".svg", base + ".png"};
}

}  // namespace pqw
