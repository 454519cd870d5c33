#include "filedialogs.h"
#include "modelview.h"

#include <algorithm>
#include <cmath>

#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>

#include "pqw/backbone_files.h"
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

#include "features/extractslurmpanel.h"
#include "pqw/error.h"
#include "pqw/feature_cache.h"
#include "preprocessform.h"
#include "session.h"

namespace pqwgui {

static QString shapeText(const std::vector<int64_t>& s) {
    QStringList parts;
    for (auto v : s) parts << QString::number(v);
    return parts.join(QStringLiteral(" x "));
}

void LayerTableModel::setLayers(const std::vector<pqw::LayerInfo>& layers, const QString& cut) {
    beginResetModel();
    layers_ = layers;
    cut_ = cut;
    endResetModel();
}

int LayerTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(layers_.size()); }
int LayerTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : 4; }

QVariant LayerTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(layers_.size())) return {};
    const auto& l = layers_[size_t(index.row())];
    const bool isCut = QString::fromStdString(l.name) == cut_;
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
            case 0: return QString::fromStdString(l.name) + (isCut ? tr("  (cut)") : QString());
            case 1: return QString::fromStdString(l.type);
            case 2: return shapeText(l.outputShape);
            case 3: return QLocale().toString(qlonglong(l.parameters));
        }
    } else if (role == Qt::FontRole && isCut) {
        QFont f;
        f.setBold(true);
        return f;
    } else if (role == Qt::TextAlignmentRole && index.column() == 3) {
        return int(Qt::AlignRight | Qt::AlignVCenter);
    } else if (role == Qt::ToolTipRole && index.column() == 0) {
        return isCut ? tr("Features are taken from this layer's output") : tr("Inputs: %1").arg(
            QString::fromStdString([&] { std::string s; for (const auto& i : l.inputs) s += (s.empty() ? "" : ", ") + i; return s; }()));
    }
    return {};
}

QVariant LayerTableModel::headerData(int section, Qt::Orientation o, int role) const {
    if (o != Qt::Horizontal || role != Qt::DisplayRole) return QAbstractTableModel::headerData(section, o, role);
    switch (section) {
        case 0: return tr("Layer");
        case 1: return tr("Type");
        case 2: return tr("Output (C x H x W)");
        case 3: return tr("Parameters");
    }
    return {};
}

