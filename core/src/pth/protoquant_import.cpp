// Import of official ProtoQuant checkpoints (see pqw/protoquant_import.h).
#include "pqw/protoquant_import.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "protoquant/model_impl.h"
#include "pth/arch.h"
#include "pth/pth.h"

namespace pqw {

namespace fs = std::filesystem;

namespace {

struct Recognised {
    ProtoQuantImportSummary s;
    torch::Tensor codes, W;  // W undefined for stage 1
    std::string backbonePath;
};

std::string configPathFor(const ProtoQuantImportOptions& opt) {
    if (!opt.config.empty()) return opt.config;
    const fs::path p = fs::path(opt.checkpoint).parent_path() / ".hydra" / "config.yaml";
    std::error_code ec;
    return fs::is_regular_file(p, ec) ? p.string() : std::string();
}

/// model.name, dataset.name, dataset.num_classes of a Hydra config (yaml-cpp).
void readConfig(const std::string& path, ProtoQuantImportSummary& s, int& numClasses) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
        throw Error(path + ": not a readable YAML file (" + e.msg + ", line " + std::to_string(e.mark.line + 1) + ")");
    }
    if (!root.IsMap()) throw Error(path + ": a Hydra config must be a mapping");
    try {
        if (root["model"] && root["model"]["name"]) s.configModel = root["model"]["name"].as<std::string>();
        if (root["dataset"] && root["dataset"]["name"]) s.configDataset = root["dataset"]["name"].as<std::string>();
        if (root["dataset"] && root["dataset"]["num_classes"]) numClasses = root["dataset"]["num_classes"].as<int>();
    } catch (const YAML::Exception& e) {
        throw Error(path + ": unexpected value (" + e.msg + ")");
    }
    s.configPath = path;
}

Recognised recognise(const ProtoQuantImportOptions& opt, int& configClasses) {
    if (opt.checkpoint.empty()) throw Error("import: no checkpoint given");
    if (!(opt.tau > 0) || !std::isfinite(opt.tau)) throw Error("import: the temperature must be positive");
    if (opt.inputSize < 16 || opt.inputSize > 4096) throw Error("import: the input size must be between 16 and 4096");
    Recognised r;
    auto& s = r.s;
    s.tau = opt.tau;
    const pth::Checkpoint ck = pth::readCheckpoint(opt.checkpoint);
    s.locations = ck.locations;
    s.legacyFormat = ck.legacy;
    if (auto it = ck.numbers.find("epoch"); it != ck.numbers.end()) s.epoch = static_cast<int>(it->second);
    if (auto it = ck.numbers.find("val_top1"); it != ck.numbers.end()) s.valTop1 = it->second;
    const std::string cfg = configPathFor(opt);
    if (!cfg.empty()) readConfig(cfg, s, configClasses);

    // Stage 1: a codebook state dict (or a bare tensor).
    torch::Tensor emb;
    for (const char* k : {"embeddings.weight", "codebook.embeddings.weight"})
        if (!emb.defined()) emb = ck.get(k);
    if (!emb.defined() && ck.container == "tensor") emb = ck.tensors.at(0).second;
    bool hasBackbone = false;
    for (const auto& kv : ck.tensors) hasBackbone = hasBackbone || kv.first.rfind("backbone.", 0) == 0;
    if (emb.defined() && !hasBackbone) {
        if (emb.dim() != 2) throw Error(opt.checkpoint + ": the codebook must be [P, D], not " + std::to_string(emb.dim()) + "-D");
        if (opt.backbone.empty())
            throw Error(opt.checkpoint + ": a stage-1 codebook holds no backbone; choose one (--backbone X.pth)");
        s.stage = "stage 1";
        s.keyLayout = "embeddings.weight (codebook)";
        r.codes = emb.to(torch::kFloat32);
        r.backbonePath = opt.backbone;
    } else {
        s.stage = "stage 2";
        if (ck.has("codes")) {
            s.keyLayout = "codes / classifier.weight";
            r.codes = ck.need("codes", {-1, -1});
            r.W = ck.need("classifier.weight", {-1, r.codes.size(0)});
        } else if (ck.has("head.codebook")) {
            s.keyLayout = "head.codebook / head.classifier.weight (older runs)";
            r.codes = ck.need("head.codebook", {-1, -1});
            r.W = ck.need("head.classifier.weight", {-1, r.codes.size(0)});
            if (auto m = ck.get("head.classifier.normalization_multiplier"); m.defined())
                s.notes.push_back("head.classifier.normalization_multiplier (" +
                                  std::to_string(m.to(torch::kFloat64).flatten()[0].item<double>()) +
                                  ") is ignored: logits are relu(W) @ presence, as the current official code");
        } else {
            throw Error(opt.checkpoint + ": missing key 'codes' (or 'head.codebook'): not a ProtoQuant checkpoint");
        }
        if (!opt.backbone.empty()) s.notes.push_back("--backbone is ignored: the checkpoint holds its own backbone");
        r.backbonePath = opt.checkpoint;
    }
    s.backbonePath = r.backbonePath;
    s.prototypes = static_cast<int>(r.codes.size(0));
    s.featureDim = static_cast<int>(r.codes.size(1));
    s.classes = r.W.defined() ? static_cast<int>(r.W.size(0)) : 0;
    if (!torch::isfinite(r.codes).all().item<bool>() || (r.W.defined() && !torch::isfinite(r.W).all().item<bool>()))
        throw Error(opt.checkpoint + ": the prototypes or class weights hold NaN or infinite values");
    if (configClasses > 0 && s.classes > 0 && configClasses != s.classes)
        throw Error(opt.checkpoint + ": classifier.weight has " + std::to_string(s.classes) + " classes but " + cfg +
                    " says dataset.num_classes = " + std::to_string(configClasses));
    // The architecture (built to check the shapes; the model refers to the file).
    const pth::Architecture a =
        pth::buildBackbone(r.backbonePath == opt.checkpoint ? ck : pth::readCheckpoint(r.backbonePath));
    s.architecture = a.name + " (" + a.description + ")";
    if (a.channels != s.featureDim)
        throw Error(opt.checkpoint + ": the prototypes have " + std::to_string(s.featureDim) + " dimensions but the " +
                    a.name + " backbone gives " + std::to_string(a.channels) + " channels");
    if (!s.configModel.empty() && a.name != a.family && s.configModel != a.name)
        s.notes.push_back("the config names model '" + s.configModel + "' but the weights are " + a.name);
    return r;
}

