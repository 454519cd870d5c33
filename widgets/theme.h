#pragma once
// Light and dark themes. "System" follows the desktop (on Qt 6.4: the platform palette's
// window lightness); an explicit choice persists in QSettings ("ui/theme"). Plots recolour
// through stylePlot() when changed() fires.
#include <QColor>
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
};

}  // namespace pqwgui
