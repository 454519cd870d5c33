// Results of the official pruning benchmark (Hydra multirun folder with pruning_results.csv and
// .hydra/config.yaml per job) read by `pqw sweep-report`: a small fake folder of known numbers.
#include <QtTest/QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "benchmark_folder.h"
#include "cli_runner.h"
#include "pqw/error.h"
#include "pqw/pruning.h"
#include "pqw/pruning_benchmark.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace {

/// The shared fake folder (tests/benchmark_folder.h) in the temporary folder.
fs::path makeFolder() {
    return fixtures::writeBenchmarkFolder(fs::path(QDir::tempPath().toStdString()) / "pqw_test_pruning_benchmark");
}

void put(const fs::path& p, const std::string& text) { fixtures::putFile(p, text); }

}  // namespace

class TestPruningBenchmark : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void readsTheRowsAsRuns() {
        const fs::path d = makeFolder();
        QVERIFY(pqw::isPruningBenchmarkFolder(d.string()));
        const auto log = pqw::readPruningBenchmark(d.string());
        QCOMPARE(log.size(), size_t(2 * 7));  // run.done + prune.step per row
        const auto& e = log[2 * 4];  // job 0, repeat 2, iteration 2
        const auto& step = log[2 * 4 + 1];
        QCOMPARE(step.run, e.run);
        QCOMPARE(step.event.kind, std::string("prune.step"));
        QCOMPARE(step.event.value("step"), 3.0);  // the run's last step: a point on the curve
        QCOMPARE(step.event.value("sparsity_prunable"), 0.6);
        QCOMPARE(e.run, std::string("0/iter2/repeat2"));
        QCOMPARE(e.event.texts.at("strategy"), std::string("iterative"));
        QCOMPARE(e.event.texts.at("modality"), std::string("unstructured"));
        QCOMPARE(e.event.texts.at("fine_tune"), std::string("2 ep/step"));
        QCOMPARE(e.event.value("target"), 0.6);
        QCOMPARE(e.event.value("test_top1"), 0.84);
        QCOMPARE(e.event.value("total_epochs"), 4.0);
        QCOMPARE(e.event.value("steps"), 3.0);
    }

    void sweepReportPlotsThem() {
        const fs::path d = makeFolder();
        const auto r = fixtures::runPqw({"sweep-report", QString::fromStdString(d.string())});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (const char* f : {"acc_vs_sparsity.png", "acc_vs_sparsity.svg", "acc_vs_epochs.png", "summary.csv", "summary.md"})
            QVERIFY2(fs::exists(d / "report" / f), f);
        // The summary table: one row per iteration and repeat, with the numbers of the CSV.
        const std::string csv = pqw::readFile((d / "report" / "summary.csv").string());
        QVERIFY2(csv.find("0/iter3/repeat2,iterative,unstructured,global_l1_unstructured,2 ep/step,0.9,3") !=
                     std::string::npos, csv.c_str());
        QVERIFY2(csv.find("1/iter1/repeat1,one-shot,") != std::string::npos, csv.c_str());
        // Best strategy per target = the mean over repeats: at 90 % iterative (0.45) beats
        // one-shot (0.30); at 60 % only iterative (0.82).
        const std::string md = pqw::readFile((d / "report" / "summary.md").string());
        QVERIFY2(md.find("| unstructured | 2 ep/step | 0.9000 | iterative n3 | 0.4500 | 0.3000 |") != std::string::npos,
                 md.c_str());
        QVERIFY2(md.find("| unstructured | 2 ep/step | 0.6000 | iterative n3 | 0.8200 |") != std::string::npos, md.c_str());
        // The plotted points (SVG text has the series names).
        const std::string svg = pqw::readFile((d / "report" / "acc_vs_sparsity.svg").string());
        QVERIFY(svg.find("iterative n3, 2 ep/step") != std::string::npos);
    }

    void badCsvNamesFileAndLine() {
        const fs::path d = makeFolder();
        put(d / "1" / "pruning_results.csv", "pruned_precent,top1_accuracy,top5_accuracy,total_epoch,repeat\n90,abc,1,2,1\n");
        try {
            pqw::readPruningBenchmark(d.string());
            QFAIL("no error");
        } catch (const pqw::Error& e) {
            const std::string m = e.what();
            QVERIFY2(m == (d / "1" / "pruning_results.csv").string() + ":2: column top1_accuracy: 'abc' is not a number",
                     m.c_str());
        }
        put(d / "1" / "pruning_results.csv", "pruned,acc\n1,2\n");
        try {
            pqw::readPruningBenchmark(d.string());
            QFAIL("no error");
        } catch (const pqw::Error& e) {
            QVERIFY2(std::string(e.what()).find("no column 'pruned_precent'") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestPruningBenchmark)
#include "test_pruning_benchmark.moc"
