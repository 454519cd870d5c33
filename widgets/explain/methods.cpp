#include "explain/methods.h"

#include <QCoreApplication>

#include "pqw/method_text.h"

namespace pqwgui {

const std::vector<pqw::Method>& explainMethods() { return pqw::allMethods(); }

QString methodLabel(pqw::Method m) { return QString::fromUtf8(pqw::methodTitle(m)); }

QString methodTip(pqw::Method m) {
    auto tr = [](const char* s) { return QCoreApplication::translate("pqwgui::ExplainView", s); };
    QString tip = QString::fromUtf8(pqw::methodSummary(m));
    switch (m) {
        case pqw::Method::IntegratedGradients: return tip + tr(" (steps below)");
        case pqw::Method::SmoothGrad: return tip + tr(" (samples below)");
        case pqw::Method::Occlusion: return tip + tr(" (patch and stride below)");
        default: return tip;
    }
}

}  // namespace pqwgui
