#pragma once
// Internal to core: the parts of the feature cache that sharded extraction
// (extract_shards.cpp) shares with the ordinary one (feature_cache.cpp).
#include <string>

#include <nlohmann/json.hpp>

#include "pqw/feature_cache.h"

namespace pqw {

/// meta.json of a cache holding samples [begin, end) of ds (count = end - begin; the labels and
/// splits of that range; done = 0). The whole cache is [0, ds.size()).
nlohmann::json makeCacheMeta(const Dataset& ds, const Backbone& bb, int inputSize, const std::string& fingerprint,
                             size_t begin, size_t end);
/// Reads and validates dir/meta.json; throws pqw::Error naming the file.
nlohmann::json readCacheMeta(const std::string& dir);
/// FNV-1a 64 of a file's bytes (hex), read in 1 MiB blocks.
std::string hashFeatureFile(const std::string& path);

/// Extracts (or resumes) samples [begin, end) of ds into the cache folder dir, whose meta.json
/// carries `shard` (null for a whole cache). Batches start at begin, so when begin is a multiple
/// of the batch size every batch is one a whole extraction runs too (bitwise the same features).
/// A finished shard records its payload's checksum ("features_fnv1a64").
ExtractReport extractRange(const Dataset& ds, const Backbone& bb, const std::string& dir, size_t begin, size_t end,
                           const nlohmann::json& shard, JobContext& ctx, const ExtractOptions& opt);

/// extractFeatures on a folder with a shard plan (extract_shards.cpp): extracts the shards that
/// are not done here, then joins them. Returns false (nothing done) when dir has no plan, or
/// its cache is already complete; a plan for other inputs is removed (stale) and false returned.
bool extractViaShards(const Dataset& ds, const Backbone& bb, const std::string& dir, JobContext& ctx,
                      const ExtractOptions& opt, ExtractReport* rep);

}  // namespace pqw
