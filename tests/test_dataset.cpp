// Datasets: IDX (raw and gzipped), image folders, CUB, CSV; splits, subsets, fingerprints,
// decoding, and every error path. Fixtures are written into a QTemporaryDir.
#include <QtTest/QtTest>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "pqw/dataset.h"
#include "pqw/error.h"

using namespace pqw;
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

#define QVERIFY_ERROR(expr, ...)                                                                          \
    do {                                                                                                  \
        const std::string msg_ = errorOf([&] { (void)(expr); });                                          \
        QVERIFY2(!msg_.empty(), "expected a pqw::Error from " #expr);                                     \
        for (const char* part_ : {__VA_ARGS__})                                                           \
            QVERIFY2(msg_.find(part_) != std::string::npos, ("'" + msg_ + "' lacks '" + part_ + "'").c_str()); \
    } while (0)

void writeBytes(const std::string& path, const std::string& data, bool gz = false) {
    fs::create_directories(fs::path(path).parent_path());
    if (gz) {
        gzFile f = gzopen(path.c_str(), "wb");
        QVERIFY(f);
        if (!data.empty()) QCOMPARE(gzwrite(f, data.data(), unsigned(data.size())), int(data.size()));
        gzclose(f);
    } else {
        std::ofstream out(path, std::ios::binary);
        out.write(data.data(), std::streamsize(data.size()));
    }
}

std::string be32(uint32_t v) {
    return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

/// Pixel value k of image i in the synthetic IDX files.
uint8_t idxPixel(size_t i, size_t k) { return uint8_t((i * 31 + k * 7) % 256); }

std::string idxImages(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = 0x803) {
    std::string s = be32(magic) + be32(n) + be32(rows) + be32(cols);
    for (size_t i = 0; i < n; ++i)
        for (size_t k = 0; k < size_t(rows) * cols; ++k) s += char(idxPixel(i, k));
    return s;
}

std::string idxLabels(const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
    std::string s = be32(magic) + be32(uint32_t(labels.size()));
    for (uint8_t l : labels) s += char(l);
    return s;
}

/// Labels 0..classes-1 with uneven class sizes.
std::vector<uint8_t> unevenLabels(size_t n, int classes) {
    std::vector<uint8_t> l(n);
    for (size_t i = 0; i < n; ++i) l[i] = uint8_t((i * i + i / 3) % size_t(classes));
    return l;
}

void writeIdxFolder(const std::string& dir, size_t nTrain, size_t nTest, int classes, bool gz) {
    const std::string ext = gz ? ".gz" : "";
    writeBytes(dir + "/train-images-idx3-ubyte" + ext, idxImages(uint32_t(nTrain), 4, 3), gz);
    writeBytes(dir + "/train-labels-idx1-ubyte" + ext, idxLabels(unevenLabels(nTrain, classes)), gz);
    writeBytes(dir + "/t10k-images-idx3-ubyte" + ext, idxImages(uint32_t(nTest), 4, 3), gz);
    writeBytes(dir + "/t10k-labels-idx1-ubyte" + ext, idxLabels(unevenLabels(nTest, classes)), gz);
}

void writeImage(const std::string& path, const cv::Mat& img) {
    fs::create_directories(fs::path(path).parent_path());
    QVERIFY(cv::imwrite(path, img));
}

cv::Mat colourImage(int w, int h, uint8_t seed) {
    cv::Mat m(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(seed + x), uint8_t(seed + 2 * y), uint8_t(seed * 3));
    return m;
}

Dataset openDs(const std::string& path, const std::string& kind = "auto", uint64_t seed = 0, double val = 0.1) {
    DatasetSpec s;
    s.kind = kind;
    s.path = path;
    s.seed = seed;
    s.valFraction = val;
    return Dataset::open(s);
}

std::set<size_t> asSet(const std::vector<size_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

class TestDataset : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void splitNames();
    void idxRawAndGz();
    void idxErrors();
    void valSplitSeededStratified();
    void subsetsStratified();
    void fingerprintStable();
    void imageFolder();
    void imageFolderTrainTest();
    void decodeConversions();
    void cubLayout();
    void cubErrors();
    void csvManifest();
    void csvErrors();
    void autoDetectAndKinds();
    void copiesShareAndMoveEmpties();
    void mutatedInputsFailCleanly();
    void builtinFashionMnist();
    void builtinMnist();
    void builtinMissingSaysWhatProvides();
    void builtinMnistGzippedAsPackaged();

private:
    std::unique_ptr<QTemporaryDir> tmp_;
    std::string dir(const char* sub) const { return (tmp_->path() + "/" + sub).toStdString(); }
};

void TestDataset::init() {
    tmp_ = std::make_unique<QTemporaryDir>();
    QVERIFY(tmp_->isValid());
}

void TestDataset::splitNames() {
    QCOMPARE(std::string(splitName(Split::Train)), std::string("train"));
    QCOMPARE(std::string(splitName(Split::Val)), std::string("val"));
    QCOMPARE(std::string(splitName(Split::Test)), std::string("test"));
    const auto b = builtinDatasets();
    QCOMPARE(b.size(), size_t(3));
    QCOMPARE(b[0].first, std::string("fashion-mnist"));
    QCOMPARE(b[1].first, std::string("mnist"));
    QCOMPARE(b[2].first, std::string("funnybirds"));
}

void TestDataset::idxRawAndGz() {
    for (bool gz : {false, true}) {
        const std::string d = dir(gz ? "idxgz" : "idxraw");
        writeIdxFolder(d, 50, 12, 4, gz);
        const Dataset ds = openDs(d, gz ? "idx" : "auto");
        QCOMPARE(ds.format(), std::string("idx"));
        QCOMPARE(ds.name(), std::string(gz ? "idxgz" : "idxraw"));
        QCOMPARE(ds.size(), size_t(62));
        QCOMPARE(ds.classNames(), (std::vector<std::string>{"0", "1", "2", "3"}));
        QCOMPARE(ds.indices(Split::Train).size() + ds.indices(Split::Val).size(), size_t(50));
        QCOMPARE(ds.indices(Split::Test).size(), size_t(12));
        QVERIFY(ds.report().skipped == 0);
        const auto labels = unevenLabels(50, 4);
        const auto testLabels = unevenLabels(12, 4);
        for (size_t i : {size_t(0), size_t(17), size_t(49), size_t(50), size_t(61)}) {
            const Sample& s = ds.sample(i);
            const size_t k = i < 50 ? i : i - 50;
            QCOMPARE(s.id, int64_t(k));
            QCOMPARE(s.label, int32_t(i < 50 ? labels[k] : testLabels[k]));
            const std::string file = d + (i < 50 ? "/train" : "/t10k") + "-images-idx3-ubyte" + (gz ? ".gz" : "");
            QCOMPARE(s.source, file + "#" + std::to_string(k));
            const cv::Mat img = ds.loadImage(i);
            QCOMPARE(img.type(), CV_8UC3);
            QCOMPARE(img.rows, 4);
            QCOMPARE(img.cols, 3);
            for (int y = 0; y < 4; ++y)
                for (int x = 0; x < 3; ++x) {
                    const uint8_t v = idxPixel(k, size_t(y) * 3 + x);
                    QCOMPARE(img.at<cv::Vec3b>(y, x), cv::Vec3b(v, v, v));
                }
        }
    }
    // gzip is told by content, not by name: a gzipped file under the raw name opens.
    const std::string renamed = dir("idxrenamed");
    writeIdxFolder(renamed, 5, 2, 2, false);
    writeBytes(renamed + "/train-images-idx3-ubyte", idxImages(5, 4, 3), true);
    QCOMPARE(openDs(renamed).loadImage(4).at<cv::Vec3b>(3, 2)[0], idxPixel(4, 11));
    // classes.txt names the classes and bounds the labels.
    const std::string d = dir("idxraw");
    writeBytes(d + "/classes.txt", "zero\none\ntwo\nthree\nfour\n");
    QCOMPARE(openDs(d).classNames().size(), size_t(5));
    QCOMPARE(openDs(d).classNames()[4], std::string("four"));
}

void TestDataset::idxErrors() {
    const std::string d = dir("idxbad");
    const std::string img = d + "/train-images-idx3-ubyte";
    const std::string lab = d + "/train-labels-idx1-ubyte";
    const std::string imgGz = img + ".gz";
    auto reset = [&] {
        fs::remove_all(d);
        writeIdxFolder(d, 10, 4, 3, false);
    };
    reset();
    QCOMPARE(openDs(d).size(), size_t(14));

    // Truncated payload (raw and gzipped).
    std::string full = idxImages(10, 4, 3);
    writeBytes(img, full.substr(0, full.size() - 5));
    QVERIFY_ERROR(openDs(d), img.c_str(), "bytes");
    fs::remove(img);
    writeBytes(img + ".gz", full.substr(0, full.size() - 5), true);
    QVERIFY_ERROR(openDs(d), imgGz.c_str(), "truncated");
    fs::remove(img + ".gz");
    // Truncated header.
    writeBytes(img, full.substr(0, 9));
    QVERIFY_ERROR(openDs(d), img.c_str(), "truncated");

    // Wrong magic.
    writeBytes(img, idxImages(10, 4, 3, 0x802));
    QVERIFY_ERROR(openDs(d), img.c_str(), "magic 0x00000802");
    reset();
    writeBytes(lab, idxLabels(unevenLabels(10, 3), 0x803));
    QVERIFY_ERROR(openDs(d), lab.c_str(), "magic");

    // Absurd header sizes, refused before allocating (raw and gzipped).
    reset();
    writeBytes(img, be32(0x803) + be32(0xFFFFFFFFu) + be32(60000) + be32(60000) + std::string(64, '\0'));
    QVERIFY_ERROR(openDs(d), img.c_str(), "header");
    fs::remove(img);
    writeBytes(img + ".gz", be32(0x803) + be32(0x7FFFFFFFu) + be32(1000) + be32(1000) + std::string(64, '\0'), true);
    QVERIFY_ERROR(openDs(d), imgGz.c_str(), "header claims");
    fs::remove(img + ".gz");
    writeBytes(img, be32(0x803) + be32(1) + be32(0) + be32(5));
    QVERIFY_ERROR(openDs(d), img.c_str(), "implausible image size");

    // Trailing data.
    reset();
    writeBytes(img, idxImages(10, 4, 3) + "xx");
    QVERIFY_ERROR(openDs(d), img.c_str());

    // Label count mismatch.
    reset();
    writeBytes(lab, idxLabels(unevenLabels(9, 3)));
    QVERIFY_ERROR(openDs(d), lab.c_str(), "9 labels for 10 images");

    // Label out of range for the named classes.
    reset();
    writeBytes(d + "/classes.txt", "a\nb\n");
    QVERIFY_ERROR(openDs(d), "label 2", "out of range");

    // Missing files.
    reset();
    fs::remove(lab);
    QVERIFY_ERROR(openDs(d, "idx"), "train-labels-idx1-ubyte");
}

void TestDataset::valSplitSeededStratified() {
    const std::string d = dir("idxval");
    writeIdxFolder(d, 400, 60, 3, false);
    const Dataset a = openDs(d, "idx", 1, 0.2);
    const Dataset a2 = openDs(d, "idx", 1, 0.2);
    const Dataset b = openDs(d, "idx", 2, 0.2);
    const Dataset none = openDs(d, "idx", 1, 0.0);
    QVERIFY(a.indices(Split::Val) == a2.indices(Split::Val));
    QVERIFY(a.indices(Split::Val) != b.indices(Split::Val));
    QVERIFY(none.indices(Split::Val).empty());
    const auto totals = none.classCounts(Split::Train);
    for (const Dataset* ds : {&a, &b}) {
        const auto val = ds->classCounts(Split::Val);
        const auto train = ds->classCounts(Split::Train);
        for (size_t c = 0; c < totals.size(); ++c) {
            QVERIFY(totals[c] > 20);
            QCOMPARE(val[c] + train[c], totals[c]);
            QVERIFY(std::abs(double(val[c]) - 0.2 * double(totals[c])) <= 1.0);
        }
        // The test split is never touched.
        QVERIFY(ds->indices(Split::Test) == none.indices(Split::Test));
        for (size_t i : ds->indices(Split::Val)) QVERIFY(ds->sample(i).source.find("train-images") != std::string::npos);
    }
}

void TestDataset::subsetsStratified() {
    const std::string d = dir("idxsub");
    writeIdxFolder(d, 400, 90, 3, false);
    DatasetSpec s;
    s.path = d;
    s.seed = 5;
    s.maxTrain = 40;
    s.maxTest = 9;
    s.valFraction = 0.25;
    const Dataset ds = Dataset::open(s);
    const Dataset again = Dataset::open(s);
    const Dataset full = openDs(d, "idx", 5, 0.0);
    QCOMPARE(ds.indices(Split::Train).size() + ds.indices(Split::Val).size(), size_t(40));
    QCOMPARE(ds.indices(Split::Test).size(), size_t(9));
    for (size_t c = 0; c < 3; ++c) {  // the val carve comes after the subset
        const size_t kept = ds.classCounts(Split::Train)[c] + ds.classCounts(Split::Val)[c];
        QCOMPARE(ds.classCounts(Split::Val)[c], size_t(std::llround(0.25 * double(kept))));
    }
    QCOMPARE(ds.fingerprint(), again.fingerprint());
    // Proportional per class (within 1), dataset order kept, ids from the right files.
    const auto fullTrain = full.classCounts(Split::Train);
    const auto fullTest = full.classCounts(Split::Test);
    for (size_t c = 0; c < 3; ++c) {
        const double shareTrain = 40.0 * double(fullTrain[c]) / 400.0;
        QVERIFY(std::abs(double(ds.classCounts(Split::Train)[c] + ds.classCounts(Split::Val)[c]) - shareTrain) <= 1.0);
        const double shareTest = 9.0 * double(fullTest[c]) / 90.0;
        QVERIFY(std::abs(double(ds.classCounts(Split::Test)[c]) - shareTest) <= 1.0);
    }
    for (size_t i = 1; i < ds.size(); ++i) {
        const bool sameFile = (ds.sample(i).split == Split::Test) == (ds.sample(i - 1).split == Split::Test);
        if (sameFile) QVERIFY(ds.sample(i).id > ds.sample(i - 1).id);
    }
    // Images still decode after subsetting (the IDX index follows the samples).
    const size_t last = ds.size() - 1;
    const auto k = size_t(ds.sample(last).id);
    QCOMPARE(ds.loadImage(last).at<cv::Vec3b>(0, 1)[0], idxPixel(k, 1));
    // Another seed picks another subset.
    s.seed = 6;
    QVERIFY(Dataset::open(s).fingerprint() != ds.fingerprint());
}

void TestDataset::fingerprintStable() {
    const std::string d = dir("idxfp");
    writeIdxFolder(d, 30, 6, 3, true);
    const std::string f1 = openDs(d).fingerprint();
    QCOMPARE(f1.size(), size_t(16));
    QCOMPARE(openDs(d).fingerprint(), f1);
    QVERIFY(openDs(d, "auto", 9).fingerprint() != f1);
    // Change one label.
    auto labels = unevenLabels(6, 3);
    labels[2] = uint8_t((labels[2] + 1) % 3);
    writeBytes(d + "/t10k-labels-idx1-ubyte.gz", idxLabels(labels), true);
    QVERIFY(openDs(d).fingerprint() != f1);
}

void TestDataset::imageFolder() {
    const std::string root = dir("flowers");
    for (int i = 0; i < 10; ++i) writeImage(root + "/rose/r" + std::to_string(i) + ".png", colourImage(6, 5, uint8_t(i)));
    for (int i = 0; i < 10; ++i) writeImage(root + "/daisy/d" + std::to_string(i) + ".jpg", colourImage(8, 8, uint8_t(i)));
    for (int i = 0; i < 4; ++i) writeImage(root + "/tulip/t" + std::to_string(i) + ".PNG", colourImage(3, 3, uint8_t(i)));
    writeImage(root + "/tulip/sub/deep.bmp", colourImage(3, 3, 9));
    writeBytes(root + "/rose/zero.png", "");
    writeBytes(root + "/daisy/corrupt.jpg", "this is not a jpeg at all");
    writeBytes(root + "/daisy/notes.txt", "ignored");
    writeBytes(root + "/tulip/.hidden.png", "ignored");
    const Dataset ds = openDs(root, "auto", 0, 0.2);
    QCOMPARE(ds.format(), std::string("folder"));
    QCOMPARE(ds.name(), std::string("flowers"));
    QCOMPARE(ds.classNames(), (std::vector<std::string>{"daisy", "rose", "tulip"}));
    QCOMPARE(ds.size(), size_t(25));
    QVERIFY(ds.indices(Split::Test).empty());  // no train/test folders: everything is Train (+ Val)
    QCOMPARE(ds.classCounts(Split::Val), (std::vector<size_t>{2, 2, 1}));
    QCOMPARE(ds.report().skipped, size_t(2));
    QCOMPARE(ds.report().skippedExamples.size(), size_t(2));
    const std::string ex = ds.report().skippedExamples[0] + "|" + ds.report().skippedExamples[1];
    QVERIFY2(ex.find("zero.png: empty file") != std::string::npos, ex.c_str());
    QVERIFY2(ex.find("corrupt.jpg: not a JPEG") != std::string::npos, ex.c_str());
    // Sorted within a class, labels by sorted class name.
    std::vector<std::string> roses;
    for (size_t i = 0; i < ds.size(); ++i)
        if (ds.sample(i).label == 1) roses.push_back(fs::path(ds.sample(i).source).filename().string());
    QCOMPARE(roses.front(), std::string("r0.png"));
    QVERIFY(std::is_sorted(roses.begin(), roses.end()));
    // PNG decodes losslessly to RGB.
    for (size_t i = 0; i < ds.size(); ++i) {
        if (fs::path(ds.sample(i).source).filename() != "r3.png") continue;
        const cv::Mat img = ds.loadImage(i);
        const cv::Mat bgr = colourImage(6, 5, 3);
        QCOMPARE(img.type(), CV_8UC3);
        const cv::Vec3b b = bgr.at<cv::Vec3b>(4, 5);
        QCOMPARE(img.at<cv::Vec3b>(4, 5), cv::Vec3b(b[2], b[1], b[0]));
    }
    // More than five bad files: all counted, five examples kept.
    for (int i = 0; i < 7; ++i) writeBytes(root + "/rose/bad" + std::to_string(i) + ".png", "x");
    const Dataset more = openDs(root);
    QCOMPARE(more.report().skipped, size_t(9));
    QCOMPARE(more.report().skippedExamples.size(), size_t(5));
    // Only bad files: an error.
    const std::string bad = dir("allbad");
    writeBytes(bad + "/a/x.png", "");
    writeBytes(bad + "/b/y.jpg", "nope");
    QVERIFY_ERROR(openDs(bad), "no usable images", "2 skipped");
    QVERIFY_ERROR(openDs(dir("empty_nothing_here")), "no such file");
}

void TestDataset::imageFolderTrainTest() {
    const std::string root = dir("tt");
    for (int i = 0; i < 6; ++i) writeImage(root + "/train/cat/c" + std::to_string(i) + ".png", colourImage(4, 4, uint8_t(i)));
    for (int i = 0; i < 6; ++i) writeImage(root + "/train/dog/d" + std::to_string(i) + ".png", colourImage(4, 4, uint8_t(i)));
    for (int i = 0; i < 3; ++i) writeImage(root + "/test/cat/c" + std::to_string(i) + ".png", colourImage(4, 4, uint8_t(i)));
    for (int i = 0; i < 2; ++i) writeImage(root + "/test/emu/e" + std::to_string(i) + ".png", colourImage(4, 4, uint8_t(i)));
    // A class only the test split has is one no training sample teaches: refused (issue 17).
    QVERIFY_ERROR(openDs(root, "folder", 3, 0.5), "tt", "class 'emu' appears only in the test split");
    fs::remove_all(root + "/test/emu");
    const Dataset ds = openDs(root, "folder", 3, 0.5);
    QCOMPARE(ds.classNames(), (std::vector<std::string>{"cat", "dog"}));
    QCOMPARE(ds.classCounts(Split::Test), (std::vector<size_t>{3, 0}));
    QCOMPARE(ds.classCounts(Split::Val), (std::vector<size_t>{3, 3}));
    QCOMPARE(ds.classCounts(Split::Train), (std::vector<size_t>{3, 3}));

    // An explicit val/ folder is kept and nothing more is carved; test/ is optional.
    fs::rename(root + "/test", root + "/val");
    const Dataset v = openDs(root, "folder", 3, 0.5);
    QCOMPARE(v.classCounts(Split::Val), (std::vector<size_t>{3, 0}));
    QCOMPARE(v.classCounts(Split::Train), (std::vector<size_t>{6, 6}));
    QVERIFY(v.indices(Split::Test).empty());
    // Another top-level folder besides train/val/test: then train/ is just a class.
    writeImage(root + "/other/o.png", colourImage(4, 4, 1));
    QCOMPARE(openDs(root, "folder").classNames(), (std::vector<std::string>{"other", "train", "val"}));
}

void TestDataset::decodeConversions() {
    const std::string root = dir("decode");
    cv::Mat g16(3, 4, CV_16UC1);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) g16.at<uint16_t>(y, x) = uint16_t(257 * (x * 40 + y));
    writeImage(root + "/a/gray16.png", g16);
    cv::Mat c16(2, 2, CV_16UC3, cv::Scalar(257 * 10, 257 * 20, 257 * 30));  // BGR
    writeImage(root + "/a/colour16.png", c16);
    cv::Mat rgba(2, 3, CV_8UC4, cv::Scalar(1, 2, 3, 0));  // BGRA, fully transparent
    writeImage(root + "/b/rgba.png", rgba);
    cv::Mat gray(2, 2, CV_8UC1, cv::Scalar(77));
    writeImage(root + "/b/gray.png", gray);
    writeImage(root + "/b/red.bmp", cv::Mat(2, 2, CV_8UC3, cv::Scalar(0, 0, 255)));
    const Dataset ds = openDs(root, "folder", 0, 0.0);
    QCOMPARE(ds.size(), size_t(5));
    for (size_t i = 0; i < ds.size(); ++i) {
        const std::string name = fs::path(ds.sample(i).source).filename().string();
        const cv::Mat m = ds.loadImage(i);
        QCOMPARE(m.type(), CV_8UC3);
        if (name == "gray16.png") {
            QCOMPARE(m.at<cv::Vec3b>(2, 3), cv::Vec3b(122, 122, 122));
            QCOMPARE(m.at<cv::Vec3b>(0, 1), cv::Vec3b(40, 40, 40));
        } else if (name == "colour16.png") {
            QCOMPARE(m.at<cv::Vec3b>(1, 1), cv::Vec3b(30, 20, 10));
        } else if (name == "rgba.png") {
            QCOMPARE(m.cols, 3);
            QCOMPARE(m.at<cv::Vec3b>(0, 0), cv::Vec3b(3, 2, 1));
        } else if (name == "gray.png") {
            QCOMPARE(m.at<cv::Vec3b>(1, 0), cv::Vec3b(77, 77, 77));
        } else {
            QCOMPARE(name, std::string("red.bmp"));
            QCOMPARE(m.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 0));
        }
    }
    // A file that passes the cheap check but does not decode: loadImage throws naming it.
    const std::string trunc = root + "/b/trunc.png";
    writeBytes(trunc, std::string("\x89PNG\r\n\x1a\n", 8) + "garbage");
    const Dataset ds2 = openDs(root, "folder", 0, 0.0);
    QCOMPARE(ds2.size(), size_t(6));
    for (size_t i = 0; i < ds2.size(); ++i)
        if (ds2.sample(i).source == trunc) QVERIFY_ERROR(ds2.loadImage(i), trunc.c_str(), "cannot decode");
}

