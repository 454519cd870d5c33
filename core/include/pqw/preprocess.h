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
    /// > 0: torchvision's Resize(resize) (shorter side, the longer one int(resize * long /
    /// short)) then CenterCrop(size); needs resize >= size. 0: resized straight to size x size.
    int resize = 0;
    /// Resampling as torchvision on PIL images (Pillow's antialiased bilinear filter, in 8-bit
    /// fixed point, bit for bit) instead of OpenCV's area (shrinking) / linear (enlarging).
    bool pilBilinear = false;
    bool augment = false;        ///< flip + random-resized crop (training only)
    float cropScaleMin = 0.6f;   ///< random-resized crop: smallest area fraction

    /// Describes everything that changes the pixels (part of the cache fingerprint).
    std::string fingerprint() const;
};

/// The preprocessing a user chose for a backbone (`--mean --std --resize --crop`, the Model &
/// Features form), recorded in feature caches, checkpoints and projects. Resampling is then
/// torchvision's (pilBilinear). Values are on the 0..1 pixel scale.
struct InputPreprocessing {
    std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  ///< ImageNet by default
    std::array<float, 3> stdev{0.229f, 0.224f, 0.225f};
    bool centerCrop = false;
    int resize = 0;  ///< centre crop: the shorter side before cropping; 0 = round(size * 256 / 224)

    /// The pixels at one input size; throws pqw::Error when resize < size.
    Preprocess at(int size) const;
    /// "mean 0.485,0.456,0.406 std 0.229,0.224,0.225, resize 256 + centre crop (torchvision)".
    std::string describe() const;
    /// Throws pqw::Error naming what is out of range (means in [0, 1], stds in (0, 1], resize).
    void validate() const;
    bool operator==(const InputPreprocessing& o) const {
        return mean == o.mean && stdev == o.stdev && centerCrop == o.centerCrop && resize == o.resize;
    }
    bool operator!=(const InputPreprocessing& o) const { return !(*this == o); }
};

/// "R,G,B" -> three floats; throws pqw::Error naming `what` (e.g. "--mean") otherwise.
std::array<float, 3> parseRgb(const std::string& text, const std::string& what);

/// Writes one image (8-bit RGB, any size) as float CHW [3, size, size] into out.
/// Shrinking uses INTER_AREA, enlarging INTER_LINEAR (or Pillow's bilinear filter, see
/// Preprocess::pilBilinear). rng is used only when augmenting.
void preprocessImage(const cv::Mat& rgb, const Preprocess& p, float* out, std::mt19937* rng = nullptr);

/// The 8-bit RGB size x size image the network sees (resized / cropped as preprocessImage
/// does, not normalised, no augmentation): the background of attribution overlays.
cv::Mat preprocessedView(const cv::Mat& rgb, const Preprocess& p);

/// Pillow's Image.resize(..., BILINEAR) on an 8-bit RGB image (what torchvision's Resize does
/// to PIL images): antialiased triangle filter, horizontal then vertical pass, 22-bit fixed point.
cv::Mat resizePilBilinear(const cv::Mat& rgb, int width, int height);

}  // namespace pqw
