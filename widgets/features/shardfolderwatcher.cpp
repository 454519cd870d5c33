// ShardFolderWatcher: QFileSystemWatcher + slow poll over a sharded extraction's folder.
#include "shardfolderwatcher.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileSystemWatcher>
#include <QPointer>
#include <QTimer>
#include <memory>
#include <thread>

namespace pqwgui {

ShardFolderWatcher::ShardFolderWatcher(QObject* parent) : QObject(parent) {
    fsw_ = new QFileSystemWatcher(this);
    poll_ = new QTimer(this);
    poll_->setInterval(2000);
    // meta.json is replaced by a rename on every checkpoint: the shard folder changes.
    connect(fsw_, &QFileSystemWatcher::directoryChanged, this, [this] { refresh(); });
    connect(poll_, &QTimer::timeout, this, [this] { refresh(); });
}

void ShardFolderWatcher::follow(const QString& dir) {
    stop();
    dir_ = dir;
    status_ = {};
    lastSlurm_ = 0;
    watchFolders();
    poll_->start();
    refresh(true);
}

void ShardFolderWatcher::stop() {
    poll_->stop();
    if (!fsw_->directories().isEmpty()) fsw_->removePaths(fsw_->directories());
    dir_.clear();
    ++generation_;
    inFlight_ = again_ = false;
}

void ShardFolderWatcher::setPollInterval(int ms) { poll_->setInterval(ms); }

void ShardFolderWatcher::watchFolders() {
    QStringList want{dir_, dir_ + QStringLiteral("/shards")};
    for (const auto& d : QDir(dir_ + QStringLiteral("/shards")).entryList({QStringLiteral("shard-*")}, QDir::Dirs))
        want << dir_ + QStringLiteral("/shards/") + d;
    QStringList add;
    for (const auto& d : want)
        if (QFileInfo(d).isDir() && !fsw_->directories().contains(d)) add << d;
    if (!add.isEmpty()) fsw_->addPaths(add);
}

void ShardFolderWatcher::refresh(bool askSlurm) {
    if (dir_.isEmpty()) return;
    watchFolders();  // shard folders made since
    if (inFlight_) {  // one query at a time; the latest change is looked at after it
        again_ = true;
        return;
    }
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const bool slurm = askSlurm || !lastSlurm_ || now - lastSlurm_ >= qint64(slurmSeconds_) * 1000;
    if (slurm) lastSlurm_ = now;
    inFlight_ = true;
    const std::string dir = dir_.toStdString();
    const int gen = generation_;
    QPointer<ShardFolderWatcher> self(this);
    // Reading the shards' meta.json is quick, squeue / scontrol may not be: never on the GUI thread.
    std::thread([self, dir, gen, slurm] {
        auto st = std::make_shared<pqw::ShardStatus>();
        std::string problem;
        bool ok = true;
        try {
            *st = pqw::shardStatus(dir, slurm, &problem);
        } catch (const std::exception& e) {
            problem = e.what();
            ok = false;
        }
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, gen, st, problem, ok] {
                if (!self || self->generation_ != gen) return;
                self->inFlight_ = false;
                if (ok) self->status_ = std::move(*st);
                if (!problem.empty()) Q_EMIT self->problem(QString::fromStdString(problem));
                if (ok) Q_EMIT self->statusChanged();
                if (self->again_) {
                    self->again_ = false;
                    self->refresh();
                }
            },
            Qt::QueuedConnection);
    }).detach();
}

}  // namespace pqwgui
