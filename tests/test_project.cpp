// Project files: round trip, relative paths, version and validation errors.
#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

#include "pqw/error.h"
#include "pqw/project.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace {
pqw::Project sample(const std::string& dir) {
    pqw::Project p;
    p.name = "shoes";
    p.hasDataset = true;
    p.dataset.kind = "folder";
    p.dataset.path = dir + "/data/images";
    p.dataset.valFraction = 0.2;
    p.dataset.seed = 7;
    p.dataset.maxTrain = 500;
    p.dataset.maxTest = 100;
    p.hasBackbone = true;
    p.backbone.kind = "tfjs";
    p.backbone.path = "/opt/models/mobilenet";  // outside the project folder: kept absolute
    p.backbone.cutLayer = "block_6_project_BN";
    p.inputSize = 96;
    p.cacheDir = dir + "/cache";
    p.heads = {dir + "/heads/a.pqwh", dir + "/heads/b.pqwh"};
    p.activeHead = 1;
    p.sweeps = {dir + "/sweeps/s1"};
    pqw::ProjectExplanation e;
    e.sample = 42;
    e.method = "ig";
    e.target = 3;
    e.contrast = 5;
    p.explanations.push_back(e);
    pqw::ProjectExplanation f;
    f.image = dir + "/shoe.png";
    p.explanations.push_back(f);
    p.viewState = R"({"explain":{"alpha":0.5},"dataset":{"class":2}})";
    return p;
}

std::string errorOf(const std::string& text) {
    try {
        pqw::parseProject(text, "p.pqwproj", "/base");
    } catch (const pqw::Error& e) {
        return e.what();
    }
    return {};
}
}  // namespace

