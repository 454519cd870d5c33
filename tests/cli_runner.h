#pragma once
// Runs the built `pqw` ($PQW_BIN_DIR/pqw) as a separate process, for the CLI tests.
#include <QProcess>
#include <QString>
#include <QStringList>

namespace fixtures {

struct Run {
    int code = -1;  ///< exit code; -1 when it crashed or timed out
    QString out, err;
};

/// The pqw executable the tests drive.
inline QString pqwPath() { return qEnvironmentVariable("PQW_BIN_DIR") + QStringLiteral("/pqw"); }

/// Runs pqw with args; kills it after timeoutMs.
inline Run runPqw(const QStringList& args, int timeoutMs = 300000) {
    QProcess p;
    p.start(pqwPath(), args);
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
    }
    Run r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

}  // namespace fixtures
