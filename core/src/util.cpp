#include "pqw/util.h"
#include "fs_util.h"

#include <fcntl.h>
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
#include <sstream>

#include "pqw/error.h"
#include "pqw/job.h"

namespace pqw {

void JobContext::throwIfCancelled() const {
    if (isCancelled()) throw Cancelled();
}

void writeFileAtomic(const std::string& path, std::string_view data) {
    std::random_device rd;
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
    auto fail = [&](const char* what, int err) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(path + ": " + what + ": " + std::strerror(err));
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
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot replace", errno);
    // Make the rename itself durable (best effort: some filesystems refuse fsync on folders).
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

int removeStaleTempFiles(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    int removed = 0;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        const size_t at = name.rfind(".tmp-");
        if (at == std::string::npos) continue;
        // ".tmp-<pid>-<random>"
        char* end = nullptr;
        const long pid = std::strtol(name.c_str() + at + 5, &end, 10);
        if (pid <= 0 || !end || *end != '-') continue;
        if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running
        if (fs::remove(e.path(), ec)) ++removed;
    }
    return removed;
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
