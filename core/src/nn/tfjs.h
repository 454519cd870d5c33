#pragma once
// TensorFlow.js layers-model loader: model.json (+ weight shards) -> pqw::nn::Graph.
//
// Supported Keras layers: InputLayer, ZeroPadding2D, Conv2D, DepthwiseConv2D,
// BatchNormalization, ReLU, LeakyReLU, Activation, Softmax, Add, Concatenate,
// AveragePooling2D, MaxPooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dense,
// Dropout, SpatialDropout2D, LayerNormalization. A Conv2D / DepthwiseConv2D / Dense with a
// non-linear `activation` becomes two nodes: "<name>/preact" (the linear op) and "<name>"
// (the activation), so OMENN sees the gate and cut names keep their Keras meaning.
// Kernels are converted to torch layout: Conv2D [kh,kw,in,out] -> [out,in,kh,kw],
// DepthwiseConv2D [kh,kw,in,m] -> [in*m,1,kh,kw], Dense [in,out] -> [out,in].
// Weights: float32, or quantised uint8 / uint16 (value = q * scale + min), or float16.
#include <string>
#include <vector>

#include "nn/graph.h"

namespace pqw::nn {

struct TfjsModel {
    GraphPtr graph;             ///< layers up to and including the cut, unfolded
    std::string modelPath;      ///< the model.json that was read
    std::string cut;            ///< the cut layer's name
    std::vector<std::string> allLayers;  ///< every layer name in the file, in file order
    int64_t inputChannels = -1;  ///< from the InputLayer's shape (-1 = not given)
};

/// Loads path (a folder holding model.json, or the json file itself), keeping only the
/// layers the cut needs (empty cut = the model's output layer). Throws pqw::Error naming
/// the file and the problem.
TfjsModel loadTfjs(const std::string& path, const std::string& cut = {});

}  // namespace pqw::nn
