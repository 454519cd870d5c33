#include "datasetmodel.h"

#include <QPainter>

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "session.h"

namespace pqwgui {

ThumbnailLoader::ThumbnailLoader(QObject* parent) : QThread(parent) {
    setObjectName(QStringLiteral("pqw-thumbnails"));
}

ThumbnailLoader::~ThumbnailLoader() {
    {
        QMutexLocker l(&mutex_);
        stop_ = true;
        wake_.wakeAll();
    }
    wait();
}

void ThumbnailLoader::setDataset(std::shared_ptr<const pqw::Dataset> ds, quint64 generation) {
    QMutexLocker l(&mutex_);
    ds_ = std::move(ds);
    generation_ = generation;
    pending_.clear();
    pendingSet_.clear();
}

void ThumbnailLoader::request(size_t sample) {
    QMutexLocker l(&mutex_);
    if (pendingSet_.contains(sample)) {
        if (!pending_.empty() && pending_.back() == sample) return;
        pending_.erase(std::find(pending_.begin(), pending_.end(), sample));
    }
    pending_.push_back(sample);
    pendingSet_.insert(sample);
    // Only the most recent requests matter (the rows on screen); drop the oldest. A dropped
    // row is asked for again when it is painted again.
    while (pending_.size() > 512) {
        pendingSet_.remove(pending_.front());
        pending_.pop_front();
    }
    wake_.wakeOne();
}

void ThumbnailLoader::run() {
    for (;;) {
        size_t sample;
        std::shared_ptr<const pqw::Dataset> ds;
        quint64 gen;
        {
            QMutexLocker l(&mutex_);
            while (!stop_ && pending_.empty()) wake_.wait(&mutex_);
            if (stop_) return;
            sample = pending_.back();
            pending_.pop_back();
            pendingSet_.remove(sample);
            ds = ds_;
            gen = generation_;
        }
        QImage img;
        try {
            cv::Mat rgb = ds->loadImage(sample);
            const int side = DatasetListModel::kThumb;
            const double s = double(side) / std::max(rgb.cols, rgb.rows);
            cv::Mat small;
            cv::resize(rgb, small, cv::Size(std::max(1, int(rgb.cols * s)), std::max(1, int(rgb.rows * s))), 0, 0,
                       s < 1 ? cv::INTER_AREA : cv::INTER_NEAREST);
            img = toQImage(small);
        } catch (const std::exception&) {
            img = QImage(DatasetListModel::kThumb, DatasetListModel::kThumb, QImage::Format_RGB888);
            img.fill(QColor(160, 40, 40));  // undecodable: a red tile (the detail pane says why)
        }
        Q_EMIT loaded(gen, sample, img);
    }
}

DatasetListModel::DatasetListModel(QObject* parent) : QAbstractListModel(parent), loader_(new ThumbnailLoader(this)) {
    cache_.setMaxCost(kCacheBytes);
    placeholder_ = QImage(kThumb, kThumb, QImage::Format_RGB888);
    placeholder_.fill(QColor(128, 128, 128, 60));
    connect(loader_, &ThumbnailLoader::loaded, this, &DatasetListModel::onLoaded, Qt::QueuedConnection);
    loader_->start(QThread::LowPriority);
}

DatasetListModel::~DatasetListModel() = default;

void DatasetListModel::setDataset(std::shared_ptr<const pqw::Dataset> ds) {
    beginResetModel();
    ds_ = std::move(ds);
    ++generation_;
    cache_.clear();
    loader_->setDataset(ds_, generation_);
    rows_.clear();
    if (ds_)
        for (size_t i = 0; i < ds_->size(); ++i) rows_.push_back(i);
    endResetModel();
}

void DatasetListModel::setFilter(std::optional<pqw::Split> split, int cls) {
    beginResetModel();
    rows_.clear();
    if (ds_)
        for (size_t i = 0; i < ds_->size(); ++i) {
            const auto& s = ds_->sample(i);
            if (split && s.split != *split) continue;
            if (cls >= 0 && s.label != cls) continue;
            rows_.push_back(i);
        }
    endResetModel();
}

int DatasetListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(rows_.size());
}

QVariant DatasetListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(rows_.size()) || !ds_) return {};
    const size_t i = rows_[size_t(index.row())];
    const auto& s = ds_->sample(i);
    switch (role) {
        case Qt::DisplayRole:
            return QString::fromStdString(ds_->classNames()[size_t(s.label)]);
        case Qt::ToolTipRole:
            return QStringLiteral("#%1 · %2 · %3").arg(i).arg(QString::fromStdString(ds_->classNames()[size_t(s.label)]),
                                                        QString::fromLatin1(pqw::splitName(s.split)));
        case Qt::DecorationRole: {
            if (const QImage* img = cache_.object(i)) return *img;
            loader_->request(i);
            return placeholder_;
        }
        case SampleIndexRole: return qulonglong(i);
        case LabelRole: return int(s.label);
        case SplitRole: return int(s.split);
        case SourceRole: return QString::fromStdString(s.source);
        default: return {};
    }
}

void DatasetListModel::onLoaded(quint64 generation, size_t sample, const QImage& img) {
    if (generation != generation_) return;
    cache_.insert(sample, new QImage(img), int(img.sizeInBytes()) + 64);
    // Rows are sorted by sample index: find the row by binary search.
    auto it = std::lower_bound(rows_.begin(), rows_.end(), sample);
    if (it != rows_.end() && *it == sample) {
        const QModelIndex ix = index(int(it - rows_.begin()));
        Q_EMIT dataChanged(ix, ix, {Qt::DecorationRole});
    }
}

}  // namespace pqwgui
