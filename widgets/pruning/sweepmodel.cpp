#include "pruning/sweepmodel.h"

#include <QLocale>
#include <QRegularExpression>

namespace pqwgui {

namespace {

QString fineTuneToken(const QString& id) {
    const QStringList parts = id.split(QLatin1Char('_'));
    return parts.size() >= 2 ? parts[parts.size() - 2] : QString();
}

QString text(const pqw::Event& e, const char* k) {
    auto it = e.texts.find(k);
    return it == e.texts.end() ? QString() : QString::fromStdString(it->second);
}

}  // namespace

std::map<QString, SweepRunSettings> runSettings(const pqw::SweepSpec& spec) {
    std::map<QString, SweepRunSettings> out;
    for (const auto& r : spec.runs) {
        SweepRunSettings s;
        s.id = QString::fromStdString(r.id);
        s.strategy = QString::fromLatin1(pqw::strategyName(r.options.strategy));
        s.modality = QString::fromLatin1(pqw::modalityName(r.options.modality));
        s.criterion = QString::fromLatin1(pqw::criterionName(r.options.criterion));
        s.fineTune = fineTuneToken(s.id);
        s.steps = r.options.steps;
        s.target = r.options.target;
        s.firstStep = r.options.firstStep;
        s.seed = int(r.options.seed);
        out[s.id] = s;
    }
    return out;
}

SweepRunSettings settingsFromId(const QString& id, const pqw::Event* e) {
    // id: strategy_t<target>_n<steps>[_s0<first>]_<modality>_<criterion>_<fine-tune>_seed<seed>
    SweepRunSettings s;
    s.id = id;
    const QStringList p = id.split(QLatin1Char('_'));
    if (!p.isEmpty()) s.strategy = p[0];
    for (const QString& t : p) {
        if (t.startsWith(QLatin1String("s0")) && t.size() > 2) s.firstStep = t.mid(2).toDouble();
        else if (t.startsWith(QLatin1Char('t')) && t.size() > 1 && (t[1].isDigit() || t[1] == QLatin1Char('.'))) s.target = t.mid(1).toDouble();
        else if (t.startsWith(QLatin1Char('n')) && t.size() > 1 && t[1].isDigit()) s.steps = t.mid(1).toInt();
        else if (t.startsWith(QLatin1String("seed"))) s.seed = t.mid(4).toInt();
    }
    if (p.size() >= 4) {
        s.fineTune = p[p.size() - 2];
        s.criterion = p[p.size() - 3];
        s.modality = p[p.size() - 4];
    }
    if (e) {
        if (!text(*e, "strategy").isEmpty()) s.strategy = text(*e, "strategy");
        if (!text(*e, "modality").isEmpty()) s.modality = text(*e, "modality");
        if (!text(*e, "criterion").isEmpty()) s.criterion = text(*e, "criterion");
        if (!text(*e, "fine_tune").isEmpty()) s.fineTune = text(*e, "fine_tune");
        // A run.done's numbers win over the id (ids not made by a native sweep, such as a
        // pruning-benchmark job's "0/iter2/repeat1", say nothing of steps or targets).
        auto v = [&](const char* k) {
            auto it = e->values.find(k);
            return it == e->values.end() || e->kind != "run.done" ? NAN : it->second;
        };
        if (!std::isnan(v("target"))) s.target = v("target");
        if (!std::isnan(v("steps"))) s.steps = int(v("steps"));
        if (!std::isnan(v("first_step"))) s.firstStep = v("first_step");
        if (!std::isnan(v("seed"))) s.seed = int(v("seed"));
    }
    return s;
}

QString fineTuneLabel(const QString& token, bool shortForm) {
    static const QRegularExpression fixed(QStringLiteral("^fixed(\\d+)$")), pat(QStringLiteral("^pat(\\d+)cap(\\d+)d(.*)$"));
    auto m = fixed.match(token);
    if (m.hasMatch()) {
        const int e = m.captured(1).toInt();
        if (shortForm) return e == 1 ? QObject::tr("1 epoch/step") : QObject::tr("%1 epochs/step").arg(e);
        return e == 1 ? QObject::tr("1 epoch per step") : QObject::tr("%1 epochs per step").arg(e);
    }
    m = pat.match(token);
    if (m.hasMatch()) {
        QString s = shortForm ? QObject::tr("patience %1 (max %2)").arg(m.captured(1), m.captured(2))
                              : QObject::tr("patience %1 (max %2 per step)").arg(m.captured(1), m.captured(2));
        if (m.captured(3) != QLatin1String("0")) s += QObject::tr(", min gain %1").arg(m.captured(3));
        return s;
    }
    return token;
}

SweepRunResult SweepRunResult::fromDone(const pqw::Event& e, const QString& run) {
    SweepRunResult r;
    r.s = settingsFromId(run, &e);  // with the event's target, steps, first step and seed
    auto v = [&](const char* k) {
        auto it = e.values.find(k);
        return it == e.values.end() ? NAN : it->second;
    };
    r.sparsity = v("sparsity_prunable");
    r.sparsityAll = v("sparsity_all");
    r.channelSparsity = v("channel_sparsity");
    r.params = v("params");
    r.macs = v("macs");
    r.valTop1 = v("val_top1");
    r.testTop1 = v("test_top1");
    r.denseVal = v("dense_val_top1");
    r.denseTest = v("dense_test_top1");
    r.totalEpochs = v("total_epochs");
    r.seconds = v("seconds");
    r.latencyB64 = v("latency_b64_ms");
    return r;
}

// ------------------------------------------------------------------------ table model

SweepResultsModel::SweepResultsModel(QObject* parent) : QAbstractTableModel(parent) {}

void SweepResultsModel::clear() {
    if (runs_.empty()) return;
    beginResetModel();
    runs_.clear();
    endResetModel();
}

int SweepResultsModel::rowOf(const QString& id) const {
    for (size_t i = 0; i < runs_.size(); ++i)
        if (runs_[i].s.id == id) return int(i);
    return -1;
}

void SweepResultsModel::addRun(const SweepRunResult& r) {
    const int row = rowOf(r.s.id);
    if (row >= 0) {
        const QString was = runs_[size_t(row)].state;
        runs_[size_t(row)] = r;
        if (r.state.isEmpty() && !was.isEmpty()) runs_[size_t(row)].state = tr("done");  // its run.done arrived
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
    beginInsertRows({}, int(runs_.size()), int(runs_.size()));
    runs_.push_back(r);
    endInsertRows();
}

QString SweepResultsModel::stateText(const pqw::SweepRunInfo& s) {
    QString t = QString::fromUtf8(pqw::sweepRunStateName(s.state));
    QStringList more;
    if (!s.jobId.empty()) more << QString::fromStdString(s.jobId);
    if (s.state == pqw::SweepRunState::Running && s.stepsDone >= 0) more << tr("step %1/%2").arg(s.stepsDone).arg(s.steps);
    if (s.state == pqw::SweepRunState::Failed && s.exitCode >= 0) more << tr("exit %1").arg(s.exitCode);
    if (!s.reason.empty() && s.state != pqw::SweepRunState::Done) more << QString::fromStdString(s.reason);
    if (!more.isEmpty()) t += QStringLiteral(" (") + more.join(QStringLiteral("; ")) + QLatin1Char(')');
    return t;
}

void SweepResultsModel::setRunStates(const std::vector<pqw::SweepRunInfo>& states,
                                     const std::function<SweepRunSettings(const QString&)>& settingsOf) {
    for (const auto& st : states) {
        const QString id = QString::fromStdString(st.id);
        const int row = rowOf(id);
        if (row >= 0) {
            runs_[size_t(row)].state = stateText(st);
            Q_EMIT dataChanged(index(row, State), index(row, State));
        } else if (st.state != pqw::SweepRunState::Done) {  // a finished run's row comes with its run.done
            SweepRunResult r;
            r.s = settingsOf(id);
            r.s.id = id;
            r.state = stateText(st);
            beginInsertRows({}, int(runs_.size()), int(runs_.size()));
            runs_.push_back(r);
            endInsertRows();
        }
    }
}

bool SweepResultsModel::hasStates() const {
    for (const auto& r : runs_)
        if (!r.state.isEmpty()) return true;
    return false;
}

int SweepResultsModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(runs_.size()); }
int SweepResultsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

namespace {
QString pct(double v, int decimals = 1) {
    return std::isnan(v) ? QStringLiteral("-") : QStringLiteral("%1 %").arg(100 * v, 0, 'f', decimals);
}
/// A sortable number; NaN (not measured) as an invalid variant, which sorts last.
QVariant num(double v) { return std::isnan(v) ? QVariant() : QVariant(v); }
QString count(double v) { return std::isnan(v) ? QStringLiteral("-") : QLocale().toString(qint64(v)); }
}  // namespace

QVariant SweepResultsModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(runs_.size()) || index.column() >= ColumnCount) return {};
    const auto& r = runs_[size_t(index.row())];
    const double delta = r.testTop1 - r.denseTest;
    if (role == Qt::UserRole) {
        switch (index.column()) {
        case Strategy: return r.s.strategy;
        case Steps: return r.s.steps;
        case Target: return num(r.s.target);
        case Modality: return r.s.modality;
        case Criterion: return r.s.criterion;
        case FineTune: return r.s.fineTune;
        case Sparsity: return num(r.sparsity);
        case Channels: return num(r.channelSparsity);
        case Params: return num(r.params);
        case Macs: return num(r.macs);
        case ValTop1: return num(r.valTop1);
        case TestTop1: return num(r.testTop1);
        case DeltaTest: return num(delta);
        case Epochs: return num(r.totalEpochs);
        case Seconds: return num(r.seconds);
        case State: return r.state.isEmpty() ? QVariant() : QVariant(r.state);
        case RunId: return r.s.id;
        }
        return {};
    }
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Strategy: return r.s.strategy;
        case Steps: return r.s.strategy == QLatin1String("hybrid") ? tr("%1 + %2").arg(1).arg(r.s.steps) : QString::number(r.s.steps);
        case Target: return pct(r.s.target, 0);
        case Modality: return r.s.modality;
        case Criterion: return r.s.criterion;
        case FineTune: return fineTuneLabel(r.s.fineTune);
        case Sparsity: return pct(r.sparsity);
        case Channels: return pct(r.channelSparsity);
        case Params: return count(r.params);
        case Macs: return count(r.macs);
        case ValTop1: return pct(r.valTop1, 2);
        case TestTop1: return pct(r.testTop1, 2);
        case DeltaTest: return std::isnan(delta) ? QStringLiteral("-") : QStringLiteral("%1%2").arg(delta >= 0 ? QStringLiteral("+") : QString()).arg(100 * delta, 0, 'f', 2);
        case Epochs: return std::isnan(r.totalEpochs) ? QStringLiteral("-") : QString::number(int(r.totalEpochs));
        case Seconds: return std::isnan(r.seconds) ? QStringLiteral("-") : QString::number(r.seconds, 'f', 1);
        case State: return r.state;
        case RunId: return r.s.id;
        }
        return {};
    }
    if (role == Qt::TextAlignmentRole) {
        const int c = index.column();
        if (c == Strategy || c == Modality || c == Criterion || c == FineTune || c == State || c == RunId) return int(Qt::AlignLeft | Qt::AlignVCenter);
        return int(Qt::AlignRight | Qt::AlignVCenter);
    }
    if (role == Qt::ToolTipRole) {
        QString t = tr("Run %1\nfinal sparsity %2 of the prunable weights, %3 of all parameters")
                        .arg(r.s.id, pct(r.sparsity), pct(r.sparsityAll));
        if (!std::isnan(r.denseTest)) t += tr("\ndense model: test top-1 %1").arg(pct(r.denseTest, 2));
        if (!std::isnan(r.latencyB64)) t += tr("\nlatency at batch 64: %1 ms").arg(r.latencyB64, 0, 'f', 2);
        return t;
    }
    return {};
}

