#include "explain/methods.h"

namespace pqwgui {

const MethodInfo kMethods[7] = {
    {pqw::Method::Omenn, "OMENN", "One matrix explains the network: exact, C_w + C_b add up to the logit"},
    {pqw::Method::GradientInput, "Gradient × Input", "x times the gradient; equals OMENN's C_w on pure ReLU networks, without the bias share"},
    {pqw::Method::IntegratedGradients, "Integrated Gradients", "Gradients averaged along the path from a black image (steps below)"},
    {pqw::Method::Saliency, "Saliency", "Absolute gradient, max over colour channels"},
    {pqw::Method::SmoothGrad, "SmoothGrad", "Saliency averaged over noisy copies (samples below)"},
    {pqw::Method::GradCam, "Grad-CAM", "Class activation map at the backbone's cut, upsampled"},
    {pqw::Method::Occlusion, "Occlusion", "Output drop when a window is blacked out (patch and stride below; slow)"},
};

QString methodLabel(pqw::Method m) {
    for (const auto& i : kMethods)
        if (i.method == m) return QString::fromUtf8(i.label);
    return QString::fromLatin1(pqw::methodName(m));
}

}  // namespace pqwgui
