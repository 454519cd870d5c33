// OMENN over TorchScript graphs, analysis: which ops are gates, linear, multiplicative; the
// dependency pass marking the linear path; where a linear-path tensor keeps its positions
// (bias placement). See script_walker.cpp for the overview and docs/omenn.md.
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

/// Functions of the input frozen as a whole (their output is a gate value): no linear path
/// runs through them.
bool pureGate(const std::string& b) {
    static const std::unordered_set<std::string> s = {
        "aten::sigmoid", "aten::tanh", "aten::softmax", "aten::_softmax", "aten::log_softmax", "aten::hardsigmoid",
        "aten::exp", "aten::rsqrt", "aten::sqrt", "aten::reciprocal", "aten::erf", "aten::var", "aten::std",
        "aten::norm", "aten::linalg_vector_norm", "aten::frobenius_norm", "aten::sign", "aten::eq", "aten::ne",
        "aten::lt", "aten::gt", "aten::le", "aten::ge", "aten::argmax", "aten::argmin", "aten::detach",
        "aten::logical_not", "aten::isnan"};
    return s.count(b) > 0;
}

bool attentionOp(const std::string& b) {
    return b == "aten::_native_multi_head_attention" || b == "aten::_scaled_dot_product_attention" ||
           b == "aten::scaled_dot_product_attention";
}

/// Ops through which a gate value may meet the linear path: as a factor.
bool multiplicative(const std::string& b) {
    return b == "aten::mul" || b == "aten::div" || b == "aten::matmul" || b == "aten::mm" || b == "aten::bmm" ||
           b == "aten::einsum" || b == "aten::baddbmm" || b == "aten::masked_fill" || b == "aten::where" ||
           b == "aten::index" || b == "aten::gather" || b == "aten::index_select" || attentionOp(b);
}

/// Ops producing a fresh tensor whose values do not depend on their tensor argument's values.
bool factory(const std::string& b) {
    static const std::unordered_set<std::string> s = {"aten::new_zeros", "aten::new_ones", "aten::new_empty",
                                                      "aten::new_full",  "aten::zeros_like", "aten::ones_like",
                                                      "aten::empty_like", "aten::full_like", "aten::size"};
    return s.count(b) > 0;
}

/// Linear ops whose own implementation is their frozen linear map (autograd gives the
/// transpose; max pooling's one-hot is the frozen gate) and which add no constant.
bool plainLinear(const std::string& b) {
    static const std::unordered_set<std::string> s = {
        "aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", "aten::adaptive_avg_pool1d",
        "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d", "aten::avg_pool1d", "aten::avg_pool2d",
        "aten::avg_pool3d", "aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::mean", "aten::sum",
        "aten::flatten", "aten::unflatten", "aten::view", "aten::view_as", "aten::reshape", "aten::reshape_as",
        "aten::contiguous", "aten::permute", "aten::transpose", "aten::t", "aten::squeeze", "aten::unsqueeze",
        "aten::select", "aten::slice", "aten::narrow", "aten::neg", "aten::clone", "aten::roll", "aten::expand",
        "aten::expand_as", "aten::repeat", "aten::index", "aten::gather", "aten::index_select", "aten::chunk",
        "aten::unsafe_chunk", "aten::split", "aten::split_with_sizes", "aten::unsafe_split",
        "aten::unsafe_split_with_sizes", "aten::unbind", "aten::upsample_nearest1d", "aten::upsample_nearest2d",
        "aten::upsample_nearest3d", "aten::upsample_bilinear2d", "aten::upsample_linear1d",
        "aten::upsample_bicubic2d", "aten::upsample_trilinear3d", "aten::pixel_shuffle", "aten::pixel_unshuffle",
        "aten::flip", "aten::to", "aten::type_as", "aten::movedim", "aten::swapaxes", "aten::amax",
        "aten::adaptive_max_pool3d", "aten::channel_shuffle", "aten::tile", "aten::cumsum"};
    return s.count(b) > 0;
}

