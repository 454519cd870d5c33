#pragma once
// Words for the explanation methods and their numbers, shared by `pqw`, the window and the
// report: one table, so the three never disagree on what a method is called or what its
// numbers mean.
#include <string>
#include <vector>

#include "pqw/omenn.h"

namespace pqw {

/// The name a reader sees (UTF-8): "OMENN", "Gradient × Input", "Integrated Gradients", ...
/// (methodName() gives the short id used on the command line and in files).
const char* methodTitle(Method m);

/// One sentence on what the method computes (the window's tool tips, the report's legend).
const char* methodSummary(Method m);

/// True when the method's map takes both signs (OMENN, Gradient × Input, IG, occlusion's score
/// drops): drawn with a diverging colour map centred at zero, red raising the score and blue
/// lowering it. Saliency and SmoothGrad (gradient sizes) and Grad-CAM (rectified) are never
/// negative and are drawn as magnitudes.
bool methodIsSigned(Method m);

/// Every method, in the order the window and the report list them.
const std::vector<Method>& allMethods();

/// One line with the method's numbers, each labelled for what it is. `score` names the explained
/// value (e.g. "score for Sneaker"). OMENN: the pixels' and the network's offsets' shares, which add
/// up to the score; Gradient x Input and IG: the sum of attributions and how far it is from the
/// score's change from the baseline; saliency-type, Grad-CAM and occlusion maps are not shares of
/// the score and are labelled as what they are.
std::string describeNumbers(const Attribution& a, const std::string& score);

}  // namespace pqw
