#include "explain/panegrid.h"

#include <QCheckBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

#include "explain/explaincanvas.h"
#include "explain/explainpane.h"

namespace pqwgui {

PaneGrid::PaneGrid(QWidget* parent) : QWidget(parent) {
    link_ = new ViewLink(this);
    auto* cv = new QVBoxLayout(this);
    cv->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    paneCount_ = new QSpinBox;
    paneCount_->setRange(1, kMaxPanes);
    paneCount_->setObjectName(QStringLiteral("paneCount"));
    paneCount_->setToolTip(tr("Side-by-side panes, each with its own method, class and head"));
    linkBox_ = new QCheckBox(tr("Link zoom && pan"));
    linkBox_->setObjectName(QStringLiteral("linkViews"));
    linkBox_->setChecked(true);
    linkBox_->setToolTip(tr("Zoom (wheel) and pan (drag) all panes together; double-click fits"));
    swipeBox_ = new QCheckBox(tr("Swipe 1 | 2"));
    swipeBox_->setObjectName(QStringLiteral("swipe"));
    swipeBox_->setToolTip(tr("One image: pane 1's map left of the line, pane 2's map right of it; drag the line or the slider"));
    swipeSlider_ = new QSlider(Qt::Horizontal);
    swipeSlider_->setObjectName(QStringLiteral("swipePosition"));
    swipeSlider_->setRange(0, 1000);
    swipeSlider_->setValue(500);
    swipeSlider_->setMinimumWidth(70);
    swipeSlider_->setMaximumWidth(160);
    swipeSlider_->setEnabled(false);
    bar->addWidget(new QLabel(tr("Panes")));
    bar->addWidget(paneCount_);
    bar->addSpacing(8);
    bar->addWidget(linkBox_);
    bar->addSpacing(8);
    bar->addWidget(swipeBox_);
    bar->addWidget(swipeSlider_);
    bar->addStretch(1);
    cv->addLayout(bar);
    auto* gridHost = new QWidget;
    grid_ = new QGridLayout(gridHost);
    grid_->setContentsMargins(0, 0, 0, 0);
    grid_->setSpacing(6);
    for (int i = 0; i < kMaxPanes; ++i) {
        auto* p = new ExplainPane(i);
        p->canvas()->setLink(link_);
        panes_.push_back(p);
        grid_->addWidget(p, i / 2, i % 2);
        connect(p, &ExplainPane::edited, this, [this, i] { Q_EMIT paneEdited(i); });
        connect(p, &ExplainPane::activated, this, [this, i] { Q_EMIT paneActivated(i); });
    }
    connect(panes_[0]->canvas(), &OverlayCanvas::swipeMoved, this, [this](double x) {
        swipePos_ = x;
        const QSignalBlocker b(swipeSlider_);
        swipeSlider_->setValue(int(std::lround(x * 1000)));
    });
    cv->addWidget(gridHost, 1);

    connect(paneCount_, &QSpinBox::valueChanged, this, &PaneGrid::paneCountChanged);
    connect(linkBox_, &QCheckBox::toggled, this, [this](bool on) {
        for (auto* p : panes_) p->canvas()->setLink(on ? link_ : nullptr);
    });
    connect(swipeBox_, &QCheckBox::toggled, this, &PaneGrid::swipeToggled);
    connect(swipeSlider_, &QSlider::valueChanged, this, [this](int v) {
        swipePos_ = v / 1000.0;
        Q_EMIT swipeSliderMoved();
    });
}

void PaneGrid::setSettings(const ExplainSettings& s) {
    {
        const QSignalBlocker b1(paneCount_), b2(swipeBox_);
        paneCount_->setValue(int(s.panes.size()));
        swipeBox_->setChecked(s.swipe);
    }
    swipeBox_->setEnabled(s.panes.size() >= 2);
    swipeSlider_->setEnabled(s.swipe);
    for (size_t i = 0; i < s.panes.size(); ++i) panes_[i]->setSpec(s.panes[i]);
    layoutPanes(s);
}

void PaneGrid::layoutPanes(const ExplainSettings& s) {
    const int n = int(s.panes.size());
    std::vector<ExplainPane*> shown;
    const bool swipe = s.swipe && n >= 2;
    for (int i = 0; i < kMaxPanes; ++i) {
        auto* p = panes_[size_t(i)];
        grid_->removeWidget(p);
        // Swiping: pane 2's map is drawn inside pane 1; pane 2 keeps its selectors and numbers
        // in a narrow column beside it.
        const bool show = i < n && !(swipe && i > 1);
        p->setVisible(show);
        p->canvas()->setVisible(!(swipe && i == 1));
        p->setMaximumWidth(swipe && i == 1 ? 240 : QWIDGETSIZE_MAX);
        p->canvas()->setActive(n > 1 && i == s.active);
        if (show) shown.push_back(p);
    }
    // One row for up to two panes (side by side), two rows for three or four.
    const int k = int(shown.size());
    for (int i = 0; i < k; ++i)
        grid_->addWidget(shown[size_t(i)], k <= 2 ? 0 : i / 2, k <= 2 ? i : i % 2, swipe && i == 1 ? Qt::AlignTop : Qt::Alignment());
    const int rows = k <= 2 ? 1 : 2, cols = k <= 1 ? 1 : 2;
    for (int r = 0; r < 2; ++r) grid_->setRowStretch(r, r < rows ? 1 : 0);
    for (int c = 0; c < 2; ++c) grid_->setColumnStretch(c, c < cols && !(swipe && c == 1) ? 1 : 0);
}

bool PaneGrid::linked() const { return linkBox_->isChecked(); }
void PaneGrid::setLinked(bool on) { linkBox_->setChecked(on); }

void PaneGrid::setSwipePosition(double x) {
    swipePos_ = x;
    const QSignalBlocker b(swipeSlider_);
    swipeSlider_->setValue(int(std::lround(swipePos_ * 1000)));
}

void PaneGrid::showSwipe(const QString& labelA, const QString& labelB) {
    panes_[0]->canvas()->setSwipe(panes_[1]->canvas()->image(), swipePos_, labelA, labelB);
}

void PaneGrid::clearSwipe() { panes_[0]->canvas()->clearSwipe(); }

}  // namespace pqwgui
