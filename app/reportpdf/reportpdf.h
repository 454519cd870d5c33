#pragma once
// Renders the report's HTML (pqw::writeReport) to PDF with Qt's text layout (QTextDocument)
// and QPdfWriter: used by `pqw report` and the workbench's "Export report". Needs a
// QGuiApplication (the offscreen platform is enough). Written atomically (QSaveFile).
#include <QString>

namespace pqwreport {

/// Writes pdfPath from the HTML file (images resolved relative to its folder). Returns an
/// empty string on success, else a message naming the file and what went wrong.
QString writeReportPdf(const QString& htmlPath, const QString& pdfPath, const QString& title);

}  // namespace pqwreport
