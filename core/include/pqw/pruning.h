#pragma once
// Pruning engine (algorithms.md section 3), one include for all of it. The topics live in
// their own headers; include the one you need:
//   pqw/prune_schedule.h  schedules (one-shot, iterative, geometric, hybrid), EarlyStopper
//   pqw/cnn.h             ImageTensors, the CNN family, training, evaluation, costs
//   pqw/prune.h           criteria, fine-tuning, model kinds (Prunable), pruneModel
//   pqw/sweep.h           the sweep grid, its defaults, the sweep folder, running sweeps
//   pqw/sweep_log.h       sweep logs, finished runs, summary, run states, the report
#include "pqw/cnn.h"
#include "pqw/prune.h"
#include "pqw/prune_schedule.h"
#include "pqw/sweep.h"
#include "pqw/sweep_log.h"
