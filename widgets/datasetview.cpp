#include "datasetview.h"

#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include "qcp.h"

#include "datasetmodel.h"
#include "plots.h"
#include "session.h"
#include "theme.h"

namespace pqwgui {

DatasetView::DatasetView(Session* session, QWidget* parent) : QWidget(parent), session_(session) {
    model_ = new DatasetListModel(this);
    auto* root = new QHBoxLayout(this);
    auto* split = new QSplitter;
    root->addWidget(split);

    auto* left = new QWidget;
    auto* lv = new QVBoxLayout(left);
    lv->setContentsMargins(0, 0, 0, 0);
    auto* filters = new QHBoxLayout;
    split_ = new QComboBox;
    split_->addItem(tr("All splits"), -1);
    split_->addItem(tr("Train"), int(pqw::Split::Train));
    split_->addItem(tr("Validation"), int(pqw::Split::Val));
    split_->addItem(tr("Test"), int(pqw::Split::Test));
    split_->setToolTip(tr("Show only one split. Validation is carved from the training data; test is never used for choices."));
    cls_ = new QComboBox;
    cls_->setToolTip(tr("Show only one class"));
    cls_->setMinimumContentsLength(14);
    summary_ = new QLabel;
    filters->addWidget(new QLabel(tr("Split:")));
    filters->addWidget(split_);
    filters->addWidget(new QLabel(tr("Class:")));
    filters->addWidget(cls_);
    filters->addStretch(1);
    filters->addWidget(summary_);
    lv->addLayout(filters);

    grid_ = new QListView;
    grid_->setObjectName(QStringLiteral("datasetGrid"));
    grid_->setModel(model_);
    grid_->setViewMode(QListView::IconMode);
    grid_->setUniformItemSizes(true);
    grid_->setResizeMode(QListView::Adjust);
    grid_->setMovement(QListView::Static);
    grid_->setLayoutMode(QListView::Batched);
    grid_->setBatchSize(2000);
    grid_->setIconSize(QSize(DatasetListModel::kThumb, DatasetListModel::kThumb));
    grid_->setGridSize(QSize(DatasetListModel::kThumb + 16, DatasetListModel::kThumb + 22));
    grid_->setSpacing(2);
    grid_->setWordWrap(false);
    grid_->setSelectionMode(QAbstractItemView::SingleSelection);
    grid_->setToolTip(tr("Every image of the dataset; thumbnails load as you scroll"));
    lv->addWidget(grid_, 1);
    split->addWidget(left);

    auto* right = new QWidget;
    auto* rv = new QVBoxLayout(right);
    rv->setContentsMargins(0, 0, 0, 0);
    chart_ = makePlot(tr("Images per class"));
    chart_->setObjectName(QStringLiteral("classCountChart"));
    bars_ = addThemedBars(chart_, 0);
    chart_->setMinimumHeight(220);
    rv->addWidget(chart_, 1);
    auto* detailBox = new QWidget;
    auto* dl = new QHBoxLayout(detailBox);
    detailImage_ = new QLabel;
    detailImage_->setFixedSize(160, 160);
    detailImage_->setAlignment(Qt::AlignCenter);
    detailImage_->setFrameShape(QFrame::StyledPanel);
    detailText_ = new QLabel(tr("Select an image to see its label, source and size."));
    detailText_->setWordWrap(true);
    detailText_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    detailText_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    auto* dcol = new QVBoxLayout;
    dcol->addWidget(detailImage_);
    explainButton_ = new QPushButton(tr("Explain this image"));
    explainButton_->setObjectName(QStringLiteral("explainSample"));
    explainButton_->setToolTip(tr("Open it in the Explain view: OMENN and baseline attribution maps side by side "
                                  "(or double-click a thumbnail)"));
    explainButton_->setEnabled(false);
    dcol->addWidget(explainButton_);
    dcol->addStretch(1);
    dl->addLayout(dcol);
    dl->addWidget(detailText_, 1);
    rv->addWidget(detailBox);
    split->addWidget(right);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    connect(split_, &QComboBox::currentIndexChanged, this, [this] { applyFilter(); updateChart(); });
    connect(cls_, &QComboBox::currentIndexChanged, this, [this] { applyFilter(); });
    connect(grid_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this] { showDetail(); });
    connect(explainButton_, &QPushButton::clicked, this, [this] {
        if (detailSample_ != size_t(-1)) Q_EMIT explainSampleRequested(detailSample_);
    });
    connect(grid_, &QListView::doubleClicked, this, [this](const QModelIndex& ix) {
        if (ix.isValid()) Q_EMIT explainSampleRequested(model_->sampleAt(ix.row()));
    });
    connect(session_, &Session::datasetChanged, this, &DatasetView::reload);
    connect(session_, &Session::modelChanged, this, &DatasetView::showDetail);
    connect(session_, &Session::samplePredicted, this, [this](size_t sample, const QString& text) {
        if (sample == detailSample_) detailText_->setText(detailBase_ + tr("<br>prediction: <b>%1</b>").arg(text.toHtmlEscaped()));
    });
}

