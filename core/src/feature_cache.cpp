// Feature cache: extraction (batched, resumable, cancellable) and memory-mapped reading.
// Layout and guarantees are described in pqw/feature_cache.h and docs/file-formats.md.
#include "pqw/feature_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "pqw/backbone.h"
#include "json_util.h"
#include "pqw/error.h"
#include "pqw/preprocess.h"
#include "preprocess_json.h"
#include "pqw/util.h"
#include "pqw/output.h"
#include "fs_util.h"
#include "feature_cache_impl.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pqw {

namespace {

constexpr const char* kFormat = "pqw-feature-cache";
constexpr int kVersion = 1;

std::string metaPath(const std::string& dir) { return (fs::path(dir) / "meta.json").string(); }
std::string dataPath(const std::string& dir) { return (fs::path(dir) / "features.f16").string(); }

}  // namespace

json readCacheMeta(const std::string& dir) {
    const std::string path = metaPath(dir);
    json m = jsonu::parse(readFile(path), path + ": ");
    if (!m.is_object() || m.value("format", "") != kFormat)
        throw Error(path + ": not a feature cache (format field missing or wrong)");
    // Integer fields are range-checked (a float where an integer belongs is an error, not UB).
    auto checked = [&](auto f) {
        try {
            return f();
        } catch (const Error& e) {
            throw Error(path + ": " + e.what());
        }
    };
    const int v = checked([&] { return jsonu::intValue(m, "version", 0); });
    if (v > kVersion)
        throw Error(path + ": written by a newer version (cache version " + std::to_string(v) +
                    ", this build reads " + std::to_string(kVersion) + ")");
    for (const char* key : {"fingerprint", "count", "done", "shape", "labels", "splits", "classes"})
        if (!m.contains(key)) throw Error(path + ": missing field '" + key + "'");
    const auto n = checked([&] { return jsonu::intAt<int64_t>(m, "count"); });
    if (n < 0 || m["labels"].size() != static_cast<size_t>(n) || m["splits"].size() != static_cast<size_t>(n))
        throw Error(path + ": labels/splits do not match count " + std::to_string(n));
    if (!m["shape"].is_array() || m["shape"].size() != 3)
        throw Error(path + ": shape must be [C, H, W]");
    for (const auto& s : m["shape"])
        if (!s.is_number_integer() || s.get<int64_t>() <= 0 || s.get<int64_t>() > 65536)
            throw Error(path + ": shape must be positive sizes of at most 65536");
    const auto done = checked([&] { return jsonu::intAt<int64_t>(m, "done"); });
    // The other integers, read later with plain value(): checked here, once, for every reader.
    checked([&] {
        jsonu::intValue(m, "input_size", 0);
        if (m.contains("backbone")) {
            for (const char* key : {"stride", "receptive_field", "effective_receptive_field"})
                jsonu::intValue(m["backbone"], key, 0, "backbone.");
            jsonu::intValue(m["backbone"], "random_seed", uint64_t(0), "backbone.");
        }
        if (m.contains("dataset")) {
            jsonu::intValue(m["dataset"], "seed", uint64_t(0), "dataset.");
            for (const char* key : {"max_train", "max_test"}) jsonu::intValue(m["dataset"], key, size_t(0), "dataset.");
        }
        return 0;
    });
    if (done < 0 || done > n) throw Error(path + ": done count out of range");
    // Types of the other fields, so no reader meets a library type error without the file and
    // key ("invalid" may be absent in a cache cut short: no sample is marked invalid then).
    auto want = [&](const json& o, const char* key, bool (json::*is)() const noexcept, const char* what,
                    const std::string& prefix) {
        if (o.is_object() && o.contains(key) && !o[key].is_null() && !(o[key].*is)())
            throw Error(path + ": \"" + prefix + key + "\" must be " + what);
    };
    want(m, "fingerprint", &json::is_string, "a string", "");
    want(m, "classes", &json::is_array, "a list of class names", "");
    for (const auto& c : m["classes"])
        if (!c.is_string()) throw Error(path + ": \"classes\" must be a list of class names");
    if (!m.contains("invalid") || m["invalid"].is_null()) m["invalid"] = json::array();
    want(m, "invalid", &json::is_array, "a list of sample indices", "");
    want(m, "input_size", &json::is_number, "a number", "");
    want(m, "backbone", &json::is_object, "an object", "");
    want(m, "dataset", &json::is_object, "an object", "");
    if (m.contains("backbone"))
        for (const char* key : {"id", "cut", "kind", "path"}) want(m["backbone"], key, &json::is_string, "a string", "backbone.");
    if (m.contains("backbone")) want(m["backbone"], "random_weights", &json::is_boolean, "true or false", "backbone.");
    if (m.contains("dataset")) {
        for (const char* key : {"path", "kind", "fingerprint"}) want(m["dataset"], key, &json::is_string, "a string", "dataset.");
        want(m["dataset"], "val_fraction", &json::is_number, "a number", "dataset.");
        want(m["dataset"], "cub_crop", &json::is_boolean, "true or false", "dataset.");
    }
    return m;
}