class TestProject : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip() {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        const pqw::Project p = sample(dir);
        pqw::saveProject(p, dir + "/x.pqwproj");
        const pqw::Project q = pqw::loadProject(dir + "/x.pqwproj");
        QCOMPARE(q.name, p.name);
        QVERIFY(q.hasDataset && q.hasBackbone);
        QCOMPARE(q.dataset.kind, p.dataset.kind);
        QCOMPARE(q.dataset.path, p.dataset.path);
        QCOMPARE(q.dataset.valFraction, 0.2);
        QCOMPARE(q.dataset.seed, uint64_t(7));
        QCOMPARE(q.dataset.maxTrain, size_t(500));
        QCOMPARE(q.dataset.maxTest, size_t(100));
        QCOMPARE(q.backbone.kind, p.backbone.kind);
        QCOMPARE(q.backbone.path, p.backbone.path);
        QCOMPARE(q.backbone.cutLayer, p.backbone.cutLayer);
        QCOMPARE(q.inputSize, 96);
        QCOMPARE(q.cacheDir, p.cacheDir);
        QCOMPARE(q.heads, p.heads);
        QCOMPARE(q.activeHead, 1);
        QCOMPARE(q.activeHeadPath(), dir + "/heads/b.pqwh");
        QCOMPARE(q.sweeps, p.sweeps);
        QCOMPARE(q.explanations.size(), size_t(2));
        QCOMPARE(q.explanations[0].sample, 42LL);
        QCOMPARE(q.explanations[0].method, std::string("ig"));
        QCOMPARE(q.explanations[0].target, 3);
        QCOMPARE(q.explanations[0].contrast, 5);
        QCOMPARE(q.explanations[1].image, dir + "/shoe.png");
        QCOMPARE(q.explanations[1].target, -1);
        QCOMPARE(QJsonDocument::fromJson(QByteArray::fromStdString(q.viewState)),
                 QJsonDocument::fromJson(QByteArray::fromStdString(p.viewState)));
        // Saving what was loaded gives the same bytes.
        QCOMPARE(pqw::projectJson(q, dir), pqw::projectJson(p, dir));
    }

    void pathsInsideTheFolderMoveWithIt() {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        fs::create_directories(dir + "/a");
        pqw::saveProject(sample(dir + "/a"), dir + "/a/x.pqwproj");
        const std::string text = pqw::readFile(dir + "/a/x.pqwproj");
        QVERIFY(text.find("\"./cache\"") != std::string::npos);
        QVERIFY(text.find("\"/opt/models/mobilenet\"") != std::string::npos);
        fs::rename(dir + "/a", dir + "/b");
        const pqw::Project q = pqw::loadProject(dir + "/b/x.pqwproj");
        QCOMPARE(q.cacheDir, dir + "/b/cache");
        QCOMPARE(q.heads[0], dir + "/b/heads/a.pqwh");
        QCOMPARE(q.backbone.path, std::string("/opt/models/mobilenet"));
    }

    void builtinDatasetNameKept() {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        pqw::Project p;
        p.hasDataset = true;
        p.dataset.path = "fashion-mnist";
        pqw::saveProject(p, dir + "/x.pqwproj");
        const pqw::Project q = pqw::loadProject(dir + "/x.pqwproj");
        QCOMPARE(q.dataset.path, std::string("fashion-mnist"));
        QVERIFY(!q.hasBackbone);
        QCOMPARE(q.activeHead, -1);
        QCOMPARE(q.viewState, std::string("{}"));
    }

    void errors_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        const QString head = QStringLiteral(R"({"format":"protoquant-workbench-project","version":1,)");
        QTest::newRow("not json") << "{nope" << "p.pqwproj: not valid JSON";
        QTest::newRow("array") << "[1,2]" << "p.pqwproj: not a project file";
        QTest::newRow("wrong format") << R"({"format":"x","version":1})" << "p.pqwproj: not a project file (\"format\"";
        QTest::newRow("format object") << R"({"format":{"a":1},"version":1})" << "p.pqwproj: not a project file (\"format\"";
        QTest::newRow("newer") << R"({"format":"protoquant-workbench-project","version":9})"
                               << "p.pqwproj: made by a newer ProtoQuant Workbench (project version 9; this build reads up to version 1)";
        QTest::newRow("version string") << R"({"format":"protoquant-workbench-project","version":"1"})"
                                        << "p.pqwproj: \"version\" must be an integer, not \"1\"";
        QTest::newRow("heads not list") << head + R"("heads":"a.pqwh"})" << "p.pqwproj: \"heads\" must be a list of paths";
        QTest::newRow("active out of range") << head + R"("heads":["a"],"active_head":3})"
                                             << "p.pqwproj: \"active_head\" is 3 but the project lists 1 head(s)";
        QTest::newRow("bad backbone") << head + R"("backbone":{"kind":"onnx"}})"
                                      << "p.pqwproj: \"backbone.kind\" must be default, tfjs, torchscript or pth, not \"onnx\"";
        QTest::newRow("val fraction") << head + R"("dataset":{"path":"mnist","val_fraction":1.5}})"
                                      << "p.pqwproj: \"dataset.val_fraction\" must be in [0, 1)";
        QTest::newRow("negative max") << head + R"("dataset":{"path":"mnist","max_train":-4}})"
                                      << "p.pqwproj: \"dataset.max_train\" must be a non-negative integer, not -4";
        QTest::newRow("explanation") << head + R"("explanations":[{"method":"ig"}]})"
                                     << "p.pqwproj: \"explanations[0].\" needs an image path or a sample index";
        QTest::newRow("view state") << head + R"("view_state":[1]})" << "p.pqwproj: \"view_state\" must be an object";
        QTest::newRow("input size") << head + R"("input_size":3})" << "p.pqwproj: \"input_size\" must be between 16 and 4096";
    }
    void errors() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        const QString got = QString::fromStdString(errorOf(text.toStdString()));
        QVERIFY2(got.startsWith(expected), qPrintable(got));
    }

    void missingFileNamed() {
        try {
            pqw::loadProject("/nonexistent/x.pqwproj");
            QFAIL("no error");
        } catch (const pqw::Error& e) {
            QVERIFY2(std::string(e.what()).find("/nonexistent/x.pqwproj") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestProject)
#include "test_project.moc"
