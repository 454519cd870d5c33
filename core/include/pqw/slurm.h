#pragma once
// Handing sweeps and feature extraction to a Slurm cluster (docs/pruning.md "On Slurm"):
// batch scripts, job-array submission with sbatch, and Slurm's view of each task from squeue /
// scontrol. The workbench never schedules anything itself. Qt-free and torch-free.
#include <map>
#include <string>
#include <vector>

#include "pqw/pruning.h"

namespace pqw {

/// The result of running a program (no shell).
struct CommandResult {
    int code = -1;  ///< exit code; 127 when the program was not found; -1 killed / timed out
    std::string out, err;
};
/// Runs argv[0] (looked up on PATH) with argv, capturing stdout and stderr; kills it after
/// timeoutSeconds.
CommandResult runCommand(const std::vector<std::string>& argv, double timeoutSeconds = 30);
/// The program's path on PATH, or "" when there is none.
std::string findOnPath(const std::string& program);

/// Empty when jobs can be submitted from here; otherwise one line naming what is missing:
/// sbatch not on PATH, SLURM_CONF naming a file that does not exist, or a controller that does
/// not answer `scontrol ping`.
std::string slurmProblem();

/// What `sbatch` is asked for (every task gets the same).
struct SlurmOptions {
    std::string partition;         ///< --partition (empty: the cluster's default)
    std::string time;              ///< --time, e.g. 00:30:00 (empty: the partition's default)
    std::string mem;               ///< --mem, e.g. 4G (empty: the default)
    int cpusPerTask = 1;           ///< --cpus-per-task; the task runs with this many threads
    int maxParallel = 0;           ///< %K on the array: at most K tasks at once (0: no limit)
    std::vector<std::string> sbatchArgs;  ///< passed to sbatch as they are
    std::string pqw;               ///< the pqw executable the tasks run (absolute path)
};

/// One submission of a sweep, before it is made.
struct SweepSubmissionPlan {
    int number = 1;                    ///< DIR/slurm/array-<number>.{sh,runs}
    std::string scriptPath, script;    ///< the batch script
    std::string runsPath;              ///< one run id per line: array index i runs line i
    std::vector<std::string> runs;     ///< the runs this submission runs
    bool prepare = false;              ///< a first job makes the base model (afterok dependency)
    std::vector<std::string> prepareCommand;  ///< sbatch argv of that job
    std::vector<std::string> arrayCommand;    ///< sbatch argv of the array (its dependency added on submit)
};

/// Plans a submission of every run of spec that is not done, not running and not pending
/// (states from the logs and, when askSlurm and reachable, Slurm). Throws pqw::Error when
/// there is nothing to submit, or when the folder has earlier submissions and resubmit is false.
SweepSubmissionPlan planSweepSubmission(const SweepSpec& spec, const std::string& dir, const SlurmOptions& opt,
                                        bool resubmit, bool askSlurm = true);
/// The command lines as a shell would show them.
std::string shellLine(const std::vector<std::string>& argv);

struct SweepSubmission {
    std::string prepareJob;  ///< job id of the base-model job ("" when not needed)
    std::string arrayJob;    ///< array job id: run i of the plan is task <arrayJob>_<i>
};
/// Writes sweep.json, the script and the run list, runs sbatch (the prepare job first when
/// needed) and records the submission in DIR/slurm/submissions.jsonl. Throws pqw::Error with
/// sbatch's own message when it refuses.
SweepSubmission submitSweep(const SweepSpec& spec, const std::string& dir, const SweepSubmissionPlan& plan);

/// The run id on line `index` of an array's run list (what a task runs); throws pqw::Error
/// naming the file when there is no such line.
std::string sweepArrayRun(const std::string& runsPath, size_t index);

/// One Slurm job or array task as squeue / scontrol see it.
struct SlurmTaskState {
    std::string state;   ///< PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT, ...
    std::string reason;  ///< squeue's reason (e.g. Dependency, Resources) for pending tasks
    int exitCode = -1;   ///< from ExitCode=code:signal (128 + signal when killed by one)
};
/// The state of every task of these jobs ("A" for a job, "A_i" for array tasks), from squeue
/// (pending and running) and scontrol show job (finished jobs Slurm still remembers). Returns
/// false with *problem set when Slurm cannot be asked.
bool querySlurmJobs(const std::vector<std::string>& jobIds, std::map<std::string, SlurmTaskState>& out,
                    std::string* problem = nullptr);

/// Every submission recorded in DIR/slurm/submissions.jsonl (old to new): array job id, runs.
struct SweepSubmissionRecord {
    int number = 0;
    std::string arrayJob, prepareJob;
    std::vector<std::string> runs;
};
std::vector<SweepSubmissionRecord> readSweepSubmissions(const std::string& dir);

/// Adds Slurm's view to runs that are not done: a run's job id is that of its latest
/// submission; pending / running tasks are reported as such; a task Slurm ended (cancelled,
/// failed, timeout) is failed when its run had started and "never started" when it had not.
/// Returns false with *problem set when Slurm could not be asked (the log states stay).
bool applySlurmState(std::vector<SweepRunInfo>& runs, const std::string& dir, std::string* problem = nullptr);

}  // namespace pqw
