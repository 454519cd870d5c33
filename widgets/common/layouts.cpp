#include "common/layouts.h"

#include <QCoreApplication>
#include <QLabel>
#include <QLayout>
#include <QScrollArea>

namespace pqwgui {

void clearLayout(QLayout* layout, int keep) {
    while (layout->count() > keep) {
        auto* it = layout->takeAt(0);
        delete it->widget();
        delete it;
    }
}

QLabel* smallLabel(const QString& text) {
    auto* l = new QLabel(text);
    l->setWordWrap(true);
    QFont f = l->font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    l->setFont(f);
    return l;
}

QScrollArea* scrollablePage(QWidget* page) {
    auto* area = new QScrollArea;
    area->setWidget(page);
    area->setWidgetResizable(true);
    area->setFrameShape(QFrame::NoFrame);
    return area;
}

QString notComputedText(bool failed, const QString& why, bool pending, const QString& computing) {
    if (failed) return QCoreApplication::translate("pqwgui", "Not computed: %1").arg(why);
    if (pending) return computing;
    return QCoreApplication::translate("pqwgui", "Not computed yet: press Run (F5) or turn on Auto-run.");
}

}  // namespace pqwgui
