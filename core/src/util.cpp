#include "pqw/util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <torch/torch.h>

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
    size_t off = 0;
    while (off < data.size()) {
        ssize_t w = ::write(fd, data.data() + off, data.size() - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw Error(path + ": cannot write: " + std::strerror(err));
        }
        off += static_cast<size_t>(w);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(path + ": cannot write: " + std::strerror(err));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(path + ": cannot replace: " + std::strerror(err));
    }
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(path + ": read error");
    return ss.str();
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

void initTorchThreads(int threads) {
    static std::once_flag once;
    std::call_once(once, [threads] {
        int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        torch::set_num_threads(n);
        try {
            torch::set_num_interop_threads(1);
        } catch (...) {
            // Already set (it may only be set once per process): keep the existing value.
        }
    });
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
