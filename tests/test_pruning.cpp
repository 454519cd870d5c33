// Pruning engine: schedules against algorithms.md's examples, patience logic, global vs
// layer-wise masks, masks surviving momentum, physical channel removal (function kept,
// exact parameter / MAC savings, residual groups), save / load, a whole schedule.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "pqw/error.h"
#include "pqw/plot.h"
#include "pqw/pruning.h"
#include "pqw/util.h"

#include <nlohmann/json.hpp>
#include "pruning/cnn_impl.h"

namespace fs = std::filesystem;
using pqw::cnn::Op;

namespace {

pqw::CnnModel tiny(const std::string& arch, int width, int depth = 1, uint64_t seed = 1) {
    pqw::CnnSpec s;
    s.arch = arch;
    s.width = width;
    s.depth = depth;
    return pqw::CnnModel::create(s, seed);
}

torch::Tensor out(const pqw::CnnModel& m, const torch::Tensor& x) {
    torch::NoGradGuard ng;
    return m.impl().forward(x);
}

/// Zeroes channel set `chans` of every member of group g (rows, biases, their BN affine and
/// statistics' mean), so the channels contribute exactly nothing downstream.
void zeroChannels(pqw::CnnModel& model, const pqw::cnn::Group& g, const std::vector<int64_t>& chans) {
    torch::NoGradGuard ng;
    auto& m = model.impl();
    std::vector<int> spaceOf;
    const auto groups = pqw::cnn::channelGroups(m, &spaceOf);
    int gi = -1;
    for (size_t k = 0; k < groups.size(); ++k)
        if (groups[k].members == g.members) gi = int(k);
    QVERIFY(gi >= 0);
    for (size_t i = 0; i < m.nodes.size(); ++i) {
        auto& n = m.nodes[i];
        if (spaceOf[i] != gi) continue;
        for (int64_t c : chans) {
            if (n.op == Op::Conv || n.op == Op::Linear) {
                n.w[c].zero_();
                if (n.b.defined()) n.b[c].zero_();
            } else if (n.op == Op::BN) {
                n.w[c].zero_();
                n.b[c].zero_();
                n.rm[c].zero_();
            }
        }
    }
}

}  // namespace

class TestPruning : public QObject {
    Q_OBJECT
    pqw::ImageTensors data_;
    QTemporaryDir tmp_;

private Q_SLOTS:
    void initTestCase() {
        torch::manual_seed(0);
        torch::set_num_threads(1);  // tiny models: one thread is fastest, and on a shared machine by far
        pqw::DatasetSpec spec;
        spec.path = "fashion-mnist";
        spec.maxTrain = 600;
        spec.maxTest = 200;
        spec.valFraction = 0.2;
        data_ = pqw::ImageTensors::fromDataset(pqw::Dataset::open(spec));
        QCOMPARE(data_.channels(), 1);
        QCOMPARE(data_.inputSize(), 28);
        QVERIFY(data_.count(pqw::Split::Train) >= 450);
        QVERIFY(data_.count(pqw::Split::Val) >= 100);
    }

    void scheduleExamples() {
        const auto g = pqw::pruneSchedule(pqw::PruneStrategy::IterativeGeometric, 0.7, 10);
        QCOMPARE(int(g.size()), 10);
        QVERIFY(std::abs(g[0] - 0.1134) < 5e-5);
        QVERIFY(std::abs(g[1] - 0.1006) < 5e-5);
        QVERIFY(std::abs(g[9] - 0.0384) < 5e-5);
        for (size_t k = 1; k < g.size(); ++k) QVERIFY(g[k] < g[k - 1]);
        const auto h = pqw::pruneSchedule(pqw::PruneStrategy::Hybrid, 0.9, 5, 0.5);
        const double want[] = {0.5, 0.0971, 0.0877, 0.0792, 0.0715, 0.0645};
        QCOMPARE(int(h.size()), 6);
        for (int k = 0; k < 6; ++k) QVERIFY2(std::abs(h[size_t(k)] - want[k]) < 5e-5, qPrintable(QString::number(h[size_t(k)])));
        QCOMPARE(pqw::pruneSchedule(pqw::PruneStrategy::OneShot, 0.8, 7), std::vector<double>{0.8});
        const auto c = pqw::pruneSchedule(pqw::PruneStrategy::Iterative, 0.8, 4);
        QCOMPARE(int(c.size()), 4);
        for (double v : c) QVERIFY(std::abs(v - 0.2) < 1e-12);
    }

