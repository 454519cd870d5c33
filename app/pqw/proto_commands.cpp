// pqw's ProtoQuant commands: probe, train, eval, prototypes, explain-proto, metrics.
#include <cmath>
#include <fstream>

#include "commands.h"
#include "common.h"
#include "pqw/preprocess.h"
#include "pqw/proto_metrics.h"
#include "pqw/protoquant.h"
#include "pqw/recorded_backbone.h"
#include "pqw/training_checks.h"
#include "pqw/render.h"

namespace pqwcli {
namespace {

json recordJson(const pqw::EpochRecord& r) {
    json j = {{"stage", r.stage}, {"epoch", r.epoch}, {"loss", r.loss}, {"ce", r.ceLoss}, {"mse", r.mseLoss},
              {"train_accuracy", r.trainAccuracy}, {"val_accuracy", r.valAccuracy}, {"lr", r.lr}};
    if (r.deadCodes >= 0) j["dead_codes"] = r.deadCodes;
    if (r.perplexity >= 0) j["perplexity"] = r.perplexity;
    return j;
}

json evalJson(const pqw::Evaluation& e, const std::vector<std::string>& classes) {
    json per = json::object();
    for (size_t c = 0; c < classes.size(); ++c) per[classes[c]] = e.perClass[c];
    return {{"split", e.split}, {"samples", e.samples}, {"top1", e.top1}, {"top5", e.top5}, {"per_class", per},
            {"confusion", e.confusion}};
}

/// Prints one line per epoch as training goes.
void printEpochs(pqw::JobContext& ctx, Progress& bar) {
    ctx.setProgressHandler([&bar](double f, const std::string& m) { bar.update(f, m); });
    ctx.setEventHandler([](const pqw::Event& e) {
        if (e.kind.size() < 6 || e.kind.compare(e.kind.size() - 6, 6, ".epoch") != 0) return;
        std::ostringstream line;
        line << std::fixed << std::setprecision(4) << e.kind.substr(0, e.kind.size() - 6) << " epoch "
             << int(e.value("epoch")) << "  loss " << e.value("loss") << "  train " << e.value("train_accuracy")
             << "  val " << e.value("val_accuracy");
        if (e.values.count("dead_codes"))
            line << "  dead codes " << int(e.value("dead_codes")) << "  perplexity " << std::setprecision(1)
                 << e.value("perplexity");
        std::cerr << "\r" << line.str() << std::string(20, ' ') << "\n";
    });
}

pqw::HeadKind parseHead(const std::string& s) {
    if (s == "stage0") return pqw::HeadKind::Stage0;
    if (s == "quantised" || s == "quantized") return pqw::HeadKind::Quantised;
    return pqw::HeadKind::Interpretable;
}

struct TrainArgs {
    std::string features, out, history, from, stage0Script;
    std::string stages = "0,1,2";
    bool baseline = false;
    pqw::Stage0Options s0;
    pqw::CodebookOptions s1;
    pqw::CodebookPruneOptions s1b;
    pqw::HeadOptions s2;
    int baselinePrototypes = 256;
    uint64_t seed = 0;
    float presenceThreshold = 0;
};

/// Trains the requested stages; used by `pqw train` and `pqw demo`.
pqw::ProtoModel runTraining(const pqw::FeatureCache& cache, TrainArgs a) {
    const pqw::TrainStages stages = pqw::parseTrainStages(a.stages);  // known names only (not substrings)
    const bool st0 = stages.stage0, st1 = stages.stage1, st2 = stages.stage2, st1b = stages.stage1b;
    a.s0.seed = a.s1.seed = a.s2.seed = a.seed;
    pqw::ProtoModel m = a.from.empty() ? pqw::ProtoModel::forCache(cache) : pqw::ProtoModel::load(a.from);
    m.checkCompatible(cache);
    return withJob([&](pqw::JobContext& ctx) {
        Progress bar("train");
        printEpochs(ctx, bar);
        if (a.baseline) {
            pqw::BaselineOptions b;
            b.head = a.s2;
            b.prototypes = a.baselinePrototypes;
            pqw::trainBaseline(m, cache, b, ctx);
        } else {
            if (!a.stage0Script.empty()) {
                pqw::setStage0TorchScript(m, a.stage0Script, cache);
                std::cerr << "stage 0: TorchScript head " << a.stage0Script << " (frozen)\n";
            } else if (st0) {
                pqw::trainStage0(m, cache, a.s0, ctx);
            }
            if (st1) pqw::trainCodebook(m, cache, a.s1, ctx);
            if (st1b || a.s1b.target > 0) {
                if (a.s1b.target <= 0) throw pqw::Error("stage 1b needs --prune-target");
                const auto sizes = pqw::pruneCodebook(m, cache, a.s1b, ctx);
                std::cerr << "codebook pruned to " << sizes.back() << " codes in " << sizes.size() << " steps\n";
            }
            if (st2) pqw::trainHead(m, cache, a.s2, ctx);
        }
        if (a.presenceThreshold > 0) m.setPresenceThreshold(a.presenceThreshold);
        bar.finish();
        return m;
    });
}

void addTrainOptions(CLI::App* c, TrainArgs& a) {
    c->add_option("--stages", a.stages, "Stages to run: any of 0, 1, 1b, 2 (comma separated)")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                try {
                    pqw::parseTrainStages(v);
                } catch (const pqw::Error& e) {
                    return e.what();
                }
                return {};
            },
            "", "stages"));
    c->add_flag("--baseline", a.baseline, "Train the non-quantised baseline (free prototypes) instead");
    c->add_option("--from", a.from, "Continue from this checkpoint (e.g. stage 2 on a saved codebook)");
    c->add_option("--seed", a.seed, "Seed of every stage")->capture_default_str();
    c->add_option("--stage0-torchscript", a.stage0Script,
                  "Use this TorchScript module (feature map [N, C, H, W] -> logits) as the frozen stage-0 head "
                  "instead of training one; stored in the checkpoint")
        ->check(CLI::ExistingFile);
    c->add_option("--epochs0", a.s0.epochs, "Stage 0 epochs")->capture_default_str();
    c->add_option("--lr0", a.s0.lr, "Stage 0 learning rate (AdamW)")->capture_default_str();
    c->add_option("--codes", a.s1.codes, "Codebook size K")->capture_default_str();
    c->add_option("--init", a.s1.init, "Codebook initialisation")
        ->check(CLI::IsMember({"kmeans", "orthogonal"}))
        ->capture_default_str();
    c->add_option("--epochs1", a.s1.epochs, "Stage 1 epochs")->capture_default_str();
    c->add_option("--lr1", a.s1.lr, "Stage 1 peak learning rate (Adam, warm-up + cosine)")->capture_default_str();
    c->add_option("--warmup", a.s1.warmupEpochs, "Stage 1 warm-up epochs")->capture_default_str();
    c->add_option("--label-smoothing", a.s1.labelSmoothing, "Stage 1 label smoothing")->capture_default_str();
    c->add_option("--mixup", a.s1.mixupAlpha, "Stage 1 mixup alpha in feature space (0 = off)")->capture_default_str();
    c->add_option("--prune-target", a.s1b.target, "Stage 1b: prune the codebook to this many codes");
    c->add_option("--prune-steps", a.s1b.steps, "Stage 1b: in this many steps")->capture_default_str();
    c->add_option("--epochs2", a.s2.epochs, "Stage 2 epochs")->capture_default_str();
    c->add_option("--lr2", a.s2.lr, "Stage 2 learning rate (Adam)")->capture_default_str();
    c->add_option("--tau", a.s2.tau, "Softmax temperature over prototypes")->capture_default_str();
    c->add_option("--l1", a.s2.l1, "L1 penalty on the class weights")->capture_default_str();
    c->add_flag("--finetune-codes", a.s2.finetuneCodes, "Stage 2 also trains the prototypes (loses grounding)");
    c->add_option("--top-k", a.s2.topKPerClass, "Keep only each class's top-k prototypes (0 = all)");
    c->add_option("--prototypes", a.baselinePrototypes, "Baseline: number of free prototypes")->capture_default_str();
    c->add_option("--presence-threshold", a.presenceThreshold, "Zero presences below this at inference (0 = off)");
}

