// The sweep folder with one event log per run (DIR/runs/<id>.jsonl): running a sweep locally,
// running one run alone (a Slurm array task), resuming a run from its last finished step, and
// reading where every run stands. See docs/pruning.md "Sweep folder".
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "fs_util.h"
#include "json_util.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"
#include "pqw/util.h"
#include "pruning/sweep_internal.h"

namespace pqw {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json eventJson(const std::string& run, int attempt, const Event& e) {
    json v = json::object(), t = json::object();
    for (const auto& [k, x] : e.values) v[k] = std::isfinite(x) ? json(x) : json(nullptr);
    for (const auto& [k, x] : e.texts) t[k] = x;
    return {{"run", run}, {"attempt", attempt}, {"kind", e.kind}, {"values", v}, {"texts", t}};
}

/// Append-only writer of one run's log: every line is written whole with one write(2);
/// fsync at step boundaries (run.start, prune.step, run.done, run.failed).
class LogWriter {
public:
    explicit LogWriter(const std::string& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) throw Error(path + ": cannot open for appending: " + std::strerror(errno));
    }
    ~LogWriter() {
        if (fd_ >= 0) ::close(fd_);
    }
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;
    void append(const json& j, bool sync) {
        const std::string line = j.dump() + "\n";
        size_t off = 0;
        while (off < line.size()) {
            const ssize_t w = ::write(fd_, line.data() + off, line.size() - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                throw Error(path_ + ": cannot append: " + std::strerror(errno));
            }
            off += size_t(w);
        }
        if (sync && ::fsync(fd_) != 0) throw Error(path_ + ": cannot sync: " + std::strerror(errno));
    }

private:
    std::string path_;
    int fd_ = -1;
};

/// Cuts a partial last line (a crash mid-write) so appends start on a line boundary.
void dropPartialLastLine(const std::string& path) {
    if (!fs::exists(path)) return;
    const std::string text = readFile(path);
    if (text.empty() || text.back() == '\n') return;
    const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (::truncate(path.c_str(), off_t(keep)) != 0) throw Error(path + ": cannot cut a partial line: " + std::strerror(errno));
}

std::string envOr(const char* k) {
    const char* v = std::getenv(k);
    return v ? std::string(v) : std::string();
}

std::string hostName() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return {};
    return buf;
}

bool checkpointable(PruneModelKind k) { return k == PruneModelKind::Cnn || k == PruneModelKind::FeatureHead; }

std::string checkpointPath(const std::string& dir, const std::string& id, int step) {
    return dir + "/runs/" + id + ".step" + std::to_string(step) + ".pqwcnn";
}

}  // namespace

namespace {

/// The sections a sweep's runs share: a folder's sweep can grow its grid, not change these.
json sweepBase(const json& j) {
    return json{{"dataset", j.value("dataset", json::object())},
                {"model", j.value("model", json::object())},
                {"model_path", j.value("model_path", "")},
                {"features", j.value("features", json())}};
}

/// DIR/sweep.json parsed; null when absent or unreadable (a folder being rewritten).
json readSweepJson(const std::string& specPath) {
    if (!fs::exists(specPath)) return json();
    try {
        return jsonu::parse(readFile(specPath), specPath + ": ");
    } catch (const Error&) {
        return json();
    }
}

}  // namespace

bool sweepFolderConflicts(const SweepSpec& spec, const std::string& dir) {
    const json old = readSweepJson(dir + "/sweep.json");
    return !old.is_null() && sweepBase(old) != sweepBase(json::parse(spec.json));
}

void writeSweepSpec(const SweepSpec& spec, const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir + "/runs", ec);
    if (ec) throw Error(dir + ": cannot create folder: " + ec.message());
    const std::string specPath = dir + "/sweep.json";
    if (fs::exists(specPath)) {
        if (readFile(specPath) == spec.json + "\n") return;  // nothing to write (array tasks never write it)
        if (sweepFolderConflicts(spec, dir))  // an unreadable sweep.json is rewritten below
            throw Error(dir + ": holds a sweep with a different dataset or model; use another --out folder");
    }
    writeFileAtomic(specPath, spec.json + "\n");
}

