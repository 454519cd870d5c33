// pqw's pruning commands: train-cnn, prune, schedule, sweep, sweep-report.
#include <cmath>
#include <fstream>
#include <optional>

#include "commands.h"
#include "slurm_commands.h"
#include "common.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"

namespace pqwcli {
namespace {

std::string pct(double v) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(2) << 100.0 * v << " %";
    return o.str();
}

}  // namespace

/// One line per "prune.step" event.
std::string stepLine(const pqw::Event& e) {
    std::ostringstream o;
    o << std::fixed << "step " << int(e.value("step")) << "  sparsity " << std::setprecision(4)
      << e.value("sparsity_prunable") << " (all " << e.value("sparsity_all") << ")  params "
      << int64_t(e.value("params"));
    if (e.values.count("macs")) o << "  MACs " << int64_t(e.value("macs"));
    o << "  val " << e.value("val_top1");
    if (e.values.count("test_top1")) o << "  test " << e.value("test_top1") << " (top-5 " << e.value("test_top5") << ")";
    if (e.values.count("latency_b64_ms"))
        o << std::setprecision(2) << "  latency b1 " << e.value("latency_b1_ms") << " ms, b64 "
          << e.value("latency_b64_ms") << " ms";
    o << "  epochs " << int(e.value("epochs")) << " (total " << int(e.value("total_epochs")) << ")";
    return o.str();
}

namespace {

void addTrainCnn(CLI::App& app) {
    auto* c = app.add_subcommand("train-cnn", "Train a small CNN (LeNet-style or residual) from scratch on a dataset");
    auto ds = std::make_shared<DatasetArgs>();
    ds->add(c);
    auto spec = std::make_shared<pqw::CnnSpec>();
    auto opt = std::make_shared<pqw::CnnTrainOptions>();
    auto out = std::make_shared<std::string>();
    auto modelSeed = std::make_shared<uint64_t>(0);
    auto features = std::make_shared<std::string>();
    c->add_option("--arch", spec->arch, "lenet or resnet (images); feature-mlp or feature-conv (with --features)")
        ->check(CLI::IsMember({"lenet", "resnet", "feature-mlp", "feature-conv"}))
        ->capture_default_str();
    c->add_option("--features", *features,
                  "Train a classifier on this feature cache (the frozen trunk's features) instead of images")
        ->check(CLI::ExistingDirectory);
    c->add_option("--width", spec->width, "lenet: first conv channels; resnet: stem channels")->capture_default_str();
    c->add_option("--depth", spec->depth, "resnet: basic blocks per stage")->capture_default_str();
    c->add_option("--epochs", opt->epochs, "Training epochs")->capture_default_str();
    c->add_option("--lr", opt->lr, "SGD learning rate (cosine-decayed)")->capture_default_str();
    c->add_option("--batch", opt->batch, "Batch size")->capture_default_str();
    c->add_option("--model-seed", *modelSeed, "Seed of the initial weights and of the batch order")->capture_default_str();
    c->add_option("--out,-o", *out, "Model file to write (.pqwcnn)")->required();
    auto threads = std::make_shared<int>(0);
    c->add_option("--threads", *threads, "LibTorch threads (0 = one per core)")->capture_default_str();
    c->callback([=] {
        pqw::initTorchThreads(*threads);
        const pqw::OutputLock lock(*out, "train into it");  // held until the model is written
        const bool featureArch = spec->arch.rfind("feature-", 0) == 0;
        if (featureArch != !features->empty())
            throw pqw::Error(featureArch ? "--arch " + spec->arch + " needs --features DIR"
                                         : "--features needs --arch feature-mlp or feature-conv");
        const auto data = features->empty()
                              ? pqw::ImageTensors::fromDataset(pqw::Dataset::open(ds->spec()))
                              : pqw::ImageTensors::fromFeatureCache(pqw::FeatureCache::open(*features), ds->maxTrain);
        pqw::CnnSpec s = *spec;
        s.inChannels = data.channels();
        s.inputSize = data.inputSize();
        s.classes = data.classes();
        auto m = pqw::CnnModel::create(s, *modelSeed);
        opt->seed = *modelSeed;
        std::cerr << "training " << s.arch << " (" << m.cost().params << " parameters, " << m.cost().macs
                  << " MACs) on " << data.count(pqw::Split::Train) << (featureArch ? " feature maps of " : " images of ")
                  << s.inputSize << " px\n";
        withJob([&](pqw::JobContext& ctx) {
            ctx.setEventHandler([](const pqw::Event& e) {
                if (e.kind != "cnn.epoch") return;
                std::cerr << std::fixed << std::setprecision(4) << "epoch " << int(e.value("epoch")) << "  loss "
                          << e.value("loss") << "  train " << e.value("train_accuracy") << "  val "
                          << e.value("val_accuracy") << "\n";
            });
            pqw::trainCnn(m, data, *opt, ctx);
            return 0;
        });
        m.save(*out);
        const auto val = pqw::evaluateCnn(m, data, pqw::Split::Val), test = pqw::evaluateCnn(m, data, pqw::Split::Test);
        std::cout << "model: " << *out << "\n"
                  << "parameters: " << m.cost().params << "  MACs: " << m.cost().macs << "\n"
                  << "val top-1 " << pct(val.top1) << ", test top-1 " << pct(test.top1) << " (top-5 " << pct(test.top5)
                  << ")\n";
    });
}

struct PruneArgs {
    std::string strategy = "one-shot", modality = "unstructured", criterion = "magnitude";
    double target = 0.5, firstStep = 0.5;
    int steps = 1;

