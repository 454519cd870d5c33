#pragma once
// Results of the official pruning benchmark (janumiko/pruning-benchmark) as sweep log entries,
// so `pqw sweep-report` and the Pruning view's "Open sweep folder..." plot them with the same
// figures and tables as a native sweep. Public, torch-free.
//
// A Hydra multirun folder: every folder below it (depth <= 4) holding pruning_results.csv is
// one job; its .hydra/config.yaml (read with yaml-cpp) gives model, dataset,
// pruning.scheduler.{name,start,end,step}, pruning.method.name, pruning.finetune_epochs.
// The CSV has the columns pruned_precent,top1_accuracy,top5_accuracy,total_epoch,repeat
// (percentages; their spelling), one row per pruning iteration in order; `repeat` counts
// the repetitions from 1 (missing = 1). Each row becomes one finished run ("run.done"):
//   strategy  = scheduler name, steps = iterations of that repeat, fine_tune = "<E> ep/step"
//   modality  = "structured" for *structured methods (not *unstructured), else "unstructured"
//   criterion = the method name, target = sparsity = pruned_precent / 100
//   test_top1 / test_top5 = accuracy / 100, total_epochs = total_epoch, seed = repeat
// so several repeats average into one point per iteration, as seeds do in native sweeps.
// Each run.done is followed by a "prune.step" with the same numbers and step = steps (the
// run's last step), from which the Pruning view draws its accuracy-vs-sparsity and
// accuracy-vs-epochs points, as for a native run.
#include <string>
#include <vector>

#include "pqw/pruning.h"

namespace pqw {

/// True when dir (or a folder below it) holds pruning_results.csv and dir has no log.jsonl.
bool isPruningBenchmarkFolder(const std::string& dir);

/// The entries described above; throws pqw::Error naming the file, line and column on a bad
/// CSV or config.
std::vector<SweepLogEntry> readPruningBenchmark(const std::string& dir);

}  // namespace pqw
