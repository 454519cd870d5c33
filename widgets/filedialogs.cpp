#include "filedialogs.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>

namespace pqwgui {
namespace {
const QString kKey = QStringLiteral("ui/lastDialogFolder");
QString startOr(const QString& startIn) {
    return !startIn.isEmpty() && QFileInfo(startIn).exists() ? startIn : dialogStartFolder();
}
}  // namespace

QString dialogStartFolder() {
    const QString last = QSettings().value(kKey).toString();
    if (!last.isEmpty() && QFileInfo(last).isDir()) return last;
    return QDir::homePath();
}

void rememberDialogPath(const QString& path) {
    if (path.isEmpty()) return;
    const QFileInfo fi(path);
    QSettings().setValue(kKey, fi.isDir() ? fi.absoluteFilePath() : fi.absolutePath());
}

QString openFileDialog(QWidget* parent, const QString& caption, const QString& filter, const QString& startIn) {
    const QString f = QFileDialog::getOpenFileName(parent, caption, startOr(startIn), filter);
    rememberDialogPath(f);
    return f;
}

QString saveFileDialog(QWidget* parent, const QString& caption, const QString& suggestedName, const QString& filter) {
    const QString start = QFileInfo(suggestedName).isAbsolute() ? suggestedName : QDir(dialogStartFolder()).filePath(suggestedName);
    const QString f = QFileDialog::getSaveFileName(parent, caption, start, filter);
    rememberDialogPath(f);
    return f;
}

QString folderDialog(QWidget* parent, const QString& caption, const QString& startIn) {
    const QString d = QFileDialog::getExistingDirectory(parent, caption, startOr(startIn));
    rememberDialogPath(d);
    return d;
}

}  // namespace pqwgui
