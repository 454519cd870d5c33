#include "pruning/sweepjson.h"

#include <QRegularExpression>
#include <QStringList>

#include <cmath>

#include "pqw/sweep.h"

namespace pqwgui::sweepjson {

const char* const kStrategies[4] = {"one-shot", "iterative", "iterative-geometric", "hybrid"};
const char* const kCriteria[6] = {"magnitude", "layerwise", "taylor", "random", "l1", "l2"};
const char* const kModalities[2] = {"unstructured", "structured"};

QString str(const std::string& s) { return QString::fromStdString(s); }
QString str(const char* s) { return QString::fromLatin1(s); }

bool parseList(const QString& text, std::vector<double>& out) {
    out.clear();
    const auto parts = text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts);
    for (const auto& p : parts) {
        bool ok = false;
        const double v = p.toDouble(&ok);
        if (!ok) return false;
        out.push_back(v);
    }
    return !out.empty();
}

QString listText(const QJsonValue& v) {
    QStringList parts;
    auto one = [&](const QJsonValue& x) { parts << QString::number(x.toDouble(), 'g', 10); };
    if (v.isArray())
        for (const auto& x : v.toArray()) one(x);
    else if (v.isDouble())
        one(v);
    return parts.join(QStringLiteral(", "));
}

QJsonValue listValue(const std::vector<double>& v, bool integers) {
    QJsonArray a;
    for (double x : v) a.append(integers ? QJsonValue(qint64(std::llround(x))) : QJsonValue(x));
    return a;
}

QJsonArray asArray(const QJsonValue& v) {
    if (v.isArray()) return v.toArray();
    if (v.isUndefined() || v.isNull()) return {};
    return QJsonArray{v};
}

namespace {

bool sameValue(const QJsonValue& a, const QJsonValue& b, double tol = 1e-12) {
    if (a.isDouble() && b.isDouble()) return std::abs(a.toDouble() - b.toDouble()) <= tol;
    return a == b;
}

}  // namespace

void put(QJsonObject& o, const QString& key, const QJsonValue& v, const QJsonValue& coreDefault, double tol) {
    if (o.contains(key)) {
        if (!sameValue(o.value(key), v, tol)) o[key] = v;
    } else if (!sameValue(v, coreDefault)) {
        o[key] = v;
    }
}

void putGrid(QJsonObject& grid, const QString& key, const QJsonValue& v, const QJsonValue& coreDefault) {
    const QJsonArray now = asArray(v), old = asArray(grid.value(key));
    bool same = now.size() == old.size();
    for (int i = 0; same && i < now.size(); ++i) same = sameValue(now[i], old[i]);
    if (same && grid.contains(key)) return;
    if (!grid.contains(key) && now.size() == 1 && sameValue(now[0], coreDefault)) return;
    grid[key] = v;
}

QJsonObject defaultFineTune() { return {{QStringLiteral("epochs"), pqw::sweepDefaults().run.fineTune.epochs}}; }

}  // namespace pqwgui::sweepjson
