#include "explain/explaincontrols.h"
#include "theme.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollBar>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

#include "common/layouts.h"
#include "explain/overlay.h"
#include "filedialogs.h"

namespace pqwgui {

ExplainControls::ExplainControls(QWidget* parent) : QScrollArea(parent) {
    auto* host = new QWidget;
    auto* v = new QVBoxLayout(host);
    v->setContentsMargins(0, 0, 4, 0);
    v->addWidget(buildImageBox());
    v->addWidget(buildOverlayBox());
    v->addWidget(buildComputeBox());
    v->addWidget(buildCompareBox());
    v->addStretch(1);

    setWidget(host);
    setWidgetResizable(true);
    setFrameShape(QFrame::NoFrame);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    for (auto* c : host->findChildren<QComboBox*>()) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(8);
    }
    // Never clip the controls: the column is as wide as its content plus the scroll bar.
    setMinimumWidth(host->minimumSizeHint().width() + verticalScrollBar()->sizeHint().width() + 2);
    setMaximumWidth(minimumWidth() + 60);
}

QWidget* ExplainControls::buildImageBox() {
    auto* img = new QGroupBox(tr("Image"));
    auto* iv = new QVBoxLayout(img);
    auto* top = new QHBoxLayout;
    thumb_ = new QLabel;
    thumb_->setFixedSize(64, 64);
    thumb_->setFrameShape(QFrame::StyledPanel);
    thumb_->setAlignment(Qt::AlignCenter);
    imageText_ = smallLabel(tr("No image yet. Pick one below, choose \"Explain this image\" on the Dataset tab, or drop an image file here."));
    imageText_->setObjectName(QStringLiteral("imageText"));
    top->addWidget(thumb_);
    top->addWidget(imageText_, 1);
    iv->addLayout(top);
    prediction_ = smallLabel();
    prediction_->setObjectName(QStringLiteral("prediction"));
    iv->addWidget(prediction_);
    errorLabel_ = smallLabel();
    errorLabel_->setObjectName(QStringLiteral("imageError"));
    errorLabel_->setStyleSheet(QStringLiteral("color: #d33"));
    errorLabel_->setVisible(false);
    iv->addWidget(errorLabel_);
    auto* nav = new QHBoxLayout;
    auto* prev = new QPushButton(tr("◀ Test image"));
    prev->setToolTip(tr("The previous image of the test split"));
    auto* next = new QPushButton(tr("Test image ▶"));
    next->setToolTip(tr("The next image of the test split"));
    nav->addWidget(prev);
    nav->addWidget(next);
    iv->addLayout(nav);
    auto* open = new QPushButton(tr("Open an image file..."));
    open->setToolTip(tr("Any PNG / JPEG / BMP / TIFF / WebP image; it is resized to the model's input like the dataset was"));
    iv->addWidget(open);
    connect(prev, &QPushButton::clicked, this, &ExplainControls::previousImage);
    connect(next, &QPushButton::clicked, this, &ExplainControls::nextImage);
    connect(open, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("Image to explain"),
                                         tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)"));
        if (!f.isEmpty()) Q_EMIT imageFileChosen(f);
    });
    return img;
}