    void stepsSumToTarget() {
        for (auto s : {pqw::PruneStrategy::OneShot, pqw::PruneStrategy::Iterative, pqw::PruneStrategy::IterativeGeometric,
                       pqw::PruneStrategy::Hybrid})
            for (double p : {0.5, 0.7, 0.88, 0.96})
                for (int n : {1, 3, 10}) {
                    const auto st = pqw::pruneSchedule(s, p, n, 0.3);
                    double sum = 0;
                    for (double v : st) sum += v;
                    QVERIFY2(std::abs(sum - p) < 1e-12, pqw::strategyName(s));
                }
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::pruneSchedule(pqw::PruneStrategy::Hybrid, 0.5, 3, 0.6));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::pruneSchedule(pqw::PruneStrategy::Iterative, 1.0, 3));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::parseStrategy("twice"));
    }

    void patienceScripted() {
        pqw::EarlyStopper es(3, 0.01, 100);
        const double seq[] = {0.50, 0.60, 0.605, 0.61, 0.62, 0.60, 0.625, 0.629};
        const bool best[] = {true, true, false, false, true, false, false, false};
        for (int i = 0; i < 8; ++i) {
            QVERIFY(!es.shouldStop());
            QCOMPARE(es.observe(seq[i]), best[i]);
        }
        QVERIFY(es.shouldStop());  // 3 epochs since epoch 4 without beating 0.62 by > 0.01
        QCOMPARE(es.bestEpoch(), 4);
        QCOMPARE(es.best(), 0.62);
        QCOMPARE(es.epochs(), 7);
        pqw::EarlyStopper cap(50, 0.0, 3);  // the epoch cap wins
        for (double a : {0.1, 0.2, 0.3, 0.4}) {
            QVERIFY(!cap.shouldStop());
            cap.observe(a);
        }
        QVERIFY(cap.shouldStop());
        QCOMPARE(cap.epochs(), 3);
        pqw::EarlyStopper fixed(0, 0.0, 2);  // fixed epochs: never stops early
        fixed.observe(0.9);
        fixed.observe(0.1);
        QVERIFY(!fixed.shouldStop());
        fixed.observe(0.1);
        QVERIFY(fixed.shouldStop());
    }

    void globalVsLayerwise() {
        auto make = [] {
            pqw::CnnModel model;
            auto& m = model.impl();
            m.spec.arch = "hand";
            m.spec.inChannels = 2;  // input [N, 2, 1, 1] -> flatten -> 2 features
            m.spec.inputSize = 1;
            int x = m.add(Op::Input, "input", {});
            x = m.add(Op::Flatten, "flat", {x});
            x = m.add(Op::Linear, "a", {x});
            m.nodes.back().w = torch::tensor({1.f, -2.f, 3.f, 4.f}).view({2, 2});
            x = m.add(Op::ReLU, "r", {x});
            m.add(Op::Linear, "b", {x});
            m.nodes.back().w = torch::tensor({0.5f, 5.f, -6.f, 7.f}).view({2, 2});
            return model;
        };
        auto g = make();
        pqw::pruneTo(g, 0.5, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Magnitude, nullptr);
        QVERIFY(torch::equal(g.impl().nodes[2].mask, torch::tensor({0.f, 0.f, 0.f, 1.f}).view({2, 2})));
        QVERIFY(torch::equal(g.impl().nodes[4].mask, torch::tensor({0.f, 1.f, 1.f, 1.f}).view({2, 2})));
        QVERIFY(torch::equal(g.impl().nodes[2].w, torch::tensor({0.f, 0.f, 0.f, 4.f}).view({2, 2})));
        auto l = make();
        pqw::pruneTo(l, 0.5, pqw::PruneModality::Unstructured, pqw::PruneCriterion::LayerWise, nullptr);
        QVERIFY(torch::equal(l.impl().nodes[2].mask, torch::tensor({0.f, 0.f, 1.f, 1.f}).view({2, 2})));
        QVERIFY(torch::equal(l.impl().nodes[4].mask, torch::tensor({0.f, 0.f, 1.f, 1.f}).view({2, 2})));
        // A second step prunes from what is left, towards 75 % of the original count.
        pqw::pruneTo(g, 0.75, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Magnitude, nullptr);
        QCOMPARE(g.cost().nonzeroPrunable, int64_t(2));
        QVERIFY(torch::equal(g.impl().nodes[4].mask, torch::tensor({0.f, 0.f, 1.f, 1.f}).view({2, 2})));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::pruneTo(g, 0.8, pqw::PruneModality::Unstructured,
                                                          pqw::PruneCriterion::L1, nullptr));
    }

    void masksSurviveMomentum() {
        auto m = tiny("lenet", 4);
        pqw::pruneTo(m, 0.7, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Magnitude, nullptr);
        const auto before = m.cost();
        QVERIFY(std::abs(double(before.nonzeroPrunable) / double(before.prunableParams) - 0.3) < 1e-3);
        const auto w0 = m.impl().nodes[1].w.clone();
        pqw::FineTuneOptions ft;
        ft.epochs = 2;
        ft.lr = 0.02;
        ft.momentum = 0.9;
        pqw::JobContext ctx;
        // Keep the weights of the last epoch (not the best): make every epoch count as best.
        ft.minDelta = -1.0;
        QCOMPARE(pqw::fineTune(m, data_, ft, 3, ctx), 2);
        QVERIFY(!torch::equal(m.impl().nodes[1].w, w0));  // it did train
        for (const auto& n : m.impl().nodes) {
            if (!n.prunesWeight()) continue;
            QVERIFY(n.mask.defined());
            QCOMPARE((n.w.masked_select(n.mask == 0)).abs().max().item<float>(), 0.f);
        }
        QCOMPARE(m.cost().nonzeroPrunable, before.nonzeroPrunable);
    }

    void structuredKeepsFunction() {
        auto m = tiny("lenet", 4);
        const auto groups = pqw::cnn::channelGroups(m.impl());
        QCOMPARE(int(groups.size()), 5);  // conv1, conv2, fc1, fc2, fc3 (output: not prunable)
        int prunable = 0;
        for (const auto& g : groups) {
            prunable += g.prunable;
            if (!g.prunable) continue;
            std::vector<int64_t> half;
            for (int64_t c = 0; c < g.channels; c += 2) half.push_back(c);  // every other channel
            zeroChannels(m, g, half);
        }
        QCOMPARE(prunable, 4);
        auto x = torch::randn({5, 1, 28, 28});
        const auto y0 = out(m, x);
        pqw::pruneTo(m, 0.5, pqw::PruneModality::Structured, pqw::PruneCriterion::L1, nullptr);
        const auto y1 = out(m, x);
        QVERIFY2(torch::allclose(y0, y1, 1e-5, 1e-5), qPrintable(QString::number((y0 - y1).abs().max().item<double>())));
        // Expected sizes: conv1 2x1x5x5, conv2 4x2x5x5 (5x5 out), fc1 60x100, fc2 42x60, fc3 10x42.
        const int64_t params = (2 * 25 + 2) + (4 * 2 * 25 + 4) + (60 * 100 + 60) + (42 * 60 + 42) + (10 * 42 + 10);
        const int64_t macs = 2 * 25 * 28 * 28 + 4 * 2 * 25 * 10 * 10 + 60 * 100 + 42 * 60 + 10 * 42;
        const auto c = m.cost();
        QCOMPARE(c.params, params);
        QCOMPARE(c.macs, macs);
        QCOMPARE(m.originalParams(), int64_t((4 * 25 + 4) + (8 * 4 * 25 + 8) + (120 * 200 + 120) + (84 * 120 + 84) + (10 * 84 + 10)));
        QCOMPARE(c.nonzeroPrunable, c.prunableParams);  // physically smaller, no masks
    }

    void residualGroups() {
        auto m = tiny("resnet", 4, 2);
        auto& im = m.impl();
        const auto groups = pqw::cnn::channelGroups(im);
        auto nameOf = [&](int i) { return im.nodes[size_t(i)].name; };
        int tied = 0;
        for (const auto& g : groups) {
            if (g.members.size() < 2) continue;
            ++tied;
            QCOMPARE(int(g.members.size()), 3);  // stem / down + the conv2 of both blocks
            int heads = 0, conv2 = 0;  // exactly one stem / down conv, two block outputs
            for (int i : g.members) {
                const auto n = nameOf(i);
                heads += n == "stem" || n.find("down") != std::string::npos;
                conv2 += n.find("conv2") != std::string::npos;
            }
            QCOMPARE(heads, 1);
            QCOMPARE(conv2, 2);
        }
        QCOMPARE(tied, 3);
        for (const auto& g : groups)
            if (!g.prunable) QCOMPARE(nameOf(g.members[0]), std::string("fc"));
        // Zeroing half of every group and removing it keeps the function.
        for (const auto& g : groups) {
            if (!g.prunable) continue;
            std::vector<int64_t> chans;
            for (int64_t c = 1; c < g.channels; c += 2) chans.push_back(c);
            zeroChannels(m, g, chans);
        }
        auto x = torch::randn({3, 1, 28, 28});
        const auto y0 = out(m, x);
        const auto before = m.cost();
        pqw::pruneTo(m, 0.5, pqw::PruneModality::Structured, pqw::PruneCriterion::L2, nullptr);
        QVERIFY(torch::allclose(y0, out(m, x), 1e-4, 1e-5));
        for (const auto& g : pqw::cnn::channelGroups(im)) {
            for (int i : g.members) QCOMPARE(im.nodes[size_t(i)].w.size(0), g.channels);
            if (g.prunable) QCOMPARE(g.channels * 2, im.nodes[size_t(g.members[0])].origOut);
        }
        const auto after = m.cost();
        QCOMPARE(after.channels * 2, before.channels);
        QVERIFY(after.macs < before.macs / 3);  // most MACs scale with C_in * C_out: ~1/4
        // A second random step further down: still consistent and runnable.
        pqw::pruneTo(m, 0.75, pqw::PruneModality::Structured, pqw::PruneCriterion::Random, nullptr, 5);
        QCOMPARE(out(m, x).sizes(), (std::vector<int64_t>{3, 10}));
        QCOMPARE(m.cost().channels * 4, before.channels);
        QCOMPARE(m.cost().originalChannels, before.channels);
    }

    void structuredTaylor() {
        // Importance is read from the model before any group of the step shrinks: Taylor
        // gradients keep their shapes even though conv2 loses input channels to conv1's group.
        for (const char* arch : {"lenet", "resnet"}) {
            auto m = tiny(arch, 4);
            const auto before = m.cost();
            pqw::pruneTo(m, 0.5, pqw::PruneModality::Structured, pqw::PruneCriterion::Taylor, &data_, 2, 2);
            QCOMPARE(m.cost().channels * 2, before.channels);
            pqw::pruneTo(m, 0.75, pqw::PruneModality::Structured, pqw::PruneCriterion::Taylor, &data_, 3, 2);
            QCOMPARE(m.cost().channels * 4, before.channels);
            QCOMPARE(out(m, torch::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
        }
        // Unstructured Taylor reaches its fraction too.
        auto u = tiny("lenet", 4);
        pqw::pruneTo(u, 0.6, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Taylor, &data_, 0, 2);
        QVERIFY(std::abs(1.0 - double(u.cost().nonzeroPrunable) / double(u.cost().prunableParams) - 0.6) < 1e-4);
    }

    void plotBasics() {
        QCOMPARE(pqw::niceTicks(0.0, 1.0), (std::vector<double>{0.0, 0.2, 0.4, 0.6, 0.8, 1.0}));
        const auto t = pqw::niceTicks(0.53, 0.82);
        QVERIFY(t.size() >= 3 && t.front() >= 0.53 && t.back() <= 0.82);
        QVERIFY(pqw::niceTicks(1.0, 1.0).empty());
        pqw::PlotSpec p;
        p.title = "t & <x>";
        p.series.push_back({"a", {0, 1}, {0, 1}});
        p.series.back().color = 3;  // (214, 39, 40)
        const std::string svg = pqw::plotSvg(p);
        QVERIFY(svg.find("t &amp; &lt;x&gt;") != std::string::npos);
        QVERIFY(svg.find("#d62728") != std::string::npos);
        const cv::Mat img = pqw::plotImage(p);
        QCOMPARE(img.cols, p.width);
        QCOMPARE(img.rows, p.height);
        int red = 0;  // the series is drawn in its colour (BGR)
        for (int y = 0; y < img.rows; ++y)
            for (int x = 0; x < img.cols; ++x) red += img.at<cv::Vec3b>(y, x) == cv::Vec3b(40, 39, 214);
        QVERIFY(red > 200);
    }

    void saveLoadPruned() {
        auto s = tiny("lenet", 4);
        pqw::pruneTo(s, 0.5, pqw::PruneModality::Structured, pqw::PruneCriterion::L1, nullptr);
        auto u = tiny("resnet", 4);
        pqw::pruneTo(u, 0.6, pqw::PruneModality::Unstructured, pqw::PruneCriterion::Random, nullptr, 9);
        auto x = torch::randn({4, 1, 28, 28});
        for (auto* m : {&s, &u}) {
            const std::string path = (tmp_.path() + "/m.pqwcnn").toStdString();
            m->save(path);
            auto back = pqw::CnnModel::load(path);
            QVERIFY(torch::equal(out(*m, x), out(back, x)));
            QCOMPARE(back.cost().params, m->cost().params);
            QCOMPARE(back.cost().nonzeroPrunable, m->cost().nonzeroPrunable);
            QCOMPARE(back.originalParams(), m->originalParams());
        }
        const std::string bad = (tmp_.path() + "/bad.pqwcnn").toStdString();
        { std::ofstream(bad) << "not a model"; }
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::CnnModel::load(bad));
    }

    void wholeSchedule() {
        auto m = tiny("lenet", 4);
        pqw::CnnTrainOptions tr;
        tr.epochs = 2;
        pqw::JobContext ctx;
        pqw::trainCnn(m, data_, tr, ctx);
        const double acc = pqw::evaluateCnn(m, data_, pqw::Split::Val).top1;
        QVERIFY2(acc > 0.5, qPrintable(QString::number(acc)));  // 10 classes: chance is 0.1
        pqw::PruneOptions o;
        o.strategy = pqw::PruneStrategy::IterativeGeometric;
        o.target = 0.8;
        o.steps = 2;
        o.fineTune.epochs = 3;
        o.fineTune.patience = 1;
        o.latencyReps = 1;
        std::vector<pqw::Event> seen;
        ctx.setEventHandler([&](const pqw::Event& e) {
            if (e.kind == "prune.step") seen.push_back(e);
        });
        const auto ev = pqw::pruneModel(m, data_, o, ctx);
        QCOMPARE(int(ev.size()), 3);
        QCOMPARE(int(seen.size()), 3);
        QCOMPARE(ev[0].value("sparsity_prunable"), 0.0);
        QVERIFY(std::abs(ev[2].value("sparsity_prunable") - 0.8) < 1e-3);
        QCOMPARE(ev[2].value("channel_sparsity"), 0.0);  // unstructured: every channel stays
        QVERIFY(ev[2].value("sparsity_all") < ev[2].value("sparsity_prunable"));
        QCOMPARE(ev[2].value("total_epochs"), ev[1].value("epochs") + ev[2].value("epochs"));
        for (const auto& e : ev)
            for (const char* k : {"val_top1", "val_top5", "test_top1", "test_top5", "latency_b1_ms", "latency_b64_ms",
                                  "macs", "params"})
                QVERIFY2(e.values.count(k), k);
        QVERIFY(ev[2].value("val_top5") >= ev[2].value("val_top1"));
        // Fine-tuning restores the best validation weights: never worse than right after pruning,
        // and the reported accuracy is what the model now gives.
        QCOMPARE(pqw::evaluateCnn(m, data_, pqw::Split::Val).top1, ev[2].value("val_top1"));
    }
    void sweepResume() {
        const std::string dir = (tmp_.path() + "/sweep").toStdString();
        const nlohmann::json j = {
            {"dataset", {{"path", "fashion-mnist"}, {"limit_train", 300}, {"limit_test", 100}, {"val", 0.2}}},
            {"model", {{"arch", "lenet"}, {"width", 4}, {"pretrain_epochs", 1}}},
            {"latency_reps", 0},
            {"grid", {{"strategy", {"one-shot", "iterative"}}, {"target", {0.5, 0.8}}, {"steps", {2}},
                      {"fine_tune", {{{"epochs", 1}}}}, {"criterion", {"magnitude"}}}}};
        const auto spec = pqw::parseSweep(j.dump());
        QCOMPARE(int(spec.runs.size()), 4);
        {  // a second runner on the same folder is refused
            fs::create_directories(dir);
            const int fd = ::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT, 0644);
            QVERIFY(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0);
            pqw::JobContext busy;
            QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::runSweep(spec, dir, busy));
            ::close(fd);
        }
        // First pass: cancel in the middle of the third run.
        pqw::JobContext ctx;
        int done = 0;
        std::vector<std::string> doneIds;
        ctx.setEventHandler([&](const pqw::Event& e) {
            if (e.kind == "run.done") {
                ++done;
                doneIds.push_back(e.texts.at("run"));
            }
            // The third run (iterative, 2 steps) is cancelled right after its first step.
            if (done == 2 && e.kind == "prune.step" && e.value("step") == 1) ctx.cancel();
        });
        QVERIFY_THROWS_EXCEPTION(pqw::Cancelled, pqw::runSweep(spec, dir, ctx));
        QCOMPARE(done, 2);
        const std::string csv1 = pqw::readFile(dir + "/summary.csv");
        QCOMPARE(int(std::count(csv1.begin(), csv1.end(), '\n')), 3);  // header + 2 runs
        // A crash mid-line: the partial last line is ignored and cut.
        const std::string third = spec.runs[2].id, thirdLog = pqw::sweepRunLogPath(dir, third);
        QVERIFY(fs::exists(dir + "/runs/" + third + ".step1.pqwcnn"));  // its checkpoint
        { std::ofstream(thirdLog, std::ios::app) << "{\"run\":\"x\",\"kind\":\"prune.st"; }
        const auto before = pqw::readSweepLog(thirdLog);
        QVERIFY(std::none_of(before.begin(), before.end(), [](const auto& e) { return e.run == "x"; }));
        QCOMPARE(before.back().event.kind, std::string("run.failed"));  // cancelled, and said so
        QCOMPARE(before.back().event.value("exit_code"), 130.0);
        {
            const auto infos = pqw::sweepRunInfos(spec, dir);
            QCOMPARE(infos[0].state, pqw::SweepRunState::Done);
            QCOMPARE(infos[2].state, pqw::SweepRunState::Failed);
            QCOMPARE(infos[2].stepsDone, 1);
            QCOMPARE(infos[3].state, pqw::SweepRunState::NeverStarted);
        }
        // Second pass: the two finished runs are skipped, the other two run.
        pqw::JobContext ctx2;
        std::vector<std::string> started;
        ctx2.setEventHandler([&](const pqw::Event& e) {
            if (e.kind == "run.start") started.push_back(e.texts.at("run"));
        });
        const auto st = pqw::runSweep(spec, dir, ctx2);
        QCOMPARE(int(st.skipped), 2);
        QCOMPARE(int(st.finished), 2);
        QCOMPARE(int(started.size()), 2);
        for (const auto& id : started) QVERIFY(std::find(doneIds.begin(), doneIds.end(), id) == doneIds.end());
        const std::string csv2 = pqw::readFile(dir + "/summary.csv");
        QCOMPARE(int(std::count(csv2.begin(), csv2.end(), '\n')), 5);
        // Nothing of the first pass is lost: its rows are still there, unchanged.
        std::istringstream lines(csv1);
        std::string line;
        while (std::getline(lines, line)) QVERIFY2(csv2.find(line + "\n") != std::string::npos, line.c_str());
        // The interrupted run is counted once, from its finished (second) attempt.
        // The third run went on after its finished step (no checkpoint left behind).
        int resumedFrom = -1;
        for (const auto& e : pqw::readSweepLog(thirdLog))
            if (e.event.kind == "run.start" && e.attempt == 2) resumedFrom = int(e.event.value("resumed_from_step"));
        QCOMPARE(resumedFrom, 1);
        QVERIFY(!fs::exists(dir + "/runs/" + third + ".step1.pqwcnn") && !fs::exists(dir + "/runs/" + third + ".step2.pqwcnn"));
        const auto fin = pqw::finishedRunEntries(pqw::readSweepFolder(dir));
        int doneLines = 0, steps = 0;
        for (const auto& e : fin) {
            doneLines += e.event.kind == "run.done";
            steps += e.event.kind == "prune.step";
        }
        QCOMPARE(doneLines, 4);
        QCOMPARE(steps, 2 * 2 + 2 * 3);  // one-shot: steps 0..1; iterative: 0..2
        // A third pass has nothing to do.
        pqw::JobContext ctx3;
        const auto st3 = pqw::runSweep(spec, dir, ctx3);
        QCOMPARE(int(st3.skipped), 4);
        QCOMPARE(int(st3.finished), 0);

        // An old-layout folder (one log.jsonl) with the first two runs finished: still read,
        // resumed into runs/ (log.jsonl never appended to), and the two runs made afresh here
        // equal, bitwise, the ones above (the third resumed after its step 1).
        const std::string old = (tmp_.path() + "/old-layout").toStdString();
        fs::create_directories(old);
        fs::copy_file(dir + "/sweep.json", old + "/sweep.json");
        fs::copy_file(dir + "/base_model.pqwcnn", old + "/base_model.pqwcnn");
        std::string legacy;
        for (int i : {0, 1}) legacy += pqw::readFile(pqw::sweepRunLogPath(dir, spec.runs[size_t(i)].id));
        pqw::writeFileAtomic(old + "/log.jsonl", legacy);
        QCOMPARE(int(pqw::finishedRunEntries(pqw::readSweepFolder(old)).size()), 2 * 2 + 2);
        pqw::JobContext ctx4;
        const auto st4 = pqw::runSweep(spec, old, ctx4);
        QCOMPARE(int(st4.skipped), 2);
        QCOMPARE(int(st4.finished), 2);
        QCOMPARE(pqw::readFile(old + "/log.jsonl"), legacy);
        QVERIFY(!fs::exists(pqw::sweepRunLogPath(old, spec.runs[0].id)));
        auto numbers = [](const std::string& d) {
            std::map<std::string, std::vector<std::vector<double>>> out;
            for (const auto& e : pqw::finishedRunEntries(pqw::readSweepFolder(d))) {
                std::vector<double> v;
                for (const char* k : {"step", "val_top1", "test_top1", "sparsity_prunable", "nonzero_params", "total_epochs"})
                    v.push_back(e.event.value(k));
                out[e.run].push_back(v);
            }
            return out;
        };
        QVERIFY(numbers(old) == numbers(dir));
        const std::string csvOld = pqw::readFile(old + "/summary.csv");
        QCOMPARE(int(std::count(csvOld.begin(), csvOld.end(), '\n')), 5);
        QVERIFY(!pqw::writeSweepReport(old, old + "/report").empty());
    }

    void sweepProgressNeverRunsBack() {
        // The base model's training and the runs share one progress bar: it only moves forward
        // (it went 50 % -> 17 % when the base model's own progress filled the whole bar).
        const std::string dir = (tmp_.path() + "/sweep-progress").toStdString();
        const nlohmann::json j = {
            {"dataset", {{"path", "fashion-mnist"}, {"limit_train", 200}, {"limit_test", 50}, {"val", 0.2}}},
            {"model", {{"arch", "lenet"}, {"width", 4}, {"pretrain_epochs", 2}}},
            {"latency_reps", 0},
            {"grid", {{"strategy", {"one-shot"}}, {"target", {0.5, 0.8}}, {"fine_tune", {{{"epochs", 1}}}}}}};
        const auto spec = pqw::parseSweep(j.dump());
        pqw::JobContext ctx;
        std::vector<double> seen;
        ctx.setProgressHandler([&](double f, const std::string&) { seen.push_back(f); });
        pqw::runSweep(spec, dir, ctx);
        QVERIFY(seen.size() > 4);
        for (size_t i = 1; i < seen.size(); ++i)
            QVERIFY2(seen[i] + 1e-12 >= seen[i - 1], qPrintable(QStringLiteral("progress %1 after %2 (update %3)")
                                                                   .arg(seen[i]).arg(seen[i - 1]).arg(i)));
        QVERIFY(seen.back() == 1.0);
    }
};

QTEST_GUILESS_MAIN(TestPruning)
#include "test_pruning.moc"
