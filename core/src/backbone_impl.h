#pragma once
// Backbone internals (core only): the layer graph for OMENN / pruning, the inference path.
//
//  * graph: the model as loaded (TFJS), unfolded, holding only the layers up to the cut;
//    its last node is the cut. OMENN records gates on this one (Graph::forward with a hook).
//  * fast: nn::inferenceGraph(*graph) (BatchNorm folded, channels-last convolutions), used
//    by Backbone::forward() on channels-last input; element-wise layers run in place there. Rebuild it with refreshFast() after changing graph's weights (pruning).
//  * script: the TorchScript module (kind "torchscript"); graph and fast are then null.
//    Its stride is probed (224 / feature height at 224 px); its receptive field is measured
//    as the extent of the input gradient of the centre feature cell at 224 px (exact for
//    conv nets whose field fits in the image, clipped to 224 otherwise; falls back to the
//    stride if the module cannot be differentiated). Preprocessing: pqw::preprocessFor(spec).
//  * TFJS receptive field / stride: exact, by walking the conv / pool layers up to the cut.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <torch/script.h>

#include "nn/graph.h"
#include "pqw/backbone.h"

namespace pqw {

struct Backbone::Impl {
    BackboneSpec spec;
    std::string id;
    std::string cut;
    std::string modelPath;  ///< model.json or the .pt file

    nn::GraphPtr graph;  ///< TFJS: unfolded, up to the cut
    nn::GraphPtr fast;   ///< TFJS: BatchNorm folded, for forward()
    std::shared_ptr<torch::jit::Module> script;  ///< TorchScript

    int stride = 1;
    int receptiveField = 1;  ///< 0 = the whole input (cut after global pooling / flatten)

    /// Runs the trunk on x [N, 3, S, S]; returns [N, C, H, W]. Callers set InferenceMode.
    torch::Tensor run(const torch::Tensor& x) const;
    /// Re-derives fast (and the receptive field) from graph.
    void refreshFast();

    mutable std::map<int, int> erfCache;
    mutable std::mutex shapeMutex;
    mutable std::map<int, std::array<int64_t, 3>> shapeCache;
};

}  // namespace pqw
