// Restricted pickle interpreter (see pickle.h). Torch-free.
#include "pth/pickle.h"

#include <cstring>
#include <limits>
#include <map>

#include "pqw/error.h"

namespace pqw::pth {

namespace {

struct StorageType {
    const char* name;
    const char* dtype;
    int size;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", "float32", 4},  {"DoubleStorage", "float64", 8}, {"HalfStorage", "float16", 2},
    {"BFloat16Storage", "bfloat16", 2}, {"LongStorage", "int64", 8},  {"IntStorage", "int32", 4},
    {"ShortStorage", "int16", 2},    {"CharStorage", "int8", 1},      {"ByteStorage", "uint8", 1},
    {"BoolStorage", "bool", 1},
};

const StorageType* storageType(const std::string& global) {
    if (global.rfind("torch.", 0) != 0) return nullptr;
    const std::string n = global.substr(6);
    for (const auto& t : kStorageTypes)
        if (n == t.name) return &t;
    return nullptr;
}

bool allowedGlobal(const std::string& g) {
    return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
           g == "torch._utils._rebuild_parameter" || storageType(g) != nullptr;
}

class Machine {
public:
    Machine(std::string_view data, const std::string& name, size_t pos) : d_(data), name_(name), p_(pos) {}

    Pickle run() {
        bool stopped = false;
        while (!stopped) {
            if (p_ >= d_.size()) fail("the pickle ends without STOP (truncated file?)");
            const size_t at = p_;
            const auto op = static_cast<unsigned char>(d_[p_++]);
            switch (op) {
            case 0x80: take(1); break;                          // PROTO
            case 0x95: take(8); break;                          // FRAME
            case '.': stopped = true; break;                    // STOP
            case '(': push(make(Value::Kind::Mark)); break;     // MARK
            case 'N': push(make(Value::Kind::None)); break;
            case 0x88: case 0x89: {                             // NEWTRUE / NEWFALSE
                Value* v = make(Value::Kind::Bool);
                v->b = op == 0x88;
                push(v);
                break;
            }
            case 'J': pushInt(static_cast<int32_t>(le(4))); break;  // BININT
            case 'K': pushInt(static_cast<int64_t>(le(1))); break;  // BININT1
            case 'M': pushInt(static_cast<int64_t>(le(2))); break;  // BININT2
            case 0x8a: long1(static_cast<size_t>(le(1))); break;    // LONG1
            case 0x8b: {                                              // LONG4
                const int64_t n = static_cast<int32_t>(le(4));
                if (n < 0) fail("negative LONG4 length", at);
                long1(static_cast<size_t>(n));
                break;
            }
            case 'G': {  // BINFLOAT, big-endian
                std::string_view b = take(8);
                uint64_t u = 0;
                for (char c : b) u = (u << 8) | static_cast<unsigned char>(c);
                double x;
                std::memcpy(&x, &u, 8);
                Value* v = make(Value::Kind::Float);
                v->f = x;
                push(v);
                break;
            }
            case 'X': pushString(Value::Kind::String, le(4)); break;  // BINUNICODE
            case 0x8c: pushString(Value::Kind::String, le(1)); break; // SHORT_BINUNICODE
            case 0x8d: pushString(Value::Kind::String, le(8)); break; // BINUNICODE8
            case 'T': pushString(Value::Kind::String, le(4)); break;  // BINSTRING
            case 'U': pushString(Value::Kind::String, le(1)); break;  // SHORT_BINSTRING
            case 'B': pushString(Value::Kind::Bytes, le(4)); break;   // BINBYTES
            case 'C': pushString(Value::Kind::Bytes, le(1)); break;   // SHORT_BINBYTES
            case 0x8e: pushString(Value::Kind::Bytes, le(8)); break;  // BINBYTES8
            case '}': push(make(Value::Kind::Dict)); break;           // EMPTY_DICT
            case ']': push(make(Value::Kind::List)); break;           // EMPTY_LIST
            case ')': push(make(Value::Kind::Tuple)); break;          // EMPTY_TUPLE
            case 0x85: case 0x86: case 0x87: {                        // TUPLE1..3
                const size_t n = op - 0x84u;
                if (stack_.size() < n) fail("stack underflow", at);
                Value* t = make(Value::Kind::Tuple);
                for (size_t k = stack_.size() - n; k < stack_.size(); ++k) adopt(t, stack_[k], at);
                stack_.resize(stack_.size() - n);
                push(t);
                break;
            }
            case 't': {  // TUPLE
                auto items = popToMark(at);
                Value* t = make(Value::Kind::Tuple);
                for (Value* x : items) adopt(t, x, at);
                push(t);
                break;
            }
            case 'l': {  // LIST
                auto items = popToMark(at);
                Value* t = make(Value::Kind::List);
                for (Value* x : items) adopt(t, x, at);
                push(t);
                break;
            }
            case 'd': {  // DICT
                auto items = popToMark(at);
                Value* t = make(Value::Kind::Dict);
                setItems(t, items, at);
                push(t);
                break;
            }
            case 'a': {  // APPEND
                Value* x = pop(at);
                Value* l = top(at);
                if (l->kind != Value::Kind::List) fail("APPEND to a " + describe(l), at);
                adopt(l, x, at);
                break;
            }
            case 'e': {  // APPENDS
                auto items = popToMark(at);
                Value* l = top(at);
                if (l->kind != Value::Kind::List) fail("APPENDS to a " + describe(l), at);
                for (Value* x : items) adopt(l, x, at);
                break;
            }
            case 's': {  // SETITEM
                Value* v = pop(at);
                Value* k = pop(at);
                Value* dct = top(at);
                if (dct->kind != Value::Kind::Dict) fail("SETITEM on a " + describe(dct), at);
                setItems(dct, {k, v}, at);
                break;
            }
            case 'u': {  // SETITEMS
                auto items = popToMark(at);
                Value* dct = top(at);
                if (dct->kind != Value::Kind::Dict) fail("SETITEMS on a " + describe(dct), at);
                setItems(dct, items, at);
                break;
            }
            case 'q': memoPut(le(1)); break;            // BINPUT
            case 'r': memoPut(le(4)); break;            // LONG_BINPUT
            case 0x94: memoPut(memo_.size()); break;    // MEMOIZE
            case 'h': memoGet(le(1), at); break;        // BINGET
            case 'j': memoGet(le(4), at); break;        // LONG_BINGET
            case '0': pop(at); break;                   // POP
            case '1': popToMark(at); break;             // POP_MARK
            case '2': push(top(at)); break;             // DUP
            case 'c': {                                 // GLOBAL
                std::string mod = line(at), nm = line(at);
                pushGlobal(mod + "." + nm, at);
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                Value* nm = pop(at);
                Value* mod = pop(at);
                if (!nm->isStr() || !mod->isStr()) fail("STACK_GLOBAL needs two strings", at);
                pushGlobal(mod->s + "." + nm->s, at);
                break;
            }
            case 'Q': persistentId(at); break;  // BINPERSID
            case 'R': reduce(at); break;        // REDUCE
            case 'b': {                         // BUILD: only OrderedDict's _metadata state
                pop(at);
                Value* obj = top(at);
                if (obj->kind != Value::Kind::Dict && obj->kind != Value::Kind::Tensor)
                    fail("BUILD on a " + describe(obj) + " is not allowed", at);
                break;
            }
            case 0x81: case 0x92:
                fail("object construction (NEWOBJ) is not allowed", at);
            case 'i': case 'o':
                fail("object construction (INST / OBJ) is not allowed", at);
            default: {
                static const char hex[] = "0123456789abcdef";
                std::string h = "0x";
                h += hex[op >> 4];
                h += hex[op & 15];
                fail("unsupported pickle opcode " + h, at);
            }
            }
        }
        if (stack_.size() != 1 || stack_[0]->kind == Value::Kind::Mark)
            fail("the pickle leaves " + std::to_string(stack_.size()) + " values instead of one");
        Pickle out;
        out.root = stack_[0];
        out.arena = std::move(arena_);
        out.storages = std::move(storages_);
        out.end = p_;
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& what, size_t at = std::string::npos) const {
        std::string m = name_ + ": " + what;
        if (at != std::string::npos) m += " (pickle offset " + std::to_string(at) + ")";
        throw Error(m);
    }

