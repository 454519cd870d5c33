#pragma once
// The Explain view's controller (no widgets): which image, which model, the jobs and a cache
// of computed attribution maps, decompositions, all-classes grids and faithfulness curves.
// Every tensor op runs as a JobRunner job (the GUI thread only decodes one image and renders
// overlays); results are cached under a typed CacheKey (model generation, head, image, what,
// options) so switching back to something computed before is instant and submits no job.
// The engine follows the session's model through its signals; its getters have no side effects.
#include <QHash>
#include <QImage>
#include <QObject>
#include <QSet>
#include <QString>
#include <QStringList>

#include <functional>
#include <list>
#include <memory>
#include <optional>

#include <opencv2/core.hpp>

#include "explain/explaintypes.h"

namespace pqw {
class ProtoModel;
class JobContext;
}  // namespace pqw

namespace pqwgui {

class JobRunner;
class Session;
struct ExplainModels;

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
    /// "ProtoQuant", "linear probe" or the comparison checkpoint's name.
    QString headName(PaneHead h) const;

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
    /// A test image (validation when the dataset has none; training too when orTrain): with
    /// `from` a sample, the one `step` places after it in the split's order (wrapping around;
    /// the nearest one when `from` is not in it); otherwise the first. None without images.
    std::optional<size_t> testSample(const ExplainImageRef& from, int step, bool orTrain = false) const;

    // Cache keys (model generation, head, image, what, options).
    CacheKey mapKey(const PaneSpec& p, const ComputeOptions& o) const;
    CacheKey decompositionKey(int cls) const;
    CacheKey allClassesKey(PaneHead h) const;
    CacheKey curvesKey(const PaneSpec& p, const ComputeOptions& o, int cls) const;
    CacheKey tableKey(const QList<pqw::Method>& methods, int images, const ComputeOptions& o) const;

    /// Cached results (null when not computed yet).
    std::shared_ptr<const MapResult> cachedMap(const CacheKey& key) const;
    std::shared_ptr<const DecompositionResult> cachedDecomposition(const CacheKey& key) const;
    std::shared_ptr<const AllClassesResult> cachedAllClasses(const CacheKey& key) const;
    std::shared_ptr<const CurvesResult> cachedCurves(const CacheKey& key) const;
    std::shared_ptr<const TableResult> cachedTable(const CacheKey& key) const { return tables_.value(key); }

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
    bool pending(const CacheKey& key) const { return pending_.contains(key); }
    int pendingJob(const CacheKey& key) const { return pending_.value(key, 0); }
    /// Why the computation of this key failed or was cancelled (null when it did not). Kept
    /// until clearFailures() (Run) or a model change, so a failed result is not resubmitted
    /// automatically.
    bool hasFailed(const CacheKey& key) const { return failures_.contains(key); }
    QString failure(const CacheKey& key) const { return failures_.value(key); }
    void clearFailure(const CacheKey& key) { failures_.remove(key); }
    void clearFailures() { failures_.clear(); }
    /// Cancels the job of this key (queued or running).
    void cancel(const CacheKey& key);
    void cancelAll();
    /// Cancels queued (not yet running) jobs whose keys are not in `keep`: what the view no
    /// longer shows. They are dropped silently (no failed()), so showing them again resubmits.
    void dropQueuedExcept(const QSet<CacheKey>& keep);
    /// How many jobs the engine has submitted (tests: a cache hit submits none).
    int submitted() const { return submitted_; }
    int cachedCount() const { return int(lru_.size()); }
    static constexpr int kCacheEntries = 96;

Q_SIGNALS:
    void resultReady(const pqwgui::CacheKey& key);
    void failed(const pqwgui::CacheKey& key, const QString& message);
    /// The model (or its mask) changed: cached results were dropped.
    void modelReset();
    void comparisonChanged();
    void comparisonFailed(const QString& message);

private:
    /// Follows the session's model (its signals call this): a new model generation drops the
    /// cache, cancels the old model's jobs and emits modelReset(). No-op when nothing changed.
    void syncModel();
    CacheKey base(CacheKey::Kind kind, PaneHead h) const;
    int submit(const CacheKey& key, const QString& title, std::function<std::function<void()>(pqw::JobContext&)> work,
               bool quiet = false);
    /// Submits work that computes one cached result (unless cached, pending or not computable).
    template <class R>
    int submitResult(const CacheKey& key, const QString& title, std::function<std::shared_ptr<const R>(pqw::JobContext&)> work,
                     std::shared_ptr<const R> EngineResult::*slot, bool quiet = false);
    void store(const CacheKey& key, EngineResult r);
    const EngineResult* find(const CacheKey& key) const;
    bool canCompute(PaneHead h) const;

    Session* session_;
    JobRunner* jobs_;
    std::shared_ptr<ExplainModels> models_;
    std::shared_ptr<const pqw::ProtoModel> modelSeen_;
    std::shared_ptr<const pqw::ProtoModel> comparison_;
    QString comparisonPath_;
    bool comparisonHasHead_ = false;  ///< explain its ProtoQuant head (else its probe)
    int generation_ = 0;
    ExplainImageRef image_;
    cv::Mat rgb_;  ///< the decoded image (original size)
    QImage input_;
    QString error_;
    QHash<CacheKey, EngineResult> cache_;
    std::list<CacheKey> lru_;  ///< most recent first
    QHash<CacheKey, std::shared_ptr<const TableResult>> tables_;
    QHash<CacheKey, int> pending_;
    QHash<CacheKey, QString> failures_;
    QSet<CacheKey> dropped_;
    int submitted_ = 0;
};

}  // namespace pqwgui
