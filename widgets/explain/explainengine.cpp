#include "explain/explainengine.h"

#include <QFileInfo>
#include <QPointer>

#include <algorithm>

#include "explain/explaincompute.h"
#include "jobrunner.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/method_text.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"
#include "session.h"

namespace pqwgui {

ExplainEngine::ExplainEngine(Session* session, QObject* parent)
    : QObject(parent), session_(session), jobs_(session->jobs()) {
    // A failed comparison load is reported as such (not as a map that failed).
    connect(this, &ExplainEngine::failed, this, [this](const CacheKey& key, const QString& msg) {
        if (key.kind == CacheKey::Kind::CompareLoad) Q_EMIT comparisonFailed(msg);
    });
    auto sync = [this] { syncModel(); };
    connect(session_, &Session::modelChanged, this, sync);
    connect(session_, &Session::evaluationChanged, this, sync);
    connect(session_, &Session::backboneChanged, this, sync);
    connect(session_, &Session::prototypeMaskApplied, this, sync);
    connect(session_, &Session::datasetChanged, this, [this] {
        if (image_.kind == ExplainImageRef::Kind::Sample) {
            image_ = {};
            rgb_ = cv::Mat();
            input_ = QImage();
        }
        syncModel();
    });
    syncModel();  // the model loaded before this engine was made
}

void ExplainEngine::syncModel() {
    auto m = session_->model();
    if (m == modelSeen_ && (!models_ || models_->dataset == session_->dataset())) return;
    modelSeen_ = m;
    ++generation_;
    models_.reset();
    // A comparison that no longer fits the (new) model is dropped (metadata only: no tensor op).
    if (m && comparison_ && !m->differencesFrom(*comparison_).empty()) {
        comparison_.reset();
        comparisonPath_.clear();
        QMetaObject::invokeMethod(this, [this] { Q_EMIT comparisonChanged(); }, Qt::QueuedConnection);
    }
    if (m) {
        models_ = std::make_shared<ExplainModels>();
        models_->model = m;
        models_->backbone = session_->backbone();
        models_->dataset = session_->dataset();
        models_->comparison = comparison_;
        models_->comparisonHasHead = comparisonHasHead_;
    }
    // Jobs for the old model are cancelled; a comparison being loaded carries on.
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it.key().kind == CacheKey::Kind::CompareLoad) {
            ++it;
            continue;
        }
        jobs_->cancel(it.value());
        it = pending_.erase(it);
    }
    cache_.clear();
    lru_.clear();
    tables_.clear();
    Q_EMIT modelReset();
}

QString ExplainEngine::comparisonName() const {
    return comparisonPath_.isEmpty() ? QString() : QFileInfo(comparisonPath_).completeBaseName();
}

bool ExplainEngine::comparisonPending() const {
    for (auto it = pending_.constBegin(); it != pending_.constEnd(); ++it)
        if (it.key().kind == CacheKey::Kind::CompareLoad) return true;
    return false;
}

int ExplainEngine::loadComparison(const QString& path) {
    // Checked against the model loaded now (and again by syncModel when the model changes).
    auto main = models_ ? models_->model : nullptr;
    auto cache = session_->cache();
    CacheKey key;
    key.kind = CacheKey::Kind::CompareLoad;
    key.path = path;
    if (pending_.contains(key)) return 0;
    return submit(key, tr("Load %1 for comparison").arg(QFileInfo(path).fileName()), [this, key, main, cache, path](pqw::JobContext&) {
        const std::string p = path.toStdString();
        auto m = std::make_shared<const pqw::ProtoModel>(pqw::ProtoModel::load(p));
        const std::string why = main ? main->differencesFrom(*m) : std::string();
        if (!why.empty()) throw pqw::Error(p + ": does not fit the loaded model: " + why);
        if (cache) {
            try {
                m->checkCompatible(*cache);
            } catch (const pqw::Error& e) {
                throw pqw::Error(p + ": " + e.what());
            }
        }
        if (!m->hasHead() && !m->hasStage0()) throw pqw::Error(p + ": the checkpoint has no trained head");
        const bool head = m->hasHead();
        return std::function<void()>([this, key, m, path, head] {
            pending_.remove(key);
            comparison_ = m;
            comparisonPath_ = path;
            comparisonHasHead_ = head;
            modelSeen_.reset();  // rebuild the explainers (and drop cached maps) with it
            syncModel();
            Q_EMIT comparisonChanged();
        });
    });
}

void ExplainEngine::clearComparison() {
    if (!comparison_) return;
    comparison_.reset();
    comparisonPath_.clear();
    modelSeen_.reset();
    syncModel();
    Q_EMIT comparisonChanged();
}

