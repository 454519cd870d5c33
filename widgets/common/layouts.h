#pragma once
// Tiny layout helpers shared by the views (header-only).
#include <QHBoxLayout>
#include <QWidget>

namespace pqwgui {

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
