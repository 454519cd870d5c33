#pragma once
// Exporting an attribution map of the Explain view as NumPy .npy (float32, C order; the same
// files as `pqw explain --npy [--per-channel] [--with-bias]`): researchers compare maps in
// Python, a PNG is not data. A right-click menu on a pane's canvas.
#include <QString>

#include <functional>
#include <memory>

namespace pqw {
struct Attribution;
}

namespace pqwgui {

class OverlayCanvas;
struct MapResult;

enum class NpyContent { Map, PerChannel, Bias };

/// Writes what of a (H x W map, C x H x W per channel, H x W bias map C_b) to path, atomically.
/// Returns an empty string on success, else one line naming the file and the problem.
QString writeMapNpy(const pqw::Attribution& a, NpyContent what, const QString& path);

/// Gives canvas a context menu "Export the map as NumPy .npy (H x W)...", "... per input channel
/// (C x H x W)...", "Export the bias map C_b as .npy..." for the map current() returns (none:
/// disabled). Errors are shown in a message box.
void installMapExportMenu(OverlayCanvas* canvas, std::function<std::shared_ptr<const MapResult>()> current);

}  // namespace pqwgui
