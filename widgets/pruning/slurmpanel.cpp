// SlurmPanel: the Pruning view's "Run on Slurm" choice.
#include "slurmpanel.h"

#include <QCheckBox>
#include <QCoreApplication>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <thread>

#include "pqw/slurm.h"

namespace pqwgui {

SlurmPanel::SlurmPanel(Source source, QWidget* parent) : SlurmPanel(sweepTarget(std::move(source)), parent) {}

SlurmPanel::SlurmPanel(Target target, QWidget* parent) : QGroupBox(target.title, parent), target_(std::move(target)) {
    setObjectName(QStringLiteral("slurmPanel"));
    setCheckable(true);
    setChecked(false);
    setToolTip(target_.tooltip);
    auto* v = new QVBoxLayout(this);
    auto* body = new QWidget;
    v->addWidget(body);
    auto* bv = new QVBoxLayout(body);
    bv->setContentsMargins(0, 0, 0, 0);
    auto* f = form_ = new QFormLayout;
    bv->addLayout(f);
    partition_ = new QLineEdit;
    partition_->setPlaceholderText(tr("cluster default"));
    time_ = new QLineEdit(QStringLiteral("01:00:00"));
    time_->setToolTip(tr("Time limit per task (HH:MM:SS); empty: the partition's default"));
    mem_ = new QLineEdit;
    mem_->setPlaceholderText(tr("default, e.g. 4G"));
    cpus_ = new QSpinBox;
    cpus_->setRange(1, 256);
    cpus_->setToolTip(tr("CPUs per task; each run uses this many threads"));
    parallel_ = new QSpinBox;
    parallel_->setRange(0, 10000);
    parallel_->setSpecialValueText(tr("no limit"));
    parallel_->setToolTip(tr("At most this many tasks at once (%K on the array)"));
    f->addRow(tr("Partition:"), partition_);
    f->addRow(tr("Time per task:"), time_);
    f->addRow(tr("Memory per task:"), mem_);
    f->addRow(tr("CPUs per task:"), cpus_);
    f->addRow(tr("Parallel tasks:"), parallel_);
    available_ = new QLabel;
    available_->setWordWrap(true);
    available_->setObjectName(QStringLiteral("slurmAvailability"));
    bv->addWidget(available_);
    preview_ = new QPlainTextEdit;
    preview_->setReadOnly(true);
    preview_->setObjectName(QStringLiteral("slurmScript"));
    preview_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    preview_->setMinimumHeight(120);
    preview_->setLineWrapMode(QPlainTextEdit::NoWrap);
    bv->addWidget(preview_);
    auto* row = new QHBoxLayout;
    submit_ = new QPushButton(tr("Submit to Slurm"));
    submit_->setObjectName(QStringLiteral("slurmSubmit"));
    submit_->setToolTip(target_.submitTip);
    row->addWidget(submit_);
    row->addStretch(1);
    bv->addLayout(row);
    status_ = new QLabel;
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    bv->addWidget(status_);
    body->setVisible(false);
    connect(this, &QGroupBox::toggled, this, [this, body](bool on) {
        body->setVisible(on);
        if (on) {
            checkSlurm();
            updatePreview();
        }
    });
    for (auto* e : {partition_, time_, mem_}) connect(e, &QLineEdit::textChanged, this, [this] { updatePreview(); });
    for (auto* s : {cpus_, parallel_}) connect(s, &QSpinBox::valueChanged, this, [this] { updatePreview(); });
    connect(submit_, &QPushButton::clicked, this, [this] { submit(); });
}

QString SlurmPanel::pqwExecutable() {
    const QString beside = QCoreApplication::applicationDirPath() + QStringLiteral("/pqw");
    if (QFileInfo(beside).isExecutable()) return beside;
    const QString bin = qEnvironmentVariable("PQW_BIN_DIR");
    if (!bin.isEmpty() && QFileInfo(bin + QStringLiteral("/pqw")).isExecutable()) return bin + QStringLiteral("/pqw");
    return QString::fromStdString(pqw::findOnPath("pqw"));
}

void SlurmPanel::checkSlurm() {
    available_->setText(tr("Checking Slurm..."));
    QPointer<SlurmPanel> self(this);
    std::thread([self] {
        const std::string why = pqw::slurmProblem();  // may wait for scontrol ping
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, why] {
                if (!self) return;
                self->slurmOk_ = why.empty();
                self->available_->setText(why.empty() ? self->tr("Slurm answers; the preview is what will be submitted.")
                                                      : self->tr("Slurm cannot be used from here: %1. The preview "
                                                                 "shows what would be submitted.")
                                                            .arg(QString::fromStdString(why)));
                self->submit_->setEnabled(why.empty());
            },
            Qt::QueuedConnection);
    }).detach();
}