namespace {
void writeCub(const std::string& root) {
    // 6 images, 2 classes; images 1-4 train, 5-6 test; image 3 is 20x10 with a box.
    writeBytes(root + "/classes.txt", "1 001.Albatross\n2 002.Auklet\n");
    std::string images, labels, split, boxes;
    for (int id = 1; id <= 6; ++id) {
        const std::string cls = id % 2 ? "001.Albatross" : "002.Auklet";
        const std::string rel = cls + "/img_" + std::to_string(id) + ".jpg";
        cv::Mat img = colourImage(20, 10, uint8_t(id * 10));
        if (id == 3) {
            img = cv::Mat(10, 20, CV_8UC3, cv::Scalar(0, 0, 0));
            img(cv::Rect(4, 2, 6, 5)).setTo(cv::Scalar(255, 255, 255));
            writeImage(root + "/images/" + cls + "/img_3.png", img);
            images += "3 " + cls + "/img_3.png\n";
        } else {
            writeImage(root + "/images/" + rel, img);
            images += std::to_string(id) + " " + rel + "\n";
        }
        labels += std::to_string(id) + " " + (id % 2 ? "1" : "2") + "\n";
        split += std::to_string(id) + " " + (id <= 4 ? "1" : "0") + "\n";
        boxes += std::to_string(id) + (id == 3 ? " 4.0 2.0 6.0 5.0\n" : " 1.0 1.0 30.0 30.0\n");
    }
    writeBytes(root + "/images.txt", images);
    writeBytes(root + "/image_class_labels.txt", labels);
    writeBytes(root + "/train_test_split.txt", split);
    writeBytes(root + "/bounding_boxes.txt", boxes);
    fs::create_directories(root + "/parts");
}
}  // namespace