bool ExplainEngine::ready(QString* why) const {
    QString w;
    if (!models_) w = tr("Load a model first: Start > Open features and a checkpoint (Ctrl+L), or run the demo.");
    else if (!session_->modelSummary().head && !session_->modelSummary().stage0)
        w = tr("The model has no trained head yet: train it on the Training tab.");
    if (why) *why = w;
    return w.isEmpty();
}

bool ExplainEngine::hasHead(PaneHead h) const {
    if (!models_) return false;
    if (h == PaneHead::Compare) return bool(comparison_);
    // From the session's summary (made in a job): the GUI thread never touches a tensor.
    return h == PaneHead::Probe ? session_->modelSummary().stage0 : session_->modelSummary().head;
}

QStringList ExplainEngine::classNames() const { return session_->modelSummary().classNames; }

int ExplainEngine::inputSize() const { return models_ ? models_->model->inputSize() : 0; }

QString ExplainEngine::headName(PaneHead h) const {
    switch (h) {
        case PaneHead::Probe: return tr("linear probe");
        case PaneHead::Compare: return comparisonName().isEmpty() ? tr("other checkpoint") : comparisonName();
        case PaneHead::ProtoQuant: break;
    }
    return tr("ProtoQuant");
}

bool ExplainEngine::setImage(const ExplainImageRef& ref) {
    error_.clear();
    cv::Mat rgb;
    try {
        if (ref.kind == ExplainImageRef::Kind::Sample) {
            auto ds = session_->dataset();
            if (!ds) throw pqw::Error("no dataset is open");
            if (ref.sample >= ds->size())
                throw pqw::Error("sample #" + std::to_string(ref.sample) + " is not in the dataset (" +
                                 std::to_string(ds->size()) + " images)");
            rgb = ds->loadImage(ref.sample);
        } else if (ref.kind == ExplainImageRef::Kind::File) {
            if (!QFileInfo(ref.path).isFile()) throw pqw::Error("'" + ref.path.toStdString() + "' is not a file");
            rgb = pqw::loadImageFile(ref.path.toStdString());
        }
    } catch (const std::exception& e) {
        error_ = tr("Cannot explain this image: %1").arg(QString::fromStdString(e.what()));
        return false;
    }
    image_ = ref;
    rgb_ = rgb;
    input_ = QImage();
    if (!rgb.empty()) {
        const int s = std::max(1, inputSize() > 0 ? inputSize() : 112);
        // The pixels the model sees: its backbone's resize / centre crop (the maps lie on them).
        pqw::Preprocess pp;
        pp.size = s;
        if (models_) {
            try {
                pp = pqw::preprocessFor(models_->model->backboneSpec(), s);
            } catch (const pqw::Error&) {
            }
        }
        input_ = toQImage(pqw::preprocessedView(rgb, pp));
    }
    return true;
}

QString ExplainEngine::imageLabel() const {
    switch (image_.kind) {
        case ExplainImageRef::Kind::Sample: {
            auto ds = session_->dataset();
            if (!ds || image_.sample >= ds->size()) return tr("sample #%1").arg(image_.sample);
            const auto& s = ds->sample(image_.sample);
            // Counted within its split from 1, as the Dense vs pruned panel counts test images.
            const auto ids = ds->indices(s.split);
            const auto at = std::lower_bound(ids.begin(), ids.end(), image_.sample) - ids.begin();
            return tr("%1 image %2 of %3 (labelled %4)")
                .arg(QString::fromLatin1(pqw::splitName(s.split)))
                .arg(qlonglong(at) + 1)
                .arg(qlonglong(ids.size()))
                .arg(QString::fromStdString(ds->classNames()[size_t(s.label)]));
        }
        case ExplainImageRef::Kind::File: return QFileInfo(image_.path).fileName();
        case ExplainImageRef::Kind::None: break;
    }
    return tr("no image");
}

int ExplainEngine::imageLabelIndex() const {
    auto ds = session_->dataset();
    if (image_.kind != ExplainImageRef::Kind::Sample || !ds || image_.sample >= ds->size()) return -1;
    return ds->sample(image_.sample).label;
}

std::optional<size_t> ExplainEngine::testSample(const ExplainImageRef& from, int step, bool orTrain) const {
    auto ds = session_->dataset();
    if (!ds) return std::nullopt;
    auto ids = ds->indices(pqw::Split::Test);
    if (ids.empty()) ids = ds->indices(pqw::Split::Val);
    if (ids.empty() && orTrain) ids = ds->indices(pqw::Split::Train);
    if (ids.empty()) return std::nullopt;
    if (from.kind != ExplainImageRef::Kind::Sample) return ids.front();
    auto it = std::lower_bound(ids.begin(), ids.end(), from.sample);
    const long pos = long(it - ids.begin());
    const bool exact = it != ids.end() && *it == from.sample;
    long n = exact ? pos + step : (step > 0 ? pos : pos - 1);
    n = ((n % long(ids.size())) + long(ids.size())) % long(ids.size());
    return ids[size_t(n)];
}