QVariant SweepResultsModel::headerData(int section, Qt::Orientation o, int role) const {
    if (o != Qt::Horizontal || section < 0 || section >= ColumnCount) return QAbstractTableModel::headerData(section, o, role);
    // Indexed by Column.
    static const char* names[] = {"Strategy", "Steps", "Target", "Modality", "Criterion", "Fine-tuning", "State", "Test top-1",
                                  "Δ test (points)", "Sparsity", "Channels removed", "Epochs", "Params", "MACs",
                                  "Val top-1", "Time (s)", "Run"};
    static const char* tips[] = {
        "The schedule: one-shot, iterative (equal steps), iterative-geometric (smaller and smaller steps), hybrid (a big first step, then geometric)",
        "Pruning steps (hybrid: the first step plus the geometric steps)",
        "Target sparsity of the run",
        "unstructured: single weights are masked; structured: whole channels are removed",
        "How weights or channels are ranked for removal",
        "Fine-tuning after each step",
        "While the folder is followed: done, running, pending, failed or never started, with the Slurm job (array_task), exit code and reason",
        "Test top-1 accuracy after the last step",
        "Test top-1 minus the dense model's, in percentage points",
        "Final share of conv and linear weights that are zero or removed",
        "Final share of the prunable channels removed (structured pruning)",
        "Fine-tuning epochs over all steps",
        "Parameters left (stored; masked weights still count)",
        "Multiply-accumulates per image",
        "Validation top-1 accuracy after the last step",
        "Wall-clock time of the run",
        "The run's id in runs/ and summary.csv"};
    static_assert(sizeof(names) / sizeof(names[0]) == ColumnCount);
    if (role == Qt::DisplayRole) return tr(names[section]);
    if (role == Qt::ToolTipRole) return tr(tips[section]);
    return {};
}

SweepResultsProxy::SweepResultsProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(Qt::UserRole);
    setFilterKeyColumn(-1);
    setFilterCaseSensitivity(Qt::CaseInsensitive);
}

bool SweepResultsProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant l = left.data(sortRole()), r = right.data(sortRole());
    const bool lv = l.isValid(), rv = r.isValid();
    // Descending sorts by "greater first": an invalid value must then compare as the smallest.
    if (!lv || !rv) return lv != rv && (lv ? sortOrder() == Qt::AscendingOrder : sortOrder() == Qt::DescendingOrder);
    if (l.typeId() == QMetaType::QString || r.typeId() == QMetaType::QString)
        return QString::localeAwareCompare(l.toString(), r.toString()) < 0;
    return l.toDouble() < r.toDouble();
}

}  // namespace pqwgui