namespace {

ImageTensors loadData(const SweepSpec& spec, const std::shared_ptr<FeatureCache>& cache) {
    if (spec.kind == PruneModelKind::TorchScript)
        return cache ? ImageTensors::fromFeatureCache(*cache, spec.dataset.maxTrain)
                     : ImageTensors::fromDataset(Dataset::open(spec.dataset), spec.model.inChannels, spec.model.inputSize);
    return spec.kind == PruneModelKind::FeatureHead ? ImageTensors::fromFeatureCache(*cache, spec.dataset.maxTrain)
                                                    : ImageTensors::fromDataset(Dataset::open(spec.dataset));
}

/// Makes the base model file once (trained, or copied from model_path). Callers racing for
/// it wait on DIR/.base.lock; the loser finds the file and returns.
void ensureBaseModel(const SweepSpec& spec, const std::string& dir, JobContext& ctx) {
    const std::string path = sweepBaseModelPath(spec, dir);
    if (fs::exists(path)) return;
    LockFile lock(dir + "/.base.lock");
    lock.lock();
    if (fs::exists(path)) return;
    // Temp files of an earlier maker that was killed mid-write: ours to remove now.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("base_model.", 0) == 0 && n.find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
    }
    switch (spec.kind) {
    case PruneModelKind::ProtoCodebook:
    case PruneModelKind::ProtoWeights: ProtoModel::load(spec.modelPath).save(path); return;
    case PruneModelKind::TorchScript: writeFileAtomic(path, readFile(spec.modelPath)); return;
    default: break;
    }
    if (!spec.modelPath.empty()) {
        CnnModel::load(spec.modelPath).save(path);
        return;
    }
    std::shared_ptr<FeatureCache> cache;
    if (!spec.features.empty()) cache = std::make_shared<FeatureCache>(FeatureCache::open(spec.features));
    ctx.progress(0.0, "loading data");
    const ImageTensors data = loadData(spec, cache);
    CnnSpec ms = spec.model;
    ms.inChannels = data.channels();
    ms.inputSize = data.inputSize();
    ms.classes = data.classes();
    CnnModel m = CnnModel::create(ms, spec.pretrain.seed);
    ctx.progress(0.0, "training the base model");
    // The runs fill the progress bar; the base model's own progress (which went to 50 % and then
    // back to 17 % when the runs started) is shown as words at 0 %, so the bar never runs back.
    JobContext base;
    base.followCancel(&ctx);
    base.setEventHandler([&](const Event& e) { ctx.emit(e); });
    base.setProgressHandler([&](double f, const std::string& msg) {
        ctx.progress(0.0, "training the base model (" + std::to_string(int(f * 100)) + " %): " + msg);
    });
    trainCnn(m, data, spec.pretrain, base);
    m.save(path);
}

/// The dense model every run starts from, with its data, loaded from the folder.
struct SweepBase {
    std::shared_ptr<FeatureCache> cache;
    ImageTensors data;
    std::unique_ptr<CnnModel> cnn;
    std::unique_ptr<Prunable> model;
    Accuracy denseVal, denseTest;
};

void loadBase(const SweepSpec& spec, const std::string& dir, JobContext& ctx, SweepBase& b) {
    ensureBaseModel(spec, dir, ctx);
    const std::string path = sweepBaseModelPath(spec, dir);
    ctx.progress(0.0, "loading data");
    if (!spec.features.empty()) b.cache = std::make_shared<FeatureCache>(FeatureCache::open(spec.features));
    switch (spec.kind) {
    case PruneModelKind::ProtoCodebook:
    case PruneModelKind::ProtoWeights: b.model = prunableProto(ProtoModel::load(path), b.cache, spec.kind); break;
    case PruneModelKind::TorchScript:
        b.data = loadData(spec, b.cache);
        b.model = prunableTorchScript(path, b.data);
        break;
    default:
        b.data = loadData(spec, b.cache);
        b.cnn = std::make_unique<CnnModel>(CnnModel::load(path));
        b.model = prunableCnn(*b.cnn, b.data);
        break;
    }
    b.denseVal = b.model->evaluate(Split::Val);
    b.denseTest = b.model->evaluate(Split::Test);
}