QWidget* ExplainControls::buildOverlayBox() {
    auto* ov = new QGroupBox(tr("Overlay"));
    auto* of = new QFormLayout(ov);
    auto* arow = new QHBoxLayout;
    alpha_ = new QSlider(Qt::Horizontal);
    alpha_->setObjectName(QStringLiteral("alpha"));
    alpha_->setRange(0, 100);
    alpha_->setToolTip(tr("Opacity of the strongest values (weaker values are more transparent)"));
    alphaValue_ = new QLabel;
    alphaValue_->setMinimumWidth(30);
    arow->addWidget(alpha_, 1);
    arow->addWidget(alphaValue_);
    of->addRow(tr("Opacity"), arow);
    colormap_ = new QComboBox;
    colormap_->setObjectName(QStringLiteral("colormap"));
    for (const char* c : kColormaps)
        colormap_->addItem(QString::fromLatin1(c) == QLatin1String("auto") ? tr("auto") : QString::fromLatin1(c),
                           QString::fromLatin1(c));
    colormap_->setToolTip(tr("auto: blue-white-red for signed maps, inferno for absolute ones"));
    of->addRow(tr("Colours"), colormap_);
    valueMode_ = new QComboBox;
    valueMode_->addItem(tr("signed (red +, blue −)"), false);
    valueMode_->addItem(tr("absolute |value|"), true);
    valueMode_->setToolTip(tr("Signed: red pixels raise the explained score (the logit), blue ones lower it"));
    of->addRow(tr("Values"), valueMode_);
    legend_ = new QLabel;
    legend_->setObjectName(QStringLiteral("legend"));
    of->addRow(QString(), legend_);
    percentile_ = new QDoubleSpinBox;
    percentile_->setRange(50, 100);
    percentile_->setSingleStep(0.5);
    percentile_->setDecimals(1);
    percentile_->setSuffix(tr(" % of pixels"));
    percentile_->setToolTip(tr("The colour scale ends at this percentile of |value| (100 = the maximum) and brighter "
                               "pixels saturate, so one extreme pixel does not wash out the rest"));
    of->addRow(tr("Colour scale fits"), percentile_);
    upsample_ = new QComboBox;
    upsample_->addItem(tr("smooth (bilinear)"), true);
    upsample_->addItem(tr("nearest (pixels)"), false);
    upsample_->setToolTip(tr("How the map is enlarged to the display"));
    of->addRow(tr("Upsampling"), upsample_);
    withBias_ = new QCheckBox(tr("OMENN: include the built-in offsets"));
    withBias_->setToolTip(tr("By default OMENN shows the evidence from the pixels (C_w); with this, the network's built-in "
                             "offsets (the bias terms C_b) are spread over their receptive fields too, so the whole map sums "
                             "to the score (the logit)"));
    of->addRow(withBias_);

    // The slider's drag is one undo step (from press to release).
    connect(alpha_, &QSlider::sliderPressed, this, &ExplainControls::alphaDragStarted);
    connect(alpha_, &QSlider::valueChanged, this, [this](int val) {
        alphaValue_->setText(QStringLiteral("%1 %").arg(val));
        OverlayOptions o = overlay_;
        o.alpha = val / 100.0;
        if (alpha_->isSliderDown()) Q_EMIT alphaDragged(o);  // live preview; the view pushes the step on release
        else Q_EMIT overlayEdited(o, tr("Opacity %1 %").arg(val));
    });
    connect(alpha_, &QSlider::sliderReleased, this, &ExplainControls::alphaDragFinished);
    connect(colormap_, &QComboBox::currentIndexChanged, this, [this] {
        editOverlay(tr("Colours %1").arg(colormap_->currentData().toString()),
                    [this](OverlayOptions& o) { o.colormap = colormap_->currentData().toString(); });
    });
    connect(valueMode_, &QComboBox::currentIndexChanged, this, [this] {
        editOverlay(tr("Values %1").arg(valueMode_->currentText()), [this](OverlayOptions& o) { o.absolute = valueMode_->currentData().toBool(); });
    });
    connect(percentile_, &QDoubleSpinBox::valueChanged, this, [this](double p) {
        editOverlay(tr("Colour scale fits %1 % of pixels").arg(p), [p](OverlayOptions& o) { o.percentile = p; });
    });
    connect(upsample_, &QComboBox::currentIndexChanged, this, [this] {
        editOverlay(tr("Upsampling %1").arg(upsample_->currentText()), [this](OverlayOptions& o) { o.smooth = upsample_->currentData().toBool(); });
    });
    connect(withBias_, &QCheckBox::toggled, this, [this](bool on) {
        editOverlay(on ? tr("Show C_w + C_b") : tr("Show C_w"), [on](OverlayOptions& o) { o.withBias = on; });
    });
    return ov;
}

QWidget* ExplainControls::buildComputeBox() {
    auto* cb = new QGroupBox(tr("Compute"));
    auto* cf = new QFormLayout(cb);
    autoRun_ = new QCheckBox(tr("Auto-run"));
    autoRun_->setObjectName(QStringLiteral("autoRun"));
    autoRun_->setChecked(true);
    autoRun_->setToolTip(tr("Compute what the panes show as soon as it changes. Off: press Run (F5). "
                            "Computed maps are kept, so going back is instant either way."));
    auto* rrow = new QHBoxLayout;
    auto* runButton = new QPushButton(tr("Run (F5)"));
    runButton->setToolTip(tr("Compute the maps shown, including ones that failed or were cancelled"));
    auto* cancelButton = new QPushButton(tr("Cancel"));
    cancelButton->setToolTip(tr("Cancel this view's queued and running computations"));
    rrow->addWidget(runButton);
    rrow->addWidget(cancelButton);
    cf->addRow(autoRun_);
    cf->addRow(rrow);
    igSteps_ = new QSpinBox;
    igSteps_->setRange(2, 512);
    igSteps_->setToolTip(tr("Integrated Gradients: steps on the path from a black image"));
    sgSamples_ = new QSpinBox;
    sgSamples_->setRange(2, 256);
    sgSamples_->setToolTip(tr("SmoothGrad: noisy copies averaged"));
    occPatch_ = new QSpinBox;
    occPatch_->setRange(1, 256);
    occPatch_->setToolTip(tr("Occlusion: side of the blacked-out window (px)"));
    occStride_ = new QSpinBox;
    occStride_->setRange(1, 256);
    occStride_->setToolTip(tr("Occlusion: window step (px); smaller is finer and slower"));
    cf->addRow(tr("IG steps"), igSteps_);
    cf->addRow(tr("SmoothGrad samples"), sgSamples_);
    auto* orow = new QHBoxLayout;
    orow->addWidget(occPatch_);
    orow->addWidget(new QLabel(tr("stride")));
    orow->addWidget(occStride_);
    cf->addRow(tr("Occlusion patch"), orow);

    connect(igSteps_, &QSpinBox::valueChanged, this, [this](int n) {
        editCompute(QObject::tr("IG steps %1").arg(n), [n](ComputeOptions& c) { c.igSteps = n; });
    });
    connect(sgSamples_, &QSpinBox::valueChanged, this, [this](int n) {
        editCompute(QObject::tr("SmoothGrad samples %1").arg(n), [n](ComputeOptions& c) { c.sgSamples = n; });
    });
    connect(occPatch_, &QSpinBox::valueChanged, this, [this](int n) {
        editCompute(QObject::tr("Occlusion patch %1").arg(n), [n](ComputeOptions& c) { c.occPatch = n; });
    });
    connect(occStride_, &QSpinBox::valueChanged, this, [this](int n) {
        editCompute(QObject::tr("Occlusion stride %1").arg(n), [n](ComputeOptions& c) { c.occStride = n; });
    });
    connect(autoRun_, &QCheckBox::toggled, this, &ExplainControls::autoRunToggled);
    connect(runButton, &QPushButton::clicked, this, &ExplainControls::runRequested);
    connect(cancelButton, &QPushButton::clicked, this, &ExplainControls::cancelRequested);
    return cb;
}

