#pragma once
// Small shared helpers: atomic file writes, hashing, paths.
#include <cstdint>
#include <string>
#include <string_view>

namespace pqw {

/// Writes data to path atomically (temp file in the same folder, fsync, rename).
/// Throws pqw::Error naming the path on failure.
void writeFileAtomic(const std::string& path, std::string_view data);

/// Reads a whole file; throws pqw::Error naming the path on failure.
std::string readFile(const std::string& path);

/// FNV-1a 64-bit over bytes, continuing from h.
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 1469598103934665603ull);
/// Lower-case hex of a 64-bit value (16 characters).
std::string hex64(uint64_t v);

/// Sets LibTorch's intra- and inter-op thread counts once (0 = number of cores).
void initTorchThreads(int threads = 0);

/// Where the fetched assets (converted default backbone, MNIST) live: $PQW_DATA_DIR, then
/// <exe>/../share/protoquant-workbench, then the source tree's datasets/assets. Empty when
/// none exists.
std::string assetsDir();

/// Project version string ("0.1.0").
const char* version();

}  // namespace pqw
