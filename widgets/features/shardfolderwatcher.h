#pragma once
// Follows a sharded extraction's folder (DIR/shards/shard-*, written by Slurm array tasks or
// by another process): every change of the shard folders (QFileSystemWatcher) and a slow poll
// (network file systems miss notifications) refresh core's shardStatus off the GUI thread;
// Slurm (squeue / scontrol) is asked at most every few seconds. Not a widget.
#include <QObject>
#include <QString>

#include "pqw/extract_shards.h"

class QFileSystemWatcher;
class QTimer;

namespace pqwgui {

class ShardFolderWatcher : public QObject {
    Q_OBJECT
public:
    explicit ShardFolderWatcher(QObject* parent = nullptr);
    void follow(const QString& dir);
    void stop();
    bool following() const { return !dir_.isEmpty(); }
    QString dir() const { return dir_; }
    /// The slow poll (default 2 s); Slurm is asked at most every slurmSeconds (default 10).
    void setPollInterval(int ms);
    void setSlurmInterval(int seconds) { slurmSeconds_ = seconds; }
    /// Asks for a fresh status now (the answer comes with statusChanged()); askSlurm forces a
    /// Slurm query, else Slurm is asked when its interval has passed.
    void refresh(bool askSlurm = false);
    /// The latest status (shards empty before the first answer).
    const pqw::ShardStatus& status() const { return status_; }

Q_SIGNALS:
    void statusChanged();
    /// The plan could not be read, or Slurm not asked (one line).
    void problem(const QString& message);

private:
    void watchFolders();
    QString dir_;
    QFileSystemWatcher* fsw_;
    QTimer* poll_;
    pqw::ShardStatus status_;
    int slurmSeconds_ = 10;
    qint64 lastSlurm_ = 0;
    bool inFlight_ = false, again_ = false;
    int generation_ = 0;
};

}  // namespace pqwgui
