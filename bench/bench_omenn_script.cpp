// OMENN on a TorchScript classifier (pqw explain --script): the median time of one
// explanation (frozen linear pass, which gives z, + one backward; the frozen copy of the module
// is cached after the warm-up explanation) against the median time of one forward pass of the
// same TorchScript module in LibTorch, interleaved in the same run.
//   bench_omenn_script MODEL.pt [size=224] [repeats=5] [threads=2]
// Prints "forward_ms explain_ms residual freeze_ms" (freeze_ms: module.clone() + torch::jit::freeze,
// which the first explanation of a module pays once).
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "omenn/explainer_impl.h"
#include "pqw/omenn.h"
#include "pqw/util.h"

namespace {
double ms(std::chrono::steady_clock::time_point a) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
}
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_omenn_script MODEL.pt [size] [repeats] [threads]\n");
        return 2;
    }
    const std::string path = argv[1];
    const int size = argc > 2 ? std::atoi(argv[2]) : 224;
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
    const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
    pqw::initTorchThreads(threads);
    auto m = torch::jit::load(path);
    m.eval();
    auto x = torch::rand({1, 3, size, size}, at::detail::createCPUGenerator(7)) * 2 - 1;
    int target = 0;
    auto forward = [&] {
        torch::NoGradGuard ng;
        return m.forward({x}).toTensor();
    };
    for (int w = 0; w < 3; ++w) forward();  // warm-up: the profiling executor optimises after a few calls
    target = int(forward().flatten().argmax().item<int64_t>());
    pqw::Attribution a = pqw::explainScriptModule(m, x, target);  // warm-up
    std::vector<double> f, e, z;
    for (int r = 0; r < repeats; ++r) {  // interleaved: the machine is shared
        auto t0 = std::chrono::steady_clock::now();
        forward();
        f.push_back(ms(t0));
        t0 = std::chrono::steady_clock::now();
        a = pqw::explainScriptModule(m, x, target);
        e.push_back(ms(t0));
        t0 = std::chrono::steady_clock::now();  // the part of an explanation that is clone + freeze
        auto c = m.clone();
        c.eval();
        auto frozen = torch::jit::freeze(c);
        z.push_back(ms(t0));
    }
    std::printf("%.1f %.1f %.3g %.1f\n", median(f), median(e), std::abs(a.weightSum + a.biasSum - a.output), median(z));
    return 0;
}
