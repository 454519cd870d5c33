#pragma once
// Import of checkpoints written by the official ProtoQuant code (gmum/protoquant). Torch-free.
//
//   stage 2   torch.save({"model": state_dict, "epoch": int, "val_top1": float}) with codes
//             [P, D] (old runs: head.codebook), classifier.weight [C, P] (old runs:
//             head.classifier.weight, + normalization_multiplier) and the backbone under
//             "backbone." (torchvision ConvNeXt features or ResNet's Sequential). It becomes an
//             ordinary workbench head checkpoint (stage 2, tau) whose backbone is the .pth file
//             itself (kind "pth": path + content hash).
//   stage 1   a bare state_dict {"embeddings.weight" | "codebook.embeddings.weight": [P, D]}
//             becomes a stage-1 model (codebook only) on a backbone chosen separately.
//
// Nothing is run to recognise a file: inspectProtoQuant() reads it (restricted reader; no code
// runs) and says what it found, so a caller can show it before importing.
#include <optional>
#include <string>
#include <vector>

#include "pqw/preprocess.h"

#include "pqw/protoquant.h"

namespace pqw {

struct ProtoQuantImportOptions {
    std::string checkpoint;           ///< RUN.pth
    std::string config;               ///< Hydra config.yaml; empty = <dir of RUN>/.hydra/config.yaml if present
    std::string classesFile;          ///< one class name per line
    std::string datasetDir;           ///< or: class names from this dataset (any format Dataset opens)
    std::string backbone;             ///< stage 1 only: the backbone .pth (torchvision classifier)
    double tau = 0.1;                 ///< not stored in the file (the official default)
    int inputSize = 224;
    /// The preprocessing recorded in the model (its backbone spec); unset = ImageNet mean / std,
    /// straight resize. The official validation transform: centerCrop (Resize(size x 256/224)
    /// + CenterCrop(size)) with ImageNet statistics.
    std::optional<InputPreprocessing> preprocess;
};

struct ProtoQuantImportSummary {
    std::string stage;                ///< "stage 2" or "stage 1"
    std::string keyLayout;            ///< "codes / classifier.weight" or "head.codebook / head.classifier.weight (old)"
    std::string architecture;         ///< e.g. "convnext_tiny (ConvNeXt, depths 3-3-9-3, ...)"
    std::string backbonePath;
    int prototypes = 0, featureDim = 0, classes = 0;
    double tau = 0.1;
    int epoch = -1;                   ///< -1: not in the file
    double valTop1 = -1;              ///< -1: not in the file
    std::string configModel, configDataset;  ///< from the Hydra config (empty when none)
    std::string configPath;
    std::vector<std::string> locations;      ///< storage locations as saved ("cuda:0", ...)
    bool legacyFormat = false;
    std::vector<std::string> notes;          ///< anything the user should know (ignored keys, ...)
    /// Human-readable lines ("architecture: ...", "prototypes P: 12", ...).
    std::vector<std::string> lines() const;
};

/// Reads and recognises the checkpoint (and config); throws pqw::Error naming the file and
/// the problem. Class names are not needed here.
ProtoQuantImportSummary inspectProtoQuant(const ProtoQuantImportOptions& opt);

/// Imports it as a workbench model (class names from classesFile / datasetDir / the config's
/// class count as "class_0".. otherwise); throws pqw::Error on anything that does not fit.
ProtoModel importProtoQuant(const ProtoQuantImportOptions& opt, ProtoQuantImportSummary* summary = nullptr);

}  // namespace pqw