std::vector<std::string> classNames(const ProtoQuantImportOptions& opt, int count, int configClasses) {
    std::vector<std::string> names;
    if (!opt.classesFile.empty() && !opt.datasetDir.empty())
        throw Error("import: give class names by --classes or --dataset, not both");
    if (!opt.classesFile.empty()) {
        std::ifstream f(opt.classesFile);
        if (!f) throw Error(opt.classesFile + ": cannot open");
        std::string line;
        while (std::getline(f, line)) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            if (!line.empty()) names.push_back(line);
        }
        if (count > 0 && static_cast<int>(names.size()) != count)
            throw Error(opt.classesFile + ": lists " + std::to_string(names.size()) + " classes; the checkpoint has " +
                        std::to_string(count));
    } else if (!opt.datasetDir.empty()) {
        DatasetSpec ds;
        ds.path = opt.datasetDir;
        names = Dataset::open(ds).classNames();
        if (count > 0 && static_cast<int>(names.size()) != count)
            throw Error(opt.datasetDir + ": has " + std::to_string(names.size()) + " classes; the checkpoint has " +
                        std::to_string(count));
    } else {
        const int n = count > 0 ? count : configClasses;
        if (n <= 0)
            throw Error(opt.checkpoint + ": a stage-1 codebook does not say how many classes there are; give "
                                         "--classes FILE or --dataset DIR");
        for (int i = 0; i < n; ++i) names.push_back("class_" + std::to_string(i));
    }
    return names;
}

std::string fixed(double v, int digits) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(digits);
    o << v;
    return o.str();
}

}  // namespace

std::vector<std::string> ProtoQuantImportSummary::lines() const {
    std::vector<std::string> l;
    l.push_back("checkpoint:    " + stage + ", keys " + keyLayout + (legacyFormat ? " (legacy torch.save format)" : ""));
    l.push_back("architecture:  " + architecture);
    l.push_back("backbone file: " + backbonePath);
    l.push_back("prototypes P:  " + std::to_string(prototypes) + "   feature dim D: " + std::to_string(featureDim) +
                "   classes C: " + (classes > 0 ? std::to_string(classes) : std::string("(stage 1: none)")));
    l.push_back("tau:           " + fixed(tau, 3) + " (not stored in the file)");
    l.push_back("epoch:         " + (epoch >= 0 ? std::to_string(epoch) : std::string("(not stored)")) +
                "   validation top-1: " + (valTop1 >= 0 ? fixed(valTop1, 2) + " %" : std::string("(not stored)")));
    std::string loc;
    for (const auto& x : locations) loc += (loc.empty() ? "" : ", ") + x;
    l.push_back("saved on:      " + (loc.empty() ? std::string("?") : loc) + " (loaded to the CPU)");
    if (!configPath.empty())
        l.push_back("config:        " + configPath + " (model " + (configModel.empty() ? "?" : configModel) + ", dataset " +
                    (configDataset.empty() ? "?" : configDataset) + ")");
    for (const auto& n : notes) l.push_back("note:          " + n);
    return l;
}

ProtoQuantImportSummary inspectProtoQuant(const ProtoQuantImportOptions& opt) {
    int configClasses = 0;
    return recognise(opt, configClasses).s;
}

ProtoModel importProtoQuant(const ProtoQuantImportOptions& opt, ProtoQuantImportSummary* summary) {
    int configClasses = 0;
    Recognised r = recognise(opt, configClasses);
    const std::vector<std::string> names = classNames(opt, r.s.classes, configClasses);
    BackboneSpec spec;
    spec.kind = "pth";
    spec.path = fs::absolute(r.backbonePath).lexically_normal().string();
    spec.preprocess = opt.preprocess;
    const Backbone bb = Backbone::open(spec);
    ProtoModel m;
    auto& d = m.impl();
    d.kind = "protoquant";
    d.backboneSpec = spec;
    d.backboneId = bb.id();
    d.cutLayer = bb.cutLayer();
    d.inputSize = opt.inputSize;
    d.stride = bb.stride();
    d.receptiveField = bb.effectiveReceptiveField(opt.inputSize);
    d.shape = bb.featureShape(opt.inputSize);
    d.classes = names;
    d.tau = opt.tau;
    d.codes = r.codes.clone();
    if (r.W.defined()) d.W = r.W.clone();
    d.enabled.assign(static_cast<size_t>(d.K()), 1);
    d.hyper["imported"] = {{"from", fs::absolute(opt.checkpoint).lexically_normal().string()},
                           {"stage", r.s.stage},
                           {"architecture", r.s.architecture},
                           {"epoch", r.s.epoch},
                           {"val_top1", r.s.valTop1},
                           {"tau", opt.tau}};
    if (summary) *summary = r.s;
    return m;
}

}  // namespace pqw