void addProbe(CLI::App& app) {
    auto* c = app.add_subcommand("probe", "Fit the stage-0 probe (avg-pool, LayerNorm, Linear) and report its accuracy");
    auto cacheDir = std::make_shared<std::string>();
    auto opt = std::make_shared<pqw::Stage0Options>();
    auto jsonOut = std::make_shared<bool>(false);
    c->add_option("features", *cacheDir, "Feature cache folder")->required();
    c->add_option("--epochs", opt->epochs, "Epochs")->capture_default_str();
    c->add_option("--lr", opt->lr, "Learning rate (AdamW)")->capture_default_str();
    c->add_option("--seed", opt->seed, "Seed")->capture_default_str();
    c->add_flag("--json", *jsonOut, "Print the result as JSON");
    c->callback([cacheDir, opt, jsonOut] {
        pqw::initTorchThreads();
        const auto cache = pqw::FeatureCache::open(*cacheDir);
        auto m = pqw::ProtoModel::forCache(cache);
        const auto [hist, val, test] = withJob([&](pqw::JobContext& ctx) {
            Progress bar("probe");
            ctx.setProgressHandler([&](double f, const std::string& msg) { bar.update(f, msg); });
            auto h = pqw::trainStage0(m, cache, *opt, ctx);
            auto v = pqw::evaluate(m, cache, pqw::Split::Val, pqw::HeadKind::Stage0, ctx);
            auto t = pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Stage0, ctx);
            bar.finish();
            return std::make_tuple(h, v, t);
        });
        if (*jsonOut) {
            json h = json::array();
            for (const auto& r : hist) h.push_back(recordJson(r));
            std::cout << json{{"history", h}, {"val", evalJson(val, cache.classNames())},
                              {"test", evalJson(test, cache.classNames())}}
                             .dump(2)
                      << "\n";
        } else {
            std::cout << std::fixed << std::setprecision(2) << "stage-0 probe: val " << 100 * val.top1 << " %, test "
                      << 100 * test.top1 << " % (top-5 " << 100 * test.top5 << " %)\n";
        }
    });
}

