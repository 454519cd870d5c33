// pqw subcommands. Each command parses its options with CLI11, runs core, prints results
// to stdout and progress to stderr, and throws pqw::Error with a one-line reason on failure.
#include "commands.h"
#include "common.h"

#include <algorithm>
#include <chrono>
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
#include "pqw/funnybirds.h"
#include "pqw/protoquant.h"
#include "pqw/util.h"
#include "extract_commands.h"
#include "terminal.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pqwcli {
namespace {

void addDatasets(CLI::App& app) {
    auto* c = app.add_subcommand("datasets", "List the built-in datasets, or describe the dataset at a path");
    auto args = std::make_shared<DatasetArgs>();
    args->path.clear();
    c->add_option("path", args->path, "A built-in name or a path to describe");
    c->add_option("--kind", args->kind, "Dataset format")
        ->check(CLI::IsMember({"auto", "builtin", "idx", "folder", "cub", "csv"}));
    c->add_option("--val", args->val, "Validation fraction");
    c->add_option("--seed", args->seed, "Seed of the validation split");
    c->callback([args] {
        if (args->path.empty()) {
            std::cout << "built-in datasets:\n";
            for (const auto& [name, desc] : pqw::builtinDatasets())
                std::cout << "  " << std::left << std::setw(16) << name << desc << "\n";
            std::cout << "other formats: an image folder (one subfolder per class, optional train/ and test/),\n"
                         "  a CUB-200-2011 folder, IDX files, or a CSV manifest (path,label[,split]).\n";
            // Where the default backbone and MNIST are taken from ($PQW_DATA_DIR, the install's
            // share folder, or the source tree).
            const std::string data = pqw::assetsDir();
            std::cout << "data folder: " << (data.empty() ? "(none found; set PQW_DATA_DIR)" : data) << "\n";
            return;
        }
        const auto t0 = std::chrono::steady_clock::now();
        const auto ds = pqw::Dataset::open(args->spec());
        printDataset(ds, std::cout);
        if (ds.format() == "funnybirds") {
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::cout << "cache:    " << pqw::funnybirds::cacheFolder(pqw::funnybirds::optionsOf(ds)) << " (opened in "
                      << std::fixed << std::setprecision(1) << secs << " s; images/, parts/ = part maps, index.json = "
                         "parameters)\n";
        }
    });
}

void addLayers(CLI::App& app) {
    auto* c = app.add_subcommand("layers", "List a backbone's layers with output shapes");
    auto args = std::make_shared<BackboneArgs>();
    auto size = std::make_shared<int>(224);
    args->add(c);
    c->add_option("--size", *size, "Input size in pixels")->capture_default_str();
    c->callback([args, size] {
        pqw::initTorchThreads();
        const auto bb = pqw::Backbone::open(args->spec());
        std::cout << "backbone: " << bb.id() << "\n";
        std::cout << "preprocessing: " << pqw::describePreprocessing(bb.spec()) << "\n";
        // The list comes first: it is how a user finds a name for --layer, so it must not depend on
        // the current cut being usable (a whole classifier's last layer is not a feature map).
        const auto layers = bb.layers(*size);
        bool cutUsable = false;
        size_t w = 28;  // the name column fits the longest name (a ViT's are ~50 characters)
        for (const auto& l : layers) w = std::max(w, l.name.size() + 2);
        std::cout << std::left << std::setw(int(w)) << "layer" << std::setw(24) << "type" << std::setw(14) << "output"
                  << std::setw(12) << "parameters" << "usable cut\n";
        for (const auto& l : layers) {
            std::ostringstream shape;
            for (size_t k = 0; k < l.outputShape.size(); ++k) shape << (k ? "x" : "") << l.outputShape[k];
            // A cut must give a feature map C x H x W; vectors (Dense, pooled) cannot carry prototypes.
            const bool usable = l.outputShape.size() == 3;
            if (l.name == bb.cutLayer()) cutUsable = usable;
            std::cout << std::setw(int(w)) << l.name << std::setw(24) << l.type << std::setw(14) << shape.str() << std::setw(12)
                      << l.parameters << (usable ? "yes" : "no") << (l.name == bb.cutLayer() ? "   <- cut" : "") << "\n";
        }
        if (!cutUsable) {
            const bool chosen = !args->layer.empty();
            std::cout << "\nThe " << (chosen ? "chosen" : "default") << " cut '" << bb.cutLayer()
                      << "' does not give a feature map (C x H x W), so it cannot feed a prototype head.\n"
                         "Pass --layer NAME with a layer marked 'yes' above.\n";
            if (chosen) throw pqw::Error("--layer " + args->layer + ": not a feature map (pick a layer marked 'yes')");
            return;
        }
        const int rf = bb.receptiveField();  // 0: the whole input (attention, global pooling)
        std::cout << "cut: " << bb.cutLayer() << "  stride " << bb.stride() << "  receptive field "
                  << (rf > 0 ? std::to_string(rf) + " px" : std::string("the whole input")) << " (effective at " << *size << " px: " << bb.effectiveReceptiveField(*size) << " px)\n";
    });
}

void addExtract(CLI::App& app) {
    auto* c = app.add_subcommand("extract", "Extract features with a frozen backbone into a feature cache (here, or "
                                            "sharded over a Slurm job array)");
    auto ds = std::make_shared<DatasetArgs>();
    auto bb = std::make_shared<BackboneArgs>();
    auto out = std::make_shared<std::string>();
    auto size = std::make_shared<int>(112);
    auto batch = std::make_shared<int>(64);
    auto threads = std::make_shared<int>(0);
    auto shards = std::make_shared<int>(0);
    auto slurm = std::make_shared<SlurmArgs>();
    ds->add(c);
    bb->add(c);
    c->add_option("--size", *size, "Input size in pixels")->capture_default_str();
    c->add_option("--batch", *batch, "Batch size")->capture_default_str();
    c->add_option("--out,-o", *out, "Cache folder")->required();
    c->add_option("--threads", *threads, "LibTorch threads (0 = one per core)")->capture_default_str();
    c->add_option("--shards", *shards, "Slurm: split the samples into N ranges, one array task each (whole batches)")
        ->check(CLI::Range(1, 100000));
    slurm->add(c, "shard");
    c->callback([=] {
        if (slurm->slurm) {
            const bool backboneGiven = c->count("--backbone") > 0;
            submitExtractionToSlurm(*ds, *bb, backboneGiven, *out, *size, *batch, *shards, *slurm);
            return;
        }
        if (slurm->given() || *shards) throw pqw::Error("--shards, --partition, --resubmit and the other Slurm options need --slurm");
        pqw::initTorchThreads(*threads);
        const auto dataset = pqw::Dataset::open(ds->spec());
        const auto backbone = pqw::Backbone::open(bb->spec());
        std::cerr << "preprocessing: " << pqw::describePreprocessing(backbone.spec()) << "\n";
        printExtract(runExtract(dataset, backbone, *out, *size, *batch));
    });
}

void addDemo(CLI::App& app) {
    auto* c = app.add_subcommand("demo", "Run the default pipeline headlessly: features, ProtoQuant training, figures");
    auto out = std::make_shared<std::string>("out/demo");
    auto ds = std::make_shared<DatasetArgs>();
    auto size = std::make_shared<int>(112);
    auto codes = std::make_shared<int>(256);
    auto epochs1 = std::make_shared<int>(10);
    auto epochs2 = std::make_shared<int>(10);
    c->add_option("--out,-o", *out, "Output folder")->capture_default_str();
    c->add_option("--size", *size, "Input size in pixels")->capture_default_str();
    c->add_option("--codes", *codes, "Codebook size")->capture_default_str();
    c->add_option("--epochs1", *epochs1, "Stage 1 epochs")->capture_default_str();
    c->add_option("--epochs2", *epochs2, "Stage 2 epochs")->capture_default_str();
    ds->add(c);
    c->callback([=] {
        pqw::initTorchThreads();
        std::cerr << "demo: opening " << ds->path << "\n";
        const auto dataset = pqw::Dataset::open(ds->spec());
        const auto backbone = pqw::Backbone::open(pqw::BackboneSpec{});
        const std::string cacheDir = (fs::path(*out) / "features").string();
        const auto rep = runExtract(dataset, backbone, cacheDir, *size, 64);
        printExtract(rep);
        const auto cache = pqw::FeatureCache::open(cacheDir);
        std::cerr << "demo: training ProtoQuant (stage 0, codebook of " << *codes << ", interpretable head)\n";
        const auto model = demoTrain(cache, *codes, *epochs1, *epochs2, false);
        const std::string ckpt = (fs::path(*out) / "protoquant.pqwh").string();
        model.save(ckpt);
        json report = {{"dataset", {{"name", dataset.name()}, {"samples", dataset.size()},
                                    {"fingerprint", dataset.fingerprint()}}},
                       {"backbone", {{"id", backbone.id()}, {"cut", backbone.cutLayer()}}},
                       {"input_size", *size},
                       {"features", {{"dir", cacheDir}, {"shape", cache.shape()}, {"extracted", rep.extracted},
                                     {"images_per_second", rep.imagesPerSecond}}},
                       {"checkpoint", ckpt}};
        demoExport(model, cache, *out, report);
        const std::string reportPath = (fs::path(*out) / "report.json").string();
        pqw::writeFileAtomic(reportPath, report.dump(2));
        const auto& acc = report["accuracy"]["test"];
        std::cout << std::fixed << std::setprecision(2) << "test accuracy on " << dataset.name() << ": stage-0 probe "
                  << 100 * acc["stage0"].get<double>() << " %, quantised " << 100 * acc["quantised"].get<double>()
                  << " %, ProtoQuant " << 100 * acc["protoquant"].get<double>() << " %\n";
        std::cout << "results: " << fs::absolute(*out).string()
                  << " (features/, protoquant.pqwh, prototypes/, explanations/, report.json)\n";
    });
}

}  // namespace

int exitCode() { return g_exit; }

void registerCommands(CLI::App& app) {
    addDatasets(app);
    addLayers(app);
    addExtract(app);
    registerExtractCommands(app);
    registerProtoCommands(app);
    registerPruningCommands(app);
    registerImportCommands(app);

    registerOmennCommands(app);
    registerFunnyBirdsCommands(app);
    registerReportCommand(app);
    addDemo(app);
}

}  // namespace pqwcli
