// Sharded feature extraction from pqw: `pqw extract ... --slurm --shards N` (submission),
// `pqw extract-shard` (what an array task runs), `pqw extract-join` (what the dependent job
// runs) and `pqw extract-status`. The rules live in core (pqw/extract_shards.h).
#include <csignal>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>

#include "common.h"
#include "extract_commands.h"
#include "pqw/extract_shards.h"
#include "pqw/recorded_backbone.h"
#include "pqw/slurm.h"
#include "slurm_commands.h"

namespace pqwcli {

void submitExtractionToSlurm(const DatasetArgs& ds, const BackboneArgs& bb, bool backboneGiven, const std::string& dir,
                             int size, int batch, int shards, const SlurmArgs& a) {
    const pqw::SlurmOptions o = a.checkedOptions();
    pqw::ShardPlan plan;
    std::string userBackbone;
    if (a.resubmit) {
        // The folder's own plan; only a TorchScript backbone is named again (it is code).
        plan = pqw::readShardPlan(dir);
        if (plan.backbone.kind == "torchscript") {
            if (!backboneGiven)
                throw pqw::Error(pqw::shardPlanPath(dir) + ": its backbone is a TorchScript program ('" + plan.backbone.path +
                                 "'); name the file again with --backbone FILE to resubmit");
            userBackbone = bb.backbone;
        }
    } else {
        if (shards < 1 && pqw::hasShardPlan(dir))
            throw pqw::Error(dir + ": is planned in shards already; `pqw extract -o " + dir +
                             " --slurm --resubmit` submits the shards that are not done");
        if (shards < 1) throw pqw::Error("--slurm extraction needs --shards N (N array tasks, one range of samples each)");
        pqw::initTorchThreads(1);
        const auto dataset = pqw::Dataset::open(ds.spec());
        const auto backbone = pqw::Backbone::open(bb.spec());
        pqw::ExtractOptions eo;
        eo.inputSize = size;
        eo.batchSize = batch;
        plan = pqw::makeShardPlan(dataset, backbone, shards, eo);
        if (plan.backbone.kind == "torchscript") userBackbone = plan.backbone.path;
    }
    const auto sub = pqw::planExtractSubmission(plan, dir, o, a.resubmit, true, userBackbone);
    if (a.dryRun) {
        std::cout << "# " << sub.scriptPath << "\n" << sub.script << "\n# " << sub.shards.size() << " of "
                  << plan.ranges.size() << " shards (samples per shard):\n";
        for (size_t i : sub.shards)
            std::cout << "#   shard " << i << ": " << plan.ranges[i].first << "-" << plan.ranges[i].second - 1 << "\n";
        std::cout << pqw::shellLine(sub.arrayCommand) << "\n" << pqw::shellLine(sub.joinCommand) << "\n";
        return;
    }
    const auto done = pqw::submitExtraction(plan, dir, sub);
    std::cout << "submitted: job array " << done.arrayJob << " (" << sub.shards.size() << " of " << plan.ranges.size()
              << " shards" << (a.maxParallel > 0 ? ", at most " + std::to_string(a.maxParallel) + " at once" : std::string())
              << ")\njoin: job " << done.joinJob << " (after the array)\nscript: " << sub.scriptPath
              << "\nfollow: pqw extract-status " << dir << "\n";
}

namespace {

void addExtractShard(CLI::App& app) {
    auto* c = app.add_subcommand("extract-shard", "Extract one shard of a sharded extraction (what a Slurm array task runs)");
    auto dir = std::make_shared<std::string>(), backbone = std::make_shared<std::string>();
    auto shard = std::make_shared<long>(-1);
    auto threads = std::make_shared<int>(-1);
    c->add_option("dir", *dir, "Cache folder with shards/plan.json")->required()->check(CLI::ExistingDirectory);
    c->add_option("--shard", *shard, "Shard index (0-based; the array task id)")->required();
    c->add_option("--backbone,-b", *backbone, "The TorchScript backbone file, when the plan's backbone is one");
    c->add_option("--threads", *threads, "LibTorch threads (default: $SLURM_CPUS_PER_TASK, else one per core)");
    c->callback([=] {
        initTaskThreads(*threads);
        if (*shard < 0) throw pqw::Error("--shard must be 0 or more");
        const auto plan = pqw::readShardPlan(*dir);
        const auto ds = pqw::Dataset::open(plan.dataset);
        if (ds.fingerprint() != plan.datasetFingerprint)
            throw pqw::Error("the dataset at '" + plan.dataset.path + "' changed since " + pqw::shardPlanPath(*dir) +
                             " was written (fingerprint " + ds.fingerprint() + ", planned " + plan.datasetFingerprint + ")");
        const auto bb = pqw::openRecordedBackbone(plan.backbone, plan.backboneId, pqw::shardPlanPath(*dir), *backbone);
        const auto rep = withJob([&](pqw::JobContext& ctx) {
            // scancel sends SIGTERM: stop after the batch in flight; what is on disk stays.
            std::signal(SIGTERM, onSigint);
            return pqw::extractShard(ds, bb, *dir, size_t(*shard), ctx);
        });
        std::cout << "shard " << *shard << ": samples " << plan.ranges[size_t(*shard)].first << "-"
                  << plan.ranges[size_t(*shard)].second - 1 << ", extracted " << rep.extracted << ", reused "
                  << rep.reused << ", failed " << rep.failed << "\n";
    });
}

void addExtractJoin(CLI::App& app) {
    auto* c = app.add_subcommand("extract-join", "Check the shards of a sharded extraction and join them into the cache");
    auto dir = std::make_shared<std::string>();
    c->add_option("dir", *dir, "Cache folder with shards/plan.json")->required()->check(CLI::ExistingDirectory);
    c->callback([=] {
        const auto rep = withJob([&](pqw::JobContext& ctx) { return pqw::joinShards(*dir, ctx); });
        std::cout << "features: " << *dir << " (" << rep.samples << " samples from " << rep.shards << " shards)\n";
    });
}

void addExtractStatus(CLI::App& app) {
    auto* c = app.add_subcommand("extract-status", "Where each shard of a sharded extraction stands (files, and Slurm when reachable)");
    auto dir = std::make_shared<std::string>();
    auto noSlurm = std::make_shared<bool>(false);
    c->add_option("dir", *dir, "Cache folder with shards/plan.json")->required()->check(CLI::ExistingDirectory);
    c->add_flag("--no-slurm", *noSlurm, "Read the files only; do not ask Slurm");
    c->callback([=] {
        std::string problem;
        const auto st = pqw::shardStatus(*dir, !*noSlurm, &problem);
        std::map<pqw::ShardState, int> count;
        std::cout << std::left << std::setw(7) << "shard" << std::setw(18) << "samples" << std::setw(13) << "state"
                  << std::setw(18) << "done" << std::setw(12) << "job" << std::setw(6) << "exit" << "note\n";
        for (const auto& s : st.shards) {
            ++count[s.state];
            std::string note = s.reason;
            if (!s.slurmState.empty() && note.find(s.slurmState) == std::string::npos)
                note = s.slurmState + (note.empty() ? "" : "; " + note);
            std::cout << std::left << std::setw(7) << s.index << std::setw(18)
                      << (std::to_string(s.begin) + "-" + std::to_string(s.end - 1)) << std::setw(13)
                      << pqw::shardStateName(s.state) << std::setw(18)
                      << (std::to_string(s.done) + "/" + std::to_string(s.end - s.begin)) << std::setw(12)
                      << (s.jobId.empty() ? std::string("-") : s.jobId) << std::setw(6)
                      << (s.exitCode < 0 ? std::string("-") : std::to_string(s.exitCode)) << note << "\n";
        }
        using S = pqw::ShardState;
        std::cout << st.shards.size() << " shards: " << count[S::Done] << " done, " << count[S::Running] << " running, "
                  << count[S::Pending] << " pending, " << count[S::Failed] << " failed, " << count[S::Partial]
                  << " partial, " << count[S::Stale] << " stale, " << count[S::NotStarted] << " not started\n";
        std::cout << "cache: " << (st.joined ? "joined (" + std::to_string(st.plan.count) + " samples)" : std::string("not joined yet"));
        if (!st.joinJob.empty())
            std::cout << "; join job " << st.joinJob << (st.joinState.empty() ? std::string() : " " + st.joinState);
        std::cout << "\n";
        if (!problem.empty()) std::cout << "Slurm not asked: " << problem << "\n";
    });
}

}  // namespace

void registerExtractCommands(CLI::App& app) {
    addExtractShard(app);
    addExtractJoin(app);
    addExtractStatus(app);
}

}  // namespace pqwcli
