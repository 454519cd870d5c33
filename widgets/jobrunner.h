#pragma once
// Runs long core operations one at a time on a worker thread (Tiled's shape: a worker object
// moved to a QThread the runner owns) and reports progress, typed events and the outcome to
// the GUI thread through queued calls. A job's work returns a "finisher" closure that runs on
// the GUI thread after success, so results are applied where widgets live (QGIS's finished()).
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QSet>
#include <QThread>

#include <deque>
#include <functional>
#include <memory>

#include "pqw/job.h"

namespace pqwgui {

enum class JobStatus { Queued, Running, Succeeded, Failed, Cancelled };
QString jobStatusName(JobStatus s);

class JobRunner : public QObject {
    Q_OBJECT
public:
    /// Runs on the worker thread; returns what to do on the GUI thread on success (may be empty).
    using Work = std::function<std::function<void()>(pqw::JobContext&)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;

    /// Queues a job; returns its id. Jobs run in submission order, one at a time.
    /// A quiet job (a quick look-up such as one prediction) is not listed in the Jobs panel,
    /// the status bar or the log.
    int submit(const QString& title, Work work, bool quiet = false);
    bool isQuiet(int id) const { return quiet_.contains(id); }
    /// Requests cancellation of a queued or running job (thread-safe flag; the job stops at its
    /// next check and leaves files consistent).
    void cancel(int id);
    /// Cancels every queued and running job.
    void cancelAll();
    bool busy() const { return running_ != nullptr || !queue_.empty(); }
    int runningId() const;
    QString title(int id) const;
    /// Time since the running job started, in seconds (0 when idle).
    double runningSeconds() const;

Q_SIGNALS:
    void queued(int id, const QString& title);
    void started(int id, const QString& title);
    void progress(int id, double fraction, const QString& message);
    void event(int id, const pqw::Event& e);
    void finished(int id, pqwgui::JobStatus status, const QString& message);
    /// Emitted when the last queued job has finished.
    void idle();
    void logMessage(const QString& line);

private:
    struct Job {
        int id = 0;
        QString title;
        Work work;
        std::shared_ptr<pqw::JobContext> ctx = std::make_shared<pqw::JobContext>();
    };
    void startNext();
    void onWorkDone(int id, JobStatus status, const QString& message, std::function<void()> finisher);

    QThread thread_;
    QObject* worker_ = nullptr;  // lives on thread_
    std::deque<std::shared_ptr<Job>> queue_;
    std::shared_ptr<Job> running_;
    QElapsedTimer clock_;
    int nextId_ = 1;
    bool finishing_ = false;
    QSet<int> quiet_;
};

}  // namespace pqwgui

Q_DECLARE_METATYPE(pqw::Event)
Q_DECLARE_METATYPE(pqwgui::JobStatus)
