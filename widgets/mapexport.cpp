// The Explain view's .npy export (mapexport.h).
#include "mapexport.h"

#include <QAction>
#include <QMenu>
#include <QMessageBox>

#include "explain/explaincanvas.h"
#include "explain/explaintypes.h"
#include "filedialogs.h"
#include "pqw/omenn.h"
#include "pqw/render.h"

namespace pqwgui {

QString writeMapNpy(const pqw::Attribution& a, NpyContent what, const QString& path) {
    try {
        const int64_t h = a.height, w = a.width;
        switch (what) {
            case NpyContent::Map:
                pqw::writeNpy(path.toStdString(), a.map, {h, w});
                break;
            case NpyContent::PerChannel:
                if (a.perChannel.size() != size_t(a.channels) * size_t(h * w))
                    return QObject::tr("%1: %2 has no per-channel values (only a map)").arg(path, QString::fromStdString(a.method));
                pqw::writeNpy(path.toStdString(), a.perChannel, {a.channels, h, w});
                break;
            case NpyContent::Bias:
                if (a.biasMap.size() != size_t(h * w)) return QObject::tr("%1: only OMENN has a bias map").arg(path);
                pqw::writeNpy(path.toStdString(), a.biasMap, {h, w});
                break;
        }
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

void installMapExportMenu(OverlayCanvas* canvas, std::function<std::shared_ptr<const MapResult>()> current) {
    canvas->setContextMenuPolicy(Qt::CustomContextMenu);
    QObject::connect(canvas, &QWidget::customContextMenuRequested, canvas, [canvas, current](const QPoint& at) {
        const auto r = current();
        QMenu menu(canvas);
        auto add = [&](const QString& text, NpyContent what, bool enabled, const QString& suffix) {
            QAction* act = menu.addAction(text);
            act->setEnabled(enabled);
            QObject::connect(act, &QAction::triggered, canvas, [canvas, r, what, suffix] {
                const QString stem = QString::fromStdString(r->attr.method) + QStringLiteral("-class%1").arg(r->target) + suffix;
                const QString path = saveFileDialog(canvas, QObject::tr("Export as NumPy .npy"), stem + QStringLiteral(".npy"),
                                                    QObject::tr("NumPy arrays (*.npy)"));
                if (path.isEmpty()) return;
                const QString err = writeMapNpy(r->attr, what, path);
                if (!err.isEmpty()) QMessageBox::warning(canvas, QObject::tr("Export"), err);
            });
        };
        const bool has = r && !r->attr.map.empty();
        add(QObject::tr("Export the map as NumPy .npy (H x W)..."), NpyContent::Map, has, QString());
        add(QObject::tr("Export the map per input channel as .npy (C x H x W)..."), NpyContent::PerChannel,
            has && !r->attr.perChannel.empty(), QStringLiteral("-channels"));
        add(QObject::tr("Export the bias map C_b as .npy (H x W)..."), NpyContent::Bias, has && !r->attr.biasMap.empty(),
            QStringLiteral("-bias"));
        menu.exec(canvas->mapToGlobal(at));
    });
}

}  // namespace pqwgui
