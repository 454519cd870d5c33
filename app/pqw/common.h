#pragma once
// Shared pieces of pqw's commands: dataset and backbone options, Ctrl-C as cancel, the
// extraction runner.
#include <CLI/CLI.hpp>

#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pqw/backbone.h"
#include "pqw/backbone_files.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/extract_shards.h"
#include "pqw/feature_cache.h"
#include "pqw/output.h"
#include "pqw/preprocess.h"
#include "pqw/util.h"
#include "terminal.h"

namespace pqwcli {

namespace fs = std::filesystem;
using json = nlohmann::json;


inline int g_exit = 0;
inline pqw::JobContext* g_job = nullptr;

extern "C" inline void onSigint(int) {
    // JobContext::cancel is a lock-free atomic store: safe in a signal handler.
    if (g_job) g_job->cancel();
}

/// Runs fn with a JobContext whose cancel flag Ctrl-C sets.
template <typename Fn>
auto withJob(Fn&& fn) {
    pqw::JobContext ctx;
    g_job = &ctx;
    auto old = std::signal(SIGINT, onSigint);
    struct Restore {
        decltype(old) o;
        ~Restore() {
            std::signal(SIGINT, o);
            g_job = nullptr;
        }
    } restore{old};
    return fn(ctx);
}

struct DatasetArgs {
    std::string path = "fashion-mnist";
    std::string kind = "auto";
    double val = 0.1;
    uint64_t seed = 0;
    size_t maxTrain = 0, maxTest = 0;
    bool cubCrop = false;

    void add(CLI::App* c, bool positional = false) {
        if (positional)
            c->add_option("dataset", path, "Built-in name (fashion-mnist, mnist, funnybirds[:images=N,size=S,seed=K]) or a path")->capture_default_str();
        else
            c->add_option("--dataset,-d", path, "Built-in name (fashion-mnist, mnist, funnybirds[:images=N,size=S,seed=K]) or a path")->capture_default_str();
        c->add_option("--kind", kind, "Dataset format")
            ->check(CLI::IsMember({"auto", "builtin", "idx", "folder", "cub", "csv"}))
            ->capture_default_str();
        c->add_option("--val", val, "Fraction of training samples held out for validation")
            ->capture_default_str();  // range: option_ranges.cpp
        c->add_option("--seed", seed, "Seed of the validation split and subsets")->capture_default_str();
        c->add_option("--limit-train", maxTrain, "Use a stratified subset of at most N training samples (0 = all)");
        c->add_option("--limit-test", maxTest, "Use a stratified subset of at most N test samples (0 = all)");
        c->add_flag("--cub-crop", cubCrop, "CUB-200-2011: crop images to their bounding boxes");
    }
    pqw::DatasetSpec spec() const {
        pqw::DatasetSpec s;
        s.kind = kind;
        s.path = path;
        s.valFraction = val;
        s.seed = seed;
        s.maxTrain = maxTrain;
        s.maxTest = maxTest;
        s.cubCrop = cubCrop;
        return s;
    }
};

/// --mean --std --resize --crop: the user's preprocessing (pqw::InputPreprocessing); none given
/// = the backbone kind's default.
struct PreprocessArgs {
    std::string mean, stdev, crop;
    int resize = 0;

    void add(CLI::App* c) {
        c->add_option("--mean", mean, "Per-channel mean R,G,B on the 0..1 scale (default for .pt/.pth: ImageNet "
                                      "0.485,0.456,0.406); any of these four switches to torchvision's resampling");
        c->add_option("--std", stdev, "Per-channel standard deviation R,G,B on the 0..1 scale (ImageNet: 0.229,0.224,0.225)");
        c->add_option("--resize", resize, "Shorter side before the centre crop (torchvision Resize(N) + "
                                          "CenterCrop(size); implies --crop center; default size x 256/224)")
            ->check(CLI::Range(1, 8192));
        c->add_option("--crop", crop, "center: Resize + CenterCrop as torchvision's validation transform; "
                                      "none: resize straight to size x size")
            ->check(CLI::IsMember({"center", "none"}));
    }
    bool given() const { return !mean.empty() || !stdev.empty() || !crop.empty() || resize > 0; }
    std::optional<pqw::InputPreprocessing> choice() const {
        if (!given()) return std::nullopt;
        pqw::InputPreprocessing p;
        if (!mean.empty()) p.mean = pqw::parseRgb(mean, "--mean");
        if (!stdev.empty()) p.stdev = pqw::parseRgb(stdev, "--std");
        if (crop == "none" && resize > 0)
            throw pqw::Error("--resize is the shorter side before --crop center; with --crop none images are "
                             "resized straight to --size");
        p.centerCrop = crop == "center" || (crop.empty() && resize > 0);
        p.resize = resize;
        try {
            p.validate();
        } catch (const pqw::Error& e) {
            std::string w = e.what();
            throw pqw::Error("--mean/--std/--resize: " + w.substr(w.find(": ") + 2));
        }
        return p;
    }
};

/// The pqw switches that reproduce spec's preprocessing (" --mean ... --crop center"), or "".
inline std::string preprocessFlags(const pqw::BackboneSpec& spec) {
    if (!spec.preprocess) return {};
    const auto& p = *spec.preprocess;
    auto three = [](const std::array<float, 3>& v) {
        std::ostringstream o;
        o << v[0] << "," << v[1] << "," << v[2];
        return o.str();
    };
    std::string s = " --mean " + three(p.mean) + " --std " + three(p.stdev) + " --crop " + (p.centerCrop ? "center" : "none");
    if (p.centerCrop && p.resize > 0) s += " --resize " + std::to_string(p.resize);
    return s;
}

struct BackboneArgs {
    std::string backbone = "default";
    std::string layer;
    bool random = false;
    PreprocessArgs preprocess;

