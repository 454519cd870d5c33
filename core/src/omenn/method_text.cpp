#include "pqw/method_text.h"

#include <cmath>
#include <sstream>

namespace pqw {

const char* methodTitle(Method m) {
    switch (m) {
        case Method::Omenn: return "OMENN";
        case Method::Saliency: return "Saliency";
        case Method::GradientInput: return "Gradient \u00d7 Input";
        case Method::IntegratedGradients: return "Integrated Gradients";
        case Method::SmoothGrad: return "SmoothGrad";
        case Method::GradCam: return "Grad-CAM";
        case Method::Occlusion: return "Occlusion";
    }
    return "?";
}

const char* methodSummary(Method m) {
    switch (m) {
        case Method::Omenn: return "One matrix explains the network: exact, C_w + C_b add up to the logit";
        case Method::Saliency: return "Absolute gradient, max over colour channels";
        case Method::GradientInput:
            return "x times the gradient; equals OMENN's C_w on pure ReLU networks, without the bias share";
        case Method::IntegratedGradients: return "Gradients averaged along the path from a black image";
        case Method::SmoothGrad: return "Saliency averaged over noisy copies of the image";
        case Method::GradCam: return "Class activation map at the backbone's cut, upsampled";
        case Method::Occlusion: return "Output drop when a window is blacked out (slow)";
    }
    return "?";
}

bool methodIsSigned(Method m) {
    switch (m) {
        case Method::Omenn:
        case Method::GradientInput:
        case Method::IntegratedGradients:
        case Method::Occlusion: return true;
        case Method::Saliency:
        case Method::SmoothGrad:
        case Method::GradCam: return false;
    }
    return true;
}

const std::vector<Method>& allMethods() {
    static const std::vector<Method> all{Method::Omenn,    Method::GradientInput, Method::IntegratedGradients,
                                         Method::Saliency, Method::SmoothGrad,    Method::GradCam,
                                         Method::Occlusion};
    return all;
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
