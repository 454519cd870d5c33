#pragma once
// A pruning sweep's results for the Pruning view: one record per finished run (from its
// "run.done" event, live or read back from the run logs) in a sortable table model, and the
// settings of each run (strategy, steps, fine-tuning...) that name the plot series.
#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QString>

#include <cmath>
#include <functional>
#include <map>
#include <vector>

#include "pqw/job.h"
#include "pqw/pruning.h"

namespace pqwgui {

/// What identifies a run's series: its schedule, pruning and fine-tuning settings.
struct SweepRunSettings {
    QString id, strategy, modality, criterion, fineTune;  ///< fineTune: the run id's token ("fixed1", "pat2cap6d0")
    int steps = 0;
    double target = 0, firstStep = 0;
    int seed = 0;
};

/// Settings of every run of a parsed sweep, by id.
std::map<QString, SweepRunSettings> runSettings(const pqw::SweepSpec& spec);
/// Settings read back from a run id (for runs a log holds but the current grid no longer
/// lists) completed by the texts of one of its events (and, from a run.done event, its
/// numbers target / steps / first_step / seed); fields it cannot tell stay empty.
SweepRunSettings settingsFromId(const QString& id, const pqw::Event* e = nullptr);
/// "fixed1" -> "1 epoch per step", "pat2cap6d0" -> "patience 2 (max 6 per step)";
/// short: "1 epoch/step", "patience 2 (max 6)" (plot legends).
QString fineTuneLabel(const QString& token, bool shortForm = false);

/// One finished run: the settings plus the last step's numbers (NaN when not measured).
struct SweepRunResult {
    SweepRunSettings s;
    double sparsity = NAN, sparsityAll = NAN, channelSparsity = NAN, params = NAN, macs = NAN;
    double valTop1 = NAN, testTop1 = NAN, denseVal = NAN, denseTest = NAN;
    double totalEpochs = NAN, seconds = NAN, latencyB64 = NAN;
    QString state;  ///< while a folder is followed: "done", "running (12_3, step 2/4)", "pending (Dependency)", ...
    /// From a "run.done" event (texts strategy / modality / criterion / fine_tune / run).
    static SweepRunResult fromDone(const pqw::Event& e, const QString& run);
    /// Test top-1 when the sweep measured it, else validation top-1.
    double accuracy() const { return std::isnan(testTop1) ? valTop1 : testTop1; }
};

class SweepResultsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        // The settings a grid varies first (the view hides those every run shares), then results.
        Strategy, Steps, Target, Modality, Criterion, FineTune, State, TestTop1, DeltaTest, Sparsity, Channels, Epochs,
        Params, Macs, ValTop1, Seconds, RunId, ColumnCount
    };
    /// Qt::UserRole: the sortable value (a number, or the text).
    explicit SweepResultsModel(QObject* parent = nullptr);

    void clear();
    /// Adds a run, or replaces the row of a run with the same id.
    void addRun(const SweepRunResult& r);
    /// Each run's state while a folder is followed (SweepFolderWatcher): the State column of
    /// its row; a run without a row yet (not finished) gets one, its settings from settingsOf.
    void setRunStates(const std::vector<pqw::SweepRunInfo>& states,
                      const std::function<SweepRunSettings(const QString&)>& settingsOf);
    /// "running (12_3, step 2/4)", "failed (exit 143; Slurm: CANCELLED)", ...
    static QString stateText(const pqw::SweepRunInfo& s);
    /// True when some row has a state (a followed folder).
    bool hasStates() const;
    const SweepRunResult& run(int row) const { return runs_.at(size_t(row)); }
    int rowOf(const QString& id) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

private:
    std::vector<SweepRunResult> runs_;
};

/// Sorts by the UserRole (numbers as numbers, text locale-aware; values not measured last in
/// either order) and filters on any column's text (case-insensitive).
class SweepResultsProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit SweepResultsProxy(QObject* parent = nullptr);

protected:
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

}  // namespace pqwgui
