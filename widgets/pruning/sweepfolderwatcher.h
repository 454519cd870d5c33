#pragma once
// Follows a sweep folder that other processes are writing (a local `pqw sweep`, Slurm array
// tasks on another machine): the run logs' new complete lines are delivered as they appear,
// from QFileSystemWatcher notifications plus a slow poll (network file systems miss
// notifications), and every run's state (logs, and Slurm's squeue / scontrol view when the
// folder has submissions) is refreshed on the poll, off the GUI thread. Not a widget.
#include <QObject>
#include <QString>
#include <memory>
#include <vector>

#include "pqw/pruning.h"

class QFileSystemWatcher;
class QTimer;

namespace pqw {
class SweepLogTail;
}

namespace pqwgui {

class SweepFolderWatcher : public QObject {
    Q_OBJECT
public:
    explicit SweepFolderWatcher(QObject* parent = nullptr);
    ~SweepFolderWatcher() override;
    /// Starts following dir. skipFinished: lines of runs that are finished now are not
    /// delivered (the caller showed them from the folder).
    void follow(const QString& dir, bool skipFinished = true);
    void stop();
    bool following() const;
    QString dir() const { return dir_; }
    /// The slow poll (default 2 s); Slurm is asked at most every slurmSeconds (default 10).
    void setPollInterval(int ms);
    void setSlurmInterval(int seconds) { slurmSeconds_ = seconds; }
    /// Reads what is new now (also called by notifications and the poll).
    void readNew();
    /// The latest per-run states (empty before the first poll finished).
    const std::vector<pqw::SweepRunInfo>& runStates() const { return states_; }
    /// Lines delivered since follow().
    long delivered() const { return delivered_; }
    /// Asks for fresh states now (the answer comes with statesChanged()).
    void refreshStates();

Q_SIGNALS:
    /// New complete log lines, in file order.
    void entries(const std::vector<pqw::SweepLogEntry>& lines);
    void statesChanged();
    /// A log could not be read (one line naming the file).
    void problem(const QString& message);

private:
    void watchFiles();
    QString dir_;
    QFileSystemWatcher* fsw_ = nullptr;
    QTimer* poll_ = nullptr;
    std::unique_ptr<pqw::SweepLogTail> tail_;
    std::vector<pqw::SweepRunInfo> states_;
    long delivered_ = 0;
    int slurmSeconds_ = 10;
    qint64 lastSlurm_ = 0;
    bool statesInFlight_ = false;
    int generation_ = 0;
};

}  // namespace pqwgui