void addTrain(CLI::App& app) {
    auto* c = app.add_subcommand("train", "Train a ProtoQuant head (stages 0, 1, 1b, 2) or the baseline on a feature cache");
    auto a = std::make_shared<TrainArgs>();
    c->add_option("features", a->features, "Feature cache folder")->required();
    c->add_option("--out,-o", a->out, "Checkpoint to write")->required();
    c->add_option("--history", a->history, "Training history JSON (default: <out>.history.json)");
    addTrainOptions(c, *a);
    c->callback([a] {
        pqw::initTorchThreads();
        const pqw::OutputLock lock(a->out, "train into it");  // held until the checkpoint is written
        const auto cache = pqw::FeatureCache::open(a->features);
        auto m = runTraining(cache, *a);
        m.save(a->out);
        json h = json::array();
        for (const auto& r : m.history()) h.push_back(recordJson(r));
        pqw::writeFileAtomic(a->history.empty() ? a->out + ".history.json" : a->history, h.dump(2));
        std::cout << "checkpoint: " << a->out << " (" << m.kind() << ", " << m.numPrototypes() << " prototypes)\n";
        if (m.hasHead()) {
            pqw::JobContext ctx;
            const auto e = pqw::evaluate(m, cache, pqw::Split::Val, pqw::HeadKind::Interpretable, ctx);
            std::cout << std::fixed << std::setprecision(2) << "validation top-1 " << 100 * e.top1 << " %\n";
        }
    });
}

