// Sweeps on Slurm: `pqw sweep ... --slurm`, `pqw sweep-run` (one run, what an array task
// runs) and `pqw sweep-status`. The rules live in core (pqw/slurm.h, pqw/pruning.h).
#include "slurm_commands.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>

#include "common.h"
#include "pqw/error.h"
#include "pqw/slurm.h"
#include "pqw/util.h"

namespace pqwcli {

void SlurmArgs::add(CLI::App* c, const std::string& unit) {
    c->add_flag("--slurm", slurm, "Submit to Slurm as one job array (one task per " + unit + ") instead of running here");
    c->add_option("--partition", partition, "Slurm: partition (default: the cluster's)");
    c->add_option("--time", time, "Slurm: time limit per task, e.g. 00:30:00");
    c->add_option("--cpus-per-task", cpusPerTask, "Slurm: CPUs per task (the task's --threads)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c->add_option("--mem", mem, "Slurm: memory per task, e.g. 4G");
    c->add_option("--max-parallel", maxParallel, "Slurm: at most K tasks at once (0 = no limit)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--sbatch-arg", sbatchArgs, "Slurm: passed to sbatch as is (repeatable; --sbatch-arg=--qos=low)")
        ->allow_extra_args(false);
    c->add_flag("--dry-run", dryRun, "Slurm: print the batch script and the sbatch lines; submit nothing");
    c->add_flag("--resubmit", resubmit, "Slurm: submit the " + unit + "s that are not done, running or pending");
}

bool SlurmArgs::given() const {
    return dryRun || resubmit || !partition.empty() || !time.empty() || !mem.empty() || cpusPerTask != 1 ||
           maxParallel != 0 || !sbatchArgs.empty();
}

void initTaskThreads(int threads) {
    if (threads < 0) {
        const char* cpus = std::getenv("SLURM_CPUS_PER_TASK");
        threads = cpus ? std::atoi(cpus) : 0;
    }
    pqw::initTorchThreads(threads);
}

std::string selfExecutable() {
    std::error_code ec;
    const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw pqw::Error("cannot find this pqw executable (/proc/self/exe): " + ec.message());
    return p.string();
}

void printSweepEvent(const pqw::Event& e) {
    auto run = [&] {
        auto it = e.texts.find("run");
        return it == e.texts.end() ? std::string() : it->second;
    };
    if (e.kind == "run.start") {
        std::cerr << "[" << int(e.value("index")) << "/" << int(e.value("runs")) << "] " << run();
        if (e.value("resumed_from_step") > 0) std::cerr << " (resumed after step " << int(e.value("resumed_from_step")) << ")";
        std::cerr << std::endl;
    } else if (e.kind == "prune.step") {
        std::cerr << "  " << stepLine(e) << (e.values.count("carried_from_attempt") ? "  (earlier attempt)" : "")
                  << std::endl;
    } else if (e.kind == "run.busy") {
        std::cerr << "[" << int(e.value("index")) << "/" << int(e.value("runs")) << "] " << run()
                  << ": being run by another process; left to it" << std::endl;
    } else if (e.kind == "cnn.epoch") {
        std::cerr << std::fixed << std::setprecision(4) << "base model epoch " << int(e.value("epoch")) << "  val "
                  << e.value("val_accuracy") << std::endl;
    }
}

pqw::SlurmOptions SlurmArgs::checkedOptions() const {
    pqw::SlurmOptions o;
    o.partition = partition;
    o.time = time;
    o.mem = mem;
    o.cpusPerTask = cpusPerTask;
    o.maxParallel = maxParallel;
    o.sbatchArgs = sbatchArgs;
    o.pqw = selfExecutable();
    if (!dryRun) {
        // Say what is missing before anything is planned or written.
        if (const std::string why = pqw::slurmProblem(); !why.empty())
            throw pqw::Error("cannot submit to Slurm: " + why + " (--dry-run shows the script without submitting)");
    }
    return o;
}

void submitSweepToSlurm(const pqw::SweepSpec& spec, const std::string& dir, const SlurmArgs& a) {
    const pqw::SlurmOptions o = a.checkedOptions();
    const auto plan = pqw::planSweepSubmission(spec, dir, o, a.resubmit);
    if (a.dryRun) {
        std::cout << "# " << plan.scriptPath << "\n" << plan.script << "\n# " << plan.runsPath << " (" << plan.runs.size()
                  << " runs)\n";
        for (const auto& r : plan.runs) std::cout << "#   " << r << "\n";
        if (plan.prepare) std::cout << pqw::shellLine(plan.prepareCommand) << "\n";
        std::cout << pqw::shellLine(plan.arrayCommand) << "\n";
        return;
    }
    const auto sub = pqw::submitSweep(spec, dir, plan);
    if (!sub.prepareJob.empty()) std::cout << "base model: job " << sub.prepareJob << "\n";
    std::cout << "submitted: job array " << sub.arrayJob << " (" << plan.runs.size() << " runs"
              << (a.maxParallel > 0 ? ", at most " + std::to_string(a.maxParallel) + " at once" : std::string())
              << ")\nscript: " << plan.scriptPath << "\nfollow: pqw sweep-status " << dir << "\n";
}

namespace {

void addSweepRun(CLI::App& app) {
    auto* c = app.add_subcommand("sweep-run", "Run one run of a sweep folder (what a Slurm array task runs)");
    auto dir = std::make_shared<std::string>(), list = std::make_shared<std::string>();
    auto index = std::make_shared<long>(-1);
    auto prepare = std::make_shared<bool>(false);
    auto threads = std::make_shared<int>(-1);
    c->add_option("dir", *dir, "Sweep folder (with sweep.json)")->required()->check(CLI::ExistingDirectory);
    c->add_option("--index", *index, "Run index: a line of --list, else a position in sweep.json's runs (0-based)");
    c->add_option("--list", *list, "Run list of a submission (DIR/slurm/array-N.runs)")->check(CLI::ExistingFile);
    c->add_flag("--prepare", *prepare, "Only make the base model (the job the array depends on)");
    c->add_option("--threads", *threads, "LibTorch threads (default: $SLURM_CPUS_PER_TASK, else one per core)");
    c->callback([=] {
        initTaskThreads(*threads);
        const auto spec = pqw::loadSweepFolder(*dir);
        if (*prepare) {
            withJob([&](pqw::JobContext& ctx) {
                ctx.setEventHandler([&](const pqw::Event& e) { printSweepEvent(e); });
                std::signal(SIGTERM, onSigint);
                pqw::prepareSweep(spec, *dir, ctx);
                return 0;
            });
            std::cout << "base model: " << pqw::sweepBaseModelPath(spec, *dir) << "\n";
            return;
        }
        if (*index < 0) throw pqw::Error("sweep-run needs --index (or --prepare)");
        size_t i = size_t(*index);
        if (!list->empty()) {
            const std::string id = pqw::sweepArrayRun(*list, i);
            i = spec.runs.size();
            for (size_t k = 0; k < spec.runs.size(); ++k)
                if (spec.runs[k].id == id) i = k;
            if (i == spec.runs.size()) throw pqw::Error(*list + ": run " + id + " is not in " + *dir + "/sweep.json");
        }
        const bool ran = withJob([&](pqw::JobContext& ctx) {
            ctx.setEventHandler([&](const pqw::Event& e) { printSweepEvent(e); });
            // scancel sends SIGTERM: stop within a batch and log the run as failed.
            std::signal(SIGTERM, onSigint);
            return pqw::runSweepRun(spec, *dir, i, ctx);
        });
        std::cout << (ran ? "done: " : "already done: ") << spec.runs[i].id << "\n";
    });
}

void addSweepStatus(CLI::App& app) {
    auto* c = app.add_subcommand("sweep-status", "Where each run of a sweep folder stands (logs, and Slurm when reachable)");
    auto dir = std::make_shared<std::string>();
    auto noSlurm = std::make_shared<bool>(false);
    c->add_option("dir", *dir, "Sweep folder")->required()->check(CLI::ExistingDirectory);
    c->add_flag("--no-slurm", *noSlurm, "Read the logs only; do not ask Slurm");
    c->callback([=] {
        const auto spec = pqw::loadSweepFolder(*dir);
        const auto log = pqw::readSweepFolder(*dir);
        auto runs = pqw::sweepRunInfos(spec, *dir, log);
        std::string note;
        if (!*noSlurm && !pqw::readSweepSubmissions(*dir).empty()) {
            std::string problem;
            if (!pqw::applySlurmState(runs, *dir, &problem)) note = "Slurm not asked: " + problem;
        }
        // summary.csv is derived from the logs: refresh it.
        pqw::writeFileAtomic(*dir + "/summary.csv", pqw::sweepSummaryCsv(log));
        std::map<pqw::SweepRunState, int> count;
        size_t w = 3;
        for (const auto& r : runs) w = std::max(w, r.id.size());
        std::cout << std::left << std::setw(5) << "#" << std::setw(int(w) + 2) << "run" << std::setw(15) << "state"
                  << std::setw(8) << "steps" << std::setw(9) << "attempt" << std::setw(12) << "job" << std::setw(6)
                  << "exit" << "note\n";
        for (const auto& r : runs) {
            ++count[r.state];
            const std::string steps = r.stepsDone < 0 ? "-" : std::to_string(r.stepsDone) + "/" + std::to_string(r.steps);
            std::string noteText = r.reason;
            if (!r.slurmState.empty() && noteText.find(r.slurmState) == std::string::npos)
                noteText = r.slurmState + (noteText.empty() ? "" : "; " + noteText);
            if (!r.host.empty() && r.state != pqw::SweepRunState::NeverStarted)
                noteText += (noteText.empty() ? std::string() : std::string("; ")) + "on " + r.host;
            std::cout << std::left << std::setw(5) << r.index << std::setw(int(w) + 2) << r.id << std::setw(15)
                      << pqw::sweepRunStateName(r.state) << std::setw(8) << steps << std::setw(9)
                      << (r.attempt ? std::to_string(r.attempt) : std::string("-")) << std::setw(12)
                      << (r.jobId.empty() ? std::string("-") : r.jobId) << std::setw(6)
                      << (r.exitCode < 0 ? std::string("-") : std::to_string(r.exitCode)) << noteText << "\n";
        }
        std::cout << runs.size() << " runs: " << count[pqw::SweepRunState::Done] << " done, "
                  << count[pqw::SweepRunState::Running] << " running, " << count[pqw::SweepRunState::Pending]
                  << " pending, " << count[pqw::SweepRunState::Failed] << " failed, "
                  << count[pqw::SweepRunState::NeverStarted] << " never started\n";
        if (!note.empty()) std::cout << note << "\n";
    });
}

}  // namespace

void registerSlurmSweepCommands(CLI::App& app) {
    addSweepRun(app);
    addSweepStatus(app);
}

}  // namespace pqwcli
