#pragma once
// The one rule for every file pqw or the window writes (issue 17): an output replaces only a
// regular file or a missing path, never a device, FIFO, socket or folder.
#include <string>

namespace pqw {

/// Returns the path to write (a symbolic link to a regular file resolved, so the link stays)
/// when path is missing or a regular file; throws pqw::Error naming the path and what is there
/// otherwise ("X: is a character device; pqw replaces only regular files ..."). writeFileAtomic
/// calls it (before writing and again before its rename); writers that cannot use
/// writeFileAtomic (QSaveFile in the window, the report PDF) call it first.
std::string checkReplaceable(const std::string& path);

}  // namespace pqw
