#pragma once
// The Pruning view's "Dense vs pruned" tab: one test image explained with one method on the
// dense base model and on a run's pruned model (rebuilt in a job by core's
// pqw::compareDenseAndPruned, once per run), side by side with their numbers.
#include <QImage>
#include <QWidget>

#include <memory>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace pqw {
struct SweepModels;
}

namespace pqwgui {
class Session;

class ComparePanel : public QWidget {
    Q_OBJECT
public:
    explicit ComparePanel(Session* session, QWidget* parent = nullptr);
    ~ComparePanel() override;

    /// Explains test image `image` (0-based) with `method` ("omenn", "saliency", ...) on the
    /// sweep in dir: its dense base model and run runId's pruned model. logTest: the run's
    /// test top-1 in its log (NaN: unknown). Returns the job id, or 0 with the reason shown.
    int compare(const QString& dir, const QString& runId, int image, const QString& method, double logTest);
    int job() const { return job_; }
    /// Enables the Compare button (a finished run to compare exists, no comparison running).
    void setCanCompare(bool can);
    void setNote(const QString& text);

    /// Last comparison's numbers: [0] dense, [1] pruned.
    struct Compared {
        double logit = 0, sum = 0;
        bool exact = false;
        QImage image;  ///< the map over the image, as rendered (240 px)
    };
    const Compared& compared(int i) const { return compared_[i]; }
    QLabel* denseCaption() const { return denseCaption_; }
    QLabel* prunedCaption() const { return prunedCaption_; }
    QLabel* denseImage() const { return denseImage_; }
    QLabel* prunedImage() const { return prunedImage_; }
    int image() const;
    void setImage(int image);
    QString method() const;
    void setMethod(const QString& method);

Q_SIGNALS:
    /// Compare clicked: the view supplies the run selected in its table.
    void compareRequested(int image, const QString& method);
    void finished(bool ok);

private:
    Session* session_;
    QSpinBox* image_;
    QComboBox* method_;
    QPushButton* explain_;
    QLabel *denseImage_, *prunedImage_, *denseCaption_, *prunedCaption_, *compareNote_;
    int job_ = 0;
    bool canCompare_ = false;
    Compared compared_[2];
    std::shared_ptr<pqw::SweepModels> cache_;
};

}  // namespace pqwgui
