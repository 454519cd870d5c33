#pragma once
// Form fields shared by the Training and Pruning views: a spin box with its range, value and
// tooltip in one call, and a form row whose label carries the field's tooltip and buddy.
#include <QString>

class QDoubleSpinBox;
class QFormLayout;
class QSpinBox;
class QWidget;

namespace pqwgui {

QSpinBox* intField(int lo, int hi, int value, const QString& tip);
QDoubleSpinBox* realField(double lo, double hi, double value, int decimals, double step, const QString& tip);
/// Adds "label: field" to f; the label shows the field's tooltip and focuses it (buddy).
void addRow(QFormLayout* f, const QString& label, QWidget* field);

}  // namespace pqwgui
