// ProtoQuant engine: invariants of the head, a synthetic dataset whose right prototypes are
// known, reproducibility, checkpoints (round trip, mismatch refusal, corrupt files), codebook
// pruning, top-k sparsification, cancellation, the baseline.
#include <QtTest/QtTest>

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "protoquant/model_impl.h"
#include "pqw/error.h"
#include "pqw/proto_metrics.h"
#include "pqw/protoquant.h"
#include "pqw/util.h"
#include "synthetic_cache.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using namespace synth;

double cosine(const std::vector<float>& a, const torch::Tensor& b) {
    auto t = torch::tensor(a);
    return (torch::dot(t, b) / (t.norm() * b.norm())).item<double>();
}

}  // namespace

class TestProtoQuant : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string cacheDir_;

    pqw::ProtoModel trainAll(const pqw::FeatureCache& cache, uint64_t seed = 0) {
        pqw::JobContext ctx;
        auto m = pqw::ProtoModel::forCache(cache);
        pqw::Stage0Options s0;
        s0.epochs = 30;
        s0.batchSize = 32;
        s0.lr = 1e-2;
        s0.seed = seed;
        pqw::trainStage0(m, cache, s0, ctx);
        pqw::CodebookOptions s1;
        s1.codes = 6;
        s1.epochs = 10;
        s1.batchSize = 16;
        s1.lr = 5e-3;
        s1.seed = seed;
        pqw::trainCodebook(m, cache, s1, ctx);
        pqw::HeadOptions s2;
        s2.epochs = 30;
        s2.batchSize = 16;
        s2.lr = 2e-2;
        s2.seed = seed;
        pqw::trainHead(m, cache, s2, ctx);
        return m;
    }

