#pragma once
// Sweeps: the JSON grid of pruning runs (parseSweep, its defaults), the sweep folder and
// running it (see docs/pruning.md). Torch-free header.
#include <string>
#include <vector>

#include "pqw/cnn.h"
#include "pqw/dataset.h"
#include "pqw/job.h"
#include "pqw/prune.h"

namespace pqw {

// Sweeps (see docs/pruning.md for the JSON grid and the log format).

struct SweepRun {
    std::string id;  ///< stable id from the settings ("one-shot_t0.9_n1_magnitude_fixed5_s0_unstructured")
    PruneOptions options;
};

/// A run's settings in words for people ("one-shot to 90 %, magnitude"; "iterative in 5 steps to
/// 80 %, structured, l1"); the id stays the key in files.
std::string sweepRunInWords(const PruneOptions& o);

struct SweepSpec {
    PruneModelKind kind = PruneModelKind::Cnn;  ///< JSON model.kind
    std::string features;   ///< feature cache folder (feature-head, protoquant-*, optional torchscript)
    DatasetSpec dataset;
    CnnSpec model;
    CnnTrainOptions pretrain;
    std::string modelPath;  ///< optional: start from this model instead of training one
                            ///< (required for protoquant-* and torchscript)
    std::vector<SweepRun> runs;
    std::string json;       ///< the normalised spec text (saved beside the log)
};

/// What a sweep description's absent keys mean: parseSweep reads every default from here, and
/// the window's designer shows these values and leaves keys that equal them out.
struct SweepDefaults {
    DatasetSpec dataset;       ///< path "fashion-mnist", kind "auto", val 0.1, seed 0, no limits
    CnnSpec model;             ///< arch, width, depth (feature heads: arch "feature-mlp")
    CnnTrainOptions pretrain;  ///< pretrain_epochs, lr, batch, seed
    /// One grid cell: strategy, target, steps, first_step, modality, criterion, seed,
    /// fine_tune (epochs, patience, min_delta), fine_tune_defaults (lr, momentum,
    /// weight_decay, batch), latency_reps, evaluate_test.
    PruneOptions run;
};
/// The one set of defaults (see SweepDefaults).
const SweepDefaults& sweepDefaults();

/// Parses a sweep JSON grid; throws pqw::Error naming the file / key on bad input.
SweepSpec parseSweep(const std::string& jsonText, const std::string& origin = "sweep");

struct SweepStatus {
    size_t total = 0, skipped = 0, finished = 0;
    size_t busy = 0;  ///< runs another process was running (left to it)
};

// The sweep folder (docs/pruning.md "Sweep folder", docs/file-formats.md):
//   DIR/sweep.json                 the normalised description (written before any run)
//   DIR/base_model.{pqwcnn,pqwh,pt} the dense model every run starts from (written once)
//   DIR/runs/<run id>.jsonl        the run's own append-only event log (one writer: the
//                                  process holding DIR/runs/<run id>.lock)
//   DIR/runs/<run id>.step<k>.pqwcnn  checkpoint after step k while the run is unfinished
//   DIR/summary.csv                derived from the logs (never by array tasks)
//   DIR/log.jsonl                  the old single log (folders written before the per-run
//                                  layout); still read, never appended to
//   DIR/slurm/                     batch scripts, array run lists, submissions.jsonl, task output

/// Runs the sweep into dir (creates it): every run not finished yet, one after another, each
/// into its own DIR/runs/<id>.jsonl (see above), resuming a run that stopped part-way from its
/// last finished step. summary.csv is rewritten atomically after each run. Runs another
/// process is running (a Slurm task, say) are left to it. Events are forwarded to ctx with
/// texts["run"] set. One runSweep per folder at a time (DIR/.lock).
SweepStatus runSweep(const SweepSpec& spec, const std::string& dir, JobContext& ctx);

/// True when DIR/sweep.json holds a sweep that spec cannot continue: its dataset, model,
/// model_path or features differ (the grid may grow). False when there is no readable
/// sweep.json. writeSweepSpec refuses such a folder; the window asks before starting a job.
bool sweepFolderConflicts(const SweepSpec& spec, const std::string& dir);
/// Writes DIR/sweep.json (creating DIR and DIR/runs) unless it already holds this text; refuses
/// a folder whose sweep has a different dataset or model section (sweepFolderConflicts).
void writeSweepSpec(const SweepSpec& spec, const std::string& dir);
/// Writes DIR/sweep.json (refusing a folder whose sweep has a different dataset or model) and
/// makes the base model once: concurrent callers wait on DIR/.base.lock for the one making it.
void prepareSweep(const SweepSpec& spec, const std::string& dir, JobContext& ctx);
/// Runs spec.runs[index] alone (a Slurm array task): prepares the folder if needed, then runs
/// or resumes the run. Returns false when the run had already finished. Throws pqw::Error when
/// another process is running it, and pqw::Cancelled when cancelled (after logging run.failed).
bool runSweepRun(const SweepSpec& spec, const std::string& dir, size_t index, JobContext& ctx);
/// The sweep recorded in DIR/sweep.json; throws pqw::Error naming the file.
SweepSpec loadSweepFolder(const std::string& dir);
/// DIR/runs/<id>.jsonl
std::string sweepRunLogPath(const std::string& dir, const std::string& runId);
/// The base model file of this kind of sweep in dir.
std::string sweepBaseModelPath(const SweepSpec& spec, const std::string& dir);

}  // namespace pqw
