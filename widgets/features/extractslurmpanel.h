#pragma once
// The Model & Features view's "Extract on Slurm": the Pruning view's Slurm panel (partition,
// time, memory, CPUs, parallel tasks, the batch script's preview) with a number of shards,
// submitting core's sharded extraction of the session's dataset and backbone into the cache
// folder (pqw/extract_shards.h, what `pqw extract --slurm --shards N` submits), then the
// shards' progress (done / running / pending / failed, from a ShardFolderWatcher) and, once the
// join job has joined them, the cache loaded into the session.
#include <QWidget>

class QLabel;
class QSpinBox;
class QTableWidget;

namespace pqwgui {

class Session;
class ShardFolderWatcher;
class SlurmPanel;

class ExtractSlurmPanel : public QWidget {
    Q_OBJECT
public:
    explicit ExtractSlurmPanel(Session* session, QWidget* parent = nullptr);
    SlurmPanel* slurm() const { return slurm_; }
    QSpinBox* shards() const { return shards_; }
    /// "4 shards: 2 done, 1 running, ..." (empty while nothing is followed).
    QLabel* progress() const { return progress_; }
    QTableWidget* shardTable() const { return table_; }
    ShardFolderWatcher* watcher() const { return watcher_; }
    /// Follows a folder with a shard plan (after a submission; also when the session's cache
    /// folder has one).
    void follow(const QString& dir);

Q_SIGNALS:
    /// The shards of dir were joined and the cache is being opened.
    void joined(const QString& dir);

private:
    void showStatus();
    void cacheFolderChanged();
    Session* session_;
    SlurmPanel* slurm_;
    QSpinBox* shards_;
    QLabel* progress_;
    QTableWidget* table_;
    ShardFolderWatcher* watcher_;
    QString opened_;  ///< the joined folder already handed to the session
};

}  // namespace pqwgui
