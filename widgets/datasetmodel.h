#pragma once
// A list model over a dataset's samples (filtered by split and class) with lazily decoded
// thumbnails: a background thread decodes the most recently requested rows first (LIFO, so
// the rows on screen win while scrolling), and a QCache bounded by bytes keeps the latest.
// Memory stays bounded for any dataset size.
#include <QAbstractListModel>
#include <QCache>
#include <QImage>
#include <QMutex>
#include <QSet>
#include <QThread>
#include <QWaitCondition>

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "pqw/dataset.h"

namespace pqwgui {

class ThumbnailLoader;

class DatasetListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { SampleIndexRole = Qt::UserRole + 1, LabelRole, SplitRole, SourceRole };
    explicit DatasetListModel(QObject* parent = nullptr);
    ~DatasetListModel() override;

    void setDataset(std::shared_ptr<const pqw::Dataset> ds);
    std::shared_ptr<const pqw::Dataset> dataset() const { return ds_; }
    /// Filters: split (nullopt = all), class (-1 = all).
    void setFilter(std::optional<pqw::Split> split, int cls);
    size_t sampleAt(int row) const { return rows_[size_t(row)]; }

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

    static constexpr int kThumb = 72;
    /// Thumbnails held at most (bytes).
    static constexpr int kCacheBytes = 48 * 1024 * 1024;
    int cachedThumbnails() const { return cache_.count(); }
    int cachedBytes() const { return cache_.totalCost(); }

private:
    void onLoaded(quint64 generation, size_t sample, const QImage& img);
    std::shared_ptr<const pqw::Dataset> ds_;
    std::vector<size_t> rows_;
    mutable QCache<size_t, QImage> cache_;
    ThumbnailLoader* loader_;
    quint64 generation_ = 0;
    QImage placeholder_;
};

/// The decoding thread behind DatasetListModel.
class ThumbnailLoader : public QThread {
    Q_OBJECT
public:
    explicit ThumbnailLoader(QObject* parent = nullptr);
    ~ThumbnailLoader() override;
    void setDataset(std::shared_ptr<const pqw::Dataset> ds, quint64 generation);
    /// Asks for a thumbnail; repeated requests move it to the front of the line. Only the
    /// latest 512 requests are kept (the rows a fast scroll left behind are dropped).
    void request(size_t sample);
Q_SIGNALS:
    void loaded(quint64 generation, size_t sample, const QImage& img);

protected:
    void run() override;

private:
    QMutex mutex_;
    QWaitCondition wake_;
    std::deque<size_t> pending_;
    QSet<size_t> pendingSet_;  // what pending_ holds, for de-duplication
    std::shared_ptr<const pqw::Dataset> ds_;
    quint64 generation_ = 0;
    bool stop_ = false;
};

}  // namespace pqwgui
