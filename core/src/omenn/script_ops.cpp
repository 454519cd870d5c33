// OMENN over TorchScript graphs, evaluation: each node run detached (gates, constants) or
// through its frozen linear piece with autograd, recording bias terms. See script_walker.cpp
// for the overview and docs/omenn.md.
#include <torch/torch.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "omenn/script_eval.h"

namespace pqw::omenn::walker {

void ScriptEval::runBlock(Block* b) {
    for (auto* n : b->nodes()) {
        try {
            runNode(n);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            std::string what = e.what();
            if (auto* ce = dynamic_cast<const c10::Error*>(&e)) what = ce->what_without_backtrace();
            what = what.substr(0, what.find('\n'));
            throw Error(std::string(kPrefix) + n->kind().toQualString() + " (output " +
                        (n->outputs().empty() ? std::string("-") : n->output(0)->debugName()) +
                        ") failed: " + what.substr(0, 300));
        }
    }
}

void ScriptEval::runNode(Node* n) {
    const std::string k = n->kind().toQualString();
    if (k == "prim::Constant") {
        env[n->output()] = torch::jit::toIValue(n->output()).value();
        return;
    }
    if (k == "prim::If") {
        if (dep(n->input(0)) || !gateOf(n->input(0)).empty())
            throw Error(std::string(kPrefix) + "prim::If branches on a value computed from the input");
        auto* blk = n->blocks()[env.at(n->input(0)).toBool() ? 0 : 1];
        runBlock(blk);
        for (size_t i = 0; i < n->outputs().size(); ++i) {
            const Value* bo = blk->outputs()[i];
            env[n->output(i)] = env.at(bo);
            if (gate_.count(bo)) gate_[n->output(i)] = gate_.at(bo);
            if (place_.count(bo)) place_[n->output(i)] = place_.at(bo);
        }
        return;
    }
    if (!n->blocks().empty()) throw Error(std::string(kPrefix) + "control flow '" + k + "' is not supported");
    bool needed = false;
    for (auto* o : n->outputs()) needed = needed || need_.count(o) > 0;
    if (k.rfind("prim::", 0) == 0) return plumbing(n, k);
    const std::string b = baseName(k);
    if (!needed) return detached(n, k);  // only shapes a gate (or is unused): no autograd
    bool anyIn = false;  // a linear-path or gate value among the inputs
    for (auto* v : n->inputs()) anyIn = anyIn || dep(v) || !gateOf(v).empty();
    if (pureGate(b)) {
        detached(n, k);
        if (anyIn) {
            std::string origin;
            for (auto* v : n->inputs())
                if (origin.empty()) origin = gateOf(v);
            tagOutputs(n, origin.empty() ? k : origin);
        }
        return;
    }
    bool anyLin = false;
    for (auto* v : n->inputs()) anyLin = anyLin || dep(v);
    const auto lin = linearInputs(n, b);
    std::string gateIn;
    for (size_t i = 0; i < lin.size(); ++i)
        if (lin[i] && gateIn.empty()) gateIn = gateOf(n->input(i));
    if (!anyLin) {
        detached(n, k);
        if (!gateIn.empty() && !factory(b)) tagOutputs(n, gateIn);
        return;
    }
    bool tensorOut = false;
    for (auto* v : n->outputs()) tensorOut = tensorOut || v->type()->kind() == c10::TypeKind::TensorType;
    if (!gateIn.empty() && tensorOut && !factory(b) && !multiplicative(b))
        throw Error(std::string(kPrefix) + k + " (output " + n->output(0)->debugName() +
                    ") adds a value computed through " + gateIn +
                    " to the linear path; gates are supported only as factors (x * gate(x), attention @ v)");
    pending_.clear();
    linearNode(n, k, b);
    setPlaces(n, b);
    for (const auto& [i, v] : pending_) {
        auto p = placeOf(v);
        biases_[i].place = p ? *p : globalPlace();
    }
    pending_.clear();
}

/// prim:: list / tuple plumbing and scalar bookkeeping; tags follow the values.
void ScriptEval::plumbing(Node* n, const std::string& k) {
    if (k == "prim::ListConstruct") {
        auto elem = n->output()->type()->expectRef<c10::ListType>().getElementType();
        std::vector<c10::IValue> items;
        for (auto* v : n->inputs()) items.push_back(env.at(v));
        if (elem->kind() == c10::TypeKind::TensorType) {
            c10::List<at::Tensor> l;
            for (auto& i : items) l.push_back(i.toTensor());
            env[n->output()] = l;
        } else if (elem->kind() == c10::TypeKind::IntType) {
            c10::List<int64_t> l;
            for (auto& i : items) l.push_back(i.toInt());
            env[n->output()] = l;
        } else if (elem->kind() == c10::TypeKind::FloatType) {
            c10::List<double> l;
            for (auto& i : items) l.push_back(i.toDouble());
            env[n->output()] = l;
        } else {
            c10::impl::GenericList l(elem);
            for (auto& i : items) l.push_back(i);
            env[n->output()] = l;
        }
        for (auto* v : n->inputs())
            if (!gateOf(v).empty()) gate_[n->output()] = gateOf(v);
        return;
    }
    if (k == "prim::ListUnpack") {
        auto l = env.at(n->input(0)).toListRef();
        if (l.size() != n->outputs().size())
            throw Error(std::string(kPrefix) + "prim::ListUnpack of a list of " + std::to_string(l.size()) +
                        " into " + std::to_string(n->outputs().size()));
        for (size_t i = 0; i < n->outputs().size(); ++i) {
            env[n->output(i)] = l[i];
            if (gate_.count(n->input(0))) gate_[n->output(i)] = gate_.at(n->input(0));
            if (place_.count(n->input(0))) place_[n->output(i)] = place_.at(n->input(0));
        }
        return;
    }
    if (k == "prim::TupleConstruct") {
        std::vector<c10::IValue> items;
        for (auto* v : n->inputs()) items.push_back(env.at(v));
        env[n->output()] = c10::ivalue::Tuple::create(std::move(items));
        return;
    }
    if (k == "prim::TupleUnpack") {
        const auto& e = env.at(n->input(0)).toTupleRef().elements();
        for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = e[i];
        return;
    }
    if (k == "prim::GetAttr") {  // freezing leaves none for weights; buffers of submodules may remain
        generic(n);
        return;
    }
    torch::NoGradGuard ng;  // NumToTensor, Int, device, dtype, ... : bookkeeping on constants
    bool anyLin = false;
    for (auto* v : n->inputs()) anyLin = anyLin || dep(v);
    bool tensorOut = false;
    for (auto* v : n->outputs()) tensorOut = tensorOut || v->type()->kind() == c10::TypeKind::TensorType;
    if (anyLin && tensorOut) throw Error(std::string(kPrefix) + "unsupported op " + k + " on an input-dependent value");
    generic(n);
}

void ScriptEval::refuse(Node* n, const std::string& k, const std::string& why) {
    throw Error(std::string(kPrefix) + "unsupported op " + k + " (output " + n->output(0)->debugName() + ")" +
                (why.empty() ? "" : ": " + why));
}

void ScriptEval::linearNode(Node* n, const std::string& k, const std::string& b) {
    const std::string name = k + " (" + n->output(0)->debugName() + ")";
    auto out = [&](torch::Tensor y) { env[n->output(0)] = std::move(y); };
    bool tensorOut = false;
    for (auto* v : n->outputs()) tensorOut = tensorOut || v->type()->kind() == c10::TypeKind::TensorType;
    const bool first = env.at(n->input(0)).isTensor();
    // Shape queries and list-producing splits (chunk, split, unbind) run as themselves.
    if (!tensorOut && b != "aten::einsum") {
        if (plainLinear(b) || factory(b) || b == "aten::dim" || b == "aten::len" || b == "aten::numel") return generic(n);
        refuse(n, k);
    }
    if (b == "aten::einsum") {
        int lins = 0;
        for (const auto& e : env.at(n->input(1)).toListRef()) lins += dep(e) ? 1 : 0;
        if (lins > 1) throw Error(std::string(kPrefix) + name + " multiplies two input-dependent values on the linear path");
        return generic(n);
    }
    if (b == "aten::cat" || b == "aten::stack") return concat(n, name);
    if (!first) refuse(n, k);
    const auto x = t(n, 0);
    const auto z = x.detach();
    if (b == "aten::relu") return out(torch::relu(x));
    if (b == "aten::leaky_relu") return out(torch::leaky_relu(x, none(n, 1) ? 0.01 : scalar(n, 1)));
    if (b == "aten::hardtanh" || b == "aten::relu6" || b == "aten::clamp" || b == "aten::clamp_min" ||
        b == "aten::clamp_max") {
        bool hasLo = false, hasHi = false;
        double lo = 0, hi = 0;
        if (b == "aten::relu6") {
            hasLo = hasHi = true;
            hi = 6;
        } else if (b == "aten::hardtanh") {
            hasLo = hasHi = true;
            lo = none(n, 1) ? -1.0 : scalar(n, 1);
            hi = none(n, 2) ? 1.0 : scalar(n, 2);
        } else if (b == "aten::clamp_min") {
            hasLo = true;
            lo = scalar(n, 1);
        } else if (b == "aten::clamp_max") {
            hasHi = true;
            hi = scalar(n, 1);
        } else {
            if (optTensor(n, 1).defined() || optTensor(n, 2).defined()) refuse(n, k, "tensor bounds");
            hasLo = !none(n, 1);
            hasHi = !none(n, 2);
            if (hasLo) lo = scalar(n, 1);
            if (hasHi) hi = scalar(n, 2);
        }
        torch::Tensor y = x;
        if (hasLo && hasHi) y = torch::hardtanh(x, lo, hi);  // backward: the gate 1[lo < z < hi]
        else if (hasLo) y = y.clamp_min(lo);
        else if (hasHi) y = y.clamp_max(hi);
        torch::Tensor bb = torch::zeros_like(z);
        if (hasLo) bb = bb + (z < lo).to(z.dtype()) * lo;
        if (hasHi) bb = bb + (z > hi).to(z.dtype()) * hi;
        if ((bb != 0).any().item<bool>()) bias(name, y, bb, n->output(0));
        return out(y);
    }
    if (b == "aten::gelu") {
        std::string approx = "none";
        if (n->inputs().size() > 1 && env.at(n->input(1)).isString()) approx = env.at(n->input(1)).toStringRef();
        if (approx == "tanh") {
            const double c = std::sqrt(2.0 / M_PI);
            return out(x * (0.5 * (1.0 + torch::tanh(c * (z + 0.044715 * z * z * z)))));
        }
        if (approx != "none") refuse(n, k, "approximate='" + approx + "'");
        return out(x * (0.5 * (1.0 + torch::erf(z * M_SQRT1_2))));
    }
    if (b == "aten::silu") return out(x * torch::sigmoid(z));
    if (b == "aten::hardswish") return out(x * torch::hardsigmoid(z));
    if (b == "aten::mish") return out(x * torch::tanh(torch::softplus(z)));
    if (b == "aten::layer_norm") {
        const auto shape = env.at(n->input(1)).toIntVector();
        std::vector<int64_t> dims;
        for (size_t i = 0; i < shape.size(); ++i) dims.push_back(x.dim() - 1 - static_cast<int64_t>(i));
        const double eps = scalar(n, 4);
        auto sd = torch::sqrt(z.var(dims, false, true) + eps);
        auto y = (x - x.mean(dims, true)) / sd;
        const auto w = optTensor(n, 2), bt = optTensor(n, 3);
        if (w.defined()) y = y * w;
        if (bt.defined()) {
            y = y + bt;
            bias(name, y, bt, n->output(0));
        }
        return out(y);
    }
    if (b == "aten::group_norm") {
        const int64_t G = env.at(n->input(1)).toInt();
        const auto w = optTensor(n, 2), bt = optTensor(n, 3);
        const double eps = scalar(n, 4);
        auto xs = x.reshape({x.size(0), G, -1});
        auto sd = torch::sqrt(xs.detach().var(-1, false, true) + eps);
        auto y = ((xs - xs.mean(-1, true)) / sd).view(x.sizes());
        if (w.defined()) y = y * channelView(w, y);
        if (bt.defined()) {
            y = y + channelView(bt, y);
            bias(name, y, channelView(bt, y), n->output(0));
        }
        return out(y);
    }
    if (b == "aten::conv2d" || b == "aten::conv1d" || b == "aten::conv3d" || b == "aten::_convolution" ||
        b == "aten::conv_transpose2d" || b == "aten::linear") {
        if (dep(n->input(1)) || (!none(n, 2) && dep(n->input(2))))
            throw Error(std::string(kPrefix) + name + " has input-dependent weights");
        generic(n);
        const auto bt = optTensor(n, 2);
        auto y = env.at(n->output(0)).toTensor();
        if (bt.defined()) bias(name, y, b == "aten::linear" ? bt : channelView(bt, y), n->output(0));
        return;
    }
    if (b == "aten::addmm") {
        if (dep(n->input(0))) refuse(n, k, "input-dependent bias");
        if (dep(n->input(1)) && dep(n->input(2)))
            throw Error(std::string(kPrefix) + name + " multiplies two input-dependent values on the linear path");
        generic(n);
        const double beta = n->inputs().size() > 3 ? scalar(n, 3) : 1.0;
        bias(name, env.at(n->output(0)).toTensor(), t(n, 0) * beta, n->output(0));
        return;
    }
    if (b == "aten::baddbmm") {
        if (dep(n->input(1)) && dep(n->input(2)))
            throw Error(std::string(kPrefix) + name + " multiplies two input-dependent values on the linear path");
        generic(n);
        const double beta = n->inputs().size() > 3 ? scalar(n, 3) : 1.0;
        if (!dep(n->input(0))) bias(name, env.at(n->output(0)).toTensor(), t(n, 0) * beta, n->output(0));
        return;
    }
    if (b == "aten::batch_norm") {
        if (!none(n, 5) && env.at(n->input(5)).toBool()) refuse(n, k, "batch norm in training mode");
        generic(n);  // eval: an affine map per channel
        auto y = env.at(n->output(0)).toTensor();
        const auto w = optTensor(n, 1), bt = optTensor(n, 2);
        auto mean = t(n, 3), var = t(n, 4);
        const double eps = scalar(n, 7);
        auto scale = torch::rsqrt(var + eps);
        if (w.defined()) scale = scale * w;
        auto shift = -mean * scale;
        if (bt.defined()) shift = shift + bt;
        bias(name, y, channelView(shift, y), n->output(0));
        return;
    }
    if (b == "aten::add" || b == "aten::sub" || b == "aten::rsub") {
        const auto& a0 = env.at(n->input(0));
        const auto& a1 = env.at(n->input(1));
        double alpha = n->inputs().size() > 2 ? scalar(n, 2) : 1.0;
        torch::Tensor y, c;
        auto other = [&]() { return a1.isTensor() ? a1.toTensor() : torch::full_like(z, a1.toScalar().toDouble()); };
        if (b == "aten::rsub") {  // other - alpha * self
            y = other() - alpha * x;
            c = dep(a1) ? torch::Tensor() : other();
            if (dep(a1) && !dep(a0)) c = -alpha * z;
        } else {
            if (b == "aten::sub") alpha = -alpha;
            y = a1.isTensor() ? x + alpha * a1.toTensor() : x + alpha * a1.toScalar().toDouble();
            if (!dep(a0)) c = z;
            else if (!dep(a1)) c = alpha * other();
        }
        if (c.defined()) bias(name, y, c, n->output(0));
        return out(y);
    }
    if (b == "aten::mul" || b == "aten::div" || b == "aten::matmul" || b == "aten::mm" || b == "aten::bmm") {
        if (b == "aten::div") {
            if (n->inputs().size() > 2 && !none(n, 2)) refuse(n, k, "rounding division");
            const auto& d = env.at(n->input(1));
            if (dep(d)) {  // the divisor is a gate position: frozen
                return out(x / d.toTensor().detach());
            }
            return generic(n);
        }
        int deps = 0;
        for (auto* v : n->inputs()) deps += dep(v) ? 1 : 0;
        if (deps > 1)
            throw Error(std::string(kPrefix) + name + " multiplies two input-dependent values on the linear path");
        return generic(n);
    }
    if (b == "aten::masked_fill") {
        generic(n);
        const auto& v = env.at(n->input(2));
        const double fill = v.isTensor() ? v.toTensor().item<double>() : v.toScalar().toDouble();
        if (fill != 0.0) {
            torch::NoGradGuard ng;
            auto c = torch::zeros_like(z).masked_fill(t(n, 1), fill);
            bias(name, env.at(n->output(0)).toTensor(), c, n->output(0));
        }
        return;
    }
    if (b == "aten::where") {
        if (n->inputs().size() != 3) refuse(n, k);
        const auto cond = t(n, 0);
        const auto& a = env.at(n->input(1));
        const auto& o = env.at(n->input(2));
        if (dep(a) && dep(o)) return generic(n);  // a frozen selection between two linear values
        generic(n);
        torch::NoGradGuard ng;
        auto zero = [](const c10::IValue& v) {
            return v.isTensor() ? torch::zeros_like(v.toTensor()) : torch::zeros({}, torch::kFloat);
        };
        auto av = dep(a) ? zero(a) : (a.isTensor() ? a.toTensor() : torch::scalar_tensor(a.toScalar().toDouble()));
        auto ov = dep(o) ? zero(o) : (o.isTensor() ? o.toTensor() : torch::scalar_tensor(o.toScalar().toDouble()));
        auto c = torch::where(cond, av, ov);
        if ((c != 0).any().item<bool>()) bias(name, env.at(n->output(0)).toTensor(), c.to(z.dtype()), n->output(0));
        return;
    }
    if (b == "aten::constant_pad_nd" || b == "aten::pad") {
        generic(n);
        double value = 0;
        if (b == "aten::constant_pad_nd" && !none(n, 2)) value = scalar(n, 2);
        if (b == "aten::pad") {
            const std::string mode = none(n, 2) ? "constant" : env.at(n->input(2)).toStringRef();
            if (mode == "constant" && !none(n, 3)) value = scalar(n, 3);
        }
        if (value != 0.0) {
            torch::NoGradGuard ng;
            auto c = torch::constant_pad_nd(torch::zeros_like(z), env.at(n->input(1)).toIntVector(), value);
            bias(name, env.at(n->output(0)).toTensor(), c, n->output(0));
        }
        return;
    }
    if (b == "aten::_native_multi_head_attention") return nativeMha(n, name);
    if (b == "aten::_scaled_dot_product_attention" || b == "aten::scaled_dot_product_attention") return sdpa(n, name, b);
    if (b == "aten::dropout" || b == "aten::feature_dropout" || b == "aten::alpha_dropout" ||
        b == "aten::feature_alpha_dropout") {
        // p = 0 is the identity whatever the mode (torchvision's Swin traces training=True).
        if (env.at(n->input(2)).toBool() && scalar(n, 1) != 0.0) refuse(n, k, "dropout in training mode");
        return out(x);
    }
    if (b == "aten::index" || b == "aten::gather" || b == "aten::index_select") {
        for (size_t i = 1; i < n->inputs().size(); ++i)
            if (dep(n->input(i))) refuse(n, k, "input-dependent indices on the linear path");
        return generic(n);
    }
    if (b == "aten::max" && n->inputs().size() >= 2 && env.at(n->input(1)).isTensor()) refuse(n, k, "elementwise max");
    if (plainLinear(b) || b == "aten::max") {
        return generic(n, inPlace(k));  // in place: on a copy, the original may be saved for the backward pass
    }
    refuse(n, k);
}

/// cat / stack: constant pieces (a class token) are a bias term at the output.
void ScriptEval::concat(Node* n, const std::string& name) {
    generic(n);
    const auto& l = env.at(n->input(0));
    bool anyConst = false;
    for (const auto& e : l.toListRef()) anyConst = anyConst || !dep(e);
    if (!anyConst) return;
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> parts;
    for (const auto& e : l.toListRef()) parts.push_back(dep(e) ? torch::zeros_like(e.toTensor()) : e.toTensor());
    const int64_t dim = env.at(n->input(1)).toInt();
    auto c = n->kind().toQualString() == std::string("aten::stack") ? torch::stack(parts, dim) : torch::cat(parts, dim);
    if ((c != 0).any().item<bool>()) bias(name, env.at(n->output(0)).toTensor(), c, n->output(0));
}

/// aten::_native_multi_head_attention (what nn.MultiheadAttention's fast path emits):
/// projections, the frozen attention matrix softmax(q k^T / sqrt(d)) from detached q and
/// k, the value path and the output projection; value and output biases are bias terms.
void ScriptEval::nativeMha(Node* n, const std::string& name) {
    if (!none(n, 9)) refuse(n, "aten::_native_multi_head_attention", "an attention mask");
    const auto query = t(n, 0), key = t(n, 1), value = t(n, 2);
    const int64_t E = env.at(n->input(3)).toInt(), H = env.at(n->input(4)).toInt();
    const auto Wqkv = t(n, 5), bqkv = optTensor(n, 6), Wp = t(n, 7), bp = optTensor(n, 8);
    const bool needW = n->inputs().size() > 10 && !none(n, 10) && env.at(n->input(10)).toBool();
    const bool avgW = n->inputs().size() <= 11 || none(n, 11) || env.at(n->input(11)).toBool();
    const int64_t d = E / H, B = query.size(0), Tq = query.size(1), Tk = key.size(1);
    auto W = Wqkv.chunk(3, 0);
    std::vector<torch::Tensor> bs;
    if (bqkv.defined()) bs = bqkv.chunk(3, 0);
    auto bi = [&](int i) { return bs.empty() ? torch::Tensor() : bs[size_t(i)]; };
    torch::Tensor att;
    {
        torch::NoGradGuard ng;
        auto q = torch::linear(query.detach(), W[0], bi(0)).view({B, Tq, H, d}).transpose(1, 2);
        auto kk = torch::linear(key.detach(), W[1], bi(1)).view({B, Tk, H, d}).transpose(1, 2);
        att = torch::softmax(torch::matmul(q, kk.transpose(-1, -2)) / std::sqrt(double(d)), -1);
    }
    const auto vp = placeOf(n->input(2));
    auto v = torch::linear(value, W[2], bi(2));
    if (bi(2).defined()) bias(name + " value", v, bi(2), nullptr, vp ? *vp : globalPlace());
    auto o = torch::matmul(att, v.view({B, Tk, H, d}).transpose(1, 2)).transpose(1, 2).reshape({B, Tq, E});
    auto y = torch::linear(o, Wp, bp);
    if (bp.defined()) bias(name + " projection", y, bp, n->output(0));
    env[n->output(0)] = y;
    if (n->outputs().size() > 1)
        env[n->output(1)] = needW ? (avgW ? att.mean(1) : att) : torch::empty({0}, y.options());
}

/// Scaled dot-product attention: the attention matrix from detached q, k is frozen.
void ScriptEval::sdpa(Node* n, const std::string& name, const std::string& b) {
    const auto q = t(n, 0).detach(), kk = t(n, 1).detach(), v = t(n, 2);
    const auto mask = optTensor(n, 3);
    const double p = none(n, 4) ? 0.0 : scalar(n, 4);
    if (p != 0.0) refuse(n, b, "attention dropout");
    bool causal = false;
    double scale = 1.0 / std::sqrt(double(q.size(-1)));
    if (b == "aten::_scaled_dot_product_attention") {  // (q, k, v, mask, p, need_weights, is_causal)
        if (n->inputs().size() > 6 && !none(n, 6)) causal = env.at(n->input(6)).toBool();
    } else {  // (q, k, v, mask, p, is_causal[, scale])
        if (n->inputs().size() > 5 && !none(n, 5)) causal = env.at(n->input(5)).toBool();
        if (n->inputs().size() > 6 && !none(n, 6)) scale = scalar(n, 6);
    }
    torch::Tensor att;
    {
        torch::NoGradGuard ng;
        auto s = torch::matmul(q * scale, kk.transpose(-1, -2));
        if (causal) s = s.masked_fill(torch::ones({s.size(-2), s.size(-1)}, torch::kBool).triu(1), -INFINITY);
        if (mask.defined()) s = mask.scalar_type() == torch::kBool ? s.masked_fill(mask.logical_not(), -INFINITY) : s + mask;
        att = torch::softmax(s, -1);
    }
    env[n->output(0)] = torch::matmul(att, v);
    if (n->outputs().size() > 1) env[n->output(1)] = att;
    (void)name;
}


}  // namespace pqw::omenn::walker
