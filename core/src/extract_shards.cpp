// Sharded feature extraction: the plan, one shard, the join, the shards' status and their
// submission to Slurm (pqw/extract_shards.h). Torch-free: extraction itself is extractRange
// (feature_cache.cpp), Slurm's own commands are in slurm.cpp.
#include "pqw/extract_shards.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "feature_cache_impl.h"
#include "fs_util.h"
#include "json_util.h"
#include "pqw/error.h"
#include "pqw/output.h"
#include "pqw/util.h"
#include "slurm_impl.h"

namespace pqw {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace slurm_detail;

namespace {

constexpr const char* kPlanFormat = "pqw-extract-shards";
constexpr int kPlanVersion = 1;

std::string range(size_t b, size_t e) { return std::to_string(b) + "-" + std::to_string(e - 1); }

/// The "shard" field of a shard's meta.json.
json shardField(const ShardPlan& p, size_t i) {
    return {{"index", i}, {"of", p.ranges.size()}, {"begin", p.ranges[i].first}, {"end", p.ranges[i].second}};
}

std::string absDirOf(const std::string& dir) { return fs::absolute(dir).lexically_normal().string(); }

/// The whole cache in dir is the plan's and complete (meta.json only, plus the payload's size).
bool joinedCache(const std::string& dir, const ShardPlan& plan) {
    std::error_code ec;
    if (!fs::exists(dir + "/meta.json", ec)) return false;
    try {
        const json m = readCacheMeta(dir);
        if (m["fingerprint"] != plan.fingerprint || m.contains("shard")) return false;
        const auto n = m["count"].get<size_t>();
        if (n != plan.count || m["done"].get<size_t>() != n) return false;
        const auto bytes = uintmax_t(n) * m["shape"][0].get<uintmax_t>() * m["shape"][1].get<uintmax_t>() *
                           m["shape"][2].get<uintmax_t>() * 2;
        return fs::file_size(dir + "/features.f16", ec) == bytes && !ec;
    } catch (const Error&) {
        return false;
    }
}

/// What differs between a shard's meta and the plan, as a phrase ("" when nothing does).
std::string planMismatch(const json& m, const ShardPlan& plan, size_t i) {
    auto sub = [&](const char* a, const char* b) {
        return m.contains(a) && m[a].is_object() && m[a].contains(b) && m[a][b].is_string() ? m[a][b].get<std::string>()
                                                                                              : std::string();
    };
    if (sub("backbone", "id") != plan.backboneId)
        return "made with backbone " + sub("backbone", "id") + ", the plan's is " + plan.backboneId;
    if (sub("dataset", "fingerprint") != plan.datasetFingerprint)
        return "made from dataset " + sub("dataset", "fingerprint") + ", the plan's is " + plan.datasetFingerprint;
    if (m["fingerprint"] != plan.fingerprint) return "made with another cut layer, input size or preprocessing than the plan";
    if (m.value("shard", json()) != shardField(plan, i))
        return "holds " + m.value("shard", json()).dump() + ", not shard " + std::to_string(i) + " (samples " +
               range(plan.ranges[i].first, plan.ranges[i].second) + ")";
    return {};
}

}  // namespace

const char* shardStateName(ShardState s) {
    switch (s) {
        case ShardState::NotStarted: return "not started";
        case ShardState::Pending: return "pending";
        case ShardState::Running: return "running";
        case ShardState::Partial: return "partial";
        case ShardState::Failed: return "failed";
        case ShardState::Stale: return "stale";
        case ShardState::Done: return "done";
    }
    return "?";
}

ShardPlan makeShardPlan(const Dataset& ds, const Backbone& bb, int shards, const ExtractOptions& opt) {
    if (shards < 1) throw Error("--shards must be at least 1");
    if (opt.batchSize < 1) throw Error("batch size must be at least 1");
    const size_t n = ds.size(), B = size_t(opt.batchSize), batches = (n + B - 1) / B;
    if (batches < size_t(shards))
        throw Error(std::to_string(shards) + " shards for " + std::to_string(n) + " samples in " +
                    std::to_string(batches) + " batches of " + std::to_string(B) +
                    ": a shard is whole batches, so use at most " + std::to_string(batches) +
                    " shards or a smaller --batch");
    ShardPlan p;
    p.fingerprint = cacheFingerprint(ds, bb, opt.inputSize);
    p.datasetFingerprint = ds.fingerprint();
    p.backboneId = bb.id();
    p.count = n;
    p.inputSize = opt.inputSize;
    p.batchSize = opt.batchSize;
    // Shard i gets batches [i * batches / S, (i + 1) * batches / S): as even as whole batches
    // allow, and every batch one that a single extraction runs too.
    for (size_t i = 0; i < size_t(shards); ++i) {
        const size_t b0 = i * batches / size_t(shards), b1 = (i + 1) * batches / size_t(shards);
        p.ranges.emplace_back(b0 * B, std::min(n, b1 * B));
    }
    p.dataset = ds.spec();
    std::error_code ec;
    if (fs::exists(p.dataset.path, ec)) p.dataset.path = fs::absolute(p.dataset.path, ec).string();
    p.backbone = bb.spec();
    if (!p.backbone.path.empty()) p.backbone.path = fs::absolute(p.backbone.path, ec).string();
    p.backbone.cutLayer = bb.cutLayer();
    return p;
}

std::string shardPlanPath(const std::string& dir) { return (fs::path(dir) / "shards" / "plan.json").string(); }

bool hasShardPlan(const std::string& dir) {
    std::error_code ec;
    return fs::exists(shardPlanPath(dir), ec);
}

std::string shardDir(const std::string& dir, size_t shard) {
    char name[32];
    std::snprintf(name, sizeof name, "shard-%03zu", shard);
    return (fs::path(dir) / "shards" / name).string();
}

void writeShardPlan(const std::string& dir, const ShardPlan& p) {
    json ranges = json::array();
    for (const auto& [b, e] : p.ranges) ranges.push_back({b, e});
    const auto& d = p.dataset;
    const auto& b = p.backbone;
    const json j = {{"format", kPlanFormat},
                    {"version", kPlanVersion},
                    {"fingerprint", p.fingerprint},
                    {"dataset_fingerprint", p.datasetFingerprint},
                    {"backbone_id", p.backboneId},
                    {"count", p.count},
                    {"input_size", p.inputSize},
                    {"batch_size", p.batchSize},
                    {"ranges", ranges},
                    {"dataset",
                     {{"kind", d.kind}, {"path", d.path}, {"val_fraction", d.valFraction}, {"seed", d.seed},
                      {"cub_crop", d.cubCrop}, {"max_train", d.maxTrain}, {"max_test", d.maxTest}}},
                    {"backbone",
                     {{"kind", b.kind}, {"path", b.path}, {"cut", b.cutLayer}, {"random_weights", b.randomWeights},
                      {"random_seed", b.randomSeed}}}};
    std::error_code ec;
    fs::create_directories(fs::path(dir) / "shards", ec);
    if (ec) throw Error(dir + "/shards: cannot create folder: " + ec.message());
    writeFileAtomic(shardPlanPath(dir), j.dump(1));
}

ShardPlan readShardPlan(const std::string& dir) {
    const std::string path = shardPlanPath(dir);
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(dir + ": no sharded extraction here (" + path + " missing)");
    const json j = jsonu::parse(readFile(path), path + ": ");
    if (!j.is_object() || j.value("format", json()) != kPlanFormat)
        throw Error(path + ": not a shard plan (format field missing or wrong)");
    ShardPlan p;
    try {
        if (jsonu::intValue(j, "version", 0) > kPlanVersion) throw Error("written by a newer version");
        auto str = [&](const json& o, const char* k) {
            if (!o.contains(k) || !o[k].is_string()) throw Error(std::string("\"") + k + "\" must be a string");
            return o[k].get<std::string>();
        };
        p.fingerprint = str(j, "fingerprint");
        p.datasetFingerprint = str(j, "dataset_fingerprint");
        p.backboneId = str(j, "backbone_id");
        p.count = jsonu::intAt<size_t>(j, "count");
        p.inputSize = jsonu::intAt<int>(j, "input_size");
        p.batchSize = jsonu::intAt<int>(j, "batch_size");
        if (p.batchSize < 1) throw Error("\"batch_size\" must be at least 1");
        if (!j.contains("ranges") || !j["ranges"].is_array() || j["ranges"].empty())
            throw Error("\"ranges\" must be a non-empty list of [begin, end]");
        size_t next = 0;
        for (const auto& r : j["ranges"]) {
            if (!r.is_array() || r.size() != 2) throw Error("\"ranges\" must be a list of [begin, end]");
            const auto b = jsonu::asInt<size_t>(r[0], "\"ranges\" entries"), e = jsonu::asInt<size_t>(r[1], "\"ranges\" entries");
            // Contiguous, disjoint, non-empty, from 0 to count, each starting on a batch.
            if (b != next || e <= b || e > p.count || b % size_t(p.batchSize) != 0)
                throw Error("range [" + std::to_string(b) + ", " + std::to_string(e) +
                            ") does not continue the shards before it on a batch boundary");
            p.ranges.emplace_back(b, e);
            next = e;
        }
        if (next != p.count) throw Error("the ranges end at " + std::to_string(next) + ", not at count " + std::to_string(p.count));
        if (!j.contains("dataset") || !j["dataset"].is_object() || !j.contains("backbone") || !j["backbone"].is_object())
            throw Error("\"dataset\" and \"backbone\" must be objects");
        const json& d = j["dataset"];
        p.dataset.kind = str(d, "kind");
        p.dataset.path = str(d, "path");
        if (!d.contains("val_fraction") || !d["val_fraction"].is_number()) throw Error("\"dataset.val_fraction\" must be a number");
        p.dataset.valFraction = d["val_fraction"].get<double>();
        p.dataset.seed = jsonu::intValue(d, "seed", uint64_t(0), "dataset.");
        p.dataset.cubCrop = d.value("cub_crop", false);
        p.dataset.maxTrain = jsonu::intValue(d, "max_train", size_t(0), "dataset.");
        p.dataset.maxTest = jsonu::intValue(d, "max_test", size_t(0), "dataset.");
        const json& b = j["backbone"];
        p.backbone.kind = str(b, "kind");
        p.backbone.path = str(b, "path");
        p.backbone.cutLayer = str(b, "cut");
        p.backbone.randomWeights = b.value("random_weights", false);
        p.backbone.randomSeed = jsonu::intValue(b, "random_seed", uint64_t(0), "backbone.");
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    } catch (const json::exception& e) {
        throw Error(path + ": a field has the wrong type (" + e.what() + ")");
    }
    return p;
}

ExtractReport extractShard(const Dataset& ds, const Backbone& bb, const std::string& dir, size_t shard, JobContext& ctx) {
    const ShardPlan plan = readShardPlan(dir);
    if (shard >= plan.ranges.size())
        throw Error(shardPlanPath(dir) + ": has " + std::to_string(plan.ranges.size()) + " shards, no shard " + std::to_string(shard));
    if (ds.fingerprint() != plan.datasetFingerprint)
        throw Error("the dataset at '" + ds.spec().path + "' is not the one " + shardPlanPath(dir) + " was planned for (" +
                    ds.fingerprint() + " vs " + plan.datasetFingerprint + ")");
    if (bb.id() != plan.backboneId)
        throw Error("the backbone is not the one " + shardPlanPath(dir) + " was planned for (" + bb.id() + " vs " +
                    plan.backboneId + ")");
    if (cacheFingerprint(ds, bb, plan.inputSize) != plan.fingerprint)
        throw Error(shardPlanPath(dir) + ": planned with another cut layer or preprocessing than this backbone's");
    ExtractOptions opt;
    opt.inputSize = plan.inputSize;
    opt.batchSize = plan.batchSize;
    return extractRange(ds, bb, shardDir(dir, shard), plan.ranges[shard].first, plan.ranges[shard].second,
                        shardField(plan, shard), ctx, opt);
}

namespace {

/// The join itself; the caller holds dir's folder lock.
JoinReport joinLocked(const std::string& dir, const ShardPlan& plan, JobContext& ctx) {
    const auto t0 = std::chrono::steady_clock::now();
    JoinReport rep;
    rep.shards = plan.ranges.size();
    rep.samples = plan.count;
    if (joinedCache(dir, plan)) return rep;
    removeStaleTempFiles(dir);
    // Every shard checked before a byte is copied.
    std::vector<json> metas;
    std::vector<std::string> notDone;
    for (size_t i = 0; i < plan.ranges.size(); ++i) {
        const std::string sd = shardDir(dir, i), label = std::to_string(i) + " (samples " +
                                                         range(plan.ranges[i].first, plan.ranges[i].second) + ")";
        std::error_code ec;
        if (!fs::exists(sd + "/meta.json", ec)) {
            notDone.push_back(label + " not extracted");
            metas.emplace_back();
            continue;
        }
        json m = readCacheMeta(sd);
        if (const std::string why = planMismatch(m, plan, i); !why.empty()) throw Error(sd + "/meta.json: " + why);
        const auto n = m["count"].get<size_t>(), done = m["done"].get<size_t>();
        if (done != n || !m.contains("features_fnv1a64")) {
            notDone.push_back(label + " " + std::to_string(done) + " of " + std::to_string(n) + " done");
            metas.emplace_back();
            continue;
        }
        const auto bytes = uintmax_t(n) * m["shape"][0].get<uintmax_t>() * m["shape"][1].get<uintmax_t>() *
                           m["shape"][2].get<uintmax_t>() * 2;
        const auto have = fs::file_size(sd + "/features.f16", ec);
        if (ec || have != bytes)
            throw Error(sd + "/features.f16: " + (ec ? "missing" : std::to_string(have) + " bytes") + ", expected " +
                        std::to_string(bytes) + " (damaged); remove the folder and extract the shard again");
        metas.push_back(std::move(m));
    }
    if (!notDone.empty()) {
        std::string list;
        for (const auto& s : notDone) list += (list.empty() ? "" : "; ") + s;
        throw Error(dir + ": cannot join yet: shard" + (notDone.size() > 1 ? "s " : " ") + list +
                    " (`pqw extract-status " + dir + "` shows why)");
    }
    // A complete cache of other inputs is replaced: its meta goes first, so a crash never leaves
    // a meta.json that describes another payload.
    std::error_code ec;
    fs::remove(dir + "/meta.json", ec);
    const std::string tmpDir = dir + "/.pqw-tmp", tmp = tmpDir + "/features.f16.tmp-" + std::to_string(::getpid()) + "-0";
    fs::create_directories(tmpDir, ec);
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) throw Error(tmp + ": cannot create: " + std::strerror(errno));
    struct Cleanup {
        int fd;
        std::string path;
        bool keep = false;
        ~Cleanup() {
            if (fd >= 0) ::close(fd);
            if (!keep) ::unlink(path.c_str());
        }
    } cleanup{out, tmp};
    uintmax_t total = 0, copied = 0;
    for (size_t i = 0; i < metas.size(); ++i) total += fs::file_size(shardDir(dir, i) + "/features.f16", ec);
    std::vector<char> buf(4 << 20);
    for (size_t i = 0; i < metas.size(); ++i) {
        const std::string src = shardDir(dir, i) + "/features.f16";
        const int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
        if (in < 0) throw Error(src + ": cannot open: " + std::strerror(errno));
        uint64_t h = fnv1a64(nullptr, 0);
        for (;;) {
            const ssize_t got = ::read(in, buf.data(), buf.size());
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                const int err = errno;
                ::close(in);
                throw Error(src + ": cannot read: " + std::strerror(err));
            }
            if (got == 0) break;
            h = fnv1a64(buf.data(), size_t(got), h);
            for (ssize_t w = 0; w < got;) {
                const ssize_t put = ::write(out, buf.data() + w, size_t(got - w));
                if (put < 0 && errno == EINTR) continue;
                if (put < 0) {
                    const int err = errno;
                    ::close(in);
                    throw Error(tmp + ": write failed: " + std::strerror(err));
                }
                w += put;
            }
            copied += uintmax_t(got);
            ctx.progress(total ? double(copied) / double(total) : 1.0, "joining shards");
            if (ctx.isCancelled()) {
                ::close(in);
                throw Cancelled();
            }
        }
        ::close(in);
        if (hex64(h) != metas[i]["features_fnv1a64"].get<std::string>()) {
            // Moved aside, so the shard counts as not extracted and a resubmission redoes it.
            const std::string sd = shardDir(dir, i);
            fs::remove_all(sd + ".damaged", ec);
            fs::rename(sd, sd + ".damaged", ec);
            throw Error(src + ": its bytes do not match the checksum recorded when it was extracted (damaged); moved "
                              "aside to " + sd + ".damaged, extract it again (`pqw extract " + dir +
                        " --slurm --resubmit` or `pqw extract -o " + dir + "`)");
        }
    }
    if (::fdatasync(out) != 0) throw Error(tmp + ": cannot sync: " + std::strerror(errno));
    const std::string dataPath = checkReplaceable(dir + "/features.f16");
    if (::rename(tmp.c_str(), dataPath.c_str()) != 0)
        throw Error(dataPath + ": cannot replace: " + std::strerror(errno));
    cleanup.keep = true;
    ::rmdir(tmpDir.c_str());
    // meta.json: shard 0's header with every shard's labels, splits and invalid samples, in
    // order; exactly what a single extraction writes.
    json m = metas[0];
    m.erase("shard");
    m.erase("features_fnv1a64");
    json labels = json::array(), splits = json::array(), invalid = json::array();
    for (const auto& s : metas) {
        for (const auto& v : s["labels"]) labels.push_back(v);
        for (const auto& v : s["splits"]) splits.push_back(v);
        for (const auto& v : s["invalid"]) invalid.push_back(v);
    }
    m["labels"] = std::move(labels);
    m["splits"] = std::move(splits);
    m["invalid"] = std::move(invalid);
    m["count"] = plan.count;
    m["done"] = plan.count;
    writeFileAtomic(dir + "/meta.json", m.dump());
    // The shards are in the cache now; their folders go (a shard some process still holds stays).
    for (size_t i = 0; i < plan.ranges.size(); ++i)
        if (!folderLockHeld(shardDir(dir, i))) fs::remove_all(shardDir(dir, i), ec);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

}  // namespace

