// PyTorch checkpoint reader (see pth.h).
#include "pth/pth.h"

#include <caffe2/serialize/inline_container.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "pqw/error.h"
#include "pqw/util.h"
#include "pth/pickle.h"

namespace pqw::pth {

namespace {

std::string firstLine(std::string s) {
    if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
}

torch::ScalarType scalarType(const std::string& dtype) {
    if (dtype == "float32") return torch::kFloat32;
    if (dtype == "float64") return torch::kFloat64;
    if (dtype == "float16") return torch::kFloat16;
    if (dtype == "bfloat16") return torch::kBFloat16;
    if (dtype == "int64") return torch::kInt64;
    if (dtype == "int32") return torch::kInt32;
    if (dtype == "int16") return torch::kInt16;
    if (dtype == "int8") return torch::kInt8;
    if (dtype == "uint8") return torch::kUInt8;
    return torch::kBool;
}

/// The storages as CPU tensors (1-D, storage dtype), keyed by storage key.
using Storages = std::map<std::string, torch::Tensor>;

torch::Tensor storageFrom(const char* bytes, size_t size, const StorageRef& s, const std::string& path) {
    const uint64_t want = static_cast<uint64_t>(s.numel) * static_cast<uint64_t>(s.elementSize);
    if (size < want)
        throw Error(path + ": storage '" + s.key + "' holds " + std::to_string(size) + " bytes, " +
                    std::to_string(want) + " expected (truncated file?)");
    auto t = torch::empty({s.numel}, torch::TensorOptions().dtype(scalarType(s.dtype)));
    if (want) std::memcpy(t.data_ptr(), bytes, want);
    return t;
}

torch::Tensor tensorOf(const TensorRef& r, const Storages& st) {
    const torch::Tensor& base = st.at(r.storage->key);
    return base.as_strided(r.sizes, r.strides, r.offset).clone(at::MemoryFormat::Contiguous);
}

std::string stripPrefix(const std::vector<std::pair<std::string, const Value*>>& items, std::string& prefix) {
    for (const char* p : {"module.", "model_to_wrap."}) {
        bool any = false;
        for (const auto& kv : items) any = any || kv.first.rfind(p, 0) == 0;
        if (any) return prefix = p;
    }
    return {};
}

Checkpoint assemble(const Pickle& pk, const Storages& st, const std::string& path) {
    Checkpoint c;
    c.path = path;
    const Value* root = pk.root;
    const Value* sd = nullptr;
    if (root->kind == Value::Kind::Tensor) {
        c.container = "tensor";
        c.tensors.emplace_back("", tensorOf(root->tensor, st));
        return c;
    }
    if (root->kind != Value::Kind::Dict)
        throw Error(path + ": holds a " + describe(root) + ", not a state dict or a checkpoint dict");
    for (const char* k : {"model", "state_dict", "model_state_dict"}) {
        const Value* v = root->get(k);
        if (v && v->kind == Value::Kind::Dict) {
            sd = v;
            c.container = std::string("payload:") + k;
            break;
        }
    }
    if (sd) {
        for (const auto& [k, v] : root->dict) {
            if (!k->isStr()) continue;
            if (v->kind == Value::Kind::Int && !v->bigInt) c.numbers[k->s] = static_cast<double>(v->i);
            else if (v->kind == Value::Kind::Float) c.numbers[k->s] = v->f;
            else if (v->kind == Value::Kind::Tensor && v->tensor.numel() == 1)
                c.numbers[k->s] = tensorOf(v->tensor, st).to(torch::kFloat64).item<double>();
        }
    } else {
        sd = root;
        c.container = "state_dict";
    }
    std::vector<std::pair<std::string, const Value*>> items;
    for (const auto& [k, v] : sd->dict) {
        if (!k->isStr()) throw Error(path + ": a state dict key is a " + describe(k) + ", not a string");
        if (v->kind == Value::Kind::Tensor) items.emplace_back(k->s, v);
    }
    if (items.empty()) throw Error(path + ": the state dict holds no tensors");
    std::string prefix;
    stripPrefix(items, prefix);
    std::set<std::string> seen;
    for (const auto& [k, v] : items) {
        std::string key = k;
        if (!prefix.empty()) {
            if (key.rfind(prefix, 0) != 0) continue;  // as the official loader: other keys are dropped
            key = key.substr(prefix.size());
        }
        if (!seen.insert(key).second) continue;
        c.tensors.emplace_back(key, tensorOf(v->tensor, st));
    }
    return c;
}

Checkpoint readZip(const std::string& path) {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    try {
        reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    } catch (const std::exception& e) {
        throw Error(path + ": not a readable PyTorch zip file, truncated or damaged (" + firstLine(e.what()) + ")");
    }
    try {
        if (!reader->hasRecord("data.pkl")) {
            if (reader->hasRecord("constants.pkl"))
                throw Error(path + ": a TorchScript archive, not a torch.save checkpoint; open it as a TorchScript backbone");
            throw Error(path + ": zip file without data.pkl: not a torch.save checkpoint");
        }
        auto [ptr, size] = reader->getRecord("data.pkl");
        std::string_view pkl(static_cast<const char*>(ptr.get()), size);
        Pickle pk = parsePickle(pkl, path);
        if (pk.end != size) throw Error(path + ": data.pkl has trailing bytes after STOP");
        Storages st;
        std::set<std::string> locs;
        for (const auto& s : pk.storages) {
            const std::string rec = "data/" + s->key;
            if (!reader->hasRecord(rec)) throw Error(path + ": storage record '" + rec + "' is missing");
            auto [sp, ss] = reader->getRecord(rec);
            st[s->key] = storageFrom(static_cast<const char*>(sp.get()), ss, *s, path);
            locs.insert(s->location);
        }
        Checkpoint c = assemble(pk, st, path);
        c.locations.assign(locs.begin(), locs.end());
        return c;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(path + ": cannot read the zip records, truncated or damaged (" + firstLine(e.what()) + ")");
    }
}

Checkpoint readLegacy(const std::string& path, const std::string& data) {
    LegacyFile lf = parseLegacy(data, path);
    Storages st;
    std::set<std::string> locs;
    std::map<std::string, const StorageRef*> byKey;
    for (const auto& s : lf.object.storages) byKey[s->key] = s.get();
    for (const auto& [key, off] : lf.storageBytes) {
        const StorageRef& s = *byKey.at(key);
        st[key] = storageFrom(data.data() + off, data.size() - off, s, path);
        locs.insert(s.location);
    }
    Checkpoint c = assemble(lf.object, st, path);
    c.legacy = true;
    c.locations.assign(locs.begin(), locs.end());
    return c;
}

}  // namespace

torch::Tensor Checkpoint::get(const std::string& key) const {
    for (const auto& [k, t] : tensors)
        if (k == key) return t;
    return {};
}

torch::Tensor Checkpoint::need(const std::string& key, std::vector<int64_t> shape) const {
    torch::Tensor t = get(key);
    if (!t.defined()) throw Error(path + ": missing key '" + key + "' in the state dict");
    bool ok = shape.empty() || static_cast<size_t>(t.dim()) == shape.size();
    for (size_t k = 0; ok && k < shape.size(); ++k) ok = shape[k] < 0 || shape[k] == t.size(static_cast<int64_t>(k));
    if (!ok) {
        auto txt = [](at::IntArrayRef s) {
            std::string o = "[";
            for (size_t k = 0; k < s.size(); ++k) o += (k ? ", " : "") + (s[k] < 0 ? std::string("*") : std::to_string(s[k]));
            return o + "]";
        };
        throw Error(path + ": '" + key + "' has shape " + txt(t.sizes()) + ", expected " + txt(shape));
    }
    return t.to(torch::kFloat32);
}

Checkpoint readCheckpoint(const std::string& path) {
    char head[16] = {};
    size_t got = 0;
    {
        std::ifstream f(path, std::ios::binary);
        if (!f) throw Error(path + ": cannot open");
        f.read(head, sizeof head);
        got = static_cast<size_t>(f.gcount());
    }
    const std::string_view h(head, got);
    if (got >= 4 && h.substr(0, 4) == std::string_view("PK\x03\x04", 4)) return readZip(path);
    if (looksLegacy(h)) return readLegacy(path, readFile(path));
    if (got == 0) throw Error(path + ": empty file");
    throw Error(path + ": not a PyTorch checkpoint (neither torch.save's zip format nor its legacy format); "
                       "re-save it in Python with torch.save(obj, path) from PyTorch >= 1.6");
}

std::string fileHash(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path + ": cannot open");
    uint64_t h = fnv1a64(nullptr, 0);
    std::vector<char> buf(1 << 20);
    while (f) {
        f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<size_t>(f.gcount());
        if (n) h = fnv1a64(buf.data(), n, h);
    }
    return hex64(h);
}

}  // namespace pqw::pth
