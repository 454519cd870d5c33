#include "jobrunner.h"

#include <QMetaObject>
#include <QPointer>

#include <chrono>
#include <exception>

#include "pqw/error.h"

namespace pqwgui {

QString jobStatusName(JobStatus s) {
    switch (s) {
        case JobStatus::Queued: return QStringLiteral("queued");
        case JobStatus::Running: return QStringLiteral("running");
        case JobStatus::Succeeded: return QStringLiteral("done");
        case JobStatus::Failed: return QStringLiteral("failed");
        case JobStatus::Cancelled: return QStringLiteral("cancelled");
    }
    return {};
}

JobRunner::JobRunner(QObject* parent) : QObject(parent) {
    qRegisterMetaType<pqw::Event>();
    qRegisterMetaType<pqwgui::JobStatus>();
    thread_.setObjectName(QStringLiteral("pqw-jobs"));
    worker_ = new QObject;
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    thread_.start();
}

JobRunner::~JobRunner() {
    cancelAll();
    thread_.requestInterruption();
    thread_.quit();
    thread_.wait();
}

int JobRunner::submit(const QString& title, Work work, bool quiet) {
    auto job = std::make_shared<Job>();
    job->id = nextId_++;
    if (quiet) quiet_.insert(job->id);
    job->title = title;
    job->work = std::move(work);
    queue_.push_back(job);
    Q_EMIT queued(job->id, title);
    if (!running_ && !finishing_) startNext();
    return job->id;
}

void JobRunner::cancel(int id) {
    if (running_ && running_->id == id) {
        running_->ctx->cancel();
        Q_EMIT logMessage(QStringLiteral("%1: cancelling...").arg(running_->title));
        return;
    }
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
        if ((*it)->id == id) {
            const auto job = *it;
            queue_.erase(it);
            Q_EMIT finished(id, JobStatus::Cancelled, QStringLiteral("cancelled before it started"));
            Q_EMIT logMessage(QStringLiteral("%1: cancelled before it started").arg(job->title));
            if (!busy()) Q_EMIT idle();
            return;
        }
}

void JobRunner::cancelAll() {
    while (!queue_.empty()) cancel(queue_.back()->id);
    if (running_) running_->ctx->cancel();
}

int JobRunner::runningId() const { return running_ ? running_->id : 0; }

QString JobRunner::title(int id) const {
    if (running_ && running_->id == id) return running_->title;
    for (const auto& j : queue_)
        if (j->id == id) return j->title;
    return {};
}

double JobRunner::runningSeconds() const { return running_ ? clock_.elapsed() / 1000.0 : 0.0; }

void JobRunner::startNext() {
    if (running_ || queue_.empty()) return;
    running_ = queue_.front();
    queue_.pop_front();
    clock_.start();
    Q_EMIT started(running_->id, running_->title);
    if (!quiet_.contains(running_->id)) Q_EMIT logMessage(QStringLiteral("%1: started").arg(running_->title));

    const auto job = running_;
    QPointer<JobRunner> self(this);
    // Progress is throttled on the worker side (at most every 50 ms, plus the end) so a job
    // reporting per item cannot flood the GUI thread's queue.
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    job->ctx->setProgressHandler([self, id = job->id, last](double f, const std::string& msg) {
        const auto now = std::chrono::steady_clock::now();
        if (f < 1.0 && now - *last < std::chrono::milliseconds(50)) return;
        *last = now;
        const QString m = QString::fromStdString(msg);
        QMetaObject::invokeMethod(self.data(), [self, id, f, m] { if (self) Q_EMIT self->progress(id, f, m); },
                                  Qt::QueuedConnection);
    });
    job->ctx->setEventHandler([self, id = job->id](const pqw::Event& e) {
        QMetaObject::invokeMethod(self.data(), [self, id, e] { if (self) Q_EMIT self->event(id, e); },
                                  Qt::QueuedConnection);
    });
    QMetaObject::invokeMethod(worker_, [self, job] {
        JobStatus status = JobStatus::Succeeded;
        QString message;
        std::function<void()> finisher;
        try {
            finisher = job->work(*job->ctx);
            if (job->ctx->isCancelled()) status = JobStatus::Cancelled, finisher = nullptr;
        } catch (const pqw::Cancelled&) {
            status = JobStatus::Cancelled;
            message = QStringLiteral("cancelled");
        } catch (const std::exception& e) {
            status = JobStatus::Failed;
            message = QString::fromStdString(e.what());
        } catch (...) {
            status = JobStatus::Failed;
            message = QStringLiteral("unknown error");
        }
        // Drop the work closure (and the data it captured) on the worker thread.
        job->work = nullptr;
        QMetaObject::invokeMethod(self.data(), [self, id = job->id, status, message, finisher] {
            if (self) self->onWorkDone(id, status, message, finisher);
        }, Qt::QueuedConnection);
    }, Qt::QueuedConnection);
}

void JobRunner::onWorkDone(int id, JobStatus status, const QString& message, std::function<void()> finisher) {
    const QString title = running_ ? running_->title : QString();
    const double secs = clock_.elapsed() / 1000.0;
    running_.reset();
    QString msg = message;
    if (status == JobStatus::Succeeded && finisher) {
        finishing_ = true;
        try {
            finisher();
        } catch (const std::exception& e) {
            status = JobStatus::Failed;
            msg = QString::fromStdString(e.what());
        }
        finishing_ = false;
    }
    if (quiet_.contains(id) && status != JobStatus::Failed)
        ;
    else if (status == JobStatus::Succeeded)
        Q_EMIT logMessage(QStringLiteral("%1: done in %2 s").arg(title).arg(secs, 0, 'f', 1));
    else
        Q_EMIT logMessage(QStringLiteral("%1: %2%3").arg(title, jobStatusName(status),
                                                          msg.isEmpty() ? QString() : QStringLiteral(": ") + msg));
    Q_EMIT finished(id, status, msg);
    quiet_.remove(id);
    startNext();
    if (!busy()) Q_EMIT idle();
}

}  // namespace pqwgui
