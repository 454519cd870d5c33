// OMENN over TorchScript graphs: the walker behind `pqw explain --script` and TorchScript
// trunks under a head. See docs/omenn.md, "TorchScript models".
//
// Two passes over the frozen graph (torch::jit::freeze: weights constant, submodules inlined):
//  1. a dependency pass (backwards from the output) marks the values on the *linear path*:
//     those the output is linear in once every gate is frozen. A gate function (sigmoid,
//     softmax, rsqrt, ...) stops the marking; so do a divisor and the query / key of
//     attention. A value that only shapes a gate is never marked.
//  2. the evaluation: unmarked values are computed detached (no autograd: the attention
//     scores q k^T, a LayerNorm's variance, an SE branch); marked ones run through the op's
//     frozen linear piece with autograd, recording every bias term with its placement.
// A value computed by a gate function from the input ("gate value") may meet the linear
// path only as a factor (mul, div, matmul, einsum, attention); a product of two linear-path
// values, or a gate value added to the linear path, is refused naming the op.
#include <torch/torch.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "omenn/explainer_impl.h"
#include "omenn/frozen.h"
#include "pqw/error.h"

namespace pqw {
namespace {

using omenn::BiasTerm;
using omenn::Placement;
using PK = Placement::Kind;
using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

const char* kPrefix = "OMENN (TorchScript): ";

bool inPlace(const std::string& k) { return k.size() > 2 && k.back() == '_' && k[k.size() - 2] != '_'; }
std::string baseName(const std::string& k) { return inPlace(k) ? k.substr(0, k.size() - 1) : k; }

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

int64_t normDim(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

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

class ScriptEval {
public:
    explicit ScriptEval(std::vector<BiasTerm>& biases) : biases_(biases) {}
    std::unordered_map<const Value*, c10::IValue> env;

    /// Evaluates the graph: input 0 the module, input 1 the image x [1, C, H, W] (requires grad).
    torch::Tensor run(const std::shared_ptr<torch::jit::Graph>& graph, const c10::IValue& self, const torch::Tensor& x) {
        if (graph->inputs().size() != 2) throw Error(std::string(kPrefix) + "forward must take one tensor");
        if (graph->outputs().size() != 1) throw Error(std::string(kPrefix) + "forward must return one tensor");
        need_.insert(graph->outputs()[0]);
        markBlock(graph->block());
        env[graph->inputs()[0]] = self;
        env[graph->inputs()[1]] = x;
        Placement p;
        p.kind = PK::Grid;
        p.h = 2;
        p.w = 3;
        place_[graph->inputs()[1]] = p;
        runBlock(graph->block());
        const Value* o = graph->outputs()[0];
        const auto& out = env.at(o);
        if (!out.isTensor()) throw Error(std::string(kPrefix) + "forward must return one tensor");
        auto g = gate_.find(o);
        if (g != gate_.end() && !out.toTensor().requires_grad())
            throw Error(std::string(kPrefix) + "the output depends on the input only through " + g->second +
                        ", which has no linear path (gates are supported as factors: x * gate(x), attention @ v)");
        return out.toTensor();
    }

private:
    std::vector<BiasTerm>& biases_;
    std::unordered_set<const Value*> need_;                  ///< on the linear path
    std::unordered_map<const Value*, std::string> gate_;     ///< gate values: the op they came from
    std::unordered_map<const Value*, Placement> place_;      ///< where a linear-path tensor's positions are
    std::vector<std::pair<size_t, const Value*>> pending_;   ///< bias terms placed like a node output

    // ----------------------------------------------------------------- dependency pass
    void markBlock(Block* b) {
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

    // ----------------------------------------------------------------- helpers
    static bool dep(const c10::IValue& v) {
        if (v.isTensor()) return v.toTensor().defined() && v.toTensor().requires_grad();
        if (v.isTensorList()) {
            for (const auto& t : v.toTensorVector())
                if (t.defined() && t.requires_grad()) return true;
            return false;
        }
        if (v.isList())
            for (const auto& e : v.toListRef())
                if (dep(e)) return true;
        if (v.isTuple())
            for (const auto& e : v.toTupleRef().elements())
                if (dep(e)) return true;
        return false;
    }
    bool dep(const Value* v) const { return dep(env.at(v)); }
    torch::Tensor t(Node* n, size_t i) { return env.at(n->input(i)).toTensor(); }
    double scalar(Node* n, size_t i) { return env.at(n->input(i)).toScalar().toDouble(); }
    bool none(Node* n, size_t i) { return n->inputs().size() <= i || env.at(n->input(i)).isNone(); }
    torch::Tensor optTensor(Node* n, size_t i) {
        if (none(n, i)) return {};
        const auto& v = env.at(n->input(i));
        return v.isTensor() ? v.toTensor() : torch::Tensor();
    }

    void generic(Node* n) {
        torch::jit::Stack stack;
        for (auto* v : n->inputs()) stack.push_back(env.at(v));
        n->getOperation()(stack);
        for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = stack.at(i);
    }
    /// Without autograd (a gate's computation, or constants). In-place ops work on a copy so
    /// that a linear-path tensor saved for the backward pass is never changed.
    void detached(Node* n, const std::string& k) {
        torch::NoGradGuard ng;
        // (Only a linear-path tensor is copied: an in-place write into a view of a constant,
        // such as Swin's attention mask filled slice by slice, must reach the constant.)
        if (inPlace(k) && !n->inputs().empty() && env.at(n->input(0)).isTensor() &&
            env.at(n->input(0)).toTensor().requires_grad()) {
            torch::jit::Stack stack;
            for (auto* v : n->inputs()) stack.push_back(env.at(v));
            stack[0] = stack[0].toTensor().clone();
            n->getOperation()(stack);
            for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = stack.at(i);
            return;
        }
        generic(n);
    }
    /// The gate origin of a value (or of any tensor in a list value), empty if none.
    std::string gateOf(const Value* v) const {
        auto g = gate_.find(v);
        if (g != gate_.end()) return g->second;
        return {};
    }
    void tagOutputs(Node* n, const std::string& origin) {
        for (auto* o : n->outputs()) gate_[o] = origin;
    }

    /// A bias term at tensor `at`; placed like value `v` (resolved after the node), or `explicitPlace`.
    void bias(const std::string& name, const torch::Tensor& at, const torch::Tensor& b, const Value* v,
              std::optional<Placement> explicitPlace = std::nullopt) {
        BiasTerm bt;
        bt.layer = name;
        bt.at = at;
        bt.bias = b.detach();
        bt.place.kind = PK::Global;
        if (explicitPlace) bt.place = *explicitPlace;
        else pending_.emplace_back(biases_.size(), v);
        biases_.push_back(std::move(bt));
    }
    static torch::Tensor channelView(const torch::Tensor& b, const torch::Tensor& y) {
        std::vector<int64_t> shape(static_cast<size_t>(y.dim()), 1);
        if (y.dim() >= 2) shape[1] = -1;
        else shape[0] = -1;
        return b.view(shape);
    }
    std::optional<Placement> placeOf(const Value* v) const {
        auto p = place_.find(v);
        if (p == place_.end()) return std::nullopt;
        return p->second;
    }
    Placement globalPlace() const {
        Placement p;
        p.kind = PK::Global;
        return p;
    }

    // ----------------------------------------------------------------- evaluation
    void runBlock(Block* b) {
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

    void runNode(Node* n) {
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
    void plumbing(Node* n, const std::string& k) {
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

    // ----------------------------------------------------------------- linear path
    [[noreturn]] void refuse(Node* n, const std::string& k, const std::string& why = "") {
        throw Error(std::string(kPrefix) + "unsupported op " + k + " (output " + n->output(0)->debugName() + ")" +
                    (why.empty() ? "" : ": " + why));
    }

    void linearNode(Node* n, const std::string& k, const std::string& b) {
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
            if (inPlace(k)) {  // on a copy: the original may be saved for the backward pass
                torch::jit::Stack stack;
                for (auto* v : n->inputs()) stack.push_back(env.at(v));
                stack[0] = stack[0].toTensor().clone();
                n->getOperation()(stack);
                for (size_t i = 0; i < n->outputs().size(); ++i) env[n->output(i)] = stack.at(i);
                return;
            }
            return generic(n);
        }
        refuse(n, k);
    }

    /// cat / stack: constant pieces (a class token) are a bias term at the output.
    void concat(Node* n, const std::string& name) {
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
    void nativeMha(Node* n, const std::string& name) {
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
    void sdpa(Node* n, const std::string& name, const std::string& b) {
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

    // ----------------------------------------------------------------- placements
    /// The positions of the outputs of a linear-path node, from its inputs' (docs/omenn.md).
    void setPlaces(Node* n, const std::string& b) {
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
    static std::optional<Placement> reshapePlace(const Placement& p, const std::vector<int64_t>& I,
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
    std::optional<Placement> einsumPlace(Node* n, const Value* src, const Placement& p) {
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
};

}  // namespace

torch::Tensor omenn::scriptFrozenForward(const torch::jit::Module& frozen, const torch::Tensor& x,
                                         std::vector<BiasTerm>& biases) {
    ScriptEval ev(biases);
    return ev.run(frozen.get_method("forward").graph(), frozen._ivalue(), x);
}

Attribution explainScriptModule(const torch::jit::Module& module, const torch::Tensor& x0, int index) {
    auto m = module.clone();
    m.eval();
    torch::jit::Module frozen;
    try {
        frozen = torch::jit::freeze(m);
    } catch (const c10::Error& e) {
        throw Error(std::string(kPrefix) + "the module cannot be frozen (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
    double real;
    {
        torch::NoGradGuard ng;
        torch::Tensor y;
        try {
            y = m.forward({x0}).toTensor().flatten();
        } catch (const c10::Error& e) {
            std::string w = e.what_without_backtrace();
            throw Error("the TorchScript module fails on a " + std::to_string(x0.size(1)) + "x" +
                        std::to_string(x0.size(2)) + "x" + std::to_string(x0.size(3)) + " input: " +
                        w.substr(0, w.find('\n')).substr(0, 200));
        }
        if (index < 0 || index >= y.size(0)) throw Error("output " + std::to_string(index) + " out of range");
        real = y[index].item<double>();
    }
    omenn::FrozenPass fp;
    fp.x = x0.detach().clone().requires_grad_(true);
    fp.logits = omenn::scriptFrozenForward(frozen, fp.x, fp.biases).flatten();
    auto z = fp.logits[index];
    if (!z.requires_grad()) {  // the output does not depend on the input: all bias
        Attribution a;
        a.method = "omenn";
        a.channels = static_cast<int>(x0.size(1));
        a.height = static_cast<int>(x0.size(2));
        a.width = static_cast<int>(x0.size(3));
        a.perChannel.assign(static_cast<size_t>(x0.numel()), 0.f);
        a.map.assign(static_cast<size_t>(a.height * a.width), 0.f);
        a.biasSum = z.item<double>();
        a.biasMap.assign(a.map.size(), static_cast<float>(a.biasSum / static_cast<double>(a.map.size())));
        a.output = real;
        a.completenessError = std::abs(a.biasSum - real);
        return a;
    }
    return omenn::attribute(fp, z, real, false);
}

namespace {
torch::jit::Module loadScript(const std::string& path) {
    try {
        return torch::jit::load(path);
    } catch (const c10::Error& e) {
        throw Error(path + ": not a TorchScript module (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
}
}  // namespace

std::vector<float> torchScriptOutputs(const std::string& path, const float* x, int channels, int height, int width) {
    auto m = loadScript(path);
    m.eval();
    torch::NoGradGuard ng;
    auto xt = torch::from_blob(const_cast<float*>(x), {1, channels, height, width}, torch::kFloat).clone();
    // The output must be what a classifier returns (issue 17, case 11).
    torch::jit::IValue out;
    try {
        out = m.forward({xt});
    } catch (const c10::Error& e) {
        std::string w = e.what_without_backtrace();
        throw Error(path + ": fails on a " + std::to_string(channels) + "x" + std::to_string(height) + "x" +
                    std::to_string(width) + " input: " + w.substr(0, w.find('\n')).substr(0, 200));
    } catch (const std::exception& e) {  // the TorchScript interpreter's own errors (std::runtime_error)
        std::string w = e.what();
        throw Error(path + ": fails on a " + std::to_string(channels) + "x" + std::to_string(height) + "x" +
                    std::to_string(width) + " input: " + w.substr(0, w.find('\n')).substr(0, 200));
    }
    if (!out.isTensor()) throw Error(path + ": forward() must return a tensor of logits [1, classes], not " + out.tagKind());
    auto y = out.toTensor();
    if (!y.is_floating_point())
        throw Error(path + ": forward() returned " + std::string(c10::toString(y.scalar_type())) +
                    " values; logits must be floating point");
    if (y.dim() != 2 || y.size(0) != 1)
        throw Error(path + ": forward() returned shape " + c10::str(y.sizes()) + "; a classifier's logits [1, classes] are needed");
    y = y.to(torch::kFloat).flatten().contiguous();
    if (!torch::isfinite(y).all().item<bool>()) throw Error(path + ": forward() returned NaN or infinite logits");
    return {y.data_ptr<float>(), y.data_ptr<float>() + y.numel()};
}

Attribution explainTorchScript(const std::string& path, const float* x, int channels, int height, int width,
                               int outputIndex) {
    auto m = loadScript(path);
    auto xt = torch::from_blob(const_cast<float*>(x), {1, channels, height, width}, torch::kFloat).clone();
    return explainScriptModule(m, xt, outputIndex);
}

}  // namespace pqw
