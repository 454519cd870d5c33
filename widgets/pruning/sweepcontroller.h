#pragma once
// The Pruning view's non-widget half: the sweep shown (its folder, the runs' settings, the
// results model), running a sweep as a job, reading and following sweep folders, and the
// live event batching (events collected, applied by one 40 ms single-shot timer, as
// TrainingView and PlotJuggler do). The view draws what it reports.
#include <QJsonObject>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <map>
#include <utility>
#include <vector>

#include "jobrunner.h"
#include "pqw/job.h"
#include "pqw/sweep_log.h"
#include "pruning/sweepmodel.h"

namespace pqwgui {
class Session;
class SweepFolderWatcher;

class SweepController : public QObject {
    Q_OBJECT
public:
    explicit SweepController(Session* session, QObject* parent = nullptr);
    ~SweepController() override;

    /// What a sweep folder holds (readFolder).
    struct Folder {
        QString dir;
        bool benchmark = false;  ///< the official pruning benchmark's Hydra multirun folder
        bool hasSpec = false;    ///< sweep.json parsed as a JSON object (spec)
        QJsonObject spec;
        std::map<QString, SweepRunSettings> settings;       ///< every run of the grid and of the log
        std::vector<pqw::SweepLogEntry> finished;          ///< finished runs' steps, epochs, ends
        QString note;                                      ///< a problem with sweep.json
    };
    /// Reads dir; false with *error when it is not a sweep (or benchmark) folder.
    static bool readFolder(const QString& dir, Folder* f, QString* error);
    /// Shows a folder read by readFolder: starts over, then replays its finished runs.
    void show(const Folder& f);
    /// Starts over on an empty dir (a new sweep) with these runs.
    void startOver(const QString& dir, const std::map<QString, SweepRunSettings>& settings);
    /// Adds the runs of a grown grid.
    void addRuns(const std::map<QString, SweepRunSettings>& settings);
    /// Runs (or resumes) spec in dir as a job; returns its id.
    int start(const pqw::SweepSpec& spec, const QString& dir);
    void cancel();
    /// Follows dir while other processes write it (dir must be shown already).
    void follow(const QString& dir);
    /// Stops following unless the folder followed is dir.
    void stopFollowingOtherThan(const QString& dir);

    int job() const { return job_; }
    bool live() const { return live_; }
    QString dir() const { return dir_; }
    QStringList recent() const { return recent_; }
    void setRecent(const QStringList& r) { recent_ = r; }
    void addRecent(const QString& dir);
    const std::map<QString, SweepRunSettings>& settings() const { return settings_; }
    SweepRunSettings settingsOf(const QString& run, const pqw::Event* e) const;
    SweepResultsModel* results() const { return results_; }
    SweepFolderWatcher* watcher() const { return watcher_; }
    /// The steps and epochs logged for a run (null when none), and the base model's training.
    const std::vector<pqw::Event>* runEvents(const QString& run) const;
    const std::vector<pqw::Event>& baseEpochs() const { return baseEpochs_; }
    /// The run a live sweep is running (empty between runs).
    QString currentRun() const { return currentRun_; }
    /// The run whose epochs the view shows ("<base>": the base model's training).
    void setShownRun(const QString& run) { shownRun_ = run; }
    QString shownRun() const { return shownRun_; }
    int liveReplots() const { return liveReplots_; }
    /// Applies the collected events now.
    void flush();

Q_SIGNALS:
    /// Everything shown is gone (a folder opened or a new sweep).
    void cleared();
    /// The runs' settings changed: the plots make their series again.
    void settingsChanged();
    /// One batch of events applied: new step points, whether rows were added, the run whose
    /// epochs to show again (empty: none).
    void applied(const std::vector<std::pair<QString, pqw::Event>>& steps, bool rowsAdded, const QString& showRun);
    /// The followed folder's run states changed (the results model has them).
    void statesChanged();
    void message(const QString& text);
    /// The sweep job ended (after the last events were applied).
    void jobFinished(pqwgui::JobStatus status, const QString& message);

private:
    void onEvent(const QString& run, const pqw::Event& e, bool live);
    void clear();

    Session* session_;
    SweepResultsModel* results_;
    SweepFolderWatcher* watcher_ = nullptr;
    QString dir_;
    QStringList recent_;
    std::map<QString, SweepRunSettings> settings_;
    std::map<QString, std::vector<pqw::Event>> runEvents_;  ///< steps and epochs per run
    std::vector<std::pair<QString, pqw::Event>> pending_;
    std::vector<pqw::Event> baseEpochs_;                    ///< base model training (live)
    QString currentRun_, shownRun_;
    QTimer repaint_;
    int liveReplots_ = 0;
    bool live_ = false;
    int job_ = 0;
};

}  // namespace pqwgui
