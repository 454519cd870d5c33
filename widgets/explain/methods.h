#pragma once
// The explanation methods as the Explain view lists them: core's one table
// (pqw/method_text.h: order, title, summary) plus where each method's options sit in this view.
#include <QString>

#include <vector>

#include "pqw/omenn.h"

namespace pqwgui {

/// The methods in the order the selectors list them (pqw::allMethods()).
const std::vector<pqw::Method>& explainMethods();
/// "OMENN", "Gradient × Input", ... (pqw::methodTitle).
QString methodLabel(pqw::Method m);
/// The method's summary (pqw::methodSummary) and, for methods with options, where they are.
QString methodTip(pqw::Method m);

}  // namespace pqwgui
