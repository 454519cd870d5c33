#pragma once
// Preprocessing: decode -> RGB -> resize -> backbone normalisation, with optional
// training augmentation (horizontal flip, random-resized crop).
#include <array>
#include <cstdint>
#include <random>
#include <string>

#include <opencv2/core.hpp>

namespace pqw {

struct Preprocess {
    int size = 224;              ///< square input side in pixels
    float scale = 1.0f / 255.0f; ///< pixel value multiplier applied first
    std::array<float, 3> mean{0.f, 0.f, 0.f};  ///< subtracted after scaling
    std::array<float, 3> stdev{1.f, 1.f, 1.f}; ///< divided after subtracting
    bool augment = false;        ///< flip + random-resized crop (training only)
    float cropScaleMin = 0.6f;   ///< random-resized crop: smallest area fraction

    /// Describes everything that changes the pixels (part of the cache fingerprint).
    std::string fingerprint() const;
};

/// Writes one image (8-bit RGB, any size) as float CHW [3, size, size] into out.
/// Shrinking uses INTER_AREA, enlarging INTER_LINEAR. rng is used only when augmenting.
void preprocessImage(const cv::Mat& rgb, const Preprocess& p, float* out, std::mt19937* rng = nullptr);

}  // namespace pqw
