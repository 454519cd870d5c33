#pragma once
// The Explain view's left column: the image box (thumbnail, label, prediction, error, test
// image navigation, open a file), the overlay options, the compute options with Run / Cancel /
// Auto-run, and the compare-models box. It shows settings (setSettings) and reports edits as
// signals; the view turns them into undo steps. Object names: "imageText", "prediction",
// "imageError", "alpha", "colormap", "legend", "autoRun", "compareButton", "compareNote".
#include <QScrollArea>

#include "explain/explainsettings.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;

namespace pqwgui {

class ExplainControls : public QScrollArea {
    Q_OBJECT
public:
    explicit ExplainControls(QWidget* parent = nullptr);

    /// Shows the overlay and compute options of s (no signals).
    void setSettings(const ExplainSettings& s);
    bool autoRun() const;
    /// Sets the Auto-run box without autoRunToggled().
    void setAutoRun(bool on);

    /// The image box: the image as the model sees it with its description, or none.
    void showImage(const QImage& input, const QString& html, const QString& tip);
    void clearImage();
    void setPrediction(const QString& html);
    /// The image error line (hidden for an empty text).
    void setImageError(const QString& text);
    /// The note under the Compare button; `error` draws it in red.
    void setCompareNote(const QString& html, bool enabled, bool error = false, const QString& tip = {});

Q_SIGNALS:
    void previousImage();
    void nextImage();
    void imageFileChosen(const QString& path);
    void overlayEdited(const pqwgui::OverlayOptions& o, const QString& text);
    /// The opacity slider is dragged: a live preview, one undo step on release.
    void alphaDragStarted();
    void alphaDragged(const pqwgui::OverlayOptions& o);
    void alphaDragFinished();
    void computeEdited(const pqwgui::ComputeOptions& c, const QString& text);
    void runRequested();
    void cancelRequested();
    void autoRunToggled(bool on);
    void compareRequested();

private:
    QWidget* buildImageBox();
    QWidget* buildOverlayBox();
    QWidget* buildComputeBox();
    QWidget* buildCompareBox();
    void editOverlay(const QString& text, const std::function<void(OverlayOptions&)>& change);
    void editCompute(const QString& text, const std::function<void(ComputeOptions&)>& change);

    OverlayOptions overlay_;
    ComputeOptions compute_;
    QLabel *thumb_, *imageText_, *prediction_, *errorLabel_;
    QSlider* alpha_;
    QLabel *alphaValue_, *legend_;
    QComboBox *colormap_, *valueMode_, *upsample_;
    QDoubleSpinBox* percentile_;
    QCheckBox *withBias_, *autoRun_;
    QSpinBox *igSteps_, *sgSamples_, *occPatch_, *occStride_;
    QLabel* compareNote_;
};

}  // namespace pqwgui
