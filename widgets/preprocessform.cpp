// The preprocessing form of the Model & Features view (preprocessform.h).
#include "preprocessform.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QSpinBox>

#include "pqw/error.h"

namespace pqwgui {

namespace {
QString rgbText(const std::array<float, 3>& v) {
    auto n = [](float f) { return QString::number(double(f), 'g', 6); };
    return n(v[0]) + QLatin1Char(',') + n(v[1]) + QLatin1Char(',') + n(v[2]);
}
}  // namespace

PreprocessForm::PreprocessForm(QWidget* parent) : QWidget(parent) {
    auto* f = new QFormLayout(this);
    f->setContentsMargins(0, 0, 0, 0);
    custom_ = new QCheckBox(tr("My own (else the backbone's default)"));
    custom_->setObjectName(QStringLiteral("preprocessCustom"));
    custom_->setToolTip(tr("TorchScript and .pth backbones default to ImageNet statistics, the built-in one to RGB in "
                           "[0, 1], each resized straight to the input size. Check to give the statistics your "
                           "model was trained with and torchvision's Resize + CenterCrop (as pqw --mean --std "
                           "--resize --crop). Press Load backbone to apply."));
    const pqw::InputPreprocessing d;
    mean_ = new QLineEdit(rgbText(d.mean));
    mean_->setObjectName(QStringLiteral("preprocessMean"));
    mean_->setToolTip(tr("Per-channel mean R,G,B on the 0..1 pixel scale (ImageNet: 0.485,0.456,0.406)"));
    std_ = new QLineEdit(rgbText(d.stdev));
    std_->setObjectName(QStringLiteral("preprocessStd"));
    std_->setToolTip(tr("Per-channel standard deviation R,G,B on the 0..1 scale (ImageNet: 0.229,0.224,0.225)"));
    crop_ = new QComboBox;
    crop_->setObjectName(QStringLiteral("preprocessCrop"));
    crop_->addItem(tr("resize to the input size"), QStringLiteral("none"));
    crop_->addItem(tr("resize the shorter side, crop the centre"), QStringLiteral("center"));
    resize_ = new QSpinBox;
    resize_->setObjectName(QStringLiteral("preprocessResize"));
    resize_->setRange(0, 8192);
    resize_->setSpecialValueText(tr("auto (size x 256/224)"));
    resize_->setSuffix(tr(" px"));
    resize_->setToolTip(tr("Shorter side before the centre crop (torchvision Resize(N) + CenterCrop(input size))"));
    auto* cropRow = new QHBoxLayout;
    cropRow->addWidget(crop_, 1);
    cropRow->addWidget(resize_);
    f->addRow(custom_);
    f->addRow(tr("Mean:"), mean_);
    f->addRow(tr("Std:"), std_);
    f->addRow(tr("Resize:"), cropRow);
    connect(custom_, &QCheckBox::toggled, this, [this] {
        updateEnabled();
        Q_EMIT changed();
    });
    connect(crop_, &QComboBox::currentIndexChanged, this, [this] {
        updateEnabled();
        Q_EMIT changed();
    });
    connect(mean_, &QLineEdit::editingFinished, this, &PreprocessForm::changed);
    connect(std_, &QLineEdit::editingFinished, this, &PreprocessForm::changed);
    connect(resize_, &QSpinBox::editingFinished, this, &PreprocessForm::changed);
    updateEnabled();
}

void PreprocessForm::updateEnabled() {
    const bool on = custom_->isChecked();
    mean_->setEnabled(on);
    std_->setEnabled(on);
    crop_->setEnabled(on);
    resize_->setEnabled(on && crop_->currentData().toString() == QLatin1String("center"));
}

std::optional<pqw::InputPreprocessing> PreprocessForm::choice() const {
    if (!custom_->isChecked()) return std::nullopt;
    pqw::InputPreprocessing p;
    p.mean = pqw::parseRgb(mean_->text().trimmed().toStdString(), "mean");
    p.stdev = pqw::parseRgb(std_->text().trimmed().toStdString(), "std");
    p.centerCrop = crop_->currentData().toString() == QLatin1String("center");
    p.resize = p.centerCrop ? resize_->value() : 0;
    p.validate();
    return p;
}

void PreprocessForm::setChoice(const std::optional<pqw::InputPreprocessing>& p) {
    const pqw::InputPreprocessing v = p.value_or(pqw::InputPreprocessing{});
    custom_->setChecked(p.has_value());
    mean_->setText(rgbText(v.mean));
    std_->setText(rgbText(v.stdev));
    crop_->setCurrentIndex(v.centerCrop ? 1 : 0);
    resize_->setValue(v.resize);
    updateEnabled();
}

}  // namespace pqwgui