void printEval(const pqw::Evaluation& e, const std::vector<std::string>& classes) {
    std::cout << std::fixed << std::setprecision(2) << e.split << ": " << e.samples << " samples, top-1 "
              << 100 * e.top1 << " %, top-5 " << 100 * e.top5 << " %\n";
    for (size_t c = 0; c < classes.size(); ++c)
        std::cout << "  " << std::left << std::setw(24) << classes[c] << std::right << std::setw(8) << 100 * e.perClass[c]
                  << " %\n";
    std::cout << "confusion (rows: true, columns: predicted)\n";
    for (const auto& row : e.confusion) {
        std::cout << " ";
        for (auto v : row) std::cout << std::setw(7) << v;
        std::cout << "\n";
    }
}

void addEval(CLI::App& app) {
    auto* c = app.add_subcommand("eval", "Evaluate a head: top-1, top-5, per-class accuracy, confusion matrix");
    auto model = std::make_shared<std::string>();
    auto features = std::make_shared<std::string>();
    auto split = std::make_shared<std::string>("test");
    auto head = std::make_shared<std::string>("interpretable");
    auto jsonOut = std::make_shared<bool>(false);
    c->add_option("model", *model, "Checkpoint")->required();
    c->add_option("--features,-f", *features, "Feature cache folder")->required();
    c->add_option("--split", *split, "Split")->check(CLI::IsMember({"val", "test"}))->capture_default_str();
    c->add_option("--head", *head, "Which classifier")
        ->check(CLI::IsMember({"stage0", "quantised", "interpretable"}))
        ->capture_default_str();
    c->add_flag("--json", *jsonOut, "Print JSON");
    c->callback([=] {
        pqw::initTorchThreads();
        const auto cache = pqw::FeatureCache::open(*features);
        const auto m = pqw::ProtoModel::load(*model);
        pqw::JobContext ctx;
        const auto e = pqw::evaluate(m, cache, *split == "val" ? pqw::Split::Val : pqw::Split::Test, parseHead(*head), ctx);
        if (*jsonOut) std::cout << evalJson(e, m.classNames()).dump(2) << "\n";
        else printEval(e, m.classNames());
    });
}

/// Reopens the dataset a cache was built from and checks it is the same one.
pqw::Dataset datasetOf(const pqw::FeatureCache& cache) {
    return cache.openDataset();
}

std::vector<pqw::PrototypeInfo> buildIndex(const pqw::ProtoModel& m, const pqw::FeatureCache& cache, int top) {
    return withJob([&](pqw::JobContext& ctx) {
        Progress bar("index");
        ctx.setProgressHandler([&](double f, const std::string& msg) { bar.update(f, msg); });
        auto idx = pqw::buildPrototypeIndex(m, cache, top, ctx);
        bar.finish();
        return idx;
    });
}