/// The prune.step entries 0..k of one attempt, k as high as the steps go without a gap.
std::vector<const SweepLogEntry*> stepChain(const std::vector<SweepLogEntry>& entries, int attempt) {
    std::vector<const SweepLogEntry*> chain;
    for (const auto& e : entries) {
        if (e.attempt != attempt || e.event.kind != "prune.step") continue;
        if (int(e.event.value("step")) != int(chain.size())) break;
        chain.push_back(&e);
    }
    return chain;
}

/// The attempt whose steps went furthest, and its chain.
std::vector<const SweepLogEntry*> furthestChain(const std::vector<SweepLogEntry>& entries) {
    std::set<int> attempts;
    for (const auto& e : entries) attempts.insert(e.attempt);
    std::vector<const SweepLogEntry*> best;
    for (int a : attempts) {
        auto c = stepChain(entries, a);
        if (c.size() >= best.size()) best = std::move(c);  // ties: the later attempt
    }
    return best;
}

enum class RunOutcome { Ran, AlreadyDone, Busy };

/// Runs (or resumes) one run into DIR/runs/<id>.jsonl. legacy: DIR/log.jsonl's entries.
RunOutcome runOne(const SweepSpec& spec, const std::string& dir, const SweepBase& base, size_t index,
                  const std::vector<SweepLogEntry>& legacy, JobContext& ctx) {
    const SweepRun& r = spec.runs.at(index);
    const std::string logPath = sweepRunLogPath(dir, r.id);
    LockFile lock(dir + "/runs/" + r.id + ".lock");
    if (!lock.tryLock()) return RunOutcome::Busy;
    // From here this process is the run's only writer.
    {
        std::error_code ec;
        const std::string prefix = r.id + ".";
        for (const auto& e : fs::directory_iterator(dir + "/runs", ec)) {
            const std::string n = e.path().filename().string();
            if (n.rfind(prefix, 0) == 0 && n.find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
        }
    }
    dropPartialLastLine(logPath);
    std::vector<SweepLogEntry> entries;
    for (const auto& e : legacy)
        if (e.run == r.id) entries.push_back(e);
    for (auto& e : readSweepLog(logPath)) entries.push_back(std::move(e));
    int lastAttempt = 0;
    for (const auto& e : entries) {
        if (e.event.kind == "run.done") return RunOutcome::AlreadyDone;
        lastAttempt = std::max(lastAttempt, e.attempt);
    }
    const int attempt = lastAttempt + 1;
    const auto schedule = pruneSchedule(r.options.strategy, r.options.target, r.options.steps, r.options.firstStep);

    // Resume from the furthest finished step that has its checkpoint (CNN kinds).
    std::vector<const SweepLogEntry*> carried;
    std::unique_ptr<CnnModel> resumedCnn;
    std::unique_ptr<Prunable> m;
    PruneResume resume;
    if (checkpointable(spec.kind)) {
        auto chain = furthestChain(entries);
        while (chain.size() > 1) {
            const int k = int(chain.size()) - 1;
            if (fs::exists(checkpointPath(dir, r.id, k))) break;
            chain.pop_back();
        }
        if (chain.size() > 1) {
            const int k = int(chain.size()) - 1;
            resumedCnn = std::make_unique<CnnModel>(CnnModel::load(checkpointPath(dir, r.id, k)));
            m = prunableCnn(*resumedCnn, base.data);
            resume.fromStep = k;
            resume.totalEpochs = int(chain.back()->event.value("total_epochs"));
            carried = chain;
        }
    }
    if (!m) m = base.model->clone();

    LogWriter writer(logPath);
    Event start{"run.start",
                {{"index", double(index + 1)},
                 {"runs", double(spec.runs.size())},
                 {"resumed_from_step", double(resume.fromStep)},
                 {"unix_time", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()}},
                {{"run", r.id}, {"host", hostName()}, {"pid", std::to_string(::getpid())}}};
    const std::string jobId = envOr("SLURM_JOB_ID"), arrayJob = envOr("SLURM_ARRAY_JOB_ID"),
                      arrayTask = envOr("SLURM_ARRAY_TASK_ID");
    if (!jobId.empty()) start.texts["slurm_job_id"] = jobId;
    if (!arrayJob.empty() && !arrayTask.empty()) start.texts["slurm_array_job"] = arrayJob + "_" + arrayTask;
    writer.append(eventJson(r.id, attempt, start), true);
    ctx.emit(start);
    // The steps already done are carried into this attempt, so the attempt that finishes
    // holds the whole curve (readers use only the finishing attempt).
    for (const SweepLogEntry* e : carried) {
        Event c = e->event;
        c.values["carried_from_attempt"] = double(e->attempt);
        writer.append(eventJson(r.id, attempt, c), false);
        c.texts["run"] = r.id;
        ctx.emit(c);
    }

    JobContext inner;
    inner.followCancel(&ctx);
    int lastLoggedStep = resume.fromStep;
    inner.setEventHandler([&](const Event& e) {
        const bool step = e.kind == "prune.step";
        writer.append(eventJson(r.id, attempt, e), step);
        if (step) {  // the new step is durable: the previous checkpoint is not needed any more
            lastLoggedStep = int(e.value("step"));
            std::error_code ec;
            if (lastLoggedStep > 0) fs::remove(checkpointPath(dir, r.id, lastLoggedStep - 1), ec);
        }
        Event f = e;
        f.texts["run"] = r.id;
        ctx.emit(f);
    });
    inner.setProgressHandler([&](double f, const std::string& msg) {
        ctx.progress((double(index) + f) / double(spec.runs.size()),
                     "run " + std::to_string(index + 1) + " of " + std::to_string(spec.runs.size()) + " (" +
                         sweepRunInWords(r.options) + "): " + msg);
    });
    if (checkpointable(spec.kind))
        resume.afterStep = [&](int k, const Prunable& p) { p.save(checkpointPath(dir, r.id, k)); };

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Event> steps;
    auto failed = [&](int code, const std::string& reason) {
        Event f{"run.failed", {{"exit_code", double(code)}, {"step", double(lastLoggedStep)}}, {{"run", r.id}, {"reason", reason}}};
        try {
            writer.append(eventJson(r.id, attempt, f), true);
        } catch (const std::exception&) {
        }
        ctx.emit(f);
    };
    try {
        steps = pruneModel(*m, r.options, inner, resume);
    } catch (const Cancelled&) {
        failed(130, "cancelled");
        throw;
    } catch (const std::exception& e) {
        failed(1, e.what());
        throw;
    }
    Event done = steps.empty() ? carried.back()->event : steps.back();
    done.kind = "run.done";
    done.values.erase("carried_from_attempt");
    done.values["dense_val_top1"] = base.denseVal.top1;
    done.values["dense_test_top1"] = base.denseTest.top1;
    done.values["target"] = r.options.target;
    done.values["steps"] = r.options.steps;
    done.values["first_step"] = r.options.firstStep;
    done.values["seed"] = double(r.options.seed);
    done.values["exit_code"] = 0;
    done.values["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    done.texts["fine_tune"] = sweepFineTuneId(r.options.fineTune);
    done.texts["run"] = r.id;
    writer.append(eventJson(r.id, attempt, done), true);
    {
        std::error_code ec;
        fs::remove(checkpointPath(dir, r.id, int(schedule.size())), ec);
        fs::remove(checkpointPath(dir, r.id, lastLoggedStep), ec);
    }
    ctx.emit(done);
    return RunOutcome::Ran;
}

}  // namespace

std::string sweepRunLogPath(const std::string& dir, const std::string& runId) { return dir + "/runs/" + runId + ".jsonl"; }

std::string sweepBaseModelPath(const SweepSpec& spec, const std::string& dir) {
    switch (spec.kind) {
    case PruneModelKind::ProtoCodebook:
    case PruneModelKind::ProtoWeights: return dir + "/base_model.pqwh";
    case PruneModelKind::TorchScript: return dir + "/base_model.pt";
    default: return dir + "/base_model.pqwcnn";
    }
}

SweepSpec loadSweepFolder(const std::string& dir) {
    const std::string path = dir + "/sweep.json";
    if (!fs::exists(path)) throw Error(dir + ": not a sweep folder (no sweep.json)");
    return parseSweep(readFile(path), path);
}

bool isSweepFolder(const std::string& dir) {
    return fs::exists(dir + "/sweep.json") || fs::exists(dir + "/log.jsonl") || fs::is_directory(dir + "/runs");
}

std::vector<SweepLogEntry> readSweepFolder(const std::string& dir) {
    auto out = readSweepLog(dir + "/log.jsonl");
    std::map<std::string, size_t> order;
    if (fs::exists(dir + "/sweep.json")) {
        try {
            const auto spec = parseSweep(readFile(dir + "/sweep.json"), dir + "/sweep.json");
            for (size_t i = 0; i < spec.runs.size(); ++i) order[spec.runs[i].id] = i;
        } catch (const Error&) {
            // an unreadable description: the logs still read, by name
        }
    }
    std::vector<std::pair<std::pair<size_t, std::string>, std::string>> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir + "/runs", ec)) {
        const std::string n = e.path().filename().string();
        if (e.path().extension() != ".jsonl" || n.find(".tmp-") != std::string::npos) continue;
        const std::string id = e.path().stem().string();
        auto it = order.find(id);
        files.push_back({{it == order.end() ? order.size() : it->second, id}, e.path().string()});
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files)
        for (auto& e : readSweepLog(f.second)) out.push_back(std::move(e));
    return out;
}

