#pragma once
// The Model & Features view: backbone choice, its layers with output shapes, the cut layer
// and input size, the feature cache's state and "Extract features".
#include <QAbstractTableModel>
#include <QWidget>

#include <vector>

#include "pqw/backbone.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace pqwgui {

class ExtractSlurmPanel;
class PreprocessForm;
class Session;

/// Layers of a backbone: name, type, output shape, parameters; the cut layer is bold.
class LayerTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    using QAbstractTableModel::QAbstractTableModel;
    void setLayers(const std::vector<pqw::LayerInfo>& layers, const QString& cut);
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

private:
    std::vector<pqw::LayerInfo> layers_;
    QString cut_;
};

class ModelFeaturesView : public QWidget {
    Q_OBJECT
public:
    explicit ModelFeaturesView(Session* session, QWidget* parent = nullptr);
    LayerTableModel* layerModel() const { return layers_; }
    QPushButton* extractButton() const { return extract_; }
    /// "Extract on Slurm" (widgets/features/extractslurmpanel.*).
    ExtractSlurmPanel* extractSlurmPanel() const { return slurmExtract_; }
    /// Re-reads the cache state (cheap: meta.json only).
    void refreshCacheState();

Q_SIGNALS:
    void extractRequested();

private:
    void loadBackbone();
    void updateBackbone();
    Session* session_;
    QComboBox* kind_;
    QLineEdit* path_;
    QPushButton* browse_;
    QPushButton* load_;
    PreprocessForm* preprocess_;
    QComboBox* cut_;
    QSpinBox* size_;
    QLabel* info_;
    LayerTableModel* layers_;
    QTableView* table_;
    QLineEdit* cacheDir_;
    QLabel* cacheState_;
    QPushButton* extract_;
    ExtractSlurmPanel* slurmExtract_;
};

}  // namespace pqwgui
