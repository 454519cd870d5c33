// ProtoQuant training cost on a feature cache: seconds per epoch of stage 1 and stage 2
// (each epoch = one training pass + one validation pass) and the prototype-index build,
// median over repeats. bench/run-protoquant.sh runs the same computations in PyTorch eager
// (bench/protoquant_eager.py) on the same cached tensors and prints the ratios.
// usage: bench_protoquant CACHE_DIR OUT_CHECKPOINT [codes] [repeats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pqw/protoquant.h"
#include "pqw/util.h"

namespace {
double seconds(const std::chrono::steady_clock::time_point& t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_protoquant CACHE_DIR OUT_CHECKPOINT [codes] [repeats]\n");
        return 2;
    }
    const int codes = argc > 3 ? std::atoi(argv[3]) : 256;
    const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
    pqw::initTorchThreads();
    const auto cache = pqw::FeatureCache::open(argv[1]);
    pqw::JobContext ctx;
    auto m = pqw::ProtoModel::forCache(cache);
    pqw::Stage0Options s0;
    s0.epochs = 3;
    pqw::trainStage0(m, cache, s0, ctx);
    std::vector<double> t1, t2, ti;
    for (int r = 0; r < repeats; ++r) {
        pqw::CodebookOptions s1;
        s1.codes = codes;
        s1.epochs = 1;
        s1.init = "orthogonal";  // the timed part is the epoch, not the initialisation
        s1.warmupEpochs = 0;
        pqw::ProtoModel a = m;
        auto t0 = std::chrono::steady_clock::now();
        pqw::trainCodebook(a, cache, s1, ctx);
        t1.push_back(seconds(t0));
        pqw::HeadOptions s2;
        s2.epochs = 1;
        t0 = std::chrono::steady_clock::now();
        pqw::trainHead(a, cache, s2, ctx);
        t2.push_back(seconds(t0));
        t0 = std::chrono::steady_clock::now();
        pqw::buildPrototypeIndex(a, cache, 10, ctx);
        ti.push_back(seconds(t0));
        if (r == 0) a.save(argv[2]);
    }
    std::printf("%.4f %.4f %.4f\n", median(t1), median(t2), median(ti));
    return 0;
}
