#pragma once
// The Dataset view: a thumbnail grid with split/class filters, the class-count bar chart and
// a detail pane for the selected image.
#include <QJsonObject>
#include <QWidget>

class QComboBox;
class QLabel;
class QListView;
class QPushButton;
class QCustomPlot;
class QCPBars;

namespace pqwgui {

class Session;
class DatasetListModel;

class DatasetView : public QWidget {
    Q_OBJECT
public:
    explicit DatasetView(Session* session, QWidget* parent = nullptr);
    DatasetListModel* model() const { return model_; }
    QListView* grid() const { return grid_; }
    QCustomPlot* classChart() const { return chart_; }
    QComboBox* splitCombo() const { return split_; }
    QComboBox* classCombo() const { return cls_; }
    /// The filters and the selected image, for the project file.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& o);
    /// The dataset sample shown in the detail pane (size_t(-1) = none).
    size_t currentSample() const { return detailSample_; }

Q_SIGNALS:
    /// "Explain this image" (the detail pane's button, or a double-click on a thumbnail).
    void explainSampleRequested(size_t sample);

private:
    void reload();
    void applyFilter();
    void updateChart();
    void showDetail();
    Session* session_;
    DatasetListModel* model_;
    QListView* grid_;
    QComboBox* split_;
    QComboBox* cls_;
    QLabel* summary_;
    QLabel* detailImage_;
    QLabel* detailText_;
    QPushButton* explainButton_;
    QString detailBase_;
    size_t detailSample_ = size_t(-1);
    QCustomPlot* chart_;
    QCPBars* bars_;
};

}  // namespace pqwgui
