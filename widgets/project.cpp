#include "project.h"

#include <QDir>

#include <algorithm>
#include <QFileInfo>
#include <QJsonDocument>
#include <QStandardPaths>
#include <QUndoStack>

#include "pqw/output.h"
#include "pqw/error.h"
#include "session.h"

namespace pqwgui {

namespace {
QString qs(const std::string& s) { return QString::fromStdString(s); }
std::string ss(const QString& s) { return s.toStdString(); }
const char* kRecoveryKey = "_recovery";
}  // namespace

ProjectController::ProjectController(Session* session, QUndoStack* undo, QObject* parent)
    : QObject(parent), session_(session), undo_(undo) {
    for (auto sig : {&Session::datasetChanged, &Session::cacheChanged, &Session::modelChanged})
        connect(session_, sig, this, &ProjectController::markDirty);
    connect(session_, &Session::prototypeMaskApplied, this, &ProjectController::markDirty);
    connect(undo_, &QUndoStack::indexChanged, this, &ProjectController::markDirty);
    // A job that fails while a project opens ends the opening (done reports it).
    connect(session_->jobs(), &JobRunner::finished, this, [this](int, JobStatus st, const QString& msg) {
        if (!opening_ || (st != JobStatus::Failed && st != JobStatus::Cancelled)) return;
        opening_ = false;
        if (auto d = std::exchange(pendingDone_, Done{})) d(false, st == JobStatus::Cancelled ? tr("Opening the project was cancelled.") : msg);
    });
    autosave_.setInterval(60 * 1000);
    connect(&autosave_, &QTimer::timeout, this, &ProjectController::writeRecovery);
}

void ProjectController::addView(const QString& key, Saver save, Restorer restore) {
    views_[key] = {std::move(save), std::move(restore)};
}

void ProjectController::markDirty() {
    if (!opening_) setDirty(true);
}

void ProjectController::setDirty(bool d) {
    if (d == dirty_) return;
    dirty_ = d;
    Q_EMIT dirtyChanged(d);
}

void ProjectController::setPath(const QString& p) {
    if (p == path_) return;
    path_ = p;
    Q_EMIT pathChanged(p);
}

pqw::Project ProjectController::capture() const {
    pqw::Project p;
    p.name = path_.isEmpty() ? (session_->dataset() ? session_->dataset()->name() : std::string())
                             : ss(QFileInfo(path_).completeBaseName());
    if (auto ds = session_->dataset()) {
        p.hasDataset = true;
        p.dataset = ds->spec();
    }
    if (auto bb = session_->backbone()) {
        p.hasBackbone = true;
        p.backbone = bb->spec();
    }
    p.inputSize = session_->inputSize();
    if (session_->cache()) p.cacheDir = ss(session_->cacheDir());
    QStringList heads = heads_;
    const QString current = session_->modelPath();
    if (session_->model() && !current.isEmpty() && !heads.contains(current)) heads.append(current);
    for (const auto& h : heads) p.heads.push_back(ss(h));
    p.activeHead = session_->model() && !current.isEmpty() ? int(heads.indexOf(current)) : -1;
    if (sweeps_)
        for (const auto& s : sweeps_()) p.sweeps.push_back(ss(s));
    if (explanations_) p.explanations = explanations_();
    QJsonObject views;
    for (const auto& [key, fns] : views_)
        if (fns.first) views.insert(key, fns.first());
    p.viewState = QJsonDocument(views).toJson(QJsonDocument::Compact).toStdString();
    return p;
}

void ProjectController::save(const QString& pathIn, Done done) {
    const QString path = QFileInfo(pathIn).absoluteFilePath();
    // The file the model came from stays in the project's list of heads.
    const QString from = session_->modelPath();
    if (!from.isEmpty() && !heads_.contains(from) && !from.startsWith(QFileInfo(recoveryPath()).absolutePath())) heads_.append(from);
    if (session_->model() && (!session_->modelSaved() || session_->modelPath().isEmpty())) {
        // The head lives beside the project: NAME.heads/head-N.pqwh (a new N each time, so an
        // older project version keeps its head).
        const QFileInfo fi(path);
        const QString dir = fi.absolutePath() + QLatin1Char('/') + fi.completeBaseName() + QStringLiteral(".heads");
        if (!QDir().mkpath(dir)) {
            if (done) done(false, tr("%1: cannot create the folder for the trained head").arg(dir));
            return;
        }
        int n = 1;
        while (QFileInfo::exists(QStringLiteral("%1/head-%2.pqwh").arg(dir).arg(n))) ++n;
        const QString head = QStringLiteral("%1/head-%2.pqwh").arg(dir).arg(n);
        session_->saveModel(head, [this, path, head, done] { writeProject(path, head, done, false); });
        return;
    }
    writeProject(path, {}, done, false);
}

void ProjectController::writeProject(const QString& path, const QString& headPath, Done done, bool recovery) {
    pqw::Project p = capture();
    if (recovery && !headPath.isEmpty()) {
        // The recovery copy of an unsaved head is the active one.
        p.heads.push_back(ss(headPath));
        p.activeHead = int(p.heads.size()) - 1;
    }
    if (recovery) {
        auto vs = QJsonDocument::fromJson(QByteArray::fromStdString(p.viewState)).object();
        vs.insert(QLatin1String(kRecoveryKey), QJsonObject{{QStringLiteral("path"), path_}});
        p.viewState = QJsonDocument(vs).toJson(QJsonDocument::Compact).toStdString();
    }
    try {
        const pqw::OutputLock lock(ss(path), "save the project");  // not while another process writes it
        pqw::saveProject(p, ss(path));
    } catch (const pqw::Error& e) {
        if (done) done(false, qs(e.what()));
        return;
    }
    if (!recovery) {
        heads_.clear();
        for (const auto& h : p.heads) heads_.append(qs(h));
        setPath(path);
        undo_->setClean();
        setDirty(false);
        clearRecovery();
    }
    if (done) done(true, recovery ? tr("Recovery copy written.") : tr("Project saved to %1.").arg(path));
}

void ProjectController::open(const QString& pathIn, Done done) {
    const QString path = QFileInfo(pathIn).absoluteFilePath();
    pqw::Project p;
    try {
        p = pqw::loadProject(ss(path));
    } catch (const pqw::Error& e) {
        if (done) done(false, qs(e.what()));
        return;
    }
    openParsed(p, path, false, std::move(done));
}

void ProjectController::openParsed(const pqw::Project& p, const QString& path, bool recovery, Done done) {
    if (session_->jobs()->busy()) {
        if (done) done(false, tr("Wait for the running jobs to finish, or cancel them, before opening a project."));
        return;
    }
    opening_ = true;
    pendingDone_ = std::move(done);
    auto finish = [this, p, path, recovery] {
        restoreViews(qs(p.viewState));
        heads_.clear();
        for (const auto& h : p.heads) heads_.append(qs(h));
        QString shownPath = path;
        if (recovery) {
            // A head saved only into the recovery folder is unsaved work: the next save puts
            // it beside the project.
            const QString recDir = QFileInfo(recoveryPath()).absolutePath();
            heads_.erase(std::remove_if(heads_.begin(), heads_.end(), [&](const QString& h) { return h.startsWith(recDir); }), heads_.end());
            if (session_->modelPath().startsWith(recDir)) session_->markModelUnsaved();
            const auto vs = QJsonDocument::fromJson(QByteArray::fromStdString(p.viewState)).object();
            shownPath = vs.value(QLatin1String(kRecoveryKey)).toObject().value(QStringLiteral("path")).toString();
        }
        opening_ = false;
        undo_->clear();
        setPath(shownPath);
        setDirty(recovery);
        Q_EMIT opened(shownPath);
        if (auto d = std::exchange(pendingDone_, Done{})) d(true, tr("Opened %1.").arg(recovery ? tr("the recovered project") : path));
    };
    auto afterData = [this, p, finish] {
        const std::string head = p.activeHeadPath();
        if (!head.empty()) session_->loadModel(qs(head), finish);
        else finish();
    };
    const QString cache = qs(p.cacheDir);
    if (!cache.isEmpty() && QFileInfo::exists(cache + QStringLiteral("/meta.json"))) {
        session_->openFeatures(cache, afterData);
    } else if (p.hasDataset) {
        session_->setInputSize(p.inputSize);
        const pqw::BackboneSpec bb = p.hasBackbone ? p.backbone : pqw::BackboneSpec{};
        session_->openDataset(p.dataset, [this, bb, cache, afterData] {
            session_->openBackbone(bb, [this, cache, afterData] {
                if (!cache.isEmpty()) session_->setCacheDir(cache);
                // Without features a head cannot be checked or used: open it only with them.
                afterData();
            });
        });
    } else {
        finish();
    }
}

void ProjectController::restoreViews(const QString& viewStateJson) {
    const auto vs = QJsonDocument::fromJson(viewStateJson.toUtf8()).object();
    for (const auto& [key, fns] : views_)
        if (fns.second && vs.contains(key)) fns.second(vs.value(key).toObject());
}

QString ProjectController::recoveryPath() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/recovery/recovery.pqwproj");
}

bool ProjectController::hasRecovery() const { return QFileInfo::exists(recoveryPath()); }

void ProjectController::writeRecovery() {
    if (!dirty_ || opening_) return;
    const QString file = recoveryPath();
    QDir().mkpath(QFileInfo(file).absolutePath());
    if (session_->model() && !session_->modelSaved()) {
        const QString head = QFileInfo(file).absolutePath() + QStringLiteral("/head.pqwh");
        session_->saveModel(head, [this, file, head] { writeProject(file, head, {}, true); }, /*adopt=*/false);
        return;
    }
    writeProject(file, {}, {}, true);
}

void ProjectController::clearRecovery() {
    const QString dir = QFileInfo(recoveryPath()).absolutePath();
    QFile::remove(recoveryPath());
    QFile::remove(dir + QStringLiteral("/head.pqwh"));
}

void ProjectController::restoreRecovery(Done done) {
    pqw::Project p;
    const QString file = recoveryPath();
    try {
        p = pqw::loadProject(ss(file));
    } catch (const pqw::Error& e) {
        if (done) done(false, qs(e.what()));
        return;
    }
    openParsed(p, file, true, std::move(done));
}

}  // namespace pqwgui
