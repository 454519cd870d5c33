#pragma once
// Limits of a CNN (docs/reliability.md): far above what the workbench trains, small enough
// that a spec in a .pqwcnn file or a sweep cannot ask for gigabytes before anything is checked.
#include <cstdint>

namespace pqw {

struct CnnSpec;

inline constexpr int kMaxCnnWidth = 1024;
inline constexpr int kMaxCnnDepth = 64;
inline constexpr int kMaxCnnInputSize = 1024;
inline constexpr int64_t kMaxCnnParams = 200000000;      ///< 200 M parameters (800 MB)
inline constexpr int64_t kMaxCnnActivation = 100000000;  ///< 100 M values in one layer's output per image

/// Throws pqw::Error ("the CNN's width must be between 1 and 1024, not 100000") when a spec is
/// outside the limits above; CnnModel::create, CnnModel::load and sweeps call it before
/// anything is allocated.
void validateCnnSpec(const CnnSpec& spec);

}  // namespace pqw
