#pragma once
// Undo for view state: a user's choice in a combo box (a filter, a sort order, a colour map)
// becomes one step on the undo stack; undoing sets the combo back, which re-applies the view.
// Changes made by code (repopulating, restoring a project) are not recorded.
#include <QString>

class QComboBox;
class QUndoStack;

namespace pqwgui {

/// Records every user choice in combo as an undo command named "what: new text".
void makeUndoable(QComboBox* combo, QUndoStack* undo, const QString& what);

}  // namespace pqwgui
