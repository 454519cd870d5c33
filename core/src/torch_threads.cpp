// LibTorch thread settings (kept apart from util.cpp so util.cpp stays torch-free and the
// fuzz targets can link it).
#include <algorithm>
#include <mutex>
#include <thread>

#include <torch/torch.h>

#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw {

void initTorchThreads(int threads) {
    // Thousands of threads would only thrash (pqw --threads has the same range).
    if (threads < 0 || threads > 256)
        throw Error("the number of threads must be between 0 (all cores) and 256, not " + std::to_string(threads));
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

}  // namespace pqw