/// The ops' linear positions: inputs the output is linear in when gates are frozen.
std::vector<bool> linearInputs(const Node* n, const std::string& b) {
    std::vector<bool> lin(n->inputs().size(), true);
    auto only = [&](std::initializer_list<size_t> keep) {
        std::fill(lin.begin(), lin.end(), false);
        for (size_t i : keep)
            if (i < lin.size()) lin[i] = true;
    };
    if (pureGate(b)) only({});
    else if (b == "aten::div") only({0});
    else if (attentionOp(b)) only({2});
    else if (b == "aten::masked_fill" || b == "aten::index" || b == "aten::index_select" || b == "aten::gather") only({0});
    else if (b == "aten::where") only({1, 2});
    return lin;
}

void ScriptEval::markBlock(Block* b) {
    std::vector<Node*> nodes(b->nodes().begin(), b->nodes().end());
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        Node* n = *it;
        bool any = false;
        for (auto* o : n->outputs()) any = any || need_.count(o) > 0;
        if (!any) continue;
        for (Block* sub : n->blocks()) {
            for (size_t i = 0; i < n->outputs().size() && i < sub->outputs().size(); ++i)
                if (need_.count(n->output(i))) need_.insert(sub->outputs()[i]);
            markBlock(sub);
        }
        const auto lin = linearInputs(n, baseName(n->kind().toQualString()));
        for (size_t i = 0; i < lin.size(); ++i)
            if (lin[i]) need_.insert(n->input(i));
    }
}

