// LibTorch thread settings (kept apart from util.cpp so util.cpp stays torch-free and the
// fuzz targets can link it).
#include <algorithm>
#include <mutex>
#include <thread>

#include <torch/torch.h>

#include "pqw/util.h"

namespace pqw {

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

}  // namespace pqw
