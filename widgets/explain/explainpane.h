#pragma once
// One compare pane of the Explain view: its method / class / contrast / model selectors, the
// overlay canvas and the numbers under it. Object names (index i): "pane<i>", "method<i>",
// "head<i>", "target<i>", "contrast<i>", "canvas<i>", "numbers<i>".
#include <QImage>
#include <QStringList>
#include <QWidget>

#include <memory>

#include "explain/explainsettings.h"

class QComboBox;
class QLabel;

namespace pqwgui {

class OverlayCanvas;

class ExplainPane : public QWidget {
    Q_OBJECT
public:
    explicit ExplainPane(int index, QWidget* parent = nullptr);
    OverlayCanvas* canvas() const { return canvas_; }
    /// The classes, and which heads exist (compareName: the comparison checkpoint, or empty).
    void setClasses(const QStringList& names, bool probe, bool proto, const QString& compareName = {});
    void setSpec(const PaneSpec& s);
    PaneSpec spec() const;
    /// What the selectors show (for undo step names).
    QString headText() const;
    QString targetText() const;
    QString contrastText() const;
    /// Shows a computed map (numbers included), a message, or both.
    void showResult(const std::shared_ptr<const MapResult>& r, const QImage& composed, const QStringList& names);
    void showMessage(const QString& m);
    /// The numbers shown: output (logit), sum of weight contributions, sum of bias terms.
    double shownOutput() const { return output_; }
    double shownWeightSum() const { return weightSum_; }
    double shownBiasSum() const { return biasSum_; }
    /// Whether the canvas holds the map of `key` drawn with `o` (so it need not be redrawn).
    bool shows(const CacheKey& key, const OverlayOptions& o) const { return !shownKey_.isNull() && shownKey_ == key && shownOverlay_ == o; }
    void setShown(const CacheKey& key, const OverlayOptions& o) {
        shownKey_ = key;
        shownOverlay_ = o;
    }

Q_SIGNALS:
    void edited();
    void activated();

private:
    static QString numbersTip();
    int index_;
    QLabel* title_;
    QComboBox *method_, *target_, *contrast_, *head_;
    OverlayCanvas* canvas_;
    QLabel* numbers_;
    std::shared_ptr<const MapResult> result_;  ///< the map shown (for the .npy export)
    double output_ = 0, weightSum_ = 0, biasSum_ = 0;
    CacheKey shownKey_;  ///< what the canvas holds: the map's key and its overlay options
    OverlayOptions shownOverlay_;
};

}  // namespace pqwgui
