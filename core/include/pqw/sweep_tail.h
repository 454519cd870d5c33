#pragma once
// Following a sweep folder that other processes (a local sweep, Slurm array tasks) are
// writing: the complete lines each run log gained since the last look. Qt-free; the window's
// SweepFolderWatcher calls it when a file changes and on a slow poll.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pqw/pruning.h"

namespace pqw {

class SweepLogTail {
public:
    explicit SweepLogTail(std::string dir) : dir_(std::move(dir)) {}
    /// Skips what the logs hold now for runs that are finished (already shown from the
    /// folder); unfinished runs' lines are returned by the next poll().
    void skipFinished();
    /// New complete lines of DIR/runs/*.jsonl (and DIR/log.jsonl) since the last call, file
    /// by file in order; a partial last line waits for its end. A log that shrank (rewritten)
    /// is read again from its start. Throws pqw::Error naming the file and line of a bad line.
    std::vector<SweepLogEntry> poll();
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::map<std::string, uint64_t> offset_;  ///< file -> bytes consumed
    std::set<std::string> finished_;          ///< logs with their run.done read: not looked at again
};

}  // namespace pqw
