#pragma once
// Checked integer reads from JSON (internal, torch-free).
//
// nlohmann::json converts a floating-point value to an integer type with a plain static_cast,
// which is undefined behaviour when the value does not fit ("epoch": 1e300 in a checkpoint, a
// sweep or a model.json; found by fuzz_tfjs). Every integer read from a file goes through these
// helpers instead: the value must be an integer (or an integral float such as 5.0) within the
// target type's range, else pqw::Error names the key and shows the value.
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "pqw/error.h"

namespace pqw::jsonu {

/// The deepest nesting of arrays and objects accepted in any JSON pqw reads (model.json,
/// meta.json, checkpoint metadata, sweeps, projects, log lines). Real files stay below 20;
/// nlohmann's dump() and the destructor recurse once per level, so a file nested 70 000 deep
/// overflowed the stack.
inline constexpr int kMaxDepth = 100;

/// The nesting depth of text (brackets outside strings), stopping once it exceeds limit.
inline int nestingDepth(std::string_view text, int limit = kMaxDepth) {
    int depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (const char c : text) {
        if (inString) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') inString = false;
            continue;
        }
        if (c == '"') inString = true;
        else if (c == '[' || c == '{') {
            if (++depth > deepest && (deepest = depth) > limit) return deepest;
        } else if ((c == ']' || c == '}') && depth > 0) --depth;
    }
    return deepest;
}

/// The one JSON parser for files: nesting bounded by kMaxDepth (checked before parsing), and
/// every failure a pqw::Error "<what>not valid JSON (...)" / "<what>nested more than 100
/// levels deep". `what` starts the message, e.g. "model.json: " or "x.pqwh: metadata is ".
inline nlohmann::json parse(std::string_view text, const std::string& what) {
    if (nestingDepth(text) > kMaxDepth)
        throw Error(what + "nested more than " + std::to_string(kMaxDepth) +
                    " levels deep (the limit for JSON that pqw reads)");
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for numbers that overflow
        throw Error(what + "not valid JSON (" + e.what() + ")");
    }
}

/// Range of a number read from a file, checked before any work starts: pqw::Error
/// "\"name\" must be between lo and hi, not v" (NaN and infinities are outside every range).
inline void requireRange(const std::string& name, double v, double lo, double hi) {
    if (std::isfinite(v) && v >= lo && v <= hi) return;
    auto num = [](double x) {
        std::string t = std::to_string(x);
        if (t.find('.') != std::string::npos) {
            while (t.back() == '0') t.pop_back();
            if (t.back() == '.') t.pop_back();
        }
        return t;
    };
    throw Error("\"" + name + "\" must be between " + num(lo) + " and " + num(hi) + ", not " + num(v));
}

/// `v` as the integer type T; `name` is how the message refers to it (e.g. "\"epoch\"").
template <class T>
T asInt(const nlohmann::json& v, const std::string& name) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    using L = std::numeric_limits<T>;
    const char* want = std::is_unsigned_v<T> ? "a non-negative integer" : "an integer";
    auto bad = [&]() -> T {
        std::string shown = v.dump();
        if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
        // "in range" only where the type was right but the value does not fit T.
        const bool negative = v.is_number() && v.get<double>() < 0;
        const bool typeOk = v.is_number() && !(std::is_unsigned_v<T> && negative);
        throw Error(name + " must be " + want + (typeOk ? " in range" : "") + ", not " + shown);
    };
    if (v.is_number_unsigned()) {
        const auto u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(L::max())) return bad();
        return static_cast<T>(u);
    }
    if (v.is_number_integer()) {
        const auto s = v.get<int64_t>();
        if (std::is_unsigned_v<T> ? s < 0 || static_cast<uint64_t>(s) > static_cast<uint64_t>(L::max())
                                  : s < static_cast<int64_t>(L::min()) || s > static_cast<int64_t>(L::max()))
            return bad();
        return static_cast<T>(s);
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        // The bounds are exact powers of two, so the comparisons are exact in double.
        const double lo = std::is_unsigned_v<T> ? 0.0 : -std::ldexp(1.0, L::digits);
        const double hi = std::ldexp(1.0, L::digits);
        if (!std::isfinite(d) || d != std::floor(d) || d < lo || d >= hi) return bad();
        return static_cast<T>(d);
    }
    return bad();
}

/// o[key] as T, or `def` when the key is absent or null; `prefix` goes before the key in messages.
template <class T>
T intValue(const nlohmann::json& o, const char* key, T def, const std::string& prefix = "") {
    if (!o.is_object()) return def;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    return asInt<T>(*it, "\"" + prefix + key + "\"");
}

/// o[key] as T; a missing key is an error.
template <class T>
T intAt(const nlohmann::json& o, const char* key, const std::string& prefix = "") {
    if (!o.is_object() || !o.contains(key)) throw Error("\"" + prefix + key + "\" is missing");
    return asInt<T>(o[key], "\"" + prefix + key + "\"");
}

/// o[key] (a list) as integers of type T; absent or null gives `def`.
template <class T>
std::vector<T> intList(const nlohmann::json& o, const char* key, const std::vector<T>& def = {},
                       const std::string& prefix = "") {
    if (!o.is_object()) return def;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    const std::string name = "\"" + prefix + key + "\"";
    if (!it->is_array()) throw Error(name + " must be a list of integers");
    std::vector<T> out;
    out.reserve(it->size());
    for (const auto& e : *it) out.push_back(asInt<T>(e, name + " entries"));
    return out;
}

}  // namespace pqw::jsonu
