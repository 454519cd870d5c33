#pragma once
// Which backbone kind a file is (torch-free). BackboneSpec::kind "pth" is a torch.save state
// dict of a torchvision ConvNeXt / ResNet / ViT classifier or an official ProtoQuant checkpoint,
// rebuilt natively from its weights (core/src/pth/arch.h).
#include <string>

namespace pqw {

/// "pth" for torch.save files (a zip with data.pkl and no TorchScript code, or the legacy
/// stream), "torchscript" for other .pt / .pth files, "tfjs" otherwise (folders, model.json).
std::string backboneKindForPath(const std::string& path);

}  // namespace pqw
