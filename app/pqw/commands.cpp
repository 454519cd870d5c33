// pqw subcommands. Each command parses its options with CLI11, runs core, prints results
// to stdout and progress to stderr, and throws pqw::Error with a one-line reason on failure.
#include "commands.h"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/probe.h"
#include "pqw/util.h"
#include "terminal.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pqwcli {
namespace {

int g_exit = 0;
pqw::JobContext* g_job = nullptr;

extern "C" void onSigint(int) {
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
            c->add_option("dataset", path, "Built-in name (fashion-mnist, mnist) or a path")->capture_default_str();
        else
            c->add_option("--dataset,-d", path, "Built-in name (fashion-mnist, mnist) or a path")->capture_default_str();
        c->add_option("--kind", kind, "Dataset format")
            ->check(CLI::IsMember({"auto", "builtin", "idx", "folder", "cub", "csv"}))
            ->capture_default_str();
        c->add_option("--val", val, "Fraction of training samples held out for validation")
            ->check(CLI::Range(0.0, 0.9))
            ->capture_default_str();
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

struct BackboneArgs {
    std::string backbone = "default";
    std::string layer;
    bool random = false;

    void add(CLI::App* c) {
        c->add_option("--backbone,-b", backbone,
                      "'default' (MobileNetV2, ImageNet features), a TFJS model folder / model.json, or a TorchScript .pt")
            ->capture_default_str();
        c->add_option("--layer,-l", layer, "Cut layer (default: block_10_project_BN for the default backbone)");
        c->add_flag("--random-weights", random, "Same architecture with seeded random weights (a control)");
    }
    pqw::BackboneSpec spec() const {
        pqw::BackboneSpec s;
        if (backbone == "default") {
            s.kind = "default";
        } else {
            s.path = backbone;
            const std::string ext = fs::path(backbone).extension().string();
            s.kind = (ext == ".pt" || ext == ".pth" || ext == ".torchscript") ? "torchscript" : "tfjs";
        }
        s.cutLayer = layer;
        s.randomWeights = random;
        return s;
    }
};

void printDataset(const pqw::Dataset& ds, std::ostream& out) {
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

pqw::ExtractReport runExtract(const pqw::Dataset& ds, const pqw::Backbone& bb, const std::string& out, int size,
                              int batch) {
    const auto st = pqw::inspectCache(out, ds, bb, size);
    if (st.state == pqw::CacheState::Fresh) {
        std::cerr << "features: " << out << " is fresh (" << st.total << " samples); nothing to do\n";
        pqw::ExtractReport r;
        r.reused = st.total;
        r.dir = out;
        return r;
    }
    if (st.state == pqw::CacheState::Partial)
        std::cerr << "features: resuming " << out << " at " << st.done << " of " << st.total << "\n";
    if (st.state == pqw::CacheState::Stale) std::cerr << "features: rebuilding " << out << " (" << st.reason << ")\n";
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

void printExtract(const pqw::ExtractReport& r) {
    std::cout << "features: " << r.dir << "\n";
    std::cout << "extracted " << r.extracted << ", reused " << r.reused << ", failed " << r.failed;
    if (r.extracted) std::cout << std::fixed << std::setprecision(1) << ", " << r.imagesPerSecond << " images/s";
    std::cout << "\n";
    for (const auto& e : r.failedExamples) std::cout << "  failed: " << e << "\n";
}

void addDatasets(CLI::App& app) {
    auto* c = app.add_subcommand("datasets", "List the built-in datasets, or describe the dataset at a path");
    auto args = std::make_shared<DatasetArgs>();
    args->path.clear();
    c->add_option("path", args->path, "A built-in name or a path to describe");
    c->add_option("--kind", args->kind, "Dataset format")
        ->check(CLI::IsMember({"auto", "builtin", "idx", "folder", "cub", "csv"}));
    c->add_option("--val", args->val, "Validation fraction")->check(CLI::Range(0.0, 0.9));
    c->add_option("--seed", args->seed, "Seed of the validation split");
    c->callback([args] {
        if (args->path.empty()) {
            std::cout << "built-in datasets:\n";
            for (const auto& [name, desc] : pqw::builtinDatasets())
                std::cout << "  " << std::left << std::setw(16) << name << desc << "\n";
            std::cout << "other formats: an image folder (one subfolder per class, optional train/ and test/),\n"
                         "  a CUB-200-2011 folder, IDX files, or a CSV manifest (path,label[,split]).\n";
            return;
        }
        printDataset(pqw::Dataset::open(args->spec()), std::cout);
    });
}

void addLayers(CLI::App& app) {
    auto* c = app.add_subcommand("layers", "List a backbone's layers with output shapes");
    auto args = std::make_shared<BackboneArgs>();
    auto size = std::make_shared<int>(224);
    args->add(c);
    c->add_option("--size", *size, "Input size in pixels")->capture_default_str()->check(CLI::Range(16, 1024));
    c->callback([args, size] {
        pqw::initTorchThreads();
        const auto bb = pqw::Backbone::open(args->spec());
        std::cout << "backbone: " << bb.id() << "\ncut: " << bb.cutLayer() << "  stride " << bb.stride()
                  << "  receptive field " << bb.receptiveField() << " px\n";
        for (const auto& l : bb.layers(*size)) {
            std::ostringstream shape;
            for (size_t k = 0; k < l.outputShape.size(); ++k) shape << (k ? "x" : "") << l.outputShape[k];
            std::cout << std::left << std::setw(28) << l.name << std::setw(24) << l.type << std::setw(14)
                      << shape.str() << l.parameters << (l.name == bb.cutLayer() ? "   <- cut" : "") << "\n";
        }
    });
}

void addExtract(CLI::App& app) {
    auto* c = app.add_subcommand("extract", "Extract features with a frozen backbone into a feature cache");
    auto ds = std::make_shared<DatasetArgs>();
    auto bb = std::make_shared<BackboneArgs>();
    auto out = std::make_shared<std::string>();
    auto size = std::make_shared<int>(112);
    auto batch = std::make_shared<int>(64);
    ds->add(c);
    bb->add(c);
    c->add_option("--size", *size, "Input size in pixels")->capture_default_str()->check(CLI::Range(16, 1024));
    c->add_option("--batch", *batch, "Batch size")->capture_default_str()->check(CLI::Range(1, 4096));
    c->add_option("--out,-o", *out, "Cache folder")->required();
    c->callback([ds, bb, out, size, batch] {
        pqw::initTorchThreads();
        const auto dataset = pqw::Dataset::open(ds->spec());
        const auto backbone = pqw::Backbone::open(bb->spec());
        printExtract(runExtract(dataset, backbone, *out, *size, *batch));
    });
}

json probeJson(const pqw::ProbeResult& r) {
    return {{"train_accuracy", r.trainAccuracy}, {"val_accuracy", r.valAccuracy}, {"test_accuracy", r.testAccuracy},
            {"best_epoch", r.bestEpoch}, {"val_history", r.valHistory}, {"loss_history", r.lossHistory}};
}

pqw::ProbeResult runProbe(const pqw::FeatureCache& cache, const pqw::ProbeOptions& opt) {
    return withJob([&](pqw::JobContext& ctx) {
        Progress bar("probe");
        ctx.setProgressHandler([&](double f, const std::string& m) { bar.update(f, m); });
        auto r = pqw::trainProbe(cache, opt, ctx);
        bar.finish();
        return r;
    });
}

void addProbe(CLI::App& app) {
    auto* c = app.add_subcommand("probe", "Fit the stage-0 probe (avg-pool, LayerNorm, Linear) on a feature cache");
    auto cacheDir = std::make_shared<std::string>();
    auto opt = std::make_shared<pqw::ProbeOptions>();
    auto jsonOut = std::make_shared<bool>(false);
    c->add_option("cache", *cacheDir, "Feature cache folder")->required();
    c->add_option("--epochs", opt->epochs, "Epochs")->capture_default_str()->check(CLI::Range(1, 10000));
    c->add_option("--lr", opt->lr, "Learning rate (AdamW)")->capture_default_str();
    c->add_option("--seed", opt->seed, "Seed")->capture_default_str();
    c->add_flag("--json", *jsonOut, "Print the result as JSON");
    c->callback([cacheDir, opt, jsonOut] {
        pqw::initTorchThreads();
        const auto cache = pqw::FeatureCache::open(*cacheDir);
        const auto r = runProbe(cache, *opt);
        if (*jsonOut) {
            std::cout << probeJson(r).dump(2) << "\n";
        } else {
            std::cout << std::fixed << std::setprecision(2) << "probe: best epoch " << r.bestEpoch << ", val "
                      << 100 * r.valAccuracy << " %, test " << 100 * r.testAccuracy << " %\n";
        }
    });
}

void addDemo(CLI::App& app) {
    auto* c = app.add_subcommand("demo", "Run the default pipeline headlessly (Fashion-MNIST + default backbone)");
    auto out = std::make_shared<std::string>("out/demo");
    auto ds = std::make_shared<DatasetArgs>();
    auto size = std::make_shared<int>(112);
    c->add_option("--out,-o", *out, "Output folder")->capture_default_str();
    c->add_option("--size", *size, "Input size in pixels")->capture_default_str()->check(CLI::Range(16, 1024));
    ds->add(c);
    c->callback([out, ds, size] {
        pqw::initTorchThreads();
        std::cerr << "demo: opening " << ds->path << "\n";
        const auto dataset = pqw::Dataset::open(ds->spec());
        pqw::BackboneSpec bs;
        const auto backbone = pqw::Backbone::open(bs);
        const std::string cacheDir = (fs::path(*out) / "features").string();
        const auto rep = runExtract(dataset, backbone, cacheDir, *size, 64);
        printExtract(rep);
        const auto cache = pqw::FeatureCache::open(cacheDir);
        pqw::ProbeOptions po;
        const auto pr = runProbe(cache, po);
        json report = {{"dataset", {{"name", dataset.name()}, {"samples", dataset.size()},
                                    {"fingerprint", dataset.fingerprint()}}},
                       {"backbone", {{"id", backbone.id()}, {"cut", backbone.cutLayer()}}},
                       {"input_size", *size},
                       {"features", {{"dir", cacheDir}, {"shape", cache.shape()},
                                     {"extracted", rep.extracted}, {"images_per_second", rep.imagesPerSecond}}},
                       {"stage0_probe", probeJson(pr)}};
        const std::string reportPath = (fs::path(*out) / "report.json").string();
        pqw::writeFileAtomic(reportPath, report.dump(2));
        std::cout << std::fixed << std::setprecision(2) << "stage-0 probe on " << dataset.name()
                  << ": test accuracy " << 100 * pr.testAccuracy << " % (val " << 100 * pr.valAccuracy
                  << " %, epoch " << pr.bestEpoch << ")\n";
        std::cout << "results: " << fs::absolute(*out).string() << " (features/, report.json)\n";
    });
}

}  // namespace

int exitCode() { return g_exit; }

void registerCommands(CLI::App& app) {
    addDatasets(app);
    addLayers(app);
    addExtract(app);
    addProbe(app);
    addDemo(app);
}

}  // namespace pqwcli
