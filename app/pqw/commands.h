#pragma once
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include "pqw/feature_cache.h"
#include "pqw/protoquant.h"

namespace pqwcli {
/// Adds every subcommand to app; each runs from its callback.
void registerCommands(CLI::App& app);
/// The exit code set by the command that ran (0 unless it reported a failure).
int exitCode();
/// The ProtoQuant commands (proto_commands.cpp).
void registerProtoCommands(CLI::App& app);
/// The pruning commands (pruning_commands.cpp): train-cnn, prune, schedule, sweep, sweep-report.
void registerPruningCommands(CLI::App& app);

/// `pqw import-protoquant` (import_commands.cpp).
void registerImportCommands(CLI::App& app);
/// `pqw funnybirds-eval` (funnybirds_commands.cpp).
void registerFunnyBirdsCommands(CLI::App& app);
/// `pqw report` (report_command.cpp).
void registerReportCommand(CLI::App& app);
/// The OMENN commands: explain, faithfulness (omenn_commands.cpp).
void registerOmennCommands(CLI::App& app);
/// Trains stages 0, 1, 2 (or the baseline) with defaults; used by `pqw demo`.
pqw::ProtoModel demoTrain(const pqw::FeatureCache& cache, int codes, int epochs1, int epochs2, bool baseline);
/// Accuracy table, prototype strips and a few explanations into out; fills report.
void demoExport(const pqw::ProtoModel& m, const pqw::FeatureCache& cache, const std::string& out, nlohmann::json& report);
}  // namespace pqwcli