const char* sweepRunStateName(SweepRunState s) {
    switch (s) {
    case SweepRunState::NeverStarted: return "never started";
    case SweepRunState::Pending: return "pending";
    case SweepRunState::Running: return "running";
    case SweepRunState::Done: return "done";
    case SweepRunState::Failed: return "failed";
    }
    return "?";
}

std::vector<SweepRunInfo> sweepRunInfos(const SweepSpec& spec, const std::string& dir) {
    return sweepRunInfos(spec, dir, readSweepFolder(dir));
}

std::vector<SweepRunInfo> sweepRunInfos(const SweepSpec& spec, const std::string& dir,
                                        const std::vector<SweepLogEntry>& all) {
    std::map<std::string, std::vector<SweepLogEntry>> byRun;
    for (const auto& e : all) byRun[e.run].push_back(e);
    std::vector<SweepRunInfo> out;
    for (size_t i = 0; i < spec.runs.size(); ++i) {
        const auto& r = spec.runs[i];
        SweepRunInfo info;
        info.id = r.id;
        info.index = i;
        info.steps = int(pruneSchedule(r.options.strategy, r.options.target, r.options.steps, r.options.firstStep).size());
        const auto& entries = byRun[r.id];
        const SweepLogEntry *done = nullptr, *lastStart = nullptr, *lastFailed = nullptr;
        for (const auto& e : entries) {
            info.attempt = std::max(info.attempt, e.attempt);
            if (e.event.kind == "run.done") done = &e;
        }
        for (const auto& e : entries) {
            if (e.attempt != info.attempt) continue;
            if (e.event.kind == "run.start") lastStart = &e;
            if (e.event.kind == "run.failed") lastFailed = &e;
        }
        info.stepsDone = int(furthestChain(entries).size()) - 1;
        if (lastStart) {
            auto t = [&](const char* k) {
                auto it = lastStart->event.texts.find(k);
                return it == lastStart->event.texts.end() ? std::string() : it->second;
            };
            info.host = t("host");
            info.jobId = !t("slurm_array_job").empty() ? t("slurm_array_job") : t("slurm_job_id");
        }
        if (done) {
            info.state = SweepRunState::Done;
            info.exitCode = 0;
            info.seconds = done->event.value("seconds");
            info.stepsDone = info.steps;
        } else if (LockFile::held(dir + "/runs/" + r.id + ".lock")) {
            info.state = SweepRunState::Running;
        } else if (lastFailed) {
            info.state = SweepRunState::Failed;
            info.exitCode = int(lastFailed->event.value("exit_code"));
            auto it = lastFailed->event.texts.find("reason");
            info.reason = it == lastFailed->event.texts.end() ? std::string() : it->second;
        } else if (lastStart) {
            info.state = SweepRunState::Failed;
            info.reason = "stopped without finishing (killed or crashed)";
        }
        out.push_back(std::move(info));
    }
    return out;
}

