#pragma once
// The TorchScript walker's interpreter (internal): the gate / linear-path rules of the ops and
// the ScriptEval class. Its passes live in script_analysis.cpp (dependency pass, placements,
// op classes), script_ops.cpp (evaluation of the nodes) and script_walker.cpp (entry points).
// See docs/omenn.md, "TorchScript models".
#include <torch/torch.h>
#include <torch/script.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "omenn/frozen.h"
#include "pqw/error.h"

namespace pqw::omenn::walker {

using omenn::BiasTerm;
using omenn::Placement;
using PK = Placement::Kind;
using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

inline constexpr const char* kPrefix = "OMENN (TorchScript): ";

inline bool inPlace(const std::string& k) { return k.size() > 2 && k.back() == '_' && k[k.size() - 2] != '_'; }
inline std::string baseName(const std::string& k) { return inPlace(k) ? k.substr(0, k.size() - 1) : k; }
inline int64_t normDim(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

/// Functions of the input frozen as a whole (their output is a gate value): no linear path
/// runs through them.
bool pureGate(const std::string& b);
bool attentionOp(const std::string& b);
/// Ops through which a gate value may meet the linear path: as a factor.
bool multiplicative(const std::string& b);
/// Ops producing a fresh tensor whose values do not depend on their tensor argument's values.
bool factory(const std::string& b);
/// Linear ops whose own implementation is their frozen linear map (autograd gives the
/// transpose; max pooling's one-hot is the frozen gate) and which add no constant.
bool plainLinear(const std::string& b);
/// The ops' linear positions: inputs the output is linear in when gates are frozen.
std::vector<bool> linearInputs(const Node* n, const std::string& b);

class ScriptEval {
public:
    explicit ScriptEval(std::vector<BiasTerm>& biases) : biases_(biases) {}
    std::unordered_map<const Value*, c10::IValue> env;

    /// Evaluates the graph: input 0 the module, input 1 the image x [1, C, H, W] (requires grad).
    torch::Tensor run(const std::shared_ptr<torch::jit::Graph>& graph, const c10::IValue& self, const torch::Tensor& x);

private:
    std::vector<BiasTerm>& biases_;
    std::unordered_set<const Value*> need_;                  ///< on the linear path
    std::unordered_map<const Value*, std::string> gate_;     ///< gate values: the op they came from
    std::unordered_map<const Value*, Placement> place_;      ///< where a linear-path tensor's positions are
    std::vector<std::pair<size_t, const Value*>> pending_;   ///< bias terms placed like a node output

    // ----------------------------------------------------------------- dependency pass
    void markBlock(Block* b);

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

    /// Runs the node's own operation on the current values. copyFirst: an in-place op works on
    /// a copy of its first input, so the original (perhaps saved for the backward pass) stays.
    void generic(Node* n, bool copyFirst = false) {
        torch::jit::Stack stack;
        for (auto* v : n->inputs()) stack.push_back(env.at(v));
        if (copyFirst) stack[0] = stack[0].toTensor().clone();
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
            env.at(n->input(0)).toTensor().requires_grad())
            return generic(n, true);
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
    void runBlock(Block* b);

    void runNode(Node* n);

    /// prim:: list / tuple plumbing and scalar bookkeeping; tags follow the values.
    void plumbing(Node* n, const std::string& k);

    // ----------------------------------------------------------------- linear path
    [[noreturn]] void refuse(Node* n, const std::string& k, const std::string& why = "");

    void linearNode(Node* n, const std::string& k, const std::string& b);

    /// cat / stack: constant pieces (a class token) are a bias term at the output.
    void concat(Node* n, const std::string& name);

    /// aten::_native_multi_head_attention (what nn.MultiheadAttention's fast path emits):
    /// projections, the frozen attention matrix softmax(q k^T / sqrt(d)) from detached q and
    /// k, the value path and the output projection; value and output biases are bias terms.
    void nativeMha(Node* n, const std::string& name);

    /// Scaled dot-product attention: the attention matrix from detached q, k is frozen.
    void sdpa(Node* n, const std::string& name, const std::string& b);

    // ----------------------------------------------------------------- placements
    /// The positions of the outputs of a linear-path node, from its inputs' (docs/omenn.md).
    void setPlaces(Node* n, const std::string& b);

    /// A reshape keeps a placement dim when it keeps its size and the product of the sizes
    /// before it; a grid's two dims may merge into tokens and tokens split into a grid.
    static std::optional<Placement> reshapePlace(const Placement& p, const std::vector<int64_t>& I,
                                                 const std::vector<int64_t>& O);

    /// einsum keeps a placement dim whose subscript appears in the output.
    std::optional<Placement> einsumPlace(Node* n, const Value* src, const Placement& p);
};

}  // namespace pqw::omenn::walker
