#pragma once
// The Explain view's computations: which image, which model, and a cache of computed
// attribution maps, decompositions, all-classes grids and faithfulness curves. Every tensor
// op runs as a JobRunner job (the GUI thread only decodes one image and renders overlays);
// results are cached under a key (model, head, image, method, target, options) so switching
// back to something computed before is instant and submits no job.
#include <QHash>
#include <QSet>
#include <QImage>
#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>
#include <list>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "pqw/faithfulness.h"
#include "pqw/omenn.h"

namespace pqw {
class Backbone;
class ProtoModel;
}  // namespace pqw

namespace pqwgui {

class JobRunner;
class Session;

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
    QString key() const;
};

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
    QString key() const;
};

/// One computed map with the numbers shown beside it.
struct MapResult {
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

class ExplainEngine : public QObject {
    Q_OBJECT
public:
    ExplainEngine(Session* session, QObject* parent = nullptr);

    /// Whether the session holds a model the view can explain (a ProtoQuant checkpoint with a
    /// codebook head or a stage-0 probe) and a backbone; otherwise why not.
    bool ready(QString* why = nullptr) const;
    bool hasHead(PaneHead h) const;
    QStringList classNames() const;
    int inputSize() const;

    /// Loads a second checkpoint (a job) for the Compare head. It must fit the loaded model:
    /// same backbone, cut layer, input size and classes (and the session's features). On
    /// success comparisonChanged(); on failure comparisonFailed(message naming the file), and
    /// the previous comparison stays.
    int loadComparison(const QString& path);
    void clearComparison();
    /// The comparison checkpoint's path and a short name for it (empty when none).
    QString comparisonPath() const { return comparisonPath_; }
    QString comparisonName() const;
    /// Whether a comparison checkpoint is being loaded.
    bool comparisonPending() const;

    /// Sets the image: a dataset sample or a file, decoded here (one image). Returns false
    /// and sets error() (naming the file and the reason) when it cannot be decoded.
    bool setImage(const ExplainImageRef& ref);
    const ExplainImageRef& image() const { return image_; }
    /// The image as the model sees it (resized to the input size), RGB.
    const QImage& inputImage() const { return input_; }
    QString imageLabel() const;
    /// The dataset label of a sample image (-1 for files).
    int imageLabelIndex() const;
    QString error() const { return error_; }

    // Cache keys (model generation, head, image, what, options).
    QString mapKey(const PaneSpec& p, const ComputeOptions& o) const;
    QString decompositionKey(int cls) const;
    QString allClassesKey(PaneHead h) const;
    QString curvesKey(const PaneSpec& p, const ComputeOptions& o, int cls) const;
    QString tableKey(const QList<pqw::Method>& methods, int images, const ComputeOptions& o) const;

    /// Cached results (null when not computed yet).
    std::shared_ptr<const MapResult> cachedMap(const QString& key) const;
    std::shared_ptr<const DecompositionResult> cachedDecomposition(const QString& key) const;
    std::shared_ptr<const AllClassesResult> cachedAllClasses(const QString& key) const;
    std::shared_ptr<const CurvesResult> cachedCurves(const QString& key) const;
    std::shared_ptr<const TableResult> cachedTable(const QString& key) const { return tables_.value(key); }

    /// Submit a computation unless it is cached or already queued; returns the job id (0 when
    /// nothing was submitted). resultReady(key) follows on success.
    int requestMap(const PaneSpec& p, const ComputeOptions& o);
    int requestDecomposition(int cls);
    int requestAllClasses(PaneHead h);
    /// Deletion and insertion curves of a computed map (for class cls).
    int requestCurves(const PaneSpec& p, const ComputeOptions& o, int cls);
    /// The dataset-level table over `images` seeded test images (validation if no test split).
    int requestTable(const QList<pqw::Method>& methods, int images, const ComputeOptions& o, int sanityImages);

    /// Whether a job for this key is queued or running.
    bool pending(const QString& key) const { return pending_.contains(key); }
    int pendingJob(const QString& key) const { return pending_.value(key, 0); }
    /// Cancels the job of this key (queued or running).
    void cancel(const QString& key);
    void cancelAll();
    /// Cancels queued (not yet running) jobs whose keys are not in `keep`: what the view no
    /// longer shows. They are dropped silently (no failed()), so showing them again resubmits.
    void dropQueuedExcept(const QSet<QString>& keep);
    /// How many jobs the engine has submitted (tests: a cache hit submits none).
    int submitted() const { return submitted_; }
    int cachedCount() const { return int(lru_.size()); }
    static constexpr int kCacheEntries = 96;

Q_SIGNALS:
    void resultReady(const QString& key);
    void failed(const QString& key, const QString& message);
    /// The model (or its mask) changed: cached results were dropped.
    void modelReset();
    void comparisonChanged();
    void comparisonFailed(const QString& message);

private:
    struct Models;
    void syncModel() const;
    int submit(const QString& key, const QString& title, std::function<std::function<void()>(pqw::JobContext&)> work,
               bool quiet = false);
    void store(const QString& key, EngineResult r);
    const EngineResult* find(const QString& key) const;
    QString base(PaneHead h) const;

    Session* session_;
    JobRunner* jobs_;
    mutable std::shared_ptr<Models> models_;
    mutable std::shared_ptr<const pqw::ProtoModel> modelSeen_;
    std::shared_ptr<const pqw::ProtoModel> comparison_;
    QString comparisonPath_;
    bool comparisonHasHead_ = false;  ///< explain its ProtoQuant head (else its probe)
    mutable int generation_ = 0;
    ExplainImageRef image_;
    cv::Mat rgb_;  ///< the decoded image (original size)
    QImage input_;
    QString error_;
    QHash<QString, EngineResult> cache_;
    std::list<QString> lru_;  ///< most recent first
    QHash<QString, std::shared_ptr<const TableResult>> tables_;
    QHash<QString, int> pending_;
    QSet<QString> dropped_;
    int submitted_ = 0;
};

}  // namespace pqwgui
