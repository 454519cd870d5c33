#include "pqw/util.h"
#include "fs_util.h"
#include "pqw/output.h"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <ctime>
#include <iterator>
#include <vector>
#include <sstream>

#include "pqw/error.h"
#include "pqw/job.h"

namespace pqw {

void JobContext::throwIfCancelled() const {
    if (isCancelled()) throw Cancelled();
}

namespace {

/// "a character device", "a FIFO", ... for messages.
const char* fileKind(mode_t m) {
    if (S_ISDIR(m)) return "a folder";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISLNK(m)) return "a symbolic link";
    return "not a regular file";
}

/// The temporary files of writeFileAtomic live in this subfolder of the target's folder (same
/// file system, so the final rename is atomic), never next to the user's files.
constexpr const char* kTempDir = ".pqw-tmp";

/// Parses "<name>.tmp-<pid>-<random>" (a temporary file of writeFileAtomic); 0 if it is not one.
long tempFilePid(const std::string& name) {
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos) return 0;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + at + 5, &end, 10);
    if (pid <= 0 || !end || *end != '-' || !*(end + 1)) return 0;
    for (const char* c = end + 1; *c; ++c)
        if (*c < '0' || *c > '9') return 0;
    return pid;
}

}  // namespace

std::string checkReplaceable(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return path;
        throw Error(path + ": cannot write: " + std::strerror(errno));
    }
    if (S_ISREG(st.st_mode)) return path;
    if (S_ISLNK(st.st_mode)) {
        // A link to a regular file: the file is replaced and the link kept.
        struct stat t {};
        if (::stat(path.c_str(), &t) != 0)
            throw Error(path + ": is a symbolic link to a missing file; pqw writes only to regular files or new paths");
        if (!S_ISREG(t.st_mode))
            throw Error(path + ": is a symbolic link to " + fileKind(t.st_mode) +
                        "; pqw writes only to regular files or new paths (choose another output path)");
        std::error_code ec;
        const auto real = std::filesystem::canonical(path, ec);
        if (ec) throw Error(path + ": cannot resolve the symbolic link: " + ec.message());
        return real.string();
    }
    throw Error(path + ": is " + fileKind(st.st_mode) +
                "; pqw replaces only regular files (choose another output path)");
}

void writeFileAtomic(const std::string& requested, std::string_view data) {
    namespace fs = std::filesystem;
    // Refused before anything is written: a device, FIFO, socket or folder is never replaced.
    const std::string path = checkReplaceable(requested);
    std::string dir = fs::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    const std::string base = fs::path(path).filename().string();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) throw Error(requested + ": cannot write: " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() {
            if (fd >= 0) ::close(fd);
        }
    } dirCloser{dfd};
    std::random_device rd;
    const std::string tmpName = base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    // Another writer may remove an empty temp folder between our mkdir and open: retry.
    int tfd = -1, fd = -1;
    for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
        if (::mkdirat(dfd, kTempDir, 0700) != 0 && errno != EEXIST)
            throw Error(requested + ": cannot write: " + std::strerror(errno));
        tfd = ::openat(dfd, kTempDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0) {
            if (errno == ENOENT) continue;
            throw Error(requested + ": cannot write (" + dir + "/" + kTempDir + "): " + std::strerror(errno));
        }
        fd = ::openat(tfd, tmpName.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            const int err = errno;
            ::close(tfd);
            tfd = -1;
            if (err == ENOENT) continue;
            throw Error(requested + ": cannot write: " + std::strerror(err));
        }
    }
    if (fd < 0) throw Error(requested + ": cannot write: the temporary folder keeps disappearing");
    Closer tmpDirCloser{tfd};
    auto fail = [&](const char* what, int err) {
        if (fd >= 0) ::close(fd);
        ::unlinkat(tfd, tmpName.c_str(), 0);
        ::unlinkat(dfd, kTempDir, AT_REMOVEDIR);  // only if empty
        throw Error(requested + ": " + what + ": " + std::strerror(err));
    };
    size_t off = 0;
    while (off < data.size()) {
        ssize_t w = ::write(fd, data.data() + off, data.size() - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail("cannot write", errno);
        }
        off += static_cast<size_t>(w);
    }
    if (::fsync(fd) != 0) fail("cannot write", errno);
    const int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail("cannot write", errno);
    // Checked again just before the rename (something may have appeared at the path meanwhile).
    try {
        checkReplaceable(path);
    } catch (const Error&) {
        ::unlinkat(tfd, tmpName.c_str(), 0);
        ::unlinkat(dfd, kTempDir, AT_REMOVEDIR);
        throw;
    }
    if (::renameat(tfd, tmpName.c_str(), dfd, base.c_str()) != 0) fail("cannot replace", errno);
    ::unlinkat(dfd, kTempDir, AT_REMOVEDIR);  // fails harmlessly while another write is in flight
    // Make the rename itself durable (best effort: some filesystems refuse fsync on folders).
    ::fsync(dfd);
}

