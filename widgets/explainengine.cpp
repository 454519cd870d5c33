#include "explainengine.h"

#include "pqw/method_text.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QPointer>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "jobrunner.h"
#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/recorded_backbone.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"
#include "session.h"

namespace pqwgui {

QString ExplainImageRef::key() const {
    switch (kind) {
        case Kind::Sample: return QStringLiteral("sample:%1").arg(sample);
        case Kind::File: return QStringLiteral("file:") + path;
        case Kind::None: break;
    }
    return {};
}

pqw::ExplainOptions ComputeOptions::toCore() const {
    pqw::ExplainOptions o;
    o.steps = igSteps;
    o.samples = sgSamples;
    o.noise = sgNoise;
    o.patch = occPatch;
    o.stride = occStride;
    return o;
}

QString ComputeOptions::key() const {
    return QStringLiteral("ig%1/sg%2x%3/occ%4s%5").arg(igSteps).arg(sgSamples).arg(sgNoise).arg(occPatch).arg(occStride);
}

namespace {
/// Only the options that change this method's map enter its key, so e.g. a new IG step
/// count keeps the cached OMENN map.
QString methodOptionsKey(pqw::Method m, const ComputeOptions& o) {
    switch (m) {
        case pqw::Method::IntegratedGradients: return QStringLiteral("steps=%1").arg(o.igSteps);
        case pqw::Method::SmoothGrad: return QStringLiteral("samples=%1,noise=%2").arg(o.sgSamples).arg(o.sgNoise);
        case pqw::Method::Occlusion: return QStringLiteral("patch=%1,stride=%2").arg(o.occPatch).arg(o.occStride);
        default: return {};
    }
}

int argmax(const std::vector<float>& v) { return v.empty() ? 0 : int(std::max_element(v.begin(), v.end()) - v.begin()); }
}  // namespace

/// The explainable models, shared with the jobs. Explainers are built on the worker thread
/// (the first job that needs one) and reused by later jobs.
struct ExplainEngine::Models {
    std::shared_ptr<const pqw::ProtoModel> model;
    std::shared_ptr<const pqw::Backbone> backbone;
    std::shared_ptr<const pqw::Dataset> dataset;
    std::mutex mutex;
    std::shared_ptr<const pqw::ProtoModel> comparison;  ///< the Compare head's checkpoint
    bool comparisonHasHead = false;
    std::shared_ptr<const pqw::Explainer> explainers[3];

