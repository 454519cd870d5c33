#pragma once
// "Run on Slurm" for the Pruning view: partition, time limit, CPUs per task, parallel tasks,
// a preview of the batch script and sbatch lines (core's planSweepSubmission, exactly what
// `pqw sweep --slurm --dry-run` prints) and a Submit button. When Slurm is not usable from
// here the panel says what is missing (sbatch not on PATH, SLURM_CONF naming no file, a
// controller that does not answer) instead of failing later. The same panel submits other
// work (a Target: the Model & Features view's sharded extraction, widgets/features/).
#include <QGroupBox>
#include <functional>

#include "pqw/pruning.h"
#include "pqw/slurm.h"

class QFormLayout;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace pqwgui {

class SlurmPanel : public QGroupBox {
    Q_OBJECT
public:
    /// source: the sweep to submit and its folder; false (with *error) when the designer's
    /// sweep is not valid.
    using Source = std::function<bool(pqw::SweepSpec* spec, QString* dir, QString* error)>;
    explicit SlurmPanel(Source source, QWidget* parent = nullptr);
    /// What a panel submits. plan: the preview text for these options, or false with *error
    /// (askSlurm false: no squeue per keystroke). submit: the array job id and the folder to
    /// follow, or "" with the reason in *message (*message also says what was submitted).
    struct Target {
        QString title, tooltip, submitTip;
        std::function<bool(const pqw::SlurmOptions& o, bool askSlurm, QString* preview, QString* error)> plan;
        std::function<QString(const pqw::SlurmOptions& o, QString* dir, QString* message)> submit;
    };
    explicit SlurmPanel(Target target, QWidget* parent = nullptr);
    /// The form with partition, time, memory, CPUs and parallel tasks (for rows of a target's own).
    QFormLayout* form() const { return form_; }
    /// Re-plans the preview (call when the designer or the folder changed).
    void updatePreview();
    /// Checks Slurm (sbatch, SLURM_CONF, scontrol ping) off the GUI thread; the answer shows
    /// in availability().
    void checkSlurm();
    /// Submits the planned sweep; returns the array job id ("" and the reason in the status).
    QString submit();
    /// The pqw the tasks run: beside this executable, else $PQW_BIN_DIR/pqw, else on PATH.
    static QString pqwExecutable();

    QLineEdit* partition() const { return partition_; }
    QLineEdit* timeLimit() const { return time_; }
    QSpinBox* cpus() const { return cpus_; }
    QSpinBox* parallel() const { return parallel_; }
    QPlainTextEdit* preview() const { return preview_; }
    QLabel* availability() const { return available_; }
    QPushButton* submitButton() const { return submit_; }

Q_SIGNALS:
    /// A submission went through: follow this folder.
    void submitted(const QString& dir, const QString& arrayJob);

private:
    static Target sweepTarget(Source source);
    /// The options of the form; false with *error when pqw cannot be found for the tasks.
    bool options(pqw::SlurmOptions* o, QString* error) const;
    Target target_;
    QFormLayout* form_;
    QLineEdit *partition_, *time_, *mem_;
    QSpinBox *cpus_, *parallel_;
    QPlainTextEdit* preview_;
    QLabel *available_, *status_;
    QPushButton* submit_;
    bool slurmOk_ = false;
};

}  // namespace pqwgui
