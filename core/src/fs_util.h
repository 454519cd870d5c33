#pragma once
// Internal file helpers (see also pqw/util.h).
#include <string>

namespace pqw {

/// Removes temporary files that writeFileAtomic left when its process was killed mid-write:
/// only inside dir/.pqw-tmp (pqw's own subfolder), only "<name>.tmp-<pid>-<n>" of a process
/// that no longer runs; files in dir itself are never touched. Returns how many.
/// Called where interrupted work resumes (feature extraction, sweeps).
int removeStaleTempFiles(const std::string& dir);

/// An exclusive flock(2) on a lock file that records who holds it (program and subcommand,
/// pid, host, start time). Released when the object is destroyed or the process ends,
/// however it ends; the description is emptied on release.
class LockFile {
public:
    explicit LockFile(std::string path);  ///< opens (creates) the file; takes no lock yet
    ~LockFile();
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;
    bool tryLock();  ///< false when another open file holds it
    void lock();     ///< waits for it
    /// Who holds it, as its holder described itself ("another process" if unknown).
    std::string holder() const;
    const std::string& path() const { return path_; }
    int fd() const { return fd_; }
    /// True when the lock file exists and some process holds it now.
    static bool held(const std::string& path);

private:
    void describeMe();
    std::string path_;
    int fd_ = -1;
    bool locked_ = false;
};

/// One writer per folder: the LockFile dir/.lock, taken by every writer of a feature cache
/// and of a sweep folder. A second writer gets a pqw::Error naming the folder, `what` it
/// wanted to do and the holder.
class FolderLock {
public:
    FolderLock(const std::string& dir, const std::string& what);

private:
    LockFile lock_;
};

/// True when some process holds dir's FolderLock now (the lock file exists and cannot be taken).
inline bool folderLockHeld(const std::string& dir) { return LockFile::held(dir + "/.lock"); }

}  // namespace pqw