    std::shared_ptr<const pqw::Explainer> get(PaneHead h) {
        std::lock_guard<std::mutex> lock(mutex);
        auto& e = explainers[int(h)];
        if (e) return e;
        if (!backbone || backbone->id() != model->backboneId() ||
            backbone->spec().preprocess != model->backboneSpec().preprocess)
            backbone = std::make_shared<const pqw::Backbone>(
                pqw::openRecordedBackbone(model->backboneSpec(), model->backboneId(), "the head"));
        if (h == PaneHead::Compare) {
            if (!comparison) throw pqw::Error("no checkpoint is loaded for comparison");
            e = std::make_shared<const pqw::Explainer>(pqw::Explainer::fromModel(
                *comparison, *backbone, comparisonHasHead ? pqw::ExplainHead::Interpretable : pqw::ExplainHead::Stage0));
            return e;
        }
        e = std::make_shared<const pqw::Explainer>(pqw::Explainer::fromModel(
            *model, *backbone, h == PaneHead::Probe ? pqw::ExplainHead::Stage0 : pqw::ExplainHead::Interpretable));
        return e;
    }
    std::vector<float> input(const cv::Mat& rgb) {
        std::shared_ptr<const pqw::Backbone> bb;
        {
            std::lock_guard<std::mutex> lock(mutex);
            bb = backbone;
        }
        const auto pp = bb->preprocess(model->inputSize());
        std::vector<float> x(size_t(3) * pp.size * pp.size);
        pqw::preprocessImage(rgb, pp, x.data());
        return x;
    }
};

ExplainEngine::ExplainEngine(Session* session, QObject* parent)
    : QObject(parent), session_(session), jobs_(session->jobs()) {
    // A failed comparison load is reported as such (not as a map that failed).
    connect(this, &ExplainEngine::failed, this, [this](const QString& key, const QString& msg) {
        if (key.startsWith(QLatin1String("compare-load|"))) Q_EMIT comparisonFailed(msg);
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
}

void ExplainEngine::syncModel() const {
    auto m = session_->model();
    if (m == modelSeen_ && (!models_ || models_->dataset == session_->dataset())) return;
    modelSeen_ = m;
    ++generation_;
    models_.reset();
    auto* self = const_cast<ExplainEngine*>(this);
    // A comparison that no longer fits the (new) model is dropped (metadata only: no tensor op).
    if (m && self->comparison_ && !m->differencesFrom(*self->comparison_).empty()) {
        self->comparison_.reset();
        self->comparisonPath_.clear();
        QMetaObject::invokeMethod(self, [self] { Q_EMIT self->comparisonChanged(); }, Qt::QueuedConnection);
    }
    if (m) {
        models_ = std::make_shared<Models>();
        models_->model = m;
        models_->backbone = session_->backbone();
        models_->dataset = session_->dataset();
        models_->comparison = comparison_;
        models_->comparisonHasHead = comparisonHasHead_;
    }
    // Jobs for the old model are cancelled; a comparison being loaded carries on.
    for (auto it = self->pending_.begin(); it != self->pending_.end();) {
        if (it.key().startsWith(QLatin1String("compare-load|"))) {
            ++it;
            continue;
        }
        jobs_->cancel(it.value());
        it = self->pending_.erase(it);
    }
    self->cache_.clear();
    self->lru_.clear();
    self->tables_.clear();
    Q_EMIT self->modelReset();
}

QString ExplainEngine::comparisonName() const {
    return comparisonPath_.isEmpty() ? QString() : QFileInfo(comparisonPath_).completeBaseName();
}

bool ExplainEngine::comparisonPending() const {
    for (auto it = pending_.constBegin(); it != pending_.constEnd(); ++it)
        if (it.key().startsWith(QLatin1String("compare-load|"))) return true;
    return false;
}

int ExplainEngine::loadComparison(const QString& path) {
    syncModel();
    // Checked against the model loaded now (and again by syncModel when the model changes).
    auto main = models_ ? models_->model : nullptr;
    auto cache = session_->cache();
    const QString key = QStringLiteral("compare-load|") + path;
    if (pending_.contains(key)) return 0;
    const int id = submit(key, tr("Load %1 for comparison").arg(QFileInfo(path).fileName()),
                          [this, key, main, cache, path](pqw::JobContext&) {
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
    return id;
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
    syncModel();
    QString w;
    if (!models_) w = tr("Load a model first: Start > Open features and a checkpoint (Ctrl+L), or run the demo.");
    else if (!session_->modelSummary().head && !session_->modelSummary().stage0)
        w = tr("The model has no trained head yet: train it on the Training tab.");
    if (why) *why = w;
    return w.isEmpty();
}

bool ExplainEngine::hasHead(PaneHead h) const {
    syncModel();
    if (!models_) return false;
    if (h == PaneHead::Compare) return bool(comparison_);
    // From the session's summary (made in a job): the GUI thread never touches a tensor.
    return h == PaneHead::Probe ? session_->modelSummary().stage0 : session_->modelSummary().head;
}

QStringList ExplainEngine::classNames() const { return session_->modelSummary().classNames; }

int ExplainEngine::inputSize() const {
    syncModel();
    return models_ ? models_->model->inputSize() : 0;
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

QString ExplainEngine::base(PaneHead h) const {
    syncModel();
    const char* head = h == PaneHead::Probe ? "probe" : h == PaneHead::Compare ? "cmp" : "pq";
    return QStringLiteral("g%1|%2|%3").arg(generation_).arg(QLatin1String(head), image_.key());
}

QString ExplainEngine::mapKey(const PaneSpec& p, const ComputeOptions& o) const {
    return base(p.head) + QStringLiteral("|map|%1|t%2|vs%3|%4")
                              .arg(QString::fromLatin1(pqw::methodName(p.method)))
                              .arg(p.target)
                              .arg(p.contrast)
                              .arg(methodOptionsKey(p.method, o));
}

QString ExplainEngine::decompositionKey(int cls) const { return base(PaneHead::ProtoQuant) + QStringLiteral("|decision|%1").arg(cls); }

QString ExplainEngine::allClassesKey(PaneHead h) const { return base(h) + QStringLiteral("|all"); }

QString ExplainEngine::curvesKey(const PaneSpec& p, const ComputeOptions& o, int cls) const {
    return mapKey(p, o) + QStringLiteral("|curves|%1").arg(cls);
}

QString ExplainEngine::tableKey(const QList<pqw::Method>& methods, int images, const ComputeOptions& o) const {
    syncModel();
    QStringList m;
    for (auto x : methods) m << QString::fromLatin1(pqw::methodName(x));
    return QStringLiteral("g%1|table|%2|n%3|%4").arg(generation_).arg(m.join(QLatin1Char(','))).arg(images).arg(o.key());
}

const EngineResult* ExplainEngine::find(const QString& key) const {
    auto it = cache_.constFind(key);
    return it == cache_.constEnd() ? nullptr : &it.value();
}

std::shared_ptr<const MapResult> ExplainEngine::cachedMap(const QString& key) const {
    const auto* r = find(key);
    return r ? r->map : nullptr;
}
std::shared_ptr<const DecompositionResult> ExplainEngine::cachedDecomposition(const QString& key) const {
    const auto* r = find(key);
    return r ? r->decomposition : nullptr;
}
std::shared_ptr<const AllClassesResult> ExplainEngine::cachedAllClasses(const QString& key) const {
    const auto* r = find(key);
    return r ? r->allClasses : nullptr;
}
std::shared_ptr<const CurvesResult> ExplainEngine::cachedCurves(const QString& key) const {
    const auto* r = find(key);
    return r ? r->curves : nullptr;
}

void ExplainEngine::store(const QString& key, EngineResult r) {
    lru_.remove(key);
    lru_.push_front(key);
    cache_.insert(key, std::move(r));
    while (int(lru_.size()) > kCacheEntries) {
        cache_.remove(lru_.back());
        lru_.pop_back();
    }
}

int ExplainEngine::submit(const QString& key, const QString& title,
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
        if (st == JobStatus::Failed) Q_EMIT failed(key, msg);
        else if (st == JobStatus::Cancelled && !dropped) Q_EMIT failed(key, tr("cancelled"));
    });
    return id;
}

void ExplainEngine::cancel(const QString& key) {
    if (const int id = pending_.value(key, 0)) jobs_->cancel(id);
}

void ExplainEngine::dropQueuedExcept(const QSet<QString>& keep) {
    const int running = jobs_->runningId();
    const auto all = pending_;
    for (auto it = all.begin(); it != all.end(); ++it) {
        // Kept: what is shown, what runs, the dataset table and a comparison being loaded.
        if (keep.contains(it.key()) || it.value() == running || tables_.contains(it.key()) || it.key().contains(QStringLiteral("|table|")) ||
            it.key().startsWith(QLatin1String("compare-load|")))
            continue;
        dropped_.insert(it.key());
        jobs_->cancel(it.value());
    }
}

void ExplainEngine::cancelAll() {
    const auto ids = pending_.values();
    for (int id : ids) jobs_->cancel(id);
}

int ExplainEngine::requestMap(const PaneSpec& p, const ComputeOptions& o) {
    if (!ready() || image_.kind == ExplainImageRef::Kind::None || !hasHead(p.head)) return 0;
    const QString key = mapKey(p, o);
    if (find(key) || pending_.contains(key)) return 0;
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
    return submit(key, title, [this, key, models, rgb, opt, p](pqw::JobContext& ctx) {
        QElapsedTimer clock;
        clock.start();
        ctx.progress(0.05, "building the explainer");
        const auto e = models->get(p.head);
        const auto x = models->input(rgb);
        const int size = models->model->inputSize();
        auto r = std::make_shared<MapResult>();
        r->logits = e->logits(x.data(), 1, size);
        r->predicted = argmax(r->logits);
        pqw::Target t;
        t.index = p.target < 0 ? r->predicted : p.target;
        t.contrast = p.contrast == t.index ? -1 : p.contrast;
        r->target = t.index;
        r->contrast = t.contrast;
        ctx.progress(0.2, pqw::methodName(p.method));
        pqw::ExplainOptions o = opt;
        o.cancel = &ctx;  // a running map stops at its next batch when cancelled
        r->attr = pqw::explain(*e, p.method, x.data(), size, t, o);  // perChannel kept: the .npy export
        r->seconds = clock.elapsed() / 1000.0;
        ctx.throwIfCancelled();
        return std::function<void()>([this, key, r] {
            pending_.remove(key);
            EngineResult er;
            er.map = r;
            store(key, er);
            Q_EMIT resultReady(key);
        });
    }, quick);
}

int ExplainEngine::requestDecomposition(int cls) {
    if (!ready() || image_.kind == ExplainImageRef::Kind::None || !hasHead(PaneHead::ProtoQuant)) return 0;
    const QString key = decompositionKey(cls);
    if (find(key) || pending_.contains(key)) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    const QString title = tr("Decompose %1 over prototypes").arg(imageLabel());
    return submit(key, title, [this, key, models, rgb, cls](pqw::JobContext& ctx) {
        const auto e = models->get(PaneHead::ProtoQuant);
        const auto x = models->input(rgb);
        const int size = models->model->inputSize();
        auto r = std::make_shared<DecompositionResult>();
        r->logits = e->logits(x.data(), 1, size);
        const int c = cls < 0 ? argmax(r->logits) : cls;
        ctx.progress(0.1, "prototype shares and their pixel maps");
        // Pixel maps for the bars shown (the top shares); one backward pass each.
        r->maps = 10;  // the bars the view draws
        pqw::ExplainOptions o;
        o.cancel = &ctx;
        r->decision = pqw::explainDecision(*e, x.data(), size, c, r->maps, o);
        r->maps = std::min<int>(r->maps, int(r->decision.shares.size()));
        for (auto& s : r->decision.shares) {
            s.map.perChannel.clear();
            s.map.perChannel.shrink_to_fit();
        }
        ctx.throwIfCancelled();
        return std::function<void()>([this, key, r] {
            pending_.remove(key);
            EngineResult er;
            er.decomposition = r;
            store(key, er);
            Q_EMIT resultReady(key);
        });
    });
}

int ExplainEngine::requestAllClasses(PaneHead h) {
    if (!ready() || image_.kind == ExplainImageRef::Kind::None || !hasHead(h)) return 0;
    const QString key = allClassesKey(h);
    if (find(key) || pending_.contains(key)) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    return submit(key, tr("OMENN for every class of %1").arg(imageLabel()), [this, key, models, rgb, h](pqw::JobContext& ctx) {
        const auto e = models->get(h);
        const auto x = models->input(rgb);
        const int size = models->model->inputSize();
        auto r = std::make_shared<AllClassesResult>();
        r->logits = e->logits(x.data(), 1, size);
        ctx.progress(0.1, "one backward pass per class");
        pqw::ExplainOptions o;
        o.cancel = &ctx;
        r->rows = pqw::explainAllClasses(*e, x.data(), size, o);
        for (auto& a : r->rows) {
            a.perChannel.clear();
            a.perChannel.shrink_to_fit();
        }
        ctx.throwIfCancelled();
        return std::function<void()>([this, key, r] {
            pending_.remove(key);
            EngineResult er;
            er.allClasses = r;
            store(key, er);
            Q_EMIT resultReady(key);
        });
    });
}

int ExplainEngine::requestCurves(const PaneSpec& p, const ComputeOptions& o, int cls) {
    const QString mk = mapKey(p, o);
    auto map = cachedMap(mk);
    if (!map || !ready()) return 0;
    const QString key = curvesKey(p, o, cls);
    if (find(key) || pending_.contains(key)) return 0;
    auto models = models_;
    const cv::Mat rgb = rgb_;
    const std::vector<float> m = map->attr.map;
    return submit(key, tr("Deletion and insertion curves (%1)").arg(QString::fromUtf8(pqw::methodTitle(p.method))),
                  [this, key, models, rgb, m, cls, p](pqw::JobContext& ctx) {
        const auto e = models->get(p.head);
        const auto x = models->input(rgb);
        const int size = models->model->inputSize();
        const auto f = pqw::batchModel(*e, size);
        pqw::ImageGeometry g;
        g.height = g.width = size;
        pqw::FaithfulnessOptions fo;
        fo.cell = std::max(2, size / 14);
        auto r = std::make_shared<CurvesResult>();
        r->cls = cls;
        const int outputs = e->numOutputs();
        r->deletion = pqw::deletionCurve(f, outputs, x.data(), g, cls, m, fo, false);
        ctx.progress(0.5, "insertion");
        ctx.throwIfCancelled();
        r->insertion = pqw::deletionCurve(f, outputs, x.data(), g, cls, m, fo, true);
        r->deletionAuc = pqw::trapezoidAuc(r->deletion);
        r->insertionAuc = pqw::trapezoidAuc(r->insertion);
        return std::function<void()>([this, key, r] {
            pending_.remove(key);
            EngineResult er;
            er.curves = r;
            store(key, er);
            Q_EMIT resultReady(key);
        });
    });
}

int ExplainEngine::requestTable(const QList<pqw::Method>& methods, int images, const ComputeOptions& o, int sanityImages) {
    if (!ready() || methods.isEmpty() || images <= 0) return 0;
    const QString key = tableKey(methods, images, o);
    if (tables_.contains(key) || pending_.contains(key)) return 0;
    auto ds = session_->dataset();
    if (!ds) return 0;
    auto models = models_;
    const std::vector<pqw::Method> ms(methods.begin(), methods.end());
    const auto opt = o.toCore();
    return submit(key, tr("Faithfulness table: %1 method(s) on %2 test images").arg(ms.size()).arg(images),
                  [this, key, models, ds, ms, images, opt, sanityImages](pqw::JobContext& ctx) {
        const auto e = models->get(models->model->hasHead() ? PaneHead::ProtoQuant : PaneHead::Probe);
        auto ids = ds->indices(pqw::Split::Test);
        if (ids.empty()) ids = ds->indices(pqw::Split::Val);
        if (ids.empty()) throw pqw::Error("the dataset has no test or validation images");
        std::mt19937_64 rng(0);  // the same seeded sample as `pqw faithfulness --seed 0`
        std::shuffle(ids.begin(), ids.end(), rng);
        ids.resize(std::min(ids.size(), size_t(images)));
        const int size = models->model->inputSize();
        std::vector<std::vector<float>> xs;
        std::vector<int> targets;
        for (size_t id : ids) {
            ctx.throwIfCancelled();
            xs.push_back(models->input(ds->loadImage(id)));
            targets.push_back(argmax(e->logits(xs.back().data(), 1, size)));
        }
        pqw::FaithfulnessOptions fo;
        fo.cell = std::max(2, size / 14);
        auto r = std::make_shared<TableResult>();
        r->images = int(xs.size());
        r->rows = pqw::faithfulnessTable(*e, ms, xs, targets, size, opt, fo, std::min(sanityImages, int(xs.size())), ctx);
        return std::function<void()>([this, key, r] {
            pending_.remove(key);
            tables_.insert(key, r);
            Q_EMIT resultReady(key);
        });
    });
}

}  // namespace pqwgui