CacheKey ExplainEngine::base(CacheKey::Kind kind, PaneHead h) const {
    CacheKey k;
    k.kind = kind;
    k.generation = generation_;
    k.head = h;
    k.image = image_;
    return k;
}

CacheKey ExplainEngine::mapKey(const PaneSpec& p, const ComputeOptions& o) const {
    CacheKey k = base(CacheKey::Kind::Map, p.head);
    k.method = p.method;
    k.target = p.target;
    k.contrast = p.contrast;
    k.options = o.relevantTo(p.method);
    return k;
}

CacheKey ExplainEngine::decompositionKey(int cls) const {
    CacheKey k = base(CacheKey::Kind::Decomposition, PaneHead::ProtoQuant);
    k.cls = cls;
    return k;
}

CacheKey ExplainEngine::allClassesKey(PaneHead h) const { return base(CacheKey::Kind::AllClasses, h); }

CacheKey ExplainEngine::curvesKey(const PaneSpec& p, const ComputeOptions& o, int cls) const {
    CacheKey k = mapKey(p, o);
    k.kind = CacheKey::Kind::Curves;
    k.cls = cls;
    return k;
}

CacheKey ExplainEngine::tableKey(const QList<pqw::Method>& methods, int images, const ComputeOptions& o) const {
    CacheKey k;  // over the dataset: no head or image
    k.kind = CacheKey::Kind::Table;
    k.generation = generation_;
    k.methods = methods;
    k.images = images;
    k.options = o;
    return k;
}

const EngineResult* ExplainEngine::find(const CacheKey& key) const {
    auto it = cache_.constFind(key);
    return it == cache_.constEnd() ? nullptr : &it.value();
}

std::shared_ptr<const MapResult> ExplainEngine::cachedMap(const CacheKey& key) const {
    const auto* r = find(key);
    return r ? r->map : nullptr;
}
std::shared_ptr<const DecompositionResult> ExplainEngine::cachedDecomposition(const CacheKey& key) const {
    const auto* r = find(key);
    return r ? r->decomposition : nullptr;
}
std::shared_ptr<const AllClassesResult> ExplainEngine::cachedAllClasses(const CacheKey& key) const {
    const auto* r = find(key);
    return r ? r->allClasses : nullptr;
}
std::shared_ptr<const CurvesResult> ExplainEngine::cachedCurves(const CacheKey& key) const {
    const auto* r = find(key);
    return r ? r->curves : nullptr;
}

void ExplainEngine::store(const CacheKey& key, EngineResult r) {
    lru_.remove(key);
    lru_.push_front(key);
    cache_.insert(key, std::move(r));
    while (int(lru_.size()) > kCacheEntries) {
        cache_.remove(lru_.back());
        lru_.pop_back();
    }
}

int ExplainEngine::submit(const CacheKey& key, const QString& title,
                          std::function<std::function<void()>(pqw::JobContext&)> work, bool quiet) {
    // The finisher runs only while the engine lives (a view may close before its job ends).
    QPointer<ExplainEngine> guard(this);
    auto wrapped = [guard, work = std::move(work)](pqw::JobContext& ctx) -> std::function<void()> {
        auto fin = work(ctx);
        return [guard, fin] {
            if (guard && fin) fin();
        };
    };
    const int id = jobs_->submit(title, std::move(wrapped), quiet);
    pending_.insert(key, id);
    ++submitted_;
    // Failure and cancellation clear the pending mark (success clears it in the finisher).
    QMetaObject::Connection* c = new QMetaObject::Connection;
    *c = connect(jobs_, &JobRunner::finished, this, [this, key, id, c](int jid, JobStatus st, const QString& msg) {
        if (jid != id) return;
        disconnect(*c);
        delete c;
        if (pending_.value(key) == id) pending_.remove(key);
        const bool dropped = dropped_.remove(key);
        const QString why = st == JobStatus::Failed ? msg : st == JobStatus::Cancelled && !dropped ? tr("cancelled") : QString();
        if (why.isEmpty()) return;
        failures_.insert(key, why);
        Q_EMIT failed(key, why);
    });
    return id;
}

template <class R>
int ExplainEngine::submitResult(const CacheKey& key, const QString& title,
                                std::function<std::shared_ptr<const R>(pqw::JobContext&)> work,
                                std::shared_ptr<const R> EngineResult::*slot, bool quiet) {
    if (find(key) || pending_.contains(key)) return 0;
    return submit(key, title, [this, key, work = std::move(work), slot](pqw::JobContext& ctx) {
        auto r = work(ctx);
        return std::function<void()>([this, key, r, slot] {
            pending_.remove(key);
            EngineResult er;
            er.*slot = r;
            store(key, er);
            Q_EMIT resultReady(key);
        });
    }, quiet);
}

