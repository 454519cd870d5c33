// Feature cache: extraction equals the trunk's own output (within fp16), fresh/stale/partial
// detection, resume after cancel equals an uninterrupted run, bad files give clear errors;
// sharded extraction (pqw/extract_shards.h) joins into bitwise the cache of a single
// extraction, refuses missing, mismatched and damaged shards with one line naming the file,
// and a plain extraction of a sharded folder extracts the missing shards and joins.
#include <QtTest/QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "fixtures.h"
#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/extract_shards.h"
#include "pqw/feature_cache.h"
#include "pqw/preprocess.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

class TestFeatureCache : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    pqw::Dataset ds_;
    pqw::Backbone bb_;
    static constexpr int kSize = 32;

    std::string dir(const char* name) const { return (tmp_.path() + "/" + name).toStdString(); }
    /// The message of the pqw::Error that fn throws ("" when it throws none).
    template <class Fn>
    static QString errorOf(Fn&& fn) {
        try {
            fn();
        } catch (const pqw::Error& e) {
            return QString::fromUtf8(e.what());
        }
        return {};
    }

private Q_SLOTS:
    void initTestCase() {
        if (pqw::assetsDir().empty() || !fs::exists(pqw::assetsDir() + "/mobilenet_v2/model.json"))
            QSKIP("default backbone not fetched (run datasets/fetch.sh)");
        pqw::initTorchThreads(2);
        fixtures::writeImageFolder(tmp_.path() + "/data", 3, 5);
        fixtures::writeTruncatedPng(tmp_.path() + "/data/class_1/zz_broken.png");
        pqw::DatasetSpec spec;
        spec.path = (tmp_.path() + "/data").toStdString();
        spec.valFraction = 0.2;
        ds_ = pqw::Dataset::open(spec);
        QCOMPARE(ds_.size(), size_t(16));
        bb_ = pqw::Backbone::open(pqw::BackboneSpec{});
    }

    void extractMatchesTrunk() {
        pqw::JobContext ctx;
        int events = 0;
        ctx.setEventHandler([&](const pqw::Event& e) {
            if (e.kind == "extract.batch") ++events;
        });
        pqw::ExtractOptions opt;
        opt.inputSize = kSize;
        opt.batchSize = 4;
        const auto rep = pqw::extractFeatures(ds_, bb_, dir("a"), ctx, opt);
        QCOMPARE(rep.extracted, size_t(16));
        QCOMPARE(rep.failed, size_t(1));
        QVERIFY(!rep.failedExamples.empty());
        QVERIFY(QString::fromStdString(rep.failedExamples[0]).contains("zz_broken.png"));
        QCOMPARE(events, 4);

        const auto cache = pqw::FeatureCache::open(dir("a"));
        QCOMPARE(cache.size(), ds_.size());
        QVERIFY(cache.shape() == bb_.featureShape(kSize));
        QCOMPARE(cache.classNames(), ds_.classNames());
        QCOMPARE(cache.cutLayer(), bb_.cutLayer());
        const auto s = cache.shape();
        const size_t per = static_cast<size_t>(s[0] * s[1] * s[2]);
        const auto pp = bb_.preprocess(kSize);
        std::vector<float> px(3 * kSize * kSize), want(per), got(per);
        size_t invalid = 0;
        for (size_t i = 0; i < cache.size(); ++i) {
            QCOMPARE(cache.label(i), ds_.sample(i).label);
            QCOMPARE(int(cache.split(i)), int(ds_.sample(i).split));
            if (!cache.valid(i)) {
                ++invalid;
                QVERIFY(QString::fromStdString(ds_.sample(i).source).contains("zz_broken"));
                continue;
            }
            pqw::preprocessImage(ds_.loadImage(i), pp, px.data());
            bb_.forward(px.data(), 1, kSize, want.data());
            cache.read(i, got.data());
            for (size_t k = 0; k < per; ++k)
                QVERIFY2(std::fabs(got[k] - want[k]) <= 2e-3f * std::fmax(1.0f, std::fabs(want[k])),
                         qPrintable(QStringLiteral("sample %1 value %2: %3 vs %4").arg(i).arg(k).arg(got[k]).arg(want[k])));
        }
        QCOMPARE(invalid, size_t(1));
        const auto valid = cache.indices(pqw::Split::Train).size() + cache.indices(pqw::Split::Val).size();
        QCOMPARE(valid, size_t(15));
    }

    void freshAndStale() {
        auto st = pqw::inspectCache(dir("a"), ds_, bb_, kSize);
        QCOMPARE(int(st.state), int(pqw::CacheState::Fresh));
        st = pqw::inspectCache(dir("a"), ds_, bb_, kSize + 16);
        QCOMPARE(int(st.state), int(pqw::CacheState::Stale));
        QVERIFY2(QString::fromStdString(st.reason).contains("input size"), st.reason.c_str());
        pqw::BackboneSpec rnd;
        rnd.randomWeights = true;
        const auto other = pqw::Backbone::open(rnd);
        st = pqw::inspectCache(dir("a"), ds_, other, kSize);
        QCOMPARE(int(st.state), int(pqw::CacheState::Stale));
        QVERIFY2(QString::fromStdString(st.reason).contains("backbone"), st.reason.c_str());
        QCOMPARE(int(pqw::inspectCache(dir("none"), ds_, bb_, kSize).state), int(pqw::CacheState::Missing));
        // A fresh cache is reused, not recomputed.
        pqw::JobContext ctx;
        pqw::ExtractOptions opt;
        opt.inputSize = kSize;
        const auto rep = pqw::extractFeatures(ds_, bb_, dir("a"), ctx, opt);
        QCOMPARE(rep.extracted, size_t(0));
        QCOMPARE(rep.reused, size_t(16));
    }

    /// The one rule for pairing a cache with a dataset (FeatureCache::madeFrom / checkMadeFrom /
    /// openDataset), which `pqw`, the window and the report all call: the same dataset passes,
    /// another one or a changed one is refused naming both folders, never with an empty
    /// fingerprint let through (one of the four former copies accepted that).
    void datasetPairingIsOneRule() {
        const auto cache = pqw::FeatureCache::open(dir("a"));
        QCOMPARE(cache.dir(), dir("a"));
        QVERIFY(cache.madeFrom(ds_));
        QCOMPARE(cache.openDataset().fingerprint(), ds_.fingerprint());
        // Another dataset (one class more).
        fixtures::writeImageFolder(tmp_.path() + "/other", 4, 5);
        pqw::DatasetSpec spec;
        spec.path = (tmp_.path() + "/other").toStdString();
        const auto other = pqw::Dataset::open(spec);
        QVERIFY(!cache.madeFrom(other));
        const QString why = errorOf([&] { cache.checkMadeFrom(other); });
        QVERIFY2(why.contains(tmp_.path() + "/other") && why.contains(QString::fromStdString(dir("a"))) &&
                     why.contains("extract the features again"),
                 qPrintable(why));
        // The cache's own dataset changed on disk since: one image more.
        fs::copy_file(dir("data/class_0/img_0.png"), dir("data/class_0/zz_added.png"));
        const QString changed = errorOf([&] { cache.openDataset(); });
        QVERIFY2(changed.contains("extract the features again"), qPrintable(changed));
        fs::remove(dir("data/class_0/zz_added.png"));
        QVERIFY(errorOf([&] { cache.openDataset(); }).isEmpty());
    }

    void cancelThenResumeEqualsUninterrupted() {
        pqw::ExtractOptions opt;
        opt.inputSize = kSize;
        opt.batchSize = 3;
        pqw::JobContext ctx;
        ctx.setEventHandler([&](const pqw::Event& e) {
            if (e.value("done") >= 6) ctx.cancel();
        });
        QVERIFY_THROWS_EXCEPTION(pqw::Cancelled, pqw::extractFeatures(ds_, bb_, dir("b"), ctx, opt));
        auto st = pqw::inspectCache(dir("b"), ds_, bb_, kSize);
        QCOMPARE(int(st.state), int(pqw::CacheState::Partial));
        QCOMPARE(st.done, size_t(6));
        try {
            pqw::FeatureCache::open(dir("b"));
            QFAIL("an incomplete cache must not open");
        } catch (const pqw::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("incomplete"), e.what());
        }
        pqw::JobContext ctx2;
        const auto rep = pqw::extractFeatures(ds_, bb_, dir("b"), ctx2, opt);
        QCOMPARE(rep.reused, size_t(6));
        QCOMPARE(rep.extracted, size_t(10));
        QCOMPARE(int(pqw::inspectCache(dir("b"), ds_, bb_, kSize).state), int(pqw::CacheState::Fresh));
        // Same bytes as an uninterrupted run with the same batch size.
        pqw::JobContext ctx3;
        pqw::extractFeatures(ds_, bb_, dir("b0"), ctx3, opt);
        QCOMPARE(pqw::readFile(dir("b") + "/features.f16"), pqw::readFile(dir("b0") + "/features.f16"));
    }

    void shardsJoinIntoTheSingleCache() {
        pqw::ExtractOptions opt;
        opt.inputSize = kSize;
        opt.batchSize = 4;
        pqw::JobContext ctx;
        pqw::extractFeatures(ds_, bb_, dir("whole"), ctx, opt);
        // 16 samples in 4 batches over 3 shards: whole batches, as even as they allow.
        const auto plan = pqw::makeShardPlan(ds_, bb_, 3, opt);
        const std::vector<std::pair<size_t, size_t>> want{{0, 4}, {4, 8}, {8, 16}};
        QVERIFY(plan.ranges == want);
        QVERIFY(errorOf([&] { pqw::makeShardPlan(ds_, bb_, 5, opt); }).contains("at most 4 shards"));
        pqw::writeShardPlan(dir("sh"), plan);
        QVERIFY(pqw::readShardPlan(dir("sh")).ranges == want);
        for (size_t i : {0, 2}) pqw::extractShard(ds_, bb_, dir("sh"), i, ctx);
        auto st = pqw::shardStatus(dir("sh"), false);
        QCOMPARE(int(st.shards[0].state), int(pqw::ShardState::Done));
        QCOMPARE(int(st.shards[1].state), int(pqw::ShardState::NotStarted));
        QVERIFY(!st.joined);
        // Shard 1 is missing: the join says which, and writes nothing.
        QString err = errorOf([&] { pqw::joinShards(dir("sh"), ctx); });
        QVERIFY2(err.contains("shard 1 (samples 4-7) not extracted"), qPrintable(err));
        QVERIFY(!fs::exists(dir("sh") + "/meta.json"));
        // Another backbone cannot extract a shard of this plan.
        pqw::BackboneSpec rnd;
        rnd.randomWeights = true;
        const auto other = pqw::Backbone::open(rnd);
        err = errorOf([&] { pqw::extractShard(ds_, other, dir("sh"), 1, ctx); });
        QVERIFY2(err.contains("not the one") && err.contains("plan.json"), qPrintable(err));
        pqw::extractShard(ds_, bb_, dir("sh"), 1, ctx);
        const auto rep = pqw::joinShards(dir("sh"), ctx);
        QCOMPARE(rep.samples, size_t(16));
        // Bitwise the single extraction: payload and meta.json (labels, splits, the invalid image).
        QCOMPARE(pqw::readFile(dir("sh") + "/features.f16"), pqw::readFile(dir("whole") + "/features.f16"));
        QCOMPARE(pqw::readFile(dir("sh") + "/meta.json"), pqw::readFile(dir("whole") + "/meta.json"));
        QVERIFY(!fs::exists(pqw::shardDir(dir("sh"), 0)));
        QVERIFY(pqw::shardStatus(dir("sh"), false).joined);
        QCOMPARE(int(pqw::inspectCache(dir("sh"), ds_, bb_, kSize).state), int(pqw::CacheState::Fresh));
    }

    void badShardsAreRefused() {
        pqw::ExtractOptions opt;
        opt.inputSize = kSize;
        opt.batchSize = 4;
        pqw::JobContext ctx;
        const auto plan = pqw::makeShardPlan(ds_, bb_, 4, opt);
        pqw::writeShardPlan(dir("bad"), plan);
        for (size_t i = 0; i < 4; ++i) pqw::extractShard(ds_, bb_, dir("bad"), i, ctx);
        const std::string s1 = pqw::shardDir(dir("bad"), 1), s2 = pqw::shardDir(dir("bad"), 2);
        // Shard 1's folder holding shard 0: a mismatched range.
        const std::string keep = pqw::readFile(s1 + "/meta.json");
        fs::copy_file(pqw::shardDir(dir("bad"), 0) + "/meta.json", s1 + "/meta.json", fs::copy_options::overwrite_existing);
        QString err = errorOf([&] { pqw::joinShards(dir("bad"), ctx); });
        QVERIFY2(err.contains("shard-001/meta.json") && err.contains("not shard 1"), qPrintable(err));
        QCOMPARE(int(pqw::shardStatus(dir("bad"), false).shards[1].state), int(pqw::ShardState::Stale));
        // Made with another backbone (its id in meta.json).
        std::string m = keep;
        const std::string id = "\"id\":\"" + bb_.id() + "\"";
        QVERIFY(m.find(id) != std::string::npos);
        m.replace(m.find(id), id.size(), "\"id\":\"tfjs:0000\"");
        pqw::writeFileAtomic(s1 + "/meta.json", m);
        err = errorOf([&] { pqw::joinShards(dir("bad"), ctx); });
        QVERIFY2(err.contains("shard-001/meta.json") && err.contains("made with backbone tfjs:0000"), qPrintable(err));
        pqw::writeFileAtomic(s1 + "/meta.json", keep);
        // A damaged payload (one byte flipped): refused by its checksum and moved aside.
        {
            std::fstream f(s2 + "/features.f16", std::ios::in | std::ios::out | std::ios::binary);
            f.seekg(10);
            char c = 0;
            f.read(&c, 1);
            f.seekp(10);
            c = char(c ^ 0x40);
            f.write(&c, 1);
        }
        err = errorOf([&] { pqw::joinShards(dir("bad"), ctx); });
        QVERIFY2(err.contains("shard-002/features.f16") && err.contains("checksum") && err.contains("moved aside"),
                 qPrintable(err));
        QVERIFY(fs::exists(s2 + ".damaged"));
        QVERIFY(!fs::exists(dir("bad") + "/meta.json"));
        auto st = pqw::shardStatus(dir("bad"), false);
        QCOMPARE(int(st.shards[2].state), int(pqw::ShardState::NotStarted));
        QVERIFY(QString::fromStdString(st.shards[2].reason).contains("checksum"));
        // A plain extraction of the folder extracts what is missing (shard 2) and joins.
        const auto rep = pqw::extractFeatures(ds_, bb_, dir("bad"), ctx, opt);
        QCOMPARE(rep.extracted, size_t(4));
        QCOMPARE(rep.reused, size_t(12));
        QCOMPARE(pqw::readFile(dir("bad") + "/features.f16"), pqw::readFile(dir("whole") + "/features.f16"));
        QCOMPARE(pqw::readFile(dir("bad") + "/meta.json"), pqw::readFile(dir("whole") + "/meta.json"));
        // A damaged plan is named.
        fs::create_directories(dir("badplan") + "/shards");
        std::ofstream(pqw::shardPlanPath(dir("badplan"))) << R"({"format":"pqw-extract-shards","version":1})";
        err = errorOf([&] { pqw::readShardPlan(dir("badplan")); });
        QVERIFY2(err.contains("plan.json") && err.contains("fingerprint"), qPrintable(err));
        std::ofstream(pqw::shardPlanPath(dir("badplan"))) << "[1, 2";
        err = errorOf([&] { pqw::shardStatus(dir("badplan"), false); });
        QVERIFY2(err.contains("plan.json"), qPrintable(err));
    }

    void badFilesGiveClearErrors() {
        fs::create_directories(dir("c"));
        fs::copy(dir("a"), dir("c"), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        // Truncated payload.
        fs::resize_file(dir("c") + "/features.f16", 100);
        try {
            pqw::FeatureCache::open(dir("c"));
            QFAIL("a truncated payload must be refused");
        } catch (const pqw::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("features.f16"), e.what());
        }
        QCOMPARE(int(pqw::inspectCache(dir("c"), ds_, bb_, kSize).state), int(pqw::CacheState::Stale));
        // Malformed meta.json.
        std::ofstream(dir("c") + "/meta.json") << "{ not json";
        try {
            pqw::FeatureCache::open(dir("c"));
            QFAIL("malformed meta.json must be refused");
        } catch (const pqw::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("meta.json"), e.what());
        }
        // A newer cache version is refused with the version in the message.
        std::ofstream(dir("c") + "/meta.json") << R"({"format":"pqw-feature-cache","version":99})";
        try {
            pqw::FeatureCache::open(dir("c"));
            QFAIL("a newer cache must be refused");
        } catch (const pqw::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("newer"), e.what());
        }
        // Re-extraction over a broken cache rebuilds it.
        pqw::JobContext ctx;
        pqw::ExtractOptions opt;
        opt.inputSize = kSize;
        const auto rep = pqw::extractFeatures(ds_, bb_, dir("c"), ctx, opt);
        QCOMPARE(rep.extracted, size_t(16));
        QCOMPARE(pqw::readFile(dir("c") + "/features.f16"), pqw::readFile(dir("a") + "/features.f16"));
    }
};

QTEST_GUILESS_MAIN(TestFeatureCache)
#include "test_feature_cache.moc"
