#include "wheelguard.h"

#include <QAbstractScrollArea>
#include <QAbstractSlider>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QScrollBar>
#include <QWheelEvent>

namespace pqwgui {
namespace {

/// Value controls that a stray wheel event would change (scroll bars are meant for the wheel).
bool isValueControl(const QObject* o) {
    if (qobject_cast<const QAbstractSpinBox*>(o) || qobject_cast<const QComboBox*>(o)) return true;
    return qobject_cast<const QAbstractSlider*>(o) && !qobject_cast<const QScrollBar*>(o);
}

}  // namespace

void WheelGuard::install() {
    if (!qApp || qApp->findChild<WheelGuard*>(QString(), Qt::FindDirectChildrenOnly)) return;
    qApp->installEventFilter(new WheelGuard(qApp));
}

bool WheelGuard::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::Polish && isValueControl(watched)) {
        // WheelFocus (the default of combo boxes and spin boxes) would give the control focus on
        // the first wheel turn, before any filter sees the event; focus comes from click or Tab.
        auto* w = static_cast<QWidget*>(watched);
        if (w->focusPolicy() & Qt::WheelFocus) w->setFocusPolicy(Qt::StrongFocus);
    } else if (event->type() == QEvent::Wheel && isValueControl(watched)) {
        auto* w = static_cast<QWidget*>(watched);
        // A spin box's line edit or a combo box's view may hold the focus for it.
        if (w->hasFocus() || (w->focusProxy() && w->focusProxy()->hasFocus()) || w->isAncestorOf(QApplication::focusWidget()))
            return false;
        // Not focused: the wheel scrolls whatever scroll area holds the control, as if the control
        // were not there.
        for (QWidget* p = w->parentWidget(); p; p = p->parentWidget())
            if (auto* area = qobject_cast<QAbstractScrollArea*>(p)) {
                QCoreApplication::sendEvent(area->viewport(), event);
                break;
            }
        return true;
    }
    return QObject::eventFilter(watched, event);
}

}  // namespace pqwgui
