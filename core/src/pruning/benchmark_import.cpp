// The official pruning benchmark's Hydra multirun folders as sweep entries (see the header).
#include "pqw/pruning_benchmark.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCsv = "pruning_results.csv";

std::vector<fs::path> resultFiles(const std::string& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        if (it.depth() > 4) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file(ec) && it->path().filename() == kCsv) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> splitCsv(const std::string& line) {
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
        if (c == ',') {
            f.push_back(cur);
            cur.clear();
        } else if (c != '\r' && c != '"') {
            cur += c;
        }
    }
    f.push_back(cur);
    return f;
}

double number(const std::string& s, const std::string& where) {
    size_t used = 0;
    double v = NAN;
    try {
        v = std::stod(s, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != s.size() || !std::isfinite(v)) throw Error(where + ": '" + s + "' is not a number");
    return v;
}

struct JobConfig {
    std::string model, dataset, scheduler = "unknown", method = "unknown";
    double finetuneEpochs = NAN;
};

JobConfig readConfig(const fs::path& runDir) {
    JobConfig c;
    const fs::path p = runDir / ".hydra" / "config.yaml";
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) return c;
    try {
        YAML::Node y = YAML::LoadFile(p.string());
        auto str = [](const YAML::Node& n) {
            if (!n || !n.IsScalar()) return std::string();
            return n.as<std::string>();
        };
        if (y["model"]) c.model = y["model"].IsScalar() ? str(y["model"]) : str(y["model"]["name"]);
        if (y["dataset"]) c.dataset = y["dataset"].IsScalar() ? str(y["dataset"]) : str(y["dataset"]["name"]);
        const YAML::Node pr = y["pruning"];
        if (pr && pr.IsMap()) {
            if (pr["scheduler"] && pr["scheduler"]["name"]) c.scheduler = str(pr["scheduler"]["name"]);
            if (pr["method"] && pr["method"]["name"]) c.method = str(pr["method"]["name"]);
            if (pr["finetune_epochs"]) c.finetuneEpochs = pr["finetune_epochs"].as<double>();
        }
    } catch (const YAML::Exception& e) {
        throw Error(p.string() + ": " + e.what());
    }
    return c;
}

}  // namespace

bool isPruningBenchmarkFolder(const std::string& dir) {
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "log.jsonl", ec)) return false;
    return !resultFiles(dir).empty();
}

std::vector<SweepLogEntry> readPruningBenchmark(const std::string& dir) {
    std::vector<SweepLogEntry> out;
    for (const fs::path& csv : resultFiles(dir)) {
        const fs::path runDir = csv.parent_path();
        const JobConfig cfg = readConfig(runDir);
        std::string rel = fs::relative(runDir, dir).generic_string();
        if (rel.empty() || rel == ".") rel = runDir.filename().string();
        std::istringstream in(readFile(csv.string()));
        std::string line;
        if (!std::getline(in, line)) throw Error(csv.string() + ": empty file");
        const auto head = splitCsv(line);
        std::map<std::string, size_t> col;
        for (size_t i = 0; i < head.size(); ++i) col[head[i]] = i;
        for (const char* need : {"pruned_precent", "top1_accuracy", "total_epoch"})
            if (!col.count(need))
                throw Error(csv.string() + ": no column '" + need + "' (expected pruned_precent,top1_accuracy,"
                            "top5_accuracy,total_epoch,repeat)");
        struct Row {
            double pruned, top1, top5, epochs, repeat;
        };
        std::vector<Row> rows;
        int lineNo = 1;
        while (std::getline(in, line)) {
            ++lineNo;
            if (line.empty() || line == "\r") continue;
            const auto f = splitCsv(line);
            if (f.size() != head.size())
                throw Error(csv.string() + ":" + std::to_string(lineNo) + ": " + std::to_string(f.size()) + " fields, " +
                            std::to_string(head.size()) + " expected");
            auto get = [&](const char* k, double fallback) {
                auto it = col.find(k);
                if (it == col.end() || f[it->second].empty()) return fallback;
                return number(f[it->second], csv.string() + ":" + std::to_string(lineNo) + ": column " + k);
            };
            Row r{get("pruned_precent", NAN), get("top1_accuracy", NAN), get("top5_accuracy", NAN),
                  get("total_epoch", NAN), get("repeat", 1)};
            if (!std::isfinite(r.pruned) || !std::isfinite(r.top1) || !std::isfinite(r.epochs))
                throw Error(csv.string() + ":" + std::to_string(lineNo) + ": an empty required field");
            if (r.pruned < 0 || r.pruned > 100 || r.top1 < 0 || r.top1 > 100)
                throw Error(csv.string() + ":" + std::to_string(lineNo) + ": percentages must be within 0..100");
            rows.push_back(r);
        }
        if (rows.empty()) throw Error(csv.string() + ": no result rows");
        std::map<int, int> iterations;  // repeat -> rows
        for (const auto& r : rows) ++iterations[static_cast<int>(r.repeat)];
        std::map<int, int> iter;
        const std::string ft = std::isfinite(cfg.finetuneEpochs)
                                   ? std::to_string(static_cast<int>(cfg.finetuneEpochs)) + " ep/step"
                                   : std::string("fine-tuned");
        const bool structured =
            cfg.method.find("structured") != std::string::npos && cfg.method.find("unstructured") == std::string::npos;
        for (const auto& r : rows) {
            const int rep = static_cast<int>(r.repeat);
            const int k = ++iter[rep];
            SweepLogEntry e;
            e.run = rel + "/iter" + std::to_string(k) + "/repeat" + std::to_string(rep);
            e.event.kind = "run.done";
            e.event.texts = {{"strategy", cfg.scheduler},
                             {"modality", structured ? "structured" : "unstructured"},
                             {"criterion", cfg.method},
                             {"fine_tune", ft},
                             {"model_kind", "pruning-benchmark" + (cfg.model.empty() ? std::string() : ":" + cfg.model)},
                             {"source", csv.string()}};
            const double sp = r.pruned / 100.0;
            e.event.values = {{"target", sp},
                              {"sparsity_prunable", sp},
                              {"sparsity_all", sp},
                              {"channel_sparsity", sp},
                              {"steps", iterations[rep]},
                              {"step", k},
                              {"seed", r.repeat},
                              {"test_top1", r.top1 / 100.0},
                              {"val_top1", r.top1 / 100.0},
                              {"total_epochs", r.epochs}};
            if (std::isfinite(r.top5)) e.event.values["test_top5"] = r.top5 / 100.0;
            // The row's point as a finished run's last step, for the Pruning view's plots.
            SweepLogEntry step = e;
            step.event.kind = "prune.step";
            step.event.values["step"] = step.event.values["steps"];
            out.push_back(std::move(e));
            out.push_back(std::move(step));
        }
    }
    if (out.empty()) throw Error(dir + ": no pruning_results.csv found (not a pruning-benchmark folder?)");
    return out;
}

}  // namespace pqw
