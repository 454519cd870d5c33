#include "formfields.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QSpinBox>

namespace pqwgui {

QSpinBox* intField(int lo, int hi, int value, const QString& tip) {
    auto* s = new QSpinBox;
    s->setRange(lo, hi);
    s->setValue(value);
    s->setToolTip(tip);
    return s;
}

QDoubleSpinBox* realField(double lo, double hi, double value, int decimals, double step, const QString& tip) {
    auto* s = new QDoubleSpinBox;
    s->setDecimals(decimals);
    s->setRange(lo, hi);
    s->setSingleStep(step);
    s->setValue(value);
    s->setToolTip(tip);
    return s;
}

void addRow(QFormLayout* f, const QString& label, QWidget* field) {
    auto* l = new QLabel(label);
    l->setToolTip(field->toolTip());
    l->setBuddy(field);
    f->addRow(l, field);
}

}  // namespace pqwgui
