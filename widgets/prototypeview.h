#pragma once
// The Prototype browser: a grid of prototype tiles (best training patch, usage), sortable by
// usage or by weight for a class, filterable by class; the selected prototype's top patches,
// class-weight bar chart and usage; switching prototypes off (undoable) with the accuracy
// change; and "This looks like that" for an image file.
#include <QImage>
#include <QJsonObject>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QListView;
class QPushButton;
class QScrollArea;
class QTabWidget;
class QUndoStack;
class QCustomPlot;
class QCPBars;
class QHBoxLayout;

namespace pqwgui {

class Session;
class PrototypeListModel;
class PrototypeSortProxy;

class PrototypeView : public QWidget {
    Q_OBJECT
public:
    PrototypeView(Session* session, QUndoStack* undo, QWidget* parent = nullptr);
    PrototypeListModel* model() const { return model_; }
    PrototypeSortProxy* proxy() const { return proxy_; }
    QListView* grid() const { return grid_; }
    QLabel* accuracyLabel() const { return accuracy_; }
    QComboBox* sortCombo() const { return sort_; }
    QComboBox* filterCombo() const { return filter_; }
    QComboBox* sortClassCombo() const { return sortClass_; }
    /// Sort, filter and the selected prototype, for the project file.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& o);
    /// Selects the first tile (used by screenshots and after a new index arrives).
    void selectFirst();

Q_SIGNALS:
    void explainRequested();
    /// "Open in the Explain view" under "This looks like that".
    void openInExplainRequested();

public Q_SLOTS:
    void showExplanation(const QImage& image, const QString& text);

private:
    void reload();
    void showDetail();
    void applySort();
    Session* session_;
    QUndoStack* undo_;
    PrototypeListModel* model_;
    PrototypeSortProxy* proxy_;
    QComboBox* sort_;
    QComboBox* sortClass_;
    QComboBox* filter_;
    QListView* grid_;
    QLabel* title_;
    QCheckBox* enabled_;
    QWidget* patches_;
    QHBoxLayout* patchRow_;
    QCustomPlot* weights_;
    QCPBars* weightBars_;
    QLabel* accuracy_;
    QLabel* empty_;
    QPushButton* explain_;
    QLabel* explainImage_;
    QLabel* explainText_;
    QScrollArea* rightScroll_ = nullptr;
    QTabWidget* side_ = nullptr;
    QScrollArea* explainScroll_ = nullptr;
    QImage explanation_;
    bool measuring_ = false;
    void fitExplanation();
};

}  // namespace pqwgui
