#pragma once
// The Pruning view's sweep plots: accuracy vs sparsity (one curve per schedule: a point where
// each run ends, its intermediate steps as faint markers, the dense model as a dashed line)
// and accuracy vs total fine-tuning epochs. Colour by schedule (strategy and steps), line
// style by fine-tuning, marker by criterion and modality; the legend names those encodings.
#include <QObject>
#include <QString>

#include <map>
#include <utility>
#include <vector>

#include "pqw/job.h"
#include "pruning/sweepmodel.h"

class QCPGraph;
class QCustomPlot;

namespace pqwgui {

class SweepPlots : public QObject {
    Q_OBJECT
public:
    explicit SweepPlots(QObject* parent = nullptr);
    QCustomPlot* sparsityPlot() const { return sparsity_; }
    QCustomPlot* epochsPlot() const { return epochs_; }

    /// No curves, no points.
    void clear();
    /// Makes the series for these runs (styles in the order of the strategies, then steps),
    /// keeping the step points shown.
    void prepare(const std::map<QString, SweepRunSettings>& settings);
    /// Adds step points (prune.step events) and rescales.
    void addSteps(const std::vector<std::pair<QString, pqw::Event>>& steps);
    /// Horizontal axis: 0 sparsity (channels for structured runs), 1 prunable weights,
    /// 2 channels, 3 all parameters. Vertical: 0 test top-1, 1 validation top-1. Redraws.
    void setAxes(int x, int y);
    /// The theme changed.
    void recolour();
    /// Points on the accuracy-vs-sparsity curves (the dense reference line excluded).
    int pointCount() const;
    /// Every curve's points (x, y) by series name; the intermediate steps under "<name> (steps)".
    std::map<QString, std::vector<std::pair<double, double>>> points() const;

private:
    struct Series {
        /// The schedule's curve: one point per run, where the run ends (its target). A line through
        /// every step of every run zig-zagged between runs of different targets.
        QCPGraph* sparsity = nullptr;
        QCPGraph* steps = nullptr;  ///< the runs' intermediate steps: markers, no line
        QCPGraph* epochs = nullptr;
        int colour = 0, dash = 0, shape = 0;
    };
    void removeSeries();
    void addSeries(const QString& key, const SweepRunSettings* s = nullptr);
    void applySeriesStyle(const Series& s);
    void buildLegend();
    void addStep(const QString& run, const pqw::Event& e);
    void rebuild();
    void rescale();
    QString seriesKey(const SweepRunSettings& s) const;
    SweepRunSettings settingsOf(const QString& run, const pqw::Event* e) const;

    QCustomPlot *sparsity_, *epochs_;
    int xAxis_ = 0, yAxis_ = 0;
    QCPGraph* denseLine_ = nullptr;
    std::map<QString, SweepRunSettings> settings_;
    bool multiCriteria_ = false, multiModalities_ = false, multiFineTune_ = false;
    std::map<QString, Series> series_;
    std::map<QString, int> schedules_, fineTunes_, criteria2_;  ///< variant -> index (styles)
    std::vector<QCPGraph*> legendOnly_;  ///< empty graphs naming the colours, dashes, markers
    std::vector<std::pair<QString, pqw::Event>> stepEvents_;  ///< every step point shown
    double dense_ = -1;
};

}  // namespace pqwgui
