#pragma once
// File dialogs that open where the user last was (or in their home folder), not in the process's
// working directory (for a packaged app that is wherever it was started from, for `scripts/run`
// the source checkout). Every file dialog of the window goes through these.
#include <QString>

class QWidget;

namespace pqwgui {

/// The folder the next dialog opens in: the last folder a dialog returned, if it still exists;
/// otherwise the home folder.
QString dialogStartFolder();
/// Remembers the folder of a path a dialog returned (a file's folder, or the folder itself).
void rememberDialogPath(const QString& path);

QString openFileDialog(QWidget* parent, const QString& caption, const QString& filter, const QString& startIn = {});
/// `suggestedName` is a file name (placed in the start folder) or a full path.
QString saveFileDialog(QWidget* parent, const QString& caption, const QString& suggestedName, const QString& filter);
QString folderDialog(QWidget* parent, const QString& caption, const QString& startIn = {});

}  // namespace pqwgui
