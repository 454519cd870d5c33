#include "theme.h"

#include <QApplication>
#include <QPainter>
#include <QProxyStyle>
#include <QSettings>
#include <QStyleFactory>
#include <QStyleOption>

#include "qcp.h"

namespace pqwgui {

namespace {
/// Fusion outlines check boxes and radio buttons with a darker shade of the window colour: on a
/// dark window that is nearly black on nearly black, and an unchecked box was almost invisible.
/// On dark palettes this draws a light outline over Fusion's.
class OutlinedIndicators : public QProxyStyle {
public:
    using QProxyStyle::QProxyStyle;
    void drawPrimitive(PrimitiveElement pe, const QStyleOption* opt, QPainter* p, const QWidget* w) const override {
        QProxyStyle::drawPrimitive(pe, opt, p, w);
        if ((pe != PE_IndicatorCheckBox && pe != PE_IndicatorRadioButton) ||
            opt->palette.color(QPalette::Window).lightness() >= 128)
            return;
        p->save();
        p->setRenderHint(QPainter::Antialiasing, pe == PE_IndicatorRadioButton);
        QColor edge = opt->palette.color(QPalette::WindowText);
        edge.setAlpha(opt->state & State_Enabled ? 170 : 90);
        p->setPen(QPen(edge, 1));
        p->setBrush(Qt::NoBrush);
        const QRectF r = QRectF(opt->rect).adjusted(0.5, 0.5, -0.5, -0.5);
        if (pe == PE_IndicatorRadioButton) p->drawEllipse(r.adjusted(0.5, 0.5, -0.5, -0.5));
        else p->drawRoundedRect(r, 1.5, 1.5);
        p->restore();
    }
};
}  // namespace

Theme* Theme::instance() {
    static Theme* t = new Theme;
    return t;
}

Theme::Theme() : QObject(qApp) {}

void Theme::init() {
    systemPalette_ = QApplication::palette();
    const QString s = QSettings().value(QStringLiteral("ui/theme"), QStringLiteral("system")).toString();
    mode_ = s == QLatin1String("dark") ? Dark : s == QLatin1String("light") ? Light : System;
    apply();
}

void Theme::setMode(Mode m, bool persist) {
    mode_ = m;
    if (persist)
        QSettings().setValue(QStringLiteral("ui/theme"), m == Dark ? QStringLiteral("dark")
                                                     : m == Light ? QStringLiteral("light")
                                                                  : QStringLiteral("system"));
    apply();
}

static QPalette darkPalette() {
    QPalette p;
    const QColor window(0x2b, 0x2d, 0x30), base(0x1e, 0x1f, 0x22), text(0xdf, 0xe1, 0xe5), dis(0x80, 0x80, 0x80);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::ToolTipBase, base);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, dis);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, window);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, Qt::red);
    p.setColor(QPalette::Link, QColor(0x6c, 0xb6, 0xff));
    p.setColor(QPalette::Highlight, QColor(0x35, 0x74, 0xf0));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Mid, QColor(0x45, 0x47, 0x4b));
    for (auto r : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, r, dis);
    return p;
}

void Theme::apply() {
    const bool systemDark = systemPalette_.color(QPalette::Window).lightness() < 128;
    dark_ = mode_ == Dark || (mode_ == System && systemDark);
    QApplication::setStyle(new OutlinedIndicators(QStyleFactory::create(QStringLiteral("Fusion"))));
    if (mode_ == System)
        QApplication::setPalette(systemPalette_);
    else
        QApplication::setPalette(dark_ ? darkPalette() : QApplication::style()->standardPalette());
    Q_EMIT changed();
}

QColor Theme::series(int n) const {
    // Okabe-Ito, lightened on dark backgrounds.
    static const QColor light[] = {QColor(0x00, 0x72, 0xb2), QColor(0xd5, 0x5e, 0x00), QColor(0x00, 0x9e, 0x73),
                                   QColor(0xcc, 0x79, 0xa7), QColor(0xe6, 0x9f, 0x00), QColor(0x56, 0xb4, 0xe9)};
    QColor c = light[n % 6];
    return dark_ ? c.lighter(140) : c;
}
QColor Theme::text() const { return dark_ ? QColor(0xdf, 0xe1, 0xe5) : QColor(0x20, 0x20, 0x20); }
QColor Theme::grid() const { return dark_ ? QColor(0x48, 0x4a, 0x4f) : QColor(0xdd, 0xdd, 0xdd); }
QColor Theme::background() const { return dark_ ? QColor(0x1e, 0x1f, 0x22) : QColor(Qt::white); }

void Theme::stylePlot(QCustomPlot* plot) const {
    plot->setBackground(QBrush(background()));
    const QPen textPen(text());
    for (QCPAxis* ax : plot->axisRect()->axes()) {
        ax->setBasePen(textPen);
        ax->setTickPen(textPen);
        ax->setSubTickPen(textPen);
        ax->setTickLabelColor(text());
        ax->setLabelColor(text());
        ax->grid()->setPen(QPen(grid(), 1, Qt::DotLine));
        ax->grid()->setZeroLinePen(Qt::NoPen);
    }
    plot->legend->setBrush(QBrush(background()));
    plot->legend->setTextColor(text());
    plot->legend->setBorderPen(QPen(grid()));
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
        if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i))) t->setTextColor(text());
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto* t = qobject_cast<QCPItemText*>(plot->item(i))) t->setColor(text());
}

}  // namespace pqwgui
