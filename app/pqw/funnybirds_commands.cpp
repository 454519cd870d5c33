// pqw funnybirds-eval: the part-based evaluation of every explanation method on the
// stage-0 head and on the ProtoQuant head (pqw/funnybirds_eval.h; docs/omenn.md).
#include <algorithm>
#include <chrono>
#include <random>

#include "commands.h"
#include "common.h"
#include "pqw/funnybirds.h"
#include "pqw/funnybirds_eval.h"
#include "pqw/omenn.h"
#include "pqw/protoquant.h"
#include "pqw/recorded_backbone.h"

namespace pqwcli {
namespace {

namespace fb = pqw::funnybirds;

struct EvalArgs {
    std::string model, backbone, dataset = "funnybirds", out = "funnybirds-eval.csv", heads = "both", features;
    std::string methods = "omenn,omenn-cw,gxi,ig,saliency,smoothgrad,gradcam,occlusion,protoquant";
    int n = 20, threads = 0;
    uint64_t seed = 0;
    pqw::ExplainOptions eo;
};

void addFunnyBirdsEval(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    a->eo.steps = 16;
    a->eo.samples = 8;
    a->eo.patch = 16;
    a->eo.stride = 8;
    auto* c = app.add_subcommand("funnybirds-eval",
                                 "Part-based evaluation of explanation methods on funnybirds (FunnyBirds protocols)");
    c->add_option("--model,-m", a->model, "Head checkpoint (.pqwh) trained on a funnybirds dataset")->required();
    c->add_option("--backbone", a->backbone, "The head's backbone file (for a TorchScript backbone)");
    c->add_option("--dataset,-d", a->dataset, "The funnybirds dataset (funnybirds[:images=N,size=S,seed=K])")
        ->capture_default_str();
    c->add_option("--heads", a->heads, "stage0, interpretable or both")
        ->check(CLI::IsMember({"stage0", "interpretable", "both"}))
        ->capture_default_str();
    c->add_option("--methods", a->methods, "Comma-separated: omenn (C_w + C_b), omenn-cw, gxi, ig, saliency, smoothgrad, "
                                           "gradcam, occlusion, protoquant (interpretable head)")
        ->capture_default_str();
    c->add_option("--n", a->n, "Test images (a seeded sample)")->capture_default_str()->check(CLI::Range(1, 100000));
    c->add_option("--seed", a->seed, "Sample seed")->capture_default_str();
    c->add_option("--steps", a->eo.steps, "IG steps")->capture_default_str();
    c->add_option("--samples", a->eo.samples, "SmoothGrad samples")->capture_default_str();
    c->add_option("--patch", a->eo.patch, "Occlusion patch (px)")->capture_default_str();
    c->add_option("--stride", a->eo.stride, "Occlusion stride (px)")->capture_default_str();
    c->add_option("--features,-f", a->features, "The head's feature cache: adds part purity of the prototypes");
    c->add_option("--out,-o", a->out, "CSV to write")->capture_default_str();
    c->add_option("--threads", a->threads, "Torch threads (0 = all cores)")->capture_default_str();
    c->callback([a] {
        pqw::initTorchThreads(a->threads);
        if (!fb::isFunnyBirdsName(a->dataset)) throw pqw::Error("--dataset " + a->dataset + ": not a funnybirds dataset");
        pqw::DatasetSpec spec;
        spec.path = a->dataset;
        const auto ds = pqw::Dataset::open(spec);
        const auto head = pqw::ProtoModel::load(a->model);
        if (head.classNames() != ds.classNames())
            throw pqw::Error(a->model + ": its classes are not funnybirds' (train it on " + a->dataset + ")");
        const auto bb = pqw::openRecordedBackbone(head.backboneSpec(), head.backboneId(), a->model, a->backbone);
        const auto opts = fb::optionsOf(ds);
        auto ids = ds.indices(pqw::Split::Test);
        if (ids.empty()) ids = ds.indices(pqw::Split::Val);
        if (ids.empty()) throw pqw::Error(a->dataset + ": no test or validation images");
        std::mt19937_64 rng(a->seed);
        std::shuffle(ids.begin(), ids.end(), rng);
        ids.resize(std::min(ids.size(), size_t(a->n)));
        std::vector<fb::BirdParams> images;
        for (size_t id : ids) images.push_back(fb::paramsOf(ds, id));
        std::vector<std::string> names;
        {
            std::stringstream ss(a->methods);
            for (std::string s; std::getline(ss, s, ',');)
                if (!s.empty()) names.push_back(s);
        }
        std::vector<std::pair<std::string, pqw::ExplainHead>> heads;
        if (a->heads != "interpretable") heads.push_back({"stage0", pqw::ExplainHead::Stage0});
        if (a->heads != "stage0") {
            if (!head.hasHead()) throw pqw::Error(a->model + ": has no ProtoQuant (interpretable) head; use --heads stage0");
            heads.push_back({"protoquant", pqw::ExplainHead::Interpretable});
        }
        fb::EvalOptions eo;
        eo.size = opts.size;
        eo.swapSeed = a->seed + 0x5eed;
        std::ostringstream csv;
        const std::vector<std::string> cols{"single_deletion", "csdc", "preservation", "deletion", "target_sensitivity",
                                            "background_share"};
        csv << "head,method,images,accuracy_mean,accuracy_std,bg_swap_kept_mean,background_independence_mean";
        for (const auto& k : cols) csv << "," << k << "_mean," << k << "_std," << k << "_n";
        csv << "\n";
        std::cout << std::left << std::setw(12) << "head" << std::setw(12) << "method";
        for (const auto& k : cols) std::cout << std::setw(20) << k;
        std::cout << "\n";
        for (const auto& [hname, hk] : heads) {
            const auto e = pqw::Explainer::fromModel(head, bb, hk);
            std::vector<std::string> use;
            for (const auto& n : names)
                if (n != "protoquant" || hk == pqw::ExplainHead::Interpretable) use.push_back(n);
            const auto methods = fb::methodsOf(e, bb, use, &head, a->eo);
            const auto t0 = std::chrono::steady_clock::now();
            const auto r = withJob([&](pqw::JobContext& ctx) {
                Progress bar("funnybirds-eval " + hname);
                ctx.setProgressHandler([&](double f, const std::string& m) { bar.update(f, m); });
                auto rep = fb::evaluate(fb::modelOf(e, bb), e.numOutputs(), methods, images, eo, ctx);
                bar.finish();
                return rep;
            });
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::cout << std::fixed << std::setprecision(3) << hname << ": accuracy " << r.accuracy.mean << " on "
                      << r.accuracy.n << " test images; background swap keeps the prediction on " << r.swapKept.mean
                      << " (independence " << r.backgroundIndependence.mean << ", mean logit drop " << r.swapDrop.mean
                      << "); background pixels " << r.backgroundPixels.mean << " (a uniform map's background share); "
                      << std::setprecision(1) << secs << " s\n";
            for (const auto& m : r.methods) {
                csv << hname << "," << m.method << "," << r.accuracy.n << "," << r.accuracy.mean << "," << r.accuracy.std << ","
                    << r.swapKept.mean << "," << r.backgroundIndependence.mean;
                std::cout << std::left << std::setw(12) << hname << std::setw(12) << m.method;
                for (const auto& k : cols) {
                    const auto& s = m.metrics.at(k);
                    csv << "," << s.mean << "," << s.std << "," << s.n;
                    std::ostringstream cell;
                    if (s.n) cell << std::fixed << std::setprecision(3) << s.mean << " +- " << std::setprecision(2) << s.std;
                    else cell << "-";
                    std::cout << std::setw(20) << cell.str();
                }
                csv << "\n";
                std::cout << "\n";
            }
        }
        if (!a->features.empty()) {
            if (!head.hasHead()) throw pqw::Error("--features: part purity needs the ProtoQuant head's prototypes");
            const auto cache = pqw::FeatureCache::open(a->features);
            head.checkCompatible(cache);
            // The cache's own dataset (its splits and sample order), which must be funnybirds.
            const auto cds = pqw::Dataset::open(cache.datasetSpec());
            if (cds.format() != "funnybirds") throw pqw::Error(a->features + ": its dataset (" + cds.name() + ") is not funnybirds");
            if (cds.fingerprint() != cache.datasetFingerprint())
                throw pqw::Error("the dataset of " + a->features + " changed since the features were extracted");
            const auto index = withJob([&](pqw::JobContext& ctx) { return pqw::buildPrototypeIndex(head, cache, 10, ctx); });
            const auto p = fb::partPurity(index, cds, head.inputSize());
            std::cout << std::fixed << std::setprecision(3) << "part purity " << p.purity << " over " << p.prototypes
                      << " prototypes (top-10 patches); patch centres on the background: " << p.onBackground << "\n";
            const fs::path o(a->out);
            const std::string pp = (o.parent_path() / (o.stem().string() + "-purity.csv")).string();
            std::ostringstream pc;
            pc << "prototypes,purity,on_background";
            for (const auto& [part, n] : p.dominantPart) pc << ",dominant_" << part;
            pc << "\n" << p.prototypes << "," << p.purity << "," << p.onBackground;
            for (const auto& [part, n] : p.dominantPart) pc << "," << n;
            pc << "\n";
            pqw::writeFileAtomic(pp, pc.str());
            std::cout << "wrote " << pp << "\n";
        }
        pqw::writeFileAtomic(a->out, csv.str());
        std::cout << "wrote " << a->out << "\n";
    });
}

}  // namespace

void registerFunnyBirdsCommands(CLI::App& app) { addFunnyBirdsEval(app); }

}  // namespace pqwcli
