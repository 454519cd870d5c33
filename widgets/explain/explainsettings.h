#pragma once
// The Explain view's undoable state (ExplainSettings), its JSON form for the project file, and
// the undo command that changes it. Each edit is a snapshot of the settings before and after.
#include <QJsonObject>
#include <QString>
#include <QUndoCommand>

#include <functional>
#include <vector>

#include "explain/explaintypes.h"
#include "pqw/project.h"

namespace pqwgui {

/// The colour maps offered (the first, "auto", picks by signed / absolute).
extern const char* const kColormaps[7];

/// How maps are drawn (no recomputation needed).
struct OverlayOptions {
    double alpha = 0.6;
    QString colormap = QStringLiteral("auto");
    bool absolute = false;
    double percentile = 99.0;
    bool smooth = true;
    bool withBias = false;  ///< OMENN: show C_w + C_b instead of C_w
    bool operator==(const OverlayOptions& o) const {
        return alpha == o.alpha && colormap == o.colormap && absolute == o.absolute && percentile == o.percentile &&
               smooth == o.smooth && withBias == o.withBias;
    }
    bool operator!=(const OverlayOptions& o) const { return !(*this == o); }
};

/// Everything an edit may change (the undoable state).
struct ExplainSettings {
    ExplainImageRef image;
    std::vector<PaneSpec> panes;
    int active = 0;
    OverlayOptions overlay;
    ComputeOptions compute;
    bool swipe = false;
    ExplainSettings();
    bool operator==(const ExplainSettings& o) const {
        return image == o.image && panes == o.panes && active == o.active && overlay == o.overlay && compute == o.compute &&
               swipe == o.swipe;
    }
    bool operator!=(const ExplainSettings& o) const { return !(*this == o); }
    /// The active pane's spec.
    const PaneSpec& activePane() const { return panes[size_t(active)]; }

    /// With n panes: a new pane copies the last one with a method not shown yet; fewer than
    /// two panes end a swipe.
    ExplainSettings withPaneCount(int n) const;
    /// Panes on a head the model lacks move to one it has; classes beyond `classes` become
    /// the prediction (no contrast).
    ExplainSettings fittedTo(int classes, bool proto, bool probe, bool compare, bool comparePending) const;
    /// The comparison checkpoint shown in `pane` (made active), or else beside pane 1 in the
    /// last pane (a second pane is added when there is one).
    ExplainSettings withComparison(int pane) const;
};

/// The explanations shown, for the project file and its report: the panes on the ProtoQuant
/// head (image, method, class and contrast of each, without repeats).
std::vector<pqw::ProjectExplanation> chosenExplanations(const ExplainSettings& s);

/// The settings as the project file stores them (the view adds its own keys beside them).
QJsonObject settingsToJson(const ExplainSettings& s);
/// Reads settings back: unknown keys are ignored, missing ones keep their defaults and
/// out-of-range values are clamped (never fatal).
ExplainSettings settingsFromJson(const QJsonObject& o);

/// One undo step: the settings before and after an edit, applied through `apply`.
class SettingsCommand : public QUndoCommand {
public:
    using Apply = std::function<void(const ExplainSettings&)>;
    SettingsCommand(Apply apply, ExplainSettings before, ExplainSettings after, const QString& text)
        : QUndoCommand(text), apply_(std::move(apply)), before_(std::move(before)), after_(std::move(after)) {}
    void undo() override { apply_(before_); }
    void redo() override { apply_(after_); }

private:
    Apply apply_;
    ExplainSettings before_, after_;
};

}  // namespace pqwgui
