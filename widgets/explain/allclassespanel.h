#pragma once
// The Explain view's All classes tab: OMENN's map of every class's logit on the image, one
// tile per class (models with up to kMaxGridClasses classes). Object name: "allClassesText".
#include <QWidget>

#include "explain/explainsettings.h"

class QGridLayout;
class QLabel;

namespace pqwgui {

class ExplainEngine;

class AllClassesPanel : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxGridClasses = 20;
    explicit AllClassesPanel(ExplainEngine* engine, QWidget* parent = nullptr);
    /// Shows the grid for the active pane's head of s (requesting it when `request`).
    void update(const ExplainSettings& s, bool request);
    int tiles() const;

private:
    ExplainEngine* engine_;
    QLabel* text_;
    QGridLayout* grid_;
};

}  // namespace pqwgui