void TestDataset::cubLayout() {
    const std::string root = dir("CUB_200_2011");
    writeCub(root);
    const Dataset ds = openDs(root, "auto", 0, 0.0);
    QCOMPARE(ds.format(), std::string("cub"));
    QCOMPARE(ds.classNames(), (std::vector<std::string>{"001.Albatross", "002.Auklet"}));
    QCOMPARE(ds.size(), size_t(6));
    QCOMPARE(ds.indices(Split::Train).size(), size_t(4));
    QCOMPARE(ds.indices(Split::Test).size(), size_t(2));
    QCOMPARE(ds.partsDir(), root + "/parts");
    for (size_t i = 0; i < 6; ++i) {
        QCOMPARE(ds.sample(i).id, int64_t(i + 1));
        QCOMPARE(ds.sample(i).label, int32_t(i % 2));
        QVERIFY(ds.sample(i).hasBox);
    }
    QCOMPARE(ds.loadImage(2).cols, 20);  // no crop unless asked
    DatasetSpec s;
    s.path = root;
    s.cubCrop = true;
    const Dataset cropped = Dataset::open(s);
    QVERIFY(cropped.fingerprint() != openDs(root).fingerprint());
    const cv::Mat box = cropped.loadImage(2);
    QCOMPARE(box.cols, 6);
    QCOMPARE(box.rows, 5);
    QCOMPARE(cv::countNonZero(box.reshape(1) != 255), 0);
    const cv::Mat clamped = cropped.loadImage(0);  // box 1,1,30,30 on a 20x10 image
    QCOMPARE(clamped.cols, 19);
    QCOMPARE(clamped.rows, 9);
    // A missing image file is skipped, not fatal.
    fs::remove(root + "/images/002.Auklet/img_6.jpg");
    const Dataset skipped = openDs(root);
    QCOMPARE(skipped.size(), size_t(5));
    QCOMPARE(skipped.report().skipped, size_t(1));
    QVERIFY(skipped.report().skippedExamples[0].find("img_6.jpg: missing") != std::string::npos);
}

