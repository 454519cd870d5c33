#include "pruning/sweepcontroller.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QPointer>

#include "pqw/pruning_benchmark.h"
#include "pqw/sweep.h"
#include "pruning/sweepfolderwatcher.h"
#include "session.h"

namespace pqwgui {

SweepController::SweepController(Session* session, QObject* parent)
    : QObject(parent), session_(session), results_(new SweepResultsModel(this)) {
    repaint_.setSingleShot(true);
    repaint_.setInterval(40);
    connect(&repaint_, &QTimer::timeout, this, &SweepController::flush);
    auto* jobs = session_->jobs();
    connect(jobs, &JobRunner::event, this, [this](int id, const pqw::Event& e) {
        if (id != job_) return;
        auto it = e.texts.find("run");
        onEvent(it == e.texts.end() ? QString() : QString::fromStdString(it->second), e, true);
    });
    connect(jobs, &JobRunner::started, this, [this](int id, const QString&) {
        if (id == job_) live_ = true;
    });
    connect(jobs, &JobRunner::finished, this, [this](int id, JobStatus st, const QString& msg) {
        if (id != job_) return;
        flush();
        live_ = false;
        job_ = 0;
        Q_EMIT jobFinished(st, msg);
    });
}

SweepController::~SweepController() = default;

bool SweepController::readFolder(const QString& dir, Folder* f, QString* error) {
    f->dir = dir;
    const QString specPath = dir + QStringLiteral("/sweep.json");
    // A Hydra multirun folder of the official pruning benchmark plots like a finished sweep.
    f->benchmark = !pqw::isSweepFolder(dir.toStdString()) && pqw::isPruningBenchmarkFolder(dir.toStdString());
    if (!f->benchmark && !pqw::isSweepFolder(dir.toStdString())) {
        *error = tr("%1 is not a sweep folder (it has no sweep.json, runs/ or log.jsonl, nor the pruning "
                    "benchmark's pruning_results.csv).").arg(dir);
        return false;
    }
    std::vector<pqw::SweepLogEntry> log;
    try {
        log = f->benchmark ? pqw::readPruningBenchmark(dir.toStdString()) : pqw::readSweepFolder(dir.toStdString());
    } catch (const std::exception& e) {
        *error = tr("Cannot read the sweep: %1").arg(QString::fromStdString(e.what()));
        return false;
    }
    if (QFileInfo::exists(specPath)) {
        QFile file(specPath);
        QByteArray text;
        if (file.open(QIODevice::ReadOnly)) text = file.readAll();
        QJsonParseError pe;
        const auto doc = QJsonDocument::fromJson(text, &pe);
        if (doc.isObject()) {
            f->hasSpec = true;
            f->spec = doc.object();
            try {
                f->settings = runSettings(pqw::parseSweep(text.toStdString(), specPath.toStdString()));
            } catch (const std::exception& e) {
                f->note = QString::fromStdString(e.what());
            }
        } else {
            f->note = tr("%1: not valid JSON (%2)").arg(specPath, pe.errorString());
        }
    }
    // The finished attempt of each run: its steps, epochs and end (core's rule, as pqw reads it).
    f->finished = pqw::finishedRunEntries(log, true);
    for (const auto& e : f->finished) {
        const QString run = QString::fromStdString(e.run);
        if (!f->settings.count(run)) f->settings[run] = settingsFromId(run, &e.event);
    }
    return true;
}

void SweepController::clear() {
    runEvents_.clear();
    pending_.clear();
    baseEpochs_.clear();
    currentRun_.clear();
    shownRun_.clear();
    results_->clear();
    Q_EMIT cleared();
}

void SweepController::show(const Folder& f) {
    clear();
    dir_ = f.dir;
    settings_ = f.settings;
    Q_EMIT settingsChanged();
    for (const auto& e : f.finished) onEvent(QString::fromStdString(e.run), e.event, false);
    flush();
    addRecent(f.dir);
}

void SweepController::startOver(const QString& dir, const std::map<QString, SweepRunSettings>& settings) {
    clear();
    dir_ = dir;
    settings_ = settings;
    Q_EMIT settingsChanged();
}

void SweepController::addRuns(const std::map<QString, SweepRunSettings>& settings) {
    for (const auto& [k, v] : settings) settings_[k] = v;
    Q_EMIT settingsChanged();  // the grid may have grown: series for every run
}

int SweepController::start(const pqw::SweepSpec& spec, const QString& dir) {
    addRecent(dir);
    const std::string out = dir.toStdString();
    QPointer<SweepController> self(this);
    job_ = session_->jobs()->submit(tr("Pruning sweep"), [spec, out, self](pqw::JobContext& ctx) -> std::function<void()> {
        const auto st = pqw::runSweep(spec, out, ctx);
        return [st, self] {
            if (!self) return;
            Q_EMIT self->message(self->tr("Sweep finished: %1 runs (%2 run now, %3 were finished already). Sort the "
                                          "table, select a run to see its epochs, or compare it with the dense model.")
                                     .arg(st.total).arg(st.finished).arg(st.skipped));
        };
    });
    live_ = true;  // JobRunner::started may fire inside submit(), before job_ is known
    return job_;
}

void SweepController::cancel() {
    if (job_) session_->jobs()->cancel(job_);
}

void SweepController::addRecent(const QString& dir) {
    recent_.removeAll(dir);
    recent_.prepend(dir);
    while (recent_.size() > 8) recent_.removeLast();
}

void SweepController::stopFollowingOtherThan(const QString& dir) {
    if (watcher_ && watcher_->dir() != dir) watcher_->stop();  // following another folder ends
}

void SweepController::follow(const QString& dir) {
    if (!watcher_) {
        watcher_ = new SweepFolderWatcher(this);
        connect(watcher_, &SweepFolderWatcher::entries, this, [this](const std::vector<pqw::SweepLogEntry>& lines) {
            for (const auto& e : lines) onEvent(QString::fromStdString(e.run), e.event, true);
        });
        connect(watcher_, &SweepFolderWatcher::statesChanged, this, [this] {
            results_->setRunStates(watcher_->runStates(), [this](const QString& id) { return settingsOf(id, nullptr); });
            Q_EMIT statesChanged();
            std::map<pqw::SweepRunState, int> n;
            for (const auto& r : watcher_->runStates()) ++n[r.state];
            Q_EMIT message(tr("Following %1: %2 done, %3 running, %4 pending, %5 failed, %6 not started.")
                               .arg(QDir::toNativeSeparators(watcher_->dir()))
                               .arg(n[pqw::SweepRunState::Done]).arg(n[pqw::SweepRunState::Running])
                               .arg(n[pqw::SweepRunState::Pending]).arg(n[pqw::SweepRunState::Failed])
                               .arg(n[pqw::SweepRunState::NeverStarted]));
        });
        connect(watcher_, &SweepFolderWatcher::problem, this, &SweepController::message);
    }
    watcher_->follow(dir);
}

SweepRunSettings SweepController::settingsOf(const QString& run, const pqw::Event* e) const {
    auto it = settings_.find(run);
    return it != settings_.end() ? it->second : settingsFromId(run, e);
}

const std::vector<pqw::Event>* SweepController::runEvents(const QString& run) const {
    auto it = runEvents_.find(run);
    return it == runEvents_.end() ? nullptr : &it->second;
}

void SweepController::onEvent(const QString& run, const pqw::Event& e, bool live) {
    // Per-run bookkeeping happens at flush time in arrival order; only collect here.
    pending_.push_back({run, e});
    if (live && !repaint_.isActive()) repaint_.start();
}

void SweepController::flush() {
    if (pending_.empty()) return;
    auto events = std::move(pending_);
    pending_.clear();
    QString showAfter;
    bool rowsAdded = false;
    std::vector<std::pair<QString, pqw::Event>> steps;
    for (const auto& [run, e] : events) {
        if (e.kind == "run.start") {
            currentRun_ = run;
            runEvents_[run].clear();
            if (live_) showAfter = run;
        } else if (e.kind == "prune.step") {
            runEvents_[run].push_back(e);
            steps.push_back({run, e});
            if (live_ && run == currentRun_) showAfter = run;
        } else if (e.kind == "prune.epoch") {
            runEvents_[run].push_back(e);
            if (live_ && run == currentRun_) showAfter = run;
        } else if (e.kind == "run.done") {
            results_->addRun(SweepRunResult::fromDone(e, run));
            rowsAdded = true;
            if (run == currentRun_) {
                currentRun_.clear();  // finished: no longer "running"
                if (run == shownRun_) showAfter = run;
            }
        } else if (e.kind == "cnn.epoch") {
            baseEpochs_.push_back(e);
            showAfter = QStringLiteral("<base>");
        }
    }
    Q_EMIT applied(steps, rowsAdded, showAfter);
    if (live_) ++liveReplots_;
}

}  // namespace pqwgui
