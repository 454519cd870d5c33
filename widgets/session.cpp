#include "session.h"

#include "pqw/output.h"
#include "pqw/proto_metrics.h"

#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "pqw/error.h"
#include "pqw/recorded_backbone.h"
#include "pqw/preprocess.h"
#include "pqw/render.h"

namespace pqwgui {

DemoConfig::DemoConfig() {
    // Small enough to finish in a few minutes on two cores, big enough to show real prototypes.
    train.s0.epochs = 8;
    train.s1.codes = 64;
    train.s1.epochs = 4;
    train.s2.epochs = 6;
}

QImage toQImage(const cv::Mat& rgb) {
    if (rgb.empty()) return {};
    cv::Mat c;
    if (rgb.channels() == 1) cv::cvtColor(rgb, c, cv::COLOR_GRAY2RGB);
    else c = rgb;
    QImage img(c.data, c.cols, c.rows, int(c.step), QImage::Format_RGB888);
    return img.copy();
}


namespace {
/// A context for one part of a job: its progress is mapped onto [lo, hi] of the job's bar
/// (so the bar and the ETA move forward through multi-step jobs), events pass through, and it
/// follows the job's cancellation at once (JobContext::followCancel).
std::unique_ptr<pqw::JobContext> part(pqw::JobContext& job, double lo, double hi) {
    auto p = std::make_unique<pqw::JobContext>();
    p->followCancel(&job);
    p->setProgressHandler([&job, lo, hi](double f, const std::string& msg) {
        job.progress(lo + (hi - lo) * std::clamp(f, 0.0, 1.0), msg);
    });
    p->setEventHandler([&job](const pqw::Event& e) { job.emit(e); });
    return p;
}
}  // namespace

QImage contextImage(const cv::Mat& rgb, const pqw::Box& inputBox, int inputSize, int side) {
    const pqw::Box b = pqw::inputBoxToImage(inputBox, inputSize, rgb.cols, rgb.rows);
    const double s = double(side) / std::max(rgb.cols, rgb.rows);
    cv::Mat small;
    cv::resize(rgb, small, cv::Size(std::max(1, int(std::lround(rgb.cols * s))), std::max(1, int(std::lround(rgb.rows * s)))), 0, 0,
               s < 1 ? cv::INTER_AREA : cv::INTER_NEAREST);
    const int t = std::max(2, side / 40);
    cv::rectangle(small, cv::Rect(int(b.x * s), int(b.y * s), std::max(1, int(b.w * s)), std::max(1, int(b.h * s))),
                  cv::Scalar(255, 200, 0), t);
    return toQImage(small);
}

Session::Session(JobRunner* jobs, QObject* parent) : QObject(parent), jobs_(jobs) {
    connect(jobs_, &JobRunner::finished, this, [this](int, JobStatus st, const QString&) {
        if (demoRunning_ && st != JobStatus::Succeeded) {
            demoRunning_ = false;
            Q_EMIT demoFinished(false);
        }
    });
}

QString Session::defaultCacheDir() const {
    if (!dataset_) return {};
    const QString root = QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/features");
    return QDir(root).filePath(QStringLiteral("%1-%2px-%3")
                                   .arg(QString::fromStdString(dataset_->name()))
                                   .arg(inputSize_)
                                   .arg(QString::fromStdString(dataset_->fingerprint()).left(8)));
}

void Session::setInputSize(int px) {
    if (px == inputSize_) return;
    inputSize_ = px;
    if (!cacheDirUserSet_) cacheDir_ = defaultCacheDir();
    Q_EMIT cacheChanged();
}

void Session::setCacheDir(const QString& dir) {
    cacheDir_ = dir;
    cacheDirUserSet_ = !dir.isEmpty();
    if (dir.isEmpty()) cacheDir_ = defaultCacheDir();
    Q_EMIT cacheChanged();
}

pqw::CacheStatus Session::cacheStatus() const {
    if (!dataset_ || !backbone_ || cacheDir_.isEmpty()) return {};
    try {
        return pqw::inspectCache(cacheDir_.toStdString(), *dataset_, *backbone_, inputSize_);
    } catch (const std::exception& e) {
        pqw::CacheStatus s;
        s.reason = e.what();
        return s;
    }
}

ModelSummary Session::summarise(const pqw::ProtoModel& m) {
    ModelSummary s;
    s.kind = QString::fromStdString(m.kind());
    s.prototypes = m.numPrototypes();
    s.classes = m.numClasses();
    s.stage0 = m.hasStage0();
    s.codebook = m.hasCodebook();
    s.head = m.hasHead();
    for (int p = 0; p < s.prototypes; ++p) s.enabled.push_back(m.prototypeEnabled(p) ? 1 : 0);
    s.history = m.history();
    for (const auto& c : m.classNames()) s.classNames << QString::fromStdString(c);
    return s;
}

void Session::setModel(std::shared_ptr<const pqw::ProtoModel> m, const ModelSummary& s) {
    model_ = std::move(m);
    stability_.clear();
    summary_ = s;
    Q_EMIT modelChanged();
}

int Session::openDataset(const pqw::DatasetSpec& spec, Then then) {
    return jobs_->submit(tr("Open dataset %1").arg(QString::fromStdString(spec.path)), [this, spec, then](pqw::JobContext& ctx) {
        ctx.progress(0.0, "reading");
        auto ds = std::make_shared<const pqw::Dataset>(pqw::Dataset::open(spec));
        ctx.progress(1.0, "");
        return std::function<void()>([this, ds, then] {
            dataset_ = ds;
            if (!cacheDirUserSet_) cacheDir_ = defaultCacheDir();
            // A cache or model of another dataset no longer applies.
            if (cache_ && !cache_->madeFrom(*ds)) {
                cache_.reset();
                index_.reset();
                val_.reset();
                test_.reset();
                Q_EMIT cacheChanged();
                Q_EMIT indexChanged();
                Q_EMIT evaluationChanged();
            }
            Q_EMIT datasetChanged();
            Q_EMIT cacheChanged();
            if (then) then();
        });
    });
}

int Session::openBackbone(const pqw::BackboneSpec& spec, Then then) {
    const int size = inputSize_;
    const QString what = spec.kind == "default" ? tr("default MobileNetV2") : QString::fromStdString(spec.path);
    return jobs_->submit(tr("Load backbone %1").arg(what), [this, spec, size, then](pqw::JobContext& ctx) {
        ctx.progress(0.1, "loading weights");
        auto bb = std::make_shared<const pqw::Backbone>(pqw::Backbone::open(spec));
        ctx.progress(0.6, "probing layer shapes");
        auto layers = bb->layers(size);
        ctx.progress(1.0, "");
        return std::function<void()>([this, bb, layers, then] {
            backbone_ = bb;
            layers_ = layers;
            Q_EMIT backboneChanged();
            Q_EMIT cacheChanged();
            if (then) then();
        });
    });
}

int Session::probeLayers() {
    if (!backbone_) return 0;
    auto bb = backbone_;
    const int size = inputSize_;
    return jobs_->submit(tr("Probe layer shapes at %1 px").arg(size), [this, bb, size](pqw::JobContext&) {
        auto layers = bb->layers(size);
        return std::function<void()>([this, bb, layers] {
            if (bb != backbone_) return;
            layers_ = layers;
            Q_EMIT backboneChanged();
        });
    });
}

int Session::extractFeatures(Then then) {
    if (!dataset_ || !backbone_) throw pqw::Error("open a dataset and a backbone first");
    auto ds = dataset_;
    auto bb = backbone_;
    const std::string dir = cacheDir_.toStdString();
    pqw::ExtractOptions opt;
    opt.inputSize = inputSize_;
    return extractJob_ = jobs_->submit(tr("Extract features (%1 images, %2 px)").arg(ds->size()).arg(inputSize_),
                         [this, ds, bb, dir, opt, then](pqw::JobContext& ctx) {
        const auto rep = pqw::extractFeatures(*ds, *bb, dir, ctx, opt);
        auto cache = std::make_shared<const pqw::FeatureCache>(pqw::FeatureCache::open(dir));
        return std::function<void()>([this, rep, cache, then] {
            Q_EMIT jobs_->logMessage(tr("features: %1 extracted, %2 reused, %3 failed, %4 images/s")
                                  .arg(rep.extracted).arg(rep.reused).arg(rep.failed)
                                  .arg(rep.imagesPerSecond, 0, 'f', 0));
            cache_ = cache;
            Q_EMIT cacheChanged();
            if (then) then();
        });
    });
}

int Session::openFeatures(const QString& dir, Then then) {
    const std::string d = dir.toStdString();
    const auto current = backbone_;  // chosen in the window: reused when it is the cache's
    return jobs_->submit(tr("Open features %1").arg(QFileInfo(dir).fileName()), [this, d, dir, then, current](pqw::JobContext& ctx) {
        ctx.progress(0.0, "opening cache");
        auto cache = std::make_shared<const pqw::FeatureCache>(pqw::FeatureCache::open(d));
        ctx.progress(0.2, "opening its dataset");
        auto ds = std::make_shared<const pqw::Dataset>(cache->openDataset());
        ctx.progress(0.4, "loading the backbone");
        // A backbone the user chose in this window is reused; otherwise the recorded one is
        // reopened (never a TorchScript file named only by the cache: docs/security.md).
        auto bb = current && current->id() == cache->backboneId() &&
                          current->spec().preprocess == cache->backboneSpec().preprocess
                      ? current
                      : std::make_shared<const pqw::Backbone>(
                            pqw::openRecordedBackbone(cache->backboneSpec(), cache->backboneId(), d + "/meta.json"));
        auto layers = bb->layers(cache->inputSize());
        return std::function<void()>([this, cache, ds, bb, layers, dir, then] {
            dataset_ = ds;
            backbone_ = bb;
            layers_ = layers;
            inputSize_ = cache->inputSize();
            cacheDir_ = dir;
            cacheDirUserSet_ = true;
            cache_ = cache;
            Q_EMIT datasetChanged();
            Q_EMIT backboneChanged();
            Q_EMIT cacheChanged();
            if (then) then();
        });
    });
}

int Session::train(const TrainConfig& cfg, Then then) {
    if (!cache_) throw pqw::Error("extract or open features first");
    auto cache = cache_;
    auto current = model_;
    return jobs_->submit(tr("Train ProtoQuant"), [this, cache, current, cfg, then](pqw::JobContext& ctx) {
        // Without stage 0 the run continues from the current model (e.g. a new stage 2).
        auto m = std::make_shared<pqw::ProtoModel>(!cfg.stage0 && current ? pqw::ProtoModel(*current)
                                                                         : pqw::ProtoModel::forCache(*cache));
        m->checkCompatible(*cache);
        // Share the bar between the stages by their epochs (stage 1 epochs cost more).
        const double w0 = cfg.stage0 ? cfg.s0.epochs * 0.5 : 0, w1 = cfg.stage1 ? cfg.s1.epochs * 2.0 : 0,
                     w1b = cfg.stage1b ? 1.0 : 0, w2 = cfg.stage2 ? cfg.s2.epochs * 1.0 : 0;
        const double total = std::max(1e-9, w0 + w1 + w1b + w2);
        double at = 0;
        auto next = [&](double w) {
            auto p = part(ctx, at / total, (at + w) / total);
            at += w;
            return p;
        };
        if (cfg.stage0) pqw::trainStage0(*m, *cache, cfg.s0, *next(w0));
        if (cfg.stage1) pqw::trainCodebook(*m, *cache, cfg.s1, *next(w1));
        if (cfg.stage1b) pqw::pruneCodebook(*m, *cache, cfg.s1b, *next(w1b));
        if (cfg.stage2) pqw::trainHead(*m, *cache, cfg.s2, *next(w2));
        ctx.throwIfCancelled();
        const auto s = summarise(*m);
        return std::function<void()>([this, m, s, then] {
            setModel(m, s);
            modelPath_.clear();
            modelSaved_ = false;
            index_.reset();
            val_.reset();
            test_.reset();
            Q_EMIT indexChanged();
            Q_EMIT evaluationChanged();
            evaluateModel();
            buildIndex(demo_.topK, then);
        });
    });
}

int Session::evaluateModel(Then then) {
    if (!model_ || !cache_) return 0;
    auto m = model_;
    auto cache = cache_;
    return jobs_->submit(tr("Evaluate on validation and test"), [this, m, cache, then](pqw::JobContext& ctx) {
        const auto head = m->hasHead() ? pqw::HeadKind::Interpretable
                          : m->hasCodebook() ? pqw::HeadKind::Quantised : pqw::HeadKind::Stage0;
        auto val = pqw::evaluate(*m, *cache, pqw::Split::Val, head, *part(ctx, 0.0, 0.5));
        ctx.throwIfCancelled();
        auto test = pqw::evaluate(*m, *cache, pqw::Split::Test, head, *part(ctx, 0.5, 1.0));
        ctx.throwIfCancelled();
        return std::function<void()>([this, m, val, test, then] {
            if (m != model_) return;
            val_ = val;
            test_ = test;
            Q_EMIT evaluationChanged();
            if (then) then();
        });
    });
}

int Session::buildIndex(int topK, Then then) {
    if (!model_ || !cache_ || !dataset_ || !summary_.codebook) {
        if (then) then();
        return 0;
    }
    auto m = model_;
    auto cache = cache_;
    auto ds = dataset_;
    return jobs_->submit(tr("Find each prototype's nearest training patches"), [this, m, cache, ds, topK, then](pqw::JobContext& ctx) {
        auto idx = std::make_shared<PrototypeIndex>();
        idx->infos = pqw::buildPrototypeIndex(*m, *cache, topK, *part(ctx, 0.0, 0.8));
        ctx.throwIfCancelled();
        const int size = cache->inputSize();
        idx->patches.resize(idx->infos.size());
        idx->contexts.resize(idx->infos.size());
        for (size_t p = 0; p < idx->infos.size(); ++p) {
            ctx.throwIfCancelled();
            for (const auto& ref : idx->infos[p].topPatches) {
                idx->patches[p].push_back(toQImage(pqw::patchCrop(*ds, ref, size, 96)));
                idx->contexts[p].push_back(contextImage(ds->loadImage(ref.sample), ref.box, size, 96));
            }
            ctx.progress(0.8 + 0.2 * double(p + 1) / double(idx->infos.size()), "cropping patches");
        }
        return std::function<void()>([this, m, idx, then] {
            if (m != model_) return;
            index_ = idx;
            Q_EMIT indexChanged();
            if (then) then();
        });
    });
}

int Session::loadModel(const QString& path, Then then) {
    auto cache = cache_;
    const std::string p = path.toStdString();
    if (codeConsent_) {
        std::string script;
        try {
            script = pqw::ProtoModel::embeddedTorchScript(p);
        } catch (const pqw::Error&) {
            // A malformed file: the load below names what is wrong.
        }
        if (!script.empty()) {
            if (!codeConsent_(path, QString::fromStdString(script))) return 0;
            pqw::allowEmbeddedTorchScript(p);
        }
    }
    return jobs_->submit(tr("Load checkpoint %1").arg(QFileInfo(path).fileName()), [this, cache, p, path, then](pqw::JobContext&) {
        auto m = std::make_shared<pqw::ProtoModel>(pqw::ProtoModel::load(p));
        if (cache) m->checkCompatible(*cache);
        const auto s = summarise(*m);
        return std::function<void()>([this, m, s, path, then] {
            setModel(m, s);
            modelPath_ = path;
            modelSaved_ = true;
            index_.reset();
            val_.reset();
            test_.reset();
            Q_EMIT indexChanged();
            Q_EMIT evaluationChanged();
            evaluateModel();
            buildIndex(demo_.topK, then);
        });
    });
}

int Session::saveModel(const QString& path, Then then, bool adopt) {
    if (!model_) throw pqw::Error("there is no model to save");
    auto m = model_;
    const std::string p = path.toStdString();
    return jobs_->submit(tr("Save checkpoint %1").arg(QFileInfo(path).fileName()), [this, m, p, path, then, adopt](pqw::JobContext&) {
        const pqw::OutputLock lock(p, "save the checkpoint");  // not while a pqw run writes it
        m->save(p);
        return std::function<void()>([this, m, path, then, adopt] {
            if (adopt) {
                modelPath_ = path;
                modelSaved_ = model_ == m;
            }
            if (then) then();
        }); }, !adopt);
}

int Session::applyPrototypeMask(const std::vector<char>& enabled) {
    if (!model_ || !cache_) return 0;
    auto m = model_;
    auto cache = cache_;
    const double before = val_ ? val_->top1 : -1;
    int off = 0;
    for (char e : enabled) off += e ? 0 : 1;
    return jobs_->submit(tr("Re-evaluate with %1 prototype(s) switched off").arg(off), [this, m, cache, enabled, before](pqw::JobContext& ctx) {
        auto copy = std::make_shared<pqw::ProtoModel>(*m);
        for (size_t p = 0; p < enabled.size(); ++p) copy->setPrototypeEnabled(int(p), enabled[p] != 0);
        auto val = pqw::evaluate(*copy, *cache, pqw::Split::Val, pqw::HeadKind::Interpretable, ctx);
        const auto s = summarise(*copy);
        return std::function<void()>([this, copy, s, val, before] {
            // The index (patches, usage, weights) does not depend on the mask: keep it.
            model_ = copy;
            modelSaved_ = false;
            summary_ = s;
            val_ = val;
            Q_EMIT evaluationChanged();
            Q_EMIT prototypeMaskApplied(before, val.top1);
        });
    });
}

int Session::measureStability(Then then) {
    if (!model_ || !index_ || !dataset_ || !backbone_) throw pqw::Error("stability needs a trained head, its prototype index, the dataset and the backbone");
    auto m = model_;
    auto idx = index_;
    auto ds = dataset_;
    auto bb = backbone_;
    return jobs_->submit(tr("Measure prototype stability"), [this, m, idx, ds, bb, then](pqw::JobContext& ctx) {
        pqw::StabilityOptions o;
        auto s = pqw::perPrototypeStability(*m, idx->infos, *ds, *bb, o, 3, ctx);
        return std::function<void()>([this, m, s, then] {
            if (model_ != m) return;  // the model changed meanwhile
            stability_ = s;
            Q_EMIT stabilityChanged();
            if (then) then();
        });
    });
}

bool Session::canPredictSamples() const {
    return model_ && cache_ && dataset_ && cache_->madeFrom(*dataset_) &&
           cache_->size() == dataset_->size() && (summary_.head || summary_.stage0);
}

int Session::predictSample(size_t sample) {
    if (!canPredictSamples() || sample >= cache_->size()) return 0;
    auto m = model_;
    auto cache = cache_;
    const auto head = summary_.head ? pqw::HeadKind::Interpretable : pqw::HeadKind::Stage0;
    return jobs_->submit(tr("Predict sample %1").arg(sample), [this, m, cache, sample, head](pqw::JobContext&) {
        QString text;
        if (!cache->valid(sample)) {
            text = tr("no features (the image could not be decoded)");
        } else {
            const auto s = cache->shape();
            std::vector<float> f(size_t(s[0] * s[1] * s[2]));
            cache->read(sample, f.data());
            const auto logits = m->logits(f.data(), head);
            std::vector<double> p(logits.size());
            const double mx = *std::max_element(logits.begin(), logits.end());
            double z = 0;
            for (size_t c = 0; c < p.size(); ++c) z += (p[c] = std::exp(double(logits[c]) - mx));
            std::vector<size_t> order(p.size());
            for (size_t c = 0; c < order.size(); ++c) order[c] = c;
            std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
            const auto& names = m->classNames();
            for (size_t k = 0; k < std::min<size_t>(3, order.size()); ++k)
                text += (k ? QStringLiteral(", ") : QString()) +
                        QStringLiteral("%1 %2 %").arg(QString::fromStdString(names[order[k]])).arg(100 * p[order[k]] / z, 0, 'f', 1);
        }
        return std::function<void()>([this, sample, text] { Q_EMIT samplePredicted(sample, text); });
    }, true);
}

int Session::explainImage(const QString& path) {
    if (!model_ || !summary_.head) throw pqw::Error("train or load a model with an interpretable head first");
    auto m = model_;
    auto bb = backbone_;
    auto idx = index_;
    auto ds = dataset_;
    const std::string p = path.toStdString();
    return jobs_->submit(tr("Explain %1").arg(QFileInfo(path).fileName()), [this, m, bb, idx, ds, p](pqw::JobContext& ctx) {
        ctx.progress(0.1, "decoding");
        const cv::Mat rgb = pqw::loadImageFile(p);
        std::shared_ptr<const pqw::Backbone> net = bb;
        if (!net || net->id() != m->backboneId() || net->spec().preprocess != m->backboneSpec().preprocess)
            net = std::make_shared<const pqw::Backbone>(pqw::openRecordedBackbone(m->backboneSpec(), m->backboneId(), "the head"));
        ctx.progress(0.4, "features");
        const auto pp = net->preprocess(m->inputSize());
        std::vector<float> px(size_t(3) * pp.size * pp.size);
        pqw::preprocessImage(rgb, pp, px.data());
        const auto s = net->featureShape(m->inputSize());
        std::vector<float> f(size_t(s[0] * s[1] * s[2]));
        net->forward(px.data(), 1, pp.size, f.data());
        ctx.progress(0.7, "explaining");
        const auto ex = pqw::explainLocal(*m, f.data(), int(s[1]), int(s[2]), m->stride(), m->receptiveField(), m->inputSize());
        const auto fig = pqw::renderLocalExplanation(rgb, ex, idx ? &idx->infos : nullptr, ds.get(), m->classNames(),
                                                     m->inputSize(), 5);
        const auto& cls = m->classNames();
        QString text = QObject::tr("Prediction: <b>%1</b> (%2 %)").arg(QString::fromStdString(cls[size_t(ex.predicted)]))
                           .arg(100.0 * ex.probabilities[size_t(ex.predicted)], 0, 'f', 1);
        text += QObject::tr("<br>Evidence (score = class weight x presence):");
        int shown = 0;
        for (const auto& e : ex.evidence) {
            if (shown++ == 5) break;
            text += QObject::tr("<br>&nbsp;&nbsp;prototype %1: %2 = %3 x %4").arg(e.prototype).arg(e.score, 0, 'f', 3)
                        .arg(e.weight, 0, 'f', 3).arg(e.presence, 0, 'f', 3);
        }
        const QImage img = toQImage(fig);
        return std::function<void()>([this, img, text] { Q_EMIT explanationReady(img, text); });
    });
}

void Session::runDemo(const DemoConfig& cfg) {
    demo_ = cfg;
    demoRunning_ = true;
    pqw::DatasetSpec spec;
    spec.path = cfg.dataset;
    spec.maxTrain = cfg.maxTrain;
    spec.maxTest = cfg.maxTest;
    inputSize_ = cfg.inputSize;
    const QString root = cfg.cacheRoot.isEmpty()
                             ? QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/demo")
                             : cfg.cacheRoot;
    const QString dir = QDir(root).filePath(QStringLiteral("%1-%2px-%3train")
                                                .arg(QString::fromStdString(cfg.dataset)).arg(cfg.inputSize).arg(cfg.maxTrain));
    Q_EMIT demoStep(tr("Opening %1").arg(QString::fromStdString(cfg.dataset)));
    openDataset(spec, [this, dir] {
        cacheDir_ = dir;
        cacheDirUserSet_ = true;
        Q_EMIT cacheChanged();
        Q_EMIT demoStep(tr("Loading the backbone"));
        openBackbone(pqw::BackboneSpec{}, [this] {
            Q_EMIT demoStep(tr("Extracting features"));
            extractFeatures([this] {
                Q_EMIT demoStep(tr("Training"));
                train(demo_.train, [this] {
                    if (!demoRunning_) return;
                    demoRunning_ = false;
                    Q_EMIT demoFinished(true);
                });
            });
        });
    });
}

}  // namespace pqwgui