private Q_SLOTS:
    void initTestCase() {
        pqw::initTorchThreads(2);
        cacheDir_ = (tmp_.path() + "/cache").toStdString();
        writeSyntheticCache(cacheDir_, 300, 1);
    }

    void headInvariants() {
        torch::manual_seed(0);
        auto f = torch::randn({4, 9, D});
        auto codes = torch::randn({5, D});
        auto Wt = torch::randn({NC, 5});
        auto out = pqw::pq::headForward(f, codes, Wt, 0.1, torch::Tensor(), 0.f);
        QVERIFY(torch::allclose(out.A.sum(-1), torch::ones({4, 9}), 1e-5, 1e-5));
        QVERIFY((out.presence >= 0).all().item<bool>() && (out.presence <= 1).all().item<bool>());
        // z_c = sum_p ReLU(W[c,p]) * pi_p, computed by hand.
        for (int b = 0; b < 4; ++b)
            for (int c = 0; c < NC; ++c) {
                double z = 0;
                for (int p = 0; p < 5; ++p)
                    z += std::max(0.f, Wt[c][p].item<float>()) * out.A[b].select(1, p).max().item<float>();
                QVERIFY(std::fabs(z - out.logits[b][c].item<double>()) < 1e-5);
            }
        // Assignment equals brute-force nearest code by cosine.
        auto idx = pqw::pq::assign(f, codes);
        for (int b = 0; b < 4; ++b)
            for (int k = 0; k < 9; ++k) {
                int best = -1;
                double bestCos = -2;
                for (int p = 0; p < 5; ++p) {
                    const double c = (torch::dot(f[b][k], codes[p]) / (f[b][k].norm() * codes[p].norm())).item<double>();
                    if (c > bestCos) bestCos = c, best = p;
                }
                QCOMPARE(idx[b][k].item<int64_t>(), int64_t(best));
            }
    }

    void cellBoxCoversReceptiveField_data() {
        QTest::addColumn<int>("stride");
        QTest::addColumn<int>("rf");
        QTest::addColumn<int>("input");
        QTest::newRow("mobilenet 224") << 16 << 91 << 224;
        QTest::newRow("mobilenet 112") << 16 << 91 << 112;
        QTest::newRow("reference 7x7") << 32 << 32 << 224;
    }
    void cellBoxCoversReceptiveField() {
        QFETCH(int, stride);
        QFETCH(int, rf);
        QFETCH(int, input);
        const int cells = input / stride;
        for (int y = 0; y < cells; ++y) {
            const auto b = pqw::cellBox(y, y, stride, rf, input);
            // Inside the image, containing the cell's own stride block.
            QVERIFY(b.x >= 0 && b.y >= 0 && b.x + b.w <= input + 1e-4 && b.y + b.h <= input + 1e-4);
            QVERIFY(b.y <= y * stride && b.y + b.h >= (y + 1) * stride);
            // Unclamped boxes are exactly the receptive field wide.
            const double centre = y * stride + (stride - 1) / 2.0;
            if (centre - rf / 2.0 >= 0 && centre + rf / 2.0 + 1 <= input) QCOMPARE(double(b.h), double(rf));
        }
    }

    void syntheticFindsTheRightPrototypes() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        auto m = trainAll(cache);
        pqw::JobContext ctx;
        const auto e0 = pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Stage0, ctx);
        const auto e1 = pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Quantised, ctx);
        const auto e2 = pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx);
        qInfo("synthetic test accuracy: stage0 %.3f quantised %.3f protoquant %.3f", e0.top1, e1.top1, e2.top1);
        QVERIFY(e0.top1 > 0.95);
        QVERIFY(e1.top1 > 0.95);
        QVERIFY(e2.top1 > 0.95);
        QCOMPARE(e2.top5, 1.0);  // 3 classes: top-5 always hits
        // Confusion matrix agrees with top-1 and per-class accuracy.
        int64_t diag = 0, total = 0;
        for (int c = 0; c < NC; ++c)
            for (int p = 0; p < NC; ++p) {
                total += e2.confusion[c][p];
                if (c == p) diag += e2.confusion[c][p];
            }
        QCOMPARE(size_t(total), e2.samples);
        QVERIFY(std::fabs(double(diag) / double(total) - e2.top1) < 1e-12);
        // Each class's strongest prototype is its part.
        const auto protos = m.prototypes();
        const auto w = m.classWeights();
        for (int c = 0; c < NC; ++c) {
            const int best = int(std::max_element(w[c].begin(), w[c].end()) - w[c].begin());
            const double cs = cosine(protos[size_t(best)], partVector(c));
            QVERIFY2(cs > 0.95, qPrintable(QStringLiteral("class %1: prototype %2 cos %3").arg(c).arg(best).arg(cs)));
        }
        // The index finds patches at the part's cell; boxes come from the cell geometry.
        const auto index = pqw::buildPrototypeIndex(m, cache, 5, ctx);
        QCOMPARE(int(index.size()), m.numPrototypes());
        std::vector<float> fm(D * H * W);
        for (int c = 0; c < NC; ++c) {
            const int best = int(std::max_element(w[c].begin(), w[c].end()) - w[c].begin());
            const auto& info = index[size_t(best)];
            QCOMPARE(int(info.topPatches.size()), 5);
            QVERIFY(info.usage > 0);
            for (size_t r = 1; r < info.topPatches.size(); ++r)
                QVERIFY(info.topPatches[r - 1].activation >= info.topPatches[r].activation);
            for (const auto& pr : info.topPatches) {
                QCOMPARE(cache.label(pr.sample), c);
                QCOMPARE(int(cache.split(pr.sample)), int(pqw::Split::Train));
                cache.read(pr.sample, fm.data());
                // The patch's cell is the part cell: its feature is near part c.
                std::vector<float> cell(D);
                for (int k = 0; k < D; ++k) cell[size_t(k)] = fm[size_t(k * H * W + pr.cellY * W + pr.cellX)];
                QVERIFY(cosine(cell, partVector(c)) > 0.9);
                const auto box = pqw::cellBox(pr.cellY, pr.cellX, 16, 40, 48);
                QCOMPARE(pr.box.x, box.x);
                QCOMPARE(pr.box.h, box.h);
            }
        }
        // Local explanation: scores sum to the explained logit exactly; the top prototype sits
        // on the part's cell.
        const auto test = cache.indices(pqw::Split::Test);
        for (size_t t = 0; t < 6; ++t) {
            cache.read(test[t], fm.data());
            const auto ex = pqw::explainLocal(m, fm.data(), H, W, 16, 40, 48);
            double sum = 0;
            for (const auto& e : ex.evidence) sum += e.score;
            QVERIFY(std::fabs(sum - ex.logits[size_t(ex.explainedClass)]) < 1e-4);
            QVERIFY(!ex.evidence.empty());
            for (size_t r = 1; r < ex.evidence.size(); ++r) QVERIFY(ex.evidence[r - 1].score >= ex.evidence[r].score);
            const auto& top = ex.evidence[0];
            QCOMPARE(int(top.activation.size()), H * W);
            std::vector<float> cell(D);
            for (int k = 0; k < D; ++k) cell[size_t(k)] = fm[size_t(k * H * W + top.cellY * W + top.cellX)];
            QVERIFY(cosine(cell, partVector(cache.label(test[t]))) > 0.9);
            double psum = 0;
            for (auto p : ex.probabilities) psum += p;
            QVERIFY(std::fabs(psum - 1.0) < 1e-5);
        }
    }

    void seededReproducible() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        const auto a = trainAll(cache, 3), b = trainAll(cache, 3);
        QCOMPARE(a.prototypes(), b.prototypes());
        QCOMPARE(a.classWeights(), b.classWeights());
        QCOMPARE(a.history().size(), b.history().size());
        for (size_t i = 0; i < a.history().size(); ++i) QCOMPARE(a.history()[i].loss, b.history()[i].loss);
    }

    void checkpointRoundTrip() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        auto m = trainAll(cache);
        m.setPrototypeEnabled(1, false);
        const std::string path = (tmp_.path() + "/head.pqwh").toStdString();
        m.save(path);
        const auto l = pqw::ProtoModel::load(path);
        QCOMPARE(l.kind(), m.kind());
        QCOMPARE(l.numPrototypes(), m.numPrototypes());
        QCOMPARE(l.prototypeEnabled(1), false);
        QCOMPARE(l.history().size(), m.history().size());
        std::vector<float> fm(D * H * W);
        for (size_t i = 0; i < cache.size(); i += 7) {
            cache.read(i, fm.data());
            for (auto hk : {pqw::HeadKind::Stage0, pqw::HeadKind::Quantised, pqw::HeadKind::Interpretable})
                QCOMPARE(l.logits(fm.data(), hk), m.logits(fm.data(), hk));
        }
    }

    void mismatchIsRefused() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        auto m = trainAll(cache);
        const std::string other = (tmp_.path() + "/other").toStdString();
        writeSyntheticCache(other, 30, 2, {"a", "b", "x"}, "another-backbone");
        const auto oc = pqw::FeatureCache::open(other);
        pqw::JobContext ctx;
        try {
            pqw::evaluate(m, oc, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx);
            QFAIL("a mismatched cache must be refused");
        } catch (const pqw::Error& e) {
            const QString msg = QString::fromUtf8(e.what());
            QVERIFY2(msg.contains("backbone") && msg.contains("another-backbone"), e.what());
            QVERIFY2(msg.contains("classes") && msg.contains("'c' vs 'x'"), e.what());
        }
    }

    void corruptCheckpoints() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        auto m = trainAll(cache);
        const std::string path = (tmp_.path() + "/c.pqwh").toStdString();
        m.save(path);
        const std::string good = pqw::readFile(path);
        auto expectError = [&](const std::string& bytes, const char* needle) {
            pqw::writeFileAtomic(path, bytes);
            try {
                pqw::ProtoModel::load(path);
                QFAIL(qPrintable(QStringLiteral("expected an error containing '%1'").arg(needle)));
            } catch (const pqw::Error& e) {
                const QString msg = QString::fromUtf8(e.what());
                QVERIFY2(msg.contains(QString::fromStdString(path)) && msg.contains(needle), e.what());
            }
        };
        expectError(good.substr(0, good.size() - 10), "truncated");
        expectError("not a checkpoint at all", "does not start like one");
        std::string wrongLen = good;
        wrongLen[15] = char(0x7f);
        expectError(wrongLen, "exceeds");
        std::string newer = good;
        const auto pos = newer.find("\"version\":1");
        QVERIFY(pos != std::string::npos);
        newer[pos + 10] = '9';
        expectError(newer, "newer version");
    }

    void stage0FromTorchScript() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        pqw::JobContext ctx;
        auto a = pqw::ProtoModel::forCache(cache);
        pqw::Stage0Options s0;
        s0.epochs = 20;
        s0.batchSize = 32;
        s0.lr = 1e-2;
        pqw::trainStage0(a, cache, s0, ctx);
        // The same head written as TorchScript over the whole map [N, D, H, W].
        const auto& ai = a.impl();
        torch::jit::Module head("Stage0");
        head.register_parameter("lw", ai.lnWeight.clone(), false);
        head.register_parameter("lb", ai.lnBias.clone(), false);
        head.register_parameter("fw", ai.fcWeight.clone(), false);
        head.register_parameter("fb", ai.fcBias.clone(), false);
        head.define(R"JIT(
def forward(self, x):
    p = torch.mean(x, [2, 3])
    y = torch.layer_norm(p, [8], self.lw, self.lb, 1e-5, False)
    return torch.linear(y, self.fw, self.fb)
)JIT");
        const std::string pt = (tmp_.path() + "/stage0.pt").toStdString();
        head.save(pt);
        auto b = pqw::ProtoModel::forCache(cache);
        pqw::setStage0TorchScript(b, pt, cache);
        QVERIFY(b.hasStage0());
        QCOMPARE(b.stage0TorchScript(), std::string("stage0.pt"));
        QVERIFY(a.stage0TorchScript().empty());
        std::vector<float> f(size_t(D * H * W));
        const auto test = cache.indices(pqw::Split::Test);
        for (size_t i : test) {
            cache.read(i, f.data());
            const auto za = a.logits(f.data(), pqw::HeadKind::Stage0), zb = b.logits(f.data(), pqw::HeadKind::Stage0);
            for (size_t k = 0; k < za.size(); ++k) QVERIFY(std::abs(za[k] - zb[k]) < 1e-5);
        }
        // Stage 1 through either head learns the same codebook.
        pqw::CodebookOptions s1;
        s1.codes = 6;
        s1.epochs = 4;
        s1.batchSize = 16;
        s1.lr = 5e-3;
        s1.seed = 3;
        const auto ha = pqw::trainCodebook(a, cache, s1, ctx);
        const auto hb = pqw::trainCodebook(b, cache, s1, ctx);
        QCOMPARE(ha.size(), hb.size());
        for (size_t e = 0; e < ha.size(); ++e) {
            QCOMPARE(ha[e].valAccuracy, hb[e].valAccuracy);
            QVERIFY(std::abs(ha[e].loss - hb[e].loss) < 1e-4);
        }
        QVERIFY(torch::allclose(a.impl().codes, b.impl().codes, 1e-4, 1e-4));
        const auto ea = pqw::evaluate(a, cache, pqw::Split::Test, pqw::HeadKind::Quantised, ctx);
        const auto eb = pqw::evaluate(b, cache, pqw::Split::Test, pqw::HeadKind::Quantised, ctx);
        QCOMPARE(ea.top1, eb.top1);
        // The checkpoint holds the module: it loads (and predicts the same) without the file.
        const std::string ckpt = (tmp_.path() + "/script_head.pqwh").toStdString();
        b.save(ckpt);
        fs::remove(pt);
        // Code, not data: refused (nothing deserialised) until this file is allowed.
        QCOMPARE(pqw::ProtoModel::embeddedTorchScript(ckpt), std::string("stage0.pt"));
        try {
            pqw::ProtoModel::load(ckpt);
            QFAIL("a head embedding TorchScript loaded without being allowed");
        } catch (const pqw::Error& e) {
            QVERIFY2(std::string(e.what()).find("embeds a TorchScript stage-0 head ('stage0.pt'); TorchScript runs code") != std::string::npos, e.what());
        }
        const std::string plain = (tmp_.path() + "/native_head.pqwh").toStdString();
        a.save(plain);
        QCOMPARE(pqw::ProtoModel::embeddedTorchScript(plain), std::string());
        pqw::allowEmbeddedTorchScript(ckpt);
        const auto c = pqw::ProtoModel::load(ckpt);
        QCOMPARE(c.stage0TorchScript(), std::string("stage0.pt"));
        for (size_t i : test) {
            cache.read(i, f.data());
            QVERIFY(c.logits(f.data(), pqw::HeadKind::Quantised) == b.logits(f.data(), pqw::HeadKind::Quantised));
            QVERIFY(c.logits(f.data(), pqw::HeadKind::Stage0) == b.logits(f.data(), pqw::HeadKind::Stage0));
        }
        // Training stage 0 natively replaces the TorchScript head.
        auto d = c;
        s0.epochs = 1;
        pqw::trainStage0(d, cache, s0, ctx);
        QVERIFY(d.stage0TorchScript().empty());
        // A head with the wrong number of outputs, and a file that is not a module, are named.
        torch::jit::Module bad("Bad");
        bad.register_parameter("w", torch::randn({5, D}), false);
        bad.define("def forward(self, x):\n    return torch.linear(torch.mean(x, [2, 3]), self.w, None)\n");
        const std::string badPt = (tmp_.path() + "/bad.pt").toStdString();
        bad.save(badPt);
        try {
            pqw::setStage0TorchScript(b, badPt, cache);
            QFAIL("a 5-way head for 3 classes must be refused");
        } catch (const pqw::Error& e) {
            QVERIFY2(QString(e.what()).contains("bad.pt") && QString(e.what()).contains("[2, 3]"), e.what());
        }
        QCOMPARE(b.stage0TorchScript(), std::string("stage0.pt"));  // unchanged by the failure
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::setStage0TorchScript(b, cacheDir_ + "/meta.json", cache));
    }

    void codebookPruning() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        pqw::JobContext ctx;
        auto m = pqw::ProtoModel::forCache(cache);
        pqw::Stage0Options s0;
        s0.epochs = 5;
        pqw::trainStage0(m, cache, s0, ctx);
        pqw::CodebookOptions s1;
        s1.codes = 12;
        s1.epochs = 2;
        s1.init = "orthogonal";
        pqw::trainCodebook(m, cache, s1, ctx);
        const auto usage = pqw::codeUsage(m, cache, pqw::Split::Val, ctx);
        const auto before = m.prototypes();
        // 12 -> 5 in 3 steps: removes 2, 2, then the remaining 3.
        const auto sizes = pqw::pruneCodebook(m, cache, {5, 3}, ctx);
        QCOMPARE(sizes, (std::vector<int>{10, 8, 5}));
        QCOMPARE(m.numPrototypes(), 5);
        // The most used code survives.
        const size_t most = size_t(std::max_element(usage.begin(), usage.end()) - usage.begin());
        const auto after = m.prototypes();
        QVERIFY(std::find(after.begin(), after.end(), before[most]) != after.end());
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::pruneCodebook(m, cache, {9, 1}, ctx));
    }

    void topKSparsification() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        auto m = trainAll(cache);
        const int left = pqw::sparsifyTopK(m, 1);
        QVERIFY(left >= 1 && left <= NC);
        QCOMPARE(m.numPrototypes(), left);
        for (const auto& row : m.classWeights()) {
            int positive = 0;
            for (auto v : row) positive += v > 0;
            QVERIFY(positive <= 1);
        }
        for (int p = 0; p < m.numPrototypes(); ++p) {
            float colMax = 0;
            for (const auto& row : m.classWeights()) colMax = std::max(colMax, row[size_t(p)]);
            QVERIFY(colMax > 0);
        }
        pqw::JobContext ctx;
        QVERIFY(pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx).top1 > 0.9);
    }

    void cancelStopsTraining() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        pqw::JobContext ctx;
        auto m = pqw::ProtoModel::forCache(cache);
        pqw::trainStage0(m, cache, {}, ctx);
        int batches = 0;
        ctx.setProgressHandler([&](double, const std::string&) {
            if (++batches == 3) ctx.cancel();
        });
        pqw::CodebookOptions s1;
        s1.codes = 4;
        s1.batchSize = 8;
        QVERIFY_THROWS_EXCEPTION(pqw::Cancelled, pqw::trainCodebook(m, cache, s1, ctx));
        QVERIFY(batches < 10);
        QVERIFY(!m.hasCodebook());  // a cancelled stage leaves the model as it was
    }

    void baselineTrains() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        pqw::JobContext ctx;
        auto m = pqw::ProtoModel::forCache(cache);
        pqw::BaselineOptions b;
        b.prototypes = 6;
        b.head.epochs = 30;
        b.head.lr = 2e-2;
        b.head.batchSize = 16;
        const auto before = pqw::ProtoModel::forCache(cache);
        pqw::trainBaseline(m, cache, b, ctx);
        QCOMPARE(m.kind(), std::string("baseline"));
        QVERIFY(!m.hasStage0());
        QVERIFY(pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx).top1 > 0.9);
    }

    void partPurityOnHandMadeCub() {
        // Four 40x40 images; part 1 sits at (10, 10) in every image, part 2 at (30, 30) and is
        // invisible in image 4. Boxes are in input pixels at input size 40 (scale 1).
        const std::string root = (tmp_.path() + "/cub").toStdString();
        fs::create_directories(root + "/images/001.A");
        fs::create_directories(root + "/parts");
        std::string images, labels, split, locs;
        for (int id = 1; id <= 4; ++id) {
            const std::string rel = "001.A/i" + std::to_string(id) + ".png";
            cv::imwrite(root + "/images/" + rel, cv::Mat(40, 40, CV_8UC3, cv::Scalar(id * 20, 0, 0)));
            images += std::to_string(id) + " " + rel + "\n";
            labels += std::to_string(id) + " 1\n";
            split += std::to_string(id) + " 1\n";
            locs += std::to_string(id) + " 1 10 10 1\n" + std::to_string(id) + " 2 30 30 " + (id == 4 ? "0" : "1") + "\n";
        }
        std::ofstream(root + "/classes.txt") << "1 001.A\n";
        std::ofstream(root + "/images.txt") << images;
        std::ofstream(root + "/image_class_labels.txt") << labels;
        std::ofstream(root + "/train_test_split.txt") << split;
        std::ofstream(root + "/parts/part_locs.txt") << locs;
        pqw::DatasetSpec spec;
        spec.kind = "cub";
        spec.path = root;
        spec.valFraction = 0;
        const auto ds = pqw::Dataset::open(spec);
        QCOMPARE(ds.size(), size_t(4));
        auto indexOfId = [&](int64_t id) {
            for (size_t i = 0; i < ds.size(); ++i)
                if (ds.sample(i).id == id) return i;
            return size_t(0);
        };
        auto patch = [&](int64_t id, float x, float y) {
            pqw::PatchRef p;
            p.sample = indexOfId(id);
            p.box = pqw::Box{x, y, 8, 8};
            return p;
        };
        pqw::PrototypeInfo a, b;
        a.topPatches = {patch(1, 6, 6), patch(2, 6, 6)};    // both on part 1: purity 1
        b.topPatches = {patch(3, 6, 6), patch(4, 26, 26)};  // part 1 once; part 2 invisible: 0.5
        QCOMPARE(pqw::partPurity({a, b}, ds, 40), 0.75);
        b.topPatches = {patch(3, 26, 26), patch(1, 0, 30)};  // part 2 once, nothing once: 0.5
        QCOMPARE(pqw::partPurity({a, b}, ds, 40), 0.75);
        // Input 20 px: the same boxes cover twice the image pixels ((6..14) -> (12..28)).
        a.topPatches = {patch(1, 2, 2)};  // (4..20) covers (10, 10)
        QCOMPARE(pqw::partPurity({a}, ds, 20), 1.0);
        // No part annotations: -1.
        fs::remove(root + "/parts/part_locs.txt");
        QCOMPARE(pqw::partPurity({a}, ds, 40), -1.0);
    }

    void errorPaths() {
        const auto cache = pqw::FeatureCache::open(cacheDir_);
        pqw::JobContext ctx;
        auto m = pqw::ProtoModel::forCache(cache);
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::trainCodebook(m, cache, {}, ctx));  // no stage 0
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::trainHead(m, cache, {}, ctx));      // no codebook
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::evaluate(m, cache, pqw::Split::Test, pqw::HeadKind::Stage0, ctx));
        pqw::CodebookOptions bad;
        bad.init = "nonsense";
        pqw::trainStage0(m, cache, {}, ctx);
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::trainCodebook(m, cache, bad, ctx));
    }
};

QTEST_GUILESS_MAIN(TestProtoQuant)
#include "test_protoquant.moc"