JoinReport joinShards(const std::string& dir, JobContext& ctx) {
    const ShardPlan plan = readShardPlan(dir);
    const FolderLock lock(dir, "join shards into it");
    return joinLocked(dir, plan, ctx);
}

bool extractViaShards(const Dataset& ds, const Backbone& bb, const std::string& dir, JobContext& ctx,
                      const ExtractOptions& opt, ExtractReport* rep) {
    if (!hasShardPlan(dir)) return false;
    const ShardPlan plan = readShardPlan(dir);
    if (inspectCache(dir, ds, bb, opt.inputSize).state == CacheState::Fresh) return false;
    std::error_code ec;
    if (plan.fingerprint != cacheFingerprint(ds, bb, opt.inputSize)) {
        // Shards of other inputs: stale, like a cache of other inputs, unless a process still
        // writes one of them.
        const FolderLock lock(dir, "extract features into it");
        for (size_t i = 0; i < plan.ranges.size(); ++i)
            if (folderLockHeld(shardDir(dir, i)))
                throw Error(shardDir(dir, i) + ": a shard of an extraction with other inputs is still being extracted; "
                                               "cancel it (or wait) before extracting other features into " + dir);
        fs::remove_all(fs::path(dir) / "shards", ec);
        return false;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const FolderLock lock(dir, "extract features into it");
    ExtractOptions o = opt;
    o.batchSize = plan.batchSize;  // the plan's batches, so the result equals a single extraction
    rep->dir = dir;
    for (size_t i = 0; i < plan.ranges.size(); ++i) {
        const auto r = extractRange(ds, bb, shardDir(dir, i), plan.ranges[i].first, plan.ranges[i].second,
                                    shardField(plan, i), ctx, o);
        rep->extracted += r.extracted;
        rep->reused += r.reused;
        rep->failed += r.failed;
        for (const auto& f : r.failedExamples)
            if (rep->failedExamples.size() < 5) rep->failedExamples.push_back(f);
    }
    joinLocked(dir, plan, ctx);
    rep->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rep->imagesPerSecond = rep->seconds > 0 ? rep->extracted / rep->seconds : 0.0;
    return true;
}

// ---------------------------------------------------------------------------------------
// Status and Slurm

namespace {

struct ExtractSubmissionRecord {
    int number = 0;
    std::string arrayJob, joinJob;
    std::vector<size_t> shards;
};

std::vector<ExtractSubmissionRecord> readExtractSubmissions(const std::string& dir) {
    std::vector<ExtractSubmissionRecord> out;
    const std::string path = dir + "/slurm/submissions.jsonl";
    for (const auto& j : readSubmissionLines(path)) {
        ExtractSubmissionRecord s;
        try {
            s.number = j.value("number", 0);
            s.arrayJob = j.value("array_job", "");
            s.joinJob = j.value("join_job", "");
            if (!j.contains("shards") || !j["shards"].is_array()) throw Error("no shards");
            for (const auto& v : j["shards"]) s.shards.push_back(jsonu::asInt<size_t>(v, "shards"));
        } catch (const std::exception&) {
            throw Error(path + ":" + j["_line"].dump() + ": not a submission record of a sharded extraction");
        }
        out.push_back(std::move(s));
    }
    return out;
}

/// "0-3", "1,3,5-7": Slurm's --array list of these task ids.
std::string arrayList(const std::vector<size_t>& ids) {
    std::string o;
    for (size_t k = 0; k < ids.size();) {
        size_t e = k;
        while (e + 1 < ids.size() && ids[e + 1] == ids[e] + 1) ++e;
        o += (o.empty() ? "" : ",") + std::to_string(ids[k]) + (e > k ? "-" + std::to_string(ids[e]) : std::string());
        k = e + 1;
    }
    return o;
}

}  // namespace

ShardStatus shardStatus(const std::string& dir, bool askSlurm, std::string* problem) {
    ShardStatus st;
    st.plan = readShardPlan(dir);
    const ShardPlan& plan = st.plan;
    st.joined = joinedCache(dir, plan);
    for (size_t i = 0; i < plan.ranges.size(); ++i) {
        ShardInfo s;
        s.index = i;
        s.begin = plan.ranges[i].first;
        s.end = plan.ranges[i].second;
        const std::string sd = shardDir(dir, i);
        std::error_code ec;
        const bool running = folderLockHeld(sd);
        if (st.joined) {
            s.state = ShardState::Done;
            s.done = s.end - s.begin;
            s.reason = "joined";
        } else if (!fs::exists(sd + "/meta.json", ec)) {
            s.state = running ? ShardState::Running : ShardState::NotStarted;
            if (fs::exists(sd + ".damaged", ec)) s.reason = "its earlier payload failed its checksum (" + sd + ".damaged)";
        } else {
            try {
                const json m = readCacheMeta(sd);
                s.done = m["done"].get<size_t>();
                if (const std::string why = planMismatch(m, plan, i); !why.empty()) {
                    s.state = running ? ShardState::Running : ShardState::Stale;
                    s.reason = why;
                    s.done = 0;
                } else if (s.done == s.end - s.begin && m.contains("features_fnv1a64")) {
                    s.state = ShardState::Done;
                } else {
                    s.state = running ? ShardState::Running : ShardState::Partial;
                }
            } catch (const Error& e) {
                s.state = running ? ShardState::Running : ShardState::Stale;
                s.reason = e.what();
            }
        }
        st.shards.push_back(std::move(s));
    }
    const auto subs = readExtractSubmissions(dir);
    if (subs.empty()) return st;
    std::vector<std::string> ids;
    std::map<size_t, std::string> jobOf;
    for (const auto& s : subs) {
        for (size_t i : s.shards) jobOf[i] = s.arrayJob + "_" + std::to_string(i);
        ids.push_back(s.arrayJob);
        if (!s.joinJob.empty()) ids.push_back(s.joinJob);
    }
    st.joinJob = subs.back().joinJob;
    for (auto& s : st.shards)
        if (auto j = jobOf.find(s.index); j != jobOf.end()) s.jobId = j->second;
    std::map<std::string, SlurmTaskState> q;
    if (!askSlurm || !querySlurmJobs(ids, q, problem)) return st;
    if (auto it = q.find(st.joinJob); it != q.end()) st.joinState = it->second.state;
    for (auto& s : st.shards) {
        if (s.jobId.empty() || s.state == ShardState::Done) continue;
        auto it = q.find(s.jobId);
        if (it == q.end()) continue;
        const SlurmTaskState& t = it->second;
        s.slurmState = t.state;
        if (t.state == "PENDING" || t.state == "REQUEUED" || t.state == "SUSPENDED") {
            s.state = ShardState::Pending;
            s.reason = t.reason == "None" ? std::string() : t.reason;
        } else if (t.state == "RUNNING" || t.state == "CONFIGURING" || t.state == "COMPLETING" || t.state == "STOPPED") {
            s.state = ShardState::Running;
        } else if (!t.state.empty() && s.state != ShardState::Running) {
            // COMPLETED without a finished shard, CANCELLED, FAILED, TIMEOUT, OUT_OF_MEMORY, ...
            // Slurm opens a task's output file when it starts it: a task cancelled while pending
            // has none (and Slurm keeps no other trace of it).
            std::error_code ec;
            const bool ran = fs::exists(dir + "/slurm/logs/" + s.jobId + ".out", ec);
            if (s.state == ShardState::NotStarted && !ran && t.state != "COMPLETED") {
                s.reason = "Slurm: " + t.state + " before it started";
            } else {
                s.state = ShardState::Failed;
                s.exitCode = t.exitCode;
                s.reason = "Slurm: " + t.state + (s.reason.empty() ? std::string() : "; " + s.reason);
            }
        }
    }
    return st;
}

ExtractSubmissionPlan planExtractSubmission(const ShardPlan& plan, const std::string& dir, const SlurmOptions& opt,
                                            bool resubmit, bool askSlurm, const std::string& userBackbone) {
    if (opt.pqw.empty()) throw Error("the pqw executable for the tasks is unknown");
    if (opt.cpusPerTask < 1) throw Error("--cpus-per-task must be at least 1");
    if (opt.maxParallel < 0) throw Error("--max-parallel must be 0 (no limit) or more");
    if (plan.backbone.kind == "torchscript" && userBackbone.empty())
        throw Error("the backbone is a TorchScript program; name its file (--backbone FILE) so the tasks may load it");
    const std::string absDir = absDirOf(dir);
    std::error_code ec;
    // An ordinary cache in the folder: complete (nothing to do) or partial (finish it here).
    if (fs::exists(absDir + "/meta.json", ec)) {
        json m;
        try {
            m = readCacheMeta(absDir);
        } catch (const Error&) {
        }
        if (m.is_object() && m.value("fingerprint", std::string()) == plan.fingerprint) {
            if (joinedCache(absDir, plan)) throw Error(dir + ": the feature cache is complete; nothing to submit");
            if (!hasShardPlan(absDir))
                throw Error(dir + ": holds a partial extraction (" + m["done"].dump() + " of " + m["count"].dump() +
                            " samples); finish it here with `pqw extract`, or use another folder");
        }
    }
    const auto subs = readExtractSubmissions(absDir);
    if (!subs.empty() && !resubmit)
        throw Error(dir + ": has " + std::to_string(subs.size()) + " earlier submission(s); `pqw extract -o " + dir +
                    " --slurm --resubmit` submits the shards that are not done");
    std::vector<ShardInfo> infos;
    if (hasShardPlan(absDir)) {
        const ShardPlan existing = readShardPlan(absDir);
        if (existing.fingerprint != plan.fingerprint || existing.ranges != plan.ranges)
            throw Error(shardPlanPath(dir) + ": the folder is planned for " +
                        (existing.fingerprint != plan.fingerprint ? std::string("other inputs (dataset, backbone or size)")
                                                                  : std::to_string(existing.ranges.size()) + " shards") +
                        "; use another folder, or `--resubmit` to continue that plan");
        std::string problem;
        infos = shardStatus(absDir, askSlurm, &problem).shards;
    } else {
        for (size_t i = 0; i < plan.ranges.size(); ++i) {
            ShardInfo s;
            s.index = i;
            infos.push_back(s);
        }
    }
    ExtractSubmissionPlan p;
    for (const auto& s : infos)
        if (s.state != ShardState::Done && s.state != ShardState::Running && s.state != ShardState::Pending)
            p.shards.push_back(s.index);
    if (p.shards.empty())
        throw Error(dir + ": every shard is done, running or pending; nothing to submit (once all are done, `pqw "
                          "extract-join " + dir + "` joins them if no join job did)");
    for (const auto& s : subs) p.number = std::max(p.number, s.number + 1);
    const std::string slurmDir = absDir + "/slurm";
    p.scriptPath = slurmDir + "/extract-" + std::to_string(p.number) + ".sh";
    std::ostringstream s;
    s << batchScriptHead("# Written by `pqw extract --slurm` (docs/user-guide.md \"Extraction on Slurm\"): array task i extracts\n"
                         "# shard i of " + absDir + "/shards/plan.json; without an array index it joins the shards.\n",
                         "pqw-extract", absDir, opt);
    s << "if [ -z \"${SLURM_ARRAY_TASK_ID:-}\" ]; then\n"
      << "  exec " << quote(opt.pqw) << " extract-join " << quote(absDir) << "\n"
      << "fi\n"
      << "exec " << quote(opt.pqw) << " extract-shard " << quote(absDir) << " --shard \"$SLURM_ARRAY_TASK_ID\" --threads \"$threads\"";
    if (!userBackbone.empty()) s << " --backbone " << quote(fs::absolute(userBackbone, ec).string());
    s << "\n";
    p.script = s.str();
    std::string array = "--array=" + arrayList(p.shards);
    if (opt.maxParallel > 0) array += "%" + std::to_string(opt.maxParallel);
    p.arrayCommand = {"sbatch", "--parsable", array};
    p.arrayCommand.insert(p.arrayCommand.end(), opt.sbatchArgs.begin(), opt.sbatchArgs.end());
    p.arrayCommand.push_back(p.scriptPath);
    p.joinCommand = {"sbatch",
                     "--parsable",
                     "--job-name=pqw-extract-join",
                     "--output=" + slurmDir + "/logs/%j.join.out",
                     "--cpus-per-task=1",
                     "--dependency=afterok:<array job>",
                     "--kill-on-invalid-dep=yes"};
    p.joinCommand.insert(p.joinCommand.end(), opt.sbatchArgs.begin(), opt.sbatchArgs.end());
    p.joinCommand.push_back(p.scriptPath);
    return p;
}

ExtractSubmission submitExtraction(const ShardPlan& plan, const std::string& dir, const ExtractSubmissionPlan& sub) {
    if (const std::string why = slurmProblem(); !why.empty()) throw Error("cannot submit to Slurm: " + why);
    const std::string absDir = absDirOf(dir);
    std::error_code ec;
    fs::create_directories(absDir + "/slurm/logs", ec);
    if (ec) throw Error(absDir + "/slurm: cannot create folder: " + ec.message());
    if (!hasShardPlan(absDir)) writeShardPlan(absDir, plan);
    writeFileAtomic(sub.scriptPath, sub.script);
    ::chmod(sub.scriptPath.c_str(), 0755);
    ExtractSubmission out;
    out.arrayJob = sbatchJob(sub.arrayCommand);
    std::vector<std::string> join = sub.joinCommand;
    for (auto& a : join)
        if (a.rfind("--dependency=", 0) == 0) a = "--dependency=afterok:" + out.arrayJob;
    try {
        out.joinJob = sbatchJob(join);
    } catch (const Error&) {
        // The shards are queued: record them anyway (the next `pqw extract` joins), then say it.
        appendSubmission(absDir + "/slurm/submissions.jsonl",
                         {{"number", sub.number}, {"array_job", out.arrayJob}, {"join_job", ""}, {"shards", sub.shards},
                          {"script", sub.scriptPath}, {"sbatch", shellLine(sub.arrayCommand)}, {"submitted", nowSeconds()}});
        throw;
    }
    appendSubmission(absDir + "/slurm/submissions.jsonl",
                     {{"number", sub.number}, {"array_job", out.arrayJob}, {"join_job", out.joinJob}, {"shards", sub.shards},
                      {"script", sub.scriptPath}, {"sbatch", shellLine(sub.arrayCommand)}, {"submitted", nowSeconds()}});
    return out;
}

}  // namespace pqw