/// Writes a PNG strip per used prototype, manifest.csv and index.json into out.
void exportPrototypes(const pqw::ProtoModel& m, const pqw::Dataset& ds,
                      const std::vector<pqw::PrototypeInfo>& index, const std::string& out, bool all) {
    fs::create_directories(out);
    std::ostringstream csv;
    csv << "prototype,rank,sample,source,label,cell_y,cell_x,activation,box_x,box_y,box_w,box_h\n";
    json ji = json::array();
    int written = 0;
    for (const auto& info : index) {
        float wmax = 0;
        for (auto w : info.classWeights) wmax = std::max(wmax, w);
        if (!all && wmax <= 0) continue;
        char name[32];
        std::snprintf(name, sizeof name, "prototype_%04d.png", info.index);
        pqw::writePng((fs::path(out) / name).string(), pqw::renderPrototypeStrip(ds, info, m.classNames(), m.inputSize()));
        ++written;
        json patches = json::array();
        for (size_t r = 0; r < info.topPatches.size(); ++r) {
            const auto& p = info.topPatches[r];
            const auto& s = ds.sample(p.sample);
            std::string src = s.source;
            if (src.find_first_of(",\"") != std::string::npos) {
                std::string q = "\"";
                for (char ch : src) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
                src = q + "\"";
            }
            csv << info.index << "," << r << "," << p.sample << "," << src << "," << m.classNames()[size_t(s.label)] << ","
                << p.cellY << "," << p.cellX << "," << p.activation << "," << p.box.x << "," << p.box.y << "," << p.box.w
                << "," << p.box.h << "\n";
            patches.push_back({{"sample", p.sample}, {"source", s.source}, {"cell", {p.cellY, p.cellX}},
                               {"activation", p.activation}, {"box", {p.box.x, p.box.y, p.box.w, p.box.h}}});
        }
        ji.push_back({{"prototype", info.index}, {"usage", info.usage}, {"class_weights", info.classWeights},
                      {"image", name}, {"patches", patches}});
    }
    pqw::writeFileAtomic((fs::path(out) / "manifest.csv").string(), csv.str());
    pqw::writeFileAtomic((fs::path(out) / "index.json").string(), json{{"classes", m.classNames()}, {"prototypes", ji}}.dump(1));
    std::cout << "prototypes: " << written << " PNG strips, manifest.csv and index.json in " << out << "\n";
}

void addPrototypes(CLI::App& app) {
    auto* c = app.add_subcommand("prototypes", "Export every prototype's top training patches (PNG strips + CSV)");
    auto model = std::make_shared<std::string>();
    auto features = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto top = std::make_shared<int>(10);
    auto all = std::make_shared<bool>(false);
    c->add_option("model", *model, "Checkpoint")->required();
    c->add_option("--features,-f", *features, "Feature cache of the training data")->required();
    c->add_option("--top", *top, "Patches per prototype")->capture_default_str();
    c->add_option("--out,-o", *out, "Output folder")->required();
    c->add_flag("--all", *all, "Also prototypes no class uses");
    c->callback([=] {
        pqw::initTorchThreads();
        const auto cache = pqw::FeatureCache::open(*features);
        const auto m = pqw::ProtoModel::load(*model);
        m.checkCompatible(cache);
        const auto ds = datasetOf(cache);
        exportPrototypes(m, ds, buildIndex(m, cache, *top), *out, *all);
    });
}

json explanationJson(const pqw::LocalExplanation& ex, const std::vector<std::string>& classes) {
    json ev = json::array();
    for (const auto& e : ex.evidence)
        ev.push_back({{"prototype", e.prototype}, {"presence", e.presence}, {"weight", e.weight}, {"score", e.score},
                      {"cell", {e.cellY, e.cellX}}, {"box", {e.box.x, e.box.y, e.box.w, e.box.h}}});
    double sum = 0;
    for (const auto& e : ex.evidence) sum += e.score;
    return {{"predicted", classes[size_t(ex.predicted)]}, {"explained_class", classes[size_t(ex.explainedClass)]},
            {"logits", ex.logits}, {"probabilities", ex.probabilities},
            {"logit", ex.logits[size_t(ex.explainedClass)]}, {"sum_of_scores", sum}, {"evidence", ev}};
}

/// Features of one image file through the model's backbone.
std::vector<float> imageFeatures(const pqw::ProtoModel& m, const pqw::Backbone& bb, const cv::Mat& rgb) {
    const auto pp = bb.preprocess(m.inputSize());
    std::vector<float> px(size_t(3) * pp.size * pp.size);
    pqw::preprocessImage(rgb, pp, px.data());
    const auto s = bb.featureShape(m.inputSize());
    std::vector<float> f(size_t(s[0] * s[1] * s[2]));
    bb.forward(px.data(), 1, pp.size, f.data());
    return f;
}

/// The head's backbone, checked against it; a TorchScript one only from --backbone (userPath).
pqw::Backbone backboneOf(const pqw::ProtoModel& m, const std::string& headPath, const std::string& userPath) {
    return pqw::openRecordedBackbone(m.backboneSpec(), m.backboneId(), headPath, userPath);
}

