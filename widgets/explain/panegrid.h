#pragma once
// The Explain view's centre: the compare bar (pane count, linked zoom and pan, swipe) over up
// to four ExplainPanes in a grid. One ViewLink zooms and pans all linked canvases. Object
// names: "paneCount", "linkViews", "swipe", "swipePosition".
#include <QWidget>

#include <vector>

#include "explain/explainsettings.h"

class QCheckBox;
class QGridLayout;
class QSlider;
class QSpinBox;

namespace pqwgui {

class ExplainPane;
class ViewLink;

class PaneGrid : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxPanes = 4;
    explicit PaneGrid(QWidget* parent = nullptr);

    ExplainPane* pane(int i) const { return panes_[size_t(i)]; }
    ViewLink* link() const { return link_; }
    /// Shows the pane count, swipe state and pane specs of s and lays the panes out (no signals).
    void setSettings(const ExplainSettings& s);
    bool linked() const;
    void setLinked(bool on);
    /// Where the swipe line is (0..1 of the width).
    double swipePosition() const { return swipePos_; }
    void setSwipePosition(double x);
    /// Pane 1's canvas shows pane 2's image right of the line (labelled a | b), or no swipe.
    void showSwipe(const QString& labelA, const QString& labelB);
    void clearSwipe();

Q_SIGNALS:
    void paneEdited(int i);
    void paneActivated(int i);
    void paneCountChanged(int n);
    void swipeToggled(bool on);
    /// The swipe slider moved (the canvas's own drag moves the line itself).
    void swipeSliderMoved();

private:
    void layoutPanes(const ExplainSettings& s);

    std::vector<ExplainPane*> panes_;
    ViewLink* link_;
    QSpinBox* paneCount_;
    QCheckBox *linkBox_, *swipeBox_;
    QSlider* swipeSlider_;
    QGridLayout* grid_;
    double swipePos_ = 0.5;
};

}  // namespace pqwgui
