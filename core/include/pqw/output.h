#pragma once
// The one rule for every file pqw or the window writes (issue 17): an output replaces only a
// regular file or a missing path, never a device, FIFO, socket or folder.
#include <memory>
#include <string>

namespace pqw {

/// Returns the path to write (a symbolic link to a regular file resolved, so the link stays)
/// when path is missing or a regular file; throws pqw::Error naming the path and what is there
/// otherwise ("X: is a character device; pqw replaces only regular files ..."). writeFileAtomic
/// calls it (before writing and again before its rename); writers that cannot use
/// writeFileAtomic (QSaveFile in the window, the report PDF) call it first.
std::string checkReplaceable(const std::string& path);

/// One writer per output file (issue 17, case 5): held by a command or the window for as long
/// as it works towards writing `path` (a training run that ends in a checkpoint, an import, a
/// project save), so a second writer is refused at once with who holds it ("head.pqwh: cannot
/// train into it: the file is being written by pqw train (pid 812 on host, since ...)")
/// instead of both working and the last one silently winning. The lock file lives in pqw's own
/// .pqw-tmp subfolder beside the output and is removed on release. Also refuses what
/// checkReplaceable refuses, before any work starts.
class OutputLock {
public:
    OutputLock(const std::string& path, const std::string& what);
    ~OutputLock();
    OutputLock(const OutputLock&) = delete;
    OutputLock& operator=(const OutputLock&) = delete;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pqw
