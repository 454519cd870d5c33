#pragma once
// "Import a ProtoQuant checkpoint...": a checkpoint of the official ProtoQuant code (or a
// stage-1 codebook) recognised as a job, its summary shown (architecture, P, D, C, tau,
// epoch, validation top-1) before anything else runs, then imported as a workbench model
// (.pqwh) whose backbone (the .pth) is loaded so the user can extract their dataset's features.
#include <QDialog>

#include "pqw/protoquant_import.h"

class QLineEdit;
class QDoubleSpinBox;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace pqwgui {

class Session;

class ImportProtoQuantDialog : public QDialog {
    Q_OBJECT
public:
    explicit ImportProtoQuantDialog(Session* session, QWidget* parent = nullptr);
    /// The options as entered (for tests).
    pqw::ProtoQuantImportOptions options() const;
    void setCheckpoint(const QString& path);
    QString summaryText() const;
    /// Recognises the checkpoint (a job); the summary appears when it is done.
    void recognise();
    /// Imports into path (a job); then loads the backbone into the session.
    void importTo(const QString& path);

Q_SIGNALS:
    void recognised(bool ok);
    void imported(const QString& path);

private:
    Session* session_;
    QLineEdit *checkpoint_, *classes_, *dataset_, *backbone_;
    QDoubleSpinBox* tau_;
    QSpinBox* size_;
    QPlainTextEdit* summary_;
    QPushButton *recognise_, *import_;
};

}  // namespace pqwgui
