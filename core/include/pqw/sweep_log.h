#pragma once
// Reading a sweep folder: its event logs, the finished runs, the CSV summary, each run's
// state and the report. Torch-free header.
#include <string>
#include <vector>

#include "pqw/job.h"
#include "pqw/sweep.h"

namespace pqw {

/// One parsed log line.
struct SweepLogEntry {
    std::string run;
    int attempt = 0;
    Event event;
};
/// Reads one JSON Lines log, ignoring a partial last line. Returns every complete line.
std::vector<SweepLogEntry> readSweepLog(const std::string& path);
/// Every complete entry of a sweep folder: the old DIR/log.jsonl (when present) followed by
/// DIR/runs/*.jsonl in the order of the runs in DIR/sweep.json (unknown ids last, by name).
std::vector<SweepLogEntry> readSweepFolder(const std::string& dir);
/// True when dir looks like a sweep folder (sweep.json, log.jsonl or runs/).
bool isSweepFolder(const std::string& dir);
/// The entries of finished runs only, from the attempt that finished (its run.done): the
/// "prune.step" and "run.done" lines, and with withEpochs also the "prune.epoch" lines (what a
/// plot of each run's fine-tuning needs), in log order.
std::vector<SweepLogEntry> finishedRunEntries(const std::vector<SweepLogEntry>& log, bool withEpochs = false);
/// The CSV summary of finished runs (one row per run: settings + final step's numbers).
std::string sweepSummaryCsv(const std::vector<SweepLogEntry>& log);

/// Where each run of a sweep stands, from its log alone (Slurm's view is added by
/// pqw/slurm.h's applySlurmState).
enum class SweepRunState { NeverStarted, Pending, Running, Done, Failed };
/// "never started", "pending", "running", "done", "failed"
const char* sweepRunStateName(SweepRunState s);
struct SweepRunInfo {
    std::string id;
    size_t index = 0;
    SweepRunState state = SweepRunState::NeverStarted;
    int attempt = 0;        ///< last attempt seen in the log (0: none)
    int stepsDone = -1;     ///< last measured step of the furthest attempt (-1: none; 0 = dense)
    int steps = 0;          ///< schedule steps of the run
    int exitCode = -1;      ///< 0 done; from run.failed or Slurm; -1 unknown
    std::string jobId;      ///< Slurm job id ("A_i") that ran it or will, when known
    std::string slurmState; ///< Slurm's word (PENDING, RUNNING, CANCELLED, ...), when asked
    std::string host;       ///< where the last attempt ran
    std::string reason;     ///< why failed / pending, one line
    double seconds = 0;     ///< run.done seconds
};
/// Done: a run.done line. Running: another process holds the run's lock. Failed: the last
/// attempt logged run.failed, or started and stopped without a word (killed). Else never
/// started. The lock test makes a running run visible without Slurm.
std::vector<SweepRunInfo> sweepRunInfos(const SweepSpec& spec, const std::string& dir);
std::vector<SweepRunInfo> sweepRunInfos(const SweepSpec& spec, const std::string& dir,
                                        const std::vector<SweepLogEntry>& entries);

/// Writes accuracy-vs-sparsity and accuracy-vs-total-epochs plots (PNG and SVG) and
/// summary.csv / summary.md into outDir from a sweep folder. Returns the files written.
std::vector<std::string> writeSweepReport(const std::string& sweepDir, const std::string& outDir);

}  // namespace pqw
