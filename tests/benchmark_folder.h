#pragma once
// A small fake Hydra multirun folder of the official pruning benchmark with known numbers
// (test_pruning_benchmark, test_pruning_view): two jobs, iterative (3 iterations x 2 repeats)
// and one-shot (1 iteration), unstructured, 2 fine-tuning epochs per step.
#include <filesystem>
#include <string>

#include "pqw/util.h"

namespace fixtures {

inline void putFile(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    pqw::writeFileAtomic(p.string(), text);
}

inline std::string benchmarkConfig(const std::string& scheduler, const std::string& method, int ft) {
    return "model: resnet18_cifar\ndataset:\n  name: cifar10\npruning:\n  scheduler:\n    name: " + scheduler +
           "\n    start: 0.0\n    end: 0.9\n    step: 0.3\n  method:\n    name: " + method +
           "\n  finetune_epochs: " + std::to_string(ft) + "\n";
}

/// Writes the folder at d (removed first) and returns d.
inline std::filesystem::path writeBenchmarkFolder(const std::filesystem::path& d) {
    std::filesystem::remove_all(d);
    putFile(d / "multirun.yaml", "hydra: {}\n");
    putFile(d / "0" / ".hydra" / "config.yaml", benchmarkConfig("iterative", "global_l1_unstructured", 2));
    putFile(d / "0" / "pruning_results.csv",
            "pruned_precent,top1_accuracy,top5_accuracy,total_epoch,repeat\n"
            "30.0000,90.0000,99.0000,2,1\n60.0000,80.0000,98.0000,4,1\n90.0000,50.0000,90.0000,6,1\n"
            "30.0000,92.0000,99.0000,2,2\n60.0000,84.0000,98.0000,4,2\n90.0000,40.0000,88.0000,6,2\n");
    putFile(d / "1" / ".hydra" / "config.yaml", benchmarkConfig("one-shot", "global_l1_unstructured", 2));
    putFile(d / "1" / "pruning_results.csv",
            "pruned_precent,top1_accuracy,top5_accuracy,total_epoch,repeat\n90.0000,30.0000,70.0000,2,1\n");
    return d;
}

}  // namespace fixtures