void addExplainProto(CLI::App& app) {
    auto* c = app.add_subcommand("explain-proto", "\"This looks like that\" for one image: prototypes with their boxes");
    auto image = std::make_shared<std::string>();
    auto model = std::make_shared<std::string>();
    auto features = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>("explanation.png");
    auto jsonPath = std::make_shared<std::string>();
    auto cls = std::make_shared<std::string>();
    auto shown = std::make_shared<int>(5);
    c->add_option("image", *image, "Image file")->required();
    c->add_option("--model,-m", *model, "Checkpoint")->required();
    auto backbone = std::make_shared<std::string>();
    c->add_option("--backbone", *backbone, "The head's backbone file (needed for a TorchScript backbone; checked by hash before loading)");
    c->add_option("--features,-f", *features, "Training feature cache (adds each prototype's nearest patches)");
    c->add_option("--class", *cls, "Explain this class (name or index; default: the prediction)");
    c->add_option("--out,-o", *out, "PNG to write")->capture_default_str();
    c->add_option("--json", *jsonPath, "Also write the explanation as JSON");
    c->add_option("--show", *shown, "Prototypes drawn")->capture_default_str();
    c->callback([=] {
        pqw::initTorchThreads();
        const auto m = pqw::ProtoModel::load(*model);
        const auto bb = backboneOf(m, *model, *backbone);
        const cv::Mat rgb = pqw::loadImageFile(*image);
        const auto f = imageFeatures(m, bb, rgb);
        int k = -1;
        if (!cls->empty()) {
            const auto& names = m.classNames();
            auto it = std::find(names.begin(), names.end(), *cls);
            if (it != names.end()) k = int(it - names.begin());
            else {
                try {
                    k = std::stoi(*cls);
                } catch (...) {
                    k = -2;
                }
                if (k < 0 || k >= int(names.size())) throw pqw::Error("unknown class '" + *cls + "'");
            }
        }
        const auto shape = m.featureShape();
        const auto ex = pqw::explainLocal(m, f.data(), int(shape[1]), int(shape[2]), m.stride(), m.receptiveField(),
                                          m.inputSize(), k);
        std::vector<pqw::PrototypeInfo> index;
        std::unique_ptr<pqw::Dataset> ds;
        if (!features->empty()) {
            const auto cache = pqw::FeatureCache::open(*features);
            m.checkCompatible(cache);
            ds = std::make_unique<pqw::Dataset>(datasetOf(cache));
            index = buildIndex(m, cache, 3);
        }
        pqw::writePng(*out, pqw::renderLocalExplanation(rgb, ex, ds ? &index : nullptr, ds.get(), m.classNames(),
                                                        m.inputSize(), *shown));
        const json j = explanationJson(ex, m.classNames());
        if (!jsonPath->empty()) pqw::writeFileAtomic(*jsonPath, j.dump(2));
        std::cout << std::fixed << std::setprecision(4) << "predicted " << j["predicted"].get<std::string>()
                  << "; explaining " << j["explained_class"].get<std::string>() << ": logit "
                  << j["logit"].get<double>() << " = sum of " << ex.evidence.size() << " prototype scores "
                  << j["sum_of_scores"].get<double>() << "\n";
        for (size_t i = 0; i < std::min<size_t>(size_t(*shown), ex.evidence.size()); ++i) {
            const auto& e = ex.evidence[i];
            std::cout << "  #" << e.prototype << "  score " << e.score << " = weight " << e.weight << " x presence "
                      << e.presence << "  at cell (" << e.cellY << "," << e.cellX << ")\n";
        }
        std::cout << "figure: " << *out << "\n";
    });
}

