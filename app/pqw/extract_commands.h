#pragma once
// Sharded feature extraction from pqw (extract_commands.cpp): `pqw extract ... --slurm
// --shards N`, `pqw extract-shard`, `pqw extract-join`, `pqw extract-status`.
#include <CLI/CLI.hpp>

#include <string>

#include "common.h"
#include "slurm_commands.h"

namespace pqwcli {

/// `pqw extract ... -o DIR --slurm --shards N`: plans, prints (--dry-run) or submits the shards
/// as one job array plus a join job; --resubmit submits the shards of DIR's plan that are not done.
void submitExtractionToSlurm(const DatasetArgs& ds, const BackboneArgs& bb, bool backboneGiven, const std::string& dir,
                             int size, int batch, int shards, const SlurmArgs& a);
/// extract-shard, extract-join and extract-status.
void registerExtractCommands(CLI::App& app);

}  // namespace pqwcli
