#pragma once
// Reopening the backbone a head checkpoint or feature cache recorded, without ever running
// code the user did not name (issue 17; docs/security.md lists the files that can run code).
#include <string>

#include "pqw/backbone.h"

namespace pqw {

/// Opens the backbone `recorded` (from the file `origin`) and checks that it is the one with
/// identifier `expectedId`. TorchScript is code, so a TorchScript path recorded in a file is
/// never loaded: it is loaded only from `userPath`, a file the user named (pqw --backbone),
/// and only after the file's bytes hash to `expectedId` (checked before anything is loaded).
/// A TFJS backbone (data) is opened from `userPath`, or else the recorded path. Throws
/// pqw::Error naming the file and what is wrong.
Backbone openRecordedBackbone(const BackboneSpec& recorded, const std::string& expectedId, const std::string& origin,
                              const std::string& userPath = {});

}  // namespace pqw
