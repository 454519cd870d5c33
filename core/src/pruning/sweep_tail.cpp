// SweepLogTail: the new complete lines of a sweep folder's run logs.
#include "pqw/sweep_tail.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "pqw/error.h"
#include "pqw/util.h"
#include "pruning/sweep_internal.h"

namespace pqw {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> logFiles(const std::string& dir) {
    std::vector<std::string> files;
    if (fs::exists(dir + "/log.jsonl")) files.push_back(dir + "/log.jsonl");
    std::error_code ec;
    std::vector<std::string> runs;
    for (const auto& e : fs::directory_iterator(dir + "/runs", ec))
        if (e.path().extension() == ".jsonl" && e.path().filename().string().find(".tmp-") == std::string::npos)
            runs.push_back(e.path().string());
    std::sort(runs.begin(), runs.end());
    files.insert(files.end(), runs.begin(), runs.end());
    return files;
}

}  // namespace

void SweepLogTail::skipFinished() {
    for (const auto& f : logFiles(dir_)) {
        std::error_code ec;
        const auto size = fs::file_size(f, ec);
        if (ec) continue;
        bool finished = false;
        if (f == dir_ + "/log.jsonl") {
            finished = true;  // the old single log is never appended to
        } else {
            for (const auto& e : readSweepLog(f)) finished = finished || e.event.kind == "run.done";
        }
        if (finished) {
            offset_[f] = size;
            finished_.insert(f);
        }
    }
}

std::vector<SweepLogEntry> SweepLogTail::poll() {
    std::vector<SweepLogEntry> out;
    for (const auto& f : logFiles(dir_)) {
        if (finished_.count(f)) continue;  // a finished run's log never grows: no stat per poll
        std::error_code ec;
        const uint64_t size = fs::file_size(f, ec);
        if (ec) continue;
        uint64_t& off = offset_[f];
        if (size < off) off = 0;  // rewritten
        if (size == off) continue;
        std::ifstream in(f, std::ios::binary);
        if (!in) continue;
        in.seekg(std::streamoff(off));
        std::string chunk(size_t(size - off), '\0');
        in.read(chunk.data(), std::streamsize(chunk.size()));
        chunk.resize(size_t(in.gcount()));
        const size_t lastNl = chunk.rfind('\n');
        if (lastNl == std::string::npos) continue;  // no complete line yet
        chunk.resize(lastNl + 1);
        size_t pos = 0;
        while (pos < chunk.size()) {
            const size_t nl = chunk.find('\n', pos);
            const std::string line = chunk.substr(pos, nl - pos);
            pos = nl + 1;
            if (line.empty()) continue;
            out.push_back(parseSweepLogLine(line, f));
            if (out.back().event.kind == "run.done" && f != dir_ + "/log.jsonl") finished_.insert(f);
        }
        off += lastNl + 1;
    }
    return out;
}

}  // namespace pqw
