// Per-prototype stability against an independent computation (the presence pi_p read from
// OMENN's explained output on hand-shifted images), and the project report end to end.
#include <QtTest/QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <opencv2/imgproc.hpp>

#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/omenn.h"
#include "pqw/preprocess.h"
#include "pqw/project.h"
#include "pqw/proto_metrics.h"
#include "pqw/protoquant.h"
#include "pqw/report.h"
#include "pqw/util.h"
#include "tiny_pipeline.h"

namespace fs = std::filesystem;

class TestStability : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    pqw::Dataset ds_;
    pqw::Backbone bb_;
    pqw::FeatureCache cache_;
    pqw::ProtoModel m_;
    std::vector<pqw::PrototypeInfo> index_;
    bool ready_ = false;
    const int size_ = 32;

    double presence(const pqw::Explainer& e, const cv::Mat& rgbSized, int p) {
        std::vector<float> x(size_t(3 * size_ * size_));
        pqw::preprocessImage(rgbSized, bb_.preprocess(size_), x.data());
        pqw::Target t;
        t.kind = pqw::Target::Kind::Presence;
        t.index = p;
        return pqw::explain(e, pqw::Method::Omenn, x.data(), size_, t).output;
    }

private Q_SLOTS:
    void initTestCase() {
        if (!fixtures::tinyPipelineAvailable()) QSKIP("Fashion-MNIST or the default backbone missing");
        pqw::initTorchThreads(2);
        auto t = fixtures::makeTinyPipeline(tmp_.path().toStdString() + "/feat", size_);
        ds_ = t.dataset;
        bb_ = std::move(t.backbone);
        cache_ = std::move(t.cache);
        m_ = t.model;
        pqw::JobContext ctx;
        index_ = pqw::buildPrototypeIndex(m_, cache_, 2, ctx);
        ready_ = true;
    }

    void noPerturbationNoChange() {
        pqw::StabilityOptions o;
        o.noiseSigma = 0;
        o.shiftPixels = 0;
        pqw::JobContext ctx;
        const auto s = pqw::perPrototypeStability(m_, index_, ds_, bb_, o, 2, ctx);
        QCOMPARE(int(s.size()), m_.numPrototypes());
        for (double v : s) QCOMPARE(v, 0.0);
    }

    void shiftMatchesIndependentPresence() {
        pqw::StabilityOptions o;
        o.noiseSigma = 0;  // noise off: the noisy copy equals the image, so the value is half the shift change
        o.shiftPixels = 5;
        pqw::JobContext ctx;
        const auto s = pqw::perPrototypeStability(m_, index_, ds_, bb_, o, 1, ctx);
        const pqw::Explainer e = pqw::Explainer::fromModel(m_, bb_, pqw::ExplainHead::Interpretable);
        int checked = 0;
        bool anyChange = false;
        for (const auto& info : index_) {
            if (info.topPatches.empty()) continue;
            cv::Mat img;
            cv::resize(ds_.loadImage(info.topPatches[0].sample), img, cv::Size(size_, size_), 0, 0, cv::INTER_LINEAR);
            cv::Mat moved;
            cv::Mat M = (cv::Mat_<double>(2, 3) << 1, 0, 5, 0, 1, 5);
            cv::warpAffine(img, moved, M, img.size(), cv::INTER_NEAREST, cv::BORDER_REPLICATE);
            const double expected = 0.5 * std::fabs(presence(e, moved, info.index) - presence(e, img, info.index));
            QVERIFY2(std::fabs(s[size_t(info.index)] - expected) < 1e-4,
                     qPrintable(QStringLiteral("prototype %1: %2 vs %3").arg(info.index).arg(s[size_t(info.index)]).arg(expected)));
            anyChange = anyChange || expected > 1e-6;
            if (++checked == 4) break;
        }
        QVERIFY(checked > 0);
        QVERIFY(anyChange);
    }

    void prototypeWithoutPatchesIsNaN() {
        auto idx = index_;
        idx[0].topPatches.clear();
        pqw::JobContext ctx;
        const auto s = pqw::perPrototypeStability(m_, idx, ds_, bb_, pqw::StabilityOptions{}, 1, ctx);
        QVERIFY(std::isnan(s[size_t(idx[0].index)]));
        for (size_t p = 1; p < idx.size(); ++p)
            if (!idx[p].topPatches.empty()) QVERIFY(s[size_t(idx[p].index)] >= 0);
    }

    void cancelled() {
        pqw::JobContext ctx;
        ctx.cancel();
        QVERIFY_THROWS_EXCEPTION(pqw::Cancelled, pqw::perPrototypeStability(m_, index_, ds_, bb_, {}, 1, ctx));
    }

    void reportEndToEnd() {
        const std::string dir = tmp_.path().toStdString();
        m_.save(dir + "/head.pqwh");
        pqw::Project p;
        p.name = "tiny <report>";
        p.hasDataset = true;
        p.dataset = ds_.spec();
        p.hasBackbone = true;
        p.inputSize = size_;
        p.cacheDir = dir + "/feat";
        p.heads = {dir + "/head.pqwh", dir + "/missing.pqwh"};
        p.activeHead = 0;
        pqw::ProjectExplanation ex;
        ex.sample = long(ds_.indices(pqw::Split::Test)[0]);
        p.explanations.push_back(ex);
        p.sweeps = {dir + "/no-sweep"};
        pqw::ReportOptions o;
        o.prototypes = 3;
        o.patches = 2;
        pqw::JobContext ctx;
        const auto r = pqw::writeReport(p, dir + "/report", o, ctx);
        const std::string html = pqw::readFile(r.htmlPath);
        // The name is escaped; the evaluation matches an independent evaluation.
        QVERIFY(html.find("tiny &lt;report&gt;") != std::string::npos);
        const auto ev = pqw::evaluate(m_, cache_, pqw::Split::Test, pqw::HeadKind::Interpretable, ctx);
        char top1[32];
        std::snprintf(top1, sizeof top1, "top-1 <b>%.2f %%</b>", 100.0 * ev.top1);
        QVERIFY2(html.find(top1) != std::string::npos, top1);
        // Three prototype strips, one explanation, the training curves; every image exists.
        size_t imgs = 0;
        for (size_t at = html.find("<img src=\""); at != std::string::npos; at = html.find("<img src=\"", at + 1)) {
            const size_t end = html.find('"', at + 10);
            const std::string rel = html.substr(at + 10, end - at - 10);
            QVERIFY2(fs::file_size(dir + "/report/" + rel) > 100, rel.c_str());
            ++imgs;
        }
        QCOMPARE(imgs, size_t(2 + 3 + 1));
        QVERIFY(html.find("weight contributions") != std::string::npos);
        // The missing head and the missing sweep are reported, the rest is still written.
        QCOMPARE(r.warnings.size(), size_t(2));
        QVERIFY(r.warnings[0].find("missing.pqwh") != std::string::npos);
        QVERIFY(r.warnings[1].find("no-sweep") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestStability)
#include "test_stability.moc"
