#pragma once
// Pruning schedules (step sizes as fractions of the original prunable count) and the
// patience rule that ends fine-tuning. Torch-free.
#include <string>
#include <vector>

namespace pqw {

// Schedules: step sizes as fractions of the ORIGINAL prunable count.

enum class PruneStrategy { OneShot, Iterative, IterativeGeometric, Hybrid };
/// "one-shot", "iterative", "iterative-geometric", "hybrid"; throws pqw::Error otherwise.
PruneStrategy parseStrategy(const std::string& s);
const char* strategyName(PruneStrategy s);

/// geometric(p, n): r = 1 - (1-p)^(1/n); step k (1-based) = r (1-r)^(k-1); sums to p.
std::vector<double> geometricSteps(double target, int steps);
/// one-shot [p]; iterative [p/n]*n; geometric as above; hybrid [s0] + geometric(p - s0, n)
/// (n + 1 steps). Throws pqw::Error on target outside (0,1), n < 1, or s0 outside (0, p).
std::vector<double> pruneSchedule(PruneStrategy s, double target, int steps, double firstStep = 0.5);

// ---------------------------------------------------------------------------------------
// Patience-based stopping. Epoch 0 is the model right after pruning (before fine-tuning).

class EarlyStopper {
public:
    /// patience <= 0: never stops early (fixed epochs: maxEpochs).
    EarlyStopper(int patience, double minDelta, int maxEpochs);
    /// Records one validation accuracy (the first call is epoch 0). Returns true when it is
    /// a new best, i.e. beats the best so far by more than minDelta (the first call always is).
    bool observe(double accuracy);
    /// True when fine-tuning should end: maxEpochs epochs done, or patience epochs in a row
    /// without a new best.
    bool shouldStop() const;
    double best() const { return best_; }
    int bestEpoch() const { return bestEpoch_; }
    /// Fine-tuning epochs observed so far (calls after epoch 0).
    int epochs() const { return calls_ > 0 ? calls_ - 1 : 0; }

private:
    int patience_, maxEpochs_;
    double minDelta_;
    double best_ = -1.0;
    int bestEpoch_ = -1, calls_ = 0, sinceBest_ = 0;
};

}  // namespace pqw