void TestDataset::cubErrors() {
    const std::string root = dir("cubbad");
    auto reset = [&] {
        fs::remove_all(root);
        writeCub(root);
    };
    reset();
    QCOMPARE(openDs(root, "cub").size(), size_t(6));
    writeBytes(root + "/image_class_labels.txt", "1 1\n2 2\n9 1\n4 2\n5 1\n6 2\n");
    QVERIFY_ERROR(openDs(root, "cub"), "image_class_labels.txt:3:", "image id 9 is not in images.txt");
    reset();
    writeBytes(root + "/image_class_labels.txt", "1 1\n2 2\n3 1\n4 2\n5 1\n");
    QVERIFY_ERROR(openDs(root, "cub"), "images.txt:6:", "image id 6 has no label");
    reset();
    writeBytes(root + "/train_test_split.txt", "1 1\n2 1\n\n3 yes\n");
    QVERIFY_ERROR(openDs(root, "cub"), "train_test_split.txt:4:", "must be 0 or 1");
    reset();
    writeBytes(root + "/images.txt", "1 001.Albatross/img_1.jpg\nnot-a-number x.jpg\n");
    QVERIFY_ERROR(openDs(root, "cub"), "images.txt:2:", "malformed");
    reset();
    writeBytes(root + "/images.txt", "1 001.Albatross/img_1.jpg\n1 002.Auklet/img_2.jpg\n");
    QVERIFY_ERROR(openDs(root, "cub"), "images.txt:2:", "duplicate image id 1");
    reset();
    writeBytes(root + "/image_class_labels.txt", "1 1\n2 3\n");
    QVERIFY_ERROR(openDs(root, "cub"), "image_class_labels.txt:2:", "class id 3");
    reset();
    writeBytes(root + "/classes.txt", "1 a\n3 c\n");
    QVERIFY_ERROR(openDs(root, "cub"), "classes.txt", "1..2");
    reset();
    writeBytes(root + "/bounding_boxes.txt", "1 1 1 2\n");
    QVERIFY_ERROR(openDs(root, "cub"), "bounding_boxes.txt:1:", "malformed");
    writeBytes(root + "/bounding_boxes.txt", "1 1 1 2 2\n2 nan 1 2 2\n");
    QVERIFY_ERROR(openDs(root, "cub"), "bounding_boxes.txt:2:", "malformed");
    reset();
    fs::remove(root + "/train_test_split.txt");
    QVERIFY_ERROR(openDs(root, "cub"), "train_test_split.txt: missing");
}

