#pragma once
// Words for the explanation methods and their numbers, shared by `pqw`, the window and the
// report: one table, so the three never disagree on what a method is called or what its
// numbers mean.
#include <string>

#include "pqw/omenn.h"

namespace pqw {

/// The name a reader sees: "OMENN", "Gradient x Input", "Integrated Gradients", ...
/// (methodName() gives the short id used on the command line and in files).
const char* methodTitle(Method m);

/// One line with the method's numbers, each labelled for what it is. `score` names the explained
/// value (e.g. "score for Sneaker"). OMENN: the pixels' and the network's offsets' shares, which add
/// up to the score; Gradient x Input and IG: the sum of attributions and how far it is from the
/// score's change from the baseline; saliency-type, Grad-CAM and occlusion maps are not shares of
/// the score and are labelled as what they are.
std::string describeNumbers(const Attribution& a, const std::string& score);

}  // namespace pqw
