#include "plots.h"

#include "qcp.h"

#include "theme.h"

namespace pqwgui {

QCPBars* addThemedBars(QCustomPlot* plot, int series) {
    auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setWidth(0.7);
    auto recolour = [plot, bars, series] {
        bars->setBrush(Theme::instance()->series(series));
        bars->setPen(Qt::NoPen);
        plot->replot();
    };
    recolour();
    QObject::connect(Theme::instance(), &Theme::changed, plot, recolour);
    return bars;
}

QCustomPlot* makePlot(const QString& title, QWidget* parent) {
    auto* p = new QCustomPlot(parent);
    p->plotLayout()->insertRow(0);
    auto* t = new QCPTextElement(p, title, QFont(p->font().family(), p->font().pointSize() + 1, QFont::Bold));
    t->setObjectName(QStringLiteral("title"));
    t->setProperty("fullTitle", title);
    p->plotLayout()->addElement(0, 0, t);
    // A title wider than the plot is shortened with "..." (the whole one is the plot's
    // tooltip when it is shortened), never cut at both edges.
    QObject::connect(p, &QCustomPlot::beforeReplot, t, [p, t] {
        const QString full = t->property("fullTitle").toString();
        // Lay out for the current size first (QCustomPlot's own updateLayout runs only after
        // this signal): otherwise the column below was measured at the previous size and, right
        // after a resize, a long title was clipped instead of elided.
        p->plotLayout()->update(QCPLayoutElement::upPreparation);
        p->plotLayout()->update(QCPLayoutElement::upMargins);
        p->plotLayout()->update(QCPLayoutElement::upLayout);
        // The title's column (a colour scale may share the row's width), else the whole plot.
        const int column = p->axisRect() && p->axisRect()->outerRect().width() > 0 ? p->axisRect()->outerRect().width() : p->width();
        const QString shown = QFontMetrics(t->font()).elidedText(full, Qt::ElideRight, std::max(40, std::min(p->width(), column) - 12));
        if (shown != t->text()) t->setText(shown);
    });
    p->setMinimumHeight(160);
    p->setNoAntialiasingOnDrag(true);
    Theme::instance()->stylePlot(p);
    QObject::connect(Theme::instance(), &Theme::changed, p, [p] {
        Theme::instance()->stylePlot(p);
        p->replot();
    });
    return p;
}

void setPlotTitle(QCustomPlot* plot, const QString& title) {
    if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0))) {
        t->setProperty("fullTitle", title);
        t->setText(QFontMetrics(t->font()).elidedText(title, Qt::ElideRight, std::max(40, plot->width() - 12)));
    }
}

void placeLegendBelow(QCustomPlot* p, int wrap) {
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->take(p->legend);
    p->plotLayout()->addElement(2, 0, p->legend);
    p->legend->setWrap(wrap);
    p->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);  // re-flow items added before
    p->plotLayout()->setRowStretchFactor(2, 0.001);
    QObject::connect(p, &QCustomPlot::beforeReplot, p, [p] {
        const bool placed = p->plotLayout()->hasElement(2, 0) && p->plotLayout()->element(2, 0) == p->legend;
        if (p->legend->itemCount() == 0 && placed) {
            p->plotLayout()->take(p->legend);
            p->plotLayout()->simplify();
        } else if (p->legend->itemCount() > 0 && !placed) {
            p->plotLayout()->addElement(2, 0, p->legend);
            p->plotLayout()->setRowStretchFactor(2, 0.001);
        }
    });
}

void setBars(QCustomPlot* plot, QCPBars* bars, const QStringList& labels, const QVector<double>& values) {
    QVector<double> keys;
    for (int i = 0; i < values.size(); ++i) keys << i;
    bars->setData(keys, values, true);
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    if (labels.size() <= 40) {
        for (int i = 0; i < labels.size(); ++i) ticker->addTick(i, labels[i]);
        plot->xAxis->setTicker(ticker);
        plot->xAxis->setTickLabelRotation(labels.size() > 6 ? 40 : 0);
        // QCustomPlot drops a tick label that would cross the widget border: leave room on
        // the right for the last rotated label.
        plot->axisRect()->setMinimumMargins(QMargins(0, 0, labels.size() > 6 ? 48 : 0, 0));
    } else {
        plot->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        plot->xAxis->setTickLabelRotation(0);
    }
    plot->xAxis->setRange(-0.7, std::max<double>(values.size(), 1) - 0.3);
    double mx = 0;
    for (double v : values) mx = std::max(mx, v);
    plot->yAxis->setRange(0, mx > 0 ? mx * 1.08 : 1);
}

}  // namespace pqwgui