/// The positions of the outputs of a linear-path node, from its inputs' (docs/omenn.md).
void ScriptEval::setPlaces(Node* n, const std::string& b) {
    const Value* src = nullptr;  // the first linear-path input with a known placement
    for (auto* v : n->inputs()) {
        if (!dep(v)) continue;
        if (place_.count(v)) {
            src = v;
            break;
        }
        // a list of tensors (cat, einsum): its linear-path elements' producers
        if (v->node()->kind() == c10::Symbol::fromQualString("prim::ListConstruct"))
            for (auto* e : v->node()->inputs())
                if (dep(e) && place_.count(e)) {
                    src = e;
                    break;
                }
        if (src) break;
    }
    if (attentionOp(b) && place_.count(n->input(2))) src = n->input(2);
    if (!src) return;
    const Placement p = place_.at(src);
    const auto& sv = env.at(src);
    if (!sv.isTensor()) return;
    const auto in = sv.toTensor();
    const int64_t r = in.dim();
    std::optional<Placement> q;
    auto dims = [&](const Placement& pp) {
        std::vector<int> d;
        if (pp.kind == PK::Grid) d = {pp.h, pp.w};
        if (pp.kind == PK::Tokens) d = {pp.t};
        return d;
    };
    auto remap = [&](const std::function<int(int)>& f) -> std::optional<Placement> {
        Placement o = p;
        if (o.kind == PK::Grid) {
            o.h = f(o.h);
            o.w = f(o.w);
            if (o.h < 0 || o.w < 0) return std::nullopt;
        } else if (o.kind == PK::Tokens) {
            o.t = f(o.t);
            if (o.t < 0) return std::nullopt;
        }
        return o;
    };
    const auto pd = dims(p);
    auto isPlaceDim = [&](int64_t d) { return std::find(pd.begin(), pd.end(), int(d)) != pd.end(); };
    auto outTensor = [&](size_t i) -> torch::Tensor {
        const auto& v = env.at(n->output(i));
        return v.isTensor() ? v.toTensor() : torch::Tensor();
    };
    if (b == "aten::permute") {
        auto perm = env.at(n->input(1)).toIntVector();
        q = remap([&](int d) {
            for (size_t i = 0; i < perm.size(); ++i)
                if (normDim(perm[i], r) == d) return int(i);
            return -1;
        });
    } else if (b == "aten::transpose" || b == "aten::swapaxes" || b == "aten::t") {
        int64_t a = 0, c = 1;
        if (b != "aten::t") {
            a = normDim(env.at(n->input(1)).toInt(), r);
            c = normDim(env.at(n->input(2)).toInt(), r);
        }
        q = remap([&](int d) { return d == a ? int(c) : d == c ? int(a) : d; });
    } else if (b == "aten::flatten") {
        const int64_t s = normDim(env.at(n->input(1)).toInt(), r), e = normDim(env.at(n->input(2)).toInt(), r);
        if (p.kind == PK::Grid && p.w == p.h + 1 && s == p.h && e == p.w) {
            Placement o;
            o.kind = PK::Tokens;
            o.t = p.h;
            o.gh = in.size(p.h);
            o.gw = in.size(p.w);
            q = o;
        } else {
            q = remap([&](int d) { return d < s ? d : d > e ? int(d - (e - s)) : (s == e ? d : -1); });
        }
    } else if (b == "aten::unflatten") {
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r);
        const auto sizes = env.at(n->input(2)).toIntVector();
        if (p.kind == PK::Tokens && p.t == dim && p.extra == 0 && sizes.size() == 2 && sizes[0] == p.gh &&
            sizes[1] == p.gw) {
            Placement o;
            o.kind = PK::Grid;
            o.h = int(dim);
            o.w = int(dim) + 1;
            q = o;
        } else {
            q = remap([&](int d) { return d < dim ? d : d > dim ? int(d + int64_t(sizes.size()) - 1) : -1; });
        }
    } else if (b == "aten::reshape" || b == "aten::view" || b == "aten::view_as" || b == "aten::reshape_as") {
        q = reshapePlace(p, in.sizes().vec(), outTensor(0).sizes().vec());
    } else if (b == "aten::cat") {
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r);
        const auto items = env.at(n->input(0)).toListRef();
        int64_t before = 0;
        bool after = false, seen = false;
        for (const auto& e : items) {
            if (dep(e)) {
                if (seen) after = true;
                seen = true;
            } else if (!seen) {
                before += e.toTensor().size(dim);
            } else {
                after = true;
            }
        }
        if (!isPlaceDim(dim)) q = p;
        else if (p.kind == PK::Tokens && dim == p.t && !after) {
            Placement o = p;
            o.extra += before;
            q = o;
        }
    } else if (b == "aten::slice") {
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r);
        const int64_t T = in.size(dim);
        int64_t s = none(n, 2) ? 0 : env.at(n->input(2)).toInt(), e = none(n, 3) ? T : env.at(n->input(3)).toInt();
        const int64_t step = none(n, 4) ? 1 : env.at(n->input(4)).toInt();
        if (s < 0) s += T;
        if (e < 0) e += T;
        e = std::min(e, T);
        if (!isPlaceDim(dim)) q = p;
        else if (s == 0 && e == T && step == 1) q = p;
        else if (p.kind == PK::Grid) q = p;  // a strided / cropped grid: still rows and columns
        else if (p.kind == PK::Tokens && step == 1 && s <= p.extra && e >= p.extra + p.gh * p.gw) {
            Placement o = p;
            o.extra -= s;
            q = o;
        }
    } else if (b == "aten::select") {
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r);
        if (!isPlaceDim(dim)) q = remap([&](int d) { return d > dim ? d - 1 : d; });
    } else if (b == "aten::mean" || b == "aten::sum" || b == "aten::amax") {
        if (n->inputs().size() < 3 || none(n, 1)) return;
        const auto rd = env.at(n->input(1)).toIntVector();
        const bool keep = env.at(n->input(2)).toBool();
        for (auto d : rd)
            if (isPlaceDim(normDim(d, r))) return;
        q = remap([&](int d) {
            int s = d;
            if (!keep)
                for (auto x : rd)
                    if (normDim(x, r) < d) --s;
            return s;
        });
    } else if (b == "aten::unsqueeze") {
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r + 1);
        q = remap([&](int d) { return d >= dim ? d + 1 : d; });
    } else if (b == "aten::squeeze") {
        if (n->inputs().size() < 2) return;
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r);
        if (isPlaceDim(dim) || in.size(dim) != 1) q = in.size(dim) != 1 ? std::optional<Placement>(p) : std::nullopt;
        else q = remap([&](int d) { return d > dim ? d - 1 : d; });
    } else if (b == "aten::chunk" || b == "aten::split" || b == "aten::split_with_sizes" ||
               b == "aten::unsafe_chunk" || b == "aten::unsafe_split" || b == "aten::unsafe_split_with_sizes") {
        const int64_t dim = normDim(env.at(n->input(2)).toInt(), r);
        if (!isPlaceDim(dim)) q = p;
    } else if (b == "aten::unbind") {
        const int64_t dim = normDim(n->inputs().size() > 1 ? env.at(n->input(1)).toInt() : 0, r);
        if (!isPlaceDim(dim)) q = remap([&](int d) { return d > dim ? d - 1 : d; });
    } else if (b == "aten::gather" || b == "aten::index_select") {
        const int64_t dim = normDim(env.at(n->input(1)).toInt(), r);
        if (!isPlaceDim(dim)) q = p;  // along a position dim the order changes: no placement
    } else if (b == "aten::index") {
        return;
    } else if (b == "aten::einsum") {
        q = einsumPlace(n, src, p);
    } else {
        auto o = outTensor(0);
        if (o.defined() && o.dim() == r) q = p;
    }
    if (!q) return;
    for (auto* o : n->outputs()) place_[o] = *q;
}

