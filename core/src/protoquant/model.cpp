// ProtoModel: state, forward functions, checkpoint save/load.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>

#include "preprocess_json.h"
#include "model_impl.h"
#include "checkpoint_format.h"
#include "pqw/error.h"
#include "pqw/util.h"

using json = nlohmann::json;
namespace F = torch::nn::functional;

namespace pqw {

torch::Tensor ProtoModel::Impl::enabledMask() const {
    auto m = torch::ones({K()});
    auto a = m.accessor<float, 1>();
    for (int64_t p = 0; p < K() && p < static_cast<int64_t>(enabled.size()); ++p) a[p] = enabled[p] ? 1.f : 0.f;
    return m;
}

void ProtoModel::Impl::deepCopyFrom(const Impl& o) {
    *this = o;
    auto cl = [](const torch::Tensor& t) { return t.defined() ? t.detach().clone() : t; };
    lnWeight = cl(o.lnWeight);
    lnBias = cl(o.lnBias);
    fcWeight = cl(o.fcWeight);
    fcBias = cl(o.fcBias);
    codes = cl(o.codes);
    W = cl(o.W);
}

namespace pq {

torch::Tensor stage0Logits(const ProtoModel::Impl& m, const torch::Tensor& pooled) {
    auto x = F::layer_norm(pooled, F::LayerNormFuncOptions({m.D()}).weight(m.lnWeight).bias(m.lnBias).eps(1e-5));
    return F::linear(x, m.fcWeight, m.fcBias);
}

torch::Tensor assign(const torch::Tensor& f, const torch::Tensor& codes) {
    auto fn = F::normalize(f, F::NormalizeFuncOptions().dim(-1).eps(1e-8));
    auto cn = F::normalize(codes, F::NormalizeFuncOptions().dim(-1).eps(1e-8));
    return torch::matmul(fn, cn.t()).argmax(-1);
}

torch::Tensor stage0LogitsMap(const ProtoModel::Impl& m, const torch::Tensor& f) {
    if (!m.stage0Script) return stage0Logits(m, f.mean(1));
    const int64_t B = f.size(0);
    return scriptHeadForward(*m.stage0Script, f.transpose(1, 2).reshape({B, m.D(), m.shape[1], m.shape[2]}));
}

torch::Tensor quantisedLogits(const ProtoModel::Impl& m, const torch::Tensor& f) {
    auto idx = assign(f, m.codes);
    auto q = m.codes.index_select(0, idx.reshape({-1})).view(f.sizes());
    return stage0LogitsMap(m, q);
}

HeadOut headForward(const torch::Tensor& f, const torch::Tensor& codes, const torch::Tensor& W, double tau,
                    const torch::Tensor& enabledMask, float threshold) {
    auto fn = F::normalize(f, F::NormalizeFuncOptions().dim(-1).eps(1e-8));
    auto cn = F::normalize(codes, F::NormalizeFuncOptions().dim(-1).eps(1e-8));
    auto S = torch::matmul(fn, cn.t());        // [B, HW, K]
    auto A = torch::softmax(S / tau, -1);      // over prototypes, per cell
    auto pi = std::get<0>(A.max(1));           // [B, K]
    if (enabledMask.defined()) pi = pi * enabledMask;
    if (threshold > 0) pi = pi * (pi >= threshold).to(pi.dtype());
    auto logits = torch::matmul(pi, torch::relu(W).t());
    return {logits, A, pi};
}

HeadOut headForward(const ProtoModel::Impl& m, const torch::Tensor& f) {
    return headForward(f, m.codes, m.W, m.tau, m.enabledMask(), m.presenceThreshold);
}

torch::Tensor toIndexTensor(const std::vector<size_t>& ids) {
    auto t = torch::empty({static_cast<int64_t>(ids.size())}, torch::kLong);
    auto a = t.accessor<int64_t, 1>();
    for (size_t i = 0; i < ids.size(); ++i) a[static_cast<int64_t>(i)] = static_cast<int64_t>(ids[i]);
    return t;
}

Batcher::Batcher(const FeatureCache& cache) : cache_(cache) {
    const auto s = cache.shape();
    if (cache.size() > 0)
        all_ = torch::from_blob(const_cast<uint16_t*>(cache.raw(0)),
                                {static_cast<int64_t>(cache.size()), s[0], s[1] * s[2]}, torch::kHalf);
}

torch::Tensor Batcher::features(const torch::Tensor& ids) const {
    return all_.index_select(0, ids).to(torch::kFloat).transpose(1, 2).contiguous();
}

torch::Tensor Batcher::features(const std::vector<size_t>& ids) const { return features(toIndexTensor(ids)); }

torch::Tensor Batcher::labels(const std::vector<size_t>& ids) const {
    auto t = torch::empty({static_cast<int64_t>(ids.size())}, torch::kLong);
    auto a = t.accessor<int64_t, 1>();
    for (size_t i = 0; i < ids.size(); ++i) a[static_cast<int64_t>(i)] = cache_.label(ids[i]);
    return t;
}

}  // namespace pq

// ---------------------------------------------------------------------------------------
ProtoModel::ProtoModel() : d_(std::make_shared<Impl>()) {}
ProtoModel::~ProtoModel() = default;
ProtoModel::ProtoModel(ProtoModel&&) noexcept = default;
ProtoModel& ProtoModel::operator=(ProtoModel&&) noexcept = default;
ProtoModel::ProtoModel(const ProtoModel& o) : d_(std::make_shared<Impl>()) { d_->deepCopyFrom(*o.d_); }
ProtoModel& ProtoModel::operator=(const ProtoModel& o) {
    if (this != &o) {
        auto n = std::make_shared<Impl>();
        n->deepCopyFrom(*o.d_);
        d_ = std::move(n);
    }
    return *this;
}

ProtoModel ProtoModel::forCache(const FeatureCache& cache) {
    ProtoModel m;
    auto& d = *m.d_;
    d.backboneId = cache.backboneId();
    d.cutLayer = cache.cutLayer();
    d.backboneSpec = cache.backboneSpec();
    d.cacheFingerprint = cache.fingerprint();
    d.inputSize = cache.inputSize();
    d.stride = cache.stride();
    d.receptiveField = cache.effectiveReceptiveField();
    d.shape = cache.shape();
    d.classes = cache.classNames();
    return m;
}

void ProtoModel::checkCompatible(const FeatureCache& cache) const {
    std::vector<std::string> diffs;
    const auto& d = *d_;
    if (d.backboneId != cache.backboneId())
        diffs.push_back("backbone (model: " + d.backboneId + ", features: " + cache.backboneId() + ")");
    if (d.cutLayer != cache.cutLayer())
        diffs.push_back("cut layer (model: " + d.cutLayer + ", features: " + cache.cutLayer() + ")");
    if (d.inputSize != cache.inputSize())
        diffs.push_back("input size (model: " + std::to_string(d.inputSize) + ", features: " +
                        std::to_string(cache.inputSize()) + ")");
    if (d.shape != cache.shape()) diffs.push_back("feature shape");
    if (d.backboneSpec.preprocess != cache.backboneSpec().preprocess)
        diffs.push_back("preprocessing (model: " + describePreprocessing(d.backboneSpec) +
                        "; features: " + describePreprocessing(cache.backboneSpec()) + ")");
    if (d.classes != cache.classNames()) {
        std::string r = "classes (model: " + std::to_string(d.classes.size()) + ", features: " +
                        std::to_string(cache.classNames().size());
        for (size_t i = 0; i < std::min(d.classes.size(), cache.classNames().size()); ++i)
            if (d.classes[i] != cache.classNames()[i]) {
                r += "; first difference at " + std::to_string(i) + ": '" + d.classes[i] + "' vs '" +
                     cache.classNames()[i] + "'";
                break;
            }
        diffs.push_back(r + ")");
    }
    if (diffs.empty()) return;
    std::string msg = "this head does not fit these features: different ";
    for (size_t i = 0; i < diffs.size(); ++i) msg += (i ? "; " : "") + diffs[i];
    throw Error(msg);
}

std::string ProtoModel::differencesFrom(const ProtoModel& other) const {
    const auto& a = *d_;
    const auto& b = *other.d_;
    std::vector<std::string> d;
    if (a.backboneId != b.backboneId) d.push_back("backbone " + b.backboneId + " (not " + a.backboneId + ")");
    if (a.cutLayer != b.cutLayer) d.push_back("cut layer " + b.cutLayer + " (not " + a.cutLayer + ")");
    if (a.inputSize != b.inputSize)
        d.push_back("input size " + std::to_string(b.inputSize) + " (not " + std::to_string(a.inputSize) + ")");
    if (a.shape != b.shape) d.push_back("feature shape");
    if (a.backboneSpec.preprocess != b.backboneSpec.preprocess)
        d.push_back("preprocessing " + describePreprocessing(b.backboneSpec) + " (not " +
                    describePreprocessing(a.backboneSpec) + ")");
    if (a.classes != b.classes) d.push_back("different classes");
    std::string s;
    for (const auto& x : d) s += (s.empty() ? "" : "; ") + x;
    return s;
}

bool ProtoModel::hasStage0() const { return d_->stage0; }
const std::string& ProtoModel::stage0TorchScript() const { return d_->stage0ScriptName; }
bool ProtoModel::hasCodebook() const { return d_->codes.defined() && d_->K() > 0; }
bool ProtoModel::hasHead() const { return d_->W.defined(); }
const std::string& ProtoModel::kind() const { return d_->kind; }
int ProtoModel::numPrototypes() const { return static_cast<int>(d_->K()); }
int ProtoModel::numClasses() const { return static_cast<int>(d_->N()); }
int ProtoModel::featureDim() const { return static_cast<int>(d_->D()); }
const std::vector<std::string>& ProtoModel::classNames() const { return d_->classes; }
const std::vector<EpochRecord>& ProtoModel::history() const { return d_->history; }
double ProtoModel::tau() const { return d_->tau; }
const BackboneSpec& ProtoModel::backboneSpec() const { return d_->backboneSpec; }
const std::string& ProtoModel::backboneId() const { return d_->backboneId; }
int ProtoModel::inputSize() const { return d_->inputSize; }
int ProtoModel::stride() const { return d_->stride; }
int ProtoModel::receptiveField() const { return d_->receptiveField; }
std::array<int64_t, 3> ProtoModel::featureShape() const { return d_->shape; }

std::vector<std::vector<float>> ProtoModel::classWeights() const {
    std::vector<std::vector<float>> out;
    if (!hasHead()) return out;
    auto w = torch::relu(d_->W).contiguous();
    for (int64_t c = 0; c < w.size(0); ++c) {
        auto row = w[c];
        out.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    return out;
}

std::vector<std::vector<float>> ProtoModel::prototypes() const {
    std::vector<std::vector<float>> out;
    if (!hasCodebook()) return out;
    auto c = d_->codes.detach().contiguous();
    for (int64_t k = 0; k < c.size(0); ++k) out.emplace_back(c[k].data_ptr<float>(), c[k].data_ptr<float>() + c.size(1));
    return out;
}

void ProtoModel::setPrototypeEnabled(int p, bool on) {
    if (p < 0 || p >= numPrototypes()) throw Error("prototype " + std::to_string(p) + " does not exist");
    d_->enabled.resize(static_cast<size_t>(numPrototypes()), 1);
    d_->enabled[static_cast<size_t>(p)] = on ? 1 : 0;
}
bool ProtoModel::prototypeEnabled(int p) const {
    return p >= 0 && static_cast<size_t>(p) < d_->enabled.size() ? d_->enabled[static_cast<size_t>(p)] != 0 : true;
}
void ProtoModel::setPresenceThreshold(float t) {
    if (!(t >= 0.f && t < 1.f)) throw Error("presence threshold must be in [0, 1)");
    d_->presenceThreshold = t;
}
float ProtoModel::presenceThreshold() const { return d_->presenceThreshold; }

std::vector<float> ProtoModel::logits(const float* featureMap, HeadKind head) const {
    torch::NoGradGuard ng;
    const auto& d = *d_;
    auto f = torch::from_blob(const_cast<float*>(featureMap), {1, d.D(), d.HW()}).transpose(1, 2).contiguous();
    torch::Tensor z;
    switch (head) {
        case HeadKind::Stage0:
            if (!d.stage0) throw Error("the model has no stage-0 head");
            z = pq::stage0LogitsMap(d, f);
            break;
        case HeadKind::Quantised:
            if (!d.stage0 || !hasCodebook()) throw Error("the model has no codebook");
            z = pq::quantisedLogits(d, f);
            break;
        case HeadKind::Interpretable:
            if (!hasHead()) throw Error("the model has no interpretable head");
            z = pq::headForward(d, f).logits;
            break;
    }
    z = z.contiguous();
    return std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + z.numel());
}

// ---------------------------------------------------------------------------------------
// Checkpoint: "PQWHEAD1" | uint64 LE json length | JSON | float32 LE tensor payloads.
json historyToJson(const std::vector<EpochRecord>& h) {
    json a = json::array();
    for (const auto& r : h) a.push_back(detail::epochRecordToJson(r));
    return a;
}

void ProtoModel::save(const std::string& path) const {
    const auto& d = *d_;
    json meta;
    meta["format"] = "pqw-head";
    meta["version"] = 1;  // 2 when a TorchScript stage-0 head is stored (below)
    meta["kind"] = d.kind;
    meta["backbone"] = {{"id", d.backboneId}, {"cut", d.cutLayer}, {"stride", d.stride},
                        {"receptive_field", d.receptiveField}, {"kind", d.backboneSpec.kind},
                        {"path", d.backboneSpec.path}, {"random_weights", d.backboneSpec.randomWeights},
                        {"random_seed", d.backboneSpec.randomSeed}};
    if (d.backboneSpec.preprocess) meta["backbone"]["preprocess"] = preprocessingToJson(*d.backboneSpec.preprocess);
    meta["input_size"] = d.inputSize;
    meta["feature_shape"] = {d.shape[0], d.shape[1], d.shape[2]};
    meta["classes"] = d.classes;
    meta["cache_fingerprint"] = d.cacheFingerprint;
    meta["hyper_parameters"] = d.hyper;
    meta["history"] = historyToJson(d.history);
    meta["tau"] = d.tau;
    meta["presence_threshold"] = d.presenceThreshold;
    meta["stage0"] = d.stage0;
    std::vector<int> disabled;
    for (size_t p = 0; p < d.enabled.size(); ++p)
        if (!d.enabled[p]) disabled.push_back(static_cast<int>(p));
    meta["disabled_prototypes"] = disabled;
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    if (d.stage0 && !d.stage0Script) {
        tensors.emplace_back("ln.weight", d.lnWeight);
        tensors.emplace_back("ln.bias", d.lnBias);
        tensors.emplace_back("fc.weight", d.fcWeight);
        tensors.emplace_back("fc.bias", d.fcBias);
    }
    if (d.codes.defined()) tensors.emplace_back("codes", d.codes);
    if (d.W.defined()) tensors.emplace_back("W", d.W);
    std::string payload;
    json tj = json::array();
    for (auto& [name, t] : tensors) {
        auto c = t.detach().to(torch::kFloat).contiguous();
        const size_t bytes = static_cast<size_t>(c.numel()) * sizeof(float);
        tj.push_back({{"name", name}, {"shape", c.sizes().vec()}, {"offset", payload.size()}, {"bytes", bytes}});
        payload.append(reinterpret_cast<const char*>(c.data_ptr<float>()), bytes);
    }
    meta["tensors"] = tj;
    if (d.stage0Script) {
        // The TorchScript stage-0 head is stored whole (the checkpoint stays self-contained);
        // its source file name and FNV-1a hash are recorded. Version 2: older builds refuse it.
        meta["version"] = 2;
        meta["stage0_torchscript"] = {{"name", d.stage0ScriptName},
                                      {"fnv1a64", hex64(fnv1a64(d.stage0ScriptBytes.data(), d.stage0ScriptBytes.size()))},
                                      {"offset", payload.size()},
                                      {"bytes", d.stage0ScriptBytes.size()}};
        payload += d.stage0ScriptBytes;
    }
    const std::string js = meta.dump();
    std::string file(detail::kCheckpointMagic, 8);
    uint64_t len = js.size();
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
    file += js;
    file += payload;
    // Never write a checkpoint the reader refuses (NaN / Inf weights, NaN numbers that JSON
    // stores as null): the bytes go through the reader first.
    try {
        detail::parseCheckpoint(file, path);
    } catch (const Error& e) {
        throw Error(path + ": not written: the model would not load back (" + std::string(e.what()) +
                    "); training probably diverged (non-finite values)");
    }
    writeFileAtomic(path, file);
}

namespace {
std::mutex g_allowMutex;
bool g_allowAll = false;
std::set<std::string> g_allowed;  // canonical paths

std::string canonicalOr(const std::string& path) {
    std::error_code ec;
    const auto c = std::filesystem::weakly_canonical(path, ec);
    return ec ? path : c.string();
}

bool torchScriptAllowed(const std::string& path) {
    std::lock_guard<std::mutex> g(g_allowMutex);
    return g_allowAll || g_allowed.count(canonicalOr(path)) > 0;
}
}  // namespace

void allowEmbeddedTorchScript(const std::string& path) {
    std::lock_guard<std::mutex> g(g_allowMutex);
    if (path.empty()) g_allowAll = true;
    else g_allowed.insert(canonicalOr(path));
}

std::string ProtoModel::embeddedTorchScript(const std::string& path) {
    const detail::CheckpointData c = detail::parseCheckpoint(readFile(path), path);
    if (c.stage0ScriptBytes.empty()) return {};
    return c.stage0ScriptName.empty() ? std::string("unnamed") : c.stage0ScriptName;
}

ProtoModel ProtoModel::load(const std::string& path) {
    // Every check on the bytes lives in the torch-free parser (fuzzed on its own).
    detail::CheckpointData c = detail::parseCheckpoint(readFile(path), path);
    if (!c.stage0ScriptBytes.empty() && !torchScriptAllowed(path))
        throw Error(path + ": embeds a TorchScript stage-0 head ('" + c.stage0ScriptName +
                    "'); TorchScript runs code, so this head is loaded only when you allow it (pqw: "
                    "--allow-torchscript-heads; the window asks)");
    ProtoModel m;
    auto& d = *m.d_;
    d.kind = std::move(c.kind);
    d.backboneId = std::move(c.backboneId);
    d.cutLayer = std::move(c.cutLayer);
    d.cacheFingerprint = std::move(c.cacheFingerprint);
    d.backboneSpec = std::move(c.backboneSpec);
    d.inputSize = c.inputSize;
    d.stride = c.stride;
    d.receptiveField = c.receptiveField;
    d.shape = c.shape;
    d.classes = std::move(c.classes);
    d.hyper = std::move(c.hyper);
    d.history = std::move(c.history);
    d.tau = c.tau;
    d.presenceThreshold = c.presenceThreshold;
    d.stage0 = c.stage0;
    auto tensor = [&](const char* name) {
        auto it = c.tensors.find(name);
        if (it == c.tensors.end()) return torch::Tensor();
        auto& t = it->second;
        return torch::from_blob(t.values.data(), t.shape, torch::kFloat).clone();
    };
    if (!c.stage0ScriptBytes.empty()) {
        d.stage0ScriptBytes = std::move(c.stage0ScriptBytes);
        d.stage0ScriptName = std::move(c.stage0ScriptName);
        try {
            d.stage0Script = pq::loadScriptHead(d.stage0ScriptBytes, d.stage0ScriptName);
        } catch (const Error& e) {
            throw Error(path + ": " + e.what());
        }
    } else if (d.stage0) {
        d.lnWeight = tensor("ln.weight");
        d.lnBias = tensor("ln.bias");
        d.fcWeight = tensor("fc.weight");
        d.fcBias = tensor("fc.bias");
    }
    d.codes = tensor("codes");
    d.W = tensor("W");
    d.enabled.assign(static_cast<size_t>(d.K()), 1);
    for (int k : c.disabled) d.enabled[static_cast<size_t>(k)] = 0;
    return m;
}

}  // namespace pqw
