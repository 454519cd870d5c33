#pragma once
// The sweep designer's preview: what each ticked schedule removes per step, as grouped bars
// (before anything runs).
#include <QString>

#include <utility>
#include <vector>

class QCPBarsGroup;
class QCustomPlot;

namespace pqwgui {

/// A schedule's step sizes (core's pruneSchedule) for the largest of `targets` and the first
/// of `steps` and `firstSteps` (comma-separated lists, as the designer's fields hold them);
/// empty when they do not make a schedule.
std::vector<double> scheduleSteps(const QString& strategy, const QString& targets, const QString& steps,
                                  const QString& firstSteps);

class SchedulePreview {
public:
    SchedulePreview();
    /// The plot (objectName "schedulePreview"), owned by the widget it is added to.
    QCustomPlot* plot() const { return plot_; }
    /// One group of bars per schedule with steps (the series colour is its position in the list).
    void show(const std::vector<std::pair<QString, std::vector<double>>>& schedules, const QString& targets,
              const QString& steps);

private:
    QCustomPlot* plot_;
    QCPBarsGroup* previewGroup_ = nullptr;
};

}  // namespace pqwgui