void TestDataset::csvManifest() {
    const std::string root = dir("csv");
    writeImage(root + "/img/a,1.png", colourImage(4, 4, 1));
    writeImage(root + "/img/b.png", colourImage(4, 4, 2));
    writeImage(root + "/img/c.png", colourImage(4, 4, 3));
    writeImage(root + "/img/d.png", colourImage(4, 4, 4));
    writeImage(root + "/img/e.png", colourImage(4, 4, 5));
    writeBytes(root + "/img/broken.png", "");
    writeBytes(root + "/m.csv",
               "path,label,split\r\n"
               "\"img/a,1.png\",\"zebra, plains\",train\r\n"
               "img/b.png,ant,val\r\n"
               "img/./c.png, ant ,test\r\n"
               "\r\n"
               "img/d.png,zebra, plains\r\n"  // three columns: split " plains"? no: label zebra, split plains
               "");
    QVERIFY_ERROR(openDs(root + "/m.csv"), "m.csv:6:", "unknown split 'plains'");
    writeBytes(root + "/m.csv",
               "label,path\n"
               "\"zebra, plains\",\"img/a,1.png\"\n"
               "ant,img/b.png\n"
               "\"say \"\"hi\"\"\",img/c.png\n"
               "ant,img/broken.png\n");
    const Dataset h = openDs(root + "/m.csv");
    QCOMPARE(h.format(), std::string("csv"));
    QCOMPARE(h.name(), std::string("m.csv"));
    QCOMPARE(h.classNames(), (std::vector<std::string>{"ant", "say \"hi\"", "zebra, plains"}));
    QCOMPARE(h.size(), size_t(3));
    QCOMPARE(h.report().skipped, size_t(1));
    QCOMPARE(h.sample(0).label, 2);
    QCOMPARE(h.sample(0).source, root + "/img/a,1.png");

    // No header, explicit val rows kept (no extra carve), default split train.
    writeBytes(root + "/n.csv",
               "img/a,1.png,x\n"  // unquoted comma: path "img/a", label "1.png", split "x" -> error
               );
    QVERIFY_ERROR(openDs(root + "/n.csv"), "n.csv:1:", "unknown split");
    writeBytes(root + "/n.csv",
               "img/b.png,ant\n"
               "img/c.png,bee,val\n"
               "img/d.png,ant,TEST\n"
               "img/e.png,bee,train\n"
               "\"img/a,1.png\",ant\n");
    const Dataset n = openDs(root + "/n.csv", "csv", 0, 0.5);
    QCOMPARE(n.classNames(), (std::vector<std::string>{"ant", "bee"}));
    QCOMPARE(n.indices(Split::Train), (std::vector<size_t>{0, 3, 4}));
    QCOMPARE(n.indices(Split::Val), (std::vector<size_t>{1}));
    QCOMPARE(n.indices(Split::Test), (std::vector<size_t>{2}));
    QCOMPARE(n.loadImage(4).at<cv::Vec3b>(0, 0), cv::Vec3b(3, 1, 1));  // BGR (1, 1, 3) written
}

