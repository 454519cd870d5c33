#pragma once
// The Explain view: one image with attribution overlays in one to four side-by-side panes
// (method, target class or "a vs b", head), linked zoom and pan, a swipe between two maps,
// overlay options, OMENN's exactness in numbers, the ProtoQuant decomposition over
// prototypes, an all-classes grid and faithfulness. Composed of ExplainControls (left),
// PaneGrid (centre) and three side panels; ExplainEngine owns the jobs and the cache. Every
// edit is a SettingsCommand on the window's undo stack.
#include <QJsonObject>
#include <QWidget>

#include <optional>
#include <vector>

#include "explain/explainengine.h"
#include "explain/explainsettings.h"
#include "pqw/project.h"

class QTabWidget;
class QUndoStack;

namespace pqwgui {

class AllClassesPanel;
class DecompositionPanel;
class ExplainControls;
class ExplainPane;
class FaithfulnessPanel;
class PaneGrid;
class Session;
class ViewLink;

class ExplainView : public QWidget {
    Q_OBJECT
public:
    ExplainView(Session* session, QUndoStack* undo, QWidget* parent = nullptr);

    ExplainEngine* engine() const { return engine_; }
    const ExplainSettings& settings() const { return settings_; }
    QUndoStack* undoStack() const { return undo_; }

    /// Shows a dataset sample / an image file (an undoable edit). False (and errorText() says
    /// which file and why) when the image cannot be decoded; the view is unchanged then.
    bool setImageSample(size_t sample);
    bool setImageFile(const QString& path);
    QString errorText() const { return error_; }

    /// Loads a second checkpoint (a job) and, when it loads, shows it in `pane` or else the last
    /// pane (a second pane is added if there is one): two trained heads side by side on one image,
    /// e.g. ProtoQuant against the non-quantised baseline. The note under the Compare
    /// button says what is loaded, or which file failed and why.
    void compareWith(const QString& path, int pane = -1);

    /// An edit: the settings become `next` through one undo command.
    void edit(const ExplainSettings& next, const QString& text);
    /// Applies settings without an undo step (undo / redo / restoreState use it).
    void applySettings(const ExplainSettings& s);

    /// The view's state for a project file: the edit state plus zoom, pan, swipe position,
    /// the auto-run and link toggles and the side tab. restoreState() ignores unknown keys
    /// and keeps defaults for missing ones.
    QJsonObject saveState() const;
    void restoreState(const QJsonObject& o);

    /// The explanations shown, for the project file and its report: the panes on the
    /// ProtoQuant head (the image, method, class and contrast of each).
    std::vector<pqw::ProjectExplanation> chosenExplanations() const;

    /// Screenshot mode: picks a test image when none is shown, shows the decomposition tab.
    /// Returns whether computations were requested.
    bool prepareScreenshot();

    /// The panes shown (the panes themselves: objects "pane0" .. "pane3").
    int visiblePanes() const { return int(settings_.panes.size()); }
    /// Zoom and pan shared by the linked panes.
    ViewLink* link() const;
    /// Tiles in the All classes grid.
    int allClassesTiles() const;
    /// Selects a bar of the decomposition (as a click does): its pixel map and patches.
    void selectShare(int bar);
    int selectedPrototype() const;

public Q_SLOTS:
    /// Computes what is shown (the Run button, F5): also after a failure or a cancel.
    void run();
    void cancel();
    void computeTable();

Q_SIGNALS:
    void statusMessage(const QString& text);

protected:
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;
    void showEvent(QShowEvent* e) override;

private:
    QWidget* buildSide();
    void connectControls();
    void connectEngine();
    void modelChanged();
    /// Asks for a checkpoint file and compares with it (in `pane`, or see compareWith).
    void askComparison(int pane);
    void comparisonLoaded();
    void syncWidgets();
    void refresh(bool request);
    void requestPanes(bool request);
    void renderPanes();
    void showPrediction();
    void updateImageBox();
    bool setImage(const ExplainImageRef& ref);
    void showImageError(const QString& e);
    void paneEdited(int i);
    void setPaneCount(int n);
    void nextTestImage(int step);
    bool pickStartImage();
    bool autoRun() const;

    Session* session_;
    QUndoStack* undo_;
    ExplainEngine* engine_;
    ExplainSettings settings_, pressed_;
    QString error_;
    /// Where to show a comparison when it has loaded: none, or a pane (-1: the last, adding a
    /// second if needed).
    std::optional<int> comparePane_;

    ExplainControls* controls_;
    PaneGrid* grid_;
    QTabWidget* side_;
    DecompositionPanel* decomposition_;
    AllClassesPanel* allClasses_;
    FaithfulnessPanel* faithfulness_;
};

}  // namespace pqwgui
