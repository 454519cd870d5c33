#pragma once
// The workbench window: a start page and the views as tabs (Dataset, Model & Features,
// Training, Prototypes), the Jobs and Log panels as docks, a status bar, menus with
// shortcuts, recent items, themes, drag and drop.
#include <QMainWindow>
#include <QMessageBox>

#include <functional>

#include "session.h"

class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QUndoStack;
class QMenu;

namespace pqwgui {

class DatasetView;
class ExplainView;
class ProjectController;
class JobsPanel;
class LogPanel;
class ModelFeaturesView;
class PrototypeView;
class PruningView;
class TrainingView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    Session* session() const { return session_; }
    JobRunner* jobs() const { return jobs_; }
    QUndoStack* undoStack() const { return undo_; }
    DatasetView* datasetView() const { return dataset_; }
    ModelFeaturesView* modelView() const { return model_; }
    TrainingView* trainingView() const { return training_; }
    PrototypeView* prototypeView() const { return prototypes_; }
    ExplainView* explainView() const { return explain_; }
    PruningView* pruningView() const { return pruning_; }
    JobsPanel* jobsPanel() const { return jobsPanel_; }
    QPushButton* demoButton() const { return demoButton_; }
    QTabWidget* tabs() const { return tabs_; }
    /// The view on show: the widget inside the current tab's scroll page.
    QWidget* currentView() const;
    ProjectController* project() const { return project_; }
    /// Ask whether to save unsaved changes when the window closes or an action replaces the
    /// session (off in screenshot mode).
    void setAskToSave(bool on) { askToSave_ = on; }
    /// The question "save, discard or cancel?" (tests answer it without a modal dialog).
    using SaveQuestion = std::function<QMessageBox::StandardButton(const QString& text)>;
    void setSaveQuestion(SaveQuestion q) { saveQuestion_ = std::move(q); }
    /// Before an action replaces the session (a demo, a dataset, features, a project): when there
    /// are unsaved changes, asks to save them. False when the user cancelled (or saving failed).
    bool confirmReplaceSession(const QString& action);
    /// At start: when an autosaved recovery file exists (the last run did not exit cleanly),
    /// asks whether to restore it.
    void offerRecovery();

    /// The demo's settings (the tests use a tiny subset).
    void setDemoConfig(const DemoConfig& c) { demoConfig_ = c; }
    const DemoConfig& demoConfig() const { return demoConfig_; }

    /// View names for --view: start, dataset, model, training, prototypes, explain, pruning.
    static QStringList viewNames();
    /// Restores the window geometry and dock layout saved at the last close.
    void restoreLayout();
    bool showView(const QString& name);

public Q_SLOTS:
    void startDemo();
    void openImageFolder(const QString& dir = {});
    void openCub(const QString& dir = {});
    /// Opens a feature cache and, when given, a checkpoint trained on it.
    void openFeatures(const QString& dir = {}, const QString& checkpoint = {});
    /// "Import a ProtoQuant checkpoint...": the recognised summary first (importdialog.h).
    void importProtoQuant();
    void extractFeatures();
    void startTraining();
    void loadCheckpoint(const QString& path = {});
    void saveCheckpoint(const QString& path = {});
    void explainImage(const QString& path = {});
    void openProject(const QString& path = {});
    /// Saves to the project's file (asks for one the first time). Returns false if cancelled.
    bool saveProject();
    bool saveProjectAs(const QString& path = {});
    void exportViewPng(const QString& path = {});
    /// Writes the project's report (HTML + PDF) as a job; asks for a folder when none is given.
    void exportReport(const QString& dir = {});

protected:
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;
    void closeEvent(QCloseEvent* e) override;
    /// Sizes the Jobs dock for the window: two rows below 720 px of height (a 1024 x 640 laptop
    /// keeps its plots), four above; only when the window crosses that height, so a dock the
    /// user dragged stays as it is otherwise.
    void resizeEvent(QResizeEvent* e) override;

private:
    QWidget* buildStartPage();
    void buildMenus();
    void addRecent(const QString& entry);
    void refreshRecent();
    void openRecent(const QString& entry);
    void openDatasetSpec(const pqw::DatasetSpec& spec, const QString& recent = QString());
    void reportError(const QString& what);
    void updateTitle();

    JobRunner* jobs_;
    Session* session_;
    QUndoStack* undo_;
    QTabWidget* tabs_;
    DatasetView* dataset_;
    ModelFeaturesView* model_;
    TrainingView* training_;
    PrototypeView* prototypes_;
    ExplainView* explain_;
    QString lastExplained_;  ///< the image file last sent to "This looks like that"
    PruningView* pruning_;
    JobsPanel* jobsPanel_;
    int jobsDockRows_ = 0;  ///< the rows the Jobs dock was last fitted to (0: not yet)
    LogPanel* log_;
    QPushButton* demoButton_ = nullptr;
    QLabel* demoStatus_ = nullptr;
    QListWidget* recent_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QLabel* jobLabel_;
    QProgressBar* jobBar_;
    DemoConfig demoConfig_;
    ProjectController* project_;
    bool askToSave_ = true;
    SaveQuestion saveQuestion_;
    int hintTab_ = -1;  ///< the tab a status-bar hint is about; leaving it clears the hint
};

}  // namespace pqwgui
