#pragma once
// A tiny real pipeline made with core: a Fashion-MNIST subset, the default backbone at a
// small input size, its feature cache and a trained ProtoQuant head (stages 0, 1, 2).
// Seconds on 2 cores; for tests that need a working model end to end.
#include <QFileInfo>

#include <string>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"
#include "pqw/util.h"

namespace fixtures {

/// Whether the data the tiny pipeline needs is installed (else the test QSKIPs).
inline bool tinyPipelineAvailable() {
    return QFileInfo::exists(QStringLiteral("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) &&
           !pqw::assetsDir().empty();
}

struct TinyPipeline {
    pqw::Dataset dataset;
    pqw::Backbone backbone;
    pqw::FeatureCache cache;
    pqw::ProtoModel model;
};

/// Extracts features into featureDir and trains a head with `codes` prototypes.
inline TinyPipeline makeTinyPipeline(const std::string& featureDir, int inputSize = 32, int codes = 12) {
    TinyPipeline t;
    pqw::DatasetSpec spec;
    spec.path = "fashion-mnist";
    spec.maxTrain = 300;
    spec.maxTest = 60;
    t.dataset = pqw::Dataset::open(spec);
    t.backbone = pqw::Backbone::open(pqw::BackboneSpec{});
    pqw::JobContext ctx;
    pqw::ExtractOptions eo;
    eo.inputSize = inputSize;
    pqw::extractFeatures(t.dataset, t.backbone, featureDir, ctx, eo);
    t.cache = pqw::FeatureCache::open(featureDir);
    t.model = pqw::ProtoModel::forCache(t.cache);
    pqw::Stage0Options s0;
    s0.epochs = 3;
    pqw::trainStage0(t.model, t.cache, s0, ctx);
    pqw::CodebookOptions s1;
    s1.codes = codes;
    s1.epochs = 2;
    pqw::trainCodebook(t.model, t.cache, s1, ctx);
    pqw::HeadOptions s2;
    s2.epochs = 4;
    s2.lr = 0.01;
    pqw::trainHead(t.model, t.cache, s2, ctx);
    return t;
}

}  // namespace fixtures
