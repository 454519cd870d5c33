// The bad-input corpus through core: every case in tests/data/bad/expected.tsv fails with a
// pqw::Error carrying the expected message (or, for odd-but-valid images and logs, loads
// correctly), plus large / odd inputs generated here at run time (sparse multi-GB IDX file,
// a PNG claiming 10^10 pixels, deeply nested JSON, damaged feature caches).
#include <QtTest/QtTest>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <opencv2/core.hpp>

#include "bad_corpus.h"
#include "pqw/backbone.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "pqw/project.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace {

/// Peak resident memory of this process (VmHWM), in MiB.
double vmHwmMiB() {
    std::ifstream in("/proc/self/status");
    std::string k;
    while (in >> k) {
        if (k == "VmHWM:") {
            double kb = 0;
            in >> kb;
            return kb / 1024.0;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

/// Runs fn; returns the pqw::Error message, "<no error>" or "<other exception: ...>".
template <typename Fn>
std::string errorOf(Fn&& fn) {
    try {
        fn();
    } catch (const pqw::Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("<other exception: ") + e.what() + ">";
    }
    return "<no error>";
}

std::string kindOf(const QString& name) {
    if (name.startsWith(QLatin1String("idx_"))) return "idx";
    if (name.startsWith(QLatin1String("cub_"))) return "cub";
    if (name.endsWith(QLatin1String(".csv"))) return "csv";
    return "auto";
}

}  // namespace

class TestBadInputs : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void corpus_data() {
        QTest::addColumn<int>("index");
        const auto all = corpus::cases();
        QVERIFY2(all.size() >= 60, "tests/data/bad/expected.tsv missing or short");
        for (size_t i = 0; i < all.size(); ++i)
            QTest::newRow(qPrintable(all[i].name + QLatin1Char(' ') + all[i].loader)) << int(i);
    }

    void corpus() {
        QFETCH(int, index);
        const corpus::Case c = corpus::cases()[size_t(index)];
        const std::string path = c.path().toStdString();
        const std::string expect = c.core.toStdString();
        std::string msg;
        if (c.loader == QLatin1String("dataset")) {
            pqw::DatasetSpec spec;
            spec.path = path;
            spec.kind = kindOf(c.name);
            msg = errorOf([&] { pqw::Dataset::open(spec); });
        } else if (c.loader == QLatin1String("image")) {
            msg = errorOf([&] { pqw::loadImageFile(path); });
        } else if (c.loader == QLatin1String("image-ok")) {
            cv::Mat m = pqw::loadImageFile(path);
            QCOMPARE(m.type(), CV_8UC3);
            const cv::Vec3b p = m.at<cv::Vec3b>(0, 0);
            msg = std::to_string(m.cols) + "x" + std::to_string(m.rows) + " " + std::to_string(p[0]) + "," +
                  std::to_string(p[1]) + "," + std::to_string(p[2]);
            QCOMPARE(QString::fromStdString(msg), c.core);
            return;
        } else if (c.loader == QLatin1String("tfjs")) {
            pqw::BackboneSpec spec;
            spec.kind = "tfjs";
            spec.path = path;
            msg = errorOf([&] { pqw::Backbone::open(spec); });
        } else if (c.loader == QLatin1String("checkpoint")) {
            msg = errorOf([&] { pqw::ProtoModel::load(path); });
        } else if (c.loader == QLatin1String("checkpoint-compat")) {
            const std::string cacheDir = (tmp_.path() + QStringLiteral("/cache")).toStdString();
            if (!fs::exists(cacheDir + "/meta.json")) corpus::writeSyntheticCache(cacheDir);
            const auto cache = pqw::FeatureCache::open(cacheDir);
            const auto m = pqw::ProtoModel::load(path);  // a well-formed file...
            msg = errorOf([&] { m.checkCompatible(cache); });  // ...for other features
        } else if (c.loader == QLatin1String("sweep-log")) {
            std::vector<pqw::SweepLogEntry> log;
            msg = errorOf([&] { log = pqw::readSweepLog(path + "/log.jsonl"); });
            if (msg == "<no error>") msg = "entries=" + std::to_string(log.size());
        } else {
            QFAIL(qPrintable("unknown loader " + c.loader));
        }
        QVERIFY2(msg.find(expect) != std::string::npos,
                 qPrintable(QStringLiteral("expected '%1'\n     got '%2'").arg(c.core, QString::fromStdString(msg))));
        // Errors name the file (or the folder it is in) they are about.
        if (!c.core.startsWith(QLatin1String("entries=")) && c.loader != QLatin1String("checkpoint-compat"))
            QVERIFY2(msg.find(c.path().section(QLatin1Char('/'), -1).toStdString()) != std::string::npos ||
                         msg.find(fs::path(path).filename().string()) != std::string::npos,
                     msg.c_str());
    }

    // ---------------------------------------------------------------- generated at run time

    /// A 9 GiB sparse IDX file whose header matches its size: refused from the header alone
    /// (no 9 GiB allocation, no long read).
    void sparseHugeIdx() {
        const QString dir = tmp_.path() + QStringLiteral("/huge_idx");
        QDir().mkpath(dir);
        const std::string images = (dir + QStringLiteral("/train-images-idx3-ubyte")).toStdString();
        const uint64_t n = 9ull * 1024 * 1024 * 1024 / 784;
        unsigned char h[16] = {0, 0, 8, 3};
        for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<unsigned char>(n >> (24 - 8 * i));
        h[11] = 28;
        h[15] = 28;
        {
            std::ofstream f(images, std::ios::binary);
            f.write(reinterpret_cast<const char*>(h), 16);
        }
        QCOMPARE(::truncate(images.c_str(), off_t(16 + n * 784)), 0);
        std::ofstream(dir.toStdString() + "/train-labels-idx1-ubyte", std::ios::binary).write("\0\0\x08\x01\0\0\0\0", 8);
        QElapsedTimer t;
        t.start();
        const double before = vmHwmMiB();
        pqw::DatasetSpec spec;
        spec.path = dir.toStdString();
        const std::string msg = errorOf([&] { pqw::Dataset::open(spec); });
        QVERIFY2(msg.find("train-images-idx3-ubyte: header claims 9663675728 bytes of data") != std::string::npos,
                 msg.c_str());
        QVERIFY2(t.elapsed() < 2000, qPrintable(QString::number(t.elapsed())));
        QVERIFY(vmHwmMiB() - before < 64);
    }

    /// A PNG whose header claims 100000 x 100000 pixels: a clear error, no 30 GB allocation.
    void pngClaimingHugeSize() {
        const std::string path = (tmp_.path() + QStringLiteral("/huge.png")).toStdString();
        // Signature, IHDR (100000 x 100000, 8-bit RGB) with a correct CRC, a tiny IDAT, IEND.
        const unsigned char png[] = {0x89, 'P',  'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,    0,    13,   'I',
                                     'H',  'D',  'R',  0,    1,    0x86, 0xa0, 0,    1,    0x86, 0xa0, 8,    2,
                                     0,    0,    0,    0x27, 0x30, 0x9c, 0x9f, 0,    0,    0,    0,    'I',  'E',
                                     'N',  'D',  0xae, 0x42, 0x60, 0x82};
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(png), sizeof png);
        const double before = vmHwmMiB();
        const std::string msg = errorOf([&] { pqw::loadImageFile(path); });
        QVERIFY2(msg.find("huge.png: cannot decode image") != std::string::npos, msg.c_str());
        QVERIFY2(vmHwmMiB() - before < 256, qPrintable(QString::number(vmHwmMiB() - before)));
    }

    /// model.json nested 100000 levels deep: an error, not a stack overflow.
    void deeplyNestedModelJson() {
        const QString dir = tmp_.path() + QStringLiteral("/nested");
        QDir().mkpath(dir);
        std::string text = "{\"modelTopology\": {\"model_config\": {\"class_name\": \"Model\", \"config\": {\"layers\": [";
        text += std::string(100000, '[') + std::string(100000, ']') + "]}}}}";
        std::ofstream(dir.toStdString() + "/model.json") << text;
        pqw::BackboneSpec spec;
        spec.kind = "tfjs";
        spec.path = dir.toStdString();
        const std::string msg = errorOf([&] { pqw::Backbone::open(spec); });
        QVERIFY2(msg.find("model.json: ") != std::string::npos && msg.find("<other") == std::string::npos, msg.c_str());
    }

    /// Damaged feature caches: meta.json cut short, features.f16 shorter than the meta says,
    /// a label outside the classes.
    void damagedFeatureCache() {
        auto fresh = [&](const char* name) {
            const std::string d = (tmp_.path() + QStringLiteral("/fc_") + QLatin1String(name)).toStdString();
            corpus::writeSyntheticCache(d);
            return d;
        };
        std::string d = fresh("meta_cut");
        std::string meta = pqw::readFile(d + "/meta.json");
        std::ofstream(d + "/meta.json") << meta.substr(0, meta.size() / 2);
        std::string msg = errorOf([&] { pqw::FeatureCache::open(d); });
        QVERIFY2(msg.find("meta.json: not valid JSON") != std::string::npos, msg.c_str());

        d = fresh("short_data");
        QCOMPARE(::truncate((d + "/features.f16").c_str(), 100), 0);
        msg = errorOf([&] { pqw::FeatureCache::open(d); });
        QVERIFY2(msg.find("features.f16: size 100 bytes, expected 1728") != std::string::npos, msg.c_str());

        d = fresh("bad_label");
        meta = pqw::readFile(d + "/meta.json");
        meta.replace(meta.find("\"labels\":[0"), 11, "\"labels\":[9");
        std::ofstream(d + "/meta.json") << meta;
        msg = errorOf([&] { pqw::FeatureCache::open(d); });
        QVERIFY2(msg.find("meta.json: label 9 out of range") != std::string::npos, msg.c_str());

        d = fresh("newer");
        meta = pqw::readFile(d + "/meta.json");
        meta.replace(meta.find("\"version\":1"), 11, "\"version\":7");
        std::ofstream(d + "/meta.json") << meta;
        msg = errorOf([&] { pqw::FeatureCache::open(d); });
        QVERIFY2(msg.find("meta.json: written by a newer version (cache version 7") != std::string::npos, msg.c_str());
    }

    /// A project file with a number too large for a double (found by fuzz_project): a
    /// pqw::Error, not nlohmann's out_of_range escaping as an internal error.
    void projectWithOverflowingNumber() {
        const std::string path = (tmp_.path() + QStringLiteral("/big.pqwproj")).toStdString();
        std::ofstream(path) << "{\"format\": \"protoquant-workbench-project\", \"version\": 1e999}";
        const std::string msg = errorOf([&] { pqw::loadProject(path); });
        QVERIFY2(msg.find("big.pqwproj: not valid JSON") != std::string::npos, msg.c_str());
    }

    /// A folder given where a file is expected (and the reverse) reads as a clear error.
    void folderInsteadOfFile() {
        const std::string d = (tmp_.path() + QStringLiteral("/a_folder.pqwh")).toStdString();
        fs::create_directories(d);
        std::string msg = errorOf([&] { pqw::ProtoModel::load(d); });
        QVERIFY2(msg.find("a_folder.pqwh: is a folder, not a file") != std::string::npos, msg.c_str());
        msg = errorOf([&] { pqw::readFile("/dev/null/x"); });
        QVERIFY2(msg.find("/dev/null/x: cannot open") != std::string::npos, msg.c_str());
    }
};

QTEST_GUILESS_MAIN(TestBadInputs)
#include "test_bad_inputs.moc"
