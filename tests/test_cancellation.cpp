// Cancellation of every job type through core's JobContext: extraction, the training stages
// (0, 1, 1b, 2, baseline), the prototype index, faithfulness (OMENN and baselines), pruning,
// the sweep. Each job runs on a worker thread; once it reports progress the test calls
// cancel() and measures the time until the job returns. Every job must return within
// PQW_CANCEL_LIMIT_MS (default 1000 ms) and leave its files / model consistent.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "nn/graph.h"
#include "nn/layers.h"
#include "omenn/explainer_impl.h"
#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/faithfulness.h"
#include "pqw/feature_cache.h"
#include "pqw/omenn.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"
#include "pqw/util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double limitMs() {
    bool ok = false;
    const int v = qEnvironmentVariableIntValue("PQW_CANCEL_LIMIT_MS", &ok);
    return ok && v > 0 ? v : 1000.0;
}

struct Outcome {
    bool cancelled = false;  ///< threw pqw::Cancelled (or returned after the cancel)
    bool finishedFirst = false;  ///< completed before the cancel was requested
    double latencyMs = 0;    ///< cancel() -> return
    double totalMs = 0;      ///< start -> return
    std::string error;
};

/// Runs job on a worker thread, cancels it `afterMs` after its first progress report or event,
/// and measures how long it takes to return.
template <typename Job>
Outcome cancelDuring(pqw::JobContext& ctx, Job&& job, int afterMs = 100) {
    std::atomic<bool> started{false}, returned{false};
    auto prevProgress = [&](double, const std::string&) { started = true; };
    ctx.setProgressHandler(prevProgress);
    ctx.setEventHandler([&](const pqw::Event&) { started = true; });
    Outcome o;
    Clock::time_point t0 = Clock::now(), cancelAt, returnedAt;
    std::thread worker([&] {
        try {
            job();
        } catch (const pqw::Cancelled&) {
            o.cancelled = true;
        } catch (const std::exception& e) {
            o.error = e.what();
        }
        returnedAt = Clock::now();
        returned = true;
    });
    while (!started && !returned && Clock::now() - t0 < std::chrono::seconds(120))
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(afterMs));
    cancelAt = Clock::now();
    o.finishedFirst = returned;
    ctx.cancel();
    worker.join();
    if (!o.finishedFirst && !o.cancelled && o.error.empty()) o.cancelled = true;  // returned early, no throw
    o.latencyMs = o.finishedFirst ? 0 : std::chrono::duration<double, std::milli>(returnedAt - cancelAt).count();
    o.totalMs = std::chrono::duration<double, std::milli>(returnedAt - t0).count();
    return o;
}

/// No temporary files of an interrupted atomic write are left in dir.
bool noTempFiles(const std::string& dir) {
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
    return true;
}

/// A synthetic feature cache of n samples, D x 4 x 4, random features, 4 classes.
void writeCache(const std::string& dir, int n, int D) {
    fs::create_directories(dir);
    torch::manual_seed(1);
    auto feats = torch::randn({n, D, 4, 4});
    json labels = json::array(), splits = json::array();
    for (int i = 0; i < n; ++i) {
        feats[i].narrow(0, i % 4, 1).add_(2.0);  // class evidence
        labels.push_back(i % 4);
        splits.push_back(i % 10 < 7 ? 0 : (i % 10 < 9 ? 1 : 2));
    }
    auto half = feats.to(torch::kHalf).contiguous();
    std::ofstream(dir + "/features.f16", std::ios::binary)
        .write(reinterpret_cast<const char*>(half.data_ptr()), static_cast<std::streamsize>(half.numel() * 2));
    json m = {{"format", "pqw-feature-cache"}, {"version", 1}, {"fingerprint", "cancel-test"},
              {"backbone", {{"id", "synthetic"}, {"cut", "cut"}, {"stride", 8}, {"receptive_field", 20}}},
              {"input_size", 32}, {"shape", {D, 4, 4}}, {"count", n}, {"done", n}, {"classes", {"a", "b", "c", "d"}},
              {"labels", labels}, {"splits", splits}, {"invalid", json::array()}};
    std::ofstream(dir + "/meta.json") << m.dump();
}

