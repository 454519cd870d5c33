// The sweep rules the window and pqw share, each once in core (issue 16): the defaults of a
// sweep description (pqw::sweepDefaults, what parseSweep fills in), the folder compatibility
// check (pqw::sweepFolderConflicts: dataset, model, model_path and features), and the
// finished-run filter (pqw::finishedRunEntries, with the fine-tuning epochs a run plot needs).
// Each case is one the window's old copies got wrong or could drift from. Torch-free.
#include <QtTest/QtTest>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "pqw/error.h"
#include "pqw/sweep.h"
#include "pqw/sweep_log.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace {

pqw::SweepLogEntry entry(const char* run, int attempt, const char* kind) {
    pqw::SweepLogEntry e;
    e.run = run;
    e.attempt = attempt;
    e.event.kind = kind;
    return e;
}

}  // namespace

class TestSweepRules : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void defaultsAreParseSweeps() {
        // An empty description is one run made of the defaults alone.
        const auto& d = pqw::sweepDefaults();
        const auto s = pqw::parseSweep(R"({"grid": {}})", "empty");
        QCOMPARE(s.dataset.path, d.dataset.path);
        QCOMPARE(s.dataset.path, std::string("fashion-mnist"));
        QCOMPARE(s.dataset.kind, d.dataset.kind);
        QCOMPARE(s.dataset.valFraction, d.dataset.valFraction);
        QCOMPARE(s.dataset.maxTrain, d.dataset.maxTrain);
        QCOMPARE(s.model.arch, d.model.arch);
        QCOMPARE(s.model.width, d.model.width);
        QCOMPARE(s.model.depth, d.model.depth);
        QCOMPARE(s.pretrain.epochs, d.pretrain.epochs);
        QCOMPARE(s.pretrain.lr, d.pretrain.lr);
        QCOMPARE(s.pretrain.batch, d.pretrain.batch);
        QCOMPARE(int(s.runs.size()), 1);
        const auto& o = s.runs[0].options;
        QCOMPARE(int(o.strategy), int(d.run.strategy));
        QCOMPARE(o.target, d.run.target);
        QCOMPARE(o.steps, d.run.steps);
        QCOMPARE(o.firstStep, d.run.firstStep);
        QCOMPARE(int(o.modality), int(d.run.modality));
        QCOMPARE(int(o.criterion), int(d.run.criterion));
        QCOMPARE(o.seed, d.run.seed);
        QCOMPARE(o.fineTune.epochs, d.run.fineTune.epochs);
        QCOMPARE(o.fineTune.patience, d.run.fineTune.patience);
        QCOMPARE(o.fineTune.lr, d.run.fineTune.lr);
        QCOMPARE(o.fineTune.batch, d.run.fineTune.batch);
        QCOMPARE(o.latencyReps, d.run.latencyReps);
        QCOMPARE(o.evaluateTest, d.run.evaluateTest);
        // Spelling the defaults out makes the same run (same id): a designer that leaves keys
        // equal to the defaults out writes a description that resumes the same folder.
        nlohmann::json j;
        j["dataset"] = {{"path", d.dataset.path}, {"val", d.dataset.valFraction}};
        j["model"] = {{"arch", d.model.arch}, {"width", d.model.width}};
        j["grid"]["strategy"] = nlohmann::json::array({pqw::strategyName(d.run.strategy)});
        j["grid"]["target"] = nlohmann::json::array({d.run.target});
        j["grid"]["fine_tune"] = nlohmann::json::array({nlohmann::json{{"epochs", d.run.fineTune.epochs}}});
        const std::string spelled = j.dump();
        QCOMPARE(pqw::parseSweep(spelled, "spelled").runs[0].id, s.runs[0].id);
    }

    void folderConflicts() {
        const std::string dir = tmp_.path().toStdString() + "/conflicts";
        const char* base = R"({"dataset": {"path": "mnist"}, "model": {"width": 4}, "grid": {"target": [0.5]}})";
        QVERIFY(!pqw::sweepFolderConflicts(pqw::parseSweep(base), dir));  // no folder yet
        pqw::writeSweepSpec(pqw::parseSweep(base), dir);
        // The grid may grow.
        const auto grown = pqw::parseSweep(R"({"dataset": {"path": "mnist"}, "model": {"width": 4},
                                               "grid": {"target": [0.5, 0.9]}})");
        QVERIFY(!pqw::sweepFolderConflicts(grown, dir));
        pqw::writeSweepSpec(grown, dir);
        // Another dataset, model or model file cannot continue it.
        for (const char* other : {R"({"dataset": {"path": "fashion-mnist"}, "model": {"width": 4}})",
                                  R"({"dataset": {"path": "mnist"}, "model": {"width": 8}})",
                                  R"({"dataset": {"path": "mnist"}, "model": {"width": 4}, "model_path": "m.pqwcnn"})"}) {
            QVERIFY2(pqw::sweepFolderConflicts(pqw::parseSweep(other), dir), other);
            QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::writeSweepSpec(pqw::parseSweep(other), dir));
        }
        // Another feature cache neither: the key the window's own copy of this check left out.
        const std::string fdir = tmp_.path().toStdString() + "/features";
        const char* feat = R"({"features": "/caches/a", "model": {"kind": "feature-head"}})";
        pqw::writeSweepSpec(pqw::parseSweep(feat), fdir);
        QVERIFY(!pqw::sweepFolderConflicts(pqw::parseSweep(feat), fdir));
        const auto otherCache = pqw::parseSweep(R"({"features": "/caches/b", "model": {"kind": "feature-head"}})");
        QVERIFY(pqw::sweepFolderConflicts(otherCache, fdir));
        QVERIFY_THROWS_EXCEPTION(pqw::Error, pqw::writeSweepSpec(otherCache, fdir));
        // An unreadable sweep.json is no conflict (it is rewritten).
        pqw::writeFileAtomic(fdir + "/sweep.json", "{not json");
        QVERIFY(!pqw::sweepFolderConflicts(otherCache, fdir));
    }

    void finishedRunsKeepTheirEpochs() {
        // Run a: attempt 1 stopped, attempt 2 finished. Run b: never finished.
        const std::vector<pqw::SweepLogEntry> log = {
            entry("a", 1, "run.start"),  entry("a", 1, "prune.step"), entry("a", 1, "prune.epoch"),
            entry("b", 1, "run.start"),  entry("b", 1, "prune.step"), entry("b", 1, "prune.epoch"),
            entry("a", 2, "run.start"),  entry("a", 2, "prune.step"), entry("a", 2, "prune.epoch"),
            entry("a", 2, "prune.epoch"), entry("a", 2, "prune.step"), entry("a", 2, "run.done")};
        auto kinds = [](const std::vector<pqw::SweepLogEntry>& v) {
            QStringList k;
            for (const auto& e : v) k << QString::fromStdString(e.run + "/" + std::to_string(e.attempt) + " " + e.event.kind);
            return k;
        };
        // The summary's view: steps and the end of the finished attempt.
        QCOMPARE(kinds(pqw::finishedRunEntries(log)),
                 QStringList({"a/2 prune.step", "a/2 prune.step", "a/2 run.done"}));
        // A run plot's view: the fine-tuning epochs too (what the window rewrote on its own).
        QCOMPARE(kinds(pqw::finishedRunEntries(log, true)),
                 QStringList({"a/2 prune.step", "a/2 prune.epoch", "a/2 prune.epoch", "a/2 prune.step", "a/2 run.done"}));
    }
};

QTEST_GUILESS_MAIN(TestSweepRules)
#include "test_sweep_rules.moc"
