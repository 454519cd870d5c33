#include "prototypeview.h"

#include <QJsonObject>

#include <QCheckBox>
#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QScrollArea>
#include <QTimer>
#include <QSplitter>
#include <QTabWidget>
#include <QUndoStack>
#include <QVBoxLayout>

#include "qcp.h"

#include "plots.h"
#include "prototypemodel.h"
#include "session.h"
#include "theme.h"

namespace pqwgui {

PrototypeView::PrototypeView(Session* session, QUndoStack* undo, QWidget* parent)
    : QWidget(parent), session_(session), undo_(undo) {
    model_ = new PrototypeListModel(this);
    model_->setUndoStack(undo);
    proxy_ = new PrototypeSortProxy(this);
    proxy_->setSourceModel(model_);
    proxy_->setDynamicSortFilter(false);

    auto* root = new QHBoxLayout(this);
    auto* split = new QSplitter;
    root->addWidget(split);

    auto* left = new QWidget;
    auto* lv = new QVBoxLayout(left);
    lv->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    sort_ = new QComboBox;
    sort_->addItem(tr("Largest weight for class"), int(PrototypeSortProxy::ByWeight));
    sort_->addItem(tr("Most used first"), int(PrototypeSortProxy::ByUsage));
    sort_->addItem(tr("By number"), int(PrototypeSortProxy::ByIndex));
    sort_->addItem(tr("Most stable first"), int(PrototypeSortProxy::ByStability));
    sort_->setObjectName(QStringLiteral("prototypeSort"));
    sort_->setToolTip(tr("Order of the tiles: how many training cells a prototype is nearest to, or how much it counts "
                         "for one class's score"));
    sortClass_ = new QComboBox;
    sortClass_->setToolTip(tr("The class whose weights order the tiles"));
    sortClass_->setEnabled(true);
    filter_ = new QComboBox;
    filter_->setToolTip(tr("Show only prototypes whose strongest class is this one"));
    bar->addWidget(new QLabel(tr("Sort:")));
    bar->addWidget(sort_);
    bar->addWidget(sortClass_);
    bar->addSpacing(12);
    bar->addWidget(new QLabel(tr("Show:")));
    bar->addWidget(filter_);
    bar->addStretch(1);
    lv->addLayout(bar);
    empty_ = new QLabel(tr("No prototypes yet. Train a model on the Training tab, load a checkpoint (Ctrl+Shift+L), "
                           "or start the demo from the Start tab: the prototypes appear here with the training "
                           "patches they stand for."));
    empty_->setWordWrap(true);
    lv->addWidget(empty_);
    grid_ = new QListView;
    grid_->setObjectName(QStringLiteral("prototypeGrid"));
    grid_->setModel(proxy_);
    grid_->setViewMode(QListView::IconMode);
    grid_->setUniformItemSizes(true);
    grid_->setResizeMode(QListView::Adjust);
    grid_->setMovement(QListView::Static);
    grid_->setIconSize(QSize(80, 80));
    grid_->setGridSize(QSize(112, 128));
    grid_->setWordWrap(true);
    grid_->setSpacing(4);
    grid_->setToolTip(tr("Each tile is one prototype: its best-matching training patch, its strongest class and how many "
                         "training cells it stands for. The check box switches it off (Ctrl+Z undoes)."));
    lv->addWidget(grid_, 1);
    split->addWidget(left);

    auto* rightHost = new QWidget;
    auto* rv = new QVBoxLayout(rightHost);
    rv->setContentsMargins(0, 0, 0, 0);
    title_ = new QLabel(tr("Select a prototype"));
    QFont tf = title_->font();
    tf.setPointSize(tf.pointSize() + 2);
    tf.setBold(true);
    title_->setFont(tf);
    title_->setWordWrap(true);
    rv->addWidget(title_);
    enabled_ = new QCheckBox(tr("Used by the classifier (untick to switch this prototype off and re-evaluate)"));
    enabled_->setObjectName(QStringLiteral("prototypeEnabled"));
    enabled_->setToolTip(tr("Switching off forces the prototype's presence to 0 in every decision. Undo with Ctrl+Z."));
    enabled_->setEnabled(false);
    rv->addWidget(enabled_);
    accuracy_ = new QLabel;
    accuracy_->setObjectName(QStringLiteral("accuracyChange"));
    accuracy_->setWordWrap(true);
    rv->addWidget(accuracy_);
    auto* pbox = new QGroupBox(tr("Nearest training patches (best first)"));
    pbox->setToolTip(tr("Top: the training image with the patch boxed. Below: the patch enlarged. Caption: activation and the image's class."));
    auto* pl = new QVBoxLayout(pbox);
    auto* pscroll = new QScrollArea;
    pscroll->setWidgetResizable(true);
    pscroll->setFrameShape(QFrame::NoFrame);
    pscroll->setMinimumHeight(240);
    patches_ = new QWidget;
    patchRow_ = new QHBoxLayout(patches_);
    patchRow_->setContentsMargins(0, 0, 0, 0);
    patchRow_->addStretch(1);
    pscroll->setWidget(patches_);
    pl->addWidget(pscroll);
    rv->addWidget(pbox);
    weights_ = makePlot(tr("Class weights of this prototype"));
    weights_->setObjectName(QStringLiteral("classWeightChart"));
    weightBars_ = addThemedBars(weights_, 1);
    weights_->yAxis->setLabel(tr("weight (evidence per unit of presence)"));
    rv->addWidget(weights_, 1);

    auto* ebox = new QWidget;
    auto* el = new QVBoxLayout(ebox);
    explain_ = new QPushButton(tr("Explain an image..."));
    explain_->setObjectName(QStringLiteral("explainButton"));
    explain_->setToolTip(tr("Pick an image (or drop one on the window): see the prediction and the prototypes that drove "
                            "it, each boxed on the image beside its nearest training patches (Ctrl+I)"));
    explainText_ = new QLabel(tr("Pick or drop an image to see which prototypes the model finds in it."));
    explainText_->setWordWrap(true);
    explainImage_ = new QLabel;
    explainImage_->setAlignment(Qt::AlignCenter);
    auto* escroll = explainScroll_ = new QScrollArea;
    escroll->setWidget(explainImage_);
    escroll->setWidgetResizable(true);
    escroll->setMinimumHeight(120);
    auto* toExplain = new QPushButton(tr("Open in the Explain view (attribution maps)"));
    toExplain->setObjectName(QStringLiteral("openInExplain"));
    toExplain->setToolTip(tr("The same image with OMENN and the baseline attribution maps side by side, and its decision "
                             "split over prototypes (Ctrl+6)"));
    toExplain->setEnabled(false);
    connect(toExplain, &QPushButton::clicked, this, &PrototypeView::openInExplainRequested);
    connect(session_, &Session::explanationReady, toExplain, [toExplain] { toExplain->setEnabled(true); });
    // An explanation belongs to the model that made it: a new or retrained model clears it.
    connect(session_, &Session::modelChanged, this, [this, toExplain] {
        if (explanation_.isNull()) return;
        explanation_ = QImage();
        explainImage_->clear();
        toExplain->setEnabled(false);
        explainText_->setText(tr("The model changed since the last explanation. Pick or drop an image to see which "
                                 "prototypes the new model finds in it."));
    });
    auto* erow = new QHBoxLayout;
    erow->addWidget(explain_);
    erow->addWidget(toExplain);
    el->addLayout(erow);
    el->addWidget(explainText_);
    el->addWidget(escroll, 1);
    auto* rightScroll = rightScroll_ = new QScrollArea;
    rightScroll->setWidget(rightHost);
    rightScroll->setWidgetResizable(true);
    rightScroll->setFrameShape(QFrame::NoFrame);
    rightScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    side_ = new QTabWidget;
    side_->addTab(rightScroll, tr("Selected prototype"));
    side_->addTab(ebox, tr("This looks like that"));
    side_->setTabToolTip(1, tr("Explain one image: its prediction and the prototypes that drove it (Ctrl+I)"));
    split->addWidget(side_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    connect(sort_, &QComboBox::currentIndexChanged, this, &PrototypeView::applySort);
    connect(sortClass_, &QComboBox::currentIndexChanged, this, &PrototypeView::applySort);
    connect(filter_, &QComboBox::currentIndexChanged, this, [this] { proxy_->setClassFilter(filter_->currentData().toInt()); });
    connect(grid_->selectionModel(), &QItemSelectionModel::currentChanged, this, &PrototypeView::showDetail);
    connect(enabled_, &QCheckBox::clicked, this, [this](bool on) {
        const QModelIndex ix = proxy_->mapToSource(grid_->currentIndex());
        if (ix.isValid()) model_->setData(ix, on ? Qt::Checked : Qt::Unchecked, Qt::CheckStateRole);
    });
    connect(model_, &QAbstractItemModel::dataChanged, this, [this] { showDetail(); });
    connect(grid_, &QListView::clicked, this, [this] { side_->setCurrentIndex(0); });
    connect(side_, &QTabWidget::currentChanged, this, [this] { QTimer::singleShot(0, this, &PrototypeView::fitExplanation); });
    connect(model_, &PrototypeListModel::maskChanged, this, [this](const std::vector<char>& mask) {
        accuracy_->setText(tr("Re-evaluating the validation accuracy..."));
        session_->applyPrototypeMask(mask);
    });
    connect(session_, &Session::prototypeMaskApplied, this, [this](double before, double after) {
        int off = 0;
        for (char e : model_->enabled()) off += e ? 0 : 1;
        const double d = 100 * (after - before);
        accuracy_->setText(before < 0 ? tr("Validation accuracy: %1 %").arg(100 * after, 0, 'f', 2)
                                      : tr("Validation accuracy %1 % → <b>%2 %</b> (%3%4 points) with %5 prototype(s) off")
                                            .arg(100 * before, 0, 'f', 2).arg(100 * after, 0, 'f', 2)
                                            .arg(d >= 0 ? QStringLiteral("+") : QString()).arg(d, 0, 'f', 2).arg(off));
    });
    connect(session_, &Session::indexChanged, this, &PrototypeView::reload);
    connect(session_, &Session::stabilityChanged, this, [this] {
        model_->setStability(session_->stability());
        accuracy_->setText(tr("Stability measured: tiles ordered by how little each prototype's presence changes "
                              "when its images are shifted or noised."));
        applySort();
    });
    connect(session_, &Session::explanationReady, this, &PrototypeView::showExplanation);
    connect(explain_, &QPushButton::clicked, this, &PrototypeView::explainRequested);
    reload();
}

void PrototypeView::reload() {
    auto idx = session_->index();
    const auto& s = session_->modelSummary();
    undo_->clear();  // commands refer to the previous prototypes
    model_->setIndex(idx, s.enabled, s.classNames);
    const bool have = idx && !idx->infos.empty();
    empty_->setVisible(!have);
    grid_->setVisible(have);
    explain_->setEnabled(have && s.head);
    accuracy_->clear();
    {
        const QSignalBlocker b1(sortClass_), b2(filter_);
        sortClass_->clear();
        filter_->clear();
        filter_->addItem(tr("All prototypes"), -1);
        for (int c = 0; c < s.classNames.size(); ++c) {
            sortClass_->addItem(s.classNames[c], c);
            filter_->addItem(tr("Strongest for %1").arg(s.classNames[c]), c);
        }
    }
    proxy_->setClassFilter(-1);
    measuring_ = false;
    model_->setStability(session_->stability());
    applySort();
    selectFirst();
}

QJsonObject PrototypeView::saveState() const {
    QJsonObject o;
    o.insert(QStringLiteral("sort"), sort_->currentIndex());
    o.insert(QStringLiteral("sort_class"), sortClass_->currentIndex());
    o.insert(QStringLiteral("filter"), filter_->currentIndex());
    const QModelIndex ix = proxy_->mapToSource(grid_->currentIndex());
    if (ix.isValid()) o.insert(QStringLiteral("selected"), ix.row());
    return o;
}

void PrototypeView::restoreState(const QJsonObject& o) {
    auto set = [](QComboBox* c, int i) {
        if (i >= 0 && i < c->count()) c->setCurrentIndex(i);
    };
    set(sort_, o.value(QStringLiteral("sort")).toInt(0));
    set(sortClass_, o.value(QStringLiteral("sort_class")).toInt(0));
    set(filter_, o.value(QStringLiteral("filter")).toInt(0));
    const int sel = o.value(QStringLiteral("selected")).toInt(-1);
    if (sel >= 0 && sel < model_->rowCount()) {
        const QModelIndex pix = proxy_->mapFromSource(model_->index(sel));
        if (pix.isValid()) grid_->setCurrentIndex(pix);
    }
}

void PrototypeView::selectFirst() {
    if (proxy_->rowCount() > 0) grid_->setCurrentIndex(proxy_->index(0, 0));
    showDetail();
}

void PrototypeView::applySort() {
    const auto mode = PrototypeSortProxy::Mode(sort_->currentData().toInt());
    if (mode == PrototypeSortProxy::ByStability && !model_->hasStability() && model_->rowCount() > 0) {
        // Measured on demand (a job): the tiles re-sort when it arrives.
        if (session_->stability().empty()) {
            if (!measuring_) {
                measuring_ = true;
                accuracy_->setText(tr("Measuring each prototype's stability (a job; see Jobs)..."));
                session_->measureStability([this] { measuring_ = false; });
            }
        } else {
            model_->setStability(session_->stability());
        }
    }
    sortClass_->setEnabled(mode == PrototypeSortProxy::ByWeight);
    model_->setWeightClass(std::max(0, sortClass_->currentData().toInt()));
    proxy_->setMode(mode);
}

void PrototypeView::showDetail() {
    while (patchRow_->count() > 1) {
        auto* item = patchRow_->takeAt(0);
        delete item->widget();
        delete item;
    }
    const QModelIndex pix = grid_->currentIndex();
    const QModelIndex ix = proxy_->mapToSource(pix);
    auto idx = model_->prototypeIndex();
    if (!ix.isValid() || !idx) {
        title_->setText(idx ? tr("Select a prototype") : tr("No prototypes yet"));
        enabled_->setEnabled(false);
        weightBars_->data()->clear();
        weights_->replot();
        return;
    }
    const size_t p = size_t(ix.row());
    const auto& info = idx->infos[p];
    const int top = ix.data(PrototypeListModel::TopClassRole).toInt();
    const auto& cls = model_->classNames();
    float wmax = 0, wsum = 0;
    for (float v : info.classWeights) wmax = std::max(wmax, v), wsum += v;
    // Weighted about equally for every class (often background): no class of its own.
    const bool distinct = !info.classWeights.empty() && wmax >= 1.25f * wsum / float(info.classWeights.size());
    title_->setText(distinct && top >= 0 && top < cls.size()
                        ? tr("Prototype %1 · evidence mainly for %2 · stands for %3 training image patches").arg(info.index).arg(cls[top]).arg(info.usage)
                        : tr("Prototype %1 · about equal evidence for every class (often background) · stands for %2 training image patches").arg(info.index).arg(info.usage));
    enabled_->setEnabled(true);
    enabled_->setChecked(ix.data(PrototypeListModel::EnabledRole).toBool());
    for (size_t k = 0; k < idx->patches[p].size(); ++k) {
        auto* tile = new QLabel;
        tile->setPixmap(QPixmap::fromImage(idx->contexts[p][k]));
        auto* crop = new QLabel;
        crop->setPixmap(QPixmap::fromImage(idx->patches[p][k]));
        const auto& ref = info.topPatches[k];
        auto ds = session_->dataset();
        const QString label = ds && ref.sample < ds->size() ? QString::fromStdString(ds->classNames()[size_t(ds->sample(ref.sample).label)]) : QString();
        crop->setToolTip(tr("The patch itself (the boxed part above), enlarged"));
        tile->setToolTip(tr("training image #%1 (%2), cell (%3, %4), activation %5")
                             .arg(ref.sample).arg(label).arg(ref.cellY).arg(ref.cellX).arg(ref.activation, 0, 'f', 3));
        auto* box = new QWidget;
        auto* bl = new QVBoxLayout(box);
        bl->setContentsMargins(0, 0, 0, 0);
        bl->setSpacing(1);
        bl->addWidget(tile);
        bl->addWidget(crop);
        auto* cap = new QLabel(QStringLiteral("%1 · %2").arg(ref.activation, 0, 'f', 2).arg(label));
        cap->setAlignment(Qt::AlignCenter);
        QFont f = cap->font();
        f.setPointSizeF(f.pointSizeF() * 0.85);
        cap->setFont(f);
        cap->setMaximumWidth(100);
        bl->addWidget(cap);
        patchRow_->insertWidget(patchRow_->count() - 1, box);
    }
    QVector<double> w;
    for (float v : info.classWeights) w << double(v);
    setBars(weights_, weightBars_, cls, w);
    weights_->replot();
}

void PrototypeView::showExplanation(const QImage& image, const QString& text) {
    explainText_->setText(text);
    explanation_ = image;
    fitExplanation();
    side_->setCurrentIndex(1);
    QTimer::singleShot(0, this, &PrototypeView::fitExplanation);  // once the tab has its geometry
}

void PrototypeView::fitExplanation() {
    if (explanation_.isNull()) return;
    // Fit the figure to the panel's width (it is rendered large enough to zoom out).
    const int avail = explainScroll_->viewport()->width() - 4;
    const QImage fitted = avail > 200 && explanation_.width() > avail
                              ? explanation_.scaledToWidth(avail, Qt::SmoothTransformation) : explanation_;
    explainImage_->setPixmap(QPixmap::fromImage(fitted));
}

}  // namespace pqwgui