void TestDataset::csvErrors() {
    const std::string root = dir("csvbad");
    writeImage(root + "/sub/x.png", colourImage(4, 4, 1));
    writeImage(dir("outside") + "/y.png", colourImage(4, 4, 1));
    const std::string m = root + "/sub/m.csv";
    writeBytes(m, "path,label\nx.png,a\nx.png\n");
    QVERIFY_ERROR(openDs(m), "m.csv:3:", "missing column");
    writeBytes(m, "path,split\nx.png,train\n");
    QVERIFY_ERROR(openDs(m), "m.csv:1:", "no 'label' column");
    writeBytes(m, "x.png,a,holdout\n");
    QVERIFY_ERROR(openDs(m), "m.csv:1:", "unknown split 'holdout'");
    writeBytes(m, "x.png,a\n../../outside/y.png,a\n");
    QVERIFY_ERROR(openDs(m), "m.csv:2:", "outside the manifest's folder");
    writeBytes(m, "x.png,a\n\n" + dir("outside") + "/y.png,a\n");
    QVERIFY_ERROR(openDs(m), "m.csv:3:", "outside the manifest's folder");
    writeBytes(m, "x.png,a\nsub/../../sub/x.png,a\n");  // normalises back inside: fine
    QCOMPARE(openDs(m).size(), size_t(2));
    writeBytes(m, "x.png,a\n\"x.png,b\n");
    QVERIFY_ERROR(openDs(m), "m.csv:2:", "unterminated");
    writeBytes(m, "x.png,\n");
    QVERIFY_ERROR(openDs(m), "m.csv:1:", "empty label");
    writeBytes(m, "");
    QVERIFY_ERROR(openDs(m), "m.csv", "empty");
}

