#pragma once
// Prototypes as an item model. Switching a prototype on/off through setData() does not
// change the flag directly: it pushes an undo command (Tiled's SetLayerVisible shape), and
// the command's redo()/undo() call applyEnabled(), which emits maskChanged() so the session
// re-evaluates the model with the new mask.
#include <QAbstractListModel>
#include <QSortFilterProxyModel>
#include <QStringList>
#include <QUndoCommand>

#include <memory>
#include <vector>

#include "session.h"

class QUndoStack;

namespace pqwgui {

class PrototypeListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { PrototypeRole = Qt::UserRole + 1, UsageRole, WeightRole, TopClassRole, EnabledRole, StabilityRole };
    explicit PrototypeListModel(QObject* parent = nullptr);

    void setIndex(std::shared_ptr<const PrototypeIndex> index, const std::vector<char>& enabled, const QStringList& classes);
    std::shared_ptr<const PrototypeIndex> prototypeIndex() const { return index_; }
    /// Edits through setData() go onto this stack (nullptr = apply directly).
    void setUndoStack(QUndoStack* s) { undo_ = s; }
    /// The class whose weight WeightRole reports (for sorting by weight).
    void setWeightClass(int c);
    int weightClass() const { return weightClass_; }
    const QStringList& classNames() const { return classes_; }
    const std::vector<char>& enabled() const { return enabled_; }
    /// Each prototype's presence change under perturbation (lower = more stable; NaN = not
    /// measured), from Session::measureStability.
    void setStability(const std::vector<double>& s);
    bool hasStability() const { return !stability_.empty(); }
    /// Sets the flag and notifies (used by the undo command).
    void applyEnabled(int prototype, bool on);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

Q_SIGNALS:
    void maskChanged(const std::vector<char>& enabled);

private:
    std::shared_ptr<const PrototypeIndex> index_;
    std::vector<char> enabled_;
    std::vector<double> stability_;
    std::vector<int> topClass_;
    QStringList classes_;
    int weightClass_ = 0;
    QUndoStack* undo_ = nullptr;
};

/// Switches one prototype on or off; undo restores it.
class SetPrototypeEnabled : public QUndoCommand {
public:
    SetPrototypeEnabled(PrototypeListModel* model, int prototype, bool on);
    void redo() override;
    void undo() override;

private:
    PrototypeListModel* model_;
    int prototype_;
    bool on_;
};

/// Sorting (usage, weight for the model's weight class, index) and a class filter (the
/// prototype's strongest class).
class PrototypeSortProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    enum Mode { ByUsage, ByWeight, ByIndex, ByStability };
    using QSortFilterProxyModel::QSortFilterProxyModel;
    void setMode(Mode m);
    void setClassFilter(int c);

protected:
    bool lessThan(const QModelIndex& a, const QModelIndex& b) const override;
    bool filterAcceptsRow(int row, const QModelIndex& parent) const override;

private:
    Mode mode_ = ByUsage;
    int classFilter_ = -1;
};

}  // namespace pqwgui