int removeStaleTempFiles(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    int removed = 0;
    const fs::path tmpDir = fs::path(dir) / kTempDir;
    // Only pqw's own temporary folder is looked at; files in the user's folder are never
    // removed, whatever their names.
    if (!fs::is_directory(fs::symlink_status(tmpDir, ec))) return 0;
    for (const auto& e : fs::directory_iterator(tmpDir, ec)) {
        const long pid = tempFilePid(e.path().filename().string());
        if (pid <= 0) continue;
        if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running
        if (fs::remove(e.path(), ec)) ++removed;
    }
    ::rmdir(tmpDir.c_str());  // only if empty
    return removed;
}

namespace {
/// "pqw extract" / "protoquant-workbench": this program and its subcommand, from the command line.
std::string programLabel() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (size_t p = 0; p < all.size() && args.size() < 2;) {
        const size_t z = all.find('\0', p);
        args.push_back(all.substr(p, z == std::string::npos ? std::string::npos : z - p));
        if (z == std::string::npos) break;
        p = z + 1;
    }
    if (args.empty()) return "a program";
    std::string label = std::filesystem::path(args[0]).filename().string();
    if (args.size() > 1 && !args[1].empty() && args[1][0] != '-' && label == "pqw") label += " " + args[1];
    return label;
}
}  // namespace

FolderLock::FolderLock(const std::string& dir, const std::string& what) {
    const std::string lockPath = (std::filesystem::path(dir) / ".lock").string();
    fd_ = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) throw Error(lockPath + ": cannot open the folder lock: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        std::string holder;
        char buf[512];
        const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        if (n > 0) holder.assign(buf, static_cast<size_t>(n));
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
        ::close(fd_);
        fd_ = -1;
        if (err != EWOULDBLOCK) throw Error(lockPath + ": cannot lock: " + std::strerror(err));
        throw Error(dir + ": cannot " + what + ": the folder is in use by " +
                    (holder.empty() ? std::string("another process") : holder) +
                    "; wait for it to finish or use another folder");
    }
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    const std::time_t now = std::time(nullptr);
    char when[32] = {0};
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    const std::string me = programLabel() + " (pid " + std::to_string(::getpid()) + " on " + host + ", since " + when + ")\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const ssize_t w = ::pwrite(fd_, me.data(), me.size(), 0);
    }
}

bool folderLockHeld(const std::string& dir) {
    const std::string lockPath = (std::filesystem::path(dir) / ".lock").string();
    const int fd = ::open(lockPath.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);
    return held;
}

FolderLock::~FolderLock() {
    if (fd_ >= 0) {
        // Emptied first: a stale description must never name a process that has finished.
        [[maybe_unused]] const int rc = ::ftruncate(fd_, 0);
        ::close(fd_);
    }
}

std::string readFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const bool dir = S_ISDIR(st.st_mode);
        ::close(fd);
        throw Error(path + (dir ? ": is a folder, not a file" : ": not a regular file"));
    }
    std::string out;
    out.resize(static_cast<size_t>(st.st_size));
    size_t off = 0;
    for (;;) {
        if (off == out.size()) out.resize(out.size() + 65536);  // the file may have grown
        const ssize_t r = ::read(fd, out.data() + off, out.size() - off);
        if (r < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            throw Error(path + ": read error: " + std::strerror(err));
        }
        if (r == 0) break;
        off += static_cast<size_t>(r);
    }
    ::close(fd);
    out.resize(off);
    return out;
}

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

std::string hex64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string assetsDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (const char* env = std::getenv("PQW_DATA_DIR"); env && *env && fs::is_directory(env, ec)) return env;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path share = exe.parent_path().parent_path() / "share" / "protoquant-workbench";
        if (fs::is_directory(share, ec)) return share.string();
    }
    if (fs::is_directory(PQW_SOURCE_ASSETS_DIR, ec)) return PQW_SOURCE_ASSETS_DIR;
    return {};
}

const char* version() { return PQW_VERSION; }

}  // namespace pqw
