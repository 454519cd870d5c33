#pragma once
#include <functional>
// Internal: the pruning CNN family as a small DAG of plain-torch nodes (trainable, with
// train-mode BatchNorm), and the in-memory image tensors. See docs/pruning.md for why this
// is not nn::Graph (whose layers are inference-only, Keras-semantics modules).
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "pqw/pruning.h"

namespace pqw {

struct ImageTensors::Impl {
    torch::Tensor x[3], y[3];  // by Split: float [N, C, S, S], int64 [N]
    int channels = 1, size = 28, classes = 10;
};

namespace cnn {

enum class Op { Input, Conv, BN, ReLU, MaxPool, Add, GlobalAvgPool, Flatten, Linear };
const char* opName(Op op);
Op parseOp(const std::string& s);

struct Node {
    Op op = Op::Input;
    std::string name;
    std::vector<int> in;
    // Conv: w [O, I, k, k], b [O] or undefined; Linear: w [O, I], b [O]; BN: w = gamma, b = beta.
    torch::Tensor w, b, rm, rv;
    torch::Tensor mask;  // unstructured mask of w (undefined = dense)
    int64_t stride = 1, pad = 0, kernel = 2;
    int64_t origOut = 0;  // Conv / Linear: output rows before any structured pruning
    bool prunesWeight() const { return op == Op::Conv || op == Op::Linear; }
};

}  // namespace cnn

struct CnnModel::Impl {
    CnnSpec spec;
    std::vector<cnn::Node> nodes;
    bool training = false;
    int64_t origParams = 0, origPrunable = 0;
    nlohmann::json history = nlohmann::json::array();

    int add(cnn::Op op, const std::string& name, std::vector<int> in);
    torch::Tensor forward(const torch::Tensor& x) const;
    /// Trainable tensors (conv / linear weights and biases, BN gamma / beta).
    std::vector<torch::Tensor> parameters() const;
    void setRequiresGrad(bool on);
    /// Output shape [C, H, W] or [F] of each node for one input image.
    std::vector<std::vector<int64_t>> shapes() const;
    ModelCost cost() const;
    /// Re-applies masks (w *= mask) without autograd.
    void applyMasks();
    void deepCopyFrom(const Impl& o);
    /// Snapshot / restore of every tensor (for best-validation weights).
    std::vector<torch::Tensor> snapshot() const;
    void restore(const std::vector<torch::Tensor>& s);
};

}  // namespace pqw

namespace pqw::cnn {

/// A set of output-channel spaces tied together (a conv and every conv added to it by a
/// residual Add). members: producer nodes (Conv / Linear) whose output rows are the channels.
struct Group {
    std::vector<int> members;
    int64_t channels = 0;
    bool prunable = true;  ///< false when the space reaches the model output or the input
};
/// Channel-space analysis (prune.cpp): every group of Conv / Linear producers.
/// spaceOf (optional): for each node, the group index its output channels belong to (-1 none).
std::vector<Group> channelGroups(const CnnModel::Impl& m, std::vector<int>* spaceOf = nullptr);

/// One training epoch over the training split (cnn.cpp); returns {mean loss, accuracy}.
std::pair<double, double> trainEpoch(CnnModel::Impl& m, const ImageTensors::Impl& d, torch::optim::Optimizer& opt,
                                     int batch, at::Generator& gen, JobContext& ctx);
/// Accuracy on a split (top-1, top-5).
Accuracy evaluate(const CnnModel::Impl& m, const ImageTensors::Impl& d, Split s);
/// Top-1 / top-5 of any classifier over images X [N, ...] with labels Y [N], `batch` at a time
/// under no-grad; `logitsOf` maps a slice of X to [n, classes]. Shared by every prunable kind.
Accuracy accuracyOf(const torch::Tensor& X, const torch::Tensor& Y, int64_t batch,
                    const std::function<torch::Tensor(const torch::Tensor&)>& logitsOf);

}  // namespace pqw::cnn
