#pragma once
// The project report: one HTML page (plus its PNG/SVG figures in assets/) with the dataset
// summary, the backbone and feature cache, each head's training curves and evaluation, the
// prototype gallery of the active head, the explanations the user chose, and every sweep's
// plots and table. Made headlessly (`pqw report`) and from the GUI; the PDF is rendered from
// the same HTML by the Qt layer (report_pdf in app/, see docs/gui.md).
#include <string>
#include <vector>

#include "pqw/job.h"
#include "pqw/project.h"

namespace pqw {

struct ReportOptions {
    int prototypes = 16;     ///< gallery: the prototypes with the largest class weight shown
    int patches = 6;         ///< gallery: training patches per prototype
    int maxExplanations = 12;
    bool evaluate = true;    ///< evaluate each head on the test split of the cache
};

struct ReportResult {
    std::string htmlPath;              ///< OUT/report.html
    std::vector<std::string> files;    ///< every file written (html and assets)
    /// Sections that could not be made, each with the reason (also shown in the HTML).
    std::vector<std::string> warnings;
};

/// Writes OUT/report.html and OUT/assets/. A part the project lacks (no head, no sweep) is
/// left out; a part that fails (a missing checkpoint, a moved cache) is reported in the page
/// and in warnings, and the rest is still written. Throws pqw::Error only when OUT cannot be
/// written; pqw::Cancelled when cancelled.
ReportResult writeReport(const Project& p, const std::string& outDir, const ReportOptions& o, JobContext& ctx);

}  // namespace pqw
