// Slurm: batch scripts, sbatch submission of sweeps as job arrays, squeue / scontrol states.
#include "pqw/slurm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "slurm_impl.h"
#include "pqw/error.h"
#include "pqw/util.h"

extern char** environ;

namespace pqw {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string findOnPath(const std::string& program) {
    if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
    const char* path = std::getenv("PATH");
    std::istringstream in(path ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string d;
    while (std::getline(in, d, ':')) {
        if (d.empty()) d = ".";
        const std::string p = d + "/" + program;
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

CommandResult runCommand(const std::vector<std::string>& argv, double timeoutSeconds) {
    CommandResult r;
    if (argv.empty()) return r;
    const std::string exe = findOnPath(argv[0]);
    if (exe.empty()) {
        r.code = 127;
        r.err = argv[0] + ": not found";
        return r;
    }
    int outPipe[2], errPipe[2];
    if (::pipe2(outPipe, O_CLOEXEC) != 0) throw Error(std::string("cannot create a pipe: ") + std::strerror(errno));
    if (::pipe2(errPipe, O_CLOEXEC) != 0) {
        ::close(outPipe[0]);
        ::close(outPipe[1]);
        throw Error(std::string("cannot create a pipe: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errPipe[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (rc != 0) {
        ::close(outPipe[0]);
        ::close(errPipe[0]);
        r.code = 127;
        r.err = argv[0] + ": " + std::strerror(rc);
        return r;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
    pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
    int open = 2;
    bool killed = false;
    char buf[4096];
    while (open > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        const int n = ::poll(fds, 2, int(std::min<long long>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                (i == 0 ? r.out : r.err).append(buf, size_t(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (killed) {
        r.code = -1;
        r.err += "\n" + argv[0] + ": no answer within " + std::to_string(int(timeoutSeconds)) + " s";
    } else {
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    return r;
}

namespace slurm_detail {

std::string firstLine(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    const size_t nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
}

std::string quote(const std::string& s) {
    std::string o = "'";
    for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return o + "'";
}

/// 123 or 123;cluster (sbatch --parsable)
std::string parsableJobId(const std::string& out) {
    std::string s = firstLine(out);
    const size_t semi = s.find(';');
    if (semi != std::string::npos) s = s.substr(0, semi);
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return {};
    return s;
}

std::vector<json> readSubmissionLines(const std::string& path) {
    std::vector<json> out;
    if (!fs::exists(path)) return out;
    std::istringstream in(readFile(path));
    std::string line;
    size_t no = 0;
    while (std::getline(in, line)) {
        ++no;
        if (line.empty()) continue;
        json j;  // nesting bounded (issue 17): a deep line is "not a JSON line"
        try {
            j = jsonu::parse(line, "");
        } catch (const Error&) {
            j = json();
        }
        if (!j.is_object()) {
            if (in.peek() == EOF) break;  // a partial last line
            throw Error(path + ":" + std::to_string(no) + ": not a JSON line");
        }
        j["_line"] = no;
        out.push_back(std::move(j));
    }
    return out;
}

void appendSubmission(const std::string& path, const json& rec) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(path + ": cannot open for appending: " + std::strerror(errno));
    const std::string line = rec.dump() + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == ssize_t(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw Error(path + ": cannot record the submission " + rec.value("array_job", std::string()));
}

std::string sbatchJob(const std::vector<std::string>& argv) {
    const auto r = runCommand(argv, 60);
    const std::string id = r.code == 0 ? parsableJobId(r.out) : std::string();
    if (id.empty())
        throw Error("sbatch refused the job: " + firstLine(r.err.empty() ? r.out : r.err) + " (" + shellLine(argv) + ")");
    return id;
}

std::string batchScriptHead(const std::string& comment, const std::string& jobName, const std::string& absDir,
                            const SlurmOptions& opt) {
    std::ostringstream s;
    s << "#!/bin/bash\n"
      << comment << "#SBATCH --job-name=" << jobName << "\n"
      << "#SBATCH --output=" << absDir << "/slurm/logs/%A_%a.out\n"
      << "#SBATCH --chdir=" << absDir << "\n"
      << "#SBATCH --cpus-per-task=" << opt.cpusPerTask << "\n";
    if (!opt.partition.empty()) s << "#SBATCH --partition=" << opt.partition << "\n";
    if (!opt.time.empty()) s << "#SBATCH --time=" << opt.time << "\n";
    if (!opt.mem.empty()) s << "#SBATCH --mem=" << opt.mem << "\n";
    s << "set -u\n"
      << "threads=\"${SLURM_CPUS_PER_TASK:-" << opt.cpusPerTask << "}\"\n"
      << "export OMP_NUM_THREADS=\"$threads\"\n";
    return s.str();
}

double nowSeconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int exitCodeOf(const std::string& field) {  // "code:signal"
    const size_t colon = field.find(':');
    try {
        const int code = std::stoi(field.substr(0, colon));
        const int sig = colon == std::string::npos ? 0 : std::stoi(field.substr(colon + 1));
        return sig > 0 ? 128 + sig : code;
    } catch (const std::exception&) {
        return -1;
    }
}

/// "2-3%1", "4,6", "7" -> the task numbers
std::vector<std::string> expandTasks(std::string spec) {
    std::vector<std::string> out;
    const size_t pct = spec.find('%');
    if (pct != std::string::npos) spec = spec.substr(0, pct);
    std::istringstream in(spec);
    std::string part;
    while (std::getline(in, part, ',')) {
        const size_t dash = part.find('-');
        try {
            if (dash == std::string::npos) {
                out.push_back(std::to_string(std::stol(part)));
            } else {
                const long a = std::stol(part.substr(0, dash)), b = std::stol(part.substr(dash + 1));
                for (long t = a; t <= b && t - a < 100000; ++t) out.push_back(std::to_string(t));
            }
        } catch (const std::exception&) {
        }
    }
    return out;
}

}  // namespace slurm_detail

namespace {
using namespace slurm_detail;

std::map<std::string, std::string> keyValues(const std::string& line) {
    std::map<std::string, std::string> kv;
    std::istringstream in(line);
    std::string tok;
    while (in >> tok) {
        const size_t eq = tok.find('=');
        if (eq != std::string::npos) kv[tok.substr(0, eq)] = tok.substr(eq + 1);
    }
    return kv;
}

}  // namespace

std::string slurmProblem() {
    if (findOnPath("sbatch").empty())
        return "sbatch not found on PATH: run on a Slurm login node, or install slurm-client";
    if (const char* conf = std::getenv("SLURM_CONF"); conf && *conf && !fs::exists(conf))
        return std::string("SLURM_CONF=") + conf + " does not exist";
    const auto r = runCommand({"scontrol", "ping"}, 15);
    if (r.code == 127) return "scontrol not found on PATH: install slurm-client";
    if (r.code != 0 || r.out.find("UP") == std::string::npos) {
        std::string why = firstLine(r.err.empty() ? r.out : r.err);
        const char* conf = std::getenv("SLURM_CONF");
        return std::string("the Slurm controller does not answer") +
               (conf && *conf ? std::string(" (SLURM_CONF=") + conf + ")" : std::string()) +
               (why.empty() ? std::string() : ": " + why);
    }
    return {};
}

std::string shellLine(const std::vector<std::string>& argv) {
    std::string o;
    for (const auto& a : argv) {
        if (!o.empty()) o += ' ';
        o += a.find_first_of(" '\"$\\;&|<>*?()`") == std::string::npos && !a.empty() ? a : quote(a);
    }
    return o;
}

std::vector<SweepSubmissionRecord> readSweepSubmissions(const std::string& dir) {
    std::vector<SweepSubmissionRecord> out;
    const std::string path = dir + "/slurm/submissions.jsonl";
    for (const auto& j : readSubmissionLines(path)) {
        SweepSubmissionRecord s;
        try {  // a field of the wrong type is a damaged record, named as such
            s.number = j.value("number", 0);
            s.arrayJob = j.value("array_job", "");
            s.prepareJob = j.value("prepare_job", "");
        } catch (const std::exception&) {
            throw Error(path + ":" + j["_line"].dump() + ": not a submission record");
        }
        if (j.contains("runs") && j["runs"].is_array())
            for (const auto& r : j["runs"])
                if (r.is_string()) s.runs.push_back(r.get<std::string>());
        out.push_back(std::move(s));
    }
    return out;
}

bool querySlurmJobs(const std::vector<std::string>& jobIds, std::map<std::string, SlurmTaskState>& out,
                    std::string* problem) {
    std::set<std::string> jobs;
    for (const auto& id : jobIds) jobs.insert(id.substr(0, id.find('_')));
    if (jobs.empty()) return true;
    std::string list;
    for (const auto& j : jobs) list += (list.empty() ? "" : ",") + j;
    // Pending and running tasks, one line each (-r).
    const auto q = runCommand({"squeue", "-h", "-r", "-j", list, "-o", "%i|%T|%r"}, 20);
    if (q.code == 127 || q.code == -1) {
        if (problem) *problem = firstLine(q.err);
        return false;
    }
    // squeue fails for a list naming a job it no longer knows; then ask per job.
    std::vector<std::string> squeueOut{q.out};
    if (q.code != 0) {
        squeueOut.clear();
        for (const auto& j : jobs) {
            const auto one = runCommand({"squeue", "-h", "-r", "-j", j, "-o", "%i|%T|%r"}, 20);
            if (one.code == 0) squeueOut.push_back(one.out);
        }
    }
    for (const auto& text : squeueOut) {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            const size_t a = line.find('|'), b = line.find('|', a + 1);
            if (a == std::string::npos || b == std::string::npos) continue;
            SlurmTaskState s;
            s.state = line.substr(a + 1, b - a - 1);
            s.reason = line.substr(b + 1);
            out[line.substr(0, a)] = s;
        }
    }
    // Everything Slurm still remembers (finished tasks too) from scontrol.
    for (const auto& j : jobs) {
        const auto r = runCommand({"scontrol", "-o", "show", "job", j}, 20);
        if (r.code != 0) continue;  // purged (MinJobAge) or unknown: the logs decide
        std::istringstream in(r.out);
        std::string line;
        while (std::getline(in, line)) {
            const auto kv = keyValues(line);
            auto get = [&](const char* k) {
                auto it = kv.find(k);
                return it == kv.end() ? std::string() : it->second;
            };
            SlurmTaskState s;
            s.state = get("JobState");
            s.reason = get("Reason");
            if (!get("ExitCode").empty()) s.exitCode = exitCodeOf(get("ExitCode"));
            const std::string arrayJob = get("ArrayJobId"), task = get("ArrayTaskId");
            std::vector<std::string> ids;
            if (!arrayJob.empty() && !task.empty())
                for (const auto& t : expandTasks(task)) ids.push_back(arrayJob + "_" + t);
            else
                ids.push_back(get("JobId"));
            for (const auto& id : ids) {
                auto it = out.find(id);
                if (it != out.end() && (s.state == "PENDING" || s.state == "RUNNING")) continue;  // squeue's word
                if (it != out.end() && s.reason == "None") s.reason = it->second.reason;
                out[id] = s;
            }
        }
    }
    return true;
}

bool applySlurmState(std::vector<SweepRunInfo>& runs, const std::string& dir, std::string* problem) {
    const auto subs = readSweepSubmissions(dir);
    if (subs.empty()) return true;
    std::map<std::string, std::string> jobOf;  // run -> A_i of its latest submission
    std::vector<std::string> ids;
    for (const auto& s : subs) {
        for (size_t i = 0; i < s.runs.size(); ++i) jobOf[s.runs[i]] = s.arrayJob + "_" + std::to_string(i);
        ids.push_back(s.arrayJob);
        if (!s.prepareJob.empty()) ids.push_back(s.prepareJob);
    }
    std::map<std::string, SlurmTaskState> st;
    if (!querySlurmJobs(ids, st, problem)) return false;
    for (auto& r : runs) {
        auto j = jobOf.find(r.id);
        if (j == jobOf.end()) continue;
        if (r.state == SweepRunState::Done) {
            if (r.jobId.empty()) r.jobId = j->second;
            continue;
        }
        r.jobId = j->second;
        auto it = st.find(j->second);
        if (it == st.end()) continue;
        const SlurmTaskState& s = it->second;
        r.slurmState = s.state;
        const bool started = r.attempt > 0;
        if (s.state == "PENDING" || s.state == "REQUEUED" || s.state == "SUSPENDED") {
            r.state = SweepRunState::Pending;
            r.reason = s.reason == "None" ? std::string() : s.reason;
        } else if (s.state == "RUNNING" || s.state == "CONFIGURING" || s.state == "COMPLETING" || s.state == "STOPPED") {
            r.state = SweepRunState::Running;
            r.reason.clear();
        } else if (s.state == "COMPLETED") {
            // The task ended well but the run has no run.done: it did not finish.
            if (r.state != SweepRunState::Running) {
                r.state = started ? SweepRunState::Failed : SweepRunState::NeverStarted;
                if (r.reason.empty()) r.reason = "the task ended without finishing the run";
            }
        } else if (!s.state.empty()) {  // CANCELLED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...
            if (r.state == SweepRunState::Running) continue;  // a newer attempt elsewhere holds it
            if (started) {
                r.state = SweepRunState::Failed;
                if (r.exitCode < 0 || s.exitCode > 0) r.exitCode = s.exitCode;
                r.reason = "Slurm: " + s.state + (r.reason.empty() ? std::string() : "; " + r.reason);
            } else {
                r.state = SweepRunState::NeverStarted;
                r.reason = "Slurm: " + s.state + " before it started";
            }
        }
    }
    return true;
}

std::string sweepArrayRun(const std::string& runsPath, size_t index) {
    if (!fs::exists(runsPath)) throw Error(runsPath + ": no such run list");
    std::istringstream in(readFile(runsPath));
    std::string line;
    for (size_t i = 0; std::getline(in, line); ++i)
        if (i == index) {
            if (line.empty()) break;
            return line;
        }
    throw Error(runsPath + ": has no line for array index " + std::to_string(index));
}

SweepSubmissionPlan planSweepSubmission(const SweepSpec& spec, const std::string& dir, const SlurmOptions& opt,
                                        bool resubmit, bool askSlurm) {
    if (opt.pqw.empty()) throw Error("the pqw executable for the tasks is unknown");
    if (opt.cpusPerTask < 1) throw Error("--cpus-per-task must be at least 1");
    if (opt.maxParallel < 0) throw Error("--max-parallel must be 0 (no limit) or more");
    const std::string absDir = fs::absolute(dir).lexically_normal().string();
    const auto subs = readSweepSubmissions(absDir);
    if (!subs.empty() && !resubmit)
        throw Error(dir + ": has " + std::to_string(subs.size()) +
                    " earlier submission(s); `pqw sweep " + dir + " --slurm --resubmit` submits what is not done");
    // What is not done, not running and not pending.
    std::vector<SweepRunInfo> infos;
    if (fs::exists(absDir + "/sweep.json") || fs::exists(absDir + "/runs") || fs::exists(absDir + "/log.jsonl")) {
        infos = sweepRunInfos(spec, absDir);
        std::string problem;
        if (askSlurm) applySlurmState(infos, absDir, &problem);
    } else {
        for (size_t i = 0; i < spec.runs.size(); ++i) {
            SweepRunInfo r;
            r.id = spec.runs[i].id;
            r.index = i;
            infos.push_back(r);
        }
    }
    SweepSubmissionPlan p;
    for (const auto& r : infos)
        if (r.state == SweepRunState::NeverStarted || r.state == SweepRunState::Failed) p.runs.push_back(r.id);
    if (p.runs.empty()) throw Error(dir + ": every run is done, running or pending; nothing to submit");
    for (const auto& s : subs) p.number = std::max(p.number, s.number + 1);
    const std::string slurmDir = absDir + "/slurm", name = "array-" + std::to_string(p.number);
    p.scriptPath = slurmDir + "/" + name + ".sh";
    p.runsPath = slurmDir + "/" + name + ".runs";
    p.prepare = !fs::exists(sweepBaseModelPath(spec, absDir));

    std::ostringstream s;
    s << batchScriptHead("# Written by `pqw sweep --slurm` (docs/pruning.md \"On Slurm\"): array task i runs the run on line i\n"
                         "# of " + name + ".runs into " + absDir + "/runs/; without an array index it makes the base model.\n",
                         "pqw-sweep", absDir, opt);
    s << "if [ -z \"${SLURM_ARRAY_TASK_ID:-}\" ]; then\n"
      << "  exec " << quote(opt.pqw) << " sweep-run " << quote(absDir) << " --prepare --threads \"$threads\"\n"
      << "fi\n"
      << "exec " << quote(opt.pqw) << " sweep-run " << quote(absDir) << " --list " << quote(p.runsPath)
      << " --index \"$SLURM_ARRAY_TASK_ID\" --threads \"$threads\"\n";
    p.script = s.str();

    std::vector<std::string> common;
    for (const auto& a : opt.sbatchArgs) common.push_back(a);
    if (p.prepare) {
        p.prepareCommand = {"sbatch", "--parsable", "--job-name=pqw-sweep-base", "--output=" + slurmDir + "/logs/%j.base.out"};
        p.prepareCommand.insert(p.prepareCommand.end(), common.begin(), common.end());
        p.prepareCommand.push_back(p.scriptPath);
    }
    std::string array = "--array=0-" + std::to_string(p.runs.size() - 1);
    if (opt.maxParallel > 0) array += "%" + std::to_string(opt.maxParallel);
    p.arrayCommand = {"sbatch", "--parsable", array};
    if (p.prepare) {
        p.arrayCommand.push_back("--dependency=afterok:<base job>");
        p.arrayCommand.push_back("--kill-on-invalid-dep=yes");
    }
    p.arrayCommand.insert(p.arrayCommand.end(), common.begin(), common.end());
    p.arrayCommand.push_back(p.scriptPath);
    return p;
}

SweepSubmission submitSweep(const SweepSpec& spec, const std::string& dir, const SweepSubmissionPlan& plan) {
    if (const std::string why = slurmProblem(); !why.empty()) throw Error("cannot submit to Slurm: " + why);
    const std::string absDir = fs::absolute(dir).lexically_normal().string();
    std::error_code ec;
    fs::create_directories(absDir + "/slurm/logs", ec);
    if (ec) throw Error(absDir + "/slurm: cannot create folder: " + ec.message());
    // sweep.json first (a folder of another sweep is refused here, before anything is queued).
    writeSweepSpec(spec, absDir);
    std::string runs;
    for (const auto& r : plan.runs) runs += r + "\n";
    writeFileAtomic(plan.runsPath, runs);
    writeFileAtomic(plan.scriptPath, plan.script);
    ::chmod(plan.scriptPath.c_str(), 0755);

    SweepSubmission out;
    std::vector<std::string> arrayCmd = plan.arrayCommand;
    if (plan.prepare) {
        out.prepareJob = sbatchJob(plan.prepareCommand);
        for (auto& a : arrayCmd)
            if (a.rfind("--dependency=", 0) == 0) a = "--dependency=afterok:" + out.prepareJob;
    }
    out.arrayJob = sbatchJob(arrayCmd);
    // One writer: the submitting process; each line is a whole submission.
    appendSubmission(absDir + "/slurm/submissions.jsonl",
                     {{"number", plan.number}, {"array_job", out.arrayJob}, {"prepare_job", out.prepareJob},
                      {"runs", plan.runs}, {"script", plan.scriptPath}, {"sbatch", shellLine(arrayCmd)},
                      {"submitted", nowSeconds()}});
    return out;
}

}  // namespace pqw
