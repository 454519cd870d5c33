#include "prototypemodel.h"

#include <QFont>

#include <cmath>
#include <QUndoStack>

namespace pqwgui {

PrototypeListModel::PrototypeListModel(QObject* parent) : QAbstractListModel(parent) {}

void PrototypeListModel::setIndex(std::shared_ptr<const PrototypeIndex> index, const std::vector<char>& enabled,
                                  const QStringList& classes) {
    beginResetModel();
    index_ = std::move(index);
    classes_ = classes;
    const size_t n = index_ ? index_->infos.size() : 0;
    enabled_ = enabled;
    enabled_.resize(n, 1);
    topClass_.assign(n, -1);
    for (size_t p = 0; p < n; ++p) {
        const auto& w = index_->infos[p].classWeights;
        float best = 0;
        for (size_t c = 0; c < w.size(); ++c)
            if (w[c] > best) best = w[c], topClass_[p] = int(c);
    }
    if (weightClass_ >= classes_.size()) weightClass_ = 0;
    endResetModel();
}

void PrototypeListModel::setWeightClass(int c) {
    weightClass_ = c;
    if (rowCount() > 0) Q_EMIT dataChanged(index(0), index(rowCount() - 1), {WeightRole});
}

void PrototypeListModel::setStability(const std::vector<double>& s) {
    stability_ = s;
    if (rowCount() > 0) Q_EMIT dataChanged(index(0), index(rowCount() - 1), {StabilityRole, Qt::ToolTipRole});
}

int PrototypeListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !index_ ? 0 : int(index_->infos.size());
}

Qt::ItemFlags PrototypeListModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable | Qt::ItemNeverHasChildren;
}

QVariant PrototypeListModel::data(const QModelIndex& ix, int role) const {
    if (!ix.isValid() || !index_ || ix.row() >= rowCount()) return {};
    const size_t p = size_t(ix.row());
    const auto& info = index_->infos[p];
    const bool on = enabled_[p] != 0;
    switch (role) {
        case Qt::DisplayRole: {
            const QString cls = topClass_[p] >= 0 && topClass_[p] < classes_.size() ? classes_[topClass_[p]] : tr("no class");
            return tr("#%1 · %2\n%3 cells%4").arg(info.index).arg(cls).arg(info.usage).arg(on ? QString() : tr(" · OFF"));
        }
        case Qt::DecorationRole: {
            if (index_->contexts[p].empty()) return {};
            QImage img = index_->contexts[p].front();
            if (!on) img = img.convertToFormat(QImage::Format_Grayscale8);
            return img;
        }
        case Qt::ToolTipRole:
        {
            QString tip = tr("Prototype %1: the closest prototype for %2 patches of the training images; strongest evidence for %3.")
                              .arg(info.index).arg(info.usage)
                              .arg(topClass_[p] >= 0 && topClass_[p] < classes_.size() ? classes_[topClass_[p]] : tr("none"));
            if (size_t(info.index) < stability_.size() && !std::isnan(stability_[size_t(info.index)]))
                tip += tr(" Its presence changes by %1 on average when its images are shifted or noised (lower = more stable).")
                           .arg(stability_[size_t(info.index)], 0, 'f', 3);
            return tip + tr(" Untick to switch it off (undoable).");
        }
        case Qt::CheckStateRole: return on ? Qt::Checked : Qt::Unchecked;
        case Qt::FontRole: {
            if (on) return {};
            QFont f;
            f.setStrikeOut(true);
            return f;
        }
        case PrototypeRole: return info.index;
        case UsageRole: return qlonglong(info.usage);
        case WeightRole:
            return weightClass_ >= 0 && size_t(weightClass_) < info.classWeights.size() ? double(info.classWeights[size_t(weightClass_)]) : 0.0;
        case TopClassRole: return topClass_[p];
        case StabilityRole: return size_t(info.index) < stability_.size() ? stability_[size_t(info.index)] : std::nan("");
        case EnabledRole: return on;
        default: return {};
    }
}

bool PrototypeListModel::setData(const QModelIndex& ix, const QVariant& value, int role) {
    if (!ix.isValid() || (role != Qt::CheckStateRole && role != EnabledRole) || ix.row() >= rowCount()) return false;
    const bool on = role == EnabledRole ? value.toBool() : value.toInt() == Qt::Checked;
    if ((enabled_[size_t(ix.row())] != 0) == on) return false;
    if (undo_)
        undo_->push(new SetPrototypeEnabled(this, ix.row(), on));
    else
        applyEnabled(ix.row(), on);
    return true;
}

void PrototypeListModel::applyEnabled(int p, bool on) {
    if (p < 0 || p >= rowCount()) return;
    enabled_[size_t(p)] = on ? 1 : 0;
    const QModelIndex ix = index(p);
    Q_EMIT dataChanged(ix, ix);
    Q_EMIT maskChanged(enabled_);
}

SetPrototypeEnabled::SetPrototypeEnabled(PrototypeListModel* model, int prototype, bool on)
    : model_(model), prototype_(prototype), on_(on) {
    setText(on ? QObject::tr("Switch prototype %1 on").arg(prototype) : QObject::tr("Switch prototype %1 off").arg(prototype));
}
void SetPrototypeEnabled::redo() { model_->applyEnabled(prototype_, on_); }
void SetPrototypeEnabled::undo() { model_->applyEnabled(prototype_, !on_); }

void PrototypeSortProxy::setMode(Mode m) {
    mode_ = m;
    invalidate();
    sort(0, m == ByIndex ? Qt::AscendingOrder : Qt::DescendingOrder);
}

void PrototypeSortProxy::setClassFilter(int c) {
    classFilter_ = c;
    invalidateFilter();
}

bool PrototypeSortProxy::lessThan(const QModelIndex& a, const QModelIndex& b) const {
    switch (mode_) {
        case ByUsage: return a.data(PrototypeListModel::UsageRole).toLongLong() < b.data(PrototypeListModel::UsageRole).toLongLong();
        case ByWeight: return a.data(PrototypeListModel::WeightRole).toDouble() < b.data(PrototypeListModel::WeightRole).toDouble();
        case ByIndex: return a.row() < b.row();
        case ByStability: {
            // Sorted descending like the others: the smallest change (most stable) first,
            // prototypes not measured last.
            const double x = a.data(PrototypeListModel::StabilityRole).toDouble(), y = b.data(PrototypeListModel::StabilityRole).toDouble();
            if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && !std::isnan(y);
            return x > y;
        }
    }
    return false;
}

bool PrototypeSortProxy::filterAcceptsRow(int row, const QModelIndex& parent) const {
    if (classFilter_ < 0) return true;
    return sourceModel()->index(row, 0, parent).data(PrototypeListModel::TopClassRole).toInt() == classFilter_;
}

}  // namespace pqwgui
