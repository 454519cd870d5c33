#pragma once
// The Explain view's plain value types: what is explained (image, pane spec, compute options),
// what comes back (map, decomposition, all classes, curves, table) and the typed key a result
// is cached under. No widgets here; the engine and the views share them.
#include <QHashFunctions>
#include <QList>
#include <QMetaType>
#include <QString>

#include <memory>
#include <vector>

#include "pqw/faithfulness.h"
#include "pqw/omenn.h"

namespace pqwgui {

/// Which model a pane explains: the loaded checkpoint's ProtoQuant head or its stage-0 linear
/// probe (different models on the same trunk), or a second checkpoint loaded for comparison
/// (its ProtoQuant head, or its probe when it has no head), on the same features.
enum class PaneHead { ProtoQuant = 0, Probe = 1, Compare = 2 };

/// The image under explanation: a dataset sample or a file.
struct ExplainImageRef {
    enum class Kind { None, Sample, File };
    Kind kind = Kind::None;
    size_t sample = 0;
    QString path;
    bool operator==(const ExplainImageRef& o) const { return kind == o.kind && sample == o.sample && path == o.path; }
    bool operator!=(const ExplainImageRef& o) const { return !(*this == o); }
};
size_t qHash(const ExplainImageRef& r, size_t seed = 0);

/// What one pane explains (the compute side; rendering options are separate).
struct PaneSpec {
    pqw::Method method = pqw::Method::Omenn;
    int target = -1;    ///< class; -1 = the prediction
    int contrast = -1;  ///< >= 0: explain target minus this class
    PaneHead head = PaneHead::ProtoQuant;
    bool operator==(const PaneSpec& o) const {
        return method == o.method && target == o.target && contrast == o.contrast && head == o.head;
    }
};

/// Method parameters that change the computed map (part of the cache key).
struct ComputeOptions {
    int igSteps = 32;
    int sgSamples = 16;
    double sgNoise = 0.15;
    int occPatch = 8, occStride = 4;
    bool operator==(const ComputeOptions& o) const {
        return igSteps == o.igSteps && sgSamples == o.sgSamples && sgNoise == o.sgNoise && occPatch == o.occPatch &&
               occStride == o.occStride;
    }
    pqw::ExplainOptions toCore() const;
    /// Only the options that change method m's map (the others zero), so e.g. a new IG step
    /// count keeps the cached OMENN map.
    ComputeOptions relevantTo(pqw::Method m) const;
};
size_t qHash(const ComputeOptions& o, size_t seed = 0);

/// The key of one cached result: the model generation (bumped when the model, its mask, the
/// dataset or the comparison changes), the head, the image and what was computed.
struct CacheKey {
    enum class Kind { None, Map, Decomposition, AllClasses, Curves, Table, CompareLoad };
    Kind kind = Kind::None;
    int generation = 0;
    PaneHead head = PaneHead::ProtoQuant;
    ExplainImageRef image;
    pqw::Method method = pqw::Method::Omenn;  ///< Map, Curves
    int target = -1, contrast = -1;           ///< Map, Curves
    ComputeOptions options;                   ///< Map, Curves: relevantTo(method); Table: all
    int cls = -1;                             ///< Decomposition, Curves: the class (-1: predicted)
    QList<pqw::Method> methods;               ///< Table
    int images = 0;                           ///< Table
    QString path;                             ///< CompareLoad: the checkpoint

    bool isNull() const { return kind == Kind::None; }
    bool operator==(const CacheKey& o) const {
        return kind == o.kind && generation == o.generation && head == o.head && image == o.image && method == o.method &&
               target == o.target && contrast == o.contrast && options == o.options && cls == o.cls &&
               methods == o.methods && images == o.images && path == o.path;
    }
    bool operator!=(const CacheKey& o) const { return !(*this == o); }
    /// For messages and debugging, e.g. "g3|pq|sample:12|map|omenn|t-1|vs-1".
    QString toString() const;
};
size_t qHash(const CacheKey& k, size_t seed = 0);

/// One computed map with the numbers shown beside it.
struct MapResult {
    pqw::Method method = pqw::Method::Omenn;
    pqw::Attribution attr;      ///< perChannel kept for "Export ... per channel (.npy)"
    std::vector<float> logits;  ///< of the explained head on this image
    int predicted = 0, target = 0, contrast = -1;
    double seconds = 0;
};

struct DecompositionResult {
    pqw::DecisionExplanation decision;
    std::vector<float> logits;
    int maps = 0;  ///< shares that carry a pixel map (the first `maps`)
};

struct AllClassesResult {
    std::vector<pqw::Attribution> rows;
    std::vector<float> logits;
};

struct CurvesResult {
    std::vector<double> deletion, insertion;
    double deletionAuc = 0, insertionAuc = 0;
    int cls = 0;
};

struct TableResult {
    std::vector<pqw::MethodScores> rows;
    int images = 0;
};

/// Everything the engine may compute, under one cache.
struct EngineResult {
    std::shared_ptr<const MapResult> map;
    std::shared_ptr<const DecompositionResult> decomposition;
    std::shared_ptr<const AllClassesResult> allClasses;
    std::shared_ptr<const CurvesResult> curves;
};

/// The k most probable classes (softmax of the logits), most probable first: (class, probability).
std::vector<std::pair<int, double>> topClasses(const std::vector<float>& logits, size_t k);

}  // namespace pqwgui

Q_DECLARE_METATYPE(pqwgui::CacheKey)
