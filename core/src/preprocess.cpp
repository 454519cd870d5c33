// Preprocessing: resize to a square input, normalise to CHW float, optional augmentation.
#include "pqw/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

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

std::string num(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
    return buf;
}

}  // namespace

std::string Preprocess::fingerprint() const {
    std::string s = "pp1 size=" + std::to_string(size) + " scale=" + num(scale) + " mean=" + num(mean[0]) + "," +
                    num(mean[1]) + "," + num(mean[2]) + " std=" + num(stdev[0]) + "," + num(stdev[1]) + "," +
                    num(stdev[2]) + " resize=area-down,linear-up augment=" + (augment ? "1" : "0");
    if (augment) s += " cropmin=" + num(cropScaleMin) + " flip=0.5";
    return s;
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
    if (src.cols == S && src.rows == S) {
        sized = src;
    } else {
        const bool shrink = src.cols >= S && src.rows >= S;
        cv::resize(src, sized, cv::Size(S, S), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
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
