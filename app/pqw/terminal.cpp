#include "terminal.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace pqwcli {

Progress::Progress(std::string label)
    : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::update(double fraction, const std::string& message) {
    if (finished_) return;
    fraction = std::fmin(1.0, std::fmax(0.0, fraction));
    const int pct = static_cast<int>(fraction * 100.0);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (tty_) {
        if (pct == lastPercent_ && now - lastDraw_ < std::chrono::milliseconds(200)) return;
        const int width = 30, filled = static_cast<int>(fraction * width);
        std::string bar(static_cast<size_t>(filled), '#');
        bar.resize(width, '.');
        const double eta = fraction > 0.001 ? elapsed * (1.0 - fraction) / fraction : 0.0;
        std::fprintf(stderr, "\r%s [%s] %3d%%  %s  eta %.0fs   ", label_.c_str(), bar.c_str(), pct, message.c_str(), eta);
        std::fflush(stderr);
    } else {
        // Plain lines: every 10 %.
        if (pct / 10 == lastPercent_ / 10 && lastPercent_ >= 0) return;
        std::fprintf(stderr, "%s: %d%% %s (%.1fs)\n", label_.c_str(), pct, message.c_str(), elapsed);
    }
    lastPercent_ = pct;
    lastDraw_ = now;
}

void Progress::finish() {
    if (finished_) return;
    finished_ = true;
    if (tty_ && lastPercent_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace pqwcli
