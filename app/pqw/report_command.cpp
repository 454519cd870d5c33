// `pqw report PROJECT --out DIR`: the project report (HTML + figures, and a PDF of the same
// page), exactly what the workbench's File > Export report writes.
#include <QFileInfo>
#include <QGuiApplication>

#include <iostream>
#include <memory>

#include "commands.h"
#include "common.h"
#include "pqw/error.h"
#include "pqw/project.h"
#include "pqw/report.h"
#include "pqw/util.h"
#include "reportpdf.h"
#include "terminal.h"

namespace pqwcli {

namespace {
struct ReportArgs {
    std::string project, out;
    bool noPdf = false, noEval = false;
    int threads = 0;
    pqw::ReportOptions opt;
};

void runReport(const ReportArgs& a) {
    pqw::initTorchThreads(a.threads);
    const pqw::Project p = pqw::loadProject(a.project);
    const auto res = withJob([&](pqw::JobContext& ctx) {
        Progress bar("report");
        ctx.setProgressHandler([&](double f, const std::string& m) { bar.update(f, m); });
        pqw::ReportOptions o = a.opt;
        o.evaluate = !a.noEval;
        auto r = pqw::writeReport(p, a.out, o, ctx);
        bar.finish();
        return r;
    });
    std::cout << "report: " << res.htmlPath << "\n";
    if (!a.noPdf) {
        // The PDF is laid out by Qt's text engine; no display is needed.
        if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
        int argc = 1;
        char arg0[] = "pqw";
        char* argv[] = {arg0, nullptr};
        QGuiApplication app(argc, argv);
        const QString pdf = QString::fromStdString(a.out + "/report.pdf");
        const QString err = pqwreport::writeReportPdf(QString::fromStdString(res.htmlPath), pdf,
                                                      QString::fromStdString(p.name.empty() ? "ProtoQuant Workbench report" : p.name));
        if (!err.isEmpty()) throw pqw::Error(err.toStdString());
        std::cout << "pdf: " << pdf.toStdString() << "\n";
    }
    std::cout << res.files.size() << " files written";
    if (!res.warnings.empty()) std::cout << "; " << res.warnings.size() << " section(s) could not be made:";
    std::cout << "\n";
    for (const auto& w : res.warnings) std::cout << "  " << w << "\n";
    // An incomplete report is not a success (a full disk, an unreadable head): exit 1 so a
    // script notices, with the first reason on stderr.
    if (!res.warnings.empty()) {
        std::cerr << "pqw: the report in " << a.out << " is incomplete: " << res.warnings.size()
                  << " section(s) could not be made (first: " << res.warnings.front() << ")\n";
        g_exit = 1;
    }
}
}  // namespace

void registerReportCommand(CLI::App& app) {
    auto a = std::make_shared<ReportArgs>();
    auto* c = app.add_subcommand("report", "Write a project's report: HTML with its figures, and a PDF of the same page");
    c->add_option("project", a->project, "Project file (.pqwproj, saved by the workbench)")->required()->check(CLI::ExistingFile);
    c->add_option("--out,-o", a->out, "Output folder (report.html, report.pdf, assets/)")->required();
    c->add_option("--prototypes", a->opt.prototypes, "Prototypes in the gallery (largest class weight first)")->capture_default_str();
    c->add_option("--patches", a->opt.patches, "Training patches per prototype")->capture_default_str();
    c->add_option("--explanations", a->opt.maxExplanations, "At most this many chosen explanations")->capture_default_str();
    c->add_flag("--no-pdf", a->noPdf, "Write the HTML only");
    c->add_flag("--no-eval", a->noEval, "Do not evaluate the heads on the test split");
    c->add_option("--threads", a->threads, "Torch threads (0 = all cores)")->capture_default_str();
    c->callback([a] { runReport(*a); });
}

}  // namespace pqwcli
