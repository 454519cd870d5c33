#include "explain/decompositionpanel.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollArea>
#include <QVBoxLayout>

#include "common/layouts.h"
#include "explain/explaincompute.h"
#include "explain/explainengine.h"
#include "explain/overlay.h"
#include "plots.h"
#include "pqw/dataset.h"
#include "qcp.h"
#include "session.h"
#include "theme.h"

namespace pqwgui {

namespace {
QString num(double v) { return QString::number(v, 'f', 4); }
}  // namespace

DecompositionPanel::DecompositionPanel(ExplainEngine* engine, Session* session, QWidget* parent)
    : QWidget(parent), engine_(engine), session_(session) {
    auto* dv = new QVBoxLayout(this);
    text_ = smallLabel();
    text_->setObjectName(QStringLiteral("decompositionText"));
    text_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    dv->addWidget(text_);
    plot_ = makePlot(tr("The score as a sum over prototypes"));
    plot_->setObjectName(QStringLiteral("decompositionPlot"));
    bars_ = addThemedBars(plot_, 0);
    bars_->setSelectable(QCP::stSingleData);
    // "rest": the shares not drawn as bars, in grey.
    rest_ = new QCPBars(plot_->xAxis, plot_->yAxis);
    rest_->setWidth(0.7);
    rest_->setSelectable(QCP::stNone);
    auto restColour = [this] {
        QColor c = Theme::instance()->text();
        c.setAlpha(90);
        rest_->setBrush(c);
        rest_->setPen(Qt::NoPen);
    };
    restColour();
    connect(Theme::instance(), &Theme::changed, plot_, restColour);
    plot_->setInteractions(QCP::iSelectPlottables);
    plot_->yAxis->setLabel(tr("weight × presence"));
    plot_->setToolTip(tr("Each bar is one prototype's share of the logit (class weight × presence); click a bar"));
    dv->addWidget(plot_, 3);
    auto* shareBox = new QGroupBox(tr("Selected prototype"));
    shareBox->setToolTip(tr("Where the prototype is in this image, and the training patches it stands for"));
    auto* sv = new QVBoxLayout(shareBox);
    shareText_ = smallLabel(tr("Click a bar."));
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
    connect(plot_, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int i, QMouseEvent*) { selectShare(i); });
    connect(session_, &Session::indexChanged, this, [this] { showSelectedShare(); });
}

void DecompositionPanel::reset() {
    selectedPrototype_ = -1;
    shown_ = {};
}

void DecompositionPanel::clearBars() {
    bars_->data()->clear();
    rest_->data()->clear();
    plot_->replot();
    shareMap_->clear();
    clearLayout(sharePatches_, 1);  // the trailing stretch stays
}

void DecompositionPanel::update(const ExplainSettings& s, bool request) {
    settings_ = s;
    if (!engine_->ready() || engine_->inputImage().isNull()) {
        clearBars();
        text_->setText(tr("For a ProtoQuant model the logit is an exact sum over prototypes (class weight × presence); "
                          "it shows here once an image is explained."));
        shown_ = {};
        return;
    }
    if (!engine_->hasHead(PaneHead::ProtoQuant)) {
        text_->setText(tr("This model has only the linear probe: the decomposition over prototypes needs the ProtoQuant head."));
        return;
    }
    const auto& p = s.activePane();
    const int cls = p.head == PaneHead::ProtoQuant ? p.target : -1;
    const CacheKey key = engine_->decompositionKey(cls);
    auto r = engine_->cachedDecomposition(key);
    if (!r) {
        if (request && !engine_->hasFailed(key)) engine_->requestDecomposition(cls);
        text_->setText(notComputedText(engine_->hasFailed(key), engine_->failure(key), engine_->pending(key),
                                       tr("Splitting the logit over prototypes...")));
        if (shown_ != key) {
            clearBars();
            shareText_->setText(tr("Click a bar."));
            shown_ = {};
            selectedPrototype_ = -1;
        }
        return;
    }
    const QStringList names = engine_->classNames();
    const auto& d = r->decision;
    double sum = 0;
    for (const auto& sh : d.shares) sum += sh.share;
    const int n = int(d.shares.size());
    const int shown = std::min(n, kDecompositionBars);
    text_->setText(tr("<b>Score for %1: %2</b>, the sum of %3 prototypes' shares (each is class weight × presence; the shares add "
                      "up to %4)%5. Click a bar: its pixel map and the training patches the prototype stands for.")
                       .arg(names.value(d.cls).toHtmlEscaped(), num(d.logit)).arg(n).arg(num(sum))
                       .arg(n > shown ? tr("; the %1 largest shares are bars, the rest is one bar").arg(shown) : QString()) +
                   (p.head == PaneHead::ProtoQuant
                        ? QString()
                        : tr("<br><span style='color:gray'>This splits the loaded model's ProtoQuant head; pane %1 "
                             "explains the %2.</span>")
                              .arg(s.active + 1)
                              .arg(engine_->headName(p.head).toHtmlEscaped())));
    if (shown_ == key) return;
    shown_ = key;
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
    setBars(plot_, bars_, labels, values);
    rest_->data()->clear();
    if (n > shown) {
        bars_->data()->remove(double(shown));
        rest_->addData(double(shown), rest);
    }
    setPlotTitle(plot_, tr("Score for %1 as a sum over prototypes").arg(names.value(d.cls)));
    plot_->replot();
    selectedPrototype_ = -1;
    selectShare(0);
}

void DecompositionPanel::setOverlay(const OverlayOptions& o) {
    settings_.overlay = o;
    showSelectedShare();
}

void DecompositionPanel::selectShare(int bar) {
    auto r = engine_->cachedDecomposition(shown_);
    if (!r || bar < 0 || bar >= std::min<int>(int(r->decision.shares.size()), kDecompositionBars)) return;
    selectedPrototype_ = r->decision.shares[size_t(bar)].prototype;
    QCPDataSelection sel;
    sel.addDataRange(QCPDataRange(bar, bar + 1));
    bars_->setSelection(sel);
    plot_->replot();
    showSelectedShare();
}

void DecompositionPanel::showSelectedShare() {
    clearLayout(sharePatches_, 1);
    auto r = engine_->cachedDecomposition(shown_);
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
            const QImage img = composeAttribution(engine_->inputImage(), share->map, settings_.overlay);
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

}  // namespace pqwgui
