#include "pqw/project.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "preprocess_json.h"
#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "protoquant-workbench-project";

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
    throw Error(origin + ": " + what);
}

bool isRelativeMarked(const std::string& p) { return p.rfind("./", 0) == 0 || p.rfind("../", 0) == 0; }

std::string resolve(const std::string& p, const std::string& baseDir) {
    if (p.empty() || !isRelativeMarked(p) || baseDir.empty()) return p;
    return (fs::path(baseDir) / p).lexically_normal().string();
}

/// An absolute path inside baseDir becomes "./rel"; anything else is kept as written.
std::string relativise(const std::string& p, const std::string& baseDir) {
    if (p.empty() || baseDir.empty()) return p;
    const fs::path path(p);
    if (!path.is_absolute()) return p;
    const fs::path rel = path.lexically_normal().lexically_relative(fs::path(baseDir).lexically_normal());
    if (rel.empty() || *rel.begin() == "..") return p;
    return "./" + rel.string();
}

/// Typed access with a message naming the key and what was expected.
template <class T>
T field(const json& o, const char* key, const T& def, const std::string& origin, const std::string& where) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        try {
            return jsonu::asInt<T>(*it, "\"" + where + key + "\"");  // range-checked
        } catch (const Error& e) {
            fail(origin, e.what());
        }
    } else {
        static_assert(std::is_same_v<T, bool> || std::is_same_v<T, std::string> || std::is_floating_point_v<T>);
        bool ok = false;
        if constexpr (std::is_same_v<T, bool>) ok = it->is_boolean();
        else if constexpr (std::is_same_v<T, std::string>) ok = it->is_string();
        else ok = it->is_number();
        if (!ok) {
            const char* want = std::is_same_v<T, bool> ? "true or false" : std::is_same_v<T, std::string> ? "a string" : "a number";
            fail(origin, "\"" + where + std::string(key) + "\" must be " + want + ", not " + it->dump());
        }
        return it->get<T>();
    }
}

const json& objectAt(const json& o, const char* key, const std::string& origin) {
    static const json empty = json::object();
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return empty;
    if (!it->is_object()) fail(origin, std::string("\"") + key + "\" must be an object");
    return *it;
}

std::vector<std::string> stringList(const json& o, const char* key, const std::string& origin, const std::string& baseDir) {
    std::vector<std::string> out;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return out;
    if (!it->is_array()) fail(origin, std::string("\"") + key + "\" must be a list of paths");
    for (const auto& v : *it) {
        if (!v.is_string()) fail(origin, std::string("\"") + key + "\" must hold strings, not " + v.dump());
        out.push_back(resolve(v.get<std::string>(), baseDir));
    }
    return out;
}

}  // namespace

std::string Project::activeHeadPath() const {
    return activeHead >= 0 && activeHead < int(heads.size()) ? heads[size_t(activeHead)] : std::string();
}

