#pragma once
// The Explain view's Faithfulness tab: deletion and insertion curves of the active pane's map
// on this image, and a dataset table (every ticked method on a seeded sample of test images,
// a job). Object names: "curvesPlot", "curvesText", "computeTable", "faithfulnessTable".
#include <QWidget>

#include "explain/explainsettings.h"

class QCustomPlot;
class QLabel;
class QListWidget;
class QSpinBox;
class QTableWidget;

namespace pqwgui {

class ExplainEngine;

class FaithfulnessPanel : public QWidget {
    Q_OBJECT
public:
    explicit FaithfulnessPanel(ExplainEngine* engine, QWidget* parent = nullptr);
    /// Shows the curves of the active pane's map of s (requesting them when `request`).
    void update(const ExplainSettings& s, bool request);
    /// Shows the table for the ticked methods, or requests it (a job).
    void computeTable();
    /// The table shown or being computed (null when none).
    const CacheKey& tableKey() const { return tableKey_; }

private:
    void clearCurves();

    ExplainEngine* engine_;
    ExplainSettings settings_;
    QCustomPlot* plot_;
    QLabel* curvesText_;
    QListWidget* methods_;
    QSpinBox *images_, *sanity_;
    QTableWidget* table_;
    QLabel* tableText_;
    CacheKey tableKey_;
};

}  // namespace pqwgui