namespace {

json readMeta(const std::string& dir) { return readCacheMeta(dir); }

int64_t featureElems(const json& m) {
    return m["shape"][0].get<int64_t>() * m["shape"][1].get<int64_t>() * m["shape"][2].get<int64_t>();
}

}  // namespace

json makeCacheMeta(const Dataset& ds, const Backbone& bb, int inputSize, const std::string& fingerprint, size_t begin,
                   size_t end) {
    const auto shape = bb.featureShape(inputSize);
    json labels = json::array(), splits = json::array();
    for (size_t i = begin; i < end; ++i) {
        labels.push_back(ds.sample(i).label);
        splits.push_back(static_cast<int>(ds.sample(i).split));
    }
    json m;
    m["format"] = kFormat;
    m["version"] = kVersion;
    m["fingerprint"] = fingerprint;
    const auto& sp = ds.spec();
    std::error_code ec;
    // Reopening the same dataset later (to show images) needs its full spec, with the path
    // made absolute when it is one.
    const std::string path = fs::exists(sp.path, ec) ? fs::absolute(sp.path, ec).string() : sp.path;
    m["dataset"] = {{"name", ds.name()}, {"format", ds.format()}, {"fingerprint", ds.fingerprint()},
                    {"path", path}, {"kind", sp.kind}, {"val_fraction", sp.valFraction}, {"seed", sp.seed},
                    {"cub_crop", sp.cubCrop}, {"max_train", sp.maxTrain}, {"max_test", sp.maxTest}};
    const auto& bs = bb.spec();
    m["backbone"] = {{"id", bb.id()}, {"cut", bb.cutLayer()}, {"stride", bb.stride()},
                     {"receptive_field", bb.receptiveField()}, {"kind", bs.kind}, {"path", bs.path},
                     {"random_weights", bs.randomWeights}, {"random_seed", bs.randomSeed},
                     {"effective_receptive_field", bb.effectiveReceptiveField(inputSize)}};
    if (bs.preprocess) m["backbone"]["preprocess"] = preprocessingToJson(*bs.preprocess);
    m["input_size"] = inputSize;
    m["preprocess"] = bb.preprocess(inputSize).fingerprint();
    m["shape"] = {shape[0], shape[1], shape[2]};
    m["dtype"] = "float16";
    m["count"] = end - begin;
    m["done"] = 0;
    m["classes"] = ds.classNames();
    m["labels"] = std::move(labels);
    m["splits"] = std::move(splits);
    m["invalid"] = json::array();
    return m;
}