/// A conv-ReLU-pool-dense explainer with random weights (4 classes).
pqw::Explainer smallExplainer(int inputSize) {
    auto g = std::make_shared<pqw::nn::Graph>();
    auto conv = std::make_shared<pqw::nn::Conv2d>(torch::randn({8, 3, 3, 3}) * 0.3, torch::randn({8}) * 0.1,
                              std::array<int64_t, 2>{1, 1}, pqw::nn::Pad4{1, 1, 1, 1},
                              std::array<int64_t, 2>{1, 1}, 1);
    int x = g->addNode("c1", "Conv2D", {0}, conv);
    x = g->addNode("r1", "ReLU", {x}, std::make_shared<pqw::nn::Activation>(pqw::nn::Activation::Fn::ReLU));
    x = g->addNode("gap", "GlobalAveragePooling2D", {x}, std::make_shared<pqw::nn::GlobalPool>(false, false));
    g->addNode("out", "Dense", {x},
           std::make_shared<pqw::nn::Dense>(torch::randn({4, 8}) * 0.5, torch::randn({4}) * 0.1));
    auto d = std::make_shared<pqw::Explainer::Impl>();
    d->trunk = g;
    d->inputSize = inputSize;
    return pqw::makeExplainer(d);
}

}  // namespace

class TestCancellation : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string cacheDir_;
    std::vector<std::pair<std::string, Outcome>> results_;

    void check(const std::string& job, const Outcome& o) {
        results_.emplace_back(job, o);
        qInfo("%-14s %s latency %.1f ms (ran %.0f ms)", job.c_str(),
              o.finishedFirst ? "finished before cancel," : (o.cancelled ? "cancelled," : "FAILED,"), o.latencyMs, o.totalMs);
        QVERIFY2(o.error.empty(), o.error.c_str());
        QVERIFY2(o.cancelled || o.finishedFirst, job.c_str());
        if (o.finishedFirst) QVERIFY2(o.totalMs < limitMs(), "a job that cannot be cancelled must finish within the limit");
        QVERIFY2(o.latencyMs < limitMs(), qPrintable(QStringLiteral("%1: %2 ms").arg(QString::fromStdString(job)).arg(o.latencyMs)));
    }

