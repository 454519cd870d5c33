#pragma once
// Small QCustomPlot helpers shared by the views.
#include <QStringList>
#include <QVector>

class QCustomPlot;
class QWidget;
class QCPBars;

namespace pqwgui {

/// A plot that follows the theme (colours re-applied on Theme::changed) with a title.
QCustomPlot* makePlot(const QString& title, QWidget* parent = nullptr);
/// Adds a bar series to plot, filled with the theme's series colour `series` and recoloured
/// (and replotted) whenever the theme changes.
QCPBars* addThemedBars(QCustomPlot* plot, int series);
/// Sets the plot's title text.
void setPlotTitle(QCustomPlot* plot, const QString& title);
/// Moves the plot's legend below the axes (row 2, filled column by column, `wrap` entries per
/// row). The legend is in the layout only while it has entries: an empty QCPLegend's maximum
/// width is its margins and, sharing the axes' column, squeezed the axes into a strip.
void placeLegendBelow(QCustomPlot* plot, int wrap);
/// Fills a bar chart with one bar per label (text ticks on x, rotated when many).
void setBars(QCustomPlot* plot, QCPBars* bars, const QStringList& labels, const QVector<double>& values);

}  // namespace pqwgui