namespace {

/// What differs between an existing cache's meta and the wanted inputs.
std::string staleReason(const json& m, const Dataset& ds, const Backbone& bb, int inputSize) {
    std::vector<std::string> diffs;
    auto get = [&](const json& j, const char* a, const char* b) -> std::string {
        if (!j.contains(a) || !j[a].contains(b)) return {};
        return j[a][b].is_string() ? j[a][b].get<std::string>() : j[a][b].dump();
    };
    if (get(m, "dataset", "fingerprint") != ds.fingerprint()) diffs.push_back("dataset");
    if (get(m, "backbone", "id") != bb.id()) diffs.push_back("backbone");
    if (get(m, "backbone", "cut") != bb.cutLayer()) diffs.push_back("cut layer");
    if (m.value("input_size", 0) != inputSize) diffs.push_back("input size");
    if (m.value("preprocess", std::string()) != bb.preprocess(inputSize).fingerprint())
        diffs.push_back("preprocessing");
    if (diffs.empty()) return "cache version or fingerprint";
    std::string r = "different ";
    for (size_t i = 0; i < diffs.size(); ++i) r += (i ? ", " : "") + diffs[i];
    return r;
}

void writeMeta(const std::string& dir, const json& m) { writeFileAtomic(metaPath(dir), m.dump()); }

/// One prepared batch: preprocessed pixels plus which samples failed to decode.
struct Batch {
    size_t begin = 0, count = 0;
    std::vector<float> pixels;
    std::vector<char> failed;
    std::vector<std::string> failures;
};

Batch prepareBatch(const Dataset& ds, const Preprocess& pp, size_t begin, size_t count) {
    Batch b;
    b.begin = begin;
    b.count = count;
    const size_t per = static_cast<size_t>(3) * pp.size * pp.size;
    b.pixels.assign(per * count, 0.0f);
    b.failed.assign(count, 0);
    for (size_t k = 0; k < count; ++k) {
        try {
            cv::Mat img = ds.loadImage(begin + k);
            preprocessImage(img, pp, b.pixels.data() + k * per);
        } catch (const Error& e) {
            b.failed[k] = 1;
            b.failures.emplace_back(e.what());
        }
    }
    return b;
}

}  // namespace

const char* cacheStateName(CacheState s) {
    switch (s) {
        case CacheState::Missing: return "missing";
        case CacheState::Fresh: return "fresh";
        case CacheState::Stale: return "stale";
        case CacheState::Partial: return "partial";
    }
    return "?";
}

std::string cacheFingerprint(const Dataset& ds, const Backbone& bb, int inputSize) {
    const std::string key = std::string(kFormat) + "/" + std::to_string(kVersion) + "|" + ds.fingerprint() + "|" +
                            bb.id() + "|" + bb.cutLayer() + "|" + std::to_string(inputSize) + "|" +
                            bb.preprocess(inputSize).fingerprint();
    return hex64(fnv1a64(key.data(), key.size()));
}

namespace {

/// inspectCache for the cache of samples [begin, end) whose meta carries `shard` (null: a whole cache).
CacheStatus inspectRange(const std::string& dir, const Dataset& ds, const Backbone& bb, int inputSize, size_t begin,
                         size_t end, const json& shard) {
    CacheStatus st;
    st.total = end - begin;
    std::error_code ec;
    if (!fs::exists(metaPath(dir), ec)) return st;
    json m;
    try {
        m = readMeta(dir);
    } catch (const Error& e) {
        st.state = CacheState::Stale;
        st.reason = e.what();
        return st;
    }
    if (m["fingerprint"].get<std::string>() != cacheFingerprint(ds, bb, inputSize)) {
        st.state = CacheState::Stale;
        st.reason = staleReason(m, ds, bb, inputSize);
        return st;
    }
    if (m.value("shard", json()) != shard || m["count"].get<size_t>() != st.total) {
        st.state = CacheState::Stale;
        st.reason = shard.is_null() ? std::string("a shard of a sharded extraction, not a whole cache")
                                    : "made for samples other than " + std::to_string(begin) + "-" + std::to_string(end);
        return st;
    }
    const auto expectBytes = static_cast<uintmax_t>(m["count"].get<int64_t>() * featureElems(m) * 2);
    if (!fs::exists(dataPath(dir), ec) || fs::file_size(dataPath(dir), ec) != expectBytes) {
        st.state = CacheState::Stale;
        st.reason = dataPath(dir) + ": missing or of the wrong size";
        return st;
    }
    st.done = m["done"].get<size_t>();
    st.state = st.done == st.total ? CacheState::Fresh : CacheState::Partial;
    return st;
}

}  // namespace

