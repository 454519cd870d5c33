// The funnybirds dataset (pqw/funnybirds.h): the class table, determinism, exact
// interventions, part maps, the cached dataset; and the part-based evaluation protocols
// (pqw/funnybirds_eval.h) on hand-made models with known answers. Images are tiny (48-64 px).
#include <QtTest/QtTest>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>

#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/funnybirds.h"
#include "pqw/funnybirds_eval.h"
#include "pqw/protoquant.h"

using namespace pqw;
namespace fb = pqw::funnybirds;
namespace fs = std::filesystem;

namespace {

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const pqw::Error& e) {
        return e.what();
    }
    return {};
}

bool sameBytes(const cv::Mat& a, const cv::Mat& b) {
    if (a.size() != b.size() || a.type() != b.type()) return false;
    cv::Mat d;
    cv::absdiff(a, b, d);
    return cv::countNonZero(d.reshape(1)) == 0;
}

/// A hand-made model that knows which parts an image shows (from the View): the logit of
/// class c is the sum over the present slots s of w[s] when c has the image's type in s.
/// Removing slot s lowers the true class by exactly w[s]. The background is ignored, unless
/// `bgSensitive`: then a swapped background lowers every logit of the true class by 100.
struct Oracle {
    std::vector<fb::BirdParams> images;
    std::array<double, fb::kSlots> w{5, 4, 3, 2, 1};
    bool bgSensitive = false;
    int outputs = 50;

    std::vector<float> logits(const fb::View& v) const {
        const auto& cs = fb::classes();
        const auto& me = cs[size_t(images[v.image].cls)].types;
        std::vector<float> z(size_t(outputs), 0.f);
        for (int c = 0; c < 50; ++c)
            for (int s = 0; s < fb::kSlots; ++s)
                if (!(v.removed & fb::partBit(fb::slotPart(s))) && cs[size_t(c)].types[size_t(s)] == me[size_t(s)])
                    z[size_t(c)] += float(w[size_t(s)]);
        if (bgSensitive && v.swapped) z[size_t(images[v.image].cls)] -= 100.f;
        return z;
    }
    fb::ImageModel model() const {
        return [this](const std::vector<fb::View>& vs) {
            std::vector<float> z;
            for (const auto& v : vs) {
                const auto zi = logits(v);
                z.insert(z.end(), zi.begin(), zi.end());
            }
            return z;
        };
    }
};

/// A map that puts value(partId, pixelsOfThatPart) on every pixel of each part.
fb::Map partMap(const cv::Mat& parts, const std::function<double(int id, int pixels)>& value) {
    std::array<int, fb::kPartIds> count{};
    for (int y = 0; y < parts.rows; ++y)
        for (int x = 0; x < parts.cols; ++x) ++count[parts.at<uint8_t>(y, x)];
    fb::Map m{parts.rows, parts.cols, std::vector<float>(size_t(parts.total()))};
    for (int y = 0; y < parts.rows; ++y)
        for (int x = 0; x < parts.cols; ++x) {
            const int id = parts.at<uint8_t>(y, x);
            m.values[size_t(y * parts.cols + x)] = float(value(id, count[size_t(id)]));
        }
    return m;
}

}  // namespace

