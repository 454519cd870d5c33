#pragma once
// Figures drawn with OpenCV (Qt-free, so `pqw` can export them headlessly): prototype patch
// strips and "this looks like that" explanations. Images are 8-bit RGB.
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pqw/dataset.h"
#include "pqw/protoquant.h"

namespace pqw {

/// Maps a box in input pixels (the square the trunk saw) to the original image's pixels.
Box inputBoxToImage(const Box& b, int inputSize, int imageW, int imageH);

/// The crop of a training patch from its original image, resized to `side` pixels.
cv::Mat patchCrop(const Dataset& ds, const PatchRef& p, int inputSize, int side);

/// One prototype as a strip: a header (index, usage, strongest classes) over its top
/// patches (crops, best first, each captioned with its activation).
cv::Mat renderPrototypeStrip(const Dataset& ds, const PrototypeInfo& info, const std::vector<std::string>& classes,
                             int inputSize, int side = 96);

/// The image with the boxes of its `maxPrototypes` strongest prototypes, each labelled,
/// beside a column of those prototypes' best training patches.
cv::Mat renderLocalExplanation(const cv::Mat& rgb, const LocalExplanation& ex, const std::vector<PrototypeInfo>* index,
                               const Dataset* trainData, const std::vector<std::string>& classes, int inputSize,
                               int maxPrototypes = 5);

/// Writes an RGB image as PNG atomically; throws pqw::Error naming the path on failure.
void writePng(const std::string& path, const cv::Mat& rgb);

/// A NumPy .npy file (format 1.0, little-endian float32 '<f4', C order) holding values with
/// this shape (row-major); numpy.load reads it. Throws pqw::Error when the sizes disagree.
std::string npyBytes(const std::vector<float>& values, const std::vector<int64_t>& shape);
/// npyBytes written atomically to path.
void writeNpy(const std::string& path, const std::vector<float>& values, const std::vector<int64_t>& shape);

}  // namespace pqw
