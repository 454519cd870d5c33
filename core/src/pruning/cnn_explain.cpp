// A pruning-family CNN as an OMENN Explainer: its DAG of plain-torch nodes converted to the
// project's layer graph (nn::Graph), node for node. Every op of the family has an nn layer
// OMENN supports (conv, BatchNorm, ReLU, max pooling, residual add, global average pooling,
// flatten, linear). Two details: masks are applied to the copied weights (a masked weight is
// zero already after every optimiser step, multiplying again is harmless), and the CNN's
// Flatten is NCHW (torch) while nn::Flatten is Keras NHWC, so the columns of the Linear that
// consumes a Flatten are permuted from (c, h, w) to (h, w, c) order.
#include "nn/graph.h"
#include "omenn/explainer_impl.h"
#include "pqw/error.h"
#include "pruning/cnn_impl.h"

namespace pqw {

using cnn::Op;

Explainer Explainer::fromCnn(const CnnModel& model, const std::vector<std::string>& classNames) {
    const auto& m = model.impl();
    if (m.nodes.empty() || m.nodes[0].op != Op::Input) throw Error("the CNN has no input node");
    if (!classNames.empty() && int(classNames.size()) != m.spec.classes)
        throw Error("the CNN has " + std::to_string(m.spec.classes) + " outputs but " +
                    std::to_string(classNames.size()) + " class names were given");
    torch::NoGradGuard ng;
    const auto shapes = m.shapes();
    auto g = std::make_shared<nn::Graph>(m.nodes[0].name);
    auto copy = [](const torch::Tensor& t) { return t.defined() ? t.detach().clone() : torch::Tensor(); };
    for (size_t i = 1; i < m.nodes.size(); ++i) {
        const auto& n = m.nodes[i];
        if (n.in.empty()) throw Error("CNN node '" + n.name + "' has no input");
        std::vector<int> in(n.in.begin(), n.in.end());  // same indices: nodes are added in order
        nn::LayerPtr layer;
        std::string type;
        switch (n.op) {
        case Op::Input: throw Error("CNN node '" + n.name + "': a second input");
        case Op::Conv: {
            auto w = n.mask.defined() ? n.w.detach() * n.mask : copy(n.w);
            nn::Pad4 pad{n.pad, n.pad, n.pad, n.pad};
            layer = std::make_shared<nn::Conv2d>(w, copy(n.b), std::array<int64_t, 2>{n.stride, n.stride}, pad);
            type = "Conv2D";
            break;
        }
        case Op::BN:
            layer = std::make_shared<nn::BatchNorm>(copy(n.w), copy(n.b), copy(n.rm), copy(n.rv), 1e-5);
            type = "BatchNormalization";
            break;
        case Op::ReLU:
            layer = std::make_shared<nn::Activation>(nn::Activation::Fn::ReLU);
            type = "ReLU";
            break;
        case Op::MaxPool:
            layer = std::make_shared<nn::MaxPool2d>(std::array<int64_t, 2>{n.kernel, n.kernel},
                                                    std::array<int64_t, 2>{n.kernel, n.kernel});
            type = "MaxPooling2D";
            break;
        case Op::Add:
            layer = std::make_shared<nn::Add>();
            type = "Add";
            break;
        case Op::GlobalAvgPool:
            layer = std::make_shared<nn::GlobalPool>(false, false);
            type = "GlobalAveragePooling2D";
            break;
        case Op::Flatten:
            layer = std::make_shared<nn::Flatten>();
            type = "Flatten";
            break;
        case Op::Linear: {
            auto w = n.mask.defined() ? n.w.detach() * n.mask : copy(n.w);
            const auto& src = m.nodes[size_t(n.in[0])];
            if (src.op == Op::Flatten) {
                // The Flatten's input [C, H, W]: torch order c*H*W + h*W + w, Keras h*W*C + w*C + c.
                const auto& s = shapes.at(size_t(src.in.at(0)));
                if (s.size() == 3 && s[1] * s[2] > 1)
                    w = w.view({w.size(0), s[0], s[1], s[2]}).permute({0, 2, 3, 1}).reshape({w.size(0), -1}).contiguous();
            }
            layer = std::make_shared<nn::Dense>(w, copy(n.b));
            type = "Dense";
            break;
        }
        }
        g->addNode(n.name, type, in, layer);
    }
    auto d = std::make_shared<Impl>();
    d->trunk = g;
    d->head = ExplainHead::None;
    d->inputSize = m.spec.inputSize;
    d->channels = m.spec.inChannels;
    d->classes = classNames;
    if (d->classes.empty())
        for (int c = 0; c < m.spec.classes; ++c) d->classes.push_back(std::to_string(c));
    return makeExplainer(d);
}

}  // namespace pqw