QWidget* ExplainControls::buildCompareBox() {
    auto* cmp = new QGroupBox(tr("Compare models"));
    auto* cmpv = new QVBoxLayout(cmp);
    auto* compareButton = new QPushButton(tr("Compare with a checkpoint…"));
    compareButton->setObjectName(QStringLiteral("compareButton"));
    compareButton->setToolTip(tr("Load a second trained head on the same features (e.g. the non-quantised baseline or "
                                 "another training run) and explain it in a pane beside this model"));
    compareNote_ = new QLabel(tr("Panes explain this model's ProtoQuant head or its linear probe."));
    compareNote_->setObjectName(QStringLiteral("compareNote"));
    compareNote_->setWordWrap(true);
    compareNote_->setEnabled(false);
    cmpv->addWidget(compareButton);
    cmpv->addWidget(compareNote_);
    connect(compareButton, &QPushButton::clicked, this, &ExplainControls::compareRequested);
    return cmp;
}

void ExplainControls::editOverlay(const QString& text, const std::function<void(OverlayOptions&)>& change) {
    OverlayOptions o = overlay_;
    change(o);
    Q_EMIT overlayEdited(o, text);
}

void ExplainControls::editCompute(const QString& text, const std::function<void(ComputeOptions&)>& change) {
    ComputeOptions c = compute_;
    change(c);
    Q_EMIT computeEdited(c, text);
}

void ExplainControls::setSettings(const ExplainSettings& s) {
    overlay_ = s.overlay;
    compute_ = s.compute;
    const QSignalBlocker b1(alpha_), b2(colormap_), b3(valueMode_), b4(percentile_), b5(upsample_), b6(withBias_),
        b7(igSteps_), b8(sgSamples_), b9(occPatch_), b10(occStride_);
    if (!alpha_->isSliderDown()) alpha_->setValue(int(std::lround(s.overlay.alpha * 100)));
    alphaValue_->setText(QStringLiteral("%1 %").arg(int(std::lround(s.overlay.alpha * 100))));
    colormap_->setCurrentIndex(std::max(0, colormap_->findData(s.overlay.colormap)));
    valueMode_->setCurrentIndex(s.overlay.absolute ? 1 : 0);
    percentile_->setValue(s.overlay.percentile);
    upsample_->setCurrentIndex(s.overlay.smooth ? 0 : 1);
    withBias_->setChecked(s.overlay.withBias);
    igSteps_->setValue(s.compute.igSteps);
    sgSamples_->setValue(s.compute.sgSamples);
    occPatch_->setValue(s.compute.occPatch);
    occStride_->setValue(s.compute.occStride);
    legend_->setText(overlayLegend(s.overlay));
}

bool ExplainControls::autoRun() const { return autoRun_->isChecked(); }

void ExplainControls::setAutoRun(bool on) {
    const QSignalBlocker b(autoRun_);
    autoRun_->setChecked(on);
}

void ExplainControls::showImage(const QImage& input, const QString& html, const QString& tip) {
    thumb_->setPixmap(QPixmap::fromImage(input.scaled(thumb_->size() - QSize(4, 4), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
    imageText_->setText(html);
    imageText_->setToolTip(tip);
}

void ExplainControls::clearImage() {
    thumb_->clear();
    imageText_->setText(tr("No image yet. Pick a test image below, choose \"Explain this image\" on the Dataset tab, "
                           "or drop an image file here."));
    prediction_->clear();
}

void ExplainControls::setPrediction(const QString& html) {
    if (html.isEmpty()) prediction_->clear();
    else prediction_->setText(html);
}

void ExplainControls::setImageError(const QString& text) {
    if (!text.isEmpty()) errorLabel_->setText(text);
    errorLabel_->setVisible(!text.isEmpty());
}

void ExplainControls::setCompareNote(const QString& html, bool enabled, bool error, const QString& tip) {
    compareNote_->setEnabled(enabled);
    compareNote_->setStyleSheet(error ? QStringLiteral("color: %1").arg(Theme::instance()->error().name()) : QString());
    compareNote_->setText(html);
    if (!tip.isNull()) compareNote_->setToolTip(tip);
}

}  // namespace pqwgui
