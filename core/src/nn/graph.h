#pragma once
// pqw::nn::Graph: a DAG of named nodes, each a separate Layer module with its own forward.
//
//  * Nodes are stored in topological order (addNode only accepts inputs that already
//    exist). Node 0 is the graph input (an Identity layer); a graph has one input.
//  * nodes() enumerates everything OMENN / pruning need: name, type (the Keras class name,
//    e.g. "Conv2D", "DepthwiseConv2D", "BatchNormalization"), input node indices, the
//    module, and the Keras config as JSON text (empty for hand-built graphs).
//  * forward(x, cut) evaluates only the ancestors of the cut node, frees each intermediate
//    as soon as its last consumer ran, and (unless a hook is given) lets element-wise layers
//    work in place on tensors nobody else can see. The hook sees every evaluated node's
//    inputs and output (OMENN records gates there); with a hook nothing is done in place.
//  * The Graph is itself a torch::nn::Module: every node's module is registered as a
//    submodule (name sanitised: '.' -> '_'), so named_parameters() reaches all weights.
//  * upTo(cut) returns the sub-graph of the cut's ancestors (cut becomes the output);
//    foldBatchNorm(g) returns a graph where every BatchNorm whose input is a Conv2d / Dense
//    consumed only by that BatchNorm is merged into it (the merged node takes the
//    BatchNorm's name, so cut names still resolve). Unchanged modules are shared between
//    the source and the result.
//  * receptiveFields() walks conv / pool layers: rf += (k_eff - 1) * jump; jump *= stride,
//    taking the maximum over the branches that meet at Add / Concat.
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "nn/layers.h"

namespace pqw::nn {

struct Node {
    std::string name;
    std::string type;          ///< Keras class name (or the module kind for hand-built graphs)
    std::vector<int> inputs;   ///< indices of the nodes feeding this one, in order
    LayerPtr module;
    std::string config;        ///< Keras layer config as JSON text (may be empty)
};

/// Called after each evaluated node: (index, node, inputs, output).
using NodeHook = std::function<void(int, const Node&, const std::vector<torch::Tensor>&, const torch::Tensor&)>;

struct ReceptiveField {
    int64_t size = 1;    ///< side of the receptive field in input pixels; 0 = the whole input
    int64_t stride = 1;  ///< input pixels per output cell ("jump")
};

class Graph : public torch::nn::Module {
public:
    /// Creates a graph whose node 0 is the input named inputName.
    explicit Graph(const std::string& inputName = "input");

    /// Appends a node; inputs must already exist. Returns its index. Throws pqw::Error on a
    /// duplicate name or a bad input index.
    int addNode(const std::string& name, const std::string& type, std::vector<int> inputs, LayerPtr module,
                std::string config = {});

    const std::vector<Node>& nodes() const { return nodes_; }
    const Node& node(int i) const { return nodes_.at(static_cast<size_t>(i)); }
    int size() const { return static_cast<int>(nodes_.size()); }
    /// Index of a node by name, or -1.
    int indexOf(const std::string& name) const;
    /// The default output: the last node.
    int outputIndex() const { return size() - 1; }
    /// Indices of the nodes that consume node i.
    std::vector<int> consumers(int i) const;
    /// true for every node that the cut depends on (including the cut and the input).
    std::vector<bool> ancestors(int cut) const;

    /// Evaluates the graph on x up to node cut (-1 = output). See the header comment.
    torch::Tensor forward(const torch::Tensor& x, int cut = -1, const NodeHook& hook = {}) const;
    /// Evaluates up to cut and keeps every evaluated node's output (others undefined).
    std::vector<torch::Tensor> forwardAll(const torch::Tensor& x, int cut = -1) const;

    /// Sub-graph of cut's ancestors, cut last. Modules are shared.
    std::shared_ptr<Graph> upTo(int cut) const;
    /// Receptive field and stride of every node's output.
    std::vector<ReceptiveField> receptiveFields() const;

private:
    std::vector<Node> nodes_;
    std::unordered_map<std::string, int> index_;
};
using GraphPtr = std::shared_ptr<Graph>;

/// BatchNorm folded into the preceding Conv2d / Dense where that is exact (see above).
GraphPtr foldBatchNorm(const Graph& g);

/// The inference graph: foldBatchNorm; a ZeroPad2d feeding only an unpadded Conv2d is
/// absorbed into it (symmetric padding + zero kernel rows, no padded copy); every Conv2d
/// replaced by a copy with channels-last weights (nothing is shared with g's convolutions). Feed it channels-last
/// input (x.contiguous(at::MemoryFormat::ChannelsLast)): on CPU this runs the MobileNet
/// trunk ~2-3x faster than NCHW. Results equal g's up to float rounding.
GraphPtr inferenceGraph(const Graph& g);

}  // namespace pqw::nn
