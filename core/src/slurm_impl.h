#pragma once
// Internal to core: the pieces of slurm.cpp that sharded extraction (extract_shards.cpp) shares.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pqw/slurm.h"

namespace pqw::slurm_detail {

/// The last non-empty line of a command's output.
std::string firstLine(std::string s);
/// s in single quotes for a shell.
std::string quote(const std::string& s);
/// "code:signal" -> the exit code (128 + signal when killed by one); -1 when unreadable.
int exitCodeOf(const std::string& field);
/// The JSON records of DIR/slurm/submissions.jsonl (a partial last line ignored; any other bad
/// line is an error naming the file and line). Each carries "_line", its line number.
std::vector<nlohmann::json> readSubmissionLines(const std::string& path);
/// Appends one record as one line and fsyncs (the submitting process is the only writer).
void appendSubmission(const std::string& path, const nlohmann::json& rec);
/// Runs `sbatch --parsable ...`; returns the job id or throws pqw::Error with sbatch's message.
std::string sbatchJob(const std::vector<std::string>& argv);
double nowSeconds();
/// A batch script's start: the shebang, `comment` (its own "# " lines), the #SBATCH lines (job
/// name, output DIR/slurm/logs/%A_%a.out, chdir DIR, CPUs, partition, time, memory), `set -u`,
/// threads from SLURM_CPUS_PER_TASK and OMP_NUM_THREADS.
std::string batchScriptHead(const std::string& comment, const std::string& jobName, const std::string& absDir,
                            const SlurmOptions& opt);

}  // namespace pqw::slurm_detail
