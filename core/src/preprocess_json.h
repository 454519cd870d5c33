#pragma once
// The user's preprocessing (InputPreprocessing) in JSON: feature caches (meta.json
// "backbone.preprocess"), checkpoints and projects. Internal, torch-free.
//   {"mean": [r, g, b], "std": [r, g, b], "crop": "center" | "none", "resize": N}
// Absent: the backbone kind's default (what files written before it meant).
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "pqw/error.h"
#include "pqw/preprocess.h"

namespace pqw {

inline nlohmann::json preprocessingToJson(const InputPreprocessing& p) {
    return {{"mean", p.mean}, {"std", p.stdev}, {"crop", p.centerCrop ? "center" : "none"}, {"resize", p.resize}};
}

/// Reads obj[key] when present; throws pqw::Error("<where>preprocess: ...") when malformed.
inline std::optional<InputPreprocessing> preprocessingFromJson(const nlohmann::json& obj, const std::string& where) {
    if (!obj.is_object() || !obj.contains("preprocess") || obj["preprocess"].is_null()) return std::nullopt;
    const auto& j = obj["preprocess"];
    auto bad = [&](const std::string& what) { return Error(where + "preprocess: " + what); };
    if (!j.is_object()) throw bad("not an object");
    InputPreprocessing p;
    auto three = [&](const char* key, std::array<float, 3>& out) {
        if (!j.contains(key)) throw bad(std::string("'") + key + "' missing");
        const auto& a = j[key];
        if (!a.is_array() || a.size() != 3) throw bad(std::string("'") + key + "' is not three numbers");
        for (size_t i = 0; i < 3; ++i) {
            if (!a[i].is_number()) throw bad(std::string("'") + key + "' is not three numbers");
            out[i] = a[i].get<float>();
        }
    };
    three("mean", p.mean);
    three("std", p.stdev);
    if (j.contains("crop") && !j["crop"].is_string()) throw bad("'crop' is not a string");
    const std::string crop = j.value("crop", std::string("none"));
    if (crop != "center" && crop != "none") throw bad("crop '" + crop + "' is not center or none");
    p.centerCrop = crop == "center";
    if (j.contains("resize")) {
        if (!j["resize"].is_number_integer()) throw bad("'resize' is not an integer");
        const auto r = j["resize"].get<int64_t>();
        if (r < 0 || r > 8192) throw bad("'resize' is out of range");
        p.resize = static_cast<int>(r);
    }
    try {
        p.validate();
    } catch (const Error& e) {
        throw bad(e.what());
    }
    return p;
}

}  // namespace pqw