void prepareSweep(const SweepSpec& spec, const std::string& dir, JobContext& ctx) {
    writeSweepSpec(spec, dir);
    ensureBaseModel(spec, dir, ctx);
}

bool runSweepRun(const SweepSpec& spec, const std::string& dir, size_t index, JobContext& ctx) {
    if (index >= spec.runs.size())
        throw Error(dir + ": the sweep has " + std::to_string(spec.runs.size()) + " runs; there is no run " +
                    std::to_string(index));
    writeSweepSpec(spec, dir);
    const std::string id = spec.runs[index].id;
    const auto legacy = readSweepLog(dir + "/log.jsonl");
    for (const auto& e : legacy)
        if (e.run == id && e.event.kind == "run.done") return false;
    for (const auto& e : readSweepLog(sweepRunLogPath(dir, id)))
        if (e.event.kind == "run.done") return false;
    if (LockFile::held(dir + "/runs/" + id + ".lock")) throw Error(dir + ": run " + id + " is being run by another process");
    SweepBase base;
    loadBase(spec, dir, ctx, base);
    switch (runOne(spec, dir, base, index, legacy, ctx)) {
    case RunOutcome::Busy: throw Error(dir + ": run " + id + " is being run by another process");
    case RunOutcome::AlreadyDone: return false;
    case RunOutcome::Ran: return true;
    }
    return true;
}

