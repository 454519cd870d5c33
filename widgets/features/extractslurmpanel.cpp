// ExtractSlurmPanel: sharded feature extraction on Slurm from the Model & Features view.
#include "extractslurmpanel.h"

#include <QFileInfo>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include "pqw/extract_shards.h"
#include "pruning/slurmpanel.h"
#include "session.h"
#include "shardfolderwatcher.h"

namespace pqwgui {

namespace {

/// The plan for the session's inputs: the folder's own when it has one for them (then only the
/// shards not done are submitted), else a new one.
bool planFor(Session* s, int shards, const pqw::SlurmOptions& o, bool askSlurm, pqw::ShardPlan* plan,
             pqw::ExtractSubmissionPlan* sub, QString* dir, QString* error) {
    const auto ds = s->dataset();
    const auto bb = s->backbone();
    if (!ds || !bb) {
        *error = QObject::tr("open a dataset and load a backbone first");
        return false;
    }
    *dir = s->cacheDir();
    const std::string d = dir->toStdString();
    try {
        pqw::ExtractOptions eo;
        eo.inputSize = s->inputSize();
        const bool resume = pqw::hasShardPlan(d) &&
                            pqw::readShardPlan(d).fingerprint == pqw::cacheFingerprint(*ds, *bb, eo.inputSize);
        *plan = resume ? pqw::readShardPlan(d) : pqw::makeShardPlan(*ds, *bb, shards, eo);
        const std::string user = bb->spec().kind == "torchscript" ? bb->spec().path : std::string();
        *sub = pqw::planExtractSubmission(*plan, d, o, resume, askSlurm, user);
    } catch (const std::exception& e) {
        *error = QString::fromStdString(e.what());
        return false;
    }
    return true;
}

}  // namespace

ExtractSlurmPanel::ExtractSlurmPanel(Session* session, QWidget* parent) : QWidget(parent), session_(session) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(0, 0, 0, 0);
    shards_ = new QSpinBox;
    shards_->setObjectName(QStringLiteral("extractShards"));
    shards_->setRange(1, 10000);
    shards_->setValue(4);
    shards_->setToolTip(tr("The images are split into this many ranges of whole batches, one array task each"));
    SlurmPanel::Target t;
    t.title = tr("Extract on Slurm");
    t.tooltip = tr("Extract the features on a Slurm cluster: one array task per shard (a range of images), then a job "
                   "that joins the shards into this cache folder, bitwise what \"Extract features\" makes here");
    t.submitTip = tr("Submit the shards that are not done, running or pending, and a job that joins them");
    t.plan = [this](const pqw::SlurmOptions& o, bool askSlurm, QString* preview, QString* error) {
        pqw::ShardPlan plan;
        pqw::ExtractSubmissionPlan sub;
        QString dir;
        if (!planFor(session_, shards_->value(), o, askSlurm, &plan, &sub, &dir, error)) return false;
        QString text = QString::fromStdString("# " + sub.scriptPath + "\n" + sub.script + "\n# ") +
                       tr("%1 of %2 shards (%3 images)\n").arg(sub.shards.size()).arg(plan.ranges.size()).arg(plan.count);
        text += QString::fromStdString(pqw::shellLine(sub.arrayCommand) + "\n" + pqw::shellLine(sub.joinCommand) + "\n");
        *preview = text;
        return true;
    };
    t.submit = [this](const pqw::SlurmOptions& o, QString* dir, QString* message) {
        pqw::ShardPlan plan;
        pqw::ExtractSubmissionPlan sub;
        if (!planFor(session_, shards_->value(), o, true, &plan, &sub, dir, message)) return QString();
        const auto done = pqw::submitExtraction(plan, dir->toStdString(), sub);
        *message = tr("Submitted job array %1 (%2 of %3 shards) and join job %4; following %5.")
                       .arg(QString::fromStdString(done.arrayJob))
                       .arg(sub.shards.size())
                       .arg(plan.ranges.size())
                       .arg(QString::fromStdString(done.joinJob))
                       .arg(*dir);
        return QString::fromStdString(done.arrayJob);
    };
    slurm_ = new SlurmPanel(std::move(t));
    slurm_->setObjectName(QStringLiteral("extractSlurmPanel"));
    slurm_->form()->insertRow(0, tr("Shards:"), shards_);
    v->addWidget(slurm_);
    progress_ = new QLabel;
    progress_->setObjectName(QStringLiteral("shardProgress"));
    progress_->setWordWrap(true);
    progress_->setVisible(false);
    v->addWidget(progress_);
    table_ = new QTableWidget(0, 5);
    table_->setObjectName(QStringLiteral("shardTable"));
    table_->setHorizontalHeaderLabels({tr("Shard"), tr("Images"), tr("State"), tr("Done"), tr("Slurm job")});
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    // Five shards in view; more scroll.
    const int row = table_->fontMetrics().height() + 8;
    table_->verticalHeader()->setDefaultSectionSize(row);
    table_->setMinimumHeight(row * 6 + 4);
    table_->setMaximumHeight(row * 9);
    table_->setVisible(false);
    v->addWidget(table_);
    watcher_ = new ShardFolderWatcher(this);

