#include "importdialog.h"

#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "jobrunner.h"
#include "pqw/output.h"
#include "session.h"

namespace pqwgui {

namespace {
QWidget* withBrowse(QLineEdit* edit, const std::function<QString()>& pick) {
    auto* w = new QWidget;
    auto* row = new QHBoxLayout(w);
    row->setContentsMargins(0, 0, 0, 0);
    auto* b = new QPushButton(QObject::tr("Browse..."));
    row->addWidget(edit, 1);
    row->addWidget(b);
    QObject::connect(b, &QPushButton::clicked, edit, [edit, pick] {
        const QString p = pick();
        if (!p.isEmpty()) edit->setText(p);
    });
    return w;
}
}  // namespace

ImportProtoQuantDialog::ImportProtoQuantDialog(Session* session, QWidget* parent) : QDialog(parent), session_(session) {
    setWindowTitle(tr("Import a ProtoQuant checkpoint"));
    auto* root = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    checkpoint_ = new QLineEdit;
    checkpoint_->setObjectName(QStringLiteral("importCheckpoint"));
    checkpoint_->setToolTip(tr("A .pth saved by the official ProtoQuant code (stage 2), or a stage-1 codebook. "
                               "It is read as data: nothing in it runs."));
    classes_ = new QLineEdit;
    classes_->setToolTip(tr("Optional: class names, one per line, in the training order"));
    dataset_ = new QLineEdit;
    dataset_->setToolTip(tr("Optional: take the class names from this dataset folder (image folder or CUB)"));
    backbone_ = new QLineEdit;
    backbone_->setToolTip(tr("Stage-1 codebooks only: the backbone .pth (a torchvision classifier state dict)"));
    tau_ = new QDoubleSpinBox;
    tau_->setRange(0.001, 10.0);
    tau_->setDecimals(3);
    tau_->setValue(0.1);
    tau_->setToolTip(tr("Softmax temperature over prototypes; not stored in the file (the official default is 0.1)"));
    size_ = new QSpinBox;
    size_->setRange(16, 1024);
    size_->setSingleStep(16);
    size_->setValue(224);
    size_->setSuffix(tr(" px"));
    form->addRow(tr("Checkpoint:"), withBrowse(checkpoint_, [this] {
        return QFileDialog::getOpenFileName(this, tr("ProtoQuant checkpoint"), {}, tr("PyTorch files (*.pth *.pt);;All files (*)"));
    }));
    form->addRow(tr("Class names file:"), withBrowse(classes_, [this] {
        return QFileDialog::getOpenFileName(this, tr("Class names"), {}, tr("Text files (*.txt);;All files (*)"));
    }));
    form->addRow(tr("or dataset folder:"), withBrowse(dataset_, [this] { return QFileDialog::getExistingDirectory(this, tr("Dataset")); }));
    form->addRow(tr("Backbone (stage 1):"), withBrowse(backbone_, [this] {
        return QFileDialog::getOpenFileName(this, tr("Backbone"), {}, tr("PyTorch files (*.pth *.pt);;All files (*)"));
    }));
    form->addRow(tr("Temperature tau:"), tau_);
    form->addRow(tr("Input size:"), size_);
    root->addLayout(form);
    summary_ = new QPlainTextEdit;
    summary_->setObjectName(QStringLiteral("importSummary"));
    summary_->setReadOnly(true);
    summary_->setPlaceholderText(tr("Press Recognise: what the file holds appears here before anything is imported."));
    summary_->setMinimumSize(560, 170);
    QFont mono(QStringLiteral("monospace"));
    mono.setStyleHint(QFont::TypeWriter);
    summary_->setFont(mono);
    root->addWidget(summary_, 1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    recognise_ = buttons->addButton(tr("Recognise"), QDialogButtonBox::ActionRole);
    import_ = buttons->addButton(tr("Import..."), QDialogButtonBox::AcceptRole);
    import_->setEnabled(false);
    root->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(recognise_, &QPushButton::clicked, this, &ImportProtoQuantDialog::recognise);
    connect(import_, &QPushButton::clicked, this, [this] {
        const QString out = QFileDialog::getSaveFileName(this, tr("Save the imported model"), {}, tr("ProtoQuant checkpoints (*.pqwh)"));
        if (!out.isEmpty()) importTo(out);
    });
    for (auto* e : {checkpoint_, classes_, dataset_, backbone_})
        connect(e, &QLineEdit::textChanged, this, [this] { import_->setEnabled(false); });
}

pqw::ProtoQuantImportOptions ImportProtoQuantDialog::options() const {
    pqw::ProtoQuantImportOptions o;
    o.checkpoint = checkpoint_->text().toStdString();
    o.classesFile = classes_->text().toStdString();
    o.datasetDir = dataset_->text().toStdString();
    o.backbone = backbone_->text().toStdString();
    o.tau = tau_->value();
    o.inputSize = size_->value();
    return o;
}

void ImportProtoQuantDialog::setCheckpoint(const QString& path) { checkpoint_->setText(path); }
QString ImportProtoQuantDialog::summaryText() const { return summary_->toPlainText(); }

void ImportProtoQuantDialog::recognise() {
    const auto opt = options();
    summary_->setPlainText(tr("Reading %1 ...").arg(checkpoint_->text()));
    QPointer<ImportProtoQuantDialog> self(this);
    const int id = session_->jobs()->submit(tr("Recognise a ProtoQuant checkpoint"), [opt, self](pqw::JobContext&) {
        std::string text;
        for (const auto& l : pqw::inspectProtoQuant(opt).lines()) text += l + "\n";
        return std::function<void()>([self, text] {
            if (!self) return;
            self->summary_->setPlainText(QString::fromStdString(text));
            self->import_->setEnabled(true);
            Q_EMIT self->recognised(true);
        });
    });
    connect(session_->jobs(), &JobRunner::finished, this, [this, id](int jid, JobStatus st, const QString& msg) {
        if (jid != id || st == JobStatus::Succeeded) return;
        summary_->setPlainText(msg);
        Q_EMIT recognised(false);
    });
}

void ImportProtoQuantDialog::importTo(const QString& path) {
    const auto opt = options();
    QPointer<ImportProtoQuantDialog> self(this);
    Session* session = session_;
    const std::string out = path.toStdString();
    session_->jobs()->submit(tr("Import a ProtoQuant checkpoint"), [opt, out, self, session, path](pqw::JobContext& ctx) {
        const pqw::OutputLock lock(out, "import into it");
        ctx.progress(0.1, "reading the checkpoint");
        const pqw::ProtoModel m = pqw::importProtoQuant(opt);
        ctx.progress(0.9, "writing the model");
        m.save(out);
        const pqw::BackboneSpec spec = m.backboneSpec();
        const int size = m.inputSize();
        return std::function<void()>([self, session, spec, size, path] {
            // The model's backbone, so the user's dataset can be extracted with it next.
            session->setInputSize(size);
            session->openBackbone(spec);
            if (!self) return;
            self->summary_->appendPlainText(tr("\nWrote %1. Next: open your dataset, extract its features with this "
                                               "backbone (Model & Features), then File > Load checkpoint.").arg(path));
            Q_EMIT self->imported(path);
        });
    });
}

}  // namespace pqwgui
