#pragma once
// The bad-input corpus (tests/data/bad, see make_corpus.py there): the table of cases and a
// synthetic feature cache the checkpoint cases are checked against. Shared by the core test
// (test_bad_inputs) and the pqw test (test_bad_inputs_cli).
#include <QDir>
#include <QFile>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace corpus {

struct Case {
    QString name;    ///< file or folder under tests/data/bad
    QString loader;  ///< dataset | image | image-ok | tfjs | checkpoint | checkpoint-compat | sweep-log
    QString core;    ///< expected substring of core's message
    QString cli;     ///< expected substring of pqw's output ("-" = core's, "ok" = exit 0)
    QString path() const { return dir() + QLatin1Char('/') + name; }
    QString cliExpect() const { return cli == QLatin1String("-") ? core : cli; }
    static QString dir() { return qEnvironmentVariable("PQW_TEST_DATA") + QStringLiteral("/bad"); }
};

inline std::vector<Case> cases() {
    std::vector<Case> out;
    QFile f(Case::dir() + QStringLiteral("/expected.tsv"));
    if (!f.open(QIODevice::ReadOnly)) return out;
    for (const QByteArray& raw : f.readAll().split('\n')) {
        const QString line = QString::fromUtf8(raw);
        if (line.isEmpty() || line.startsWith(QLatin1Char('#'))) continue;
        const QStringList c = line.split(QLatin1Char('\t'));
        if (c.size() != 4) continue;
        out.push_back({c[0], c[1], c[2], c[3]});
    }
    return out;
}

/// Writes the synthetic feature cache the checkpoint cases refer to: backbone
/// 'synthetic-backbone', cut 'cut', input 48, shape [8, 3, 3], classes a, b, c; 12 samples
/// (train, val, test), zero features.
inline void writeSyntheticCache(const std::string& dir) {
    QDir().mkpath(QString::fromStdString(dir));
    const int n = 12, elems = 8 * 3 * 3;
    std::vector<uint16_t> zeros(size_t(n) * elems, 0);
    std::ofstream(dir + "/features.f16", std::ios::binary)
        .write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(zeros.size() * 2));
    nlohmann::json labels = nlohmann::json::array(), splits = nlohmann::json::array();
    for (int i = 0; i < n; ++i) {
        labels.push_back(i % 3);
        splits.push_back(i < 6 ? 0 : (i < 9 ? 1 : 2));
    }
    nlohmann::json m = {{"format", "pqw-feature-cache"}, {"version", 1}, {"fingerprint", "synthetic"},
                        {"backbone", {{"id", "synthetic-backbone"}, {"cut", "cut"}, {"stride", 16}, {"receptive_field", 40}}},
                        {"input_size", 48}, {"shape", {8, 3, 3}}, {"count", n}, {"done", n}, {"classes", {"a", "b", "c"}},
                        {"labels", labels}, {"splits", splits}, {"invalid", nlohmann::json::array()}};
    std::ofstream(dir + "/meta.json") << m.dump();
}

}  // namespace corpus
