#pragma once
// Datasets: a list of samples (image source, label, split) with class names.
// Formats: IDX (MNIST / Fashion-MNIST, gzipped or raw), an image folder with one
// subfolder per class (optionally under train/ and test/), the CUB-200-2011 layout,
// and a CSV manifest. Built-in names: "fashion-mnist", "mnist", "funnybirds" (pqw/funnybirds.h).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace pqw {

enum class Split : uint8_t { Train = 0, Val = 1, Test = 2 };
const char* splitName(Split s);

/// A pixel box in an image: x, y, width, height.
struct Box {
    float x = 0, y = 0, w = 0, h = 0;
};

struct Sample {
    std::string source;  ///< file path, or "<idx file>#<index>" for IDX data
    int32_t label = 0;
    Split split = Split::Train;
    int64_t id = -1;     ///< format-specific id (CUB image id, IDX index), -1 if none
    bool hasBox = false; ///< CUB bounding box present
    Box box;
};

struct DatasetSpec {
    /// "auto" (detect from path), "builtin", "idx", "folder", "cub", "csv".
    std::string kind = "auto";
    /// A built-in name ("fashion-mnist", "mnist") or a filesystem path.
    std::string path;
    /// Fraction of the training samples carved out as the validation split.
    double valFraction = 0.1;
    /// Seed of the validation split and of the subsets below.
    uint64_t seed = 0;
    /// CUB: crop each image to its bounding box.
    bool cubCrop = false;
    /// Keep at most this many training (train + val) / test samples (0 = all): a seeded,
    /// class-stratified subset for tests and demos.
    size_t maxTrain = 0;
    size_t maxTest = 0;
};

/// What loading skipped or noticed.
struct LoadReport {
    size_t skipped = 0;                       ///< unreadable / corrupt images
    std::vector<std::string> skippedExamples; ///< the first few, with the reason
    std::vector<std::string> warnings;
};

/// Decodes an image file as 8-bit RGB, the way datasets do (gray, alpha and 16-bit
/// converted). Throws pqw::Error naming the file when it cannot be decoded.
cv::Mat loadImageFile(const std::string& path);

/// Lists the built-in dataset names with a one-line description each.
std::vector<std::pair<std::string, std::string>> builtinDatasets();

class Dataset {
public:
    /// Opens a dataset; throws pqw::Error naming the file (and line) on bad input.
    static Dataset open(const DatasetSpec& spec);

    Dataset();
    ~Dataset();
    Dataset(Dataset&&) noexcept;
    Dataset& operator=(Dataset&&) noexcept;
    Dataset(const Dataset&);
    Dataset& operator=(const Dataset&);

    const DatasetSpec& spec() const;
    /// "fashion-mnist", or the folder / file name.
    const std::string& name() const;
    /// "idx", "folder", "cub", "csv" or "funnybirds".
    const std::string& format() const;
    const std::vector<std::string>& classNames() const;
    size_t size() const;
    const Sample& sample(size_t i) const;
    /// Indices of the samples in one split, in dataset order.
    std::vector<size_t> indices(Split s) const;
    /// Sample count per class for one split.
    std::vector<size_t> classCounts(Split s) const;

    /// Decodes one image as 8-bit RGB (grayscale and alpha converted), cropped to the
    /// CUB box when asked. Throws pqw::Error naming the file when it cannot be decoded.
    cv::Mat loadImage(size_t i) const;

    /// A stable hash of the spec and the sample list (sources, labels, splits).
    std::string fingerprint() const;
    const LoadReport& report() const;

    /// CUB: the path of the parts/ folder (empty when absent and for other formats), for
    /// purity metrics.
    const std::string& partsDir() const;

private:
    struct Impl;
    std::shared_ptr<const Impl> d_;
    friend struct DatasetLoader;
};

}  // namespace pqw
