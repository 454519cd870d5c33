#include "filedialogs.h"
#include "explainview.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTimer>
#include <QUndoStack>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "qcp.h"

#include "explaincanvas.h"
#include "mapexport.h"
#include "plots.h"
#include "pqw/dataset.h"
#include "pqw/heatmap.h"
#include "session.h"
#include "theme.h"

namespace pqwgui {

namespace {

struct MethodInfo {
    pqw::Method method;
    const char* label;
    const char* tip;
};
const MethodInfo kMethods[] = {
    {pqw::Method::Omenn, "OMENN", "One matrix explains the network: exact, C_w + C_b add up to the logit"},
    {pqw::Method::GradientInput, "Gradient × Input", "x times the gradient; equals OMENN's C_w on pure ReLU networks, without the bias share"},
    {pqw::Method::IntegratedGradients, "Integrated Gradients", "Gradients averaged along the path from a black image (steps below)"},
    {pqw::Method::Saliency, "Saliency", "Absolute gradient, max over colour channels"},
    {pqw::Method::SmoothGrad, "SmoothGrad", "Saliency averaged over noisy copies (samples below)"},
    {pqw::Method::GradCam, "Grad-CAM", "Class activation map at the backbone's cut, upsampled"},
    {pqw::Method::Occlusion, "Occlusion", "Output drop when a window is blacked out (patch and stride below; slow)"},
};
const char* kColormaps[] = {"auto", "bwr", "jet", "viridis", "inferno", "magma", "gray"};
const int kDisplaySide = 448;   ///< overlays are rendered at about this many pixels
const int kMaxGridClasses = 20; ///< the all-classes grid is for small models
const int kBars = 10;           ///< decomposition bars before "rest" (ExplainEngine computes their maps)

/// A side tab's page in a scroll area: on a small screen (1024 x 640) it scrolls instead of
/// forcing the whole window taller than the screen.
QWidget* scrollable(QWidget* page) {
    auto* area = new QScrollArea;
    area->setWidget(page);
    area->setWidgetResizable(true);
    area->setFrameShape(QFrame::NoFrame);
    return area;
}

QString methodLabel(pqw::Method m) {
    for (const auto& i : kMethods)
        if (i.method == m) return QString::fromUtf8(i.label);
    return QString::fromLatin1(pqw::methodName(m));
}

QJsonObject imageJson(const ExplainImageRef& r) {
    QJsonObject o;
    switch (r.kind) {
        case ExplainImageRef::Kind::Sample:
            o[QStringLiteral("kind")] = QStringLiteral("sample");
            o[QStringLiteral("sample")] = double(r.sample);
            break;
        case ExplainImageRef::Kind::File:
            o[QStringLiteral("kind")] = QStringLiteral("file");
            o[QStringLiteral("path")] = r.path;
            break;
        case ExplainImageRef::Kind::None: o[QStringLiteral("kind")] = QStringLiteral("none"); break;
    }
    return o;
}

ExplainImageRef imageFromJson(const QJsonObject& o) {
    ExplainImageRef r;
    const QString k = o.value(QStringLiteral("kind")).toString();
    if (k == QLatin1String("sample") && o.value(QStringLiteral("sample")).toDouble(-1) >= 0) {
        r.kind = ExplainImageRef::Kind::Sample;
        r.sample = size_t(o.value(QStringLiteral("sample")).toDouble());
    } else if (k == QLatin1String("file") && !o.value(QStringLiteral("path")).toString().isEmpty()) {
        r.kind = ExplainImageRef::Kind::File;
        r.path = o.value(QStringLiteral("path")).toString();
    }
    return r;
}

QJsonObject settingsJson(const ExplainSettings& s) {
    QJsonObject o;
    o[QStringLiteral("image")] = imageJson(s.image);
    QJsonArray panes;
    for (const auto& p : s.panes)
        panes.append(QJsonObject{{QStringLiteral("method"), QString::fromLatin1(pqw::methodName(p.method))},
                                 {QStringLiteral("target"), p.target},
                                 {QStringLiteral("contrast"), p.contrast},
                                 {QStringLiteral("head"), p.head == PaneHead::Probe     ? QStringLiteral("probe")
                                                          : p.head == PaneHead::Compare ? QStringLiteral("compare")
                                                                                        : QStringLiteral("protoquant")}});
    o[QStringLiteral("panes")] = panes;
    o[QStringLiteral("activePane")] = s.active;
    const auto& v = s.overlay;
    o[QStringLiteral("overlay")] = QJsonObject{{QStringLiteral("alpha"), v.alpha},
                                               {QStringLiteral("colormap"), v.colormap},
                                               {QStringLiteral("absolute"), v.absolute},
                                               {QStringLiteral("percentile"), v.percentile},
                                               {QStringLiteral("smooth"), v.smooth},
                                               {QStringLiteral("withBias"), v.withBias}};
    const auto& c = s.compute;
    o[QStringLiteral("compute")] = QJsonObject{{QStringLiteral("igSteps"), c.igSteps},
                                               {QStringLiteral("smoothGradSamples"), c.sgSamples},
                                               {QStringLiteral("smoothGradNoise"), c.sgNoise},
                                               {QStringLiteral("occlusionPatch"), c.occPatch},
                                               {QStringLiteral("occlusionStride"), c.occStride}};
    o[QStringLiteral("swipe")] = s.swipe;
    return o;
}

ExplainSettings settingsFromJson(const QJsonObject& o) {
    ExplainSettings s;
    s.image = imageFromJson(o.value(QStringLiteral("image")).toObject());
    const QJsonArray panes = o.value(QStringLiteral("panes")).toArray();
    if (!panes.isEmpty()) {
        s.panes.clear();
        for (const auto& pv : panes) {
            if (s.panes.size() == 4) break;
            const QJsonObject p = pv.toObject();
            PaneSpec ps;
            pqw::Method m;
            if (pqw::parseMethod(p.value(QStringLiteral("method")).toString().toStdString(), m)) ps.method = m;
            ps.target = std::max(-1, p.value(QStringLiteral("target")).toInt(-1));
            ps.contrast = std::max(-1, p.value(QStringLiteral("contrast")).toInt(-1));
            const QString head = p.value(QStringLiteral("head")).toString();
            ps.head = head == QLatin1String("probe")     ? PaneHead::Probe
                      : head == QLatin1String("compare") ? PaneHead::Compare
                                                         : PaneHead::ProtoQuant;
            s.panes.push_back(ps);
        }
    }
    s.active = std::clamp(o.value(QStringLiteral("activePane")).toInt(0), 0, int(s.panes.size()) - 1);
    const QJsonObject v = o.value(QStringLiteral("overlay")).toObject();
    s.overlay.alpha = std::clamp(v.value(QStringLiteral("alpha")).toDouble(s.overlay.alpha), 0.0, 1.0);
    const QString cm = v.value(QStringLiteral("colormap")).toString(s.overlay.colormap);
    for (const char* k : kColormaps)
        if (cm == QLatin1String(k)) s.overlay.colormap = cm;
    s.overlay.absolute = v.value(QStringLiteral("absolute")).toBool(s.overlay.absolute);
    s.overlay.percentile = std::clamp(v.value(QStringLiteral("percentile")).toDouble(s.overlay.percentile), 50.0, 100.0);
    s.overlay.smooth = v.value(QStringLiteral("smooth")).toBool(s.overlay.smooth);
    s.overlay.withBias = v.value(QStringLiteral("withBias")).toBool(s.overlay.withBias);
    const QJsonObject c = o.value(QStringLiteral("compute")).toObject();
    s.compute.igSteps = std::clamp(c.value(QStringLiteral("igSteps")).toInt(s.compute.igSteps), 2, 512);
    s.compute.sgSamples = std::clamp(c.value(QStringLiteral("smoothGradSamples")).toInt(s.compute.sgSamples), 2, 256);
    s.compute.sgNoise = std::clamp(c.value(QStringLiteral("smoothGradNoise")).toDouble(s.compute.sgNoise), 0.0, 1.0);
    s.compute.occPatch = std::clamp(c.value(QStringLiteral("occlusionPatch")).toInt(s.compute.occPatch), 1, 256);
    s.compute.occStride = std::clamp(c.value(QStringLiteral("occlusionStride")).toInt(s.compute.occStride), 1, 256);
    s.swipe = o.value(QStringLiteral("swipe")).toBool(false);
    return s;
}

/// One undo step: the settings before and after an edit.
class SettingsCommand : public QUndoCommand {
public:
    SettingsCommand(ExplainView* v, ExplainSettings before, ExplainSettings after, const QString& text)
        : QUndoCommand(text), v_(v), before_(std::move(before)), after_(std::move(after)) {}
    void undo() override { v_->applySettings(before_); }
    void redo() override { v_->applySettings(after_); }

private:
    ExplainView* v_;
    ExplainSettings before_, after_;
};

std::vector<float> shownMap(const pqw::Attribution& a, bool withBias) {
    auto m = a.map;
    if (withBias && a.biasMap.size() == m.size())
        for (size_t i = 0; i < m.size(); ++i) m[i] += a.biasMap[i];
    return m;
}

QString num(double v) { return QString::number(v, 'f', 4); }

QLabel* small(const QString& text) {
    auto* l = new QLabel(text);
    l->setWordWrap(true);
    QFont f = l->font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    l->setFont(f);
    return l;
}
}  // namespace

ExplainSettings::ExplainSettings() {
    PaneSpec a, b;
    b.method = pqw::Method::IntegratedGradients;
    panes = {a, b};
}

QImage composeOverlay(const QImage& input, const std::vector<float>& map, int h, int w, const OverlayOptions& o) {
    if (input.isNull()) return {};
    const int k = std::max(1, (kDisplaySide + input.width() - 1) / input.width());
    const int W = input.width() * k, H = input.height() * k;
    QImage base = input.convertToFormat(QImage::Format_RGB888).scaled(W, H, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    if (map.empty() || map.size() != size_t(h) * size_t(w)) return base;
    pqw::HeatmapOptions ho;
    ho.signedMap = !o.absolute;
    ho.colormap = o.colormap.toStdString();
    ho.percentile = o.percentile;
    ho.alpha = o.alpha;
    ho.smooth = o.smooth;
    ho.width = W;
    ho.height = H;
    const cv::Mat rgba = pqw::renderHeatmap(map, h, w, ho);
    const QImage over(rgba.data, rgba.cols, rgba.rows, int(rgba.step), QImage::Format_RGBA8888);
    QPainter p(&base);
    p.drawImage(0, 0, over);
    p.end();
    return base;
}

// ---------------------------------------------------------------------------------------------
QString ExplainPane::numbersTip() {
    return tr("OMENN splits the class score (the logit) exactly into the evidence from the pixels (C_w: each input "
              "pixel's contribution through the network's linear map frozen at this input) and the network's built-in "
              "offsets (C_b: the layers' bias terms, which do not depend on the pixels; tick \"include the built-in "
              "offsets\" on the left to spread them over the image too).");
}

ExplainPane::ExplainPane(int index, QWidget* parent) : QWidget(parent), index_(index) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(2, 2, 2, 2);
    v->setSpacing(3);
    auto* row1 = new QHBoxLayout;
    title_ = new QLabel(tr("<b>%1</b>").arg(index + 1));
    title_->setToolTip(tr("Pane %1; click its image to make it the active pane (the side panel follows it)").arg(index + 1));
    method_ = new QComboBox;
    method_->setObjectName(QStringLiteral("method%1").arg(index));
    for (const auto& m : kMethods) {
        method_->addItem(QString::fromUtf8(m.label), int(m.method));
        method_->setItemData(method_->count() - 1, QString::fromUtf8(m.tip), Qt::ToolTipRole);
    }
    method_->setToolTip(tr("Attribution method"));
    head_ = new QComboBox;
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
    target_->setToolTip(tr("The class whose logit is explained (default: the predicted class)"));
    contrast_ = new QComboBox;
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
    renderKey.clear();
    result_.reset();
    output_ = weightSum_ = biasSum_ = 0;
}

namespace {
/// "12 ms" below a second ("0.0 s" read as "not computed"), "2.3 s" above.
QString duration(double seconds) {
    if (seconds < 1.0) return QObject::tr("%1 ms").arg(std::max(1, int(std::lround(seconds * 1000))));
    return QObject::tr("%1 s").arg(seconds, 0, 'f', 1);
}
}  // namespace

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
    if (a.method == "omenn") {
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

// ---------------------------------------------------------------------------------------------
ExplainView::ExplainView(Session* session, QUndoStack* undo, QWidget* parent)
    : QWidget(parent), session_(session), undo_(undo) {
    setAcceptDrops(true);
    engine_ = new ExplainEngine(session, this);
    link_ = new ViewLink(this);

    auto* root = new QHBoxLayout(this);
    root->setContentsMargins(4, 4, 4, 4);
    auto* split = new QSplitter;
    root->addWidget(split);
    split->addWidget(buildControls());

    auto* centre = new QWidget;
    auto* cv = new QVBoxLayout(centre);
    cv->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    paneCount_ = new QSpinBox;
    paneCount_->setRange(1, 4);
    paneCount_->setObjectName(QStringLiteral("paneCount"));
    paneCount_->setToolTip(tr("Side-by-side panes, each with its own method, class and head"));
    linkBox_ = new QCheckBox(tr("Link zoom && pan"));
    linkBox_->setChecked(true);
    linkBox_->setToolTip(tr("Zoom (wheel) and pan (drag) all panes together; double-click fits"));
    swipeBox_ = new QCheckBox(tr("Swipe 1 | 2"));
    swipeBox_->setToolTip(tr("One image: pane 1's map left of the line, pane 2's map right of it; drag the line or the slider"));
    swipeSlider_ = new QSlider(Qt::Horizontal);
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
    for (int i = 0; i < 4; ++i) {
        auto* p = new ExplainPane(i);
        p->canvas()->setLink(link_);
        panes_.push_back(p);
        grid_->addWidget(p, i / 2, i % 2);
        connect(p, &ExplainPane::edited, this, [this, i] { paneEdited(i); });
        connect(p, &ExplainPane::activated, this, [this, i] {
            if (i < int(settings_.panes.size()) && settings_.active != i) {
                // Which pane is active is view focus, not an edit: no undo step.
                ExplainSettings s = settings_;
                s.active = i;
                applySettings(s);
            }
        });
    }
    connect(panes_[0]->canvas(), &OverlayCanvas::swipeMoved, this, [this](double x) {
        swipePos_ = x;
        const QSignalBlocker b(swipeSlider_);
        swipeSlider_->setValue(int(std::lround(x * 1000)));
    });
    cv->addWidget(gridHost, 1);
    split->addWidget(centre);
    split->addWidget(buildSide());
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 3);
    split->setStretchFactor(2, 2);
    split->setSizes({270, 590, 420});

    connect(paneCount_, &QSpinBox::valueChanged, this, [this](int n) {
        ExplainSettings s = settings_;
        while (int(s.panes.size()) < n) {
            // A new pane starts with a method not shown yet.
            PaneSpec p = s.panes.back();
            for (const auto& m : kMethods) {
                bool used = false;
                for (const auto& q : s.panes) used |= q.method == m.method;
                if (!used) {
                    p.method = m.method;
                    break;
                }
            }
            s.panes.push_back(p);
        }
        s.panes.resize(size_t(n));
        s.active = std::min(s.active, n - 1);
        if (n < 2) s.swipe = false;
        edit(s, tr("Show %1 pane(s)").arg(n));
    });
    connect(linkBox_, &QCheckBox::toggled, this, [this](bool on) {
        for (auto* p : panes_) p->canvas()->setLink(on ? link_ : nullptr);
    });
    connect(swipeBox_, &QCheckBox::toggled, this, [this](bool on) {
        ExplainSettings s = settings_;
        s.swipe = on && s.panes.size() >= 2;
        edit(s, on ? tr("Swipe between panes 1 and 2") : tr("Side by side"));
    });
    connect(swipeSlider_, &QSlider::valueChanged, this, [this](int v) {
        swipePos_ = v / 1000.0;
        renderPanes();
    });
    connect(engine_, &ExplainEngine::resultReady, this, [this](const QString& key) {
        if (key == tableKey_) {
            computeTable();  // shows the cached table
            return;
        }
        refresh(autoRun_->isChecked());
    });
    connect(engine_, &ExplainEngine::failed, this, [this](const QString& key, const QString& why) {
        failed_.insert(key);
        failedWhy_.insert(key, why);
        if (key == tableKey_) tableText_->setText(tr("The table was not computed: %1").arg(why));
        refresh(false);
    });
    connect(engine_, &ExplainEngine::modelReset, this, [this] { QTimer::singleShot(0, this, &ExplainView::modelChanged); });
    connect(engine_, &ExplainEngine::comparisonChanged, this, [this] {
        const QString name = engine_->comparisonName();
        compareNote_->setEnabled(!name.isEmpty());
        compareNote_->setStyleSheet(QString());
        compareNote_->setText(name.isEmpty() ? tr("Panes explain this model's ProtoQuant head or its linear probe.")
                                             : tr("<b>%1</b> is loaded: choose it as a pane's model.").arg(name.toHtmlEscaped()));
        compareNote_->setToolTip(engine_->comparisonPath());
        modelChanged();
        if (name.isEmpty() || !comparePane_) return;
        const int pane = *comparePane_;
        comparePane_.reset();
        ExplainSettings s = settings_;
        if (pane >= 0 && pane < int(s.panes.size())) {
            // Chosen in that pane's model list.
            s.panes[size_t(pane)].head = PaneHead::Compare;
            s.active = pane;
        } else {
            // Beside what pane 1 shows: the last pane (a second one if there is one pane).
            if (s.panes.size() < 2) s.panes.push_back(s.panes.front());
            s.panes.back().head = PaneHead::Compare;
            s.panes.back().method = s.panes.front().method;
            s.active = int(s.panes.size()) - 1;
        }
        edit(s, tr("Compare with %1").arg(name));
    });
    connect(engine_, &ExplainEngine::comparisonFailed, this, [this](const QString& why) {
        comparePane_.reset();
        compareNote_->setEnabled(true);
        compareNote_->setStyleSheet(QStringLiteral("color: #c0392b"));
        compareNote_->setText(tr("Not loaded: %1").arg(why.toHtmlEscaped()));
        modelChanged();  // panes waiting for it (a restored project) fall back to this model
    });
    connect(session_, &Session::indexChanged, this, [this] { showSelectedShare(); });

    auto* runAct = new QAction(tr("Run"), this);
    runAct->setShortcut(QKeySequence(Qt::Key_F5));
    runAct->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(runAct, &QAction::triggered, this, &ExplainView::run);
    addAction(runAct);

    modelChanged();
}

QWidget* ExplainView::buildControls() {
    auto* host = new QWidget;
    auto* v = new QVBoxLayout(host);
    v->setContentsMargins(0, 0, 4, 0);

    auto* img = new QGroupBox(tr("Image"));
    auto* iv = new QVBoxLayout(img);
    auto* top = new QHBoxLayout;
    thumb_ = new QLabel;
    thumb_->setFixedSize(64, 64);
    thumb_->setFrameShape(QFrame::StyledPanel);
    thumb_->setAlignment(Qt::AlignCenter);
    imageText_ = small(tr("No image yet. Pick one below, choose \"Explain this image\" on the Dataset tab, or drop an image file here."));
    imageText_->setObjectName(QStringLiteral("imageText"));
    top->addWidget(thumb_);
    top->addWidget(imageText_, 1);
    iv->addLayout(top);
    prediction_ = small({});
    prediction_->setObjectName(QStringLiteral("prediction"));
    iv->addWidget(prediction_);
    errorLabel_ = small({});
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
    connect(prev, &QPushButton::clicked, this, [this] { nextTestImage(-1); });
    connect(next, &QPushButton::clicked, this, [this] { nextTestImage(1); });
    connect(open, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, tr("Image to explain"),
                                                       tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)"));
        if (!f.isEmpty()) setImageFile(f);
    });
    v->addWidget(img);

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
    v->addWidget(ov);

    auto* cb = new QGroupBox(tr("Compute"));
    auto* cf = new QFormLayout(cb);
    autoRun_ = new QCheckBox(tr("Auto-run"));
    autoRun_->setObjectName(QStringLiteral("autoRun"));
    autoRun_->setChecked(true);
    autoRun_->setToolTip(tr("Compute what the panes show as soon as it changes. Off: press Run (F5). "
                            "Computed maps are kept, so going back is instant either way."));
    auto* rrow = new QHBoxLayout;
    runButton_ = new QPushButton(tr("Run (F5)"));
    runButton_->setToolTip(tr("Compute the maps shown, including ones that failed or were cancelled"));
    cancelButton_ = new QPushButton(tr("Cancel"));
    cancelButton_->setToolTip(tr("Cancel this view's queued and running computations"));
    rrow->addWidget(runButton_);
    rrow->addWidget(cancelButton_);
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
    v->addWidget(cb);

    auto* cmp = new QGroupBox(tr("Compare models"));
    auto* cmpv = new QVBoxLayout(cmp);
    compareButton_ = new QPushButton(tr("Compare with a checkpoint…"));
    compareButton_->setObjectName(QStringLiteral("compareButton"));
    compareButton_->setToolTip(tr("Load a second trained head on the same features (e.g. the non-quantised baseline or "
                                  "another training run) and explain it in a pane beside this model"));
    compareNote_ = new QLabel(tr("Panes explain this model's ProtoQuant head or its linear probe."));
    compareNote_->setObjectName(QStringLiteral("compareNote"));
    compareNote_->setWordWrap(true);
    compareNote_->setEnabled(false);
    cmpv->addWidget(compareButton_);
    cmpv->addWidget(compareNote_);
    v->addWidget(cmp);
    connect(compareButton_, &QPushButton::clicked, this, [this] { askComparison(-1); });
    v->addStretch(1);

    // Overlay edits: the slider's drag is one undo step (from press to release).
    connect(alpha_, &QSlider::sliderPressed, this, [this] { pressed_ = settings_; });
    connect(alpha_, &QSlider::valueChanged, this, [this](int val) {
        alphaValue_->setText(QStringLiteral("%1 %").arg(val));
        ExplainSettings s = settings_;
        s.overlay.alpha = val / 100.0;
        if (alpha_->isSliderDown()) {
            settings_ = s;  // live preview; the command is pushed on release
            renderPanes();
            showSelectedShare();
        } else {
            edit(s, tr("Opacity %1 %").arg(val));
        }
    });
    connect(alpha_, &QSlider::sliderReleased, this, [this] {
        if (pressed_ != settings_) {
            const ExplainSettings after = settings_;
            settings_ = pressed_;
            edit(after, tr("Opacity %1 %").arg(int(std::lround(after.overlay.alpha * 100))));
        }
    });
    auto overlayEdit = [this](const QString& text, auto change) {
        ExplainSettings s = settings_;
        change(s.overlay);
        edit(s, text);
    };
    connect(colormap_, &QComboBox::currentIndexChanged, this, [this, overlayEdit] {
        overlayEdit(tr("Colours %1").arg(colormap_->currentData().toString()),
                    [this](OverlayOptions& o) { o.colormap = colormap_->currentData().toString(); });
    });
    connect(valueMode_, &QComboBox::currentIndexChanged, this, [this, overlayEdit] {
        overlayEdit(tr("Values %1").arg(valueMode_->currentText()), [this](OverlayOptions& o) { o.absolute = valueMode_->currentData().toBool(); });
    });
    connect(percentile_, &QDoubleSpinBox::valueChanged, this, [this, overlayEdit](double p) {
        overlayEdit(tr("Colour scale fits %1 % of pixels").arg(p), [p](OverlayOptions& o) { o.percentile = p; });
    });
    connect(upsample_, &QComboBox::currentIndexChanged, this, [this, overlayEdit] {
        overlayEdit(tr("Upsampling %1").arg(upsample_->currentText()), [this](OverlayOptions& o) { o.smooth = upsample_->currentData().toBool(); });
    });
    connect(withBias_, &QCheckBox::toggled, this, [this, overlayEdit](bool on) {
        overlayEdit(on ? tr("Show C_w + C_b") : tr("Show C_w"), [on](OverlayOptions& o) { o.withBias = on; });
    });
    auto computeEdit = [this](const QString& text, auto change) {
        ExplainSettings s = settings_;
        change(s.compute);
        edit(s, text);
    };
    connect(igSteps_, &QSpinBox::valueChanged, this, [computeEdit](int n) {
        computeEdit(QObject::tr("IG steps %1").arg(n), [n](ComputeOptions& c) { c.igSteps = n; });
    });
    connect(sgSamples_, &QSpinBox::valueChanged, this, [computeEdit](int n) {
        computeEdit(QObject::tr("SmoothGrad samples %1").arg(n), [n](ComputeOptions& c) { c.sgSamples = n; });
    });
    connect(occPatch_, &QSpinBox::valueChanged, this, [computeEdit](int n) {
        computeEdit(QObject::tr("Occlusion patch %1").arg(n), [n](ComputeOptions& c) { c.occPatch = n; });
    });
    connect(occStride_, &QSpinBox::valueChanged, this, [computeEdit](int n) {
        computeEdit(QObject::tr("Occlusion stride %1").arg(n), [n](ComputeOptions& c) { c.occStride = n; });
    });
    connect(autoRun_, &QCheckBox::toggled, this, [this](bool on) {
        if (on) refresh(true);
    });
    connect(runButton_, &QPushButton::clicked, this, &ExplainView::run);
    connect(cancelButton_, &QPushButton::clicked, this, &ExplainView::cancel);

    auto* scroll = new QScrollArea;
    scroll->setWidget(host);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    for (auto* c : host->findChildren<QComboBox*>()) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(8);
    }
    // Never clip the controls: the column is as wide as its content plus the scroll bar.
    scroll->setMinimumWidth(host->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width() + 2);
    scroll->setMaximumWidth(scroll->minimumWidth() + 60);
    return scroll;
}

