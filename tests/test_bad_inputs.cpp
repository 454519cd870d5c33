// The bad-input corpus through core: every case in tests/data/bad/expected.tsv fails with a
// pqw::Error carrying the expected message (or, for odd-but-valid images and logs, loads
// correctly), plus large / odd inputs generated here at run time (sparse multi-GB IDX file,
// a PNG claiming 10^10 pixels, deeply nested JSON, damaged feature caches).
#include <QtTest/QtTest>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <zlib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "bad_corpus.h"
#include "fs_util.h"
#include "json_util.h"
#include "pqw/backbone.h"
#include "pqw/cnn_limits.h"
#include "pqw/output.h"
#include "pqw/training_checks.h"
#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/recorded_backbone.h"
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
        } else if (c.loader == QLatin1String("head-backbone")) {
            const auto m = pqw::ProtoModel::load(path);  // a well-formed head whose backbone...
            msg = errorOf([&] { pqw::openRecordedBackbone(m.backboneSpec(), m.backboneId(), path); });  // ...is refused
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

    /// Outputs replace only regular files (issue 17, case 1): writing over a FIFO, a folder or
    /// (as root) a character device like /dev/null is refused and the node stays what it was;
    /// a symbolic link to a regular file is written through and kept; no temporary folder is left.
    void outputsReplaceOnlyRegularFiles() {
        const std::string d = (tmp_.path() + QStringLiteral("/outputs")).toStdString();
        fs::create_directories(d + "/folder");
        QCOMPARE(::mkfifo((d + "/fifo").c_str(), 0644), 0);
        std::string msg = errorOf([&] { pqw::writeFileAtomic(d + "/fifo", "x"); });
        QVERIFY2(msg.find("fifo: is a FIFO (named pipe); pqw replaces only regular files") != std::string::npos, msg.c_str());
        QVERIFY(fs::is_fifo(d + "/fifo"));
        msg = errorOf([&] { pqw::writeFileAtomic(d + "/folder", "x"); });
        QVERIFY2(msg.find("folder: is a folder; pqw replaces only regular files") != std::string::npos, msg.c_str());
        QVERIFY(fs::is_directory(d + "/folder"));
        if (::geteuid() == 0) {  // a copy of /dev/null (mknod needs root)
            QCOMPARE(::mknod((d + "/null").c_str(), S_IFCHR | 0666, ::makedev(1, 3)), 0);
            msg = errorOf([&] { pqw::writeFileAtomic(d + "/null", "x"); });
            QVERIFY2(msg.find("null: is a character device") != std::string::npos, msg.c_str());
            QVERIFY(fs::is_character_file(d + "/null"));
        }
        pqw::writeFileAtomic(d + "/real.txt", "old");
        fs::create_symlink("real.txt", d + "/link.txt");
        pqw::writeFileAtomic(d + "/link.txt", "new");
        QVERIFY(fs::is_symlink(d + "/link.txt"));
        QCOMPARE(pqw::readFile(d + "/real.txt"), std::string("new"));
        fs::create_symlink("fifo", d + "/link_to_fifo");
        msg = errorOf([&] { pqw::writeFileAtomic(d + "/link_to_fifo", "x"); });
        QVERIFY2(msg.find("link_to_fifo: is a symbolic link to a FIFO") != std::string::npos, msg.c_str());
        QVERIFY(!fs::exists(d + "/.pqw-tmp"));
    }

    /// The clean-up of interrupted writes removes only pqw's own temporary files (case 8):
    /// user files whose names look like temporary files stay.
    void staleTempCleanupKeepsUserFiles() {
        const std::string d = (tmp_.path() + QStringLiteral("/cleanup")).toStdString();
        fs::create_directories(d + "/.pqw-tmp");
        const std::vector<std::string> user = {"thesis.tmp-999999-final.txt", "meta.json.tmp-999999-12345"};
        for (const auto& u : user) std::ofstream(d + "/" + u) << "the user's";
        std::ofstream(d + "/.pqw-tmp/meta.json.tmp-999999-777") << "{";  // left by a killed pqw
        QCOMPARE(pqw::removeStaleTempFiles(d), 1);
        for (const auto& u : user) QVERIFY2(fs::exists(d + "/" + u), u.c_str());
        QVERIFY(!fs::exists(d + "/.pqw-tmp"));
    }

    /// One writer per folder (case 5): a second lock on a held folder names the holder.
    void folderLockNamesHolder() {
        const std::string d = (tmp_.path() + QStringLiteral("/locked")).toStdString();
        fs::create_directories(d);
        {
            const pqw::FolderLock held(d, "extract features into it");
            const std::string msg = errorOf([&] { pqw::FolderLock again(d, "extract features into it"); });
            QVERIFY2(msg.find("locked: cannot extract features into it: the folder is in use by test_bad_inputs (pid " +
                              std::to_string(::getpid())) != std::string::npos,
                     msg.c_str());
        }
        const pqw::FolderLock free(d, "extract features into it");  // released with its owner
    }

    /// JSON nested deeper than 100 levels anywhere pqw reads JSON (case 4): one clear error,
    /// never a stack overflow (project view_state 70 000 deep, a meta.json with a deep
    /// unknown key, a sweep 30 000 deep; model.json and checkpoints are in the corpus).
    void deeplyNestedJsonEverywhere() {
        auto deep = [](int n) { return std::string(size_t(n), '[') + std::string(size_t(n), ']'); };
        const std::string proj = (tmp_.path() + QStringLiteral("/deep.pqwproj")).toStdString();
        std::ofstream(proj) << "{\"format\": \"protoquant-workbench-project\", \"version\": 1, \"view_state\": {\"a\": "
                            << deep(70000) << "}}";
        std::string msg = errorOf([&] { pqw::loadProject(proj); });
        QVERIFY2(msg.find("deep.pqwproj: nested more than 100 levels deep") != std::string::npos, msg.c_str());

        const std::string cache = (tmp_.path() + QStringLiteral("/fc_deep")).toStdString();
        corpus::writeSyntheticCache(cache);
        std::string meta = pqw::readFile(cache + "/meta.json");
        meta.insert(1, "\"unknown\": " + deep(70000) + ", ");
        std::ofstream(cache + "/meta.json") << meta;
        msg = errorOf([&] { pqw::FeatureCache::open(cache); });
        QVERIFY2(msg.find("meta.json: nested more than 100 levels deep") != std::string::npos, msg.c_str());

        msg = errorOf([&] { pqw::parseSweep("{\"grid\": {\"x\": " + deep(30000) + "}}", "deep_sweep.json"); });
        QVERIFY2(msg.find("deep_sweep.json: nested more than 100 levels deep") != std::string::npos, msg.c_str());

        // The bound itself: 100 levels parse, 101 do not; brackets inside strings do not count.
        QCOMPARE(pqw::jsonu::parse(deep(100), "x: ").size(), size_t(1));
        QVERIFY(errorOf([&] { pqw::jsonu::parse(deep(101), "x: "); }).find("nested more than 100") != std::string::npos);
        QCOMPARE(pqw::jsonu::nestingDepth("[\"[[[[\\\"[[\"]"), 1);
    }

    /// A JPEG whose frame header claims 65500 x 16000 pixels (4 KB on disk; decoding it took
    /// 6 GB): refused from the header (case 3).
    void jpegClaimingHugeSize() {
        const std::string path = (tmp_.path() + QStringLiteral("/huge.jpg")).toStdString();
        // SOI, SOF0 (8 bit, 16000 rows, 65500 columns, 3 components), padding, EOI.
        std::string j = "\xff\xd8\xff\xc0";
        const unsigned char sof[] = {0, 17, 8, 0x3e, 0x80, 0xff, 0xdc, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1};
        j.append(reinterpret_cast<const char*>(sof), sizeof sof);
        j += std::string(4000, '\0') + "\xff\xd9";
        std::ofstream(path, std::ios::binary) << j;
        const double before = vmHwmMiB();
        const std::string msg = errorOf([&] { pqw::loadImageFile(path); });
        QVERIFY2(msg.find("huge.jpg: cannot decode image: the header claims 65500 x 16000 pixels, more than the limit") !=
                     std::string::npos,
                 msg.c_str());
        QVERIFY(vmHwmMiB() - before < 64);
    }

    /// Quietly odd images (case 11): a JPEG cut after its first part decoded as grey and
    /// counted valid; the EXIF orientation was ignored (phone photos sideways).
    void truncatedJpegAndExifOrientation() {
        cv::Mat img(8, 16, CV_8UC3, cv::Scalar(0, 0, 255));  // 16 wide, 8 high, red (BGR)
        img(cv::Rect(0, 0, 8, 8)).setTo(cv::Scalar(255, 0, 0));  // left half blue
        std::vector<uchar> buf;
        QVERIFY(cv::imencode(".jpg", img, buf));
        const std::string dir = tmp_.path().toStdString();
        std::ofstream(dir + "/cut.jpg", std::ios::binary).write(reinterpret_cast<const char*>(buf.data()), long(buf.size() * 2 / 3));
        std::string msg = errorOf([&] { pqw::loadImageFile(dir + "/cut.jpg"); });
        QVERIFY2(msg.find("cut.jpg: cannot decode image: truncated JPEG") != std::string::npos, msg.c_str());
        // EXIF orientation 6 (rotate 90 degrees clockwise to display): an APP1 segment after SOI.
        const unsigned char exif[] = {0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                                      0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
        std::string rotated(reinterpret_cast<const char*>(buf.data()), 2);
        rotated.append(reinterpret_cast<const char*>(exif), sizeof exif);
        rotated.append(reinterpret_cast<const char*>(buf.data()) + 2, buf.size() - 2);
        std::ofstream(dir + "/phone.jpg", std::ios::binary) << rotated;
        const cv::Mat m = pqw::loadImageFile(dir + "/phone.jpg");
        QCOMPARE(m.cols, 8);  // upright: 8 wide, 16 high
        QCOMPARE(m.rows, 16);
        // Rotated clockwise, the blue left half is on top (RGB: blue is channel 2).
        QVERIFY2(m.at<cv::Vec3b>(2, 4)[2] > 200 && m.at<cv::Vec3b>(13, 4)[0] > 200, "orientation not applied");
    }

    /// One looping file symlink in a folder dataset is one skipped file, like a missing one;
    /// it rejected the whole dataset (case 11).
    void loopingSymlinkIsSkipped() {
        const std::string root = (tmp_.path() + QStringLiteral("/loopy")).toStdString();
        for (const char* c : {"a", "b"}) {
            fs::create_directories(root + "/" + c);
            fs::copy_file(corpus::Case::dir().toStdString() + "/images/one_pixel.png", root + "/" + c + "/x.png");
        }
        fs::create_symlink("loop.png", root + "/a/loop.png");
        pqw::DatasetSpec spec;
        spec.path = root;
        spec.valFraction = 0;
        pqw::Dataset ds;
        const std::string msg = errorOf([&] { ds = pqw::Dataset::open(spec); });
        QCOMPARE(QString::fromStdString(msg), QStringLiteral("<no error>"));
        QCOMPARE(ds.size(), size_t(2));
        QCOMPARE(ds.report().skipped, size_t(1));
        QVERIFY(ds.report().skippedExamples.at(0).find("loop.png: cannot read") != std::string::npos);
    }

    /// A gzip IDX file whose header claims 1.5 GB but whose data ends after ~107 MB: read in
    /// bounded chunks, so the error comes before 1.5 GB are allocated (case 3).
    void truncatedGzipReadInBoundedChunks() {
        const std::string dir = (tmp_.path() + QStringLiteral("/gz_claim")).toStdString();
        fs::create_directories(dir);
        const std::string images = dir + "/train-images-idx3-ubyte.gz";
        {
            gzFile g = gzopen(images.c_str(), "wb1");
            QVERIFY(g);
            const uint32_t n = 1913265;  // x 28 x 28 = 1.5e9 bytes claimed
            const unsigned char h[16] = {0, 0, 8, 3, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n), 0, 0, 0, 28, 0, 0, 0, 28};
            gzwrite(g, h, 16);
            std::vector<unsigned char> chunk(1 << 20, 0);
            for (int i = 0; i < 100; ++i) gzwrite(g, chunk.data(), unsigned(chunk.size()));
            std::mt19937 rng(1);  // incompressible bytes: the file must be big enough for its claim
            for (auto& c : chunk) c = uint8_t(rng());
            gzwrite(g, chunk.data(), unsigned(chunk.size()));
            gzwrite(g, chunk.data(), unsigned(chunk.size()));
            gzclose(g);
        }
        QCOMPARE(::truncate(images.c_str(), off_t(fs::file_size(images) - 64)), 0);  // cut the stream
        std::ofstream(dir + "/train-labels-idx1-ubyte", std::ios::binary).write("\0\0\x08\x01\0\0\0\0", 8);
        const double before = vmHwmMiB();
        pqw::DatasetSpec spec;
        spec.path = dir;
        const std::string msg = errorOf([&] { pqw::Dataset::open(spec); });
        QVERIFY2(msg.find("train-images-idx3-ubyte.gz: truncated: expected 1499999760 bytes") != std::string::npos, msg.c_str());
        QVERIFY2(vmHwmMiB() - before < 400, qPrintable(QString::number(vmHwmMiB() - before)));
    }

    /// NaN or Inf in cached features: refused when a cache is opened for training, before a
    /// NaN model can be trained and saved (case 6).
    void nonFiniteFeaturesRefusedForTraining() {
        const std::string d = (tmp_.path() + QStringLiteral("/fc_nan")).toStdString();
        corpus::writeSyntheticCache(d);
        {
            std::fstream f(d + "/features.f16", std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(2 * 80);
            f.write("\x00\x7e", 2);  // fp16 NaN in sample 1
        }
        const auto cache = pqw::FeatureCache::open(d);  // opening to read is fine
        std::string msg = errorOf([&] { pqw::requireFiniteFeatures(cache); });
        QVERIFY2(msg.find("features.f16: sample 1 holds NaN features") != std::string::npos, msg.c_str());
        auto m = pqw::ProtoModel::forCache(cache);
        pqw::JobContext ctx;
        msg = errorOf([&] { pqw::trainStage0(m, cache, pqw::Stage0Options{}, ctx); });
        QVERIFY2(msg.find("holds NaN features") != std::string::npos, msg.c_str());
    }

    /// Sizes and counts from files and sweeps are checked before anything is allocated or run
    /// (cases 3 and 7): a residual depth of 100000, a width of 100000, a batch of 0.
    void cnnAndSweepLimits() {
        pqw::CnnSpec spec;
        spec.arch = "resnet";
        spec.width = 100000;
        std::string msg = errorOf([&] { pqw::CnnModel::create(spec); });
        QVERIFY2(msg.find("the CNN's width must be between 1 and 1024, not 100000") != std::string::npos, msg.c_str());
        spec.width = 1024;
        msg = errorOf([&] { pqw::CnnModel::create(spec); });
        QVERIFY2(msg.find("limit is 200 million parameters") != std::string::npos, msg.c_str());
        const std::string base = R"({"model": {"arch": "resnet", "depth": DEPTH}, "fine_tune_defaults": {"batch": BATCH}})";
        auto sweep = [&](const char* depth, const char* batch) {
            std::string t = base;
            t.replace(t.find("DEPTH"), 5, depth);
            t.replace(t.find("BATCH"), 5, batch);
            return errorOf([&] { pqw::parseSweep(t, "s.json"); });
        };
        msg = sweep("100000", "64");
        QVERIFY2(msg.find("s.json: \"model.depth\" must be between 1 and 64, not 100000") != std::string::npos, msg.c_str());
        msg = sweep("2", "0");
        QVERIFY2(msg.find("s.json: \"fine_tune_defaults.batch\" must be between 1 and 65536, not 0") != std::string::npos,
                 msg.c_str());
        QCOMPARE(sweep("2", "64"), std::string("<no error>"));
    }

    /// --stages names known stages; substrings matched before ("10" ran 0 and 1, "3,x"
    /// trained nothing and saved a head with 0 prototypes) (case 9).
    void stagesAreAListOfNames() {
        for (const char* bad : {"3,x", "10", "", "0,,1", "1,1", "01"})
            QVERIFY2(errorOf([&] { pqw::parseTrainStages(bad); }).find("stage") != std::string::npos, bad);
        const auto st = pqw::parseTrainStages(" 0, 1b ,2");
        QVERIFY(st.stage0 && !st.stage1 && st.stage1b && st.stage2);
        QVERIFY2(errorOf([&] { pqw::parseTrainStages("3,x"); }).find("'3' is not a stage") != std::string::npos, "3");
    }

    /// A wrongly typed or missing meta.json field: one line naming the file and the key, not a
    /// library type error or undefined behaviour (case 10).
    void metaFieldTypes() {
        const std::string d = (tmp_.path() + QStringLiteral("/fc_types")).toStdString();
        corpus::writeSyntheticCache(d);
        std::string meta = pqw::readFile(d + "/meta.json");
        meta.replace(meta.find("\"classes\":[\"a\""), 14, "\"classes\":[7");
        std::ofstream(d + "/meta.json") << meta;
        std::string msg = errorOf([&] { pqw::FeatureCache::open(d); });
        QVERIFY2(msg.find("meta.json: \"classes\" must be a list of class names") != std::string::npos, msg.c_str());
        corpus::writeSyntheticCache(d);
        meta = pqw::readFile(d + "/meta.json");
        meta.replace(meta.find(",\"invalid\":[]"), 13, "");
        std::ofstream(d + "/meta.json") << meta;
        msg = errorOf([&] { pqw::FeatureCache::open(d); });
        QCOMPARE(QString::fromStdString(msg), QStringLiteral("<no error>"));  // absent: no invalid sample
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