SlurmPanel::Target SlurmPanel::sweepTarget(Source source) {
    Target t;
    t.title = tr("Run on Slurm");
    t.tooltip = tr("Submit the sweep to a Slurm cluster as one job array (one task per run) instead of running it here; "
                   "the folder is followed live either way");
    t.submitTip = tr("Submit the runs that are not done, running or pending (so it also resubmits failed runs)");
    // The sweep and its plan; false with *error.
    auto plan = [source](const pqw::SlurmOptions& o, bool askSlurm, pqw::SweepSpec* spec, QString* dir,
                         pqw::SweepSubmissionPlan* p, QString* error) {
        if (!source || !source(spec, dir, error)) return false;
        try {
            *p = pqw::planSweepSubmission(*spec, dir->toStdString(), o, /*resubmit=*/true, askSlurm);
        } catch (const std::exception& e) {
            *error = QString::fromStdString(e.what());
            return false;
        }
        return true;
    };
    t.plan = [plan](const pqw::SlurmOptions& o, bool askSlurm, QString* preview, QString* error) {
        pqw::SweepSpec spec;
        QString dir;
        pqw::SweepSubmissionPlan p;
        if (!plan(o, askSlurm, &spec, &dir, &p, error)) return false;
        QString text = QString::fromStdString("# " + p.scriptPath + "\n" + p.script + "\n# " + std::to_string(p.runs.size()) +
                                              " runs (" + p.runsPath + ")\n");
        if (p.prepare) text += QString::fromStdString(pqw::shellLine(p.prepareCommand)) + QLatin1Char('\n');
        text += QString::fromStdString(pqw::shellLine(p.arrayCommand)) + QLatin1Char('\n');
        *preview = text;
        return true;
    };
    t.submit = [plan](const pqw::SlurmOptions& o, QString* dir, QString* message) {
        pqw::SweepSpec spec;
        pqw::SweepSubmissionPlan p;
        if (!plan(o, true, &spec, dir, &p, message)) return QString();
        // sbatch answers at once; a controller that does not is caught by checkSlurm first.
        const auto sub = pqw::submitSweep(spec, dir->toStdString(), p);
        const QString job = QString::fromStdString(sub.arrayJob);
        *message = tr("Submitted job array %1 (%2 runs)%3; following %4.")
                       .arg(job)
                       .arg(p.runs.size())
                       .arg(sub.prepareJob.empty() ? QString()
                                                   : tr(" after base-model job %1").arg(QString::fromStdString(sub.prepareJob)))
                       .arg(*dir);
        return job;
    };
    return t;
}

bool SlurmPanel::options(pqw::SlurmOptions* o, QString* error) const {
    o->partition = partition_->text().trimmed().toStdString();
    o->time = time_->text().trimmed().toStdString();
    o->mem = mem_->text().trimmed().toStdString();
    o->cpusPerTask = cpus_->value();
    o->maxParallel = parallel_->value();
    o->pqw = pqwExecutable().toStdString();
    if (o->pqw.empty()) {
        *error = tr("pqw was not found beside the workbench, in $PQW_BIN_DIR or on PATH; the tasks run it");
        return false;
    }
    return true;
}

void SlurmPanel::updatePreview() {
    if (!isChecked()) return;
    pqw::SlurmOptions o;
    QString text, error;
    if (!options(&o, &error) || !target_.plan(o, /*askSlurm=*/false, &text, &error)) {  // no squeue per keystroke
        preview_->setPlainText(tr("# nothing to submit: %1").arg(error));
        return;
    }
    preview_->setPlainText(text);
}

QString SlurmPanel::submit() {
    pqw::SlurmOptions o;
    QString dir, message;
    if (!options(&o, &message)) {
        status_->setText(message);
        return {};
    }
    QString job;
    try {
        job = target_.submit(o, &dir, &message);
    } catch (const std::exception& e) {
        message = QString::fromStdString(e.what());
    }
    status_->setText(message);
    if (job.isEmpty()) return {};
    updatePreview();
    Q_EMIT submitted(dir, job);
    return job;
}

}  // namespace pqwgui
