#pragma once
#include <CLI/CLI.hpp>

namespace pqwcli {
/// Adds every subcommand to app; each runs from its callback.
void registerCommands(CLI::App& app);
/// The exit code set by the command that ran (0 unless it reported a failure).
int exitCode();
}  // namespace pqwcli
