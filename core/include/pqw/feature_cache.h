#pragma once
// Feature cache: the frozen trunk's feature maps for every sample, extracted once and
// stored on disk as fp16, memory-mapped for reading.
//
// A cache is a folder: meta.json (written atomically: fingerprint, shape, labels, splits,
// per-sample validity, how many samples are done) and features.f16 (N x C x H x W fp16,
// row-major, preallocated). A stale cache (the fingerprint differs) is rebuilt; a partial
// one (done < N) resumes where it stopped.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/job.h"

namespace pqw {

enum class CacheState { Missing, Fresh, Stale, Partial };
const char* cacheStateName(CacheState s);

struct CacheStatus {
    CacheState state = CacheState::Missing;
    size_t done = 0;
    size_t total = 0;
    std::string reason;  ///< why stale (what differs), or empty
};

struct ExtractOptions {
    int inputSize = 112;
    int batchSize = 64;
};

struct ExtractReport {
    size_t extracted = 0;  ///< computed in this run
    size_t reused = 0;     ///< already in the cache
    size_t failed = 0;     ///< images that could not be decoded (marked invalid)
    std::vector<std::string> failedExamples;
    double seconds = 0;
    double imagesPerSecond = 0;
    std::string dir;
};

/// The fingerprint a cache built from these inputs carries.
std::string cacheFingerprint(const Dataset& ds, const Backbone& bb, int inputSize);

/// Reports whether dir holds a fresh, stale, partial or no cache for these inputs.
CacheStatus inspectCache(const std::string& dir, const Dataset& ds, const Backbone& bb, int inputSize);

/// Extracts (or completes) the cache in dir. Batched, under inference mode, never holding
/// all images or features in memory. Progress and "extract.batch" events go to ctx; a
/// cancel leaves a consistent partial cache that a later call resumes.
ExtractReport extractFeatures(const Dataset& ds, const Backbone& bb, const std::string& dir,
                              JobContext& ctx, const ExtractOptions& opt = {});

/// Read access to a complete cache (memory-mapped).
class FeatureCache {
public:
    /// Opens dir; throws pqw::Error if it is missing, malformed or incomplete.
    static FeatureCache open(const std::string& dir);

    FeatureCache();
    ~FeatureCache();
    FeatureCache(FeatureCache&&) noexcept;
    FeatureCache& operator=(FeatureCache&&) noexcept;

    size_t size() const;
    std::array<int64_t, 3> shape() const;  ///< C, H, W
    int inputSize() const;
    const std::string& fingerprint() const;
    const std::string& backboneId() const;
    const std::string& cutLayer() const;
    /// How to reopen the backbone that made these features (for explaining new images).
    const BackboneSpec& backboneSpec() const;
    /// The dataset this cache was built from: reopening this spec gives the same samples
    /// (check Dataset::fingerprint() against datasetFingerprint()).
    const DatasetSpec& datasetSpec() const;
    const std::string& datasetFingerprint() const;
    /// True when ds is the dataset these features were extracted from (same fingerprint).
    bool madeFrom(const Dataset& ds) const;
    /// Throws pqw::Error naming the dataset's path and this cache's folder unless madeFrom(ds):
    /// the one rule `pqw`, the window and the report apply before pairing a cache with images.
    void checkMadeFrom(const Dataset& ds) const;
    /// Reopens datasetSpec() and checks it with checkMadeFrom().
    Dataset openDataset() const;
    /// The folder this cache was opened from.
    const std::string& dir() const;
    int stride() const;
    int receptiveField() const;
    /// The backbone's effective receptive field at this input size (the side of the box drawn
    /// for a cell); the theoretical one for caches that do not record it.
    int effectiveReceptiveField() const;
    const std::vector<std::string>& classNames() const;
    int32_t label(size_t i) const;
    Split split(size_t i) const;
    bool valid(size_t i) const;
    /// Indices of valid samples in one split.
    std::vector<size_t> indices(Split s) const;
    /// Raw fp16 bits of sample i (C*H*W values), pointing into the memory map.
    const uint16_t* raw(size_t i) const;
    /// Converts sample i to float32 into out (C*H*W values).
    void read(size_t i, float* out) const;

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

}  // namespace pqw
