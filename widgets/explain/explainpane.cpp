#include "explain/explainpane.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "explain/explaincanvas.h"
#include "explain/overlay.h"
#include "mapexport.h"

namespace pqwgui {

namespace {
QString num(double v) { return QString::number(v, 'f', 4); }

/// "12 ms" below a second ("0.0 s" read as "not computed"), "2.3 s" above.
QString duration(double seconds) {
    if (seconds < 1.0) return QObject::tr("%1 ms").arg(std::max(1, int(std::lround(seconds * 1000))));
    return QObject::tr("%1 s").arg(seconds, 0, 'f', 1);
}
}  // namespace

QString ExplainPane::numbersTip() {
    return tr("OMENN splits the class score (the logit) exactly into the evidence from the pixels (C_w: each input "
              "pixel's contribution through the network's linear map frozen at this input) and the network's built-in "
              "offsets (C_b: the layers' bias terms, which do not depend on the pixels; tick \"include the built-in "
              "offsets\" on the left to spread them over the image too).");
}

ExplainPane::ExplainPane(int index, QWidget* parent) : QWidget(parent), index_(index) {
    setObjectName(QStringLiteral("pane%1").arg(index));
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(2, 2, 2, 2);
    v->setSpacing(3);
    auto* row1 = new QHBoxLayout;
    title_ = new QLabel(tr("<b>%1</b>").arg(index + 1));
    title_->setToolTip(tr("Pane %1; click its image to make it the active pane (the side panel follows it)").arg(index + 1));
    method_ = new QComboBox;
    method_->setObjectName(QStringLiteral("method%1").arg(index));
    for (const pqw::Method m : explainMethods()) {
        method_->addItem(methodLabel(m), int(m));
        method_->setItemData(method_->count() - 1, methodTip(m), Qt::ToolTipRole);
    }
    method_->setToolTip(tr("Attribution method"));
    head_ = new QComboBox;
    head_->setObjectName(QStringLiteral("head%1").arg(index));
    head_->addItem(tr("ProtoQuant"), int(PaneHead::ProtoQuant));
    head_->addItem(tr("Linear probe"), int(PaneHead::Probe));
    head_->addItem(tr("Other checkpoint"), int(PaneHead::Compare));
    head_->setToolTip(tr("Which classifier on the frozen backbone to explain: the interpretable ProtoQuant head or the "
                         "stage-0 linear probe (a different model on the same features)"));
    row1->addWidget(title_);
    row1->addWidget(method_, 3);
    row1->addWidget(head_, 2);
    auto* row2 = new QHBoxLayout;
    target_ = new QComboBox;
    target_->setObjectName(QStringLiteral("target%1").arg(index));
    target_->setToolTip(tr("The class whose logit is explained (default: the predicted class)"));
    contrast_ = new QComboBox;
    contrast_->setObjectName(QStringLiteral("contrast%1").arg(index));
    contrast_->setToolTip(tr("Contrast: explain logit(class) − logit(this class): what speaks for one class rather than the other"));
    row2->addWidget(new QLabel(tr("Class")));
    row2->addWidget(target_, 1);
    row2->addWidget(new QLabel(tr("vs")));
    row2->addWidget(contrast_, 1);
    v->addLayout(row1);
    v->addLayout(row2);
    canvas_ = new OverlayCanvas;
    canvas_->setObjectName(QStringLiteral("canvas%1").arg(index));
    v->addWidget(canvas_, 1);
    numbers_ = new QLabel;
    numbers_->setObjectName(QStringLiteral("numbers%1").arg(index));
    numbers_->setWordWrap(true);
    numbers_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    numbers_->setMinimumHeight(numbers_->fontMetrics().height() * 4);  // the score line wraps to 4 lines in a half-width pane
    numbers_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    numbers_->setToolTip(numbersTip());
    v->addWidget(numbers_);
    for (auto* c : {method_, head_, target_, contrast_}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(3);
        connect(c, &QComboBox::currentIndexChanged, this, [this] { Q_EMIT edited(); });
    }
    connect(canvas_, &OverlayCanvas::clicked, this, &ExplainPane::activated);
    installMapExportMenu(canvas_, [this] { return result_; });
}

void ExplainPane::setClasses(const QStringList& names, bool probe, bool proto, const QString& compareName) {
    const QSignalBlocker b1(target_), b2(contrast_), b3(head_);
    const PaneSpec keep = spec();
    target_->clear();
    contrast_->clear();
    target_->addItem(tr("Predicted"), -1);
    contrast_->addItem(tr("—"), -1);
    for (int c = 0; c < names.size(); ++c) {
        target_->addItem(names[c], c);
        contrast_->addItem(names[c], c);
    }
    auto* m = qobject_cast<QStandardItemModel*>(head_->model());
    if (m) {
        m->item(0)->setEnabled(proto);
        m->item(1)->setEnabled(probe);
        // Always selectable: without a comparison loaded, choosing it asks for the file.
        m->item(2)->setText(compareName.isEmpty() ? tr("Other checkpoint…") : compareName);
        m->item(2)->setToolTip(compareName.isEmpty() ? tr("Load a second trained head on the same features and explain it here")
                                                     : tr("The checkpoint loaded for comparison"));
    }
    setSpec(keep);
}

void ExplainPane::setSpec(const PaneSpec& s) {
    const QSignalBlocker b1(method_), b2(target_), b3(contrast_), b4(head_);
    method_->setCurrentIndex(std::max(0, method_->findData(int(s.method))));
    target_->setCurrentIndex(std::max(0, target_->findData(s.target)));
    contrast_->setCurrentIndex(std::max(0, contrast_->findData(s.contrast)));
    head_->setCurrentIndex(std::max(0, head_->findData(int(s.head))));
}

PaneSpec ExplainPane::spec() const {
    PaneSpec s;
    s.method = pqw::Method(method_->currentData().toInt());
    s.target = target_->currentData().isValid() ? target_->currentData().toInt() : -1;
    s.contrast = contrast_->currentData().isValid() ? contrast_->currentData().toInt() : -1;
    s.head = PaneHead(head_->currentData().toInt());
    return s;
}

void ExplainPane::showMessage(const QString& m) {
    canvas_->setImage(QImage());
    canvas_->setMessage(m);
    numbers_->clear();
    shownKey_ = {};
    result_.reset();
    output_ = weightSum_ = biasSum_ = 0;
}

void ExplainPane::showResult(const std::shared_ptr<const MapResult>& r, const QImage& composed, const QStringList& names) {
    canvas_->setImage(composed);
    result_ = r;
    const auto& a = r->attr;
    output_ = a.output;
    weightSum_ = a.weightSum;
    biasSum_ = a.biasSum;
    const QString cls = names.value(r->target, QString::number(r->target));
    // Plain words lead (a score, evidence from the pixels, the network's built-in offsets); the
    // precise terms (logit, Σ C_w, Σ C_b, bias share, completeness) are in the tooltip.
    const QString what = r->contrast >= 0 ? tr("Score for %1 minus score for %2").arg(cls, names.value(r->contrast))
                                          : tr("Score for %1").arg(cls);
    QString t, precise;
    if (r->method == pqw::Method::Omenn) {
        const double share = a.output != 0 ? 100.0 * a.biasSum / a.output : 0.0;
        t = tr("<b>%1: %2</b> = from the pixels <b>%3</b> + from the network's built-in offsets <b>%4</b>")
                .arg(what, num(a.output), num(a.weightSum), num(a.biasSum));
        t += tr("<br><span style='color:gray'>adds up exactly (within %1) · %2</span>")
                 .arg(a.completenessError, 0, 'g', 2).arg(duration(r->seconds));
        precise = tr("Precisely: logit %1 = Σ C_w %2 + Σ C_b %3; bias share %4 %; |Σ C_w + Σ C_b − logit| = %5.")
                      .arg(num(a.output), num(a.weightSum), num(a.biasSum)).arg(share, 0, 'f', 1).arg(a.completenessError, 0, 'g', 2);
    } else {
        t = tr("<b>%1: %2</b> · the map adds up to %3").arg(what, num(a.output), num(a.weightSum));
        if (!std::isnan(a.completenessError)) {
            t += tr("<br><span style='color:gray'>%1 away from the score's change from a black image · %2</span>")
                     .arg(a.completenessError, 0, 'g', 3).arg(duration(r->seconds));
            precise = tr("Precisely: completeness error |Σ map − (f(x) − f(black))| = %1.").arg(a.completenessError, 0, 'g', 3);
        } else {
            t += tr("<br><span style='color:gray'>this method's map is not a share of the score · %1</span>")
                     .arg(duration(r->seconds));
        }
    }
    // The tooltip names the layers whose bias terms weigh most.
    QString tip = numbersTip() + (precise.isEmpty() ? QString() : QStringLiteral("\n\n") + precise);
    if (!a.biasByLayer.empty()) {
        auto layers = a.biasByLayer;
        std::sort(layers.begin(), layers.end(), [](const auto& x, const auto& y) { return std::abs(x.second) > std::abs(y.second); });
        tip += tr("\n\nLargest bias terms (of %1 layers):").arg(layers.size());
        for (size_t k = 0; k < std::min<size_t>(6, layers.size()); ++k)
            tip += QStringLiteral("\n  %1: %2").arg(QString::fromStdString(layers[k].first), num(layers[k].second));
    }
    numbers_->setToolTip(tip);
    bool zero = true;
    for (float x : a.map) zero = zero && x == 0.f;
    if (zero) t += tr("<br><b>This map is zero everywhere</b>: the method finds nothing for this class here.");
    numbers_->setText(t);
}

QString ExplainPane::headText() const { return head_->currentText(); }
QString ExplainPane::targetText() const { return target_->currentText(); }
QString ExplainPane::contrastText() const { return contrast_->currentText(); }

}  // namespace pqwgui
