#pragma once
// A zoomable, pannable image canvas for attribution overlays. Canvases that share one
// ViewLink zoom and pan together (side-by-side compare); a canvas can also show two images
// split by a vertical swipe line (the left part of one map, the right part of another).
#include <QImage>
#include <QObject>
#include <QPointF>
#include <QWidget>

namespace pqwgui {

/// Zoom (1 = fit) and the image point at the view's centre (0..1 in both axes).
class ViewLink : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;
    double zoom() const { return zoom_; }
    QPointF centre() const { return centre_; }
    void set(double zoom, QPointF centre);
    void reset() { set(1.0, QPointF(0.5, 0.5)); }

Q_SIGNALS:
    void changed();

private:
    double zoom_ = 1.0;
    QPointF centre_{0.5, 0.5};
};

class OverlayCanvas : public QWidget {
    Q_OBJECT
public:
    explicit OverlayCanvas(QWidget* parent = nullptr);
    /// The composed image (input + overlay); a null image shows `message` instead.
    void setImage(const QImage& img);
    const QImage& image() const { return image_; }
    void setMessage(const QString& m);
    QString message() const { return message_; }
    /// Swipe mode: `right` is drawn right of the line at `position` (0..1 of the image width).
    void setSwipe(const QImage& right, double position, const QString& leftLabel = {}, const QString& rightLabel = {});
    void clearSwipe();
    bool swiping() const { return !swipe_.isNull(); }
    void setLink(ViewLink* link);
    ViewLink* link() const { return link_; }
    void setActive(bool on);
    QSize sizeHint() const override { return {320, 320}; }
    QSize minimumSizeHint() const override { return {120, 120}; }

Q_SIGNALS:
    void clicked();
    void swipeMoved(double position);

protected:
    void paintEvent(QPaintEvent*) override;
    void wheelEvent(QWheelEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void mouseDoubleClickEvent(QMouseEvent* e) override;

private:
    QRectF imageRect() const;  ///< where the whole image lands at the current zoom and centre
    QImage image_, swipe_;
    QString message_, leftLabel_, rightLabel_;
    double swipePos_ = 0.5;
    ViewLink* link_ = nullptr;
    ViewLink* own_ = nullptr;
    bool active_ = false;
    bool dragging_ = false, draggingSwipe_ = false;
    QPointF dragStart_, centreStart_;
};

}  // namespace pqwgui
