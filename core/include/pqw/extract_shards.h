#pragma once
// Sharded feature extraction (docs/user-guide.md "Extraction on Slurm", docs/file-formats.md):
// the samples of a cache folder DIR are split into N contiguous ranges on batch boundaries
// (DIR/shards/plan.json); shard i is extracted by its own process into DIR/shards/shard-<i>/,
// a small feature cache of its range (resumable like the ordinary one, its own folder lock, a
// checksum of its payload once finished), so no two processes ever write one file. Joining
// checks every shard against the plan and writes the ordinary cache (DIR/meta.json +
// features.f16), bitwise the cache a single extraction makes. On Slurm each shard is one array
// task and a job that depends on the array (afterok) joins; a plain extraction of the folder
// (`pqw extract`, the window) extracts whatever shard is missing here and joins too.
// Qt-free and torch-free.
#include <string>
#include <utility>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/feature_cache.h"
#include "pqw/job.h"
#include "pqw/slurm.h"

namespace pqw {

struct ShardPlan {
    std::string fingerprint;          ///< cacheFingerprint of the inputs
    std::string datasetFingerprint;   ///< Dataset::fingerprint
    std::string backboneId;           ///< Backbone::id
    size_t count = 0;                 ///< samples of the dataset
    int inputSize = 112, batchSize = 64;
    std::vector<std::pair<size_t, size_t>> ranges;  ///< [begin, end) of each shard
    DatasetSpec dataset;              ///< how a task reopens the dataset
    BackboneSpec backbone;            ///< and the backbone (TorchScript: named again, see the script)
};

/// Splits ds into `shards` contiguous ranges whose starts are multiples of the batch size, as
/// even as whole batches allow. Throws pqw::Error when shards < 1 or there are fewer batches
/// than shards.
ShardPlan makeShardPlan(const Dataset& ds, const Backbone& bb, int shards, const ExtractOptions& opt);
/// DIR/shards/plan.json (written atomically) and reading it back (throws naming the file).
std::string shardPlanPath(const std::string& dir);
bool hasShardPlan(const std::string& dir);
void writeShardPlan(const std::string& dir, const ShardPlan& plan);
ShardPlan readShardPlan(const std::string& dir);
/// DIR/shards/shard-<i> (three digits at least).
std::string shardDir(const std::string& dir, size_t shard);

/// Extracts (or resumes) shard `shard` of the plan in dir. The dataset and backbone must be
/// the plan's (same fingerprint): otherwise pqw::Error says which differs.
ExtractReport extractShard(const Dataset& ds, const Backbone& bb, const std::string& dir, size_t shard, JobContext& ctx);

struct JoinReport {
    size_t shards = 0, samples = 0;
    double seconds = 0;
};
/// Checks every shard against the plan (fingerprint, backbone id, dataset fingerprint, range,
/// size, complete, checksum) and writes DIR/meta.json + features.f16; the shard folders are
/// removed afterwards. A shard that fails a check is refused with one line naming its file
/// and what is wrong; a shard whose payload fails its checksum is also moved aside
/// (shard-<i>.damaged) so a resubmission extracts it again. Takes DIR's folder lock.
JoinReport joinShards(const std::string& dir, JobContext& ctx);

enum class ShardState { NotStarted, Pending, Running, Partial, Failed, Stale, Done };
/// "not started", "pending", "running", "partial", "failed", "stale", "done"
const char* shardStateName(ShardState s);
struct ShardInfo {
    size_t index = 0, begin = 0, end = 0;
    size_t done = 0;             ///< samples on disk
    ShardState state = ShardState::NotStarted;
    int exitCode = -1;           ///< from Slurm when it ended badly
    std::string jobId;           ///< "A_i" of its latest submission
    std::string slurmState;      ///< Slurm's word when asked
    std::string reason;          ///< one line: why stale / failed / pending
};
struct ShardStatus {
    ShardPlan plan;
    std::vector<ShardInfo> shards;
    bool joined = false;         ///< DIR holds the complete cache of the plan
    std::string joinJob, joinState;  ///< the latest join job and Slurm's word for it
};
/// Where each shard stands, from the shard folders (a held folder lock = running); joined
/// shards (folders removed) are done; each shard's job id comes from DIR/slurm/submissions.jsonl.
/// With askSlurm and submissions recorded, Slurm's view is
/// added: pending / running tasks, and tasks Slurm ended without finishing their shard are
/// failed (exit code from scontrol). *problem says when Slurm could not be asked.
ShardStatus shardStatus(const std::string& dir, bool askSlurm = true, std::string* problem = nullptr);

/// One submission of a sharded extraction, before it is made.
struct ExtractSubmissionPlan {
    int number = 1;                     ///< DIR/slurm/extract-<number>.sh
    std::string scriptPath, script;
    std::vector<size_t> shards;         ///< the shards this submission extracts (= array task ids)
    std::vector<std::string> arrayCommand;  ///< sbatch argv of the array
    std::vector<std::string> joinCommand;   ///< sbatch argv of the join job (its dependency set on submit)
};
/// Plans the submission of every shard that is not done, running or pending. The plan must be
/// DIR's (written by submitExtraction) or a new one for an empty folder. userBackbone: the
/// TorchScript file the tasks load (they check its hash against the plan's backbone id).
/// Throws pqw::Error when there is nothing to submit, when DIR holds an ordinary cache that is
/// complete or partial, or when DIR has earlier submissions and resubmit is false.
ExtractSubmissionPlan planExtractSubmission(const ShardPlan& plan, const std::string& dir, const SlurmOptions& opt,
                                            bool resubmit, bool askSlurm = true, const std::string& userBackbone = {});
struct ExtractSubmission {
    std::string arrayJob;  ///< shard i is task <arrayJob>_<i>
    std::string joinJob;
};
/// Writes the plan (when new), the script, runs sbatch (array, then the join job with
/// --dependency=afterok:<array>) and records the submission in DIR/slurm/submissions.jsonl.
ExtractSubmission submitExtraction(const ShardPlan& plan, const std::string& dir, const ExtractSubmissionPlan& sub);

}  // namespace pqw
