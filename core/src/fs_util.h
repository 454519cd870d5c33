#pragma once
// Internal file helpers (see also pqw/util.h).
#include <string>

namespace pqw {

/// Removes temporary files that writeFileAtomic left in dir when its process was killed
/// mid-write ("<name>.tmp-<pid>-<n>" of a process that no longer runs). Returns how many.
/// Called where interrupted work resumes (feature extraction, sweeps).
int removeStaleTempFiles(const std::string& dir);

}  // namespace pqw
