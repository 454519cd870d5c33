#include "filedialogs.h"
#include "export.h"

#include <QApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSaveFile>
#include <QSvgGenerator>
#include <QTemporaryFile>

#include <cstdio>

#include "pqw/error.h"
#include "pqw/util.h"
#include "pqw/output.h"
#include "qcp.h"

namespace pqwgui {

namespace {
const char* kMenuInstalled = "pqwExportMenu";

/// The shared output rule (pqw::checkReplaceable): empty when path may be written.
QString refusedOutput(const QString& path) {
    try {
        pqw::checkReplaceable(path.toStdString());
    } catch (const pqw::Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

QString titleOf(QCustomPlot* plot) {
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
        if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i)))
            if (const QString full = t->property("fullTitle").toString(); !full.isEmpty()) return full;  // not the shortened one
            else if (!t->text().isEmpty()) return t->text();
    return plot->objectName().isEmpty() ? QStringLiteral("plot") : plot->objectName();
}

QString fileStem(const QString& title) {
    QString s;
    for (QChar c : title.toLower()) s += c.isLetterOrNumber() ? c : QLatin1Char('-');
    while (s.contains(QStringLiteral("--"))) s.replace(QStringLiteral("--"), QStringLiteral("-"));
    s = s.section(QLatin1Char('-'), 0, -1, QString::SectionSkipEmpty);
    return s.isEmpty() ? QStringLiteral("plot") : s;
}
}  // namespace

QString exportPlot(QCustomPlot* plot, const QString& path, int width, int height) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    const int w = width > 0 ? width : plot->width(), h = height > 0 ? height : plot->height();
    if (w <= 0 || h <= 0) return QStringLiteral("%1: the plot has no size to export").arg(path);
    if (QString why = refusedOutput(path); !why.isEmpty()) return why;
    if (suffix == QLatin1String("png")) {
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write (%2)").arg(path, f.errorString());
        const QPixmap px = plot->toPixmap(w, h, 2.0);
        if (px.isNull() || !px.save(&f, "PNG") || !f.commit()) return QStringLiteral("%1: cannot write the PNG (%2)").arg(path, f.errorString());
        return {};
    }
    if (suffix == QLatin1String("svg")) {
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write (%2)").arg(path, f.errorString());
        {
            QSvgGenerator gen;
            gen.setOutputDevice(&f);
            gen.setSize(QSize(w, h));
            gen.setViewBox(QRect(0, 0, w, h));
            gen.setTitle(titleOf(plot));
            gen.setDescription(QStringLiteral("ProtoQuant Workbench"));
            QCPPainter painter;
            if (!painter.begin(&gen)) return QStringLiteral("%1: cannot start the SVG").arg(path);
            plot->toPainter(&painter, w, h);
            painter.end();
        }
        if (!f.commit()) return QStringLiteral("%1: cannot write the SVG (%2)").arg(path, f.errorString());
        return {};
    }
    if (suffix == QLatin1String("pdf")) {
        // QCustomPlot writes the PDF itself: into a temporary file beside the target, renamed over it.
        const QFileInfo fi(path);
        QTemporaryFile tmp(fi.absolutePath() + QStringLiteral("/.%1.XXXXXX.pdf").arg(fi.completeBaseName()));
        if (!tmp.open()) return QStringLiteral("%1: cannot write (%2)").arg(path, tmp.errorString());
        tmp.close();
        if (!plot->savePdf(tmp.fileName(), w, h, QCP::epNoCosmetic, QStringLiteral("ProtoQuant Workbench"), titleOf(plot)))
            return QStringLiteral("%1: cannot write the PDF").arg(path);
        if (std::rename(QFile::encodeName(tmp.fileName()).constData(), QFile::encodeName(path).constData()) != 0)
            return QStringLiteral("%1: cannot move the PDF into place").arg(path);
        tmp.setAutoRemove(false);
        return {};
    }
    return QStringLiteral("%1: unknown format \"%2\" (use .png, .svg or .pdf)").arg(path, suffix);
}

QString exportWidgetPng(QWidget* widget, const QString& path) {
    if (QString why = refusedOutput(path); !why.isEmpty()) return why;
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write (%2)").arg(path, f.errorString());
    const QPixmap px = widget->grab();
    if (px.isNull() || !px.save(&f, "PNG") || !f.commit()) return QStringLiteral("%1: cannot write the PNG").arg(path);
    return {};
}

void installPlotExportMenus(QWidget* root) {
    for (QCustomPlot* plot : root->findChildren<QCustomPlot*>()) {
        if (plot->property(kMenuInstalled).toBool()) continue;
        plot->setProperty(kMenuInstalled, true);
        plot->setContextMenuPolicy(Qt::CustomContextMenu);
        QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot](const QPoint& at) {
            QMenu menu(plot);
            const QString stem = fileStem(titleOf(plot));
            for (const auto& [label, suffix] : {std::pair{QObject::tr("Export plot as PNG..."), QStringLiteral("png")},
                                                std::pair{QObject::tr("Export plot as SVG..."), QStringLiteral("svg")},
                                                std::pair{QObject::tr("Export plot as PDF..."), QStringLiteral("pdf")}}) {
                QObject::connect(menu.addAction(label), &QAction::triggered, plot, [plot, stem, suffix = suffix] {
                    const QString path = saveFileDialog(plot, QObject::tr("Export plot"), stem + QLatin1Char('.') + suffix,
                                                         QStringLiteral("*.%1").arg(suffix));
                    if (path.isEmpty()) return;
                    const QString err = exportPlot(plot, path);
                    if (!err.isEmpty()) QMessageBox::warning(plot, QObject::tr("Export plot"), err);
                });
            }
            menu.exec(plot->mapToGlobal(at));
        });
    }
}

}  // namespace pqwgui
