#pragma once
// The small context every long operation in core takes: progress reporting, a
// cancellation flag it polls, and a sink for typed events.
#include <atomic>
#include <functional>
#include <map>
#include <string>

namespace pqw {

/// A typed event from a running job ("extract.batch", "train.epoch", ...): a kind plus
/// named numbers and named strings. Sinks may be called from a worker thread.
struct Event {
    std::string kind;
    std::map<std::string, double> values;
    std::map<std::string, std::string> texts;

    double value(const std::string& key, double fallback = 0.0) const {
        auto it = values.find(key);
        return it == values.end() ? fallback : it->second;
    }
};

class JobContext {
public:
    using ProgressFn = std::function<void(double fraction, const std::string& message)>;
    using EventFn = std::function<void(const Event&)>;

    JobContext() = default;
    JobContext(const JobContext&) = delete;
    JobContext& operator=(const JobContext&) = delete;

    void setProgressHandler(ProgressFn fn) { progress_ = std::move(fn); }
    void setEventHandler(EventFn fn) { events_ = std::move(fn); }

    /// Reports progress in [0, 1] with a short message.
    void progress(double fraction, const std::string& message = {}) const {
        if (progress_) progress_(fraction, message);
    }
    /// Sends a typed event to the sink, if any.
    void emit(const Event& e) const {
        if (events_) events_(e);
    }

    /// Requests cancellation; safe from any thread.
    void cancel() { cancelled_.store(true); }
    /// Cancelled by its own cancel() or, when it runs inside another job, by the outer one's.
    bool isCancelled() const { return cancelled_.load() || (outer_ && outer_->isCancelled()); }
    /// Makes this context follow `outer`'s cancellation at once (a sub-job with its own event
    /// and progress handlers); outer must outlive this context.
    void followCancel(const JobContext* outer) { outer_ = outer; }
    /// Throws pqw::Cancelled if cancellation was requested.
    void throwIfCancelled() const;

private:
    ProgressFn progress_;
    EventFn events_;
    std::atomic<bool> cancelled_{false};
    const JobContext* outer_ = nullptr;
};

}  // namespace pqw