/// A reshape keeps a placement dim when it keeps its size and the product of the sizes
/// before it; a grid's two dims may merge into tokens and tokens split into a grid.
std::optional<Placement> ScriptEval::reshapePlace(const Placement& p, const std::vector<int64_t>& I,
                                             const std::vector<int64_t>& O) {
    auto prefix = [](const std::vector<int64_t>& s, int64_t d) {
        int64_t v = 1;
        for (int64_t i = 0; i < d; ++i) v *= s[size_t(i)];
        return v;
    };
    auto find = [&](int64_t P, int64_t size) -> int {
        for (size_t i = 0; i < O.size(); ++i)
            if (prefix(O, int64_t(i)) == P && O[i] == size) return int(i);
        return -1;
    };
    if (I == O) return p;
    if (p.kind == PK::Grid && p.w == p.h + 1) {
        const int64_t P = prefix(I, p.h);
        const int a = find(P, I[size_t(p.h)]);
        if (a >= 0 && size_t(a + 1) < O.size() && O[size_t(a + 1)] == I[size_t(p.w)]) {
            Placement o = p;
            o.h = a;
            o.w = a + 1;
            return o;
        }
        const int tkn = find(P, I[size_t(p.h)] * I[size_t(p.w)]);
        if (tkn >= 0) {
            Placement o;
            o.kind = PK::Tokens;
            o.t = tkn;
            o.gh = I[size_t(p.h)];
            o.gw = I[size_t(p.w)];
            return o;
        }
    }
    if (p.kind == PK::Tokens) {
        const int64_t P = prefix(I, p.t);
        const int tk = find(P, I[size_t(p.t)]);
        if (tk >= 0) {
            Placement o = p;
            o.t = tk;
            return o;
        }
        const int g = find(P, p.gh);
        if (p.extra == 0 && g >= 0 && size_t(g + 1) < O.size() && O[size_t(g + 1)] == p.gw &&
            p.gh * p.gw == I[size_t(p.t)]) {
            Placement o;
            o.kind = PK::Grid;
            o.h = g;
            o.w = g + 1;
            return o;
        }
    }
    return std::nullopt;
}

/// einsum keeps a placement dim whose subscript appears in the output.
std::optional<Placement> ScriptEval::einsumPlace(Node* n, const Value* src, const Placement& p) {
    std::string eq = env.at(n->input(0)).toStringRef();
    eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
    const auto arrow = eq.find("->");
    if (arrow == std::string::npos || eq.find("...") != std::string::npos) return std::nullopt;
    const std::string outs = eq.substr(arrow + 2);
    std::vector<std::string> ins;
    std::stringstream ss(eq.substr(0, arrow));
    for (std::string s; std::getline(ss, s, ',');) ins.push_back(s);
    const auto items = env.at(n->input(1)).toListRef();
    size_t which = ins.size();
    for (size_t i = 0; i < items.size() && i < ins.size(); ++i)
        if (dep(items[i]) && items[i].isTensor() && items[i].toTensor().is_same(env.at(src).toTensor())) which = i;
    if (which == ins.size()) return std::nullopt;
    auto map = [&](int d) -> int {
        if (d < 0 || size_t(d) >= ins[which].size()) return -1;
        const auto pos = outs.find(ins[which][size_t(d)]);
        return pos == std::string::npos ? -1 : int(pos);
    };
    Placement o = p;
    if (o.kind == PK::Grid) {
        o.h = map(o.h);
        o.w = map(o.w);
        if (o.h < 0 || o.w < 0) return std::nullopt;
    } else if (o.kind == PK::Tokens) {
        o.t = map(o.t);
        if (o.t < 0) return std::nullopt;
    }
    return o;
}


}  // namespace pqw::omenn::walker
