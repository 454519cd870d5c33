#include "reportpdf.h"

#include <QFile>
#include <QFileInfo>
#include <QPageLayout>
#include <QPageSize>
#include <QAbstractTextDocumentLayout>
#include <QPainter>
#include <QPdfWriter>
#include <QSaveFile>
#include <QTextDocument>
#include <QUrl>

#include "pqw/error.h"
#include "pqw/util.h"
#include "pqw/output.h"

namespace pqwreport {

QString writeReportPdf(const QString& htmlPath, const QString& pdfPath, const QString& title) {
    QFile in(htmlPath);
    if (!in.open(QIODevice::ReadOnly)) return QStringLiteral("%1: cannot read (%2)").arg(htmlPath, in.errorString());
    const QString html = QString::fromUtf8(in.readAll());
    QTextDocument doc;
    // Relative <img src> resolve against the report's folder.
    doc.setBaseUrl(QUrl::fromLocalFile(QFileInfo(htmlPath).absolutePath() + QLatin1Char('/')));
    QFile css(QStringLiteral(":/report/report.css"));  // resources/report/report.css
    if (css.open(QIODevice::ReadOnly)) doc.setDefaultStyleSheet(QString::fromUtf8(css.readAll()));
    doc.setHtml(html);

    try {
        pqw::checkReplaceable(pdfPath.toStdString());  // never a device, FIFO or folder
    } catch (const pqw::Error& e) {
        return QString::fromStdString(e.what());
    }
    QSaveFile out(pdfPath);
    if (!out.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write (%2)").arg(pdfPath, out.errorString());
    {
        QPdfWriter pdf(&out);
        pdf.setTitle(title);
        pdf.setCreator(QStringLiteral("ProtoQuant Workbench"));
        pdf.setPageLayout(QPageLayout(QPageSize(QPageSize::A4), QPageLayout::Portrait, QMarginsF(15, 15, 15, 15),
                                      QPageLayout::Millimeter));
        pdf.setResolution(110);  // the document's pixel figures print at a readable size
        // Laid out for the PDF's resolution and page, then drawn page by page (QTextDocument::
        // print() produced an empty page for some paginations of image-heavy pages).
        doc.documentLayout()->setPaintDevice(&pdf);
        const QRectF page = pdf.pageLayout().paintRectPixels(pdf.resolution());
        doc.setPageSize(page.size());
        const int pages = doc.pageCount();
        QPainter painter;
        if (!painter.begin(&pdf)) return QStringLiteral("%1: cannot start the PDF").arg(pdfPath);
        for (int i = 0; i < pages; ++i) {
            if (i > 0) pdf.newPage();
            painter.save();
            painter.translate(0, -i * page.height());
            doc.drawContents(&painter, QRectF(0, i * page.height(), page.width(), page.height()));
            painter.restore();
        }
        painter.end();
    }
    if (!out.commit()) return QStringLiteral("%1: cannot write (%2)").arg(pdfPath, out.errorString());
    return {};
}

}  // namespace pqwreport