    std::string_view take(size_t n) {
        if (n > d_.size() - p_) fail("the pickle is truncated (wants " + std::to_string(n) + " more bytes)", p_);
        std::string_view s = d_.substr(p_, n);
        p_ += n;
        return s;
    }
    uint64_t le(int n) {
        std::string_view b = take(static_cast<size_t>(n));
        uint64_t u = 0;
        for (int k = n - 1; k >= 0; --k) u = (u << 8) | static_cast<unsigned char>(b[static_cast<size_t>(k)]);
        return u;
    }
    std::string line(size_t at) {
        const size_t nl = d_.find('\n', p_);
        if (nl == std::string_view::npos || nl - p_ > 256) fail("bad GLOBAL name", at);
        std::string s(d_.substr(p_, nl - p_));
        p_ = nl + 1;
        return s;
    }

    Value* make(Value::Kind k) {
        if (arena_.size() >= kMaxValues) fail("too many values (more than " + std::to_string(kMaxValues) + ")");
        arena_.push_back(std::make_unique<Value>());
        arena_.back()->kind = k;
        return arena_.back().get();
    }
    void push(Value* v) { stack_.push_back(v); }
    Value* pop(size_t at) {
        if (stack_.empty()) fail("stack underflow", at);
        Value* v = stack_.back();
        stack_.pop_back();
        if (v->kind == Value::Kind::Mark) fail("unexpected MARK", at);
        return v;
    }
    Value* top(size_t at) {
        if (stack_.empty() || stack_.back()->kind == Value::Kind::Mark) fail("stack underflow", at);
        return stack_.back();
    }
    std::vector<Value*> popToMark(size_t at) {
        size_t k = stack_.size();
        while (k > 0 && stack_[k - 1]->kind != Value::Kind::Mark) --k;
        if (k == 0) fail("no MARK on the stack", at);
        std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(k), stack_.end());
        stack_.resize(k - 1);
        return items;
    }
    void adopt(Value* parent, Value* child, size_t at) {
        if (child->kind == Value::Kind::Mark) fail("unexpected MARK", at);
        if (child->depth + 1 > kMaxDepth) fail("values nested too deeply", at);
        // A memo reference may add a container into itself; depth stays a bound because
        // children added later only ever raise it (checked against kMaxDepth each time).
        parent->depth = std::max(parent->depth, child->depth + 1);
        parent->items.push_back(child);
    }
    void setItems(Value* dct, const std::vector<Value*>& kv, size_t at) {
        if (kv.size() % 2) fail("odd number of dict items", at);
        for (size_t k = 0; k < kv.size(); k += 2) {
            for (Value* x : {kv[k], kv[k + 1]}) {
                if (x->kind == Value::Kind::Mark) fail("unexpected MARK", at);
                if (x->depth + 1 > kMaxDepth) fail("values nested too deeply", at);
                dct->depth = std::max(dct->depth, x->depth + 1);
            }
            dct->dict.emplace_back(kv[k], kv[k + 1]);
        }
    }
    void pushInt(int64_t i) {
        Value* v = make(Value::Kind::Int);
        v->i = i;
        push(v);
    }
    void long1(size_t n) {
        std::string_view b = take(n);
        Value* v = make(Value::Kind::Int);
        if (n == 0) {
            v->i = 0;
        } else if (n <= 8) {
            uint64_t u = 0;
            for (size_t k = n; k-- > 0;) u = (u << 8) | static_cast<unsigned char>(b[k]);
            if (n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
            v->i = static_cast<int64_t>(u);
        } else {
            v->bigInt = true;
            v->s = std::string(b);
        }
        push(v);
    }
    void pushString(Value::Kind k, uint64_t n) {
        if (n > d_.size() - p_) fail("the pickle is truncated (a string of " + std::to_string(n) + " bytes)", p_);
        Value* v = make(k);
        v->s = std::string(take(static_cast<size_t>(n)));
        push(v);
    }
    void memoPut(uint64_t idx) {
        Value* v = top(p_);
        if (idx > kMaxValues) fail("memo index too large", p_);
        memo_[idx] = v;
    }
    void memoGet(uint64_t idx, size_t at) {
        auto it = memo_.find(idx);
        if (it == memo_.end()) fail("memo entry " + std::to_string(idx) + " is not defined", at);
        push(it->second);
    }
    void pushGlobal(const std::string& g, size_t at) {
        if (!allowedGlobal(g))
            fail("refusing the global '" + g + "': a checkpoint may hold only tensors, dicts, lists and numbers "
                 "(loading never runs code)", at);
        Value* v = make(Value::Kind::Global);
        v->s = g;
        push(v);
    }
    void persistentId(size_t at) {
        Value* pid = pop(at);
        if (pid->kind != Value::Kind::Tuple || (pid->items.size() != 5 && pid->items.size() != 6) ||
            !pid->items[0]->isStr() || pid->items[0]->s != "storage")
            fail("unsupported persistent id (" + describe(pid) + "); only torch storages are allowed", at);
        const Value* type = pid->items[1];
        const StorageType* st = type->kind == Value::Kind::Global ? storageType(type->s) : nullptr;
        if (!st) fail("unsupported storage type " + describe(type), at);
        const Value* key = pid->items[2];
        const Value* loc = pid->items[3];
        const Value* numel = pid->items[4];
        if (!key->isStr() || !loc->isStr() || numel->kind != Value::Kind::Int || numel->bigInt || numel->i < 0)
            fail("malformed storage persistent id", at);
        // The same key names the same storage (tensors sharing it are views of one buffer).
        auto it = storageByKey_.find(key->s);
        StorageRef* s;
        if (it != storageByKey_.end()) {
            s = it->second;
            if (s->dtype != st->dtype || s->numel != numel->i)
                fail("storage '" + key->s + "' is described twice with different types or sizes", at);
        } else {
            storages_.push_back(std::make_unique<StorageRef>());
            s = storages_.back().get();
            s->key = key->s;
            s->dtype = st->dtype;
            s->elementSize = st->size;
            s->location = loc->s;
            s->numel = numel->i;
            storageByKey_[key->s] = s;
        }
        Value* v = make(Value::Kind::Storage);
        v->storage = s;
        push(v);
    }
    static bool intTuple(const Value* v, std::vector<int64_t>& out) {
        if (v->kind != Value::Kind::Tuple) return false;
        out.clear();
        for (const Value* x : v->items) {
            if (x->kind != Value::Kind::Int || x->bigInt) return false;
            out.push_back(x->i);
        }
        return true;
    }
    void reduce(size_t at) {
        Value* args = pop(at);
        Value* fn = pop(at);
        if (fn->kind != Value::Kind::Global) fail("REDUCE on a " + describe(fn) + " is not allowed", at);
        if (args->kind != Value::Kind::Tuple) fail("REDUCE arguments must be a tuple", at);
        const auto& a = args->items;
        if (fn->s == "collections.OrderedDict") {
            Value* dct = make(Value::Kind::Dict);
            dct->ordered = true;
            if (!a.empty()) {
                if (a.size() != 1 || a[0]->kind != Value::Kind::List) fail("OrderedDict() with unsupported arguments", at);
                for (const Value* pr : a[0]->items) {
                    if ((pr->kind != Value::Kind::Tuple && pr->kind != Value::Kind::List) || pr->items.size() != 2)
                        fail("OrderedDict() items must be pairs", at);
                    setItems(dct, {pr->items[0], pr->items[1]}, at);
                }
            }
            push(dct);
        } else if (fn->s == "torch._utils._rebuild_tensor_v2") {
            if (a.size() < 4 || a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int || a[1]->bigInt)
                fail("_rebuild_tensor_v2 with unexpected arguments", at);
            Value* t = make(Value::Kind::Tensor);
            t->tensor.storage = a[0]->storage;
            t->tensor.offset = a[1]->i;
            if (!intTuple(a[2], t->tensor.sizes) || !intTuple(a[3], t->tensor.strides) ||
                t->tensor.sizes.size() != t->tensor.strides.size() || t->tensor.sizes.size() > 8)
                fail("_rebuild_tensor_v2: bad size or stride", at);
            checkView(t->tensor, at);
            push(t);
        } else if (fn->s == "torch._utils._rebuild_parameter") {
            if (a.empty() || a[0]->kind != Value::Kind::Tensor) fail("_rebuild_parameter without a tensor", at);
            push(a[0]);
        } else {
            fail("calling '" + fn->s + "' is not allowed", at);
        }
    }
    void checkView(const TensorRef& t, size_t at) {
        const int64_t numel = t.storage->numel;
        if (t.offset < 0) fail("tensor with a negative storage offset", at);
        int64_t last = t.offset;
        bool empty = false;
        constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;
        for (size_t k = 0; k < t.sizes.size(); ++k) {
            if (t.sizes[k] < 0 || t.strides[k] < 0 || t.sizes[k] > kMax || t.strides[k] > kMax)
                fail("tensor with a negative or huge size or stride", at);
            if (t.sizes[k] == 0) empty = true;
        }
        if (empty) return;
        for (size_t k = 0; k < t.sizes.size(); ++k) {
            if (t.sizes[k] > 1 && t.strides[k] > (kMax - last) / (t.sizes[k] - 1))
                fail("tensor view overflows", at);
            last += (t.sizes[k] - 1) * t.strides[k];
        }
        if (last >= numel)
            fail("tensor addresses element " + std::to_string(last) + " of storage '" + t.storage->key + "' with only " +
                     std::to_string(numel) + " elements",
                 at);
    }

    static constexpr size_t kMaxValues = 4u << 20;
    std::string_view d_;
    const std::string& name_;
    size_t p_;
    std::vector<Value*> stack_;
    std::map<uint64_t, Value*> memo_;
    std::vector<std::unique_ptr<Value>> arena_;
    std::vector<std::unique_ptr<StorageRef>> storages_;
    std::map<std::string, StorageRef*> storageByKey_;
};

}  // namespace

int64_t TensorRef::numel() const {
    int64_t n = 1;
    for (auto s : sizes) n *= s;
    return n;
}

const Value* Value::get(std::string_view key) const {
    if (kind != Kind::Dict) return nullptr;
    const Value* found = nullptr;
    for (const auto& [k, v] : dict)
        if (k->isStr() && k->s == key) found = v;
    return found;
}

std::string describe(const Value* v) {
    switch (v->kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Bytes: return "bytes";
    case Value::Kind::List: return "list";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::Dict: return v->ordered ? "OrderedDict" : "dict";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Global: return "global " + v->s;
    case Value::Kind::Mark: return "mark";
    case Value::Kind::Tensor: {
        std::string o = "tensor [";
        for (size_t k = 0; k < v->tensor.sizes.size(); ++k) o += (k ? ", " : "") + std::to_string(v->tensor.sizes[k]);
        return o + "] " + v->tensor.storage->dtype;
    }
    }
    return "?";
}

Pickle parsePickle(std::string_view data, const std::string& name, size_t offset) {
    if (offset > data.size()) throw Error(name + ": pickle offset beyond the end of the file");
    return Machine(data, name, offset).run();
}

bool looksLegacy(std::string_view data) {
    // PROTO 2, LONG1 10 bytes: the magic number 0x1950a86a20f9469cfc6c.
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    return data.size() >= sizeof magic && std::memcmp(data.data(), magic, sizeof magic) == 0;
}

LegacyFile parseLegacy(std::string_view data, const std::string& name) {
    if (!looksLegacy(data)) throw Error(name + ": not a legacy torch.save file");
    Pickle magic = parsePickle(data, name, 0);
    Pickle version = parsePickle(data, name, magic.end);
    if (version.root->kind != Value::Kind::Int || version.root->i != 1001)
        throw Error(name + ": legacy torch.save protocol version is not 1001; re-save it in Python with "
                           "torch.save(torch.load(f), f2) (PyTorch >= 1.6 writes the zip format)");
    Pickle sysInfo = parsePickle(data, name, version.end);
    if (const Value* le = sysInfo.root->get("little_endian"); le && le->kind == Value::Kind::Bool && !le->b)
        throw Error(name + ": saved on a big-endian machine; re-save it there with a recent PyTorch");
    LegacyFile out;
    out.object = parsePickle(data, name, sysInfo.end);
    Pickle keys = parsePickle(data, name, out.object.end);
    if (keys.root->kind != Value::Kind::List) throw Error(name + ": legacy storage key list missing");
    std::map<std::string, const StorageRef*> byKey;
    for (const auto& s : out.object.storages) byKey[s->key] = s.get();
    size_t p = keys.end;
    for (const Value* k : keys.root->items) {
        if (!k->isStr()) throw Error(name + ": legacy storage key is not a string");
        auto it = byKey.find(k->s);
        if (it == byKey.end()) throw Error(name + ": legacy storage '" + k->s + "' is not used by any tensor");
        if (data.size() - p < 8) throw Error(name + ": truncated (storage '" + k->s + "' is missing)");
        int64_t n = 0;
        std::memcpy(&n, data.data() + p, 8);
        p += 8;
        if (n != it->second->numel) throw Error(name + ": legacy storage '" + k->s + "' has the wrong size");
        const uint64_t bytes = static_cast<uint64_t>(n) * static_cast<uint64_t>(it->second->elementSize);
        if (n < 0 || bytes > data.size() - p) throw Error(name + ": truncated (storage '" + k->s + "' is cut short)");
        out.storageBytes.emplace_back(k->s, p);
        p += static_cast<size_t>(bytes);
    }
    if (out.storageBytes.size() != byKey.size()) throw Error(name + ": legacy file lists fewer storages than it uses");
    return out;
}

}  // namespace pqw::pth