    void addSchedule(CLI::App* c) {
        c->add_option("--strategy", strategy, "one-shot, iterative, iterative-geometric or hybrid")
            ->check(CLI::IsMember({"one-shot", "iterative", "iterative-geometric", "hybrid"}))
            ->capture_default_str();
        c->add_option("--target", target, "Target sparsity in (0, 1)")->capture_default_str();
        c->add_option("--steps", steps, "Number of steps (hybrid: geometric steps after the first)")
            ->capture_default_str();  // range: option_ranges.cpp
        c->add_option("--first-step", firstStep, "Hybrid: size of the first step")->capture_default_str();
    }
};

void addSchedule(CLI::App& app) {
    auto* c = app.add_subcommand("schedule", "Print the step sizes of a pruning schedule");
    auto a = std::make_shared<PruneArgs>();
    a->addSchedule(c);
    c->callback([a] {
        const auto st = pqw::pruneSchedule(pqw::parseStrategy(a->strategy), a->target, a->steps, a->firstStep);
        std::cout << "step  fraction  cumulative\n";
        double cum = 0;
        for (size_t k = 0; k < st.size(); ++k) {
            cum += st[k];
            std::cout << std::setw(4) << k + 1 << "  " << std::fixed << std::setprecision(4) << st[k] << "    " << cum
                      << "\n";
        }
    });
}

void addPrune(CLI::App& app) {
    auto* c = app.add_subcommand("prune", "Prune a CNN with a schedule, fine-tuning after each step");
    auto a = std::make_shared<PruneArgs>();
    auto ds = std::make_shared<DatasetArgs>();
    auto ft = std::make_shared<pqw::FineTuneOptions>();
    auto model = std::make_shared<std::string>(), out = std::make_shared<std::string>(),
         log = std::make_shared<std::string>();
    auto reps = std::make_shared<int>(5);
    auto taylor = std::make_shared<int>(8);
    auto seed = std::make_shared<uint64_t>(0);
    auto kind = std::make_shared<std::string>("auto"), features = std::make_shared<std::string>();
    auto channels = std::make_shared<int>(0), inputSize = std::make_shared<int>(0);
    c->add_option("--model,-m", *model,
                  "Model file: .pqwcnn (train-cnn), .pqwh (pqw train) or a TorchScript module (.pt)")
        ->required()
        ->check(CLI::ExistingFile);
    c->add_option("--model-kind", *kind,
                  "auto (by file), cnn, feature-head, protoquant-codebook, protoquant-weights or torchscript")
        ->check(CLI::IsMember({"auto", "cnn", "feature-head", "protoquant-codebook", "protoquant-weights", "torchscript"}))
        ->capture_default_str();
    c->add_option("--features", *features,
                  "Feature cache (feature heads, ProtoQuant models; a TorchScript module on features)")
        ->check(CLI::ExistingDirectory);
    c->add_option("--channels", *channels, "TorchScript on images: image channels (0 = 1 for IDX data, else 3)");
    c->add_option("--input-size", *inputSize, "TorchScript on images: resize to this side (0 = native)");
    ds->add(c);
    a->addSchedule(c);
    c->add_option("--modality", a->modality, "unstructured or structured")
        ->check(CLI::IsMember({"unstructured", "structured"}))
        ->capture_default_str();
    c->add_option("--criterion", a->criterion,
                  "unstructured: magnitude, layerwise, random, taylor; structured: l1, l2, taylor, random; "
                  "prototypes (protoquant-codebook, structured): usage, random")
        ->check(CLI::IsMember({"magnitude", "layerwise", "random", "l1", "l2", "taylor", "usage"}))
        ->capture_default_str();
    auto* pat = c->add_option("--patience", ft->patience, "Patience-based fine-tuning: stop after P epochs without a new best");
    c->add_option("--epochs", ft->epochs, "Fine-tuning epochs per step (with --patience: the cap)")->capture_default_str();
    c->add_option("--min-delta", ft->minDelta, "Patience: improvement needed to count as a new best")->needs(pat);
    c->add_option("--lr", ft->lr, "Fine-tuning SGD learning rate")->capture_default_str();
    c->add_option("--momentum", ft->momentum, "Fine-tuning SGD momentum")->capture_default_str();
    c->add_option("--weight-decay", ft->weightDecay, "Fine-tuning SGD weight decay")->capture_default_str();
    c->add_option("--latency-reps", *reps, "Latency repetitions per step (0 = skip)")->capture_default_str();
    c->add_option("--taylor-batches", *taylor, "Batches averaged for Taylor importance")->capture_default_str();
    c->add_option("--prune-seed", *seed, "Seed (random criterion, batch order)")->capture_default_str();
    c->add_option("--out,-o", *out, "Write the pruned model here");
    c->add_option("--log", *log, "Write every event as JSON Lines here");
    auto threads = std::make_shared<int>(0);
    c->add_option("--threads", *threads, "LibTorch threads (0 = one per core)")->capture_default_str();
    c->callback([=] {
        pqw::initTorchThreads(*threads);
        std::optional<pqw::OutputLock> lock;  // held until the pruned model is written
        if (!out->empty()) lock.emplace(*out, "prune into it");
        pqw::PruneOptions o;
        o.strategy = pqw::parseStrategy(a->strategy);
        o.target = a->target;
        o.steps = a->steps;
        o.firstStep = a->firstStep;
        o.modality = pqw::parseModality(a->modality);
        o.criterion = pqw::parseCriterion(a->criterion);
        o.fineTune = *ft;
        o.latencyReps = *reps;
        o.taylorBatches = *taylor;
        o.seed = *seed;
        pqw::pruneSchedule(o.strategy, o.target, o.steps, o.firstStep);  // fail before loading anything
        // Which kind of model: the flag, else the file.
        std::string k = *kind;
        const std::string ext = fs::path(*model).extension().string();
        if (k == "auto") {
            if (ext == ".pqwh") k = o.modality == pqw::PruneModality::Structured ? "protoquant-codebook" : "protoquant-weights";
            else if (ext == ".pt" || ext == ".pth" || ext == ".ptl" || ext == ".torchscript") k = "torchscript";
            else k = features->empty() ? "cnn" : "feature-head";
        }
        const auto mk = pqw::parseModelKind(k);
        std::unique_ptr<pqw::Prunable> target;
        pqw::CnnModel cnnModel;
        if (mk == pqw::PruneModelKind::ProtoCodebook || mk == pqw::PruneModelKind::ProtoWeights) {
            if (features->empty()) throw pqw::Error("--model-kind " + k + " needs --features (the model's feature cache)");
            auto cache = std::make_shared<pqw::FeatureCache>(pqw::FeatureCache::open(*features));
            target = pqw::prunableProto(pqw::ProtoModel::load(*model), cache, mk);
        } else if (mk == pqw::PruneModelKind::TorchScript) {
            const auto data = features->empty()
                                  ? pqw::ImageTensors::fromDataset(pqw::Dataset::open(ds->spec()), *channels, *inputSize)
                                  : pqw::ImageTensors::fromFeatureCache(pqw::FeatureCache::open(*features), ds->maxTrain);
            target = pqw::prunableTorchScript(*model, data);
        } else {
            cnnModel = pqw::CnnModel::load(*model);
            const bool featureArch = cnnModel.spec().arch.rfind("feature-", 0) == 0;
            if (featureArch && features->empty())
                throw pqw::Error(*model + ": a feature head (" + cnnModel.spec().arch + ") needs --features DIR");
            const auto data =
                featureArch ? pqw::ImageTensors::fromFeatureCache(pqw::FeatureCache::open(*features), ds->maxTrain)
                            : pqw::ImageTensors::fromDataset(pqw::Dataset::open(ds->spec()), cnnModel.spec().inChannels,
                                                             cnnModel.spec().inputSize);
            if (data.classes() != cnnModel.spec().classes || data.channels() != cnnModel.spec().inChannels ||
                data.inputSize() != cnnModel.spec().inputSize)
                throw pqw::Error(*model + ": the model expects " + std::to_string(cnnModel.spec().inChannels) + "x" +
                                 std::to_string(cnnModel.spec().inputSize) + " inputs and " +
                                 std::to_string(cnnModel.spec().classes) + " classes; the data has " +
                                 std::to_string(data.channels()) + "x" + std::to_string(data.inputSize()) + " and " +
                                 std::to_string(data.classes()));
            target = pqw::prunableCnn(cnnModel, data);
        }
        std::cerr << "pruning a " << pqw::modelKindName(target->kind()) << " model\n";
        std::unique_ptr<std::ofstream> logOut;
        if (!log->empty()) logOut = std::make_unique<std::ofstream>(*log);
        withJob([&](pqw::JobContext& ctx) {
            ctx.setEventHandler([&](const pqw::Event& e) {
                if (logOut) {
                    json j = {{"kind", e.kind}, {"values", e.values}, {"texts", e.texts}};
                    *logOut << j.dump() << "\n" << std::flush;
                }
                if (e.kind == "prune.step") std::cout << stepLine(e) << std::endl;
            });
            return pqw::pruneModel(*target, o, ctx);
        });
        if (!out->empty()) {
            target->save(*out);
            std::cout << "pruned model: " << *out << "\n";
        }
    });
}

void addSweep(CLI::App& app) {
    auto* c = app.add_subcommand("sweep", "Run a pruning sweep (JSON grid) here or as a Slurm job array; resumes a sweep "
                                          "in the same folder");
    auto file = std::make_shared<std::string>(), out = std::make_shared<std::string>();
    c->add_option("sweep", *file, "Sweep description (JSON), or a sweep folder to continue")->required()->check(CLI::ExistingPath);
    c->add_option("--out,-o", *out, "Sweep folder (sweep.json, runs/, summary.csv, base_model.*)");
    auto threads = std::make_shared<int>(0);
    c->add_option("--threads", *threads,
                  "LibTorch threads (0 = one per core; 1 is faster on a busy shared machine)")
        ->capture_default_str();
    auto slurm = std::make_shared<SlurmArgs>();
    slurm->add(c);
    c->callback([=] {
        const bool folder = fs::is_directory(*file);
        const std::string dir = !out->empty() ? *out : folder ? *file : std::string();
        if (dir.empty()) throw pqw::Error("--out DIR is needed with a sweep description");
        const auto spec = folder ? pqw::loadSweepFolder(*file) : pqw::parseSweep(pqw::readFile(*file), *file);
        if (slurm->slurm) {
            submitSweepToSlurm(spec, dir, *slurm);
            return;
        }
        if (slurm->given()) throw pqw::Error("--partition, --time, --resubmit and the other Slurm options need --slurm");
        pqw::initTorchThreads(*threads);
        std::cerr << "sweep: " << spec.runs.size() << " runs into " << dir << "\n";
        const auto st = withJob([&](pqw::JobContext& ctx) {
            ctx.setEventHandler([&](const pqw::Event& e) { printSweepEvent(e); });
            return pqw::runSweep(spec, dir, ctx);
        });
        std::cout << "sweep: " << st.total << " runs, " << st.finished << " run now, " << st.skipped
                  << " already finished (skipped)";
        if (st.busy) std::cout << ", " << st.busy << " being run by other processes (left to them)";
        std::cout << "\nlogs: " << dir << "/runs/\nsummary: " << dir << "/summary.csv\n";
    });
}

void addSweepReport(CLI::App& app) {
    auto* c = app.add_subcommand("sweep-report", "Plots (PNG + SVG) and summary tables of a sweep folder");
    auto dir = std::make_shared<std::string>(), out = std::make_shared<std::string>();
    c->add_option("dir", *dir, "Sweep folder")->required()->check(CLI::ExistingDirectory);
    c->add_option("--out,-o", *out, "Report folder (default: DIR/report)");
    c->callback([=] {
        const auto files = pqw::writeSweepReport(*dir, out->empty() ? *dir + "/report" : *out);
        for (const auto& f : files) std::cout << f << "\n";
    });
}

}  // namespace

void registerPruningCommands(CLI::App& app) {
    addTrainCnn(app);
    addPrune(app);
    addSchedule(app);
    addSweep(app);
    addSweepReport(app);
    registerSlurmSweepCommands(app);
}

}  // namespace pqwcli
