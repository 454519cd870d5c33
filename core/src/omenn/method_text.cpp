#include "pqw/method_text.h"

#include <cmath>
#include <sstream>

namespace pqw {

const char* methodTitle(Method m) {
    switch (m) {
        case Method::Omenn: return "OMENN";
        case Method::Saliency: return "Saliency";
        case Method::GradientInput: return "Gradient x Input";
        case Method::IntegratedGradients: return "Integrated Gradients";
        case Method::SmoothGrad: return "SmoothGrad";
        case Method::GradCam: return "Grad-CAM";
        case Method::Occlusion: return "Occlusion";
    }
    return "?";
}

std::string describeNumbers(const Attribution& a, const std::string& score) {
    Method m = Method::Omenn;
    const bool known = parseMethod(a.method, m);
    std::ostringstream o;
    o.precision(6);
    o << (known ? methodTitle(m) : a.method.c_str()) << ", " << score << " " << a.output << ": ";
    if (!known) {
        o << "sum of the map " << a.weightSum;
        return o.str();
    }
    switch (m) {
        case Method::Omenn:
            o << "from the pixels (sum C_w) " << a.weightSum << " + from the network's offsets (sum C_b) " << a.biasSum
              << "; they add up to the score within " << a.completenessError;
            break;
        case Method::GradientInput:
        case Method::IntegratedGradients:
            o << "sum of the attributions " << a.weightSum;
            if (!std::isnan(a.completenessError))
                o << "; it differs from the score's change from the baseline image by " << a.completenessError
                  << (m == Method::IntegratedGradients ? " (the path integral's step error)" : " (no completeness guarantee)");
            break;
        case Method::Saliency:
        case Method::SmoothGrad:
            o << "sum of the gradient's size " << a.weightSum << " (a sensitivity, not a share of the score)";
            break;
        case Method::GradCam:
            o << "sum of the class activation map " << a.weightSum << " (relative units, not a share of the score)";
            break;
        case Method::Occlusion:
            o << "sum of the score drops when each window is covered " << a.weightSum
              << " (windows overlap, so this is not a share of the score)";
            break;
    }
    return o.str();
}

}  // namespace pqw