void TestDataset::autoDetectAndKinds() {
    QVERIFY_ERROR(openDs(dir("nope")), "nope", "no such file or folder");
    writeBytes(dir("x.txt"), "hello");
    QVERIFY_ERROR(openDs(dir("x.txt")), "x.txt", "cannot tell the dataset format");
    QVERIFY_ERROR(openDs(dir("x.txt"), "weird"), "unknown dataset kind 'weird'");
    QVERIFY_ERROR(openDs("no-such-builtin", "builtin"), "unknown built-in dataset");
    QVERIFY_ERROR(openDs(""), "no dataset given");
    QVERIFY_ERROR(openDs(dir("x.txt"), "auto", 0, 1.5), "valFraction");
    const std::string d = dir("idxauto");
    writeIdxFolder(d, 10, 2, 2, true);
    QCOMPARE(openDs(d).format(), std::string("idx"));
    QVERIFY_ERROR(openDs(d, "cub"), "classes.txt: missing");
}

void TestDataset::copiesShareAndMoveEmpties() {
    const std::string d = dir("idxcopy");
    writeIdxFolder(d, 10, 2, 2, false);
    Dataset a = openDs(d);
    const Dataset b = a;
    QCOMPARE(&a.sample(0), &b.sample(0));  // shared, not copied
    Dataset c = std::move(a);
    QCOMPARE(c.size(), size_t(12));
    QCOMPARE(a.size(), size_t(0));  // NOLINT(bugprone-use-after-move): moved-from is empty and valid
    const Dataset empty;
    QCOMPARE(empty.size(), size_t(0));
    QVERIFY(empty.classNames().empty());
    QVERIFY_THROWS_EXCEPTION(std::out_of_range, empty.sample(0));
}

