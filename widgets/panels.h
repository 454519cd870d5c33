#pragma once
// The Jobs panel (every queued or running job with a progress bar, ETA and a cancel button,
// as QGIS's task manager) and the log panel.
#include <QHash>
#include <QPlainTextEdit>
#include <QWidget>

#include "jobrunner.h"

class QVBoxLayout;
class QProgressBar;
class QLabel;
class QToolButton;

namespace pqwgui {

class JobsPanel : public QWidget {
    Q_OBJECT
public:
    explicit JobsPanel(JobRunner* runner, QWidget* parent = nullptr);
    /// Rows currently shown (queued, running, or finished within the last few seconds).
    int rowCount() const { return int(rows_.size()); }
    /// Job titles in the order shown, top first: the running job, then queued jobs in the order
    /// they will run, then jobs that just finished.
    QStringList shownOrder() const;
    QSize sizeHint() const override;
    /// The height that shows `rows` job rows.
    int heightForRows(int rows) const;

private:
    struct Row {
        QWidget* box = nullptr;
        QLabel* title = nullptr;  // elided to one width, so every row's bar starts at the same x
        QString fullTitle;
        QProgressBar* bar = nullptr;
        QLabel* eta = nullptr;
        QToolButton* cancel = nullptr;
        double startedAt = -1;  // seconds on the runner's clock
    };
    void addRow(int id, const QString& title);
    JobRunner* runner_;
    QVBoxLayout* list_;
    QLabel* empty_;
    QHash<int, Row> rows_;
};

class LogPanel : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);
    /// True while the view follows the newest line (it stops when the user scrolls up and
    /// resumes when they scroll back to the end).
    bool followsNewest() const { return follow_; }
public Q_SLOTS:
    void appendLine(const QString& line);

protected:
    void showEvent(QShowEvent* e) override;

private:
    void scrollToEnd();
    bool follow_ = true;
    bool scrolling_ = false;  ///< set while the panel itself moves the scroll bar
};

/// "12 s", "3 min 05 s", "1 h 02 min".
QString formatDuration(double seconds);

}  // namespace pqwgui
