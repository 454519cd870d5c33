#include "pruning/comparepanel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

#include "jobrunner.h"
#include "pqw/heatmap.h"
#include "pqw/sweep_compare.h"
#include "session.h"
#include "pqw/method_text.h"
#include "theme.h"

namespace pqwgui {

namespace {

QString pct(double v, int d = 1) { return QStringLiteral("%1 %").arg(100 * v, 0, 'f', d); }


/// An image label that scales its image to the space it gets (aspect kept), so a large map
/// never pushes the captions around.
class FitImage : public QLabel {
public:
    FitImage() {
        setAlignment(Qt::AlignCenter);
        setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
        setMinimumSize(64, 64);
    }
    void setImage(const QImage& img) {
        img_ = img;
        refit();
    }
    QSize sizeHint() const override { return {180, 180}; }

protected:
    void resizeEvent(QResizeEvent* e) override {
        QLabel::resizeEvent(e);
        refit();
    }

private:
    void refit() {
        if (img_.isNull()) return clear();
        setPixmap(QPixmap::fromImage(img_.scaled(size(), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
    }
    QImage img_;
};

}  // namespace

ComparePanel::ComparePanel(Session* session, QWidget* parent)
    : QWidget(parent), session_(session), cache_(std::make_shared<pqw::SweepModels>()) {
    auto* cv = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    image_ = new QSpinBox;
    image_->setRange(1, 9999999);  // counted from 1, as the Explain view counts test images
    image_->setToolTip(tr("Which image of the sweep's test split (1 = the first)"));
    method_ = new QComboBox;
    for (const pqw::Method m : pqw::allMethods()) {  // core's one table of methods (pqw/method_text.h)
        method_->addItem(QString::fromUtf8(pqw::methodTitle(m)), QString::fromLatin1(pqw::methodName(m)));
        method_->setItemData(method_->count() - 1, QString::fromUtf8(pqw::methodSummary(m)), Qt::ToolTipRole);
    }
    method_->setToolTip(tr("Explanation method, the same for both models; the explained class is the dense model's prediction"));
    method_->setMinimumWidth(130);
    explain_ = new QPushButton(tr("Compare"));
    explain_->setObjectName(QStringLiteral("compareButton"));
    explain_->setToolTip(tr("Explain the test image on the dense model and on the run selected in the Results table "
                            "(its pruned model is rebuilt from the base model with the run's settings: as long as the run took)"));
    row->addWidget(new QLabel(tr("Test image:")));
    row->addWidget(image_);
    row->addWidget(new QLabel(tr("Method:")));
    row->addWidget(method_);
    row->addWidget(explain_);
    row->addStretch(1);
    cv->addLayout(row);
    auto* panes = new QHBoxLayout;
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.9);
    // Each model: its map with the numbers beside it (the tab gets the full width, see below).
    auto pane = [&](QLabel*& img, QLabel*& cap) {
        auto* w = new QHBoxLayout;
        img = new FitImage;
        cap = new QLabel;
        cap->setWordWrap(true);
        cap->setFont(small);
        cap->setAlignment(Qt::AlignTop | Qt::AlignLeft);
        cap->setTextInteractionFlags(Qt::TextSelectableByMouse);
        cap->setMinimumWidth(100);
        w->addWidget(img, 3);
        w->addWidget(cap, 2);
        panes->addLayout(w, 1);
        panes->addSpacing(8);
    };
    pane(denseImage_, denseCaption_);
    pane(prunedImage_, prunedCaption_);
    denseImage_->setObjectName(QStringLiteral("denseMap"));
    prunedImage_->setObjectName(QStringLiteral("prunedMap"));
    denseCaption_->setObjectName(QStringLiteral("denseCaption"));
    prunedCaption_->setObjectName(QStringLiteral("prunedCaption"));
    cv->addLayout(panes, 1);
    compareNote_ = new QLabel(tr("Select a finished run in Results, pick a test image and a method, then Compare."));
    compareNote_->setWordWrap(true);
    compareNote_->setFont(small);
    compareNote_->setEnabled(false);
    cv->addWidget(compareNote_);
    connect(explain_, &QPushButton::clicked, this,
            [this] { Q_EMIT compareRequested(image_->value() - 1, method_->currentData().toString()); });
    connect(session_->jobs(), &JobRunner::finished, this, [this](int id, JobStatus st, const QString& msg) {
        if (id != job_) return;
        job_ = 0;
        if (st != JobStatus::Succeeded) {
            compareNote_->setText(st == JobStatus::Failed ? tr("Could not compare: %1").arg(msg) : tr("Comparison cancelled."));
            Q_EMIT finished(false);
        }
        setCanCompare(canCompare_);
    });
}

ComparePanel::~ComparePanel() = default;

void ComparePanel::setCanCompare(bool can) {
    canCompare_ = can;
    explain_->setEnabled(job_ == 0 && can);
}

void ComparePanel::setNote(const QString& text) { compareNote_->setText(text); }
int ComparePanel::image() const { return image_->value() - 1; }
void ComparePanel::setImage(int image) { image_->setValue(image + 1); }
QString ComparePanel::method() const { return method_->currentData().toString(); }
void ComparePanel::setMethod(const QString& method) {
    const int i = method_->findData(method);
    if (i >= 0) method_->setCurrentIndex(i);
}

int ComparePanel::compare(const QString& dirName, const QString& runId, int image, const QString& method, double logTest) {
    if (job_) return 0;
    if (dirName.isEmpty()) {
        compareNote_->setText(tr("Open or run a sweep first."));
        return 0;
    }
    pqw::Method m;
    if (!pqw::parseMethod(method.toStdString(), m)) {
        compareNote_->setText(tr("Unknown method %1.").arg(method));
        return 0;
    }
    const std::string dir = dirName.toStdString(), run = runId.toStdString();
    auto cache = cache_;
    const int side = 240;
    QPointer<ComparePanel> self(this);
    setImage(image);
    setMethod(method);
    compareNote_->setText(tr("Comparing: the pruned model is rebuilt first (once per run; it takes as long as the run took)..."));
    job_ = session_->jobs()->submit(tr("Compare dense and pruned"), [=](pqw::JobContext& ctx) -> std::function<void()> {
        // Everything here runs on the worker thread; the cache is handed back in the finisher.
        auto c = std::make_shared<pqw::SweepModels>(*cache);
        const auto r = pqw::compareDenseAndPruned(*c, dir, run, size_t(image), m, side, ctx);  // -1: too large
        const auto& ad = r.dense;
        const auto& ap = r.pruned;
        pqw::HeatmapOptions ho;
        ho.width = side;
        ho.height = side;
        ho.signedMap = pqw::methodIsSigned(m);
        const QImage imD = toQImage(pqw::blendOverlay(r.rgb, pqw::renderHeatmap(ad.map, ad.height, ad.width, ho)));
        const QImage imP = toQImage(pqw::blendOverlay(r.rgb, pqw::renderHeatmap(ap.map, ap.height, ap.width, ho)));
        const auto costD = r.denseCost, costP = r.prunedCost;
        const double rebuilt = r.rebuiltTestTop1;
        const auto& names = r.classNames;
        const size_t n = r.testImages;
        const double originalPrunable = double(r.originalPrunable);
        const QString truth = QString::fromStdString(names.at(size_t(r.label)));
        const QString clsName = QString::fromStdString(names.at(size_t(r.denseClass)));
        const QString clsPName = QString::fromStdString(names.at(size_t(r.prunedClass)));
        const QString runWords = QString::fromStdString(r.runInWords);
        return [=] {
            if (!self) return;
            self->cache_ = c;
            self->image_->setMaximum(int(n));
            static_cast<FitImage*>(self->denseImage_)->setImage(imD);
            static_cast<FitImage*>(self->prunedImage_)->setImage(imP);
            self->compared_[0].image = imD;
            self->compared_[1].image = imP;
            auto caption = [&](const QString& who, const pqw::Attribution& a, const pqw::ModelCost& cost, const QString& pred,
                               double sparsity) {
                // Non-zero weights: unstructured pruning masks weights without removing them, so the
                // stored parameter count is the same on both sides; what is left is what counts.
                const qint64 nonzero = qint64(cost.params - (cost.prunableParams - cost.nonzeroPrunable));
                QString s = tr("<b>%1</b> (%2 non-zero parameters, %3 sparse): predicts <b>%4</b>")
                                .arg(who, QLocale().toString(nonzero), pct(sparsity, 0), pred);
                s += tr("<br>score for %1: %2").arg(clsName).arg(a.output, 0, 'f', 3);
                if (m == pqw::Method::Omenn)  // the exact split OMENN gives
                    s += tr("<br>= %1 from the weights %2 %3 from the biases")
                             .arg(a.weightSum, 0, 'f', 3)
                             .arg(a.biasSum < 0 ? QStringLiteral("\u2212") : QStringLiteral("+"))
                             .arg(std::abs(a.biasSum), 0, 'f', 3);
                return s;
            };
            const double spD = 1.0 - double(costD.nonzeroPrunable) / originalPrunable;
            const double spP = 1.0 - double(costP.nonzeroPrunable) / originalPrunable;
            self->denseCaption_->setText(caption(self->tr("Dense"), ad, costD, clsName, spD));
            self->prunedCaption_->setText(caption(self->tr("Pruned"), ap, costP, clsPName, spP));
            for (int i = 0; i < 2; ++i) {
                const auto& a = i == 0 ? ad : ap;
                self->compared_[i].logit = a.output;
                self->compared_[i].sum = a.weightSum + a.biasSum;
                self->compared_[i].exact = m == pqw::Method::Omenn;
            }
            QString note = self->tr("Run %1 against the dense model. Test image %2, true class %3. Both maps explain %4 "
                                    "(the dense model's prediction)")
                               .arg(runWords, QString::number(image + 1), truth, clsName);
            note += ho.signedMap ? self->tr("; red raises the score, blue lowers it.") : self->tr("; brighter: more influence.");
            note += self->tr(" Pruned model rebuilt from the base model: test top-1 %1 (log: %2).")
                        .arg(pct(rebuilt, 2), std::isnan(logTest) ? QStringLiteral("-") : pct(logTest, 2));
            self->compareNote_->setText(note);
            self->compareNote_->setEnabled(true);
            Q_EMIT self->finished(true);
        };
    });
    setCanCompare(canCompare_);
    return job_;
}

}  // namespace pqwgui