QWidget* ExplainView::buildSide() {
    side_ = new QTabWidget;
    side_->setObjectName(QStringLiteral("explainSide"));

    // Decomposition over prototypes.
    auto* dec = new QWidget;
    auto* dv = new QVBoxLayout(dec);
    decText_ = small({});
    decText_->setObjectName(QStringLiteral("decompositionText"));
    decText_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    dv->addWidget(decText_);
    decPlot_ = makePlot(tr("The score as a sum over prototypes"));
    decPlot_->setObjectName(QStringLiteral("decompositionPlot"));
    decBars_ = addThemedBars(decPlot_, 0);
    decBars_->setSelectable(QCP::stSingleData);
    // "rest": the shares not drawn as bars, in grey.
    decRest_ = new QCPBars(decPlot_->xAxis, decPlot_->yAxis);
    decRest_->setWidth(0.7);
    decRest_->setSelectable(QCP::stNone);
    auto restColour = [this] {
        QColor c = Theme::instance()->text();
        c.setAlpha(90);
        decRest_->setBrush(c);
        decRest_->setPen(Qt::NoPen);
    };
    restColour();
    connect(Theme::instance(), &Theme::changed, decPlot_, restColour);
    decPlot_->setInteractions(QCP::iSelectPlottables);
    decPlot_->yAxis->setLabel(tr("weight × presence"));
    decPlot_->setToolTip(tr("Each bar is one prototype's share of the logit (class weight × presence); click a bar"));
    dv->addWidget(decPlot_, 3);
    auto* shareBox = new QGroupBox(tr("Selected prototype"));
    shareBox->setToolTip(tr("Where the prototype is in this image, and the training patches it stands for"));
    auto* sv = new QVBoxLayout(shareBox);
    shareText_ = small(tr("Click a bar."));
    shareText_->setObjectName(QStringLiteral("shareText"));
    sv->addWidget(shareText_);
    auto* srow = new QHBoxLayout;
    shareMap_ = new QLabel;
    shareMap_->setFixedSize(120, 120);
    shareMap_->setAlignment(Qt::AlignCenter);
    shareMap_->setToolTip(tr("The prototype's share of the logit split over pixels (OMENN of its presence, times its weight)"));
    srow->addWidget(shareMap_);
    auto* patches = new QWidget;
    sharePatches_ = new QHBoxLayout(patches);
    sharePatches_->setContentsMargins(0, 0, 0, 0);
    sharePatches_->addStretch(1);
    auto* pscroll = new QScrollArea;  // the patches scroll rather than widen the panel
    pscroll->setWidget(patches);
    pscroll->setWidgetResizable(true);
    pscroll->setFrameShape(QFrame::NoFrame);
    pscroll->setMinimumHeight(104);
    srow->addWidget(pscroll, 1);
    sv->addLayout(srow);
    dv->addWidget(shareBox, 2);
    connect(decPlot_, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int i, QMouseEvent*) { selectShare(i); });
    side_->addTab(scrollable(dec), tr("Decomposition"));
    side_->setTabToolTip(0, tr("For the ProtoQuant head: the logit as exact shares of prototypes, each with its pixel map"));

    // All classes.
    auto* all = new QWidget;
    auto* av = new QVBoxLayout(all);
    allText_ = small({});
    allText_->setObjectName(QStringLiteral("allClassesText"));
    av->addWidget(allText_);
    auto* ascroll = new QScrollArea;
    ascroll->setWidgetResizable(true);
    allHost_ = new QWidget;
    allGrid_ = new QGridLayout(allHost_);
    allGrid_->setSpacing(6);
    allGrid_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    ascroll->setWidget(allHost_);
    av->addWidget(ascroll, 1);
    side_->addTab(scrollable(all), tr("All classes"));
    side_->setTabToolTip(1, tr("OMENN's map of every class's logit on this image (models with up to 20 classes)"));

    // Faithfulness.
    auto* fa = new QWidget;
    auto* fv = new QVBoxLayout(fa);
    curvesPlot_ = makePlot(tr("This image: deletion and insertion"));
    curvesPlot_->setObjectName(QStringLiteral("curvesPlot"));
    for (int g = 0; g < 2; ++g) {
        auto* graph = curvesPlot_->addGraph();
        auto recolour = [this, graph, g] {
            graph->setPen(QPen(Theme::instance()->series(g), 2));
            curvesPlot_->replot();
        };
        recolour();
        connect(Theme::instance(), &Theme::changed, curvesPlot_, recolour);
    }
    curvesPlot_->graph(0)->setName(tr("deletion"));
    curvesPlot_->graph(1)->setName(tr("insertion"));
    curvesPlot_->legend->setVisible(true);
    curvesPlot_->xAxis->setLabel(tr("share of cells removed / restored"));
    curvesPlot_->setMinimumHeight(190);
    curvesPlot_->yAxis->setLabel(tr("probability of the class"));
    curvesPlot_->xAxis->setRange(0, 1);
    curvesPlot_->yAxis->setRange(0, 1);
    fv->addWidget(curvesPlot_, 3);
    curvesText_ = small({});
    curvesText_->setObjectName(QStringLiteral("curvesText"));
    fv->addWidget(curvesText_);
    auto* tbox = new QGroupBox(tr("Dataset table (a job)"));
    tbox->setToolTip(tr("Every ticked method on a seeded sample of test images"));
    auto* tv = new QVBoxLayout(tbox);
    auto* trow = new QHBoxLayout;
    tableMethods_ = new QListWidget;
    tableMethods_->setMaximumHeight(70);
    tableMethods_->setFlow(QListView::LeftToRight);
    tableMethods_->setWrapping(true);
    for (const auto& m : kMethods) {
        auto* it = new QListWidgetItem(QString::fromUtf8(m.label), tableMethods_);
        it->setData(Qt::UserRole, int(m.method));
        it->setFlags(it->flags() | Qt::ItemIsUserCheckable);
        const bool slow = m.method == pqw::Method::Occlusion || m.method == pqw::Method::SmoothGrad;
        it->setCheckState(slow ? Qt::Unchecked : Qt::Checked);
    }
    tv->addWidget(tableMethods_);
    tableImages_ = new QSpinBox;
    tableImages_->setRange(1, 10000);
    tableImages_->setValue(20);
    tableImages_->setToolTip(tr("Test images (a seeded sample: the same as `pqw faithfulness --seed 0`)"));
    tableSanity_ = new QSpinBox;
    tableSanity_->setRange(0, 100);
    tableSanity_->setValue(2);
    tableSanity_->setToolTip(tr("Images for the model-randomisation check (slow: re-explains with scrambled weights)"));
    auto* compute = new QPushButton(tr("Compute table"));
    compute->setObjectName(QStringLiteral("computeTable"));
    trow->addWidget(new QLabel(tr("Images")));
    trow->addWidget(tableImages_);
    trow->addWidget(new QLabel(tr("randomisation")));
    trow->addWidget(tableSanity_);
    trow->addStretch(1);
    tv->addLayout(trow);
    tv->addWidget(compute);
    table_ = new QTableWidget;
    table_->setObjectName(QStringLiteral("faithfulnessTable"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->setMinimumHeight(120);
    tv->addWidget(table_, 1);
    tableText_ = small(tr("Deletion AUC: lower is better; insertion AUC: higher is better; completeness residual: how far "
                          "the map's sum is from the logit; randomisation: rank correlation with the map of a scrambled "
                          "model (low is better)."));
    tv->addWidget(tableText_);
    fv->addWidget(tbox, 2);
    connect(compute, &QPushButton::clicked, this, [this] {
        tableKey_.clear();
        computeTable();
    });
    side_->addTab(scrollable(fa), tr("Faithfulness"));
    side_->setTabToolTip(2, tr("Does the map point at what the model uses? Curves for this image, a table over the test set"));
    connect(side_, &QTabWidget::currentChanged, this, [this] { refresh(autoRun_->isChecked()); });
    return side_;
}

// ---------------------------------------------------------------------------------------------
QString ExplainView::errorText() const { return error_; }

bool ExplainView::setImage(const ExplainImageRef& ref) {
    const ExplainImageRef before = engine_->image();
    if (!engine_->setImage(ref)) {
        error_ = engine_->error();
        errorLabel_->setText(error_);
        errorLabel_->setVisible(true);
        Q_EMIT statusMessage(error_);
        engine_->setImage(before);  // keep showing the previous image
        return false;
    }
    error_.clear();
    errorLabel_->setVisible(false);
    ExplainSettings s = settings_;
    s.image = ref;
    edit(s, tr("Explain %1").arg(engine_->imageLabel()));
    return true;
}

bool ExplainView::setImageSample(size_t sample) {
    ExplainImageRef r;
    r.kind = ExplainImageRef::Kind::Sample;
    r.sample = sample;
    return setImage(r);
}

bool ExplainView::setImageFile(const QString& path) {
    ExplainImageRef r;
    r.kind = ExplainImageRef::Kind::File;
    r.path = QFileInfo(path).absoluteFilePath();
    return setImage(r);
}

void ExplainView::nextTestImage(int step) {
    auto ds = session_->dataset();
    if (!ds) {
        Q_EMIT statusMessage(tr("Open a dataset first."));
        return;
    }
    auto ids = ds->indices(pqw::Split::Test);
    if (ids.empty()) ids = ds->indices(pqw::Split::Val);
    if (ids.empty()) return;
    size_t at = 0;
    if (settings_.image.kind == ExplainImageRef::Kind::Sample) {
        auto it = std::lower_bound(ids.begin(), ids.end(), settings_.image.sample);
        const long pos = long(it - ids.begin());
        const bool exact = it != ids.end() && *it == settings_.image.sample;
        long n = exact ? pos + step : (step > 0 ? pos : pos - 1);
        n = ((n % long(ids.size())) + long(ids.size())) % long(ids.size());
        at = size_t(n);
    }
    setImageSample(ids[at]);
}

void ExplainView::edit(const ExplainSettings& next, const QString& text) {
    if (next == settings_) {
        syncWidgets();  // a widget may show an unapplied value
        return;
    }
    if (undo_) undo_->push(new SettingsCommand(this, settings_, next, text));
    else applySettings(next);
}

void ExplainView::applySettings(const ExplainSettings& sIn) {
    ExplainSettings s = sIn;
    if (s.panes.empty()) s.panes = ExplainSettings().panes;
    s.active = std::clamp(s.active, 0, int(s.panes.size()) - 1);
    if (s.image != engine_->image() && !engine_->setImage(s.image)) {
        error_ = engine_->error();
        errorLabel_->setText(error_);
        errorLabel_->setVisible(true);
        s.image = engine_->image();
    } else {
        // The error was about an attempt that is over: what is shown now is a working image.
        error_.clear();
        errorLabel_->setVisible(false);
    }
    settings_ = s;
    syncWidgets();
    layoutPanes();
    updateImageBox();
    refresh(autoRun_->isChecked());
}

void ExplainView::syncWidgets() {
    const auto& s = settings_;
    const QSignalBlocker b1(alpha_), b2(colormap_), b3(valueMode_), b4(percentile_), b5(upsample_), b6(withBias_),
        b7(igSteps_), b8(sgSamples_), b9(occPatch_), b10(occStride_), b11(paneCount_), b12(swipeBox_);
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
    paneCount_->setValue(int(s.panes.size()));
    swipeBox_->setChecked(s.swipe);
    swipeBox_->setEnabled(s.panes.size() >= 2);
    swipeSlider_->setEnabled(s.swipe);
    const bool bwr = s.overlay.colormap == QLatin1String("auto") || s.overlay.colormap == QLatin1String("bwr");
    legend_->setText(s.overlay.absolute ? tr("brighter: larger |contribution|")
                     : bwr ? tr("<span style='color:#d62728'>■</span> raises the score &nbsp;<span style='color:#1f4fd6'>■</span> lowers it")
                           : tr("colour scale centred at 0 (no effect)"));
    for (size_t i = 0; i < s.panes.size(); ++i) panes_[i]->setSpec(s.panes[i]);
}

void ExplainView::layoutPanes() {
    const int n = int(settings_.panes.size());
    std::vector<ExplainPane*> shown;
    const bool swipe = settings_.swipe && n >= 2;
    for (int i = 0; i < 4; ++i) {
        auto* p = panes_[size_t(i)];
        grid_->removeWidget(p);
        // Swiping: pane 2's map is drawn inside pane 1; pane 2 keeps its selectors and numbers
        // in a narrow column beside it.
        const bool show = i < n && !(swipe && i > 1);
        p->setVisible(show);
        p->canvas()->setVisible(!(swipe && i == 1));
        p->setMaximumWidth(swipe && i == 1 ? 240 : QWIDGETSIZE_MAX);
        p->canvas()->setActive(n > 1 && i == settings_.active);
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

void ExplainView::paneEdited(int i) {
    ExplainSettings s = settings_;
    if (i >= int(s.panes.size())) return;
    const PaneSpec p = panes_[size_t(i)]->spec();
    if (p.head == PaneHead::Compare && !engine_->hasHead(PaneHead::Compare)) {
        // "Other checkpoint…" with none loaded: ask for one; the pane switches when it loads.
        panes_[size_t(i)]->setSpec(s.panes[size_t(i)]);
        if (!engine_->comparisonPending()) askComparison(i);
        return;
    }
    const PaneSpec old = s.panes[size_t(i)];
    s.panes[size_t(i)] = p;
    s.active = i;
    QString what;
    if (p.method != old.method) what = tr("Pane %1: %2").arg(i + 1).arg(methodLabel(p.method));
    else if (p.head != old.head) what = tr("Pane %1: %2").arg(i + 1).arg(panes_[size_t(i)]->headBox()->currentText());
    else what = tr("Pane %1: class %2").arg(i + 1).arg(panes_[size_t(i)]->targetBox()->currentText() +
                                                       (p.contrast >= 0 ? tr(" vs %1").arg(panes_[size_t(i)]->contrastBox()->currentText()) : QString()));
    edit(s, what);
}

void ExplainView::modelChanged() {
    error_.clear();  // a failed image of the previous model says nothing about this one
    errorLabel_->setVisible(false);
    failed_.clear();
    failedWhy_.clear();
    selectedPrototype_ = -1;
    shownDecision_.clear();
    const QStringList names = engine_->classNames();
    const bool probe = engine_->hasHead(PaneHead::Probe), proto = engine_->hasHead(PaneHead::ProtoQuant);
    const bool compare = engine_->hasHead(PaneHead::Compare);
    for (auto* p : panes_) p->setClasses(names, probe, proto, compare ? engine_->comparisonName() : QString());
    // Panes on a head the model lacks move to the one it has.
    ExplainSettings s = settings_;
    for (auto& p : s.panes) {
        if (p.head == PaneHead::Compare && !compare && !engine_->comparisonPending())
            p.head = proto ? PaneHead::ProtoQuant : PaneHead::Probe;
        if (p.head == PaneHead::ProtoQuant && !proto && probe) p.head = PaneHead::Probe;
        if (p.head == PaneHead::Probe && !probe && proto) p.head = PaneHead::ProtoQuant;
        if (p.target >= names.size()) p.target = -1;
        if (p.contrast >= names.size()) p.contrast = -1;
    }
    if (s.image.kind == ExplainImageRef::Kind::Sample && engine_->image().kind == ExplainImageRef::Kind::None) s.image = {};
    applySettings(s);
}

void ExplainView::updateImageBox() {
    const QImage& in = engine_->inputImage();
    if (in.isNull()) {
        thumb_->clear();
        imageText_->setText(tr("No image yet. Pick a test image below, choose \"Explain this image\" on the Dataset tab, "
                               "or drop an image file here."));
        prediction_->clear();
        return;
    }
    thumb_->setPixmap(QPixmap::fromImage(in.scaled(thumb_->size() - QSize(4, 4), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
    QString t = tr("<b>%1</b>").arg(engine_->imageLabel().toHtmlEscaped());
    if (settings_.image.kind == ExplainImageRef::Kind::File) t += QStringLiteral("<br>") + settings_.image.path.toHtmlEscaped();
    imageText_->setText(t);
    imageText_->setToolTip(settings_.image.kind == ExplainImageRef::Kind::File ? settings_.image.path : QString());
}

int ExplainView::activeClass() const {
    if (settings_.panes.empty()) return -1;
    const auto& p = settings_.panes[size_t(settings_.active)];
    if (auto r = engine_->cachedMap(engine_->mapKey(p, settings_.compute))) return r->target;
    return p.target;
}

void ExplainView::run() {
    failed_.clear();
    failedWhy_.clear();
    refresh(true);
}

void ExplainView::cancel() {
    engine_->cancelAll();
    Q_EMIT statusMessage(tr("Cancelled the Explain view's computations; Run (F5) starts them again."));
}

bool ExplainView::pickStartImage() {
    if (settings_.image.kind != ExplainImageRef::Kind::None || !engine_->ready() || !session_->dataset()) return false;
    auto ds = session_->dataset();
    auto ids = ds->indices(pqw::Split::Test);
    if (ids.empty()) ids = ds->indices(pqw::Split::Val);
    if (ids.empty()) ids = ds->indices(pqw::Split::Train);
    if (ids.empty()) return false;
    ExplainImageRef r;
    r.kind = ExplainImageRef::Kind::Sample;
    r.sample = ids.front();
    if (!engine_->setImage(r)) return false;
    ExplainSettings s = settings_;
    s.image = r;
    applySettings(s);  // the starting point, not an edit
    return true;
}

void ExplainView::showEvent(QShowEvent* e) {
    QWidget::showEvent(e);
    // A first visit with a model and a dataset but no image: start on a test image.
    if (pickStartImage()) return;
    QTimer::singleShot(0, this, [this] { refresh(autoRun_->isChecked()); });
}

void ExplainView::refresh(bool request) {
    request = request && isVisible();
    QString why;
    const bool ready = engine_->ready(&why);
    const bool haveImage = !engine_->inputImage().isNull();
    const QStringList names = engine_->classNames();
    for (size_t i = 0; i < settings_.panes.size(); ++i) {
        auto* pane = panes_[i];
        const PaneSpec& ps = settings_.panes[i];
        if (!ready) {
            pane->showMessage(why);
            continue;
        }
        if (!haveImage) {
            pane->showMessage(tr("Pick an image on the left (or drop one here) to see what the model looks at."));
            continue;
        }
        if (!engine_->hasHead(ps.head)) {
            if (ps.head == PaneHead::Compare)
                pane->showMessage(engine_->comparisonPending() ? tr("Loading the checkpoint to compare with…")
                                                               : tr("No checkpoint is loaded for comparison: use “Compare with a checkpoint…”."));
            else
                pane->showMessage(tr("This model has no %1.").arg(ps.head == PaneHead::Probe ? tr("linear probe") : tr("ProtoQuant head")));
            continue;
        }
        const QString key = engine_->mapKey(ps, settings_.compute);
        if (engine_->cachedMap(key)) continue;  // rendered below
        if (failed_.contains(key)) {
            pane->showMessage(tr("%1 was not computed: %2\nPress Run (F5) to try again.").arg(methodLabel(ps.method), failedWhy_.value(key)));
            continue;
        }
        if (request) engine_->requestMap(ps, settings_.compute);
        pane->showMessage(engine_->pending(key) ? tr("Computing %1...").arg(methodLabel(ps.method))
                                                : tr("%1 is not computed yet: press Run (F5), or turn on Auto-run.").arg(methodLabel(ps.method)));
    }
    if (request) {
        // Queued maps no pane shows any more (e.g. after quick switches) are dropped.
        QSet<QString> keep;
        for (const auto& ps : settings_.panes) keep.insert(engine_->mapKey(ps, settings_.compute));
        keep.insert(tableKey_);
        const auto& ap = settings_.panes[size_t(settings_.active)];
        keep.insert(engine_->decompositionKey(ap.head == PaneHead::ProtoQuant ? ap.target : -1));
        keep.insert(engine_->allClassesKey(ap.head));
        if (auto m = engine_->cachedMap(engine_->mapKey(ap, settings_.compute)))
            keep.insert(engine_->curvesKey(ap, settings_.compute, m->target));
        engine_->dropQueuedExcept(keep);
    }
    renderPanes();
    // The prediction, from any ProtoQuant-head (or probe) result for this image.
    prediction_->clear();
    for (const auto& ps : settings_.panes) {
        auto r = engine_->cachedMap(engine_->mapKey(ps, settings_.compute));
        if (!r || r->logits.empty()) continue;
        std::vector<double> p(r->logits.size());
        const double mx = *std::max_element(r->logits.begin(), r->logits.end());
        double z = 0;
        for (size_t c = 0; c < p.size(); ++c) z += (p[c] = std::exp(double(r->logits[c]) - mx));
        std::vector<int> order(p.size());
        for (size_t c = 0; c < order.size(); ++c) order[c] = int(c);
        std::sort(order.begin(), order.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
        QStringList top;
        for (size_t k = 0; k < std::min<size_t>(3, order.size()); ++k)
            top << QStringLiteral("%1 %2 %").arg(names.value(order[k]).toHtmlEscaped()).arg(100 * p[size_t(order[k])] / z, 0, 'f', 1);
        const int label = engine_->imageLabelIndex();
        prediction_->setText(tr("%1 predicts <b>%2</b>%3")
                                 .arg(ps.head == PaneHead::Probe ? tr("The linear probe") : headName(ps.head), top.join(QStringLiteral(", ")),
                                      label < 0 ? QString() : (label == order[0] ? tr(" (correct)") : tr(" (labelled %1)").arg(names.value(label)))));
        break;
    }
    const int tab = side_->currentIndex();
    refreshDecomposition(request && tab == 0);
    refreshAllClasses(request && tab == 1);
    refreshCurves(request && tab == 2);
}

void ExplainView::renderPanes() {
    const QStringList names = engine_->classNames();
    for (size_t i = 0; i < settings_.panes.size(); ++i) {
        const QString key = engine_->mapKey(settings_.panes[i], settings_.compute);
        auto r = engine_->cachedMap(key);
        if (!r) continue;
        const auto& o = settings_.overlay;
        const QString rk = key + QStringLiteral("|%1|%2|%3|%4|%5|%6").arg(o.alpha).arg(o.colormap).arg(o.absolute).arg(o.percentile).arg(o.smooth).arg(o.withBias);
        if (panes_[i]->renderKey == rk) continue;
        QImage img;
        try {
            img = composeOverlay(engine_->inputImage(), shownMap(r->attr, o.withBias), r->attr.height, r->attr.width, o);
        } catch (const std::exception& e) {
            panes_[i]->showMessage(tr("Cannot draw the map: %1").arg(QString::fromStdString(e.what())));
            continue;
        }
        panes_[i]->showResult(r, img, names);
        panes_[i]->renderKey = rk;
    }
    // Swipe: pane 1's canvas shows pane 2's map right of the line.
    auto* c0 = panes_[0]->canvas();
    if (settings_.swipe && settings_.panes.size() >= 2 && !panes_[1]->canvas()->image().isNull() && !c0->image().isNull()) {
        const auto& a = settings_.panes[0];
        const auto& b = settings_.panes[1];
        const QStringList names = engine_->classNames();
        auto label = [&](const PaneSpec& p) {
            QString t = methodLabel(p.method);
            if (a.head != b.head) t += QStringLiteral(" · ") + headName(p.head);
            if (a.target != b.target || a.contrast != b.contrast)
                t += QStringLiteral(" · ") + (p.target < 0 ? tr("predicted") : names.value(p.target)) +
                     (p.contrast >= 0 ? tr(" vs %1").arg(names.value(p.contrast)) : QString());
            return t;
        };
        c0->setSwipe(panes_[1]->canvas()->image(), swipePos_, label(a), label(b));
    } else {
        c0->clearSwipe();
    }
}

void ExplainView::refreshDecomposition(bool request) {
    auto clearShare = [this] {
        shareMap_->clear();
        while (sharePatches_->count() > 1) {
            auto* it = sharePatches_->takeAt(0);
            delete it->widget();
            delete it;
        }
    };
    if (!engine_->ready() || engine_->inputImage().isNull()) {
        decBars_->data()->clear();
        decRest_->data()->clear();
        decPlot_->replot();
        decText_->setText(tr("For a ProtoQuant model the logit is an exact sum over prototypes (class weight × presence); "
                             "it shows here once an image is explained."));
        shownDecision_.clear();
        clearShare();
        return;
    }
    if (!engine_->hasHead(PaneHead::ProtoQuant)) {
        decText_->setText(tr("This model has only the linear probe: the decomposition over prototypes needs the ProtoQuant head."));
        return;
    }
    const auto& p = settings_.panes[size_t(settings_.active)];
    const int cls = p.head == PaneHead::ProtoQuant ? p.target : -1;
    const QString key = engine_->decompositionKey(cls);
    auto r = engine_->cachedDecomposition(key);
    if (!r) {
        if (request && !failed_.contains(key)) engine_->requestDecomposition(cls);
        decText_->setText(failed_.contains(key) ? tr("Not computed: %1").arg(failedWhy_.value(key))
                          : engine_->pending(key) ? tr("Splitting the logit over prototypes...")
                                                  : tr("Not computed yet: press Run (F5) or turn on Auto-run."));
        if (shownDecision_ != key) {
            decBars_->data()->clear();
            decRest_->data()->clear();
            decPlot_->replot();
            clearShare();
            shareText_->setText(tr("Click a bar."));
            shownDecision_.clear();
            selectedPrototype_ = -1;
        }
        return;
    }
    const QStringList names = engine_->classNames();
    const auto& d = r->decision;
    double sum = 0;
    for (const auto& s : d.shares) sum += s.share;
    const int n = int(d.shares.size());
    const int shown = std::min(n, kBars);
    decText_->setText(tr("<b>Score for %1: %2</b>, the sum of %3 prototypes' shares (each is class weight × presence; the shares add "
                         "up to %4)%5. Click a bar: its pixel map and the training patches the prototype stands for.")
                          .arg(names.value(d.cls).toHtmlEscaped(), num(d.logit)).arg(n).arg(num(sum))
                          .arg(n > shown ? tr("; the %1 largest shares are bars, the rest is one bar").arg(shown) : QString()) +
                      (p.head == PaneHead::ProtoQuant
                           ? QString()
                           : tr("<br><span style='color:gray'>This splits the loaded model's ProtoQuant head; pane %1 "
                                "explains the %2.</span>")
                                 .arg(settings_.active + 1)
                                 .arg(headName(p.head).toHtmlEscaped())));
    if (shownDecision_ != key) {
        shownDecision_ = key;
        QStringList labels;
        QVector<double> values;
        double rest = 0;
        for (int i = 0; i < n; ++i) {
            if (i < shown) {
                labels << QStringLiteral("P%1").arg(d.shares[size_t(i)].prototype);
                values << d.shares[size_t(i)].share;
            } else {
                rest += d.shares[size_t(i)].share;
            }
        }
        if (n > shown) {
            labels << tr("rest (%1)").arg(n - shown);
            values << rest;
        }
        setBars(decPlot_, decBars_, labels, values);
        decRest_->data()->clear();
        if (n > shown) {
            decBars_->data()->remove(double(shown));
            decRest_->addData(double(shown), rest);
        }
        setPlotTitle(decPlot_, tr("Score for %1 as a sum over prototypes").arg(names.value(d.cls)));
        decPlot_->replot();
        selectedPrototype_ = -1;
        selectShare(0);
    }
}

void ExplainView::selectShare(int bar) {
    auto r = engine_->cachedDecomposition(shownDecision_);
    if (!r || bar < 0 || bar >= std::min<int>(int(r->decision.shares.size()), kBars)) return;
    selectedPrototype_ = r->decision.shares[size_t(bar)].prototype;
    QCPDataSelection sel;
    sel.addDataRange(QCPDataRange(bar, bar + 1));
    decBars_->setSelection(sel);
    decPlot_->replot();
    showSelectedShare();
}

void ExplainView::showSelectedShare() {
    while (sharePatches_->count() > 1) {
        auto* it = sharePatches_->takeAt(0);
        delete it->widget();
        delete it;
    }
    auto r = engine_->cachedDecomposition(shownDecision_);
    if (!r || selectedPrototype_ < 0) {
        shareMap_->clear();
        return;
    }
    const pqw::PrototypeShare* share = nullptr;
    for (const auto& s : r->decision.shares)
        if (s.prototype == selectedPrototype_) share = &s;
    if (!share) return;
    const double pct = r->decision.logit != 0 ? 100.0 * share->share / r->decision.logit : 0.0;
    QString t = tr("<b>Prototype %1</b>: weight %2 × presence %3 = <b>%4</b> (%5 % of the score).")
                    .arg(share->prototype).arg(num(share->weight), num(share->presence), num(share->share)).arg(pct, 0, 'f', 1);
    if (!share->map.map.empty()) {
        t += tr(" Its pixel map sums to this share: %1 from the pixels + %2 from the network's built-in offsets.").arg(num(share->map.weightSum), num(share->map.biasSum));
        try {
            const QImage img = composeOverlay(engine_->inputImage(), shownMap(share->map, settings_.overlay.withBias),
                                              share->map.height, share->map.width, settings_.overlay);
            shareMap_->setPixmap(QPixmap::fromImage(img.scaled(shareMap_->size(), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
        } catch (const std::exception&) {
            shareMap_->clear();
        }
    } else {
        shareMap_->clear();
    }
    auto idx = session_->index();
    int row = -1;
    if (idx)
        for (size_t i = 0; i < idx->infos.size(); ++i)
            if (idx->infos[i].index == share->prototype) row = int(i);
    if (row < 0) {
        t += idx ? tr(" (not in the prototype index)") : tr(" Its nearest training patches appear once the prototype index is built.");
    } else {
        t += tr(" Right: its nearest training patches.");
        auto ds = session_->dataset();
        const auto& info = idx->infos[size_t(row)];
        for (size_t k = 0; k < std::min<size_t>(3, idx->contexts[size_t(row)].size()); ++k) {
            auto* l = new QLabel;
            l->setPixmap(QPixmap::fromImage(idx->contexts[size_t(row)][k].scaled(84, 84, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
            const auto& ref = info.topPatches[k];
            const QString cls = ds && ref.sample < ds->size() ? QString::fromStdString(ds->classNames()[size_t(ds->sample(ref.sample).label)]) : QString();
            l->setToolTip(tr("training image #%1 (%2), activation %3").arg(ref.sample).arg(cls).arg(ref.activation, 0, 'f', 3));
            sharePatches_->insertWidget(sharePatches_->count() - 1, l);
        }
    }
    shareText_->setText(t);
}

int ExplainView::allClassesTiles() const { return allGrid_->count(); }

void ExplainView::refreshAllClasses(bool request) {
    auto clear = [this] {
        while (allGrid_->count() > 0) {
            auto* it = allGrid_->takeAt(0);
            delete it->widget();
            delete it;
        }
    };
    const QStringList names = engine_->classNames();
    if (!engine_->ready() || engine_->inputImage().isNull()) {
        clear();
        allText_->setText(tr("OMENN's map for every class appears here once an image is explained."));
        return;
    }
    if (names.size() > kMaxGridClasses) {
        clear();
        allText_->setText(tr("The model has %1 classes; the all-classes grid is for models with at most %2.").arg(names.size()).arg(kMaxGridClasses));
        return;
    }
    const auto& p = settings_.panes[size_t(settings_.active)];
    const QString key = engine_->allClassesKey(p.head);
    auto r = engine_->cachedAllClasses(key);
    if (!r) {
        clear();
        if (request && !failed_.contains(key)) engine_->requestAllClasses(p.head);
        allText_->setText(failed_.contains(key) ? tr("Not computed: %1").arg(failedWhy_.value(key))
                          : engine_->pending(key) ? tr("One backward pass per class...")
                                                  : tr("Not computed yet: press Run (F5) or turn on Auto-run."));
        return;
    }
    clear();
    const int pred = r->logits.empty() ? -1 : int(std::max_element(r->logits.begin(), r->logits.end()) - r->logits.begin());
    allText_->setText(tr("OMENN's map of every class's score (%1), each map with its own colour scale. The predicted class is in bold.")
                          .arg(p.head == PaneHead::Probe ? tr("linear probe") : tr("ProtoQuant head")));
    const int cols = 3;
    for (size_t k = 0; k < r->rows.size(); ++k) {
        const auto& a = r->rows[k];
        auto* tile = new QWidget;
        auto* tv = new QVBoxLayout(tile);
        tv->setContentsMargins(0, 0, 0, 0);
        tv->setSpacing(1);
        auto* img = new QLabel;
        try {
            img->setPixmap(QPixmap::fromImage(composeOverlay(engine_->inputImage(), shownMap(a, settings_.overlay.withBias), a.height, a.width,
                                                             settings_.overlay).scaled(104, 104, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
        } catch (const std::exception&) {
        }
        auto* cap = small(int(k) == pred ? tr("<b>%1</b> · %2").arg(names.value(int(k)).toHtmlEscaped(), QString::number(a.output, 'f', 2))
                                         : tr("%1 · %2").arg(names.value(int(k)).toHtmlEscaped(), QString::number(a.output, 'f', 2)));
        cap->setToolTip(tr("logit %1 = Σ C_w %2 + Σ C_b %3").arg(num(a.output), num(a.weightSum), num(a.biasSum)));
        tv->addWidget(img);
        tv->addWidget(cap);
        allGrid_->addWidget(tile, int(k) / cols, int(k) % cols);
    }
}

void ExplainView::refreshCurves(bool request) {
    auto clear = [this] {
        curvesPlot_->graph(0)->data()->clear();
        curvesPlot_->graph(1)->data()->clear();
        curvesPlot_->replot();
    };
    if (!engine_->ready() || engine_->inputImage().isNull() || settings_.panes.empty()) {
        clear();
        curvesText_->setText(tr("Deletion and insertion curves of the active pane's map appear here once an image is explained."));
        return;
    }
    const auto& p = settings_.panes[size_t(settings_.active)];
    auto map = engine_->cachedMap(engine_->mapKey(p, settings_.compute));
    if (!map) {
        clear();
        curvesText_->setText(tr("Waiting for the active pane's map."));
        return;
    }
    const int cls = map->target;
    const QString key = engine_->curvesKey(p, settings_.compute, cls);
    auto r = engine_->cachedCurves(key);
    if (!r) {
        clear();
        if (request && !failed_.contains(key)) engine_->requestCurves(p, settings_.compute, cls);
        curvesText_->setText(failed_.contains(key) ? tr("Not computed: %1").arg(failedWhy_.value(key))
                             : engine_->pending(key) ? tr("Deleting and inserting cells in order of the map...")
                                                     : tr("Not computed yet: press Run (F5) or turn on Auto-run."));
        return;
    }
    const QStringList names = engine_->classNames();
    for (int g = 0; g < 2; ++g) {
        const auto& y = g == 0 ? r->deletion : r->insertion;
        QVector<double> xs, ys;
        for (size_t i = 0; i < y.size(); ++i) {
            xs << (y.size() > 1 ? double(i) / double(y.size() - 1) : 0.0);
            ys << y[i];
        }
        curvesPlot_->graph(g)->setData(xs, ys, true);
        curvesPlot_->graph(g)->setName(g == 0 ? tr("deletion (AUC %1)").arg(r->deletionAuc, 0, 'f', 3)
                                              : tr("insertion (AUC %1)").arg(r->insertionAuc, 0, 'f', 3));
    }
    setPlotTitle(curvesPlot_, tr("This image: %1 map, class %2").arg(methodLabel(p.method), names.value(cls)));
    curvesPlot_->replot();
    curvesText_->setText(tr("Cells are removed (deletion: set to black) or restored into a blurred copy (insertion) in the "
                            "order of the map, most important first. A faithful map makes the probability fall fast "
                            "(deletion AUC %1, lower is better) and rise fast (insertion AUC %2, higher is better).")
                             .arg(r->deletionAuc, 0, 'f', 3).arg(r->insertionAuc, 0, 'f', 3));
}

void ExplainView::computeTable() {
    QList<pqw::Method> methods;
    for (int i = 0; i < tableMethods_->count(); ++i)
        if (tableMethods_->item(i)->checkState() == Qt::Checked) methods << pqw::Method(tableMethods_->item(i)->data(Qt::UserRole).toInt());
    if (methods.isEmpty()) {
        tableText_->setText(tr("Tick at least one method."));
        return;
    }
    QString why;
    if (!engine_->ready(&why)) {
        tableText_->setText(why);
        return;
    }
    const QString key = engine_->tableKey(methods, tableImages_->value(), settings_.compute);
    tableKey_ = key;
    auto t = engine_->cachedTable(key);
    if (!t) {
        failed_.remove(key);
        if (!engine_->pending(key)) engine_->requestTable(methods, tableImages_->value(), settings_.compute, tableSanity_->value());
        tableText_->setText(tr("Computing the table (see the Jobs panel for progress; Cancel stops it)..."));
        return;
    }
    const QStringList cols = {QStringLiteral("deletion_auc"), QStringLiteral("insertion_auc"), QStringLiteral("pixel_flipping_auc"),
                              QStringLiteral("faithfulness_corr"), QStringLiteral("completeness_residual"), QStringLiteral("randomisation_spearman")};
    const QStringList heads = {tr("method"), tr("deletion ↓"), tr("insertion ↑"), tr("pixel flipping ↓"), tr("faithfulness corr. ↑"),
                               tr("completeness residual"), tr("randomisation ρ ↓")};
    table_->clear();
    table_->setColumnCount(int(heads.size()));
    table_->setHorizontalHeaderLabels(heads);
    table_->setRowCount(int(t->rows.size()));
    for (int r = 0; r < int(t->rows.size()); ++r) {
        const auto& row = t->rows[size_t(r)];
        pqw::Method m;
        table_->setItem(r, 0, new QTableWidgetItem(pqw::parseMethod(row.method, m) ? methodLabel(m) : QString::fromStdString(row.method)));
        for (int c = 0; c < cols.size(); ++c) {
            auto it = row.metrics.find(cols[c].toStdString());
            auto* item = new QTableWidgetItem(it == row.metrics.end() ? QStringLiteral("–")
                                                                     : QStringLiteral("%1 ± %2").arg(it->second.first, 0, 'g', 3).arg(it->second.second, 0, 'g', 2));
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            table_->setItem(r, c + 1, item);
        }
    }
    table_->resizeColumnsToContents();
    tableText_->setText(tr("%1 test images (seeded), the predicted class of each; mean ± standard deviation.").arg(t->images));
}

void ExplainView::compareWith(const QString& path, int pane) {
    comparePane_ = pane;
    compareNote_->setEnabled(true);
    compareNote_->setStyleSheet(QString());
    compareNote_->setText(tr("Loading %1…").arg(QFileInfo(path).fileName().toHtmlEscaped()));
    engine_->loadComparison(path);
}

void ExplainView::askComparison(int pane) {
    const QString f = openFileDialog(this, tr("Checkpoint to compare with"),
                                                   tr("ProtoQuant checkpoints (*.pqwh);;All files (*)"));
    if (!f.isEmpty()) compareWith(f, pane);
}

QString ExplainView::headName(PaneHead h) const {
    switch (h) {
        case PaneHead::Probe: return tr("linear probe");
        case PaneHead::Compare: return engine_->comparisonName().isEmpty() ? tr("other checkpoint") : engine_->comparisonName();
        case PaneHead::ProtoQuant: break;
    }
    return tr("ProtoQuant");
}

// ---------------------------------------------------------------------------------------------
QJsonObject ExplainView::saveState() const {
    QJsonObject o = settingsJson(settings_);
    if (!engine_->comparisonPath().isEmpty()) o[QStringLiteral("compareCheckpoint")] = engine_->comparisonPath();
    o[QStringLiteral("version")] = 1;
    o[QStringLiteral("swipePosition")] = swipePos_;
    o[QStringLiteral("zoom")] = link_->zoom();
    o[QStringLiteral("centre")] = QJsonArray{link_->centre().x(), link_->centre().y()};
    o[QStringLiteral("linkViews")] = linkBox_->isChecked();
    o[QStringLiteral("autoRun")] = autoRun_->isChecked();
    static const char* tabs[] = {"decomposition", "allClasses", "faithfulness"};
    o[QStringLiteral("sideTab")] = QString::fromLatin1(tabs[std::clamp(side_->currentIndex(), 0, 2)]);
    return o;
}

void ExplainView::restoreState(const QJsonObject& o) {
    swipePos_ = std::clamp(o.value(QStringLiteral("swipePosition")).toDouble(0.5), 0.0, 1.0);
    {
        const QSignalBlocker b(swipeSlider_);
        swipeSlider_->setValue(int(std::lround(swipePos_ * 1000)));
    }
    linkBox_->setChecked(o.value(QStringLiteral("linkViews")).toBool(true));
    {
        const QSignalBlocker b(autoRun_);
        autoRun_->setChecked(o.value(QStringLiteral("autoRun")).toBool(true));
    }
    const QString tab = o.value(QStringLiteral("sideTab")).toString();
    {
        const QSignalBlocker b(side_);
        side_->setCurrentIndex(tab == QLatin1String("allClasses") ? 1 : tab == QLatin1String("faithfulness") ? 2 : 0);
    }
    const QJsonArray c = o.value(QStringLiteral("centre")).toArray();
    link_->set(o.value(QStringLiteral("zoom")).toDouble(1.0), c.size() == 2 ? QPointF(c[0].toDouble(0.5), c[1].toDouble(0.5)) : QPointF(0.5, 0.5));
    // The comparison checkpoint loads as a job; the panes on it switch back to it when it has
    // loaded (until then they show this model's head).
    const QString cmp = o.value(QStringLiteral("compareCheckpoint")).toString();
    if (cmp.isEmpty()) engine_->clearComparison();
    else if (cmp != engine_->comparisonPath()) engine_->loadComparison(cmp);
    applySettings(settingsFromJson(o));
}

std::vector<pqw::ProjectExplanation> ExplainView::chosenExplanations() const {
    std::vector<pqw::ProjectExplanation> out;
    if (settings_.image.kind == ExplainImageRef::Kind::None) return out;
    for (const auto& p : settings_.panes) {
        if (p.head != PaneHead::ProtoQuant) continue;  // the report explains the project's active head
        pqw::ProjectExplanation e;
        if (settings_.image.kind == ExplainImageRef::Kind::File) e.image = settings_.image.path.toStdString();
        else e.sample = static_cast<long long>(settings_.image.sample);
        e.method = pqw::methodName(p.method);
        e.target = p.target;
        e.contrast = p.contrast;
        bool seen = false;
        for (const auto& o : out)
            seen = seen || (o.method == e.method && o.target == e.target && o.contrast == e.contrast);
        if (!seen) out.push_back(e);
    }
    return out;
}

bool ExplainView::prepareScreenshot() {
    side_->setCurrentIndex(0);
    pickStartImage();
    refresh(true);
    return session_->jobs()->busy();
}

void ExplainView::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls() && !e->mimeData()->urls().isEmpty() && QFileInfo(e->mimeData()->urls().first().toLocalFile()).isFile())
        e->acceptProposedAction();
}

void ExplainView::dropEvent(QDropEvent* e) {
    const auto urls = e->mimeData()->urls();
    if (urls.isEmpty()) return;
    setImageFile(urls.first().toLocalFile());
    e->acceptProposedAction();
}

}  // namespace pqwgui
