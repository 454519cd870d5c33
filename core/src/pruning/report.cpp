// Sweep reports: accuracy-vs-sparsity and accuracy-vs-total-epochs plots, summary tables.
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "pqw/error.h"
#include "pqw/plot.h"
#include "pqw/pruning.h"
#include "pqw/util.h"
#include "pqw/pruning_benchmark.h"

namespace pqw {

namespace fs = std::filesystem;

namespace {
std::vector<std::string> writeReport(const std::vector<SweepLogEntry>& log, const std::string& sweepDir,
                                     const std::string& outDir);
}  // namespace

std::vector<std::string> writeSweepReport(const std::string& sweepDir, const std::string& outDir) {
    // A Hydra multirun folder of the official pruning benchmark plots the same way.
    if (!isSweepFolder(sweepDir) && isPruningBenchmarkFolder(sweepDir))
        return writeReport(readPruningBenchmark(sweepDir), sweepDir, outDir);
    if (!isSweepFolder(sweepDir)) throw Error(sweepDir + ": not a sweep folder (no sweep.json, runs/ or log.jsonl)");
    return writeReport(readSweepFolder(sweepDir), sweepDir, outDir);
}

namespace {
std::vector<std::string> writeReport(const std::vector<SweepLogEntry>& log, const std::string& sweepDir,
                                     const std::string& outDir) {
    const auto fin = finishedRunEntries(log);
    std::vector<const SweepLogEntry*> done;
    for (const auto& e : fin)
        if (e.event.kind == "run.done") done.push_back(&e);
    if (done.empty()) throw Error(sweepDir + ": no finished runs yet");
    fs::create_directories(outDir);
    std::vector<std::string> files;
    auto text = [](const SweepLogEntry& e, const char* k) {
        auto it = e.event.texts.find(k);
        return it == e.event.texts.end() ? std::string() : it->second;
    };
    std::set<std::string> modalities, criteria;
    for (auto* e : done) {
        modalities.insert(text(*e, "modality"));
        criteria.insert(text(*e, "criterion"));
    }
    for (const auto& mod : modalities) {
        // Series key: strategy + fine-tuning mode (+ criterion when several were swept).
        std::map<std::string, std::map<double, std::vector<std::pair<double, double>>>> bySparsity;  // key -> target -> (x, acc)
        std::map<std::string, std::vector<std::pair<double, double>>> byEpochs;
        double dense = NAN;
        for (auto* e : done) {
            if (text(*e, "modality") != mod) continue;
            std::string key = text(*e, "strategy");
            if (text(*e, "strategy") != "one-shot") key += " n" + std::to_string(int(e->event.value("steps")));
            key += ", " + text(*e, "fine_tune");
            if (criteria.size() > 1) key += ", " + text(*e, "criterion");
            const double acc = e->event.value("test_top1", e->event.value("val_top1"));
            const double x = mod == "structured" ? e->event.value("channel_sparsity") : e->event.value("sparsity_prunable");
            bySparsity[key][e->event.value("target")].push_back({x, acc});
            byEpochs[key].push_back({e->event.value("total_epochs"), acc});
            dense = e->event.value("dense_test_top1", dense);
        }
        const std::string suffix = modalities.size() > 1 || mod == "structured" ? "_" + mod : "";
        PlotSpec ps;
        ps.title = "Accuracy vs sparsity (" + mod + ")";
        bool prototypes = false;  // a protoquant-codebook sweep removes prototypes, not channels
        for (auto* e : done) prototypes = prototypes || text(*e, "model_kind") == "protoquant-codebook";
        ps.xLabel = mod == "structured" ? (prototypes ? "fraction of prototypes removed" : "fraction of channels removed")
                                        : "sparsity of prunable weights";
        ps.yLabel = "test top-1 accuracy";
        int color = 0;
        double xlo = INFINITY, xhi = -INFINITY;
        for (const auto& [key, targets] : bySparsity) {
            PlotSeries s;
            s.name = key;
            s.color = color++;
            s.dashed = key.find("pat") != std::string::npos;
            for (const auto& [t, pts] : targets) {  // mean over seeds
                double x = 0, y = 0;
                for (const auto& [a, b] : pts) x += a, y += b;
                s.x.push_back(x / double(pts.size()));
                s.y.push_back(y / double(pts.size()));
                xlo = std::min(xlo, s.x.back());
                xhi = std::max(xhi, s.x.back());
            }
            ps.series.push_back(s);
        }
        if (std::isfinite(dense)) {
            PlotSeries d;
            d.name = "dense";
            d.x = {xlo, xhi};
            d.y = {dense, dense};
            d.markers = false;
            d.dashed = true;
            d.color = 7;
            ps.series.push_back(d);
        }
        for (const auto& f : writePlot(ps, outDir + "/acc_vs_sparsity" + suffix)) files.push_back(f);
        PlotSpec pe;
        pe.title = "Accuracy vs total fine-tuning epochs (" + mod + ")";
        pe.xLabel = "total fine-tuning epochs";
        pe.yLabel = "test top-1 accuracy";
        color = 0;
        for (const auto& [key, pts] : byEpochs) {
            PlotSeries s;
            s.name = key;
            s.color = color++;
            s.line = false;
            for (const auto& [a, b] : pts) {
                s.x.push_back(a);
                s.y.push_back(b);
            }
            pe.series.push_back(s);
        }
        for (const auto& f : writePlot(pe, outDir + "/acc_vs_epochs" + suffix)) files.push_back(f);
    }
    writeFileAtomic(outDir + "/summary.csv", sweepSummaryCsv(log));
    files.push_back(outDir + "/summary.csv");

    // Markdown: one row per run, then the best strategy per (modality, fine-tuning, target).
    std::ostringstream md;
    md << std::fixed << std::setprecision(4);
    md << "| run | sparsity | test top-1 | val top-1 | total epochs | params | MACs | latency b64 (ms) |\n"
       << "|---|---|---|---|---|---|---|---|\n";
    for (auto* e : done)
        md << "| " << e->run << " | " << e->event.value("sparsity_prunable") << " | " << e->event.value("test_top1", NAN)
           << " | " << e->event.value("val_top1") << " | " << int(e->event.value("total_epochs")) << " | "
           << int64_t(e->event.value("params")) << " | "
           << (std::isfinite(e->event.value("macs", NAN)) ? std::to_string(int64_t(e->event.value("macs"))) : "-") << " | "
           << std::setprecision(3) << e->event.value("latency_b64_ms", NAN) << std::setprecision(4) << " |\n";
    md << "\n| modality | fine-tuning | target | best strategy | test top-1 | one-shot | total epochs (best) |\n"
       << "|---|---|---|---|---|---|---|\n";
    std::map<std::tuple<std::string, std::string, double>, std::vector<const SweepLogEntry*>> cells;
    for (auto* e : done) cells[{text(*e, "modality"), text(*e, "fine_tune"), e->event.value("target")}].push_back(e);
    for (const auto& [k, es] : cells) {
        std::map<std::string, std::pair<double, double>> byStrategy;  // mean acc, mean epochs
        std::map<std::string, int> n;
        for (auto* e : es) {
            std::string s = text(*e, "strategy");
            if (s != "one-shot") s += " n" + std::to_string(int(e->event.value("steps")));
            byStrategy[s].first += e->event.value("test_top1", e->event.value("val_top1"));
            byStrategy[s].second += e->event.value("total_epochs");
            ++n[s];
        }
        std::string best;
        double bestAcc = -1, bestEp = 0, oneShot = NAN;
        for (auto& [s, v] : byStrategy) {
            const double a = v.first / n[s];
            if (s == "one-shot") oneShot = a;
            const double ep = v.second / n[s];
            // ties go to the cheaper schedule (fewer fine-tuning epochs)
            if (a > bestAcc + 1e-12 || (std::abs(a - bestAcc) <= 1e-12 && ep < bestEp)) bestAcc = a, best = s, bestEp = ep;
        }
        md << "| " << std::get<0>(k) << " | " << std::get<1>(k) << " | " << std::get<2>(k) << " | " << best << " | "
           << bestAcc << " | " << oneShot << " | " << std::setprecision(1) << bestEp << std::setprecision(4) << " |\n";
    }
    writeFileAtomic(outDir + "/summary.md", md.str());
    files.push_back(outDir + "/summary.md");
    return files;
}
}  // namespace

}  // namespace pqw
