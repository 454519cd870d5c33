// Preprocessing numerics: normalisation, resize modes, channel order, augmentation.
#include <QtTest/QtTest>

#include <vector>

#include <opencv2/core.hpp>

#include "pqw/error.h"
#include "pqw/preprocess.h"

using namespace pqw;

class TestPreprocess : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void constantImageNormalises();
    void channelOrderIsRgbChw();
    void areaShrinkAverages();
    void enlargeIsLinear();
    void augmentReproducible();
    void augmentFlipsOrKeeps();
    void fingerprintDescribesPixels();
    void defaultFingerprintUnchanged();
    void centreCropGeometry();
    void rejectsBadInput();
};

static std::vector<float> run(const cv::Mat& img, const Preprocess& p, std::mt19937* rng = nullptr) {
    std::vector<float> out(size_t(3) * p.size * p.size, -999.f);
    preprocessImage(img, p, out.data(), rng);
    return out;
}

void TestPreprocess::constantImageNormalises() {
    Preprocess p;
    p.size = 4;
    p.mean = {0.1f, 0.2f, 0.3f};
    p.stdev = {0.5f, 0.25f, 2.0f};
    const cv::Mat img(5, 7, CV_8UC3, cv::Scalar(100, 150, 200));  // R=100, G=150, B=200 (RGB input)
    const auto out = run(img, p);
    const float vals[3] = {100.f, 150.f, 200.f};
    for (int c = 0; c < 3; ++c) {
        const float expect = (vals[c] * p.scale - p.mean[c]) / p.stdev[c];
        for (int i = 0; i < 16; ++i) QCOMPARE(out[size_t(c) * 16 + i], expect);
    }
}

void TestPreprocess::channelOrderIsRgbChw() {
    Preprocess p;
    p.size = 2;
    p.scale = 1.f;
    cv::Mat img(2, 2, CV_8UC3, cv::Scalar(0, 0, 0));
    img.at<cv::Vec3b>(0, 1) = cv::Vec3b(10, 20, 30);  // y=0, x=1
    const auto out = run(img, p);
    QCOMPARE(out[0 * 4 + 1], 10.f);
    QCOMPARE(out[1 * 4 + 1], 20.f);
    QCOMPARE(out[2 * 4 + 1], 30.f);
    QCOMPARE(out[0], 0.f);
}

void TestPreprocess::areaShrinkAverages() {
    // 4x4 of 2x2 blocks, each block holding 10, 20, 30, 40 -> every output pixel is 25;
    // a nearest or linear resize would not give 25 everywhere.
    Preprocess p;
    p.size = 2;
    p.scale = 1.f;
    cv::Mat img(4, 4, CV_8UC3);
    const uint8_t pat[2][2] = {{10, 20}, {30, 40}};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b::all(pat[y % 2][x % 2]);
    const auto out = run(img, p);
    for (float v : out) QCOMPARE(v, 25.f);

    // Different block means stay apart.
    cv::Mat img2(4, 4, CV_8UC3, cv::Scalar::all(0));
    img2(cv::Rect(2, 0, 2, 2)).setTo(cv::Scalar::all(200));
    const auto out2 = run(img2, p);
    QCOMPARE(out2[0], 0.f);
    QCOMPARE(out2[1], 200.f);
    QCOMPARE(out2[2], 0.f);
}

void TestPreprocess::enlargeIsLinear() {
    // 1x2 -> 4x4: a bilinear ramp between 0 and 200 (values strictly between at the middle).
    Preprocess p;
    p.size = 4;
    p.scale = 1.f;
    cv::Mat img(1, 2, CV_8UC3);
    img.at<cv::Vec3b>(0, 0) = cv::Vec3b::all(0);
    img.at<cv::Vec3b>(0, 1) = cv::Vec3b::all(200);
    const auto out = run(img, p);
    QCOMPARE(out[0], 0.f);
    QCOMPARE(out[3], 200.f);
    QCOMPARE(out[1], 50.f);   // OpenCV's half-pixel centres: 0.25 of the way
    QCOMPARE(out[2], 150.f);
    for (int y = 1; y < 4; ++y) QCOMPARE(out[size_t(y) * 4 + 1], out[1]);
}

static cv::Mat gradient(int w, int h) {
    cv::Mat img(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x * 7), uint8_t(y * 5), uint8_t((x * y) % 251));
    return img;
}

void TestPreprocess::augmentReproducible() {
    Preprocess p;
    p.size = 16;
    p.augment = true;
    p.cropScaleMin = 0.3f;
    const cv::Mat img = gradient(40, 30);
    std::mt19937 a(7), b(7), c(8);
    const auto outA = run(img, p, &a);
    const auto outB = run(img, p, &b);
    QVERIFY(outA == outB);
    // Another seed gives another view (for this image and these seeds).
    bool differs = false;
    for (int k = 0; k < 5 && !differs; ++k) differs = run(img, p, &c) != outA;
    QVERIFY(differs);
    // Without augment the rng is ignored and left untouched.
    Preprocess plain = p;
    plain.augment = false;
    std::mt19937 r(1), r2(1);
    QVERIFY(run(img, plain, &r) == run(img, plain));
    QCOMPARE(r(), r2());
}

