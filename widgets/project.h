#pragma once
// The open project: what Session holds (dataset, backbone, input size, feature cache, the
// head's checkpoint) plus the views' state, saved to and opened from a .pqwproj file
// (pqw::Project in core). Autosave writes a recovery copy every minute while there are
// unsaved changes; a clean exit removes it, so a recovery file at start means a crash.
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QTimer>

#include <functional>
#include <map>

#include "pqw/project.h"

class QUndoStack;

namespace pqwgui {

class Session;

class ProjectController : public QObject {
    Q_OBJECT
public:
    ProjectController(Session* session, QUndoStack* undo, QObject* parent = nullptr);

    using Saver = std::function<QJsonObject()>;
    using Restorer = std::function<void(const QJsonObject&)>;
    /// A view's state under `key` in the project's view_state.
    void addView(const QString& key, Saver save, Restorer restore);
    /// Contributors of sweep folders and chosen explanations (the Pruning and Explain views).
    void setSweepSource(std::function<QStringList()> f) { sweeps_ = std::move(f); }
    void setExplanationSource(std::function<std::vector<pqw::ProjectExplanation>()> f) { explanations_ = std::move(f); }

    QString path() const { return path_; }
    bool isDirty() const { return dirty_; }
    /// Marks the project changed (views call it after edits that the undo stack does not see).
    void markDirty();
    /// The project as it is now (paths absolute).
    pqw::Project capture() const;

    using Done = std::function<void(bool ok, const QString& message)>;
    /// Saves to path. A trained head that has no file yet (or was changed since) is first saved
    /// beside the project (NAME.heads/head-N.pqwh) by a job; done runs when the file is written.
    void save(const QString& path, Done done = {});
    /// Opens a project: features (or dataset + backbone), then the active head, then the views'
    /// state; each step is a visible job. done runs at the end (or on the first failure).
    void open(const QString& path, Done done = {});

    /// The autosave / crash-recovery file (in the user's data folder).
    static QString recoveryPath();
    bool hasRecovery() const;
    /// Opens the recovery file (and then forgets it).
    void restoreRecovery(Done done = {});
    /// Writes the recovery file now (what the autosave timer does).
    void writeRecovery();
    /// Removes the recovery file (a clean exit).
    void clearRecovery();
    QTimer* autosaveTimer() { return &autosave_; }

Q_SIGNALS:
    void pathChanged(const QString& path);
    void dirtyChanged(bool dirty);
    void opened(const QString& path);

private:
    void setPath(const QString& p);
    void setDirty(bool d);
    void restoreViews(const QString& viewStateJson);
    void openParsed(const pqw::Project& p, const QString& path, bool recovery, Done done);
    void writeProject(const QString& path, const QString& headPath, Done done, bool recovery);

    Session* session_;
    QUndoStack* undo_;
    QString path_;
    bool dirty_ = false;
    bool opening_ = false;
    std::map<QString, std::pair<Saver, Restorer>> views_;
    std::function<QStringList()> sweeps_;
    std::function<std::vector<pqw::ProjectExplanation>()> explanations_;
    QStringList heads_;  ///< every checkpoint this project has used, in order
    Done pendingDone_;
    QTimer autosave_;
};

}  // namespace pqwgui
