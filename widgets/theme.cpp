#include "theme.h"

#include <QApplication>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
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

namespace {
/// One theme file of resources/themes/ (compiled in: a missing or malformed one is a build
/// mistake, caught by test_resources, so here it only falls back to Fusion's palette).
QJsonObject themeFile(bool dark) {
    QFile f(dark ? QStringLiteral(":/themes/dark.json") : QStringLiteral(":/themes/light.json"));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

const std::pair<const char*, QPalette::ColorRole> kRoles[] = {
    {"Window", QPalette::Window},         {"WindowText", QPalette::WindowText},
    {"Base", QPalette::Base},             {"AlternateBase", QPalette::AlternateBase},
    {"ToolTipBase", QPalette::ToolTipBase}, {"ToolTipText", QPalette::ToolTipText},
    {"PlaceholderText", QPalette::PlaceholderText}, {"Text", QPalette::Text},
    {"Button", QPalette::Button},         {"ButtonText", QPalette::ButtonText},
    {"BrightText", QPalette::BrightText}, {"Link", QPalette::Link},
    {"Highlight", QPalette::Highlight},   {"HighlightedText", QPalette::HighlightedText},
    {"Mid", QPalette::Mid},
};

/// Fusion's standard palette with the file's "palette" roles (all groups) and "disabled" roles.
QPalette paletteOf(const QJsonObject& theme, const QPalette& base) {
    QPalette p = base;
    const QJsonObject all = theme.value(QStringLiteral("palette")).toObject();
    const QJsonObject dis = theme.value(QStringLiteral("disabled")).toObject();
    for (const auto& [name, role] : kRoles) {
        const QString key = QString::fromLatin1(name);
        if (all.contains(key)) p.setColor(role, QColor(all.value(key).toString()));
        if (dis.contains(key)) p.setColor(QPalette::Disabled, role, QColor(dis.value(key).toString()));
    }
    return p;
}

QColor colourAt(const QJsonObject& theme, const char* group, const char* key, const QColor& fallback) {
    const QColor c(theme.value(QString::fromLatin1(group)).toObject().value(QString::fromLatin1(key)).toString());
    return c.isValid() ? c : fallback;
}
}  // namespace

void Theme::apply() {
    const bool systemDark = systemPalette_.color(QPalette::Window).lightness() < 128;
    dark_ = mode_ == Dark || (mode_ == System && systemDark);
    file_ = themeFile(dark_);
    QApplication::setStyle(new OutlinedIndicators(QStyleFactory::create(QStringLiteral("Fusion"))));
    if (mode_ == System)
        QApplication::setPalette(systemPalette_);
    else
        QApplication::setPalette(paletteOf(file_, QApplication::style()->standardPalette()));
    Q_EMIT changed();
}

QColor Theme::series(int n) const {
    // Okabe-Ito by default (resources/themes/*.json "plot.series"), lightened on dark backgrounds.
    const QJsonArray list = file_.value(QStringLiteral("plot")).toObject().value(QStringLiteral("series")).toArray();
    const int lighter = file_.value(QStringLiteral("plot")).toObject().value(QStringLiteral("seriesLighter")).toInt(100);
    QColor c = list.isEmpty() ? QColor(0x00, 0x72, 0xb2) : QColor(list.at(n % int(list.size())).toString());
    return lighter != 100 ? c.lighter(lighter) : c;
}
QColor Theme::text() const { return colourAt(file_, "plot", "text", dark_ ? QColor(0xdf, 0xe1, 0xe5) : QColor(0x20, 0x20, 0x20)); }
QColor Theme::grid() const { return colourAt(file_, "plot", "grid", QColor(0x80, 0x80, 0x80)); }
QColor Theme::background() const { return colourAt(file_, "plot", "background", dark_ ? QColor(0x1e, 0x1f, 0x22) : QColor(Qt::white)); }
QColor Theme::error() const { return colourAt(file_, "accent", "error", QColor(0xc0, 0x39, 0x2b)); }

QIcon Theme::icon(const QString& name) {
    return QIcon(QStringLiteral(":/icons/actions/%1.svg").arg(name));
}

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