void addMetrics(CLI::App& app) {
    auto* c = app.add_subcommand("metrics", "Interpretability table: sizes, top-k curve, stability (vs a baseline)");
    auto model = std::make_shared<std::string>();
    auto baseline = std::make_shared<std::string>();
    auto features = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>("metrics.json");
    auto csvOut = std::make_shared<std::string>();
    auto so = std::make_shared<pqw::StabilityOptions>();
    c->add_option("model", *model, "ProtoQuant checkpoint")->required();
    c->add_option("--baseline", *baseline, "Baseline checkpoint to compare side by side");
    auto backbone = std::make_shared<std::string>();
    c->add_option("--backbone", *backbone, "The heads' backbone file (needed for a TorchScript backbone; checked by hash before loading)");
    c->add_option("--features,-f", *features, "Feature cache (its dataset provides the test images)")->required();
    c->add_option("--samples", so->samples, "Test images for stability")->capture_default_str();
    c->add_option("--seed", so->seed, "Seed of the image sample and the noise")->capture_default_str();
    c->add_option("--out,-o", *out, "JSON table")->capture_default_str();
    c->add_option("--csv", *csvOut, "Also write the table as CSV");
    c->callback([=] {
        pqw::initTorchThreads();
        const auto cache = pqw::FeatureCache::open(*features);
        const auto ds = datasetOf(cache);
        std::vector<std::pair<std::string, pqw::ProtoModel>> models;
        models.emplace_back("protoquant", pqw::ProtoModel::load(*model));
        if (!baseline->empty()) models.emplace_back("baseline", pqw::ProtoModel::load(*baseline));
        json table = json::object();
        std::ostringstream csv;
        csv << "model,metric,value\n";
        for (auto& [name, m] : models) {
            m.checkCompatible(cache);
            const auto bb = backboneOf(m, name == "baseline" ? *baseline : *model, *backbone);
            json j;
            withJob([&](pqw::JobContext& ctx) {
                Progress bar("metrics " + name);
                ctx.setProgressHandler([&](double f, const std::string& msg) { bar.update(f, msg); });
                const auto sz = pqw::sizeMetrics(m);
                const auto test = pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx);
                const auto curve = pqw::topKAccuracyCurve(m, cache, pqw::Split::Test, {1, 2, 3, 5, 10, 20, 50}, ctx);
                const auto stab = pqw::prototypeStability(m, ds, bb, *so, ctx);
                const auto index = pqw::buildPrototypeIndex(m, cache, 10, ctx);
                const double purity = pqw::partPurity(index, ds, m.inputSize());
                bar.finish();
                json cj = json::array(), sj = json::array();
                for (const auto& p : curve) cj.push_back({{"k", p.k}, {"top1", p.top1}});
                for (const auto& r : stab)
                    sj.push_back({{"perturbation", r.perturbation}, {"samples", r.samples},
                                  {"presence_change", r.presenceChange}, {"presence_change_std", r.presenceChangeStd},
                                  {"location_change_cells", r.locationChange}, {"top_overlap", r.topOverlap},
                                  {"prediction_kept", r.predictionKept}});
                j = {{"test_top1", test.top1}, {"prototypes", m.numPrototypes()}, {"local_size", sz.localSize},
                     {"local_size_mean", sz.localSizeMean}, {"global_size", sz.globalSize}, {"top_k_curve", cj},
                     {"stability", sj}, {"part_purity", purity < 0 ? json(nullptr) : json(purity)}};
                csv << name << ",test_top1," << test.top1 << "\n"
                    << name << ",local_size_mean," << sz.localSizeMean << "\n"
                    << name << ",global_size," << sz.globalSize << "\n";
                for (const auto& p : curve) csv << name << ",top" << p.k << "_per_class_top1," << p.top1 << "\n";
                for (const auto& r : stab)
                    csv << name << "," << r.perturbation << "_presence_change," << r.presenceChange << "\n"
                        << name << "," << r.perturbation << "_location_change," << r.locationChange << "\n"
                        << name << "," << r.perturbation << "_top_overlap," << r.topOverlap << "\n";
                if (purity >= 0) csv << name << ",part_purity," << purity << "\n";
                return 0;
            });
            table[name] = j;
        }
        pqw::writeFileAtomic(*out, table.dump(2));
        if (!csvOut->empty()) pqw::writeFileAtomic(*csvOut, csv.str());
        std::cout << std::fixed << std::setprecision(4);
        std::cout << std::left << std::setw(34) << "metric";
        for (auto& [name, m] : models) std::cout << std::setw(14) << name;
        std::cout << "\n";
        auto row = [&](const std::string& label, auto get) {
            std::cout << std::left << std::setw(34) << label;
            for (auto& [name, m] : models) std::cout << std::setw(14) << get(table[name]);
            std::cout << "\n";
        };
        row("test top-1", [](const json& j) { return j["test_top1"].get<double>(); });
        row("local size (mean)", [](const json& j) { return j["local_size_mean"].get<double>(); });
        row("global size", [](const json& j) { return double(j["global_size"].get<int>()); });
        for (size_t s = 0; s < 3; ++s) {
            const std::string p = table["protoquant"]["stability"][s]["perturbation"].get<std::string>();
            row(p + ": presence change", [s](const json& j) { return j["stability"][s]["presence_change"].get<double>(); });
            row(p + ": location change (cells)",
                [s](const json& j) { return j["stability"][s]["location_change_cells"].get<double>(); });
            row(p + ": top-5 overlap", [s](const json& j) { return j["stability"][s]["top_overlap"].get<double>(); });
        }
        std::cout << "table: " << *out << "\n";
    });
}

}  // namespace

