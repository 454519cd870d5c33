// Structured pruning benchmark: remove 50 % of the channels of every prunable group (L1
// filter norm, physically) and measure CPU latency at batch 64 against the dense model in
// the same run (interleaved, median), beside the MACs and parameter ratios.
//   bench_prune [reps=30] [threads=1]   (threads 0 = one per core; on a loaded shared machine
//   multi-threaded timings are dominated by OpenMP threads waiting for descheduled siblings)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pqw/pruning.h"
#include "pqw/util.h"

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 30;
    pqw::initTorchThreads(argc > 2 ? std::atoi(argv[2]) : 1);
    struct Case {
        const char* arch;
        int width, depth;
    };
    bool ok = true;
    for (const Case c : {Case{"lenet", 16, 1}, Case{"resnet", 16, 1}, Case{"resnet", 32, 1}}) {
        pqw::CnnSpec s;
        s.arch = c.arch;
        s.width = c.width;
        s.depth = c.depth;
        const auto dense = pqw::CnnModel::create(s, 1);
        auto pruned = dense;
        pqw::pruneTo(pruned, 0.5, pqw::PruneModality::Structured, pqw::PruneCriterion::L1, nullptr);
        std::vector<double> td, tp;
        for (int r = 0; r < reps; ++r) {  // interleaved so load changes hit both alike
            td.push_back(pqw::measureLatencyMs(dense, 64, 1));
            tp.push_back(pqw::measureLatencyMs(pruned, 64, 1));
        }
        std::sort(td.begin(), td.end());
        std::sort(tp.begin(), tp.end());
        const double md = td[td.size() / 2], mp = tp[tp.size() / 2];
        const auto cd = dense.cost(), cp = pruned.cost();
        const double ratio = mp / md;
        ok = ok && ratio <= 0.65;
        std::printf("%-6s width %2d: batch 64 latency dense %.2f ms, pruned %.2f ms, ratio %.3f (target <= 0.65: %s); "
                    "MACs ratio %.3f (%lld -> %lld); params ratio %.3f; channels %lld -> %lld\n",
                    c.arch, c.width, md, mp, ratio, ratio <= 0.65 ? "ok" : "MISSED", double(cp.macs) / double(cd.macs),
                    (long long)cd.macs, (long long)cp.macs, double(cp.params) / double(cd.params),
                    (long long)cd.channels, (long long)cp.channels);
    }
    return ok ? 0 : 1;
}
