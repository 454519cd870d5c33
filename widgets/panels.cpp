#include "panels.h"

#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QScrollBar>
#include <QScrollArea>
#include <QStyle>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <cmath>

namespace pqwgui {

QString formatDuration(double s) {
    if (!std::isfinite(s) || s < 0) return QStringLiteral("?");
    if (s < 60) return QStringLiteral("%1 s").arg(int(std::lround(s)));
    const int t = int(std::lround(s));
    if (t < 3600) return QStringLiteral("%1 min %2 s").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 min").arg(t / 3600).arg((t % 3600) / 60, 2, 10, QLatin1Char('0'));
}

namespace {
/// A fixed-width label shows what fits; the whole text is its tooltip.
void setElided(QLabel* l, const QString& text) {
    l->setText(l->fontMetrics().elidedText(text, Qt::ElideRight, l->maximumWidth()));
    l->setToolTip(text);
}
}  // namespace

JobsPanel::JobsPanel(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(4, 4, 4, 4);
    auto* scroll = new QScrollArea;
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* inner = new QWidget;
    list_ = new QVBoxLayout(inner);
    list_->setContentsMargins(0, 0, 0, 0);
    empty_ = new QLabel(tr("No jobs running. Long operations (feature extraction, training, evaluation) "
                           "appear here with their progress and a cancel button."));
    empty_->setWordWrap(true);
    empty_->setEnabled(false);
    list_->addWidget(empty_);
    list_->addStretch(1);
    scroll->setWidget(inner);
    outer->addWidget(scroll);

    connect(runner, &JobRunner::queued, this, &JobsPanel::addRow);
    connect(runner, &JobRunner::started, this, [this](int id, const QString& title) {
        if (runner_->isQuiet(id)) return;
        if (!rows_.contains(id)) addRow(id, title);
        auto& r = rows_[id];
        r.startedAt = 0;
        // The running job goes to the top, where the panel opens: it is the one to watch or cancel.
        list_->removeWidget(r.box);
        list_->insertWidget(0, r.box);
        r.bar->setRange(0, 0);  // busy until the first progress report
        r.bar->setFormat(QStringLiteral("%p %"));
        setElided(r.eta, tr("running"));
    });
    connect(runner, &JobRunner::progress, this, [this](int id, double f, const QString& msg) {
        if (!rows_.contains(id)) return;
        auto& r = rows_[id];
        r.bar->setRange(0, 1000);
        r.bar->setValue(int(std::lround(std::clamp(f, 0.0, 1.0) * 1000)));
        r.bar->setFormat(QStringLiteral("%1 %").arg(100 * f, 0, 'f', 0));
        const double el = runner_->runningSeconds();
        QString eta = f > 0.02 && el > 1 ? tr("%1 left").arg(formatDuration(el * (1 - f) / f)) : tr("estimating...");
        setElided(r.eta, msg.isEmpty() ? eta : QStringLiteral("%1 · %2").arg(msg, eta));
    });
    connect(runner, &JobRunner::finished, this, [this](int id, JobStatus st, const QString& msg) {
        if (!rows_.contains(id)) return;
        auto& r = rows_[id];
        r.bar->setRange(0, 1000);
        if (st == JobStatus::Succeeded) r.bar->setValue(1000);
        r.bar->setFormat(st == JobStatus::Succeeded ? QStringLiteral("100 %") : jobStatusName(st));
        r.cancel->setEnabled(false);
        // Finished rows sink below the queued ones while they are still shown.
        list_->removeWidget(r.box);
        list_->insertWidget(list_->count() - 1, r.box);
        setElided(r.eta, st == JobStatus::Succeeded ? tr("done") : jobStatusName(st) + (msg.isEmpty() || msg == QLatin1String("cancelled") ? QString() : QStringLiteral(": ") + msg));
        r.eta->setToolTip(msg);
        // Finished rows stay a moment so the outcome can be read, then go (the log keeps it).
        QTimer::singleShot(st == JobStatus::Failed ? 15000 : 3000, this, [this, id] {
            if (!rows_.contains(id)) return;
            rows_[id].box->deleteLater();
            rows_.remove(id);
            empty_->setVisible(rows_.isEmpty());
        });
    });
}

void JobsPanel::addRow(int id, const QString& title) {
    if (runner_->isQuiet(id)) return;
    Row r;
    r.box = new QWidget;
    auto* h = new QHBoxLayout(r.box);
    h->setContentsMargins(0, 0, 0, 0);
    // One title width for every row, so the bars line up; the whole title is the tooltip.
    const int titleWidth = fontMetrics().averageCharWidth() * 34;
    r.fullTitle = title;
    r.title = new QLabel(fontMetrics().elidedText(title, Qt::ElideMiddle, titleWidth));
    r.title->setFixedWidth(titleWidth);
    r.title->setToolTip(title);
    r.bar = new QProgressBar;
    r.bar->setRange(0, 1000);
    r.bar->setValue(0);
    r.bar->setFormat(tr("queued"));
    r.bar->setTextVisible(true);
    r.eta = new QLabel(tr("waiting for the job before it"));
    r.eta->setFixedWidth(fontMetrics().averageCharWidth() * 34);
    r.cancel = new QToolButton;
    r.cancel->setIcon(style()->standardIcon(QStyle::SP_DialogCancelButton));
    r.cancel->setText(tr("Cancel"));
    r.cancel->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    r.cancel->setToolTip(tr("Cancel \"%1\". Partial results stay consistent (a cancelled extraction resumes later).").arg(title));
    r.cancel->setObjectName(QStringLiteral("cancelJob%1").arg(id));
    connect(r.cancel, &QToolButton::clicked, this, [this, id] { runner_->cancel(id); });
    h->addWidget(r.title);
    h->addWidget(r.bar, 1);
    h->addWidget(r.eta);
    h->addWidget(r.cancel);
    list_->insertWidget(list_->count() - 1, r.box);
    rows_.insert(id, r);
    empty_->setVisible(false);
}

QStringList JobsPanel::shownOrder() const {
    QStringList out;
    for (int i = 0; i < list_->count(); ++i) {
        QWidget* w = list_->itemAt(i)->widget();
        for (const auto& r : rows_)
            if (r.box == w) out << r.fullTitle;
    }
    return out;
}

QSize JobsPanel::sizeHint() const {
    // About four rows: the running job and what waits behind it (MainWindow shows two on a
    // small screen).
    return {QWidget::sizeHint().width(), heightForRows(4)};
}

int JobsPanel::heightForRows(int rows) const { return rows * (fontMetrics().height() + 14) + 12; }

LogPanel::LogPanel(QWidget* parent) : QPlainTextEdit(parent) {
    setReadOnly(true);
    setMaximumBlockCount(5000);
    setPlaceholderText(tr("What the workbench did, with timings and any errors."));
    // Follow the newest line unless the user has scrolled up to read older ones: a value change
    // the panel did not make itself is the user's, and decides whether to keep following.
    auto* bar = verticalScrollBar();
    connect(bar, &QScrollBar::valueChanged, this, [this, bar](int v) {
        if (!scrolling_) follow_ = v >= bar->maximum();
    });
    connect(bar, &QScrollBar::rangeChanged, this, [this] {
        if (follow_) scrollToEnd();
    });
}

void LogPanel::scrollToEnd() {
    scrolling_ = true;
    verticalScrollBar()->setValue(verticalScrollBar()->maximum());
    scrolling_ = false;
}

void LogPanel::appendLine(const QString& line) {
    const bool follow = follow_;
    scrolling_ = true;  // appending moves the bar by itself; that is not the user scrolling
    appendPlainText(QStringLiteral("%1  %2").arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss")), line));
    scrolling_ = false;
    follow_ = follow;
    if (follow_) scrollToEnd();
}

void LogPanel::showEvent(QShowEvent* e) {
    QPlainTextEdit::showEvent(e);
    // Raised after an error (or first shown): the newest lines, unless the user chose otherwise.
    if (follow_) scrollToEnd();
}

}  // namespace pqwgui
