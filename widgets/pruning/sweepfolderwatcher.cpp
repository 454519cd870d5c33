// SweepFolderWatcher: QFileSystemWatcher + slow poll over a sweep folder's run logs.
#include "sweepfolderwatcher.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileSystemWatcher>
#include <QPointer>
#include <QTimer>
#include <thread>

#include "pqw/slurm.h"
#include "pqw/sweep_tail.h"

namespace pqwgui {

SweepFolderWatcher::SweepFolderWatcher(QObject* parent) : QObject(parent) {
    fsw_ = new QFileSystemWatcher(this);
    poll_ = new QTimer(this);
    poll_->setInterval(2000);
    connect(fsw_, &QFileSystemWatcher::directoryChanged, this, [this] { readNew(); });
    connect(fsw_, &QFileSystemWatcher::fileChanged, this, [this] { readNew(); });
    connect(poll_, &QTimer::timeout, this, [this] {
        readNew();
        refreshStates();
    });
}

SweepFolderWatcher::~SweepFolderWatcher() = default;

void SweepFolderWatcher::follow(const QString& dir, bool skipFinished) {
    stop();
    dir_ = dir;
    ++generation_;
    delivered_ = 0;
    tail_ = std::make_unique<pqw::SweepLogTail>(dir.toStdString());
    if (skipFinished) {
        try {
            tail_->skipFinished();
        } catch (const std::exception& e) {
            Q_EMIT problem(QString::fromStdString(e.what()));
        }
    }
    QDir().mkpath(dir + QStringLiteral("/runs"));
    watchFiles();
    poll_->start();
    readNew();
    lastSlurm_ = 0;
    refreshStates();
}

void SweepFolderWatcher::stop() {
    poll_->stop();
    if (!fsw_->files().isEmpty()) fsw_->removePaths(fsw_->files());
    if (!fsw_->directories().isEmpty()) fsw_->removePaths(fsw_->directories());
    tail_.reset();
    ++generation_;
    statesInFlight_ = false;
}

bool SweepFolderWatcher::following() const { return tail_ != nullptr; }

void SweepFolderWatcher::setPollInterval(int ms) { poll_->setInterval(ms); }

void SweepFolderWatcher::watchFiles() {
    const QString runs = dir_ + QStringLiteral("/runs");
    if (!fsw_->directories().contains(runs)) fsw_->addPath(runs);
    QStringList add;
    for (const auto& f : QDir(runs).entryList({QStringLiteral("*.jsonl")}, QDir::Files))
        if (!fsw_->files().contains(runs + QLatin1Char('/') + f)) add << runs + QLatin1Char('/') + f;
    if (!add.isEmpty()) fsw_->addPaths(add);
}

void SweepFolderWatcher::readNew() {
    if (!tail_) return;
    watchFiles();  // runs that started since
    std::vector<pqw::SweepLogEntry> lines;
    try {
        lines = tail_->poll();
    } catch (const std::exception& e) {
        Q_EMIT problem(QString::fromStdString(e.what()));
        return;
    }
    if (lines.empty()) return;
    delivered_ += long(lines.size());
    Q_EMIT entries(lines);
}

void SweepFolderWatcher::refreshStates() {
    if (!tail_ || statesInFlight_) return;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (lastSlurm_ && now - lastSlurm_ < qint64(slurmSeconds_) * 1000) return;
    lastSlurm_ = now;
    statesInFlight_ = true;
    const std::string dir = dir_.toStdString();
    const int gen = generation_;
    QPointer<SweepFolderWatcher> self(this);
    // squeue / scontrol can take seconds on a busy cluster: never on the GUI thread.
    std::thread([self, dir, gen] {
        auto st = std::make_shared<std::vector<pqw::SweepRunInfo>>();
        std::string problem;
        try {
            const auto spec = pqw::loadSweepFolder(dir);
            *st = pqw::sweepRunInfos(spec, dir);
            if (!pqw::readSweepSubmissions(dir).empty()) pqw::applySlurmState(*st, dir, &problem);
        } catch (const std::exception& e) {
            problem = e.what();
        }
        // Back on the GUI thread, where the QPointer can be checked safely.
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, gen, st, problem] {
                if (!self || self->generation_ != gen) return;
                self->statesInFlight_ = false;
                self->states_ = std::move(*st);
                if (!problem.empty()) Q_EMIT self->problem(QString::fromStdString(problem));
                Q_EMIT self->statesChanged();
            },
            Qt::QueuedConnection);
    }).detach();
}

}  // namespace pqwgui
