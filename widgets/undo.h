#pragma once
// Undo for view state: a user's choice in a combo box (a filter, a sort order, a colour map)
// becomes one step on the undo stack; undoing sets the combo back, which re-applies the view.
// Changes made by code (repopulating, restoring a project) are not recorded.
#include <QString>

class QComboBox;
class QUndoStack;
class QWidget;

namespace pqwgui {

/// Records every user choice in combo as an undo command named "what: new text".
void makeUndoable(QComboBox* combo, QUndoStack* undo, const QString& what);

/// Every settings field inside `form` (spin boxes, check boxes, combo boxes, line edits)
/// becomes undoable: a user's edit is one step named "scope: label: new value" (the label is
/// the field's QFormLayout label), and further edits of the same field in a row merge into
/// that step (typing 1, 2, 8 or holding an arrow is one step). Only edits the user makes
/// count: the field has focus (spin boxes, line edits), or the user clicked / chose
/// (check boxes, combo boxes); changes made by code are not recorded. Undo and redo set the
/// field back, which re-applies it like any edit.
void makeFormUndoable(QWidget* form, QUndoStack* undo, const QString& scope);

}  // namespace pqwgui
