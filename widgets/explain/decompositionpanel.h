#pragma once
// The Explain view's Decomposition tab: for the ProtoQuant head, the logit as exact shares of
// prototypes (bars; the largest kDecompositionBars, the rest as one grey bar), and the selected
// bar's pixel map beside the nearest training patches of its prototype. Object names:
// "decompositionText", "decompositionPlot", "shareText".
#include <QWidget>

#include "explain/explainsettings.h"

class QCPBars;
class QCustomPlot;
class QHBoxLayout;
class QLabel;

namespace pqwgui {

class ExplainEngine;
class Session;

class DecompositionPanel : public QWidget {
    Q_OBJECT
public:
    DecompositionPanel(ExplainEngine* engine, Session* session, QWidget* parent = nullptr);

    /// Shows the decomposition for the active pane of s (requesting it when `request`).
    void update(const ExplainSettings& s, bool request);
    /// Redraws the selected share's map with new overlay options (an opacity drag).
    void setOverlay(const OverlayOptions& o);
    /// Forgets what was shown (the model changed).
    void reset();
    /// Selects a bar (as a click does): its pixel map and patches.
    void selectShare(int bar);
    int selectedPrototype() const { return selectedPrototype_; }

private:
    void clearBars();
    void showSelectedShare();

    ExplainEngine* engine_;
    Session* session_;
    ExplainSettings settings_;
    CacheKey shown_;  ///< the decomposition drawn as bars
    int selectedPrototype_ = -1;
    QLabel* text_;
    QCustomPlot* plot_;
    QCPBars *bars_, *rest_;
    QLabel *shareMap_, *shareText_;
    QHBoxLayout* sharePatches_;
};

}  // namespace pqwgui