void registerProtoCommands(CLI::App& app) {
    addProbe(app);
    addTrain(app);
    addEval(app);
    addPrototypes(app);
    addExplainProto(app);
    addMetrics(app);
}

// Used by `pqw demo`.
pqw::ProtoModel demoTrain(const pqw::FeatureCache& cache, int codes, int epochs1, int epochs2, bool baseline) {
    TrainArgs a;
    a.s1.codes = codes;
    a.s1.epochs = epochs1;
    a.s2.epochs = epochs2;
    a.baseline = baseline;
    a.baselinePrototypes = codes;
    return runTraining(cache, a);
}

void demoExport(const pqw::ProtoModel& m, const pqw::FeatureCache& cache, const std::string& out, json& report) {
    const auto ds = datasetOf(cache);
    pqw::JobContext ctx;
    for (auto split : {pqw::Split::Val, pqw::Split::Test})
        for (auto head : {pqw::HeadKind::Stage0, pqw::HeadKind::Quantised, pqw::HeadKind::Interpretable}) {
            const char* hn = head == pqw::HeadKind::Stage0 ? "stage0" : head == pqw::HeadKind::Quantised ? "quantised" : "protoquant";
            report["accuracy"][pqw::splitName(split)][hn] = pqw::evaluate(m, cache, split, head, ctx).top1;
        }
    const auto index = buildIndex(m, cache, 8);
    exportPrototypes(m, ds, index, (fs::path(out) / "prototypes").string(), false);
    // Explain the first few test images.
    const auto test = cache.indices(pqw::Split::Test);
    const auto shape = m.featureShape();
    std::vector<float> f(size_t(shape[0] * shape[1] * shape[2]));
    fs::create_directories(fs::path(out) / "explanations");
    for (size_t i = 0; i < std::min<size_t>(4, test.size()); ++i) {
        cache.read(test[i], f.data());
        const auto ex = pqw::explainLocal(m, f.data(), int(shape[1]), int(shape[2]), m.stride(), m.receptiveField(),
                                          m.inputSize());
        const std::string png = (fs::path(out) / "explanations" / ("test_" + std::to_string(i) + ".png")).string();
        pqw::writePng(png, pqw::renderLocalExplanation(ds.loadImage(test[i]), ex, &index, &ds, m.classNames(), m.inputSize()));
        report["explanations"].push_back({{"sample", test[i]}, {"png", png}, {"explanation", explanationJson(ex, m.classNames())}});
    }
}

}  // namespace pqwcli