void DatasetView::reload() {
    auto ds = session_->dataset();
    model_->setDataset(ds);
    const QSignalBlocker b(cls_);
    cls_->clear();
    cls_->addItem(tr("All classes"), -1);
    if (ds)
        for (size_t c = 0; c < ds->classNames().size(); ++c)
            cls_->addItem(QString::fromStdString(ds->classNames()[c]), int(c));
    applyFilter();
    updateChart();
}

void DatasetView::applyFilter() {
    const int s = split_->currentData().toInt();
    model_->setFilter(s < 0 ? std::nullopt : std::optional<pqw::Split>(pqw::Split(s)), cls_->currentData().toInt());
    auto ds = session_->dataset();
    summary_->setText(ds ? tr("%1 of %2 images · %3").arg(model_->rowCount()).arg(ds->size())
                               .arg(QString::fromStdString(ds->name()))
                         : tr("No dataset open"));
    showDetail();
}

QJsonObject DatasetView::saveState() const {
    QJsonObject o;
    o.insert(QStringLiteral("split"), split_->currentIndex());
    o.insert(QStringLiteral("class"), cls_->currentIndex());
    if (detailSample_ != size_t(-1)) o.insert(QStringLiteral("sample"), qint64(detailSample_));
    return o;
}

void DatasetView::restoreState(const QJsonObject& o) {
    auto set = [](QComboBox* c, int i) {
        if (i >= 0 && i < c->count()) c->setCurrentIndex(i);
    };
    set(split_, o.value(QStringLiteral("split")).toInt(0));
    set(cls_, o.value(QStringLiteral("class")).toInt(0));
    const qint64 sample = o.value(QStringLiteral("sample")).toInteger(-1);
    if (sample < 0) return;
    for (int r = 0; r < model_->rowCount(); ++r)
        if (model_->sampleAt(r) == size_t(sample)) {
            grid_->setCurrentIndex(model_->index(r));
            grid_->scrollTo(model_->index(r));
            break;
        }
}

void DatasetView::updateChart() {
    auto ds = session_->dataset();
    if (!ds) return;
    const int s = split_->currentData().toInt();
    std::vector<size_t> counts(ds->classNames().size(), 0);
    for (auto sp : {pqw::Split::Train, pqw::Split::Val, pqw::Split::Test}) {
        if (s >= 0 && int(sp) != s) continue;
        const auto c = ds->classCounts(sp);
        for (size_t i = 0; i < c.size() && i < counts.size(); ++i) counts[i] += c[i];
    }
    QStringList labels;
    QVector<double> values;
    for (size_t i = 0; i < counts.size(); ++i) {
        labels << QString::fromStdString(ds->classNames()[i]);
        values << double(counts[i]);
    }
    setBars(chart_, bars_, labels, values);
    setPlotTitle(chart_, s < 0 ? tr("Images per class (all splits)") : tr("Images per class (%1)").arg(split_->currentText().toLower()));
    chart_->replot();
}

void DatasetView::showDetail() {
    const QModelIndex ix = grid_->currentIndex();
    auto ds = session_->dataset();
    if (!ix.isValid() || !ds) {
        detailImage_->clear();
        detailSample_ = size_t(-1);
        explainButton_->setEnabled(false);
        detailText_->setText(tr("Select an image to see its label, source and size."));
        return;
    }
    const size_t i = model_->sampleAt(ix.row());
    const auto& s = ds->sample(i);
    // The source in words: an image inside an IDX archive is "image 12 of t10k-images.gz".
    QString source = QString::fromStdString(s.source);
    const int hash = int(source.lastIndexOf(QLatin1Char('#')));
    if (hash > 0 && !QFileInfo(source).exists()) {
        bool number = false;
        const qlonglong k = source.mid(hash + 1).toLongLong(&number);
        if (number) source = tr("image %1 of %2").arg(k + 1).arg(QFileInfo(source.left(hash)).fileName());
    }
    QString text = tr("<b>%1</b><br>split: %2<br>image %3 of the dataset<br>source: %4")
                       .arg(QString::fromStdString(ds->classNames()[size_t(s.label)]).toHtmlEscaped(),
                            QString::fromLatin1(pqw::splitName(s.split)))
                       .arg(i + 1)
                       .arg(source.toHtmlEscaped());
    if (source != QString::fromStdString(s.source)) detailText_->setToolTip(QString::fromStdString(s.source));
    try {
        // One image is cheap to decode; the grid's thumbnails are decoded off this thread.
        const QImage img = toQImage(ds->loadImage(i));
        text += tr("<br>size: %1 x %2 px").arg(img.width()).arg(img.height());
        detailImage_->setPixmap(QPixmap::fromImage(img.scaled(detailImage_->size() - QSize(4, 4), Qt::KeepAspectRatio,
                                                              img.width() < 64 ? Qt::FastTransformation : Qt::SmoothTransformation)));
    } catch (const std::exception& e) {
        text += tr("<br><span style='color:#c33'>cannot decode: %1</span>").arg(QString::fromStdString(e.what()).toHtmlEscaped());
        detailImage_->clear();
    }
    detailBase_ = text;
    detailSample_ = i;
    explainButton_->setEnabled(true);
    if (session_->canPredictSamples()) {
        text += tr("<br>prediction: <i>computing...</i>");
        session_->predictSample(i);
    }
    detailText_->setText(text);
}

}  // namespace pqwgui
