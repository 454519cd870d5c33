#pragma once
// Errors the core reports. Every message names the file (where there is one) and what is
// wrong, so the CLI and the GUI can show it as is.
#include <stdexcept>
#include <string>

namespace pqw {

/// A failure the user can act on: bad input, a missing file, a mismatched model.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown by JobContext::throwIfCancelled() when the user cancelled a job.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

}  // namespace pqw
