#include "option_ranges.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>

namespace pqwcli {

namespace {

struct Range {
    const char* name;
    double lo, hi;
    bool loOpen = false;  ///< lo itself is not allowed (learning rates, temperatures)
    bool hiOpen = false;
    const char* command = nullptr;  ///< only for this subcommand (overrides the general entry)
};

// Sensible ranges: far beyond real use, small enough that no value can hang pqw, start
// thousands of threads or allocate without bound. docs/reliability.md lists them.
const Range kRanges[] = {
    {"--threads", 0, 256},
    {"--epochs", 1, 10000},
    {"--epochs", 0, 10000, false, false, "prune"},  // fine-tuning epochs per step: 0 = none
    {"--epochs0", 1, 10000},
    {"--epochs1", 1, 10000},
    {"--epochs2", 1, 10000},
    {"--batch", 1, 4096},
    {"--codes", 1, 65536},
    {"--prune-target", 1, 65536},
    {"--prune-steps", 1, 1000},
    {"--prototypes", 1, 65536},
    {"--top-k", 0, 65536},
    {"--top", 1, 100},
    {"--show", 1, 20},
    {"--warmup", 0, 10000},
    {"--steps", 1, 100000},
    {"--curve-steps", 1, 10000},
    {"--samples", 1, 100000},
    {"--n", 1, 100000},
    {"--sanity", 0, 10000},
    {"--patches", 1, 100000},
    {"--explanations", 0, 10000},
    {"--latency-reps", 0, 100000},
    {"--taylor-batches", 1, 100000},
    {"--patience", 0, 10000},
    {"--size", 16, 1024},
    {"--input-size", 0, 1024},
    {"--channels", 0, 4},
    {"--width", 1, 1024},
    {"--depth", 1, 64},
    {"--cell", 1, 1024},
    {"--patch", 1, 1024},
    {"--stride", 1, 1024},
    {"--lr", 0, 10, true},
    {"--lr0", 0, 10, true},
    {"--lr1", 0, 10, true},
    {"--lr2", 0, 10, true},
    {"--label-smoothing", 0, 1, false, true},
    {"--mixup", 0, 100},
    {"--tau", 0, 100, true},
    {"--l1", 0, 100},
    {"--weight-decay", 0, 10},
    {"--momentum", 0, 1, false, true},
    {"--presence-threshold", 0, 1},
    {"--percentile", 0, 100, true},
    {"--alpha", 0, 1},
    {"--noise", 0, 10},
    {"--baseline", -1000, 1000},
    {"--target", 0, 1, true, true},
    {"--first-step", 0, 1, true, true},
    {"--min-delta", 0, 1},
    {"--val", 0, 0.9},
};

std::string num(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

std::string words(const Range& r, bool integer) {
    const std::string lo = num(r.lo), hi = num(r.hi);
    if (r.loOpen && r.hiOpen) return "must be greater than " + lo + " and less than " + hi;
    if (r.loOpen) return "must be greater than " + lo + " and at most " + hi;
    if (r.hiOpen) return "must be at least " + lo + " and less than " + hi;
    return std::string("must be ") + (integer ? "a whole number " : "") + "between " + lo + " and " + hi;
}

/// Parses text as a number (the whole text); false if it is not one.
bool asNumber(const std::string& text, double& v) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    v = std::strtod(text.c_str(), &end);
    return end && *end == '\0';
}

}  // namespace

void applyOptionRanges(CLI::App& app) {
    for (CLI::App* sub : app.get_subcommands({})) {
        applyOptionRanges(*sub);
        for (CLI::Option* opt : sub->get_options()) {
            const std::string type = opt->get_type_name();
            const bool isInt = type == "INT" || type == "UINT", isFloat = type == "FLOAT";
            if (!isInt && !isFloat) continue;
            const Range* range = nullptr;
            for (const auto& r : kRanges) {
                if (!opt->check_lname(std::string(r.name).substr(2))) continue;
                if (r.command && sub->get_name() != r.command) continue;
                if (!range || r.command) range = &r;  // the subcommand's own entry wins
            }
            const bool isUnsigned = type == "UINT";
            opt->check(CLI::Validator(
                [range, isInt, isUnsigned](std::string& text) -> std::string {
                    double v = 0;
                    if (!asNumber(text, v)) return {};  // CLI11's conversion error names the option
                    if (!std::isfinite(v)) return "must be a finite number, not " + text;
                    if (isUnsigned && (v < 0 || text.find('-') != std::string::npos))
                        return "must be a whole number of at least 0, not " + text;
                    if (!range) return {};
                    const bool below = range->loOpen ? v <= range->lo : v < range->lo;
                    const bool above = range->hiOpen ? v >= range->hi : v > range->hi;
                    if (below || above) return words(*range, isInt) + ", not " + text;
                    return {};
                },
                "", "pqw range"));
        }
    }
}

}  // namespace pqwcli