private Q_SLOTS:
    void initTestCase() {
        pqw::initTorchThreads(1);
        cacheDir_ = (tmp_.path() + QStringLiteral("/cache")).toStdString();
        writeCache(cacheDir_, 3000, 32);
    }

    void extraction() {
        const QString root = tmp_.path() + QStringLiteral("/images");
        // Enough work (1200 images at 96 px, about a second on a quiet machine) that the cancel,
        // 20 ms after the first batch, always lands mid-way.
        fixtures::writeImageFolder(root, 2, 600, 32);
        pqw::DatasetSpec ds;
        ds.path = root.toStdString();
        const auto dataset = pqw::Dataset::open(ds);
        const auto bb = pqw::Backbone::open({});
        const std::string out = (tmp_.path() + QStringLiteral("/features")).toStdString();
        pqw::ExtractOptions opt;
        opt.inputSize = 96;
        opt.batchSize = 8;
        pqw::JobContext ctx;
        check("extract", cancelDuring(ctx, [&] { pqw::extractFeatures(dataset, bb, out, ctx, opt); }, 20));
        // Consistent: a partial cache that the next call resumes; no temporary files.
        const auto st = pqw::inspectCache(out, dataset, bb, opt.inputSize);
        QCOMPARE(st.state, pqw::CacheState::Partial);
        QVERIFY(st.done > 0 && st.done < st.total);
        QVERIFY(noTempFiles(out));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::FeatureCache::open(out));  // incomplete: refused
    }

    void trainingStages() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        {
            auto m = pqw::ProtoModel::forCache(cache);
            pqw::Stage0Options o;
            o.epochs = 10000;
            o.batchSize = 32;
            pqw::JobContext ctx;
            check("stage0", cancelDuring(ctx, [&] { pqw::trainStage0(m, cache, o, ctx); }));
            QVERIFY(!m.hasStage0());
        }
        auto m = pqw::ProtoModel::forCache(cache);
        {
            pqw::Stage0Options o;
            o.epochs = 1;
            pqw::JobContext quick;
            pqw::trainStage0(m, cache, o, quick);
        }
        {
            pqw::CodebookOptions o;
            o.codes = 32;
            o.epochs = 10000;
            o.batchSize = 32;
            pqw::JobContext ctx;
            check("stage1", cancelDuring(ctx, [&] { pqw::trainCodebook(m, cache, o, ctx); }));
            QVERIFY(!m.hasCodebook());  // a cancelled stage leaves the model as it was
            o.epochs = 1;
            pqw::JobContext quick;
            pqw::trainCodebook(m, cache, o, quick);
        }
        {
            pqw::ProtoModel copy = m;
            pqw::CodebookPruneOptions o;
            o.target = 4;
            o.steps = 28;
            pqw::JobContext ctx;
            check("stage1b", cancelDuring(ctx, [&] { pqw::pruneCodebook(copy, cache, o, ctx); }, 0));
        }
        {
            pqw::ProtoModel copy = m;
            pqw::HeadOptions o;
            o.epochs = 10000;
            o.batchSize = 32;
            pqw::JobContext ctx;
            check("stage2", cancelDuring(ctx, [&] { pqw::trainHead(copy, cache, o, ctx); }));
            QVERIFY(!copy.hasHead());
            o.epochs = 1;
            pqw::JobContext quick;
            pqw::trainHead(m, cache, o, quick);
        }
        {
            auto b = pqw::ProtoModel::forCache(cache);
            pqw::BaselineOptions o;
            o.prototypes = 16;
            o.head.epochs = 10000;
            o.head.batchSize = 32;
            pqw::JobContext ctx;
            check("baseline", cancelDuring(ctx, [&] { pqw::trainBaseline(b, cache, o, ctx); }));
            QVERIFY(!b.hasHead());
        }
        {
            pqw::JobContext ctx;
            check("index", cancelDuring(ctx, [&] { pqw::buildPrototypeIndex(m, cache, 5, ctx); }, 0));
            pqw::JobContext ctx2;
            check("evaluate", cancelDuring(ctx2, [&] { pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx2); }, 0));
        }
        // The model that survived the cancelled stages still saves and loads.
        const std::string ckpt = (tmp_.path() + QStringLiteral("/m.pqwh")).toStdString();
        m.save(ckpt);
        QCOMPARE(pqw::ProtoModel::load(ckpt).numPrototypes(), m.numPrototypes());
    }

    /// A single map can take long (occlusion with a small window, IG with many steps, OMENN for
    /// every class): each stops at its next batch when its context is cancelled.
    void explanations() {
        const auto e = smallExplainer(96);
        auto img = torch::rand({3, 96, 96}).contiguous();
        pqw::Target t;
        pqw::ExplainOptions occ;
        occ.patch = 2;
        occ.stride = 1;
        occ.batch = 4;
        pqw::JobContext c1;
        occ.cancel = &c1;
        check("occlusion", cancelDuring(c1, [&] {
            c1.progress(0.0, "start");
            pqw::explain(e, pqw::Method::Occlusion, img.data_ptr<float>(), 96, t, occ);
        }));
        pqw::ExplainOptions ig;
        ig.steps = 4000;  // the path is materialised: 4000 x 3 x 96 x 96 floats
        ig.batch = 2;
        pqw::JobContext c2;
        ig.cancel = &c2;
        check("ig", cancelDuring(c2, [&] {
            c2.progress(0.0, "start");
            pqw::explain(e, pqw::Method::IntegratedGradients, img.data_ptr<float>(), 96, t, ig);
        }));
        // An already cancelled context stops every method that loops before its work.
        pqw::JobContext done;
        done.cancel();
        pqw::ExplainOptions o;
        o.cancel = &done;
        QVERIFY_THROWS_EXCEPTION(pqw::Cancelled, pqw::explainAllClasses(e, img.data_ptr<float>(), 96, o));
        QVERIFY_THROWS_EXCEPTION(pqw::Cancelled, pqw::explain(e, pqw::Method::SmoothGrad, img.data_ptr<float>(), 96, t, o));
    }

    void faithfulness() {
        const auto e = smallExplainer(32);
        std::vector<std::vector<float>> imgs;
        std::vector<int> targets;
        for (int i = 0; i < 40; ++i) {
            auto t = torch::rand({3, 32, 32}).contiguous();
            imgs.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
            targets.push_back(i % 4);
        }
        pqw::ExplainOptions eo;
        pqw::FaithfulnessOptions fo;
        pqw::JobContext ctx;
        check("faithfulness", cancelDuring(ctx, [&] {
            pqw::faithfulnessTable(e, {pqw::Method::Omenn, pqw::Method::IntegratedGradients, pqw::Method::Occlusion}, imgs,
                                   targets, 32, eo, fo, 2, ctx);
        }));
    }

    void pruningAndSweep() {
        pqw::DatasetSpec ds;
        ds.path = "fashion-mnist";
        ds.maxTrain = 600;
        ds.maxTest = 100;
        ds.valFraction = 0.2;
        const auto data = pqw::ImageTensors::fromDataset(pqw::Dataset::open(ds));
        pqw::CnnSpec spec;
        spec.width = 4;
        auto m = pqw::CnnModel::create(spec, 0);
        {
            pqw::CnnTrainOptions t;
            t.epochs = 1000;
            pqw::JobContext ctx;
            check("train-cnn", cancelDuring(ctx, [&] { pqw::trainCnn(m, data, t, ctx); }));
        }
        {
            pqw::PruneOptions o;
            o.strategy = pqw::PruneStrategy::Iterative;
            o.target = 0.9;
            o.steps = 5;
            o.fineTune.epochs = 1000;
            o.latencyReps = 0;
            pqw::JobContext ctx;
            auto copy = m;
            check("prune", cancelDuring(ctx, [&] { pqw::pruneModel(copy, data, o, ctx); }));
        }
        const std::string dir = (tmp_.path() + QStringLiteral("/sweep")).toStdString();
        const json j = {{"dataset", {{"path", "fashion-mnist"}, {"limit_train", 300}, {"limit_test", 100}, {"val", 0.2}}},
                        {"model", {{"arch", "lenet"}, {"width", 4}, {"pretrain_epochs", 1}}},
                        {"latency_reps", 0},
                        {"grid", {{"strategy", {"iterative"}}, {"target", {0.8}}, {"steps", {3}}, {"fine_tune", {{{"epochs", 200}}}}}}};
        const auto sweep = pqw::parseSweep(j.dump());
        pqw::JobContext ctx;
        // Cancel once the run is under way (the base model is trained first).
        std::atomic<bool> inRun{false};
        std::atomic<bool> returned{false};
        Outcome o;
        Clock::time_point cancelAt, returnedAt;
        ctx.setEventHandler([&](const pqw::Event& e) {
            if (e.kind == "prune.epoch") inRun = true;
        });
        std::thread worker([&] {
            try {
                pqw::runSweep(sweep, dir, ctx);
            } catch (const pqw::Cancelled&) {
                o.cancelled = true;
            } catch (const std::exception& e) {
                o.error = e.what();
            }
            returnedAt = Clock::now();
            returned = true;
        });
        const auto t0 = Clock::now();
        while (!inRun && !returned && Clock::now() - t0 < std::chrono::seconds(240))
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        cancelAt = Clock::now();
        o.finishedFirst = returned;
        ctx.cancel();
        worker.join();
        o.latencyMs = std::chrono::duration<double, std::milli>(returnedAt - cancelAt).count();
        o.totalMs = std::chrono::duration<double, std::milli>(returnedAt - t0).count();
        check("sweep", o);
        // Consistent: every log line complete and readable, the summary and the base model
        // written whole, no temporary files, the lock released (a resume can take it).
        const std::string logPath = pqw::sweepRunLogPath(dir, sweep.runs[0].id);
        const std::string log = pqw::readFile(logPath);
        QVERIFY(!log.empty() && log.back() == '\n');
        const auto entries = pqw::readSweepLog(logPath);
        QVERIFY(!entries.empty());
        QCOMPARE(entries.back().event.kind, std::string("run.failed"));  // the run says it was cancelled
        QVERIFY(!pqw::readFile(dir + "/summary.csv").empty());
        pqw::CnnModel::load(dir + "/base_model.pqwcnn");
        QVERIFY(noTempFiles(dir));
    }

    void cleanupTestCase() {
        double worst = 0;
        for (const auto& [job, o] : results_) worst = std::max(worst, o.latencyMs);
        qInfo("worst cancel latency: %.1f ms over %d jobs", worst, int(results_.size()));
    }
};

QTEST_GUILESS_MAIN(TestCancellation)
#include "test_cancellation.moc"