CacheStatus inspectCache(const std::string& dir, const Dataset& ds, const Backbone& bb, int inputSize) {
    return inspectRange(dir, ds, bb, inputSize, 0, ds.size(), json());
}

std::string hashFeatureFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::vector<char> buf(1 << 20);
    uint64_t h = fnv1a64(nullptr, 0);
    for (;;) {
        const ssize_t got = ::read(fd, buf.data(), buf.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            const int err = errno;
            ::close(fd);
            throw Error(path + ": cannot read: " + std::strerror(err));
        }
        if (got == 0) break;
        h = fnv1a64(buf.data(), size_t(got), h);
    }
    ::close(fd);
    return hex64(h);
}

ExtractReport extractFeatures(const Dataset& ds, const Backbone& bb, const std::string& dir, JobContext& ctx,
                              const ExtractOptions& opt) {
    if (opt.inputSize < 16 || opt.inputSize > 1024)
        throw Error("input size " + std::to_string(opt.inputSize) + " is out of range (16..1024)");
    if (opt.batchSize < 1) throw Error("batch size must be at least 1");
    // A folder prepared for a sharded extraction: the missing shards are extracted here, then joined.
    ExtractReport rep;
    if (extractViaShards(ds, bb, dir, ctx, opt, &rep)) return rep;
    return extractRange(ds, bb, dir, 0, ds.size(), json(), ctx, opt);
}

