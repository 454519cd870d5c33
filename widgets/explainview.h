#pragma once
// The Explain view: one image with attribution overlays in one to four side-by-side panes
// (method, target class or "a vs b", head), linked zoom and pan, a swipe between two maps,
// overlay options (alpha, colour map, signed / absolute, percentile clipping, smooth /
// nearest upsampling), OMENN's exactness in numbers, the ProtoQuant decomposition over
// prototypes (bars; a bar's pixel map beside its nearest training patches), an all-classes
// grid, and faithfulness (deletion / insertion curves for this image, a dataset table as a
// job). Every edit is a step on the window's undo stack; computations are jobs, cached.
#include <QJsonObject>
#include <QSet>
#include <QWidget>

#include <optional>
#include <vector>

#include "explainengine.h"
#include "pqw/project.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGridLayout;
class QLabel;
class QListWidget;
class QPushButton;
class QSlider;
class QSpinBox;
class QTabWidget;
class QTableWidget;
class QUndoStack;
class QCustomPlot;
class QCPBars;
class QHBoxLayout;
class QScrollArea;

namespace pqwgui {

class OverlayCanvas;
class ViewLink;
class Session;

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
};

/// The image as the model sees it with a map drawn over it, upsampled to a display size.
QImage composeOverlay(const QImage& input, const std::vector<float>& map, int h, int w, const OverlayOptions& o);

/// One compare pane: its method / target / head selectors, the canvas and the numbers.
class ExplainPane : public QWidget {
    Q_OBJECT
public:
    explicit ExplainPane(int index, QWidget* parent = nullptr);
    OverlayCanvas* canvas() const { return canvas_; }
    QComboBox* methodBox() const { return method_; }
    QComboBox* targetBox() const { return target_; }
    QComboBox* contrastBox() const { return contrast_; }
    QComboBox* headBox() const { return head_; }
    QLabel* numbersLabel() const { return numbers_; }
    /// The classes, and which heads exist (compareName: the comparison checkpoint, or empty).
    void setClasses(const QStringList& names, bool probe, bool proto, const QString& compareName = {});
    void setSpec(const PaneSpec& s);
    PaneSpec spec() const;
    /// Shows a computed map (numbers included), a message, or both.
    void showResult(const std::shared_ptr<const MapResult>& r, const QImage& composed, const QStringList& names);
    void showMessage(const QString& m);
    /// The numbers shown: output (logit), sum of weight contributions, sum of bias terms.
    double shownOutput() const { return output_; }
    double shownWeightSum() const { return weightSum_; }
    double shownBiasSum() const { return biasSum_; }
    QString renderKey;  ///< what the canvas holds (map key + overlay options)

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
};

class ExplainView : public QWidget {
    Q_OBJECT
public:
    ExplainView(Session* session, QUndoStack* undo, QWidget* parent = nullptr);

    ExplainEngine* engine() const { return engine_; }
    const ExplainSettings& settings() const { return settings_; }
    QUndoStack* undoStack() const { return undo_; }

    /// Shows a dataset sample / an image file (an undoable edit). False (and errorText() says
    /// which file and why) when the image cannot be decoded; the view is unchanged then.
    bool setImageSample(size_t sample);
    bool setImageFile(const QString& path);
    QString errorText() const;

    /// Loads a second checkpoint (a job) and, when it loads, shows it in `pane` or else the last
    /// pane (a second pane is added if there is one): two trained heads side by side on one image,
    /// e.g. ProtoQuant against the non-quantised baseline. The note under the Compare
    /// button says what is loaded, or which file failed and why.
    void compareWith(const QString& path, int pane = -1);
    QLabel* compareNote() const { return compareNote_; }
    /// "ProtoQuant", "linear probe" or the comparison checkpoint's name.
    QString headName(PaneHead h) const;

    /// An edit: the settings become `next` through one undo command.
    void edit(const ExplainSettings& next, const QString& text);
    /// Applies settings without an undo step (undo / redo / restoreState use it).
    void applySettings(const ExplainSettings& s);

    /// The view's state for a project file: the edit state plus zoom, pan, swipe position,
    /// the auto-run and link toggles and the side tab. restoreState() ignores unknown keys
    /// and keeps defaults for missing ones.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& o);

    /// The explanations shown, for the project file and its report: the panes on the
    /// ProtoQuant head (the image, method, class and contrast of each).
    std::vector<pqw::ProjectExplanation> chosenExplanations() const;