    connect(shards_, &QSpinBox::valueChanged, slurm_, &SlurmPanel::updatePreview);
    connect(slurm_, &SlurmPanel::submitted, this, [this](const QString& dir) { follow(dir); });
    connect(watcher_, &ShardFolderWatcher::statusChanged, this, &ExtractSlurmPanel::showStatus);
    connect(watcher_, &ShardFolderWatcher::problem, this, [this](const QString& m) {
        if (watcher_->status().shards.empty()) progress_->setText(m);  // the plan cannot be read
        progress_->setToolTip(m);  // else Slurm not asked now: the files still say where the shards are
    });
    connect(session_, &Session::cacheChanged, this, &ExtractSlurmPanel::cacheFolderChanged);
    connect(session_, &Session::backboneChanged, slurm_, &SlurmPanel::updatePreview);
    connect(session_, &Session::datasetChanged, slurm_, &SlurmPanel::updatePreview);
}

void ExtractSlurmPanel::follow(const QString& dir) {
    progress_->setVisible(true);
    table_->setVisible(true);
    progress_->setText(tr("Following %1 ...").arg(dir));
    watcher_->follow(dir);
}

void ExtractSlurmPanel::cacheFolderChanged() {
    slurm_->updatePreview();
    const QString dir = session_->cacheDir();
    if (dir.isEmpty() || dir == watcher_->dir()) return;
    // A folder planned in shards (submitted earlier, maybe from pqw) is followed at once; a
    // damaged plan is followed too, so its one-line error shows.
    bool open = false;
    try {
        open = pqw::hasShardPlan(dir.toStdString()) && !pqw::shardStatus(dir.toStdString(), false).joined;
    } catch (const std::exception&) {
        open = true;
    }
    if (open) {
        follow(dir);
    } else if (watcher_->following()) {
        watcher_->stop();
        progress_->setVisible(false);
        table_->setVisible(false);
    }
}

void ExtractSlurmPanel::showStatus() {
    const auto& st = watcher_->status();
    int count[7] = {};
    table_->setRowCount(int(st.shards.size()));
    for (size_t i = 0; i < st.shards.size(); ++i) {
        const auto& s = st.shards[i];
        ++count[int(s.state)];
        QString state = QString::fromLatin1(pqw::shardStateName(s.state));
        if (!s.slurmState.empty() && s.state != pqw::ShardState::Done)
            state += QStringLiteral(" (%1)").arg(QString::fromStdString(s.slurmState));
        const QStringList cells{QString::number(s.index), QStringLiteral("%1-%2").arg(s.begin).arg(s.end - 1), state,
                                QStringLiteral("%1 / %2").arg(s.done).arg(s.end - s.begin),
                                s.jobId.empty() ? QStringLiteral("-") : QString::fromStdString(s.jobId)};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (!s.reason.empty()) item->setToolTip(QString::fromStdString(s.reason));
            table_->setItem(int(i), c, item);
        }
    }
    using S = pqw::ShardState;
    QString text = tr("%1 shards: %2 done, %3 running, %4 pending, %5 failed")
                       .arg(st.shards.size())
                       .arg(count[int(S::Done)])
                       .arg(count[int(S::Running)])
                       .arg(count[int(S::Pending)])
                       .arg(count[int(S::Failed)]);
    const int other = count[int(S::NotStarted)] + count[int(S::Partial)] + count[int(S::Stale)];
    if (other) text += tr(", %1 not started or partial").arg(other);
    if (st.joined) {
        text += tr("; joined into %1").arg(watcher_->dir());
    } else if (!st.joinJob.empty()) {
        text += tr("; join job %1%2").arg(QString::fromStdString(st.joinJob),
                                          st.joinState.empty() ? QString() : QStringLiteral(" ") + QString::fromStdString(st.joinState));
    }
    if (count[int(S::Failed)] && !st.joined) text += tr(" (Submit again to resubmit the failed shards)");
    progress_->setText(text);
    const QString dir = watcher_->dir();
    if (st.joined && opened_ != dir) {
        opened_ = dir;
        watcher_->stop();
        // The joined cache becomes the session's features (its dataset and backbone are the plan's).
        session_->openFeatures(dir);
        Q_EMIT joined(dir);
    }
}

}  // namespace pqwgui
