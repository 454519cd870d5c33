#pragma once
// The workbench's open state (dataset, backbone, feature cache, ProtoQuant model, prototype
// index, evaluations) and the operations on it. Every operation that touches a tensor or
// decodes many images runs as a job on JobRunner's worker thread; results are applied on the
// GUI thread by the job's finisher, then a *Changed() signal tells the views.
#include <QImage>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "jobrunner.h"
#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"

namespace pqwgui {

/// Which stages to train and their options.
struct TrainConfig {
    bool stage0 = true, stage1 = true, stage1b = false, stage2 = true;
    pqw::Stage0Options s0;
    pqw::CodebookOptions s1;
    pqw::CodebookPruneOptions s1b;
    pqw::HeadOptions s2;
};

/// The demo: Fashion-MNIST subset -> default backbone -> features -> ProtoQuant.
struct DemoConfig {
    std::string dataset = "fashion-mnist";
    size_t maxTrain = 6000, maxTest = 1000;
    int inputSize = 112;
    int topK = 8;
    TrainConfig train;
    QString cacheRoot;  ///< empty = the user cache folder
    DemoConfig();
};

/// The prototype index plus the crops the views show (made on the worker thread).
struct PrototypeIndex {
    std::vector<pqw::PrototypeInfo> infos;
    std::vector<std::vector<QImage>> patches;  ///< [prototype][rank] crops, best first
    std::vector<std::vector<QImage>> contexts; ///< [prototype][rank] whole image with the patch's box
};

/// What a view may know about the model without running a tensor op on the GUI thread.
struct ModelSummary {
    QString kind;
    int prototypes = 0, classes = 0;
    bool stage0 = false, codebook = false, head = false;
    std::vector<char> enabled;
    std::vector<pqw::EpochRecord> history;
    QStringList classNames;
};

class Session : public QObject {
    Q_OBJECT
public:
    explicit Session(JobRunner* jobs, QObject* parent = nullptr);
    JobRunner* jobs() const { return jobs_; }

    std::shared_ptr<const pqw::Dataset> dataset() const { return dataset_; }
    std::shared_ptr<const pqw::Backbone> backbone() const { return backbone_; }
    const std::vector<pqw::LayerInfo>& layers() const { return layers_; }
    int inputSize() const { return inputSize_; }
    QString cacheDir() const { return cacheDir_; }
    std::shared_ptr<const pqw::FeatureCache> cache() const { return cache_; }
    std::shared_ptr<const pqw::ProtoModel> model() const { return model_; }
    const ModelSummary& modelSummary() const { return summary_; }
    std::shared_ptr<const PrototypeIndex> index() const { return index_; }
    const std::optional<pqw::Evaluation>& valEvaluation() const { return val_; }
    const std::optional<pqw::Evaluation>& testEvaluation() const { return test_; }
    QString modelPath() const { return modelPath_; }

    /// A default cache folder for the current dataset and input size (user cache location).
    QString defaultCacheDir() const;
    void setInputSize(int px);
    void setCacheDir(const QString& dir);
    /// Inspects the cache folder (reads meta.json; no tensor work).
    pqw::CacheStatus cacheStatus() const;

    using Then = std::function<void()>;
    int openDataset(const pqw::DatasetSpec& spec, Then then = {});
    int openBackbone(const pqw::BackboneSpec& spec, Then then = {});
    /// Re-probes the layer table at the current input size.
    int probeLayers();
    int extractFeatures(Then then = {});
    /// The job id of the latest extraction (queued, running or finished); -1 before any.
    int extractionJob() const { return extractJob_; }
    /// Opens a complete feature cache and the dataset and backbone it was made from.
    int openFeatures(const QString& dir, Then then = {});
    /// Trains; then evaluates and builds the prototype index.
    int train(const TrainConfig& cfg, Then then = {});
    int evaluateModel(Then then = {});
    int buildIndex(int topK = 8, Then then = {});
    /// Loads a checkpoint. One that embeds a TorchScript stage-0 head (code, not data) is
    /// loaded only when the consent hook agrees; without a hook it is refused by the load.
    int loadModel(const QString& path, Then then = {});
    /// Asked before a checkpoint that embeds TorchScript is loaded: (path, module name) ->
    /// load it? The main window asks the user.
    void setCodeConsent(std::function<bool(const QString&, const QString&)> ask) { codeConsent_ = std::move(ask); }
    /// Saves the model. adopt: it becomes the model's file (modelPath(), modelSaved()); else a
    /// copy (autosave).
    int saveModel(const QString& path, Then then = {}, bool adopt = true);
    /// Whether the model in memory is what modelPath() holds (false after training or a
    /// prototype switch until saved).
    bool modelSaved() const { return modelSaved_; }
    void markModelUnsaved() { modelSaved_ = false; }
    /// Applies a prototype on/off mask to a copy of the model and re-evaluates validation
    /// accuracy; the copy replaces the model when done.
    int applyPrototypeMask(const std::vector<char>& enabled);
    /// Measures each prototype's stability (pqw::perPrototypeStability over the images of its
    /// best patches) as a job; stabilityChanged() when done.
    int measureStability(Then then = {});
    /// Per prototype number: presence change (lower = more stable), empty until measured.
    const std::vector<double>& stability() const { return stability_; }
    /// Whether the model can predict dataset samples (its cache was made from this dataset).
    bool canPredictSamples() const;
    /// Predicts one dataset sample from its cached features (a quiet job); samplePredicted().
    int predictSample(size_t sample);
    /// "This looks like that" for an image file.
    int explainImage(const QString& path);
    /// Runs the whole demo as a chain of visible jobs; demoFinished() at the end.
    void runDemo(const DemoConfig& cfg);
    const DemoConfig& demoConfig() const { return demo_; }

Q_SIGNALS:
    void datasetChanged();
    void backboneChanged();
    void cacheChanged();
    void modelChanged();
    void indexChanged();
    void evaluationChanged();
    void prototypeMaskApplied(double valBefore, double valAfter);
    void stabilityChanged();
    void explanationReady(const QImage& image, const QString& summary);
    void demoFinished(bool ok);
    void samplePredicted(size_t sample, const QString& text);
    void demoStep(const QString& step);

private:
    std::function<bool(const QString&, const QString&)> codeConsent_;
    void setModel(std::shared_ptr<const pqw::ProtoModel> m, const ModelSummary& s);
    static ModelSummary summarise(const pqw::ProtoModel& m);
    JobRunner* jobs_;
    std::shared_ptr<const pqw::Dataset> dataset_;
    std::shared_ptr<const pqw::Backbone> backbone_;
    std::vector<pqw::LayerInfo> layers_;
    int inputSize_ = 112;
    QString cacheDir_;
    bool cacheDirUserSet_ = false;
    int extractJob_ = -1;
    std::shared_ptr<const pqw::FeatureCache> cache_;
    std::shared_ptr<const pqw::ProtoModel> model_;
    ModelSummary summary_;
    QString modelPath_;
    bool modelSaved_ = false;
    std::shared_ptr<const PrototypeIndex> index_;
    std::vector<double> stability_;
    std::optional<pqw::Evaluation> val_, test_;
    DemoConfig demo_;
    bool demoRunning_ = false;
};

/// Copies an 8-bit RGB cv::Mat into a QImage.
QImage toQImage(const cv::Mat& rgb);
/// The whole image scaled to `side` (longer edge) with a patch's box (input pixels) drawn.
QImage contextImage(const cv::Mat& rgb, const pqw::Box& inputBox, int inputSize, int side);

}  // namespace pqwgui
