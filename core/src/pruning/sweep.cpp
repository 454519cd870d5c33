// Sweeps: the JSON grid of pruning runs, the event-log reader and the CSV summary derived
// from it. Running runs (the per-run folder layout) is in sweep_runs.cpp.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "pqw/cnn_limits.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"
#include "pqw/util.h"
#include "fs_util.h"
#include "pruning/sweep_internal.h"

namespace pqw {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string sweepRunInWords(const PruneOptions& o) {
    std::string s = strategyName(o.strategy);
    if (o.strategy != PruneStrategy::OneShot) s += " in " + std::to_string(o.steps) + " steps";
    s += " to " + std::to_string(int(std::lround(o.target * 100))) + " %, ";
    if (o.modality == PruneModality::Structured) s += "structured, ";
    return s + criterionName(o.criterion);
}

namespace {

std::string num(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

}  // namespace

std::string sweepFineTuneId(const FineTuneOptions& f) {
    if (f.patience > 0) return "pat" + std::to_string(f.patience) + "cap" + std::to_string(f.epochs) + "d" + num(f.minDelta);
    return "fixed" + std::to_string(f.epochs);
}

namespace {

template <typename T>
std::vector<json> listOf(const json& grid, const char* key, T fallback) {
    if (!grid.contains(key)) return {json(fallback)};
    const auto& v = grid.at(key);
    if (v.is_array()) {
        if (v.empty()) throw Error(std::string("grid.") + key + " is empty");
        return std::vector<json>(v.begin(), v.end());
    }
    return {v};
}

}  // namespace

const SweepDefaults& sweepDefaults() {
    static const SweepDefaults d = [] {
        SweepDefaults x;
        x.dataset.path = "fashion-mnist";
        return x;
    }();
    return d;
}

SweepSpec parseSweep(const std::string& text, const std::string& origin) {
    const json j = jsonu::parse(text, origin + ": ");
    const SweepDefaults& d = sweepDefaults();
    SweepSpec s;
    try {
        const json ds = j.value("dataset", json::object());
        s.dataset.path = ds.value("path", d.dataset.path);
        s.dataset.kind = ds.value("kind", d.dataset.kind);
        s.dataset.valFraction = ds.value("val", d.dataset.valFraction);
        s.dataset.seed = jsonu::intValue(ds, "seed", d.dataset.seed, "dataset.");
        s.dataset.maxTrain = jsonu::intValue(ds, "limit_train", d.dataset.maxTrain, "dataset.");
        s.dataset.maxTest = jsonu::intValue(ds, "limit_test", d.dataset.maxTest, "dataset.");
        const json md = j.value("model", json::object());
        s.kind = parseModelKind(md.value("kind", "cnn"));
        if (j.contains("features")) {
            const json& fj = j.at("features");
            if (fj.is_string()) {
                s.features = fj.get<std::string>();
            } else {
                s.features = fj.at("path").get<std::string>();
                s.dataset.maxTrain = jsonu::intValue(fj, "limit_train", size_t(0), "features.");
            }
        }
        s.model.arch = md.value("arch", s.kind == PruneModelKind::FeatureHead ? std::string("feature-mlp") : d.model.arch);
        s.model.width = jsonu::intValue(md, "width", d.model.width, "model.");
        s.model.depth = jsonu::intValue(md, "depth", d.model.depth, "model.");
        s.pretrain.epochs = jsonu::intValue(md, "pretrain_epochs", d.pretrain.epochs, "model.");
        s.pretrain.lr = md.value("lr", d.pretrain.lr);
        s.pretrain.batch = jsonu::intValue(md, "batch", d.pretrain.batch, "model.");
        s.pretrain.seed = jsonu::intValue(md, "seed", d.pretrain.seed, "model.");
        s.modelPath = j.value("model_path", "");
        if (s.kind == PruneModelKind::TorchScript) {  // image tensors for the module (0 = as decoded)
            s.model.inChannels = jsonu::intValue(md, "in_channels", 0, "model.");
            s.model.inputSize = jsonu::intValue(md, "input_size", 0, "model.");
        }
        const bool proto = s.kind == PruneModelKind::ProtoCodebook || s.kind == PruneModelKind::ProtoWeights;
        if ((proto || s.kind == PruneModelKind::FeatureHead) && s.features.empty())
            throw Error(std::string("model kind ") + modelKindName(s.kind) + " needs \"features\" (a feature cache folder)");
        if ((proto || s.kind == PruneModelKind::TorchScript) && s.modelPath.empty())
            throw Error(std::string("model kind ") + modelKindName(s.kind) + " needs \"model_path\"");
        if (s.kind == PruneModelKind::FeatureHead && s.model.arch.rfind("feature-", 0) != 0)
            throw Error("a feature-head model's arch is feature-mlp or feature-conv, not " + s.model.arch);
        // Cells of the grid a kind cannot run are dropped like other non-existent cells.
        auto kindAccepts = [&](const PruneOptions& o) {
            const bool structured = o.modality == PruneModality::Structured;
            switch (s.kind) {
            case PruneModelKind::ProtoCodebook:
                return structured && (o.criterion == PruneCriterion::Usage || o.criterion == PruneCriterion::Random);
            case PruneModelKind::ProtoWeights:
                return !structured && o.criterion != PruneCriterion::Taylor && o.criterion != PruneCriterion::Usage;
            case PruneModelKind::TorchScript: return !structured && o.criterion != PruneCriterion::Usage;
            default: return o.criterion != PruneCriterion::Usage;
            }
        };
        const json ftd = j.value("fine_tune_defaults", json::object());
        const int latencyReps = jsonu::intValue(j, "latency_reps", d.run.latencyReps);
        const bool evalTest = j.value("evaluate_test", d.run.evaluateTest);
        const json grid = j.value("grid", json::object());
        std::set<std::string> seen;
        const PruneOptions& r = d.run;
        for (const auto& st : listOf(grid, "strategy", strategyName(r.strategy)))
            for (const auto& tg : listOf(grid, "target", r.target))
                for (const auto& n : listOf(grid, "steps", r.steps))
                    for (const auto& s0 : listOf(grid, "first_step", r.firstStep))
                        for (const auto& mod : listOf(grid, "modality", modalityName(r.modality)))
                            for (const auto& cr : listOf(grid, "criterion", criterionName(r.criterion)))
                                for (const auto& ft : listOf(grid, "fine_tune", json{{"epochs", r.fineTune.epochs}}))
                                    for (const auto& seed : listOf(grid, "seed", r.seed)) {
                                        PruneOptions o;
                                        o.strategy = parseStrategy(st.get<std::string>());
                                        o.target = tg.get<double>();
                                        o.steps = o.strategy == PruneStrategy::OneShot ? 1 : jsonu::asInt<int>(n, "\"grid.steps\"");
                                        o.firstStep = s0.get<double>();
                                        o.modality = parseModality(mod.get<std::string>());
                                        o.criterion = parseCriterion(cr.get<std::string>());
                                        // criteria that do not apply to a modality are skipped
                                        const bool structuredOnly =
                                            o.criterion == PruneCriterion::L1 || o.criterion == PruneCriterion::L2;
                                        if (o.modality == PruneModality::Unstructured && structuredOnly) continue;
                                        if (o.modality == PruneModality::Structured &&
                                            (o.criterion == PruneCriterion::LayerWise ||
                                             o.criterion == PruneCriterion::Magnitude))
                                            continue;
                                        if (!kindAccepts(o)) continue;
                                        o.fineTune.lr = ftd.value("lr", r.fineTune.lr);
                                        o.fineTune.momentum = ftd.value("momentum", r.fineTune.momentum);
                                        o.fineTune.weightDecay = ftd.value("weight_decay", r.fineTune.weightDecay);
                                        o.fineTune.batch = jsonu::intValue(ftd, "batch", r.fineTune.batch, "fine_tune_defaults.");
                                        o.fineTune.epochs = jsonu::intValue(ft, "epochs", r.fineTune.epochs, "fine_tune.");
                                        o.fineTune.patience = jsonu::intValue(ft, "patience", r.fineTune.patience, "fine_tune.");
                                        o.fineTune.minDelta = ft.value("min_delta", r.fineTune.minDelta);
                                        o.seed = jsonu::asInt<uint64_t>(seed, "\"grid.seed\"");
                                        o.latencyReps = latencyReps;
                                        o.evaluateTest = evalTest;
                                        // a hybrid whose first step reaches the target is not a hybrid: skipped
                                        if (o.strategy == PruneStrategy::Hybrid && o.firstStep >= o.target) continue;
                                        pruneSchedule(o.strategy, o.target, o.steps, o.firstStep);  // validates
                                        std::string id = std::string(strategyName(o.strategy)) + "_t" + num(o.target) +
                                                         "_n" + std::to_string(o.steps);
                                        if (o.strategy == PruneStrategy::Hybrid) id += "_s0" + num(o.firstStep);
                                        id += std::string("_") + modalityName(o.modality) + "_" +
                                              criterionName(o.criterion) + "_" + sweepFineTuneId(o.fineTune) + "_seed" +
                                              std::to_string(o.seed);
                                        if (!seen.insert(id).second) continue;
                                        s.runs.push_back({id, o});
                                    }
        // Ranges, before any work starts: a batch of 0 never advances, 1e9 epochs never end,
        // a residual depth of 100000 grows without bound (the limits: docs/reliability.md).
        jsonu::requireRange("model.width", s.model.width, 1, kMaxCnnWidth);
        jsonu::requireRange("model.depth", s.model.depth, 1, kMaxCnnDepth);
        jsonu::requireRange("model.pretrain_epochs", s.pretrain.epochs, 0, 10000);
        jsonu::requireRange("model.batch", s.pretrain.batch, 1, 65536);
        jsonu::requireRange("model.lr", s.pretrain.lr, 1e-12, 10);
        jsonu::requireRange("latency_reps", latencyReps, 0, 100000);
        for (const auto& r : s.runs) {
            jsonu::requireRange("fine_tune_defaults.batch", r.options.fineTune.batch, 1, 65536);
            jsonu::requireRange("fine_tune_defaults.lr", r.options.fineTune.lr, 1e-12, 10);
            jsonu::requireRange("fine_tune.epochs", r.options.fineTune.epochs, 0, 10000);
            jsonu::requireRange("fine_tune.patience", r.options.fineTune.patience, 0, 10000);
            jsonu::requireRange("grid.steps", r.options.steps, 1, 1000);
        }
    } catch (const Error& e) {
        throw Error(origin + ": " + e.what());
    } catch (const std::exception& e) {
        throw Error(origin + ": bad sweep description (" + e.what() + ")");
    }
    if (s.runs.empty())
        throw Error(origin + ": the grid has no runs" +
                    (s.kind == PruneModelKind::Cnn ? std::string()
                                                   : std::string(" a ") + modelKindName(s.kind) + " model can run"));
    s.json = j.dump(2);
    return s;
}

// ------------------------------------------------------------------------------ log

namespace {

const char* kCsvValues[] = {"sparsity_prunable", "sparsity_all", "channel_sparsity", "params", "nonzero_params", "macs", "channels",
                            "val_top1", "val_top5", "test_top1", "test_top5", "latency_b1_ms", "latency_b64_ms",
                            "total_epochs", "dense_val_top1", "dense_test_top1", "seconds"};

}  // namespace

std::vector<SweepLogEntry> readSweepLog(const std::string& path) {
    std::vector<SweepLogEntry> out;
    if (!fs::exists(path)) return out;
    const std::string text = readFile(path);
    size_t pos = 0, lineNo = 0;
    while (pos < text.size()) {
        const size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;  // partial last line: ignored
        ++lineNo;
        const std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.empty()) continue;
        out.push_back(parseSweepLogLine(line, path + ":" + std::to_string(lineNo)));
    }
    return out;
}

SweepLogEntry parseSweepLogLine(const std::string& line, const std::string& where) {
    json j;
    try {
        j = jsonu::parse(line, "");  // nesting bounded (issue 17)
    } catch (const std::exception&) {
        throw Error(where + ": not a JSON line");
    }
    SweepLogEntry e;
    e.run = j.value("run", "");
    e.attempt = j.value("attempt", 0);
    e.event.kind = j.value("kind", "");
    const json values = j.value("values", json::object()), texts = j.value("texts", json::object());
    for (const auto& [k, v] : values.items()) e.event.values[k] = v.is_number() ? v.get<double>() : std::nan("");
    for (const auto& [k, v] : texts.items())
        if (v.is_string()) e.event.texts[k] = v.get<std::string>();
    return e;
}

std::vector<SweepLogEntry> finishedRunEntries(const std::vector<SweepLogEntry>& log, bool withEpochs) {
    std::map<std::string, int> doneAttempt;
    for (const auto& e : log)
        if (e.event.kind == "run.done") doneAttempt[e.run] = e.attempt;
    std::vector<SweepLogEntry> out;
    for (const auto& e : log) {
        auto it = doneAttempt.find(e.run);
        if (it == doneAttempt.end() || it->second != e.attempt) continue;
        if (e.event.kind == "prune.step" || e.event.kind == "run.done" || (withEpochs && e.event.kind == "prune.epoch"))
            out.push_back(e);
    }
    return out;
}

std::string sweepSummaryCsv(const std::vector<SweepLogEntry>& log) {
    std::ostringstream o;
    o << "run,strategy,modality,criterion,fine_tune,target,steps,first_step,seed";
    for (const char* k : kCsvValues) o << "," << k;
    o << ",model_kind\n";
    const auto fin = finishedRunEntries(log);
    std::set<std::string> written;
    for (const auto& e : fin) {
        if (e.event.kind != "run.done" || !written.insert(e.run).second) continue;
        auto t = [&](const char* k) {
            auto f = e.event.texts.find(k);
            return f == e.event.texts.end() ? std::string() : f->second;
        };
        o << e.run << "," << t("strategy") << "," << t("modality") << "," << t("criterion") << "," << t("fine_tune")
          << "," << num(e.event.value("target")) << "," << num(e.event.value("steps")) << ","
          << num(e.event.value("first_step")) << "," << num(e.event.value("seed"));
        for (const char* k : kCsvValues) {
            o << ",";
            if (e.event.values.count(k) && std::isfinite(e.event.value(k))) o << num(e.event.value(k));
        }
        o << "," << (t("model_kind").empty() ? std::string("cnn") : t("model_kind")) << "\n";
    }
    return o.str();
}

}  // namespace pqw
