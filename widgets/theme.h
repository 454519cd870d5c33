#pragma once
// Light and dark themes, read from resources/themes/{light,dark}.json (compiled in): palette
// roles, plot colours, accent colours. "System" follows the desktop (on Qt 6.4: the platform
// palette's window lightness) and keeps its palette; an explicit choice persists in QSettings
// ("ui/theme"). Plots recolour through stylePlot() when changed() fires.
#include <QColor>
#include <QIcon>
#include <QJsonObject>
#include <QObject>
#include <QPalette>

class QCustomPlot;

namespace pqwgui {

class Theme : public QObject {
    Q_OBJECT
public:
    enum Mode { System, Light, Dark };
    static Theme* instance();

    Mode mode() const { return mode_; }
    /// Applies the choice and (by default) persists it.
    void setMode(Mode m, bool persist = true);
    /// Reads the persisted choice and applies it (call once after QApplication exists).
    void init();
    bool isDark() const { return dark_; }

    /// The n-th series colour (a qualitative palette readable on both themes).
    QColor series(int n) const;
    QColor text() const;
    QColor grid() const;
    QColor background() const;
    /// Text that reports a problem (red, readable on the theme's background).
    QColor error() const;
    /// An action icon of resources/icons/actions/ (":/icons/actions/NAME.svg").
    static QIcon icon(const QString& name);
    /// Colours a plot's background, axes, grid, legend and text for the current theme.
    void stylePlot(QCustomPlot* plot) const;

Q_SIGNALS:
    void changed();

private:
    Theme();
    void apply();
    Mode mode_ = System;
    bool dark_ = false;
    QPalette systemPalette_;
    QJsonObject file_;  ///< the theme file in use
};

}  // namespace pqwgui