    void add(CLI::App* c) {
        c->add_option("--backbone,-b", backbone,
                      "'default' (MobileNetV2, ImageNet features), a TFJS model folder / model.json, a TorchScript .pt, "
                      "or a torch.save .pth of a torchvision ConvNeXt / ResNet / ViT (classifier or ProtoQuant checkpoint)")
            ->capture_default_str();
        c->add_option("--layer,-l", layer, "Cut layer (default: block_10_project_BN for the default backbone)");
        c->add_flag("--random-weights", random, "Same architecture with seeded random weights (a control)");
        preprocess.add(c);
    }
    pqw::BackboneSpec spec() const {
        pqw::BackboneSpec s;
        if (backbone == "default") {
            s.kind = "default";
        } else {
            s.path = backbone;
            s.kind = pqw::backboneKindForPath(backbone);
        }
        s.cutLayer = layer;
        s.randomWeights = random;
        s.preprocess = preprocess.choice();
        return s;
    }
};

inline void printDataset(const pqw::Dataset& ds, std::ostream& out) {
    using pqw::Split;
    out << "dataset:  " << ds.name() << " (" << ds.format() << ")\n";
    out << "classes:  " << ds.classNames().size() << "\n";
    out << "samples:  " << ds.size() << "  (train " << ds.indices(Split::Train).size() << ", val "
        << ds.indices(Split::Val).size() << ", test " << ds.indices(Split::Test).size() << ")\n";
    out << "fingerprint: " << ds.fingerprint() << "\n";
    const auto tr = ds.classCounts(Split::Train), va = ds.classCounts(Split::Val), te = ds.classCounts(Split::Test);
    out << std::left << std::setw(24) << "class" << std::right << std::setw(8) << "train" << std::setw(8) << "val"
        << std::setw(8) << "test" << "\n";
    for (size_t c = 0; c < ds.classNames().size(); ++c)
        out << std::left << std::setw(24) << ds.classNames()[c] << std::right << std::setw(8) << tr[c] << std::setw(8)
            << va[c] << std::setw(8) << te[c] << "\n";
    const auto& r = ds.report();
    if (r.skipped) {
        out << "skipped:  " << r.skipped << " unreadable images, e.g.\n";
        for (const auto& e : r.skippedExamples) out << "  " << e << "\n";
    }
    for (const auto& w : r.warnings) out << "warning:  " << w << "\n";
}

inline pqw::ExtractReport runExtract(const pqw::Dataset& ds, const pqw::Backbone& bb, const std::string& out, int size,
                              int batch) {
    const auto st = pqw::inspectCache(out, ds, bb, size);
    if (st.state == pqw::CacheState::Fresh) {
        std::cerr << "features: " << out << " is fresh (" << st.total << " samples); nothing to extract\n";
    }
    if (st.state == pqw::CacheState::Partial)
        std::cerr << "features: resuming " << out << " at " << st.done << " of " << st.total << "\n";
    if (st.state == pqw::CacheState::Stale) std::cerr << "features: rebuilding " << out << " (" << st.reason << ")\n";
    if (st.state != pqw::CacheState::Fresh && pqw::hasShardPlan(out)) {
        const bool same = pqw::readShardPlan(out).fingerprint == pqw::cacheFingerprint(ds, bb, size);
        std::cerr << "features: " << out << " is planned in shards (" << pqw::shardPlanPath(out) << "): "
                  << (same ? "the shards not done are extracted here, then all are joined"
                           : "for other inputs, so they are removed and the cache extracted here")
                  << "\n";
    }
    return withJob([&](pqw::JobContext& ctx) {
        Progress bar("extract");
        ctx.setProgressHandler([&](double f, const std::string& m) { bar.update(f, m); });
        pqw::ExtractOptions opt;
        opt.inputSize = size;
        opt.batchSize = batch;
        auto rep = pqw::extractFeatures(ds, bb, out, ctx, opt);
        bar.finish();
        return rep;
    });
}

inline void printExtract(const pqw::ExtractReport& r) {
    std::cout << "features: " << r.dir << "\n";
    std::cout << "extracted " << r.extracted << ", reused " << r.reused << ", failed " << r.failed;
    if (r.extracted) std::cout << std::fixed << std::setprecision(1) << ", " << r.imagesPerSecond << " images/s";
    std::cout << "\n";
    for (const auto& e : r.failedExamples) std::cout << "  failed: " << e << "\n";
}


}  // namespace pqwcli
