#pragma once
// Small widget helpers shared by the views: emptying a layout, a small wrapped label, a page
// that scrolls, the line shown where a computed result is not there yet, a row of fields.
#include <QHBoxLayout>
#include <QString>
#include <QWidget>

class QLabel;
class QLayout;
class QScrollArea;
class QWidget;

namespace pqwgui {

/// Removes and deletes a layout's items (and their widgets) until `keep` are left: the last
/// ones, e.g. a trailing stretch.
void clearLayout(QLayout* layout, int keep = 0);

/// A word-wrapped label in a slightly smaller font (captions, explanations).
QLabel* smallLabel(const QString& text = {});

/// `page` in a frameless, resizable scroll area: on a small screen (1024 x 640) it scrolls
/// instead of forcing the whole window taller than the screen.
QScrollArea* scrollablePage(QWidget* page);

/// Where a result is not shown yet: why it failed ("Not computed: why"), that it is being
/// computed (`computing`), or how to compute it (Run or Auto-run).
QString notComputedText(bool failed, const QString& why, bool pending, const QString& computing);

/// A row of widgets inside a form: a widget holding a margin-less QHBoxLayout, returned in
/// *layout. Forms put several fields on one line this way.
inline QWidget* formRow(QHBoxLayout** layout) {
    auto* w = new QWidget;
    auto* l = new QHBoxLayout(w);
    l->setContentsMargins(0, 0, 0, 0);
    *layout = l;
    return w;
}

}  // namespace pqwgui
