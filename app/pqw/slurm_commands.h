#pragma once
// Sweeps on Slurm from pqw (slurm_commands.cpp): `pqw sweep ... --slurm`, `pqw sweep-run`
// (what an array task runs), `pqw sweep-status`.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "pqw/job.h"
#include "pqw/pruning.h"
#include "pqw/slurm.h"

namespace pqwcli {

/// The Slurm options of `pqw sweep` (and of `pqw extract`).
struct SlurmArgs {
    bool slurm = false, dryRun = false, resubmit = false;
    std::string partition, time, mem;
    int cpusPerTask = 1, maxParallel = 0;
    std::vector<std::string> sbatchArgs;
    void add(CLI::App* c, const std::string& unit = "run");
    /// True when any Slurm option but --slurm was given.
    bool given() const;
    /// sbatch's options and this pqw; unless --dry-run, throws saying what is missing when
    /// Slurm cannot be used from here.
    pqw::SlurmOptions checkedOptions() const;
};

/// `pqw sweep ... --slurm`: plans, prints (--dry-run) or submits the sweep as a job array.
void submitSweepToSlurm(const pqw::SweepSpec& spec, const std::string& dir, const SlurmArgs& a);
/// The progress lines of `pqw sweep` / `pqw sweep-run` on stderr.
void printSweepEvent(const pqw::Event& e);
/// One line per "prune.step" event (pruning_commands.cpp).
std::string stepLine(const pqw::Event& e);
/// LibTorch threads of a task: `threads`, or when negative $SLURM_CPUS_PER_TASK (else one per core).
void initTaskThreads(int threads);
/// The absolute path of this pqw executable.
std::string selfExecutable();
/// sweep-run and sweep-status.
void registerSlurmSweepCommands(CLI::App& app);

}  // namespace pqwcli