ExtractReport extractRange(const Dataset& ds, const Backbone& bb, const std::string& dir, size_t begin, size_t end,
                           const json& shard, JobContext& ctx, const ExtractOptions& opt) {
    if (begin > end || end > ds.size()) throw Error("sample range " + std::to_string(begin) + "-" + std::to_string(end) + " is outside the dataset");
    const auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(dir + ": cannot create folder: " + ec.message());
    // One writer per cache: two extractions into one folder would mix two backbones' features.
    const FolderLock lock(dir, "extract features into it");
    removeStaleTempFiles(dir);  // left by an extraction killed mid-write

    const CacheStatus st = inspectRange(dir, ds, bb, opt.inputSize, begin, end, shard);
    ExtractReport rep;
    rep.dir = dir;
    json meta;
    const auto shape = bb.featureShape(opt.inputSize);
    const int64_t per = shape[0] * shape[1] * shape[2];
    const size_t n = end - begin;  // samples of this cache; sample k of it is begin + k of ds
    if (st.state == CacheState::Fresh || st.state == CacheState::Partial) {
        meta = readMeta(dir);
    } else {
        // Missing or stale: start over. The old meta goes first so a crash in between never
        // leaves a meta.json that describes a different features file.
        fs::remove(metaPath(dir), ec);
        fs::remove(dataPath(dir), ec);
        meta = makeCacheMeta(ds, bb, opt.inputSize, cacheFingerprint(ds, bb, opt.inputSize), begin, end);
        if (!shard.is_null()) meta["shard"] = shard;
        checkReplaceable(dataPath(dir));
        int fd = ::open(dataPath(dir).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw Error(dataPath(dir) + ": cannot create: " + std::strerror(errno));
        const off_t bytes = static_cast<off_t>(n) * per * 2;
        const int rc = ::posix_fallocate(fd, 0, bytes);
        ::close(fd);
        if (rc != 0) {
            fs::remove(dataPath(dir), ec);
            throw Error(dataPath(dir) + ": cannot reserve " + std::to_string(bytes >> 20) +
                        " MiB: " + std::strerror(rc));
        }
        writeMeta(dir, meta);
    }
    // Caches written before a field existed get it now (resuming or fresh).
    if (!meta["backbone"].contains("effective_receptive_field"))
        meta["backbone"]["effective_receptive_field"] = bb.effectiveReceptiveField(opt.inputSize);
    size_t done = meta["done"].get<size_t>();
    rep.reused = done;
    std::vector<int64_t> invalid;
    try {
        invalid = jsonu::intList<int64_t>(meta, "invalid");
    } catch (const Error& e) {
        throw Error(metaPath(dir) + ": " + e.what());
    }

    int fd = ::open(dataPath(dir).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw Error(dataPath(dir) + ": cannot open for writing: " + std::strerror(errno));
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};

    const Preprocess pp = bb.preprocess(opt.inputSize);
    const size_t B = static_cast<size_t>(opt.batchSize);
    std::vector<uint16_t> half(static_cast<size_t>(per) * B);
    std::vector<float> feats(static_cast<size_t>(per) * B);
    auto lastFlush = std::chrono::steady_clock::now();

    // Decoding and preprocessing the next batch overlaps with the trunk on the current one.
    auto launch = [&](size_t first) {
        const size_t count = std::min(B, n - first);
        return std::async(std::launch::async,
                          [&ds, &pp, at = begin + first, count] { return prepareBatch(ds, pp, at, count); });
    };
    std::future<Batch> next;
    if (done < n) next = launch(done);
    ctx.progress(n ? double(done) / double(n) : 1.0, "extracting features");

    auto flush = [&](bool force) {
        const auto now = std::chrono::steady_clock::now();
        if (!force && now - lastFlush < std::chrono::seconds(2)) return;
        if (::fdatasync(fd) != 0) throw Error(dataPath(dir) + ": cannot sync: " + std::strerror(errno));
        meta["done"] = done;
        meta["invalid"] = invalid;
        writeMeta(dir, meta);
        lastFlush = now;
    };

    try {
        while (done < n) {
            Batch b = next.get();
            b.begin -= begin;  // from here on: the position in this cache
            if (b.begin + b.count < n) next = launch(b.begin + b.count);
            bb.forward(b.pixels.data(), static_cast<int>(b.count), pp.size, feats.data());
            for (size_t k = 0; k < b.count; ++k) {
                if (b.failed[k]) {
                    std::fill(feats.begin() + k * per, feats.begin() + (k + 1) * per, 0.0f);
                    invalid.push_back(static_cast<int64_t>(begin + b.begin + k));  // a dataset index
                }
            }
            for (const auto& f : b.failures)
                if (rep.failedExamples.size() < 5) rep.failedExamples.push_back(f);
            rep.failed += b.failures.size();
            {
                torch::NoGradGuard ng;
                auto src = torch::from_blob(feats.data(), {static_cast<int64_t>(b.count) * per}, torch::kFloat);
                auto dst = torch::from_blob(half.data(), {static_cast<int64_t>(b.count) * per}, torch::kHalf);
                dst.copy_(src);
            }
            const size_t bytes = b.count * per * 2;
            const off_t off = static_cast<off_t>(b.begin) * per * 2;
            size_t written = 0;
            while (written < bytes) {
                ssize_t w = ::pwrite(fd, reinterpret_cast<const char*>(half.data()) + written, bytes - written,
                                     off + static_cast<off_t>(written));
                if (w < 0) {
                    if (errno == EINTR) continue;
                    throw Error(dataPath(dir) + ": write failed: " + std::strerror(errno));
                }
                written += static_cast<size_t>(w);
            }
            done = b.begin + b.count;
            rep.extracted += b.count;
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            Event ev{"extract.batch", {{"done", double(done)}, {"total", double(n)},
                                       {"images_per_second", secs > 0 ? rep.extracted / secs : 0.0}}, {}};
            ctx.emit(ev);
            ctx.progress(double(done) / double(n), "extracting features");
            flush(false);
            if (ctx.isCancelled()) {
                if (next.valid()) next.wait();
                flush(true);
                throw Cancelled();
            }
        }
        flush(true);
        // A finished shard records its payload's checksum, checked when the shards are joined.
        if (!shard.is_null() && !meta.contains("features_fnv1a64")) {
            meta["features_fnv1a64"] = hashFeatureFile(dataPath(dir));
            writeMeta(dir, meta);
        }
    } catch (const Cancelled&) {
        throw;
    } catch (...) {
        if (next.valid()) next.wait();
        throw;
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rep.imagesPerSecond = rep.seconds > 0 ? rep.extracted / rep.seconds : 0.0;
    return rep;
}

// ---------------------------------------------------------------------------------------
struct FeatureCache::Impl {
    std::string dir, fingerprint, backboneId, cut, datasetFingerprint;
    DatasetSpec datasetSpec;
    BackboneSpec backboneSpec;
    std::array<int64_t, 3> shape{};
    int64_t per = 0;
    int inputSize = 0, stride = 0, rf = 0, erf = 0;
    std::vector<std::string> classes;
    std::vector<int32_t> labels;
    std::vector<Split> splits;
    std::vector<char> valid;
    const uint16_t* data = nullptr;
    size_t mapBytes = 0;
    ~Impl() {
        if (data) ::munmap(const_cast<uint16_t*>(data), mapBytes);
    }
};

FeatureCache::FeatureCache() = default;
FeatureCache::~FeatureCache() = default;
FeatureCache::FeatureCache(FeatureCache&&) noexcept = default;
FeatureCache& FeatureCache::operator=(FeatureCache&&) noexcept = default;

FeatureCache FeatureCache::open(const std::string& dir) {
    std::error_code ec;
    if (!fs::exists(metaPath(dir), ec)) throw Error(dir + ": no feature cache here (meta.json missing)");
    const json m = readMeta(dir);
    const auto n = m["count"].get<size_t>();
    if (m["done"].get<size_t>() != n)
        throw Error(metaPath(dir) + ": cache is incomplete (" + std::to_string(m["done"].get<size_t>()) + " of " +
                    std::to_string(n) + " samples); run the extraction again to resume");
    auto d = std::make_unique<Impl>();
    d->dir = dir;
    d->fingerprint = m["fingerprint"].get<std::string>();
    d->backboneId = m.contains("backbone") ? m["backbone"].value("id", "") : "";
    d->cut = m.contains("backbone") ? m["backbone"].value("cut", "") : "";
    d->stride = m.contains("backbone") ? m["backbone"].value("stride", 0) : 0;
    if (m.contains("backbone")) {
        const auto& b = m["backbone"];
        d->backboneSpec.kind = b.value("kind", "default");
        d->backboneSpec.path = b.value("path", "");
        d->backboneSpec.cutLayer = d->cut;
        d->backboneSpec.randomWeights = b.value("random_weights", false);
        d->backboneSpec.randomSeed = b.value("random_seed", uint64_t(0));
        d->backboneSpec.preprocess = preprocessingFromJson(b, metaPath(dir) + ": backbone.");
    }
    if (m.contains("dataset")) {
        const auto& j = m["dataset"];
        d->datasetSpec.path = j.value("path", "");
        d->datasetSpec.kind = j.value("kind", "auto");
        d->datasetSpec.valFraction = j.value("val_fraction", 0.1);
        d->datasetSpec.seed = j.value("seed", uint64_t(0));
        d->datasetSpec.cubCrop = j.value("cub_crop", false);
        d->datasetSpec.maxTrain = j.value("max_train", size_t(0));
        d->datasetSpec.maxTest = j.value("max_test", size_t(0));
        d->datasetFingerprint = m["dataset"].value("fingerprint", "");
    }
    d->rf = m.contains("backbone") ? m["backbone"].value("receptive_field", 0) : 0;
    d->erf = m.contains("backbone") ? m["backbone"].value("effective_receptive_field", 0) : 0;
    d->inputSize = m.value("input_size", 0);
    for (int k = 0; k < 3; ++k) d->shape[k] = m["shape"][k].get<int64_t>();
    d->per = featureElems(m);
    d->classes = m["classes"].get<std::vector<std::string>>();
    try {
        d->labels = jsonu::intList<int32_t>(m, "labels");
    } catch (const Error& e) {
        throw Error(metaPath(dir) + ": " + e.what());
    }
    d->splits.reserve(n);
    for (const auto& s : m["splits"]) {
        if (!s.is_number_integer()) throw Error(metaPath(dir) + ": split value " + s.dump() + " is not an integer");
        const int64_t v = s.get<int64_t>();
        if (v < 0 || v > 2) throw Error(metaPath(dir) + ": split value " + std::to_string(v) + " out of range");
        d->splits.push_back(static_cast<Split>(v));
    }
    for (auto l : d->labels)
        if (l < 0 || static_cast<size_t>(l) >= d->classes.size())
            throw Error(metaPath(dir) + ": label " + std::to_string(l) + " out of range");
    d->valid.assign(n, 1);
    for (const auto& i : m["invalid"]) {
        if (!i.is_number_integer()) throw Error(metaPath(dir) + ": invalid index " + i.dump() + " is not an integer");
        const auto k = i.get<int64_t>();
        if (k < 0 || static_cast<size_t>(k) >= n) throw Error(metaPath(dir) + ": invalid index out of range");
        d->valid[k] = 0;
    }
    const std::string dp = dataPath(dir);
    d->mapBytes = n * static_cast<size_t>(d->per) * 2;
    const int fd = ::open(dp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(dp + ": cannot open: " + std::strerror(errno));
    struct stat sb {};
    ::fstat(fd, &sb);
    if (static_cast<size_t>(sb.st_size) != d->mapBytes) {
        ::close(fd);
        throw Error(dp + ": size " + std::to_string(sb.st_size) + " bytes, expected " + std::to_string(d->mapBytes));
    }
    if (d->mapBytes > 0) {
        void* p = ::mmap(nullptr, d->mapBytes, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            throw Error(dp + ": cannot memory-map: " + std::strerror(errno));
        }
        d->data = static_cast<const uint16_t*>(p);
    }
    ::close(fd);
    FeatureCache c;
    c.d_ = std::move(d);
    return c;
}

size_t FeatureCache::size() const { return d_->labels.size(); }
std::array<int64_t, 3> FeatureCache::shape() const { return d_->shape; }
int FeatureCache::inputSize() const { return d_->inputSize; }
const std::string& FeatureCache::fingerprint() const { return d_->fingerprint; }
const std::string& FeatureCache::backboneId() const { return d_->backboneId; }
const std::string& FeatureCache::cutLayer() const { return d_->cut; }
const BackboneSpec& FeatureCache::backboneSpec() const { return d_->backboneSpec; }
const DatasetSpec& FeatureCache::datasetSpec() const { return d_->datasetSpec; }
const std::string& FeatureCache::datasetFingerprint() const { return d_->datasetFingerprint; }
const std::string& FeatureCache::dir() const { return d_->dir; }
bool FeatureCache::madeFrom(const Dataset& ds) const { return ds.fingerprint() == d_->datasetFingerprint; }
void FeatureCache::checkMadeFrom(const Dataset& ds) const {
    if (madeFrom(ds)) return;
    throw Error("the dataset at " + ds.spec().path + " is not the one the features in " + d_->dir +
                " were extracted from (it changed since, or it is another dataset): extract the features again");
}
Dataset FeatureCache::openDataset() const {
    auto ds = Dataset::open(d_->datasetSpec);
    checkMadeFrom(ds);
    return ds;
}
int FeatureCache::stride() const { return d_->stride; }
int FeatureCache::receptiveField() const { return d_->rf; }
int FeatureCache::effectiveReceptiveField() const { return d_->erf > 0 ? d_->erf : d_->rf; }
const std::vector<std::string>& FeatureCache::classNames() const { return d_->classes; }
int32_t FeatureCache::label(size_t i) const { return d_->labels.at(i); }
Split FeatureCache::split(size_t i) const { return d_->splits.at(i); }
bool FeatureCache::valid(size_t i) const { return d_->valid.at(i) != 0; }

std::vector<size_t> FeatureCache::indices(Split s) const {
    std::vector<size_t> out;
    for (size_t i = 0; i < size(); ++i)
        if (d_->splits[i] == s && d_->valid[i]) out.push_back(i);
    return out;
}

const uint16_t* FeatureCache::raw(size_t i) const {
    if (i >= size()) throw Error("feature cache index " + std::to_string(i) + " out of range");
    return d_->data + i * static_cast<size_t>(d_->per);
}

void FeatureCache::read(size_t i, float* out) const {
    const uint16_t* src = raw(i);
    torch::NoGradGuard ng;
    auto s = torch::from_blob(const_cast<uint16_t*>(src), {d_->per}, torch::kHalf);
    auto dst = torch::from_blob(out, {d_->per}, torch::kFloat);
    dst.copy_(s);
}

}  // namespace pqw