void ExplainEngine::cancel(const CacheKey& key) {
    if (const int id = pending_.value(key, 0)) jobs_->cancel(id);
}

void ExplainEngine::dropQueuedExcept(const QSet<CacheKey>& keep) {
    const int running = jobs_->runningId();
    const auto all = pending_;
    for (auto it = all.begin(); it != all.end(); ++it) {
        // Kept: what is shown, what runs, the dataset table and a comparison being loaded.
        if (keep.contains(it.key()) || it.value() == running || it.key().kind == CacheKey::Kind::Table ||
            it.key().kind == CacheKey::Kind::CompareLoad)
            continue;
        dropped_.insert(it.key());
        jobs_->cancel(it.value());
    }
}

void ExplainEngine::cancelAll() {
    const auto ids = pending_.values();
    for (int id : ids) jobs_->cancel(id);
}

bool ExplainEngine::canCompute(PaneHead h) const {
    return ready() && image_.kind != ExplainImageRef::Kind::None && hasHead(h);
}

int ExplainEngine::requestMap(const PaneSpec& p, const ComputeOptions& o) {
    if (!canCompute(p.head)) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    const auto opt = o.toCore();
    const QStringList names = classNames();
    const QString what = p.target < 0 ? tr("the prediction") : names.value(p.target);
    const QString title = tr("Explain %1: %2 for %3%4")
                              .arg(imageLabel(), QString::fromUtf8(pqw::methodTitle(p.method)), what,
                                   p.contrast >= 0 ? tr(" vs %1").arg(names.value(p.contrast)) : QString());
    // Maps of one forward + one backward pass are quiet jobs (not listed in the Jobs panel; the
    // view's Cancel still reaches them); the slow methods are listed with their progress.
    const bool quick = p.method == pqw::Method::Omenn || p.method == pqw::Method::GradientInput ||
                       p.method == pqw::Method::Saliency || p.method == pqw::Method::GradCam;
    return submitResult<MapResult>(
        mapKey(p, o), title, [models, rgb, opt, p](pqw::JobContext& ctx) { return computeMap(*models, rgb, p, opt, ctx); },
        &EngineResult::map, quick);
}

int ExplainEngine::requestDecomposition(int cls) {
    if (!canCompute(PaneHead::ProtoQuant)) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    return submitResult<DecompositionResult>(
        decompositionKey(cls), tr("Decompose %1 over prototypes").arg(imageLabel()),
        [models, rgb, cls](pqw::JobContext& ctx) { return computeDecomposition(*models, rgb, cls, ctx); },
        &EngineResult::decomposition);
}

int ExplainEngine::requestAllClasses(PaneHead h) {
    if (!canCompute(h)) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    return submitResult<AllClassesResult>(
        allClassesKey(h), tr("OMENN for every class of %1").arg(imageLabel()),
        [models, rgb, h](pqw::JobContext& ctx) { return computeAllClasses(*models, rgb, h, ctx); }, &EngineResult::allClasses);
}

int ExplainEngine::requestCurves(const PaneSpec& p, const ComputeOptions& o, int cls) {
    auto map = cachedMap(mapKey(p, o));
    if (!map || !ready()) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    const std::vector<float> m = map->attr.map;
    return submitResult<CurvesResult>(
        curvesKey(p, o, cls), tr("Deletion and insertion curves (%1)").arg(QString::fromUtf8(pqw::methodTitle(p.method))),
        [models, rgb, m, cls, p](pqw::JobContext& ctx) { return computeCurves(*models, rgb, p.head, m, cls, ctx); },
        &EngineResult::curves);
}

int ExplainEngine::requestTable(const QList<pqw::Method>& methods, int images, const ComputeOptions& o, int sanityImages) {
    if (!ready() || methods.isEmpty() || images <= 0) return 0;
    const CacheKey key = tableKey(methods, images, o);
    if (tables_.contains(key) || pending_.contains(key)) return 0;
    auto ds = session_->dataset();
    if (!ds) return 0;
    auto models = models_;
    const std::vector<pqw::Method> ms(methods.begin(), methods.end());
    const auto opt = o.toCore();
    return submit(key, tr("Faithfulness table: %1 method(s) on %2 test images").arg(ms.size()).arg(images),
                  [this, key, models, ds, ms, images, opt, sanityImages](pqw::JobContext& ctx) {
        auto r = computeTable(*models, ds, ms, images, opt, sanityImages, ctx);
        return std::function<void()>([this, key, r] {
            pending_.remove(key);
            tables_.insert(key, r);
            Q_EMIT resultReady(key);
        });
    });
}

}  // namespace pqwgui