class TestFunnyBirds : public QObject {
    Q_OBJECT
    QTemporaryDir cache_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(cache_.isValid());
        ::setenv("PQW_CACHE_DIR", cache_.path().toStdString().c_str(), 1);
    }

    void classTable() {
        const auto& cs = fb::classes();
        QCOMPARE(int(cs.size()), 50);
        int d1 = 0, d2 = 0;
        std::set<std::string> names;
        std::vector<std::set<int>> used(fb::kSlots);
        for (int a = 0; a < 50; ++a) {
            names.insert(cs[size_t(a)].name);
            for (int s = 0; s < fb::kSlots; ++s) {
                const int t = cs[size_t(a)].types[size_t(s)];
                QVERIFY(t >= 0 && t < fb::typeCount(s));
                used[size_t(s)].insert(t);
            }
            for (int b = a + 1; b < 50; ++b) {
                const int d = fb::classDistance(a, b);
                QVERIFY2(d >= 1, (cs[size_t(a)].name + " equals " + cs[size_t(b)].name).c_str());
                d1 += d == 1;
                d2 += d == 2;
            }
            // Every class has minimal sufficient sets; the full set is sufficient, so some exist.
            const auto sets = fb::minimalSufficientSets(a);
            QVERIFY(!sets.empty());
            for (uint32_t m : sets)
                for (uint32_t o : sets) QVERIFY(m == o || (m & o) != m);  // none contains another
        }
        QCOMPARE(int(names.size()), 50);
        QVERIFY2(d1 >= 20 && d2 >= 20, ("pairs at distance 1: " + std::to_string(d1) + ", 2: " + std::to_string(d2)).c_str());
        for (int s = 0; s < fb::kSlots; ++s) QCOMPARE(int(used[size_t(s)].size()), fb::typeCount(s));  // every type in use
    }

    void minimalSetsByHand() {
        // A class's minimal sufficient sets are exactly the minimal slot sets no other class matches.
        const auto& cs = fb::classes();
        for (int c : {0, 7, 31}) {
            for (uint32_t m : fb::minimalSufficientSets(c)) {
                for (size_t o = 0; o < cs.size(); ++o) {
                    if (int(o) == c) continue;
                    bool agrees = true;
                    for (int s = 0; s < fb::kSlots; ++s)
                        if ((m >> s & 1) && cs[o].types[size_t(s)] != cs[size_t(c)].types[size_t(s)]) agrees = false;
                    QVERIFY(!agrees);
                }
            }
        }
    }

    void deterministic() {
        const auto p = fb::sampleParams(7, 123, 5);
        const auto q = fb::sampleParams(7, 123, 5);
        QCOMPARE(p.background, q.background);
        const auto a = fb::render(p, 64), b = fb::render(q, 64);
        QVERIFY(sameBytes(a.rgb, b.rgb));
        QVERIFY(sameBytes(a.parts, b.parts));
        QCOMPARE(a.rgb.type(), CV_8UC3);
        QCOMPARE(a.parts.type(), CV_8UC1);
        // Another seed or index gives another image.
        QVERIFY(!sameBytes(a.rgb, fb::render(fb::sampleParams(8, 123, 5), 64).rgb));
        QVERIFY(!sameBytes(a.rgb, fb::render(fb::sampleParams(7, 124, 5), 64).rgb));
    }

    void partMapsCoverEachPart() {
        // Every drawn part shows in the part map, and only parts that are drawn.
        for (int i = 0; i < 20; ++i) {
            const auto p = fb::sampleParams(1, uint64_t(i), i % 50);
            const auto r = fb::render(p, 96);
            for (int id = fb::Body; id <= fb::Wings; ++id) {
                const int n = cv::countNonZero(r.parts == id);
                QVERIFY2(n >= 3, (std::string(fb::partName(id)) + " covers " + std::to_string(n) + " pixels in image " +
                                  std::to_string(i)).c_str());
                // Removed: it is gone from the map.
                const auto rr = fb::render(p, 96, fb::partBit(id));
                QCOMPARE(cv::countNonZero(rr.parts == id), 0);
            }
            QVERIFY(cv::countNonZero(r.parts == 0) > 96 * 96 / 3);  // the bird leaves most of the image to the background
        }
    }

    void interventionsAreExact() {
        for (int i = 0; i < 10; ++i) {
            const auto p = fb::sampleParams(3, uint64_t(i), (i * 7) % 50);
            const auto full = fb::render(p, 64);
            const cv::Mat bg = fb::renderBackground(p, 64);  // every part removed
            for (uint32_t removed : {fb::partBit(fb::Beak), fb::partBit(fb::Tail) | fb::partBit(fb::Feet),
                                     fb::partBit(fb::Wings), fb::partBit(fb::Eyes) | fb::partBit(fb::Beak)}) {
                const auto r = fb::render(p, 64, removed);
                int changedOutside = 0, wrongBg = 0, revealed = 0;
                for (int y = 0; y < 64; ++y)
                    for (int x = 0; x < 64; ++x) {
                        const int id = full.parts.at<uint8_t>(y, x);
                        const bool was = (removed >> id & 1) != 0;
                        if (!was) {
                            changedOutside += r.rgb.at<cv::Vec3b>(y, x) != full.rgb.at<cv::Vec3b>(y, x) ||
                                              r.parts.at<uint8_t>(y, x) != id;
                        } else {
                            ++revealed;
                            // What shows now is background exactly where nothing else lies beneath.
                            if (r.parts.at<uint8_t>(y, x) == 0) wrongBg += r.rgb.at<cv::Vec3b>(y, x) != bg.at<cv::Vec3b>(y, x);
                            QVERIFY((removed >> r.parts.at<uint8_t>(y, x) & 1) == 0);
                        }
                    }
                QCOMPARE(changedOutside, 0);
                QCOMPARE(wrongBg, 0);
                QVERIFY(revealed > 0);
            }
            // A swapped background changes only background pixels.
            const auto sw = fb::render(p, 64, 0, p.background + 1);
            QVERIFY(sameBytes(sw.parts, full.parts));
            int birdChanged = 0, bgChanged = 0;
            for (int y = 0; y < 64; ++y)
                for (int x = 0; x < 64; ++x) {
                    const bool diff = sw.rgb.at<cv::Vec3b>(y, x) != full.rgb.at<cv::Vec3b>(y, x);
                    (full.parts.at<uint8_t>(y, x) ? birdChanged : bgChanged) += diff;
                }
            QCOMPARE(birdChanged, 0);
            QVERIFY(bgChanged > 64 * 64 / 4);
        }
    }

    void names() {
        QCOMPARE(fb::parseName("funnybirds").images, 3000);
        const auto o = fb::parseName("funnybirds:images=100,size=48,seed=9");
        QCOMPARE(o.images, 100);
        QCOMPARE(o.size, 48);
        QCOMPARE(o.seed, uint64_t(9));
        QCOMPARE(fb::nameOf(o), std::string("funnybirds:images=100,size=48,seed=9"));
        QCOMPARE(fb::nameOf(fb::Options{}), std::string("funnybirds"));
        QVERIFY(errorOf([] { fb::parseName("funnybirds:images=10"); }).find("50..1000000") != std::string::npos);
        QVERIFY(errorOf([] { fb::parseName("funnybirds:colour=3"); }).find("unknown option 'colour'") != std::string::npos);
        QVERIFY(errorOf([] { fb::parseName("funnybirds:size=abc"); }).find("size=abc") != std::string::npos);
        QVERIFY(errorOf([] { fb::parseName("funnybirds:size=8"); }).find("32..1024") != std::string::npos);
    }

    void datasetIsCachedAndDeterministic() {
        DatasetSpec spec;
        spec.path = "funnybirds:images=100,size=48,seed=2";
        spec.valFraction = 0.5;
        const auto ds = Dataset::open(spec);
        QCOMPARE(ds.format(), std::string("funnybirds"));
        QCOMPARE(ds.size(), size_t(100));
        QCOMPARE(int(ds.classNames().size()), 50);
        QCOMPARE(ds.indices(Split::Test).size(), size_t(0));  // 100 images: two per class, no fifth
        QCOMPARE(ds.indices(Split::Val).size(), size_t(50));  // one of each class's two
        const std::string folder = fb::cacheFolder(fb::parseName(spec.path));
        QVERIFY(fs::is_regular_file(fs::path(folder) / "index.json"));
        QVERIFY(folder.rfind(cache_.path().toStdString(), 0) == 0);
        // The image file is the render, byte for byte; the part map too.
        for (size_t i : {size_t(0), size_t(37), size_t(99)}) {
            const auto p = fb::paramsOf(ds, i);
            QCOMPARE(p.cls, ds.sample(i).label);
            const auto r = fb::render(p, 48);
            QVERIFY(sameBytes(ds.loadImage(i), r.rgb));
            QVERIFY(sameBytes(fb::partMapOf(ds, i), r.parts));
        }
        // Opening again reuses the cache (same files, same fingerprint).
        const auto t0 = fs::last_write_time(fs::path(folder) / "images" / "0.png");
        const auto again = Dataset::open(spec);
        QCOMPARE(again.fingerprint(), ds.fingerprint());
        QVERIFY(fs::last_write_time(fs::path(folder) / "images" / "0.png") == t0);
        // Test split: every fifth image of a class.
        spec.path = "funnybirds:images=250,size=32";
        const auto d2 = Dataset::open(spec);
        QCOMPARE(d2.indices(Split::Test).size(), size_t(50));
        for (size_t c : d2.classCounts(Split::Test)) QCOMPARE(c, size_t(1));
        // A dataset that is not funnybirds is refused by the part accessors.
        QVERIFY(errorOf([&] { fb::optionsOf(Dataset()); }).find("not a funnybirds") != std::string::npos);
    }

    void unwritableCacheIsNamed() {
        const std::string file = cache_.filePath("a-file").toStdString();
        { std::ofstream(file) << "x"; }
        ::setenv("PQW_CACHE_DIR", (file + "/sub").c_str(), 1);
        const std::string msg = errorOf([] { fb::ensureGenerated(fb::parseName("funnybirds:images=50,size=32")); });
        ::setenv("PQW_CACHE_DIR", cache_.path().toStdString().c_str(), 1);
        QVERIFY2(msg.find("PQW_CACHE_DIR") != std::string::npos && msg.find("a-file") != std::string::npos, msg.c_str());
    }

    void spearmanScore() {
        QCOMPARE(fb::singleDeletionScore({1, 2, 3, 4, 5}, {0.1, 0.2, 0.3, 0.4, 0.5}), 1.0);
        QCOMPARE(fb::singleDeletionScore({5, 4, 3, 2, 1}, {0.1, 0.2, 0.3, 0.4, 0.5}), 0.0);
        QVERIFY(std::isnan(fb::singleDeletionScore({1, 1, 1, 1, 1}, {0.1, 0.2, 0.3, 0.4, 0.5})));
        // Importance: sums over the part's pixels, at the map's resolution.
        cv::Mat parts(4, 4, CV_8UC1, cv::Scalar(0));
        parts(cv::Rect(0, 0, 2, 2)).setTo(fb::Beak);
        fb::Map m{2, 2, {1.f, 2.f, 3.f, 4.f}};  // half resolution: the beak is the top-left cell
        const auto imp = fb::partImportance(m, parts);
        QCOMPARE(imp[fb::Beak], 1.0);
        QCOMPARE(imp[0], 9.0);
        QCOMPARE(fb::importantSlots(imp, 10.0, 0.05), 1u);   // beak (slot 0): 1 > 0.5
        QCOMPARE(fb::importantSlots(imp, 10.0, 0.2), 0u);    // 1 < 2
    }

    void protocolsOnHandMadeModels() {
        const int size = 96;  // the smallest eyes cover a few pixels
        Oracle o;
        for (int i = 0; i < 40; ++i) o.images.push_back(fb::sampleParams(11, uint64_t(i), 1 + (i * 13) % 49));  // no class 0
        auto partsOf = [&](const fb::View& v) { return fb::render(o.images[v.image], size, v.removed).parts; };
        // Exact: each slot's importance is the drop of the target's logit when the slot is removed.
        fb::Method exact{"exact", [&](const fb::View& v, int target) {
                             const auto z0 = o.logits(v);
                             std::array<double, fb::kPartIds> drop{};
                             for (int s = 0; s < fb::kSlots; ++s) {
                                 fb::View r = v;
                                 r.removed |= fb::partBit(fb::slotPart(s));
                                 drop[size_t(fb::slotPart(s))] = z0[size_t(target)] - o.logits(r)[size_t(target)];
                             }
                             return partMap(partsOf(v), [&](int id, int n) { return drop[size_t(id)] / n; });
                         }};
        std::mt19937_64 rng(5);
        fb::Method random{"random", [&](const fb::View& v, int) {
                              std::normal_distribution<double> g;
                              return partMap(partsOf(v), [&](int, int) { return g(rng); });
                          }};
        // Every slot equally important (1 each); the background 0.
        fb::Method bird{"bird", [&](const fb::View& v, int) {
                            return partMap(partsOf(v), [](int id, int n) { return id >= fb::Beak ? 1.0 / n : 0.0; });
                        }};
        fb::Method background{"background", [&](const fb::View& v, int) {
                                  return partMap(partsOf(v), [](int id, int) { return id == 0 ? 1.0 : 0.0; });
                              }};
        fb::EvalOptions opt;
        opt.size = size;
        opt.thresholds = {0.1};  // every slot of "bird" (1 of 5) is above 0.1 of the total
        JobContext ctx;
        const auto r = fb::evaluate(o.model(), 50, {exact, random, bird, background}, o.images, opt, ctx);
        QCOMPARE(r.accuracy.mean, 1.0);
        QCOMPARE(r.accuracy.n, 40);
        QCOMPARE(r.swapKept.mean, 1.0);
        QCOMPARE(r.swapDrop.mean, 0.0);
        QCOMPARE(r.backgroundIndependence.mean, 1.0);
        QVERIFY(r.backgroundPixels.mean > 0.3 && r.backgroundPixels.mean < 0.9);
        auto metric = [&](const std::string& m, const std::string& k) {
            for (const auto& row : r.methods)
                if (row.method == m) return row.metrics.at(k);
            return fb::Stat{};
        };
        QCOMPARE(metric("exact", "single_deletion").mean, 1.0);
        QCOMPARE(metric("exact", "single_deletion").n, 40);
        const double rnd = metric("random", "single_deletion").mean;
        QVERIFY2(std::abs(rnd - 0.5) < 0.15, std::to_string(rnd).c_str());
        // The exact explanation of each class points at the parts that class shares.
        const auto ts = metric("exact", "target_sensitivity");
        QVERIFY(ts.n >= 20);
        QCOMPARE(ts.mean, 1.0);
        const auto tsr = metric("random", "target_sensitivity");
        QVERIFY2(std::abs(tsr.mean - 0.5) < 0.2, std::to_string(tsr.mean).c_str());
        // All parts important: keeping them keeps the prediction, removing them changes it;
        // every minimal sufficient set covered. No part important: the opposite.
        QCOMPARE(metric("bird", "preservation").mean, 1.0);
        QCOMPARE(metric("bird", "deletion").mean, 1.0);
        QCOMPARE(metric("bird", "csdc").mean, 1.0);
        QCOMPARE(metric("bird", "background_share").mean, 0.0);
        QCOMPARE(metric("background", "preservation").mean, 0.0);
        QCOMPARE(metric("background", "deletion").mean, 0.0);
        QCOMPARE(metric("background", "csdc").mean, 0.0);
        QCOMPARE(metric("background", "background_share").mean, 1.0);

        // A model that reads the background: the swap changes its prediction.
        Oracle b = o;
        b.bgSensitive = true;
        const auto rb = fb::evaluate(b.model(), 50, {}, b.images, opt, ctx);
        QCOMPARE(rb.swapKept.mean, 0.0);
        QCOMPARE(rb.backgroundIndependence.mean, 0.0);
        QVERIFY(rb.swapDrop.mean >= 100.0);
        // Wrong shapes are named.
        QVERIFY(errorOf([&] { fb::evaluate(o.model(), 10, {}, o.images, opt, ctx); }).find("10 outputs") != std::string::npos);
        fb::Method bad{"bad", [](const fb::View&, int) { return fb::Map{2, 2, {1.f}}; }};
        QVERIFY(errorOf([&] { fb::evaluate(o.model(), 50, {bad}, o.images, opt, ctx); }).find("method bad") != std::string::npos);
    }

    void purity() {
        DatasetSpec spec;
        spec.path = "funnybirds:images=50,size=48";
        const auto ds = Dataset::open(spec);
        // Patch boxes (at input size 96 = twice the image) centred on known pixels.
        auto patchAt = [&](size_t sample, int partId) {
            const cv::Mat pm = fb::partMapOf(ds, sample);
            for (int y = 0; y < pm.rows; ++y)
                for (int x = 0; x < pm.cols; ++x)
                    if (pm.at<uint8_t>(y, x) == partId) {
                        PatchRef r;
                        r.sample = sample;
                        r.box = Box{float(2 * x - 7), float(2 * y - 7), 16.f, 16.f};  // centre 2x+1, 2y+1 -> pixel x, y
                        return r;
                    }
            QTest::qFail("part not found", __FILE__, __LINE__);
            return PatchRef{};
        };
        PrototypeInfo a, b, none;
        for (size_t k = 0; k < 4; ++k) a.topPatches.push_back(patchAt(k, fb::Beak));
        b.topPatches = {patchAt(5, fb::Wings), patchAt(6, fb::Wings), patchAt(7, 0), patchAt(8, 0)};
        const auto p = fb::partPurity({a, b, none}, ds, 96);
        QCOMPARE(p.prototypes, 2);
        QCOMPARE(p.purity, 0.75);
        QCOMPARE(p.onBackground, 0.25);
        QCOMPARE(p.dominantPart.at("beak"), 1);
        QCOMPARE(p.dominantPart.at("wings"), 1);
    }
};

QTEST_GUILESS_MAIN(TestFunnyBirds)
#include "test_funnybirds.moc"