Project parseProject(const std::string& text, const std::string& origin, const std::string& baseDir) {
    const json j = jsonu::parse(text, origin + ": ");
    if (!j.is_object()) fail(origin, "not a project file (the top level must be a JSON object)");
    const auto fmt = j.find("format");
    if (fmt == j.end() || !fmt->is_string() || fmt->get<std::string>() != kFormat)
        fail(origin, std::string("not a project file (\"format\" must be \"") + kFormat + "\")");
    const int version = field<int>(j, "version", 0, origin, "");
    if (version < 1) fail(origin, "\"version\" must be a positive integer");
    if (version > Project::kVersion)
        fail(origin, "made by a newer ProtoQuant Workbench (project version " + std::to_string(version) +
                         "; this build reads up to version " + std::to_string(Project::kVersion) + ")");

    Project p;
    p.name = field<std::string>(j, "name", "", origin, "");
    if (j.contains("dataset") && !j["dataset"].is_null()) {
        const json& d = objectAt(j, "dataset", origin);
        p.hasDataset = true;
        p.dataset.kind = field<std::string>(d, "kind", "auto", origin, "dataset.");
        p.dataset.path = resolve(field<std::string>(d, "path", "", origin, "dataset."), baseDir);
        if (p.dataset.path.empty()) fail(origin, "\"dataset.path\" is empty");
        p.dataset.valFraction = field<double>(d, "val_fraction", 0.1, origin, "dataset.");
        if (!(p.dataset.valFraction >= 0 && p.dataset.valFraction < 1))
            fail(origin, "\"dataset.val_fraction\" must be in [0, 1)");
        p.dataset.seed = field<uint64_t>(d, "seed", 0, origin, "dataset.");
        p.dataset.cubCrop = field<bool>(d, "cub_crop", false, origin, "dataset.");
        p.dataset.maxTrain = field<size_t>(d, "max_train", 0, origin, "dataset.");
        p.dataset.maxTest = field<size_t>(d, "max_test", 0, origin, "dataset.");
    }
    if (j.contains("backbone") && !j["backbone"].is_null()) {
        const json& b = objectAt(j, "backbone", origin);
        p.hasBackbone = true;
        p.backbone.kind = field<std::string>(b, "kind", "default", origin, "backbone.");
        if (p.backbone.kind != "default" && p.backbone.kind != "tfjs" && p.backbone.kind != "torchscript" &&
            p.backbone.kind != "pth")
            fail(origin, "\"backbone.kind\" must be default, tfjs, torchscript or pth, not \"" + p.backbone.kind + "\"");
        p.backbone.path = resolve(field<std::string>(b, "path", "", origin, "backbone."), baseDir);
        p.backbone.cutLayer = field<std::string>(b, "cut_layer", "", origin, "backbone.");
        p.backbone.randomWeights = field<bool>(b, "random_weights", false, origin, "backbone.");
        p.backbone.randomSeed = field<uint64_t>(b, "random_seed", 0, origin, "backbone.");
        try {
            p.backbone.preprocess = preprocessingFromJson(b, "backbone.");
        } catch (const Error& e) {
            fail(origin, e.what());
        }
    }
    p.inputSize = field<int>(j, "input_size", 112, origin, "");
    if (p.inputSize < 16 || p.inputSize > 4096) fail(origin, "\"input_size\" must be between 16 and 4096");
    p.cacheDir = resolve(field<std::string>(j, "cache_dir", "", origin, ""), baseDir);
    p.heads = stringList(j, "heads", origin, baseDir);
    p.activeHead = field<int>(j, "active_head", p.heads.empty() ? -1 : 0, origin, "");
    if (p.activeHead < -1 || p.activeHead >= int(p.heads.size()))
        fail(origin, "\"active_head\" is " + std::to_string(p.activeHead) + " but the project lists " +
                         std::to_string(p.heads.size()) + " head(s)");
    p.sweeps = stringList(j, "sweeps", origin, baseDir);
    if (auto it = j.find("explanations"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) fail(origin, "\"explanations\" must be a list");
        for (size_t i = 0; i < it->size(); ++i) {
            const json& e = (*it)[i];
            const std::string where = "explanations[" + std::to_string(i) + "].";
            if (!e.is_object()) fail(origin, "\"" + where.substr(0, where.size() - 1) + "\" must be an object");
            ProjectExplanation x;
            x.image = resolve(field<std::string>(e, "image", "", origin, where), baseDir);
            x.sample = field<long long>(e, "sample", -1, origin, where);
            if (x.image.empty() && x.sample < 0) fail(origin, "\"" + where + "\" needs an image path or a sample index");
            x.method = field<std::string>(e, "method", "omenn", origin, where);
            x.target = field<int>(e, "target", -1, origin, where);
            x.contrast = field<int>(e, "contrast", -1, origin, where);
            x.head = resolve(field<std::string>(e, "head", "", origin, where), baseDir);
            p.explanations.push_back(std::move(x));
        }
    }
    if (auto it = j.find("view_state"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) fail(origin, "\"view_state\" must be an object");
        p.viewState = it->dump();
    }
    return p;
}

Project loadProject(const std::string& path) {
    const std::string text = readFile(path);
    const std::string base = fs::absolute(fs::path(path)).parent_path().string();
    return parseProject(text, path, base);
}

std::string projectJson(const Project& p, const std::string& baseDir) {
    json j;
    j["format"] = kFormat;
    j["version"] = Project::kVersion;
    j["name"] = p.name;
    if (p.hasDataset) {
        j["dataset"] = {{"kind", p.dataset.kind},
                        {"path", relativise(p.dataset.path, baseDir)},
                        {"val_fraction", p.dataset.valFraction},
                        {"seed", p.dataset.seed},
                        {"cub_crop", p.dataset.cubCrop},
                        {"max_train", p.dataset.maxTrain},
                        {"max_test", p.dataset.maxTest}};
    }
    if (p.hasBackbone) {
        j["backbone"] = {{"kind", p.backbone.kind},
                         {"path", relativise(p.backbone.path, baseDir)},
                         {"cut_layer", p.backbone.cutLayer},
                         {"random_weights", p.backbone.randomWeights},
                         {"random_seed", p.backbone.randomSeed}};
        if (p.backbone.preprocess) j["backbone"]["preprocess"] = preprocessingToJson(*p.backbone.preprocess);
    }
    j["input_size"] = p.inputSize;
    j["cache_dir"] = relativise(p.cacheDir, baseDir);
    json heads = json::array();
    for (const auto& h : p.heads) heads.push_back(relativise(h, baseDir));
    j["heads"] = heads;
    j["active_head"] = p.activeHead;
    json sweeps = json::array();
    for (const auto& s : p.sweeps) sweeps.push_back(relativise(s, baseDir));
    j["sweeps"] = sweeps;
    json ex = json::array();
    for (const auto& e : p.explanations) {
        json o = {{"method", e.method}, {"target", e.target}, {"contrast", e.contrast}};
        if (!e.image.empty()) o["image"] = relativise(e.image, baseDir);
        if (e.sample >= 0) o["sample"] = e.sample;
        if (!e.head.empty()) o["head"] = relativise(e.head, baseDir);
        ex.push_back(o);
    }
    j["explanations"] = ex;
    json vs = json::object();
    if (!p.viewState.empty()) {
        vs = jsonu::parse(p.viewState, "project view state is ");
        if (!vs.is_object()) throw Error("project view state must be a JSON object");
    }
    j["view_state"] = vs;
    return j.dump(2) + "\n";
}

void saveProject(const Project& p, const std::string& path) {
    const std::string base = fs::absolute(fs::path(path)).parent_path().lexically_normal().string();
    writeFileAtomic(path, projectJson(p, base));
}

}  // namespace pqw