void TestDataset::mutatedInputsFailCleanly() {
    // Random byte mutations of valid IDX, CUB and CSV files: open() either succeeds or
    // throws pqw::Error; nothing else escapes (run under the sanitizers too).
    std::mt19937 rng(42);
    const std::string d = dir("mut");
    writeIdxFolder(d + "/idx", 6, 3, 2, false);
    writeCub(d + "/cub");
    writeImage(d + "/csv/x.png", colourImage(2, 2, 1));
    const std::string csv = "path,label,split\n\"x.png\",a,train\nx.png,\"b,\"\"c\"\"\",test\n";
    writeBytes(d + "/csv/m.csv", csv);
    struct Target {
        std::string path, open;
    };
    const std::vector<Target> targets{
        {d + "/idx/train-images-idx3-ubyte", d + "/idx"}, {d + "/idx/train-labels-idx1-ubyte", d + "/idx"},
        {d + "/cub/images.txt", d + "/cub"},             {d + "/cub/bounding_boxes.txt", d + "/cub"},
        {d + "/cub/train_test_split.txt", d + "/cub"},   {d + "/csv/m.csv", d + "/csv/m.csv"}};
    int opened = 0, refused = 0;
    for (const auto& t : targets) {
        std::ifstream in(t.path, std::ios::binary);
        const std::string orig((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (int round = 0; round < 60; ++round) {
            std::string m = orig;
            const int edits = 1 + int(rng() % 3);
            for (int e = 0; e < edits; ++e) {
                const size_t pos = rng() % m.size();
                switch (rng() % 3) {
                case 0: m[pos] = char(rng()); break;
                case 1: m.erase(pos, 1 + rng() % 4); break;
                default: m.insert(pos, 1, ",\" \n0\xff"[rng() % 6]); break;
                }
            }
            writeBytes(t.path, m);
            try {
                const Dataset ds = openDs(t.open, "auto", round);
                for (size_t i = 0; i < ds.size(); ++i) (void)ds.loadImage(i);
                ++opened;
            } catch (const pqw::Error&) {
                ++refused;
            }
        }
        writeBytes(t.path, orig);
    }
    QVERIFY(opened > 0);
    QVERIFY(refused > 0);
}

void TestDataset::builtinFashionMnist() {
    if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
        QSKIP("dataset-fashion-mnist is not installed");
    QElapsedTimer t;
    t.start();
    const Dataset ds = openDs("fashion-mnist");
    QCOMPARE(ds.format(), std::string("idx"));
    QCOMPARE(ds.name(), std::string("fashion-mnist"));
    QCOMPARE(ds.classNames().size(), size_t(10));
    QCOMPARE(ds.classNames()[0], std::string("T-shirt/top"));
    QCOMPARE(ds.classNames()[9], std::string("Ankle boot"));
    QCOMPARE(ds.indices(Split::Train).size() + ds.indices(Split::Val).size(), size_t(60000));
    QCOMPARE(ds.indices(Split::Val).size(), size_t(6000));
    QCOMPARE(ds.indices(Split::Test).size(), size_t(10000));
    const cv::Mat img = ds.loadImage(0);
    QCOMPARE(img.rows, 28);
    QCOMPARE(img.cols, 28);
    qInfo("fashion-mnist opened in %lld ms", static_cast<long long>(t.elapsed()));
}

void TestDataset::builtinMnist() {
    const char* data = std::getenv("PQW_DATA_DIR");
    if (!data || !fs::exists(std::string(data) + "/mnist/train-images-idx3-ubyte")) QSKIP("MNIST is not fetched");
    const Dataset ds = openDs("mnist");
    QCOMPARE(ds.classNames(), (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
    QCOMPARE(ds.indices(Split::Train).size() + ds.indices(Split::Val).size(), size_t(60000));
    QCOMPARE(ds.indices(Split::Test).size(), size_t(10000));
}

void TestDataset::builtinMissingSaysWhatProvides() {
    const QByteArray old = qgetenv("PQW_DATA_DIR");
    const std::string empty = dir("emptyassets");
    fs::create_directories(empty);
    qputenv("PQW_DATA_DIR", QByteArray::fromStdString(empty));
    const std::string msg = errorOf([] { openDs("mnist"); });
    if (old.isNull()) qunsetenv("PQW_DATA_DIR");
    else qputenv("PQW_DATA_DIR", old);
    QVERIFY2(msg.find(empty + "/mnist/train-images-idx3-ubyte") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("datasets/fetch.sh") != std::string::npos, msg.c_str());
    if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
        const std::string fm = errorOf([] { openDs("fashion-mnist"); });
        QVERIFY2(fm.find("apt-get install dataset-fashion-mnist") != std::string::npos, fm.c_str());
    }
}

// The Debian package installs MNIST gzipped (<data>/mnist/*-ubyte.gz): the built-in reader
// takes those exactly like the raw files of a source checkout.
void TestDataset::builtinMnistGzippedAsPackaged() {
    const QByteArray old = qgetenv("PQW_DATA_DIR");
    const std::string gzRoot = dir("pkgdata-gz"), rawRoot = dir("pkgdata-raw");
    writeIdxFolder(gzRoot + "/mnist", 40, 10, 10, true);
    writeIdxFolder(rawRoot + "/mnist", 40, 10, 10, false);
    QVERIFY(!fs::exists(gzRoot + "/mnist/train-images-idx3-ubyte"));
    qputenv("PQW_DATA_DIR", QByteArray::fromStdString(gzRoot));
    const Dataset gz = openDs("mnist");
    qputenv("PQW_DATA_DIR", QByteArray::fromStdString(rawRoot));
    const Dataset raw = openDs("mnist");
    if (old.isNull()) qunsetenv("PQW_DATA_DIR");
    else qputenv("PQW_DATA_DIR", old);
    QCOMPARE(gz.name(), std::string("mnist"));
    QCOMPARE(gz.size(), raw.size());
    QCOMPARE(gz.indices(Split::Test).size(), size_t(10));
    for (size_t i = 0; i < gz.size(); i += 7) {
        QCOMPARE(gz.sample(i).label, raw.sample(i).label);
        QCOMPARE(gz.sample(i).split, raw.sample(i).split);
        const cv::Mat a = gz.loadImage(i), b = raw.loadImage(i);
        QCOMPARE(cv::norm(a, b, cv::NORM_INF), 0.0);
    }
}

QTEST_GUILESS_MAIN(TestDataset)
#include "test_dataset.moc"
