#pragma once
// Progress output for pqw: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
#include <chrono>
#include <string>

namespace pqwcli {

class Progress {
public:
    explicit Progress(std::string label);
    ~Progress();
    /// Reports fraction in [0,1] with a short message; throttled.
    void update(double fraction, const std::string& message = {});
    /// Ends the bar (newline on a terminal).
    void finish();

private:
    std::string label_;
    bool tty_;
    bool finished_ = false;
    int lastPercent_ = -1;
    std::chrono::steady_clock::time_point start_, lastDraw_;
};

}  // namespace pqwcli
