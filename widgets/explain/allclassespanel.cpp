#include "explain/allclassespanel.h"

#include <QGridLayout>
#include <QLabel>
#include <QScrollArea>
#include <QVBoxLayout>

#include <algorithm>

#include "common/layouts.h"
#include "explain/explainengine.h"
#include "explain/overlay.h"

namespace pqwgui {

AllClassesPanel::AllClassesPanel(ExplainEngine* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
    auto* av = new QVBoxLayout(this);
    text_ = smallLabel();
    text_->setObjectName(QStringLiteral("allClassesText"));
    av->addWidget(text_);
    auto* ascroll = new QScrollArea;
    ascroll->setWidgetResizable(true);
    auto* host = new QWidget;
    grid_ = new QGridLayout(host);
    grid_->setSpacing(6);
    grid_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    ascroll->setWidget(host);
    av->addWidget(ascroll, 1);
}

int AllClassesPanel::tiles() const { return grid_->count(); }

void AllClassesPanel::update(const ExplainSettings& s, bool request) {
    const QStringList names = engine_->classNames();
    clearLayout(grid_);
    if (!engine_->ready() || engine_->inputImage().isNull()) {
        text_->setText(tr("OMENN's map for every class appears here once an image is explained."));
        return;
    }
    if (names.size() > kMaxGridClasses) {
        text_->setText(tr("The model has %1 classes; the all-classes grid is for models with at most %2.").arg(names.size()).arg(kMaxGridClasses));
        return;
    }
    const auto& p = s.activePane();
    const CacheKey key = engine_->allClassesKey(p.head);
    auto r = engine_->cachedAllClasses(key);
    if (!r) {
        if (request && !engine_->hasFailed(key)) engine_->requestAllClasses(p.head);
        text_->setText(notComputedText(engine_->hasFailed(key), engine_->failure(key), engine_->pending(key),
                                       tr("One backward pass per class...")));
        return;
    }
    const int pred = r->logits.empty() ? -1 : int(std::max_element(r->logits.begin(), r->logits.end()) - r->logits.begin());
    text_->setText(tr("OMENN's map of every class's score (%1), each map with its own colour scale. The predicted class is in bold.")
                       .arg(p.head == PaneHead::Probe ? tr("linear probe") : tr("ProtoQuant head")));
    const int cols = 3;
    auto num = [](double v) { return QString::number(v, 'f', 4); };
    for (size_t k = 0; k < r->rows.size(); ++k) {
        const auto& a = r->rows[k];
        auto* tile = new QWidget;
        auto* tv = new QVBoxLayout(tile);
        tv->setContentsMargins(0, 0, 0, 0);
        tv->setSpacing(1);
        auto* img = new QLabel;
        try {
            img->setPixmap(QPixmap::fromImage(composeAttribution(engine_->inputImage(), a, s.overlay)
                                                  .scaled(104, 104, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
        } catch (const std::exception&) {
        }
        const QString name = names.value(int(k)).toHtmlEscaped(), out = QString::number(a.output, 'f', 2);
        auto* cap = smallLabel(int(k) == pred ? tr("<b>%1</b> · %2").arg(name, out) : tr("%1 · %2").arg(name, out));
        cap->setToolTip(tr("logit %1 = Σ C_w %2 + Σ C_b %3").arg(num(a.output), num(a.weightSum), num(a.biasSum)));
        tv->addWidget(img);
        tv->addWidget(cap);
        grid_->addWidget(tile, int(k) / cols, int(k) % cols);
    }
}

}  // namespace pqwgui
