#include "nn/graph.h"

#include <algorithm>

#include "pqw/error.h"

namespace pqw::nn {

namespace {
std::string moduleName(const std::string& name, int index) {
    std::string s = name.empty() ? "node" + std::to_string(index) : name;
    for (char& c : s)
        if (c == '.') c = '_';
    return s;
}
}  // namespace

Graph::Graph(const std::string& inputName) {
    addNode(inputName, "InputLayer", {}, std::make_shared<Identity>());
}

int Graph::addNode(const std::string& name, const std::string& type, std::vector<int> inputs, LayerPtr module,
                   std::string config) {
    if (index_.count(name)) throw Error("graph: duplicate node name '" + name + "'");
    if (!module) throw Error("graph: node '" + name + "' has no module");
    const int idx = size();
    if (idx > 0 && inputs.empty()) throw Error("graph: node '" + name + "' has no inputs");
    for (int i : inputs)
        if (i < 0 || i >= idx) throw Error("graph: node '" + name + "' has an input that is not an earlier node");
    std::string mname = moduleName(name, idx);
    if (named_children().contains(mname)) mname += "_" + std::to_string(idx);
    register_module(mname, module);
    nodes_.push_back({name, type, std::move(inputs), std::move(module), std::move(config)});
    index_[name] = idx;
    return idx;
}

int Graph::indexOf(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? -1 : it->second;
}

std::vector<int> Graph::consumers(int i) const {
    std::vector<int> out;
    for (int j = i + 1; j < size(); ++j)
        if (std::find(nodes_[j].inputs.begin(), nodes_[j].inputs.end(), i) != nodes_[j].inputs.end())
            out.push_back(j);
    return out;
}

std::vector<bool> Graph::ancestors(int cut) const {
    if (cut < 0) cut = outputIndex();
    std::vector<bool> need(nodes_.size(), false);
    need[cut] = true;
    for (int i = cut; i >= 0; --i)
        if (need[i])
            for (int j : nodes_[i].inputs) need[j] = true;
    return need;
}

torch::Tensor Graph::forward(const torch::Tensor& x, int cut, const NodeHook& hook) const {
    if (cut < 0) cut = outputIndex();
    if (cut >= size()) throw Error("graph: cut index out of range");
    const auto need = ancestors(cut);
    // Remaining consumers of each needed node among the needed nodes.
    std::vector<int> remaining(nodes_.size(), 0);
    for (int i = 1; i <= cut; ++i)
        if (need[i])
            for (int j : nodes_[i].inputs) ++remaining[j];
    std::vector<torch::Tensor> out(nodes_.size());
    out[0] = x;
    if (hook) hook(0, nodes_[0], {}, x);
    std::vector<torch::Tensor> in;
    for (int i = 1; i <= cut; ++i) {
        if (!need[i]) continue;
        const Node& n = nodes_[i];
        in.clear();
        for (int j : n.inputs) {
            // Hand the tensor over when this is its last consumer (j may appear twice).
            if (--remaining[j] == 0 && j != 0 && !hook) in.push_back(std::move(out[j]));
            else in.push_back(out[j]);
        }
        // In place only when the first input is held by nobody else (not the caller's
        // tensor, not a view another live tensor shares storage with).
        const bool mayOverwrite = !hook && !in.empty() && in[0].defined() && in[0].use_count() == 1 &&
                                  in[0].storage().use_count() == 1;
        out[i] = n.module->forward(in, mayOverwrite);
        if (hook) hook(i, n, in, out[i]);
    }
    return out[cut];
}

std::vector<torch::Tensor> Graph::forwardAll(const torch::Tensor& x, int cut) const {
    std::vector<torch::Tensor> all(nodes_.size());
    forward(x, cut, [&](int i, const Node&, const std::vector<torch::Tensor>&, const torch::Tensor& y) { all[i] = y; });
    return all;
}

std::shared_ptr<Graph> Graph::upTo(int cut) const {
    if (cut < 0) cut = outputIndex();
    const auto need = ancestors(cut);
    auto g = std::make_shared<Graph>(nodes_[0].name);
    std::vector<int> map(nodes_.size(), -1);
    map[0] = 0;
    for (int i = 1; i <= cut; ++i) {
        if (!need[i]) continue;
        std::vector<int> ins;
        for (int j : nodes_[i].inputs) ins.push_back(map[j]);
        map[i] = g->addNode(nodes_[i].name, nodes_[i].type, ins, nodes_[i].module, nodes_[i].config);
    }
    return g;
}

std::vector<ReceptiveField> Graph::receptiveFields() const {
    std::vector<ReceptiveField> rf(nodes_.size());
    for (int i = 1; i < size(); ++i) {
        ReceptiveField r{1, 1};
        bool whole = false;
        for (int j : nodes_[i].inputs) {
            r.size = std::max(r.size, rf[j].size);
            r.stride = std::max(r.stride, rf[j].stride);
            whole = whole || rf[j].size == 0;
        }
        const Spatial s = nodes_[i].module->spatial();
        if (whole || (s.spatial && s.global)) {
            r.size = 0;
        } else if (s.spatial) {
            const int64_t k = std::max(s.kernelH, s.kernelW);
            r.size += (k - 1) * r.stride;
            r.stride *= std::max(s.strideH, s.strideW);
        }
        rf[i] = r;
    }
    return rf;
}

GraphPtr foldBatchNorm(const Graph& g) {
    auto out = std::make_shared<Graph>(g.node(0).name);
    std::vector<int> map(g.size(), -1);
    map[0] = 0;
    // Conv / Dense nodes that will be merged into their BatchNorm consumer.
    std::vector<bool> absorbed(g.size(), false);
    for (int i = 1; i < g.size(); ++i) {
        const Node& n = g.node(i);
        if (!std::dynamic_pointer_cast<BatchNorm>(n.module) || n.inputs.size() != 1) continue;
        const int p = n.inputs[0];
        const Node& pn = g.node(p);
        const bool foldable = std::dynamic_pointer_cast<Conv2d>(pn.module) || std::dynamic_pointer_cast<Dense>(pn.module);
        if (p != 0 && foldable && g.consumers(p).size() == 1) absorbed[p] = true;
    }
    torch::NoGradGuard noGrad;
    for (int i = 1; i < g.size(); ++i) {
        const Node& n = g.node(i);
        if (absorbed[i]) continue;
        std::vector<int> ins;
        for (int j : n.inputs) ins.push_back(map[j]);
        auto bn = std::dynamic_pointer_cast<BatchNorm>(n.module);
        if (bn && absorbed[n.inputs[0]]) {
            const Node& pn = g.node(n.inputs[0]);
            std::vector<int> pins;
            for (int j : pn.inputs) pins.push_back(map[j]);
            const auto scale = bn->scale();
            const auto shift = bn->shift();
            LayerPtr merged;
            if (auto conv = std::dynamic_pointer_cast<Conv2d>(pn.module)) {
                auto w = conv->weight * scale.view({-1, 1, 1, 1});
                auto b = conv->bias.defined() ? conv->bias * scale + shift : shift;
                auto mc = std::make_shared<Conv2d>(w, b, conv->stride, conv->pad, conv->dilation, conv->groups);
                mc->tfSame = conv->tfSame;
                merged = mc;
            } else {
                auto dense = std::dynamic_pointer_cast<Dense>(pn.module);
                auto w = dense->weight * scale.view({-1, 1});
                auto b = dense->bias.defined() ? dense->bias * scale + shift : shift;
                merged = std::make_shared<Dense>(w, b);
            }
            map[i] = out->addNode(n.name, pn.type, pins, merged, pn.config);
            continue;
        }
        map[i] = out->addNode(n.name, n.type, ins, n.module, n.config);
    }
    return out;
}

namespace {
/// A ZeroPad2d (t, b, l, r) followed by an unpadded Conv2d equals one Conv2d with symmetric
/// padding (max(t, b), max(l, r)) whose kernel gets zero rows / columns on the side that was
/// padded less: every window then reads exactly the cells it read before. Saves the copy.
std::shared_ptr<Conv2d> absorbPadding(const Pad4& p, const Conv2d& c) {
    const int64_t ph = std::max(p.top, p.bottom), pw = std::max(p.left, p.right);
    auto w = torch::constant_pad_nd(c.weight, {pw - p.left, pw - p.right, ph - p.top, ph - p.bottom}, 0.0);
    return std::make_shared<Conv2d>(w, c.bias, c.stride, Pad4{ph, ph, pw, pw}, c.dilation, c.groups);
}
}  // namespace

GraphPtr inferenceGraph(const Graph& g) {
    auto folded = foldBatchNorm(g);
    auto out = std::make_shared<Graph>(folded->node(0).name);
    std::vector<int> map(folded->size(), -1);
    std::vector<bool> absorbed(folded->size(), false);
    map[0] = 0;
    torch::NoGradGuard noGrad;
    for (int i = 1; i < folded->size(); ++i) {
        const Node& n = folded->node(i);
        std::vector<int> ins;
        for (int j : n.inputs) ins.push_back(map[j]);
        LayerPtr m = n.module;
        if (auto pad = std::dynamic_pointer_cast<ZeroPad2d>(m)) {
            // Absorbed by its only consumer when that is a plain unpadded convolution.
            const auto cons = folded->consumers(i);
            if (cons.size() == 1 && folded->node(cons[0]).inputs.size() == 1) {
                auto c = std::dynamic_pointer_cast<Conv2d>(folded->node(cons[0]).module);
                if (c && !c->tfSame && c->pad.zero() && c->dilation[0] == 1 && c->dilation[1] == 1) {
                    map[i] = ins[0];  // the convolution reads the pad's input directly
                    absorbed[i] = true;
                    continue;
                }
            }
        }
        if (auto c = std::dynamic_pointer_cast<Conv2d>(m)) {
            std::shared_ptr<Conv2d> cc;
            if (absorbed[n.inputs[0]]) {
                cc = absorbPadding(std::dynamic_pointer_cast<ZeroPad2d>(folded->node(n.inputs[0]).module)->pad, *c);
            } else {
                cc = std::make_shared<Conv2d>(c->weight, c->bias, c->stride, c->pad, c->dilation, c->groups);
                cc->tfSame = c->tfSame;
            }
            cc->toChannelsLast();
            m = cc;
        }
        map[i] = out->addNode(n.name, n.type, ins, m, n.config);
    }
    return out;
}

}  // namespace pqw::nn
