#pragma once
// The demo's settings shrunk for GUI tests: 300 training and 100 test images at 32 px, 16
// codes, 2 epochs per stage (a few seconds on two cores).
#include <QString>

#include "session.h"

namespace fixtures {
inline pqwgui::DemoConfig tinyDemo(const QString& cacheRoot) {
    pqwgui::DemoConfig cfg;
    cfg.maxTrain = 300;
    cfg.maxTest = 100;
    cfg.inputSize = 32;
    cfg.topK = 4;
    cfg.train.s0.epochs = 2;
    cfg.train.s1.codes = 16;
    cfg.train.s1.epochs = 2;
    cfg.train.s1.batchSize = 64;
    cfg.train.s2.epochs = 2;
    cfg.cacheRoot = cacheRoot;
    return cfg;
}
}  // namespace fixtures
