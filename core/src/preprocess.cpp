// Preprocessing: resize to a square input, normalise to CHW float, optional augmentation.
#include "pqw/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "pqw/error.h"

namespace pqw {

namespace {

/// Uniform float in [0, 1) from 24 random bits: identical on every standard library
/// (std::uniform_real_distribution is not).
float uniform01(std::mt19937& rng) { return static_cast<float>(rng() >> 8) * (1.0f / 16777216.0f); }

/// Uniform integer in [0, n] (n small), by rejection.
int uniformUpTo(std::mt19937& rng, int n) {
    const uint32_t range = static_cast<uint32_t>(n) + 1u;
    const uint32_t limit = UINT32_MAX - UINT32_MAX % range;
    uint32_t x;
    do {
        x = rng();
    } while (x >= limit);
    return static_cast<int>(x % range);
}

/// Random-resized crop window (as torchvision's RandomResizedCrop, ten tries, then the
/// whole image): area fraction in [minScale, 1], aspect ratio log-uniform in [3/4, 4/3].
cv::Rect randomCrop(int w, int h, float minScale, std::mt19937& rng) {
    const float area = static_cast<float>(w) * static_cast<float>(h);
    const float logLo = std::log(3.0f / 4.0f), logHi = std::log(4.0f / 3.0f);
    const float lo = std::clamp(minScale, 0.0f, 1.0f);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const float target = area * (lo + (1.0f - lo) * uniform01(rng));
        const float ratio = std::exp(logLo + (logHi - logLo) * uniform01(rng));
        const int cw = static_cast<int>(std::lround(std::sqrt(target * ratio)));
        const int ch = static_cast<int>(std::lround(std::sqrt(target / ratio)));
        if (cw >= 1 && ch >= 1 && cw <= w && ch <= h) {
            const int x = uniformUpTo(rng, w - cw);
            const int y = uniformUpTo(rng, h - ch);
            return {x, y, cw, ch};
        }
    }
    return {0, 0, w, h};
}


// Pillow's resampling (libImaging/Resample.c, Pillow 9): bilinear filter, support 1 scaled by
// the reduction factor, coefficients normalised then turned into 22-bit fixed point.
constexpr int kPilPrecision = 32 - 8 - 2;

struct PilCoeffs {
    int ksize = 0;
    std::vector<int> bounds;    // xmin, count per output pixel
    std::vector<int32_t> k;     // ksize per output pixel
};

PilCoeffs pilCoeffs(int inSize, int outSize) {
    PilCoeffs c;
    const double scale = static_cast<double>(static_cast<float>(inSize)) / outSize;
    const double filterscale = std::max(scale, 1.0);
    const double support = 1.0 * filterscale;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.bounds.resize(size_t(outSize) * 2);
    c.k.assign(size_t(outSize) * c.ksize, 0);
    std::vector<double> w(size_t(c.ksize));
    for (int xx = 0; xx < outSize; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > inSize) xmax = inSize;
        xmax -= xmin;
        double ww = 0;
        for (int x = 0; x < xmax; ++x) {
            const double t = std::abs((x + xmin - center + 0.5) * ss);
            w[size_t(x)] = t < 1.0 ? 1.0 - t : 0.0;
            ww += w[size_t(x)];
        }
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
            c.k[size_t(xx) * c.ksize + x] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPilPrecision)
                                                                       : 0.5 + v * (1 << kPilPrecision));
        }
        c.bounds[size_t(xx) * 2] = xmin;
        c.bounds[size_t(xx) * 2 + 1] = xmax;
    }
    return c;
}

inline uint8_t pilClip8(int32_t v) {
    if (v >= (1 << kPilPrecision << 8)) return 255;
    if (v <= 0) return 0;
    return static_cast<uint8_t>(v >> kPilPrecision);
}

}  // namespace

cv::Mat resizePilBilinear(const cv::Mat& rgb, int width, int height) {
    if (rgb.type() != CV_8UC3) throw Error("resize: expected an 8-bit RGB image");
    if (width <= 0 || height <= 0) throw Error("resize: the output size must be positive");
    cv::Mat cur = rgb;
    if (width != rgb.cols) {  // horizontal pass
        const PilCoeffs c = pilCoeffs(rgb.cols, width);
        cv::Mat out(rgb.rows, width, CV_8UC3);
        for (int y = 0; y < rgb.rows; ++y) {
            const uint8_t* in = cur.ptr<uint8_t>(y);
            uint8_t* o = out.ptr<uint8_t>(y);
            for (int xx = 0; xx < width; ++xx) {
                const int xmin = c.bounds[size_t(xx) * 2], n = c.bounds[size_t(xx) * 2 + 1];
                const int32_t* k = &c.k[size_t(xx) * c.ksize];
                int32_t s0 = 1 << (kPilPrecision - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; ++x) {
                    const uint8_t* px = in + 3 * (x + xmin);
                    s0 += px[0] * k[x];
                    s1 += px[1] * k[x];
                    s2 += px[2] * k[x];
                }
                o[3 * xx] = pilClip8(s0);
                o[3 * xx + 1] = pilClip8(s1);
                o[3 * xx + 2] = pilClip8(s2);
            }
        }
        cur = out;
    }
    if (height != rgb.rows) {  // vertical pass
        const PilCoeffs c = pilCoeffs(cur.rows, height);
        cv::Mat out(height, cur.cols, CV_8UC3);
        for (int yy = 0; yy < height; ++yy) {
            const int ymin = c.bounds[size_t(yy) * 2], n = c.bounds[size_t(yy) * 2 + 1];
            const int32_t* k = &c.k[size_t(yy) * c.ksize];
            uint8_t* o = out.ptr<uint8_t>(yy);
            for (int xx = 0; xx < 3 * cur.cols; ++xx) {
                int32_t s = 1 << (kPilPrecision - 1);
                for (int y = 0; y < n; ++y) s += cur.ptr<uint8_t>(y + ymin)[xx] * k[y];
                o[xx] = pilClip8(s);
            }
        }
        cur = out;
    }
    return cur.data == rgb.data ? rgb.clone() : cur;
}