    /// Screenshot mode: picks a test image when none is shown, shows the decomposition tab.
    /// Returns whether computations were requested.
    bool prepareScreenshot();

    // Widgets (tests drive them as a user would).
    ExplainPane* pane(int i) const { return panes_[size_t(i)]; }
    int visiblePanes() const { return int(settings_.panes.size()); }
    QSlider* alphaSlider() const { return alpha_; }
    QComboBox* colormapBox() const { return colormap_; }
    QCheckBox* autoRunBox() const { return autoRun_; }
    QSpinBox* paneCountBox() const { return paneCount_; }
    QTabWidget* sideTabs() const { return side_; }
    QCustomPlot* decompositionPlot() const { return decPlot_; }
    QCustomPlot* curvesPlot() const { return curvesPlot_; }
    QTableWidget* faithfulnessTable() const { return table_; }
    QLabel* decompositionLabel() const { return decText_; }
    QLabel* allClassesLabel() const { return allText_; }
    int allClassesTiles() const;
    /// Selects a bar of the decomposition (as a click does): its pixel map and patches.
    void selectShare(int bar);
    int selectedPrototype() const { return selectedPrototype_; }
    ViewLink* link() const { return link_; }

public Q_SLOTS:
    /// Computes what is shown (the Run button, F5): also after a failure or a cancel.
    void run();
    void cancel();
    void computeTable();

Q_SIGNALS:
    void statusMessage(const QString& text);

protected:
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;
    void showEvent(QShowEvent* e) override;

private:
    QWidget* buildControls();
    QWidget* buildSide();
    void modelChanged();
    /// Asks for a checkpoint file and compares with it (in `pane`, or see compareWith).
    void askComparison(int pane);
    void syncWidgets();
    void layoutPanes();
    void refresh(bool request);
    void renderPanes();
    void refreshDecomposition(bool request);
    void refreshAllClasses(bool request);
    void refreshCurves(bool request);
    void showSelectedShare();
    void updateImageBox();
    bool setImage(const ExplainImageRef& ref);
    void paneEdited(int i);
    void nextTestImage(int step);
    bool pickStartImage();
    int activeClass() const;  ///< the active pane's explained class once known (-1 before)
    QString stateText(const MapResult& r) const;

    Session* session_;
    QUndoStack* undo_;
    ExplainEngine* engine_;
    ExplainSettings settings_, pressed_;
    QSet<QString> failed_;
    QHash<QString, QString> failedWhy_;
    std::vector<ExplainPane*> panes_;
    ViewLink* link_;
    QString error_;
    double swipePos_ = 0.5;
    int selectedPrototype_ = -1;
    QString shownDecision_;

    // Image
    QLabel *thumb_, *imageText_, *prediction_, *errorLabel_;
    // Overlay
    QSlider* alpha_;
    QLabel* alphaValue_;
    QComboBox *colormap_, *valueMode_, *upsample_;
    QDoubleSpinBox* percentile_;
    QCheckBox* withBias_;
    // Compute
    QCheckBox* autoRun_;
    QPushButton *runButton_, *cancelButton_, *compareButton_;
    QLabel* compareNote_ = nullptr;
    /// Where to show a comparison when it has loaded: none, or a pane (-1: the last, adding a
    /// second if needed).
    std::optional<int> comparePane_;
    QSpinBox *igSteps_, *sgSamples_, *occPatch_, *occStride_;
    // Compare bar
    QSpinBox* paneCount_;
    QCheckBox *linkBox_, *swipeBox_;
    QSlider* swipeSlider_;
    QLabel* legend_;
    QGridLayout* grid_;
    // Side
    QTabWidget* side_;
    QLabel* decText_;
    QCustomPlot* decPlot_;
    QCPBars *decBars_, *decRest_;
    QLabel *shareMap_, *shareText_;
    QHBoxLayout* sharePatches_;
    QLabel* allText_;
    QGridLayout* allGrid_;
    QWidget* allHost_;
    QCustomPlot* curvesPlot_;
    QLabel* curvesText_;
    QListWidget* tableMethods_;
    QSpinBox *tableImages_, *tableSanity_;
    QTableWidget* table_;
    QLabel* tableText_;
    QString tableKey_;
};

}  // namespace pqwgui
