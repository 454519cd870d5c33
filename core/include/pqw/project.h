#pragma once
// A project file (.pqwproj, JSON): what a user had open (dataset, backbone, input size,
// feature cache, trained heads, sweeps), the explanations they chose for the report, and the
// views' state. The GUI saves and opens it; `pqw report PROJECT` reads it headlessly.
// Format and path rules: docs/file-formats.md.
#include <string>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/dataset.h"

namespace pqw {

/// An explanation a user chose to keep (shown in the report).
struct ProjectExplanation {
    std::string image;      ///< an image file, or empty when `sample` names a dataset sample
    long long sample = -1;  ///< a sample index of the project's dataset (when image is empty)
    std::string method = "omenn";  ///< omenn, saliency, gxi, ig, smoothgrad, gradcam, occlusion
    int target = -1;        ///< class to explain; -1 = the predicted class
    int contrast = -1;      ///< >= 0: explain target minus this class
    std::string head;       ///< checkpoint path; empty = the project's active head
};

struct Project {
    /// The format version this build writes; a file with a larger version is refused.
    static constexpr int kVersion = 1;

    std::string name;
    bool hasDataset = false;
    DatasetSpec dataset;
    bool hasBackbone = false;
    BackboneSpec backbone;
    int inputSize = 112;
    std::string cacheDir;             ///< feature cache folder (may be empty)
    std::vector<std::string> heads;   ///< head checkpoints (.pqwh)
    int activeHead = -1;              ///< index into heads, -1 = none
    std::vector<std::string> sweeps;  ///< sweep folders (pqw sweep --out)
    std::vector<ProjectExplanation> explanations;
    /// The views' state: the text of a JSON object ({"dataset": {...}, "explain": {...}}),
    /// opaque to core; "{}" when empty.
    std::string viewState = "{}";

    /// The active head's path, or empty.
    std::string activeHeadPath() const;
};

/// Reads a project file. Paths stored relative to the project ("./x", "../x") come back
/// absolute. Throws pqw::Error naming the file on a missing file, bad JSON, a wrong type, or
/// a version newer than kVersion (saying which version this build reads).
Project loadProject(const std::string& path);
/// Parses project JSON text; `origin` names it in errors, `baseDir` resolves relative paths.
Project parseProject(const std::string& text, const std::string& origin, const std::string& baseDir);
/// Writes the project atomically. Paths inside the project's folder are stored relative
/// ("./..."), so a project folder can be moved as a whole.
void saveProject(const Project& p, const std::string& path);
/// The JSON text saveProject writes (paths under baseDir made relative).
std::string projectJson(const Project& p, const std::string& baseDir);

}  // namespace pqw