ModelFeaturesView::ModelFeaturesView(Session* session, QWidget* parent) : QWidget(parent), session_(session) {
    auto* root = new QHBoxLayout(this);
    auto* left = new QVBoxLayout;
    root->addLayout(left, 2);

    auto* bbBox = new QGroupBox(tr("1. Backbone (frozen feature extractor)"));
    auto* form = new QFormLayout(bbBox);
    kind_ = new QComboBox;
    kind_->addItem(tr("Built-in MobileNetV2 (ImageNet features)"), QStringLiteral("default"));
    kind_->addItem(tr("TensorFlow.js model folder..."), QStringLiteral("tfjs"));
    // TorchScript .pt or a torch.save state dict .pth (torchvision ConvNeXt / ResNet / ViT, an
    // official ProtoQuant run): core tells them apart by content (backboneKindForPath).
    kind_->addItem(tr("PyTorch file (TorchScript .pt or state dict .pth)..."), QStringLiteral("torchscript"));
    kind_->setToolTip(tr("The network whose intermediate features the prototypes are learned on. It is never trained here."));
    auto* pathRow = new QHBoxLayout;
    path_ = new QLineEdit;
    path_->setPlaceholderText(tr("not needed for the built-in backbone"));
    path_->setToolTip(tr("A TFJS folder (model.json + weights) or a TorchScript .pt file whose forward returns a feature map"));
    browse_ = new QPushButton(tr("Browse..."));
    pathRow->addWidget(path_, 1);
    pathRow->addWidget(browse_);
    load_ = new QPushButton(tr("Load backbone"));
    load_->setToolTip(tr("Load the backbone and list its layers (runs as a job)"));
    form->addRow(tr("Backbone:"), kind_);
    form->addRow(tr("File or folder:"), pathRow);
    preprocess_ = new PreprocessForm;
    form->addRow(tr("Preprocessing:"), preprocess_);
    form->addRow(QString(), load_);
    left->addWidget(bbBox);

    auto* featBox = new QGroupBox(tr("2. Features"));
    auto* ff = new QFormLayout(featBox);
    cut_ = new QComboBox;
    cut_->setToolTip(tr("Layer whose output becomes the feature map. Earlier layers: smaller parts, finer grid; "
                        "later layers: larger parts, more semantic."));
    size_ = new QSpinBox;
    size_->setRange(32, 512);
    size_->setSingleStep(16);
    size_->setSuffix(tr(" px"));
    size_->setValue(session_->inputSize());
    size_->setToolTip(tr("Images are resized to this square before the backbone. Larger: finer feature grid, slower extraction."));
    info_ = new QLabel;
    info_->setWordWrap(true);
    auto* dirRow = new QHBoxLayout;
    cacheDir_ = new QLineEdit;
    cacheDir_->setToolTip(tr("Where the feature cache is stored (fp16, memory-mapped). Extraction resumes if interrupted."));
    auto* dirBrowse = new QPushButton(tr("Browse..."));
    dirRow->addWidget(cacheDir_, 1);
    dirRow->addWidget(dirBrowse);
    cacheState_ = new QLabel;
    cacheState_->setWordWrap(true);
    cacheState_->setObjectName(QStringLiteral("cacheState"));
    extract_ = new QPushButton(tr("Extract features"));
    extract_->setObjectName(QStringLiteral("extractButton"));
    extract_->setToolTip(tr("Run every image through the backbone once and store the feature maps (Ctrl+E)"));
    ff->addRow(tr("Cut layer:"), cut_);
    ff->addRow(tr("Input size:"), size_);
    ff->addRow(tr("Feature map:"), info_);
    ff->addRow(tr("Cache folder:"), dirRow);
    ff->addRow(tr("Cache state:"), cacheState_);
    ff->addRow(QString(), extract_);
    left->addWidget(featBox);
    left->addWidget(slurmExtract_ = new ExtractSlurmPanel(session_));
    left->addStretch(1);

    auto* right = new QVBoxLayout;
    right->addWidget(new QLabel(tr("Layers (shapes at the chosen input size; the cut layer in bold)")));
    layers_ = new LayerTableModel(this);
    table_ = new QTableView;
    table_->setModel(layers_);
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    table_->verticalHeader()->hide();
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    for (int c = 1; c < 4; ++c) table_->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setAlternatingRowColors(true);
    right->addWidget(table_, 1);
    root->addLayout(right, 3);

    connect(kind_, &QComboBox::currentIndexChanged, this, [this] {
        const bool needsPath = kind_->currentData().toString() != QLatin1String("default");
        path_->setEnabled(needsPath);
        browse_->setEnabled(needsPath);
    });
    path_->setEnabled(false);
    browse_->setEnabled(false);
    connect(browse_, &QPushButton::clicked, this, [this] {
        const QString p = kind_->currentData().toString() == QLatin1String("tfjs")
                              ? folderDialog(this, tr("TensorFlow.js model folder"))
                              : openFileDialog(this, tr("PyTorch file"), tr("PyTorch files (*.pt *.pth *.pth.tar);;All files (*)"));
        if (!p.isEmpty()) path_->setText(p);
    });
    connect(load_, &QPushButton::clicked, this, &ModelFeaturesView::loadBackbone);
    connect(cut_, &QComboBox::activated, this, [this] {
        auto bb = session_->backbone();
        if (!bb) return;
        pqw::BackboneSpec spec = bb->spec();
        spec.cutLayer = cut_->currentText().toStdString();
        if (spec.cutLayer != bb->cutLayer()) session_->openBackbone(spec);
    });
    connect(size_, &QSpinBox::editingFinished, this, [this] {
        if (size_->value() == session_->inputSize()) return;
        session_->setInputSize(size_->value());
        session_->probeLayers();
    });
    connect(cacheDir_, &QLineEdit::editingFinished, this, [this] {
        if (cacheDir_->text() != session_->cacheDir()) session_->setCacheDir(cacheDir_->text());
    });
    connect(dirBrowse, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, tr("Feature cache folder"), session_->cacheDir());
        if (!d.isEmpty()) session_->setCacheDir(d);
    });
    connect(extract_, &QPushButton::clicked, this, &ModelFeaturesView::extractRequested);
    connect(session_, &Session::backboneChanged, this, &ModelFeaturesView::updateBackbone);
    connect(session_, &Session::cacheChanged, this, &ModelFeaturesView::refreshCacheState);
    connect(session_, &Session::datasetChanged, this, &ModelFeaturesView::refreshCacheState);
    connect(session_->jobs(), &JobRunner::idle, this, &ModelFeaturesView::refreshCacheState);
    // While features are being extracted, the state is the extraction's progress (the file on
    // disk lags behind it by up to a checkpoint interval, and said "missing" at 16 %).
    connect(session_->jobs(), &JobRunner::progress, this, [this](int id, double f, const QString&) {
        if (id != session_->extractionJob()) return;
        cacheState_->setText(tr("<b style='color:#c80'>extracting</b>: %1 % done; the Jobs panel can cancel it (it "
                                "resumes later where it stopped)").arg(int(std::floor(100 * std::clamp(f, 0.0, 1.0)))));
    });
    connect(session_->jobs(), &JobRunner::finished, this, [this](int id, JobStatus, const QString&) {
        if (id == session_->extractionJob()) refreshCacheState();
    });
    refreshCacheState();
}

