#pragma once
// The mouse wheel scrolls forms; it edits a spin box, combo box or slider only when that control
// has keyboard focus (the usual Qt pattern). Without this, scrolling down a settings form turned
// whatever passed under the pointer (seen: Initialisation k-means -> orthogonal, silently).
#include <QObject>

namespace pqwgui {

class WheelGuard : public QObject {
    Q_OBJECT
public:
    /// Installs one guard on the application (once; later calls do nothing).
    static void install();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    explicit WheelGuard(QObject* parent) : QObject(parent) {}
};

}  // namespace pqwgui
