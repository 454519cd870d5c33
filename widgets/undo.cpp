#include "undo.h"

#include <QComboBox>
#include <QPointer>
#include <QTimer>
#include <QUndoCommand>
#include <QUndoStack>

namespace pqwgui {

namespace {
const char* kLast = "pqwUndoLastIndex";
const char* kApplying = "pqwUndoApplying";

class ComboChange : public QUndoCommand {
public:
    ComboChange(QComboBox* c, int from, int to, const QString& text) : QUndoCommand(text), combo_(c), from_(from), to_(to) {}
    void undo() override { set(from_); }
    void redo() override {
        if (first_) {  // the user already made the change
            first_ = false;
            return;
        }
        set(to_);
    }

private:
    void set(int i) {
        if (!combo_ || i < 0 || i >= combo_->count()) return;
        combo_->setProperty(kApplying, true);
        combo_->setCurrentIndex(i);
        combo_->setProperty(kApplying, false);
    }
    QPointer<QComboBox> combo_;
    int from_, to_;
    bool first_ = true;
};
}  // namespace

void makeUndoable(QComboBox* combo, QUndoStack* undo, const QString& what) {
    combo->setProperty(kLast, combo->currentIndex());
    // currentIndexChanged comes first (every change, also by code); activated follows for a
    // user's choice only. The index before the choice is kept in a property.
    QObject::connect(combo, &QComboBox::currentIndexChanged, combo, [combo](int i) {
        combo->setProperty("pqwUndoPrevious", combo->property(kLast));
        combo->setProperty(kLast, i);
    });
    // Views repopulate their combos with signals blocked: re-read the index once they are done.
    auto resync = [combo] {
        QTimer::singleShot(0, combo, [combo] {
            combo->setProperty(kLast, combo->currentIndex());
            combo->setProperty("pqwUndoPrevious", combo->currentIndex());
        });
    };
    QObject::connect(combo->model(), &QAbstractItemModel::rowsInserted, combo, resync);
    QObject::connect(combo->model(), &QAbstractItemModel::rowsRemoved, combo, resync);
    QObject::connect(combo->model(), &QAbstractItemModel::modelReset, combo, resync);
    QObject::connect(combo, &QComboBox::activated, combo, [combo, undo, what](int i) {
        if (combo->property(kApplying).toBool()) return;
        const QVariant prev = combo->property("pqwUndoPrevious");
        const int from = prev.isValid() ? prev.toInt() : -1;
        if (from == i || from < 0) return;
        combo->setProperty("pqwUndoPrevious", i);  // a second activation of the same item is not a change
        undo->push(new ComboChange(combo, from, i, QStringLiteral("%1: %2").arg(what, combo->itemText(i))));
    });
}

}  // namespace pqwgui
