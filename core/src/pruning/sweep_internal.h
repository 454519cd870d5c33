#pragma once
// Internal pieces shared by the sweep files (sweep.cpp: grid, log reader, summary;
// sweep_runs.cpp: the per-run folder layout and the runner).
#include <string>

#include "pqw/pruning.h"

namespace pqw {

/// "fixed5" or "pat2cap6d0": the fine-tuning part of run ids and of the summary.
std::string sweepFineTuneId(const FineTuneOptions& f);

/// One log line; throws pqw::Error("<where>: not a JSON line") when it is not one.
SweepLogEntry parseSweepLogLine(const std::string& line, const std::string& where);

}  // namespace pqw