void TestPreprocess::augmentFlipsOrKeeps() {
    // With cropScaleMin = 1 the crop is the whole (square) image, so each view is the
    // image itself or its mirror; over 40 draws both happen.
    Preprocess p;
    p.size = 10;
    p.scale = 1.f;
    p.augment = true;
    p.cropScaleMin = 1.f;
    const cv::Mat img = gradient(10, 10);
    const cv::Mat original = img.clone();
    cv::Mat flipped;
    cv::flip(img, flipped, 1);
    const auto plain = run(img, Preprocess{10, 1.f});
    const auto mirror = run(flipped, Preprocess{10, 1.f});
    std::mt19937 rng(123);
    int nPlain = 0, nMirror = 0;
    for (int i = 0; i < 40; ++i) {
        const auto v = run(img, p, &rng);
        if (v == plain) ++nPlain;
        else if (v == mirror) ++nMirror;
        else QFAIL("augmented view is neither the image nor its mirror");
    }
    QCOMPARE(cv::norm(img, original, cv::NORM_INF), 0.0);  // the input is never modified
    QVERIFY(nPlain > 5);
    QVERIFY(nMirror > 5);
}

void TestPreprocess::fingerprintDescribesPixels() {
    Preprocess a;
    QCOMPARE(a.fingerprint(), Preprocess{}.fingerprint());
    Preprocess b = a;
    b.mean[1] = 0.5f;
    QVERIFY(a.fingerprint() != b.fingerprint());
    Preprocess c = a;
    c.size = 112;
    QVERIFY(a.fingerprint() != c.fingerprint());
    Preprocess d = a;
    d.augment = true;
    QVERIFY(a.fingerprint() != d.fingerprint());
    QVERIFY(QString::fromStdString(a.fingerprint()).contains("size=224"));
}

void TestPreprocess::rejectsBadInput() {
    Preprocess p;
    p.size = 4;
    std::vector<float> out(48);
    QVERIFY_THROWS_EXCEPTION(pqw::Error, preprocessImage(cv::Mat(), p, out.data()));
    QVERIFY_THROWS_EXCEPTION(pqw::Error, preprocessImage(cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)), p, out.data()));
    p.stdev[2] = 0.f;
    QVERIFY_THROWS_EXCEPTION(pqw::Error, preprocessImage(cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(1)), p, out.data()));
}

// Caches written before the user's preprocessing existed stay fresh: the defaults' fingerprint
// is the old string; a centre crop or torchvision's resampling change it.
void TestPreprocess::defaultFingerprintUnchanged() {
    Preprocess p;
    QCOMPARE(QString::fromStdString(p.fingerprint()),
             QStringLiteral("pp1 size=224 scale=0.00392156886 mean=0,0,0 std=1,1,1 resize=area-down,linear-up augment=0"));
    Preprocess c = p;
    c.resize = 256;
    Preprocess t = p;
    t.pilBilinear = true;
    QVERIFY(c.fingerprint() != p.fingerprint() && t.fingerprint() != p.fingerprint() && c.fingerprint() != t.fingerprint());
}

// Resize(R) + CenterCrop(S) geometry on an image whose pixels name their column and row: the
// crop starts at int(round((side - S) / 2)) with halves rounded to even, as Python does.
void TestPreprocess::centreCropGeometry() {
    // 40 x 20 -> shorter side 20 stays (R = 20): no resampling; crop 10 from x = 15, y = 5.
    cv::Mat img(20, 40, CV_8UC3);
    for (int y = 0; y < 20; ++y)
        for (int x = 0; x < 40; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x), uchar(y), 7);
    Preprocess p;
    p.size = 10;
    p.resize = 20;
    p.pilBilinear = true;
    cv::Mat v = preprocessedView(img, p);
    QCOMPARE(v.cols, 10);
    QCOMPARE(int(v.at<cv::Vec3b>(0, 0)[0]), 15);
    QCOMPARE(int(v.at<cv::Vec3b>(0, 0)[1]), 5);
    // 37 x 20, crop 10: (37 - 10) / 2 = 13.5 -> 14 (even); 39 x 20: 14.5 -> 14 (even).
    for (auto [w, x0] : {std::pair{37, 14}, std::pair{39, 14}}) {
        cv::Mat im = img(cv::Rect(0, 0, w, 20)).clone();
        QCOMPARE(int(preprocessedView(im, p).at<cv::Vec3b>(0, 0)[0]), x0);
    }
    // A crop larger than the resized image is refused.
    p.resize = 8;
    QVERIFY_THROWS_EXCEPTION(Error, preprocessedView(img, p));
    // Pillow's filter leaves a constant image constant (normalised fixed-point weights).
    const cv::Mat flat(47, 58, CV_8UC3, cv::Scalar(200, 3, 128));
    const cv::Mat r = resizePilBilinear(flat, 31, 23);
    QCOMPARE(r.cols, 31);
    QCOMPARE(r.rows, 23);
    QCOMPARE(cv::norm(r, cv::Mat(23, 31, CV_8UC3, cv::Scalar(200, 3, 128)), cv::NORM_INF), 0.0);
}

QTEST_GUILESS_MAIN(TestPreprocess)
#include "test_preprocess.moc"
