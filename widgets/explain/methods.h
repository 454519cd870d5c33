#pragma once
// The explanation methods as the Explain view lists them: order, label and tooltip.
#include <QString>

#include "pqw/omenn.h"

namespace pqwgui {

struct MethodInfo {
    pqw::Method method;
    const char* label;
    const char* tip;
};
/// The methods in the order the selectors list them.
extern const MethodInfo kMethods[7];
/// "OMENN", "Gradient × Input", ... (the short id for a method not in the table).
QString methodLabel(pqw::Method m);

}  // namespace pqwgui
