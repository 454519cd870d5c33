#include "explain/explaincanvas.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

namespace pqwgui {

void ViewLink::set(double zoom, QPointF centre) {
    zoom = std::clamp(zoom, 1.0, 16.0);
    // Keep the view inside the image: at zoom z the half-width seen is 0.5 / z.
    const double h = 0.5 / zoom;
    centre.setX(std::clamp(centre.x(), h, 1.0 - h));
    centre.setY(std::clamp(centre.y(), h, 1.0 - h));
    if (zoom == zoom_ && centre == centre_) return;
    zoom_ = zoom;
    centre_ = centre;
    Q_EMIT changed();
}

OverlayCanvas::OverlayCanvas(QWidget* parent) : QWidget(parent) {
    own_ = new ViewLink(this);
    setLink(own_);
    setMouseTracking(false);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setToolTip(tr("Wheel: zoom · drag: pan · double-click: fit (zoom and pan are linked across panes)"));
}

void OverlayCanvas::setImage(const QImage& img) {
    image_ = img;
    update();
}

void OverlayCanvas::setMessage(const QString& m) {
    message_ = m;
    update();
}

void OverlayCanvas::setSwipe(const QImage& right, double position, const QString& leftLabel, const QString& rightLabel) {
    swipe_ = right;
    swipePos_ = std::clamp(position, 0.0, 1.0);
    leftLabel_ = leftLabel;
    rightLabel_ = rightLabel;
    update();
}

void OverlayCanvas::clearSwipe() {
    swipe_ = QImage();
    update();
}

void OverlayCanvas::setLink(ViewLink* link) {
    if (link_) disconnect(link_, nullptr, this, nullptr);
    link_ = link ? link : own_;
    connect(link_, &ViewLink::changed, this, qOverload<>(&QWidget::update));
    update();
}

void OverlayCanvas::setActive(bool on) {
    active_ = on;
    update();
}

QRectF OverlayCanvas::imageRect() const {
    if (image_.isNull()) return {};
    const QRectF area = QRectF(rect()).adjusted(3, 3, -3, -3);
    const double fit = std::min(area.width() / image_.width(), area.height() / image_.height());
    const double z = link_->zoom();
    const double w = image_.width() * fit * z, h = image_.height() * fit * z;
    const QPointF c = link_->centre();
    return QRectF(area.center().x() - c.x() * w, area.center().y() - c.y() * h, w, h);
}

void OverlayCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().color(QPalette::Window).darker(108));
    if (image_.isNull()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap, message_);
    } else {
        const QRectF r = imageRect();
        p.setClipRect(rect().adjusted(3, 3, -3, -3));
        p.setRenderHint(QPainter::SmoothPixmapTransform, false);  // the overlay carries its own upsampling
        if (swipe_.isNull()) {
            p.drawImage(r, image_);
        } else {
            const double xs = swipePos_ * image_.width();
            const QRectF srcL(0, 0, xs, image_.height()), srcR(xs, 0, image_.width() - xs, image_.height());
            const double sx = r.width() / image_.width();
            p.drawImage(QRectF(r.left(), r.top(), xs * sx, r.height()), image_, srcL);
            const QImage right = swipe_.size() == image_.size() ? swipe_ : swipe_.scaled(image_.size());
            p.drawImage(QRectF(r.left() + xs * sx, r.top(), (image_.width() - xs) * sx, r.height()), right, srcR);
            const double lx = r.left() + xs * sx;
            p.setPen(QPen(Qt::white, 3));
            p.drawLine(QPointF(lx, r.top()), QPointF(lx, r.bottom()));
            p.setPen(QPen(Qt::black, 1));
            p.drawLine(QPointF(lx, r.top()), QPointF(lx, r.bottom()));
            p.setBrush(Qt::white);
            p.drawEllipse(QPointF(lx, r.center().y()), 7, 7);
            auto tag = [&](const QString& t, bool left) {
                if (t.isEmpty()) return;
                QFont f = font();
                f.setBold(true);
                p.setFont(f);
                const QRectF box = p.boundingRect(QRectF(), Qt::AlignLeft, t).adjusted(-4, -2, 4, 2);
                const double x = left ? std::max(r.left(), 3.0) + 4 : std::min(r.right(), width() - 3.0) - box.width() - 4;
                const QRectF at(x, std::max(r.top(), 3.0) + 4, box.width(), box.height());
                p.fillRect(at, QColor(0, 0, 0, 150));
                p.setPen(Qt::white);
                p.drawText(at, Qt::AlignCenter, t);
            };
            tag(leftLabel_, true);
            tag(rightLabel_, false);
        }
        p.setClipping(false);
    }
    if (active_) {
        p.setPen(QPen(palette().color(QPalette::Highlight), 3));
        p.setBrush(Qt::NoBrush);
        p.drawRect(QRectF(rect()).adjusted(1.5, 1.5, -1.5, -1.5));
    }
}

void OverlayCanvas::wheelEvent(QWheelEvent* e) {
    if (image_.isNull()) return;
    const QRectF r = imageRect();
    const double f = std::pow(1.0015, e->angleDelta().y());
    // Zoom about the cursor: the image point under it stays put.
    const QPointF at((e->position().x() - r.left()) / r.width(), (e->position().y() - r.top()) / r.height());
    const double z0 = link_->zoom(), z1 = std::clamp(z0 * f, 1.0, 16.0);
    const QPointF c0 = link_->centre();
    const QPointF c1 = at + (c0 - at) * (z0 / z1);
    link_->set(z1, c1);
    e->accept();
}

void OverlayCanvas::mousePressEvent(QMouseEvent* e) {
    Q_EMIT clicked();
    if (e->button() != Qt::LeftButton || image_.isNull()) return;
    const QRectF r = imageRect();
    if (!swipe_.isNull() && std::abs(e->position().x() - (r.left() + swipePos_ * r.width())) < 10) {
        draggingSwipe_ = true;
        return;
    }
    dragging_ = true;
    dragStart_ = e->position();
    centreStart_ = link_->centre();
    setCursor(Qt::ClosedHandCursor);
}

void OverlayCanvas::mouseMoveEvent(QMouseEvent* e) {
    const QRectF r = imageRect();
    if (draggingSwipe_ && r.width() > 0) {
        swipePos_ = std::clamp((e->position().x() - r.left()) / r.width(), 0.0, 1.0);
        update();
        Q_EMIT swipeMoved(swipePos_);
    } else if (dragging_ && r.width() > 0) {
        const QPointF d = e->position() - dragStart_;
        link_->set(link_->zoom(), centreStart_ - QPointF(d.x() / r.width(), d.y() / r.height()));
    }
}

void OverlayCanvas::mouseReleaseEvent(QMouseEvent*) {
    dragging_ = draggingSwipe_ = false;
    unsetCursor();
}

void OverlayCanvas::mouseDoubleClickEvent(QMouseEvent*) { link_->reset(); }

}  // namespace pqwgui
