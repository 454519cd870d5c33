#pragma once
// The sweep designer's JSON mapping helpers (docs/pruning.md's sweep description): lists as the
// form edits them, and writing a value back only when it differs from what was loaded or from
// core's default (pqw::sweepDefaults), so a loaded description round-trips unchanged.
#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QString>

#include <string>
#include <vector>

namespace pqwgui::sweepjson {

/// The grid's strategies and criteria in the form's order.
extern const char* const kStrategies[4];
extern const char* const kCriteria[6];
extern const char* const kModalities[2];

QString str(const std::string& s);
QString str(const char* s);
/// "0.5, 0.7 0.9" -> numbers; false on anything else.
bool parseList(const QString& text, std::vector<double>& out);
/// A number or list of numbers as the form shows it ("0.5, 0.7").
QString listText(const QJsonValue& v);
QJsonValue listValue(const std::vector<double>& v, bool integers);
/// A grid entry as a list of values (a single value counts as a list of one).
QJsonArray asArray(const QJsonValue& v);
/// Sets o[key] = v unless the loaded value says the same (within tol: what a spin box with
/// fewer decimals can show) or o lacks the key and v is core's default.
void put(QJsonObject& o, const QString& key, const QJsonValue& v, const QJsonValue& coreDefault, double tol = 1e-12);
/// Grid values as the form edits them: keep the loaded representation when equal.
void putGrid(QJsonObject& grid, const QString& key, const QJsonValue& v, const QJsonValue& coreDefault);
/// The fine-tuning entry a grid without "fine_tune" has.
QJsonObject defaultFineTune();

}  // namespace pqwgui::sweepjson
