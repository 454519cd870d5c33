#pragma once
// Internal file helpers (see also pqw/util.h).
#include <string>

namespace pqw {

/// Removes temporary files that writeFileAtomic left when its process was killed mid-write:
/// only inside dir/.pqw-tmp (pqw's own subfolder), only "<name>.tmp-<pid>-<n>" of a process
/// that no longer runs; files in dir itself are never touched. Returns how many.
/// Called where interrupted work resumes (feature extraction, sweeps).
int removeStaleTempFiles(const std::string& dir);

/// One writer per folder: an exclusive lock on dir/.lock (flock; released when the object is
/// destroyed or the process ends, however it ends), taken by every writer of a feature cache
/// and of a sweep folder. While held, the lock file says who holds it (program and
/// subcommand, pid, host, start time); a second writer gets a pqw::Error naming the folder,
/// `what` it wanted to do and the holder.
/// True when some process holds dir's FolderLock now (the lock file exists and cannot be taken).
bool folderLockHeld(const std::string& dir);

class FolderLock {
public:
    FolderLock(const std::string& dir, const std::string& what);
    ~FolderLock();
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;

private:
    int fd_ = -1;
};

}  // namespace pqw