SweepStatus runSweep(const SweepSpec& spec, const std::string& dir, JobContext& ctx) {
    {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw Error(dir + ": cannot create folder: " + ec.message());
    }
    // One whole-sweep runner per folder (Slurm tasks and this runner share runs through the
    // per-run locks). The lock is released when the process ends, however it ends.
    const FolderLock folderLock(dir, "run a sweep in it");
    removeStaleTempFiles(dir);  // left by a sweep killed mid-write
    writeSweepSpec(spec, dir);
    const std::string csvPath = dir + "/summary.csv";
    const auto legacy = readSweepLog(dir + "/log.jsonl");
    auto log = readSweepFolder(dir);
    std::set<std::string> finished;
    for (const auto& e : log)
        if (e.event.kind == "run.done") finished.insert(e.run);
    SweepStatus status;
    status.total = spec.runs.size();
    for (const auto& r : spec.runs) status.skipped += finished.count(r.id);
    writeFileAtomic(csvPath, sweepSummaryCsv(log));  // also rebuilds a lost summary
    if (status.skipped == status.total) return status;

    SweepBase base;
    loadBase(spec, dir, ctx, base);
    for (size_t i = 0; i < spec.runs.size(); ++i) {
        if (finished.count(spec.runs[i].id)) continue;
        ctx.throwIfCancelled();
        switch (runOne(spec, dir, base, i, legacy, ctx)) {
        case RunOutcome::Ran: ++status.finished; break;
        case RunOutcome::AlreadyDone: ++status.skipped; break;
        case RunOutcome::Busy:
            ++status.busy;
            ctx.emit(Event{"run.busy", {{"index", double(i + 1)}, {"runs", double(spec.runs.size())}}, {{"run", spec.runs[i].id}}});
            continue;
        }
        writeFileAtomic(csvPath, sweepSummaryCsv(readSweepFolder(dir)));
    }
    ctx.progress(1.0, "done");
    return status;
}

}  // namespace pqw
