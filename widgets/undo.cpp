#include "undo.h"

#include <QAbstractSpinBox>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QSpinBox>
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
/// One field's value as a QVariant, and setting it back (with kApplying set, so the change
/// is not recorded again).
QVariant valueOf(QWidget* w) {
    if (auto* s = qobject_cast<QSpinBox*>(w)) return s->value();
    if (auto* d = qobject_cast<QDoubleSpinBox*>(w)) return d->value();
    if (auto* c = qobject_cast<QCheckBox*>(w)) return c->isChecked();
    if (auto* c = qobject_cast<QComboBox*>(w)) return c->currentIndex();
    if (auto* e = qobject_cast<QLineEdit*>(w)) return e->text();
    return {};
}

QString shownValue(QWidget* w) {
    if (auto* s = qobject_cast<QAbstractSpinBox*>(w)) return s->text();
    if (auto* c = qobject_cast<QCheckBox*>(w)) return c->isChecked() ? QObject::tr("on") : QObject::tr("off");
    if (auto* c = qobject_cast<QComboBox*>(w)) return c->currentText();
    if (auto* e = qobject_cast<QLineEdit*>(w)) return e->text();
    return {};
}

void setValue(QWidget* w, const QVariant& v) {
    w->setProperty(kApplying, true);
    if (auto* s = qobject_cast<QSpinBox*>(w)) s->setValue(v.toInt());
    else if (auto* d = qobject_cast<QDoubleSpinBox*>(w)) d->setValue(v.toDouble());
    else if (auto* c = qobject_cast<QCheckBox*>(w)) c->setChecked(v.toBool());
    else if (auto* c = qobject_cast<QComboBox*>(w)) c->setCurrentIndex(v.toInt());
    else if (auto* e = qobject_cast<QLineEdit*>(w)) e->setText(v.toString());
    w->setProperty(kApplying, false);
    w->setProperty(kLast, v);
}

/// One field's change; consecutive changes of the same field merge.
class FieldChange : public QUndoCommand {
public:
    FieldChange(QWidget* w, QVariant from, QVariant to, QString prefix)
        : w_(w), from_(std::move(from)), to_(std::move(to)), prefix_(std::move(prefix)) {
        setText(prefix_ + shownValue(w));
    }
    int id() const override { return 0x70717766; }
    bool mergeWith(const QUndoCommand* other) override {
        auto* o = static_cast<const FieldChange*>(other);
        if (o->w_ != w_) return false;
        to_ = o->to_;
        setText(o->text());
        return true;
    }
    void undo() override {
        if (w_) setValue(w_, from_);
    }
    void redo() override {
        if (first_) {  // the user already made the change
            first_ = false;
            return;
        }
        if (w_) setValue(w_, to_);
    }

private:
    QPointer<QWidget> w_;
    QVariant from_, to_;
    QString prefix_;
    bool first_ = true;
};

/// "Stage 1: codebook (the prototypes): Codes (K)" from the field's form label and group box.
QString fieldName(QWidget* w, QWidget* form) {
    QString label;
    for (QWidget* p = w->parentWidget(); p && label.isEmpty(); p = p == form ? nullptr : p->parentWidget())
        if (auto* fl = qobject_cast<QFormLayout*>(p->layout()))
            if (auto* l = qobject_cast<QLabel*>(fl->labelForField(w))) label = l->text();
    if (label.isEmpty())
        if (auto* c = qobject_cast<QCheckBox*>(w)) label = c->text();
    label.remove(QLatin1Char('&'));
    if (label.endsWith(QLatin1Char(':'))) label.chop(1);
    for (QWidget* p = w->parentWidget(); p && p != form; p = p->parentWidget())
        if (auto* g = qobject_cast<QGroupBox*>(p)) return g->title() + QStringLiteral(": ") + label;
    return label;
}

void watchField(QWidget* w, QWidget* form, QUndoStack* undo, const QString& scope) {
    w->setProperty(kLast, valueOf(w));
    const auto changed = [w, form, undo, scope](bool byUser) {
        const QVariant now = valueOf(w), before = w->property(kLast);
        w->setProperty(kLast, now);
        if (!byUser || w->property(kApplying).toBool() || now == before || !before.isValid()) return;
        undo->push(new FieldChange(w, before, now, scope + QStringLiteral(": ") + fieldName(w, form) + QStringLiteral(": ")));
    };
    if (auto* s = qobject_cast<QSpinBox*>(w))
        QObject::connect(s, &QSpinBox::valueChanged, w, [w, changed] { changed(w->hasFocus()); });
    else if (auto* d = qobject_cast<QDoubleSpinBox*>(w))
        QObject::connect(d, &QDoubleSpinBox::valueChanged, w, [w, changed] { changed(w->hasFocus()); });
    else if (auto* e = qobject_cast<QLineEdit*>(w))
        QObject::connect(e, &QLineEdit::textChanged, w, [w, changed] { changed(w->hasFocus()); });
    else if (auto* c = qobject_cast<QCheckBox*>(w)) {
        // toggled comes for every change, clicked after it for the user's only: the value
        // before is still in kLast when clicked arrives; a change by code is remembered
        // (queued, after any clicked) without being recorded.
        QObject::connect(c, &QCheckBox::clicked, w, [changed] { changed(true); });
        QObject::connect(c, &QCheckBox::toggled, w, [w] {
            QMetaObject::invokeMethod(w, [w] { w->setProperty(kLast, valueOf(w)); }, Qt::QueuedConnection);
        });
    } else if (auto* c = qobject_cast<QComboBox*>(w)) {
        QObject::connect(c, &QComboBox::activated, w, [changed] { changed(true); });
        QObject::connect(c, &QComboBox::currentIndexChanged, w, [w] {
            QMetaObject::invokeMethod(w, [w] { w->setProperty(kLast, valueOf(w)); }, Qt::QueuedConnection);
        });
    }
}
}  // namespace

void makeFormUndoable(QWidget* form, QUndoStack* undo, const QString& scope) {
    for (QWidget* w : form->findChildren<QWidget*>()) {
        const bool ownLineEdit = qobject_cast<QLineEdit*>(w) && !qobject_cast<QAbstractSpinBox*>(w->parentWidget()) &&
                                 !qobject_cast<QComboBox*>(w->parentWidget());
        if (qobject_cast<QSpinBox*>(w) || qobject_cast<QDoubleSpinBox*>(w) || qobject_cast<QCheckBox*>(w) || ownLineEdit ||
            qobject_cast<QComboBox*>(w))
            watchField(w, form, undo, scope);
    }
}

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