cv::Mat preprocessedView(const cv::Mat& rgb, const Preprocess& p) {
    if (rgb.empty()) throw Error("preprocess: empty image");
    if (rgb.type() != CV_8UC3) throw Error("preprocess: expected an 8-bit RGB image, got type " + std::to_string(rgb.type()));
    const int S = p.size;
    if (S <= 0) throw Error("preprocess: input size must be positive, got " + std::to_string(S));
    auto resizeTo = [&](const cv::Mat& src, int w, int h) {
        if (src.cols == w && src.rows == h) return src;
        if (p.pilBilinear) return resizePilBilinear(src, w, h);
        cv::Mat out;
        const bool shrink = src.cols >= w && src.rows >= h;
        cv::resize(src, out, cv::Size(w, h), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
        return out;
    };
    if (p.resize <= 0) return resizeTo(rgb, S, S);
    if (p.resize < S)
        throw Error("preprocess: resize " + std::to_string(p.resize) + " is smaller than the crop " + std::to_string(S));
    // torchvision: Resize(R) sets the shorter side to R and the longer to int(R * long / short);
    // CenterCrop(S) starts at int(round((side - S) / 2.0)) (Python rounds halves to even).
    const bool wide = rgb.cols > rgb.rows;
    const int shortSide = wide ? rgb.rows : rgb.cols, longSide = wide ? rgb.cols : rgb.rows;
    const int newLong = static_cast<int>(static_cast<double>(p.resize) * longSide / shortSide);
    const int w = wide ? newLong : p.resize, h = wide ? p.resize : newLong;
    const cv::Mat resized = resizeTo(rgb, w, h);
    const int top = static_cast<int>(std::nearbyint((h - S) / 2.0)), left = static_cast<int>(std::nearbyint((w - S) / 2.0));
    return resized(cv::Rect(left, top, S, S)).clone();
}

void preprocessImage(const cv::Mat& rgb, const Preprocess& p, float* out, std::mt19937* rng) {
    if (rgb.empty()) throw Error("preprocess: empty image");
    if (rgb.type() != CV_8UC3) throw Error("preprocess: expected an 8-bit RGB image, got type " + std::to_string(rgb.type()));
    if (p.size <= 0) throw Error("preprocess: input size must be positive, got " + std::to_string(p.size));
    for (float s : p.stdev)
        if (!(s != 0.0f) || !std::isfinite(s)) throw Error("preprocess: stdev must be finite and non-zero");

    cv::Mat src = rgb;
    bool flip = false;
    if (p.augment && rng) {
        src = rgb(randomCrop(rgb.cols, rgb.rows, p.cropScaleMin, *rng));
        flip = uniform01(*rng) < 0.5f;
    }
    const int S = p.size;
    cv::Mat sized;
    if (p.augment && rng) {
        Preprocess q = p;
        q.resize = 0;  // the random crop replaces the centre crop
        q.augment = false;
        sized = preprocessedView(src, q);
    } else {
        sized = preprocessedView(src, p);
    }
    if (flip) {
        cv::Mat mirrored;  // never in place: `sized` may share the caller's pixels
        cv::flip(sized, mirrored, 1);
        sized = mirrored;
    }

    // One lookup table per channel: out = (v * scale - mean) / stdev, in float.
    float lut[3][256];
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) * p.scale - p.mean[c]) / p.stdev[c];
    const size_t plane = size_t(S) * size_t(S);
    for (int y = 0; y < S; ++y) {
        const auto* row = sized.ptr<uint8_t>(y);
        float* o0 = out + size_t(y) * S;
        float* o1 = o0 + plane;
        float* o2 = o1 + plane;
        for (int x = 0; x < S; ++x) {
            o0[x] = lut[0][row[3 * x + 0]];
            o1[x] = lut[1][row[3 * x + 1]];
            o2[x] = lut[2][row[3 * x + 2]];
        }
    }
}

}  // namespace pqw