void ModelFeaturesView::loadBackbone() {
    pqw::BackboneSpec spec;
    spec.kind = kind_->currentData().toString().toStdString();
    spec.path = path_->text().toStdString();
    if (spec.kind != "default" && spec.path.empty()) {
        QMessageBox::information(this, tr("Backbone"), tr("Choose the file or folder of the backbone first."));
        return;
    }
    if (spec.kind == "torchscript") spec.kind = pqw::backboneKindForPath(spec.path);
    try {
        spec.preprocess = preprocess_->choice();
    } catch (const pqw::Error& e) {
        QMessageBox::warning(this, tr("Preprocessing"), QString::fromStdString(e.what()));
        return;
    }
    session_->openBackbone(spec);
}

void ModelFeaturesView::updateBackbone() {
    auto bb = session_->backbone();
    if (!bb) return;
    const QString cut = QString::fromStdString(bb->cutLayer());
    layers_->setLayers(session_->layers(), cut);
    const QSignalBlocker b(cut_);
    cut_->clear();
    for (const auto& l : session_->layers()) cut_->addItem(QString::fromStdString(l.name));
    cut_->setCurrentText(cut);
    const int kindIx = kind_->findData(QString::fromStdString(bb->spec().kind));
    if (kindIx >= 0) kind_->setCurrentIndex(kindIx);
    path_->setText(QString::fromStdString(bb->spec().path));
    preprocess_->setChoice(bb->spec().preprocess);
    size_->setValue(session_->inputSize());
    for (int r = 0; r < layers_->rowCount(); ++r)
        if (session_->layers()[size_t(r)].name == bb->cutLayer()) {
            table_->selectRow(r);
            // After the layout pass, so the viewport knows its height.
            QTimer::singleShot(0, table_, [this, r] { table_->scrollTo(layers_->index(r, 0), QAbstractItemView::PositionAtCenter); });
        }
    refreshCacheState();
}

void ModelFeaturesView::refreshCacheState() {
    auto bb = session_->backbone();
    size_->setValue(session_->inputSize());
    if (!cacheDir_->hasFocus()) cacheDir_->setText(session_->cacheDir());
    if (bb) {
        // The shape comes from the probed layer table (probing runs tensors: never here).
        std::vector<int64_t> s;
        for (const auto& l : session_->layers())
            if (l.name == bb->cutLayer()) s = l.outputShape;
        if (s.size() == 3)
            info_->setText(tr("%1 channels on a %2 x %3 grid (stride %4 px): each grid cell is one candidate "
                              "patch for a prototype").arg(s[0]).arg(s[1]).arg(s[2]).arg(bb->stride()));
        else
            info_->setText(tr("output %1").arg(shapeText(s)));
    } else {
        info_->setText(tr("load a backbone first"));
    }
    const bool ready = session_->dataset() && bb;
    extract_->setEnabled(ready && !session_->jobs()->busy());
    if (!ready) {
        cacheState_->setText(tr("<i>open a dataset and load a backbone</i>"));
        return;
    }
    if (session_->extractionJob() >= 0 && session_->jobs()->runningId() == session_->extractionJob())
        return;  // the extraction's own progress is the state (set from its progress signal)
    const auto st = session_->cacheStatus();
    QString text;
    switch (st.state) {
        case pqw::CacheState::Fresh:
            text = tr("<b style='color:#2a2'>fresh</b>: all %1 images extracted; training can start").arg(st.total);
            break;
        case pqw::CacheState::Partial:
            text = tr("<b style='color:#c80'>partial</b>: %1 of %2 images; extraction resumes where it stopped").arg(st.done).arg(st.total);
            break;
        case pqw::CacheState::Stale:
            text = tr("<b style='color:#c33'>stale</b>: %1; extraction rebuilds it").arg(QString::fromStdString(st.reason).toHtmlEscaped());
            break;
        case pqw::CacheState::Missing:
            text = tr("<b>missing</b>: not extracted yet") + (st.reason.empty() ? QString() : QStringLiteral(" (%1)").arg(QString::fromStdString(st.reason).toHtmlEscaped()));
            break;
    }
    cacheState_->setText(text);
}

}  // namespace pqwgui
