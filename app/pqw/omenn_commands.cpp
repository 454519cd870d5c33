// pqw's OMENN commands: explain (OMENN and the baselines, one class, a contrast, or all
// classes) and faithfulness (the metrics table over a seeded test sample).
#include <algorithm>
#include <fstream>
#include <random>

#include <opencv2/imgproc.hpp>

#include "commands.h"
#include "common.h"
#include "pqw/faithfulness.h"
#include "pqw/heatmap.h"
#include "pqw/method_text.h"
#include "pqw/recorded_backbone.h"
#include "pqw/omenn.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"
#include "pqw/render.h"

namespace pqwcli {
namespace {

struct LoadedModel {
    pqw::ProtoModel head;
    pqw::Backbone backbone;
    pqw::Explainer explainer;
};

LoadedModel loadModel(const std::string& path, const std::string& headName, const std::string& backbonePath = {}) {
    LoadedModel l;
    l.head = pqw::ProtoModel::load(path);
    // Checked against the head before anything runs; TorchScript only from --backbone.
    l.backbone = pqw::openRecordedBackbone(l.head.backboneSpec(), l.head.backboneId(), path, backbonePath);
    pqw::ExplainHead h = pqw::ExplainHead::Auto;
    if (headName == "stage0") h = pqw::ExplainHead::Stage0;
    else if (headName == "interpretable") h = pqw::ExplainHead::Interpretable;
    l.explainer = pqw::Explainer::fromModel(l.head, l.backbone, h);
    return l;
}

int classIndex(const std::vector<std::string>& names, const std::string& s) {
    auto it = std::find(names.begin(), names.end(), s);
    if (it != names.end()) return int(it - names.begin());
    try {
        size_t used = 0;
        const int k = std::stoi(s, &used);
        if (used == s.size() && k >= 0 && k < int(names.size())) return k;
    } catch (...) {
    }
    throw pqw::Error("unknown class '" + s + "'");
}

pqw::Method methodOf(const std::string& s) {
    pqw::Method m;
    if (!pqw::parseMethod(s, m))
        throw pqw::Error("unknown method '" + s + "' (omenn, ig, gxi, saliency, smoothgrad, gradcam, occlusion)");
    return m;
}

std::vector<float> preprocessAt(const pqw::Backbone& bb, const cv::Mat& rgb, int size) {
    const auto pp = bb.preprocess(size);
    std::vector<float> px(size_t(3) * pp.size * pp.size);
    pqw::preprocessImage(rgb, pp, px.data());
    return px;
}

json attributionJson(const pqw::Attribution& a) {
    json j = {{"method", a.method},       {"output", a.output},       {"weight_sum", a.weightSum},
              {"height", a.height},       {"width", a.width}};
    if (a.method == "omenn" || !a.biasMap.empty()) {
        j["bias_sum"] = a.biasSum;
        j["bias_share"] = a.output != 0 ? a.biasSum / a.output : 0.0;
        json layers = json::object();
        for (const auto& [k, v] : a.biasByLayer) layers[k] = v;
        j["bias_by_layer"] = layers;
    }
    if (!std::isnan(a.completenessError)) j["completeness_error"] = a.completenessError;
    return j;
}

struct ExplainArgs {
    std::string image, model, out = "heat.png", jsonPath, method = "omenn", target, vs, head = "auto";
    std::string colormap = "auto", layer, script, compare, backbone, npy;
    int scriptSize = 224;
    bool allClasses = false, absolute = false, nearest = false, bias = false, perChannel = false;
    PreprocessArgs pre;
    int threads = 0;
    double percentile = 99, alpha = 0.6;
    pqw::ExplainOptions opt;
};

/// The input image as the model saw it (resized / cropped) with the map as an overlay.
cv::Mat overlayOf(const cv::Mat& rgb, const std::vector<float>& map, int h, int w, const pqw::Preprocess& pp,
                  const ExplainArgs& a) {
    const int size = pp.size;
    cv::Mat img = pqw::preprocessedView(rgb, pp);
    pqw::HeatmapOptions ho;
    ho.signedMap = !a.absolute;
    ho.colormap = a.colormap;
    ho.percentile = a.percentile;
    ho.alpha = a.alpha;
    ho.smooth = !a.nearest;
    ho.width = size;
    ho.height = size;
    return pqw::blendOverlay(img, pqw::renderHeatmap(map, h, w, ho));
}

/// --npy FILE: C_w as float32 H x W (summed over channels) or, with --per-channel, C x H x W;
/// with --with-bias also C_b (H x W) in FILE-bias.npy. The paths go into the JSON.
void writeNpyMaps(const ExplainArgs& a, const pqw::Attribution& at, json& j) {
    if (a.npy.empty()) return;
    if (a.perChannel) {
        if (at.perChannel.size() != size_t(at.channels) * at.height * at.width)
            throw pqw::Error("--per-channel: " + at.method + " has no per-channel values (only a map)");
        pqw::writeNpy(a.npy, at.perChannel, {at.channels, at.height, at.width});
    } else {
        pqw::writeNpy(a.npy, at.map, {at.height, at.width});
    }
    j["npy"] = {{"map", a.npy},
                {"shape", a.perChannel ? json{at.channels, at.height, at.width} : json{at.height, at.width}},
                {"what", a.perChannel ? "per input channel" : "summed over the input channels"}};
    std::cout << "wrote " << a.npy << "\n";
    if (a.bias && !at.biasMap.empty()) {
        const fs::path p(a.npy);
        const std::string bp = (p.parent_path() / (p.stem().string() + "-bias.npy")).string();
        pqw::writeNpy(bp, at.biasMap, {at.height, at.width});
        j["npy"]["bias"] = bp;
        std::cout << "wrote " << bp << "\n";
    }
}

std::vector<float> shownMap(const pqw::Attribution& a, bool withBias) {
    auto m = a.map;
    if (withBias && a.biasMap.size() == m.size())
        for (size_t i = 0; i < m.size(); ++i) m[i] += a.biasMap[i];
    return m;
}

/// `pqw explain --script`: OMENN over a TorchScript classifier's graph.
void explainScript(const ExplainArgs& a) {
    if (a.method != "omenn") throw pqw::Error("explain --script supports --method omenn only");
    if (a.allClasses || !a.vs.empty()) throw pqw::Error("explain --script: --all-classes and --vs need a head checkpoint");
    // The user's preprocessing, or ImageNet statistics with a straight resize (the default).
    pqw::Preprocess pp;
    if (const auto choice = a.pre.choice()) {
        pp = choice->at(a.scriptSize);
    } else {
        pp.size = a.scriptSize;
        pp.mean = {0.485f, 0.456f, 0.406f};
        pp.stdev = {0.229f, 0.224f, 0.225f};
    }
    const cv::Mat rgb = pqw::loadImageFile(a.image);
    std::vector<float> x(size_t(3) * pp.size * pp.size);
    pqw::preprocessImage(rgb, pp, x.data());
    const auto z = pqw::torchScriptOutputs(a.script, x.data(), 3, pp.size, pp.size);
    int t = int(std::max_element(z.begin(), z.end()) - z.begin());
    if (!a.target.empty()) {
        size_t used = 0;
        try {
            t = std::stoi(a.target, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != a.target.size() || t < 0 || t >= int(z.size()))
            throw pqw::Error("--target " + a.target + ": " + a.script + " has outputs 0.." + std::to_string(z.size() - 1));
    }
    const auto at = pqw::explainTorchScript(a.script, x.data(), 3, pp.size, pp.size, t);
    pqw::writePng(a.out, overlayOf(rgb, shownMap(at, a.bias), at.height, at.width, pp, a));
    json j = {{"image", a.image}, {"script", a.script}, {"target", t}, {"explanation", attributionJson(at)},
              {"preprocess", pp.fingerprint()}};
    std::cout << pqw::describeNumbers(at, "score of output " + std::to_string(t)) << "\nwrote " << a.out << "\n";
    writeNpyMaps(a, at, j);
    if (!a.jsonPath.empty()) pqw::writeFileAtomic(a.jsonPath, j.dump(2) + "\n");
}

void addExplain(CLI::App& app) {
    auto a = std::make_shared<ExplainArgs>();
    auto* c = app.add_subcommand("explain", "Attribution map of one image: OMENN or a baseline");
    c->add_option("image", a->image, "Image file")->required();
    c->add_option("--model,-m", a->model, "Head checkpoint (.pqwh); its backbone is reopened");
    c->add_option("--backbone", a->backbone, "The head's backbone file (needed for a TorchScript backbone; checked by hash before loading)");
    c->add_option("--script", a->script, "Or: a TorchScript classifier (.pt; OMENN only; preprocessing: "
                                         "--mean/--std/--resize/--crop, default ImageNet)");
    c->add_option("--size", a->scriptSize, "Input size for --script")->capture_default_str();
    a->pre.add(c);
    c->add_option("--method", a->method, "omenn|ig|gxi|saliency|smoothgrad|gradcam|occlusion")->capture_default_str();
    c->add_option("--head", a->head, "auto|stage0|interpretable")->capture_default_str();
    c->add_option("--target,--class", a->target, "Class (name or index; default: the prediction)");
    c->add_option("--vs", a->vs, "Contrast: explain target minus this class (OMENN and gradient methods)");
    c->add_flag("--all-classes", a->allClasses, "OMENN rows of every class: one PNG per class (out-<class>.png)");
    c->add_option("--compare", a->compare,
                  "A second head checkpoint on the same features: its map goes right of the first in one PNG, "
                  "its numbers under \"compare\" in the JSON (each explains its own prediction unless --target)");
    c->add_option("--out,-o", a->out, "PNG to write")->capture_default_str();
    c->add_option("--json", a->jsonPath, "Also write numbers (logit, contribution sums, bias share) as JSON");
    c->add_option("--steps", a->opt.steps, "IG steps")->capture_default_str();
    c->add_option("--baseline", a->opt.baseline, "IG / completeness baseline value")->capture_default_str();
    c->add_option("--samples", a->opt.samples, "SmoothGrad samples")->capture_default_str();
    c->add_option("--noise", a->opt.noise, "SmoothGrad noise (fraction of the input range)")->capture_default_str();
    c->add_option("--layer", a->opt.layer, "Grad-CAM layer (default: the trunk's cut)");
    c->add_option("--patch", a->opt.patch, "Occlusion patch (px)")->capture_default_str();
    c->add_option("--stride", a->opt.stride, "Occlusion stride (px)")->capture_default_str();
    c->add_flag("--with-bias", a->bias, "OMENN: show C_w + C_b (default: C_w); with --npy also write C_b to FILE-bias.npy");
    c->add_option("--npy", a->npy, "Also write the map as a NumPy .npy (float32 H x W, summed over channels)");
    c->add_flag("--per-channel", a->perChannel, "With --npy: keep the input channels (C x H x W)");
    c->add_flag("--absolute", a->absolute, "Render |map| with a sequential colour map");
    c->add_option("--colormap", a->colormap, "auto|bwr|jet|viridis|inferno|magma|gray")->capture_default_str();
    c->add_option("--percentile", a->percentile, "Symmetric clipping percentile of |map|")->capture_default_str();
    c->add_option("--alpha", a->alpha, "Overlay opacity")->capture_default_str();
    c->add_flag("--nearest", a->nearest, "Nearest-neighbour upsampling (default: bilinear)");
    c->add_option("--threads", a->threads, "Torch threads (0 = all cores)")->capture_default_str();
    c->callback([a] {
        pqw::initTorchThreads(a->threads);
        if (a->perChannel && a->npy.empty()) throw pqw::Error("explain: --per-channel shapes the --npy file; give --npy FILE");
        if (!a->script.empty()) return explainScript(*a);
        if (a->model.empty()) throw pqw::Error("explain: give --model HEAD.pqwh or --script MODEL.pt");
        if (a->pre.given())
            throw pqw::Error("explain: --mean/--std/--resize/--crop apply to --script; a head's preprocessing is "
                             "the one it was trained with (recorded in " + a->model + ")");
        if (!a->npy.empty() && (a->allClasses || !a->compare.empty()))
            throw pqw::Error("explain: --npy writes one map; drop --all-classes / --compare");
        if (!a->compare.empty() && a->allClasses) throw pqw::Error("explain: --compare shows one class per model; drop --all-classes");
        auto l = loadModel(a->model, a->head, a->backbone);
        const int size = l.head.inputSize();
        const cv::Mat rgb = pqw::loadImageFile(a->image);
        const auto pp = l.backbone.preprocess(size);
        const auto x = preprocessAt(l.backbone, rgb, size);
        const auto names = l.explainer.classNames();
        const auto logits = l.explainer.logits(x.data(), 1, size);
        const int pred = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
        json j = {{"image", a->image}, {"model", a->model}, {"head", l.explainer.headName()},
                  {"predicted", names[size_t(pred)]}, {"logits", logits}};
        if (a->allClasses) {
            auto all = pqw::explainAllClasses(l.explainer, x.data(), size, a->opt);
            const fs::path base(a->out);
            json per = json::array();
            for (size_t k = 0; k < all.size(); ++k) {
                const auto p = base.parent_path() / (base.stem().string() + "-" + std::to_string(k) + base.extension().string());
                pqw::writePng(p.string(), overlayOf(rgb, shownMap(all[k], a->bias), all[k].height, all[k].width, pp, *a));
                auto jk = attributionJson(all[k]);
                jk["class"] = names[k];
                jk["png"] = p.string();
                per.push_back(jk);
                std::cout << pqw::describeNumbers(all[k], "score for " + names[k]) << "  -> " << p.string() << "\n";
            }
            j["classes"] = per;
        } else {
            pqw::Target t;
            t.index = a->target.empty() ? pred : classIndex(names, a->target);
            if (!a->vs.empty()) t.contrast = classIndex(names, a->vs);
            const pqw::Method m = methodOf(a->method);
            auto at = pqw::explain(l.explainer, m, x.data(), size, t, a->opt);
            cv::Mat png = overlayOf(rgb, shownMap(at, a->bias), at.height, at.width, pp, *a);
            if (!a->compare.empty()) {
                // The second model, on the same trunk (checked), explained the same way.
                pqw::ProtoModel other = pqw::ProtoModel::load(a->compare);
                const std::string why = l.head.differencesFrom(other);
                if (!why.empty()) throw pqw::Error(a->compare + ": does not fit " + a->model + ": " + why);
                pqw::ExplainHead h = pqw::ExplainHead::Auto;
                if (a->head == "stage0") h = pqw::ExplainHead::Stage0;
                else if (a->head == "interpretable") h = pqw::ExplainHead::Interpretable;
                const auto e2 = pqw::Explainer::fromModel(other, l.backbone, h);
                const auto z2 = e2.logits(x.data(), 1, size);
                const int pred2 = int(std::max_element(z2.begin(), z2.end()) - z2.begin());
                pqw::Target t2 = t;
                if (a->target.empty()) t2.index = pred2;
                auto a2 = pqw::explain(e2, m, x.data(), size, t2, a->opt);
                cv::hconcat(png, overlayOf(rgb, shownMap(a2, a->bias), a2.height, a2.width, pp, *a), png);
                json jc = {{"model", a->compare}, {"head", e2.headName()}, {"predicted", names[size_t(pred2)]},
                           {"logits", z2}, {"target", names[size_t(t2.index)]}, {"explanation", attributionJson(a2)}};
                j["compare"] = jc;
                std::cout << "compare (" << a->compare << "): "
                          << pqw::describeNumbers(a2, "score for " + names[size_t(t2.index)]) << "\n";
            }
            pqw::writePng(a->out, png);
            j["target"] = names[size_t(t.index)];
            if (t.contrast >= 0) j["versus"] = names[size_t(t.contrast)];
            j["explanation"] = attributionJson(at);
            const std::string score = t.contrast >= 0 ? "score for " + names[size_t(t.index)] + " minus " + names[size_t(t.contrast)]
                                                      : "score for " + names[size_t(t.index)];
            std::cout << pqw::describeNumbers(at, score) << "\nwrote " << a->out << "\n";
            writeNpyMaps(*a, at, j);
        }
        if (!a->jsonPath.empty()) pqw::writeFileAtomic(a->jsonPath, j.dump(2) + "\n");
    });
}

void addFaithfulness(CLI::App& app) {
    auto model = std::make_shared<std::string>(), features = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>("faithfulness.csv"), methods = std::make_shared<std::string>("omenn,gxi,ig,saliency,smoothgrad,gradcam,occlusion");
    auto head = std::make_shared<std::string>("auto");
    auto n = std::make_shared<int>(100), sanity = std::make_shared<int>(5), threads = std::make_shared<int>(0);
    auto seed = std::make_shared<uint64_t>(0);
    auto eo = std::make_shared<pqw::ExplainOptions>();
    auto fo = std::make_shared<pqw::FaithfulnessOptions>();
    auto* c = app.add_subcommand("faithfulness", "Faithfulness metrics of attribution methods over a seeded test sample");
    c->add_option("--model,-m", *model, "Head checkpoint")->required();
    auto backbone = std::make_shared<std::string>();
    c->add_option("--backbone", *backbone, "The head's backbone file (needed for a TorchScript backbone; checked by hash before loading)");
    c->add_option("--features,-f", *features, "Feature cache of the model (names the dataset and its test split)")->required();
    c->add_option("--methods", *methods, "Comma-separated methods")->capture_default_str();
    c->add_option("--head", *head, "auto|stage0|interpretable")->capture_default_str();
    c->add_option("--n", *n, "Test images (seeded sample)")->capture_default_str();
    c->add_option("--sanity", *sanity, "Images for the randomisation check")->capture_default_str();
    c->add_option("--seed", *seed, "Sample seed")->capture_default_str();
    c->add_option("--steps", eo->steps, "IG steps")->capture_default_str();
    c->add_option("--cell", fo->cell, "Deletion / insertion cell (px)")->capture_default_str();
    c->add_option("--curve-steps", fo->steps, "Points of the deletion / insertion / flipping curves")->capture_default_str();
    c->add_option("--out,-o", *out, "CSV to write")->capture_default_str();
    c->add_option("--threads", *threads, "Torch threads (0 = all cores)")->capture_default_str();
    c->callback([=] {
        pqw::initTorchThreads(*threads);
        auto l = loadModel(*model, *head, *backbone);
        const auto cache = pqw::FeatureCache::open(*features);
        l.head.checkCompatible(cache);
        const auto ds = cache.openDataset();
        std::vector<pqw::Method> ms;
        std::stringstream ss(*methods);
        for (std::string s; std::getline(ss, s, ',');)
            if (!s.empty()) ms.push_back(methodOf(s));
        auto ids = ds.indices(pqw::Split::Test);
        if (ids.empty()) {
            ids = ds.indices(pqw::Split::Val);
            std::cerr << "faithfulness: the dataset has no test split; using the validation split\n";
        }
        if (ids.empty()) throw pqw::Error("faithfulness: " + *features + " has no test or validation images");
        std::mt19937_64 rng(*seed);
        std::shuffle(ids.begin(), ids.end(), rng);
        ids.resize(std::min(ids.size(), size_t(*n)));
        const int size = l.head.inputSize();
        std::vector<std::vector<float>> imgs;
        std::vector<int> targets;
        for (size_t id : ids) {
            imgs.push_back(preprocessAt(l.backbone, ds.loadImage(id), size));
            const auto z = l.explainer.logits(imgs.back().data(), 1, size);
            targets.push_back(int(std::max_element(z.begin(), z.end()) - z.begin()));
        }
        fo->seed = *seed;
        auto table = withJob([&](pqw::JobContext& ctx) {
            Progress bar("faithfulness");
            ctx.setProgressHandler([&](double f, const std::string& msg) { bar.update(f, msg); });
            auto t = pqw::faithfulnessTable(l.explainer, ms, imgs, targets, size, *eo, *fo, *sanity, ctx);
            bar.finish();
            return t;
        });
        const std::vector<std::string> cols{"deletion_auc", "insertion_auc", "pixel_flipping_auc", "faithfulness_corr",
                                            "completeness_residual", "randomisation_spearman"};
        std::ostringstream f;  // written atomically once complete
        f << "method,images";
        for (const auto& k : cols) f << "," << k << "_mean," << k << "_std";
        f << "\n";
        std::cout << std::left << std::setw(12) << "method";
        for (const auto& k : cols) std::cout << std::setw(24) << k;
        std::cout << "\n";
        for (const auto& r : table) {
            f << r.method << "," << r.images;
            std::cout << std::left << std::setw(12) << r.method;
            for (const auto& k : cols) {
                auto it = r.metrics.find(k);
                if (it == r.metrics.end()) {
                    f << ",,";
                    std::cout << std::setw(24) << "-";
                } else {
                    f << "," << it->second.first << "," << it->second.second;
                    std::ostringstream cell;
                    cell << std::setprecision(4) << it->second.first << " +- " << std::setprecision(3) << it->second.second;
                    std::cout << std::setw(24) << cell.str();
                }
            }
            f << "\n";
            std::cout << "\n";
        }
        pqw::writeFileAtomic(*out, f.str());
        std::cout << "wrote " << *out << "\n";
    });
}

}  // namespace

void registerOmennCommands(CLI::App& app) {
    addExplain(app);
    addFaithfulness(app);
}

}  // namespace pqwcli
