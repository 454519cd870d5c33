#pragma once
// Exporting figures: every plot to PNG, SVG or PDF (by the file's suffix), every view to PNG.
// Files are written atomically (QSaveFile, or a temporary file renamed into place).
#include <QString>

class QCustomPlot;
class QWidget;

namespace pqwgui {

/// Writes the plot to path; the suffix (.png, .svg, .pdf) picks the format. width/height 0 =
/// the plot's current size. Returns an empty string on success, else a message naming the file.
QString exportPlot(QCustomPlot* plot, const QString& path, int width = 0, int height = 0);
/// Writes the widget as it is on screen to a PNG. Same return convention.
QString exportWidgetPng(QWidget* widget, const QString& path);
/// Gives every QCustomPlot under root (now and, when called again, new ones) a context menu
/// "Export plot as PNG / SVG / PDF...". Idempotent.
void installPlotExportMenus(QWidget* root);

}  // namespace pqwgui
