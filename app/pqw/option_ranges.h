#pragma once
// One table of ranges for pqw's numeric options (issue 17, case 7): applied to every
// subcommand after registration, so a new command gets the same checks by naming its option
// like the others. Messages say the option and the range in words.
#include <CLI/CLI.hpp>

namespace pqwcli {

/// Attaches to every numeric option of every subcommand of app: its range from the table (by
/// option name), "must be a whole number of at least 0" for unsigned options (CLI11 would
/// wrap -1 around to 2^64 - 1), and "must be a finite number" for floating-point ones.
void applyOptionRanges(CLI::App& app);

}  // namespace pqwcli
