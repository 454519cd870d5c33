// Packaging checks: desktop-file-validate and appstreamcli accept the desktop entry and the
// metainfo; desktop entry, MIME type, metainfo, icons and version agree with each other;
// every executable and every pqw command answers --help and --version.
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QRegularExpression>
#include <QSettings>
#include <QStandardPaths>
#include <QXmlStreamReader>
#include <memory>
#include <vector>
#include <QtTest/QtTest>

#include "cli_runner.h"
#include "mainwindow.h"
#include "pqw/util.h"

namespace {

const QString kAppId = QStringLiteral("io.github.protoquant.Workbench");
QString src(const QString& name) { return QStringLiteral(PQW_PACKAGING_SRC "/") + name; }
QString guiPath() { return qEnvironmentVariable("PQW_BIN_DIR") + QStringLiteral("/protoquant-workbench"); }

fixtures::Run runTool(const QString& program, const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForFinished(60000)) {
        p.kill();
        p.waitForFinished();
    }
    fixtures::Run r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

/// The key=value pairs of the [Desktop Entry] group (read by hand: QSettings would split
/// values at ';').
QMap<QString, QString> desktopEntry() {
    QFile f(src(kAppId + QStringLiteral(".desktop")));
    if (!f.open(QIODevice::ReadOnly)) return {};
    QMap<QString, QString> kv;
    bool inGroup = false;
    for (const QByteArray& raw : f.readAll().split('\n')) {
        const QString line = QString::fromUtf8(raw).trimmed();
        if (line.startsWith(QLatin1Char('['))) inGroup = line == QLatin1String("[Desktop Entry]");
        else if (inGroup && line.contains(QLatin1Char('=')) && !line.startsWith(QLatin1Char('#')))
            kv.insert(line.section(QLatin1Char('='), 0, 0), line.section(QLatin1Char('='), 1));
    }
    return kv;
}

/// The first element called `name` in the XML file: its text and attributes.
struct XmlHit {
    QString text;
    QXmlStreamAttributes attrs;
    QString attr(const char* a) const { return attrs.value(QLatin1String(a)).toString(); }
};
XmlHit firstElement(const QString& path, const QString& name) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    QXmlStreamReader r(&f);
    while (!r.atEnd()) {
        if (r.readNext() == QXmlStreamReader::StartElement && r.name() == name) {
            XmlHit h;
            h.attrs = r.attributes();
            h.text = r.readElementText(QXmlStreamReader::IncludeChildElements).trimmed();
            return h;
        }
    }
    return {};
}

}  // namespace

class TestPackaging : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void desktopFileValidates() {
        const QString tool = QStandardPaths::findExecutable(QStringLiteral("desktop-file-validate"));
        if (tool.isEmpty()) QSKIP("desktop-file-validate (desktop-file-utils) is not installed; scripts/setup installs it");
        const auto r = runTool(tool, {src(kAppId + QStringLiteral(".desktop"))});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(!r.out.contains(QLatin1String("error")) && !r.out.contains(QLatin1String("warning")), qPrintable(r.out));
    }

    void metainfoValidates() {
        const QString tool = QStandardPaths::findExecutable(QStringLiteral("appstreamcli"));
        if (tool.isEmpty()) QSKIP("appstreamcli (appstream) is not installed; scripts/setup installs it");
        const auto r = runTool(tool, {QStringLiteral("validate"), QStringLiteral("--no-net"), src(kAppId + QStringLiteral(".metainfo.xml"))});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(!r.out.contains(QLatin1String("W: ")) && !r.out.contains(QLatin1String("E: ")), qPrintable(r.out));
    }

    void desktopMimeMetainfoAgree() {
        const auto d = desktopEntry();
        QVERIFY2(!d.isEmpty(), "cannot read the desktop entry");
        // The project-file type: declared in the MIME package, handled by the desktop entry.
        const QString mime = src(QStringLiteral("protoquant-workbench-mime.xml"));
        const QString type = firstElement(mime, QStringLiteral("mime-type")).attr("type");
        QCOMPARE(type, QStringLiteral("application/x-protoquant-project"));
        QCOMPARE(firstElement(mime, QStringLiteral("glob")).attr("pattern"), QStringLiteral("*.pqwproj"));
        QVERIFY(d.value(QStringLiteral("MimeType")).split(QLatin1Char(';')).contains(type));
        // A file opened from the file manager reaches the program.
        const QStringList exec = d.value(QStringLiteral("Exec")).split(QLatin1Char(' '));
        QCOMPARE(exec.value(0), QStringLiteral("protoquant-workbench"));
        QVERIFY(exec.contains(QStringLiteral("%f")) || exec.contains(QStringLiteral("%F")));
        // The icon the entry names is the one installed (the SVG's basename).
        QCOMPARE(d.value(QStringLiteral("Icon")), QStringLiteral("protoquant-workbench"));
        QVERIFY(QFile::exists(src(QStringLiteral("../resources/icons/protoquant-workbench.svg"))));
        // Metainfo: launches this desktop entry, declares the type, and its newest release is
        // this version.
        const QString meta = src(kAppId + QStringLiteral(".metainfo.xml"));
        QCOMPARE(firstElement(meta, QStringLiteral("id")).text, kAppId);
        QCOMPARE(firstElement(meta, QStringLiteral("launchable")).text, kAppId + QStringLiteral(".desktop"));
        QCOMPARE(firstElement(meta, QStringLiteral("mediatype")).text, type);
        QCOMPARE(firstElement(meta, QStringLiteral("release")).attr("version"), QString::fromLatin1(pqw::version()));
        QCOMPARE(d.value(QStringLiteral("Name")), firstElement(meta, QStringLiteral("name")).text);
    }

    void pngIconsHaveTheirSizes() {
        const QStringList sizes = QStringLiteral(PQW_ICON_SIZES).split(QLatin1Char(','), Qt::SkipEmptyParts);
        QVERIFY(sizes.size() >= 4);
        if (!QFile::exists(QStringLiteral(PQW_PACKAGING_BIN "/icons/%1x%1/protoquant-workbench.png").arg(sizes.first())))
            QSKIP("PNG icons not rendered (rsvg-convert missing at configure time; scripts/setup installs librsvg2-bin)");
        for (const QString& s : sizes) {
            const QString path = QStringLiteral(PQW_PACKAGING_BIN "/icons/%1x%1/protoquant-workbench.png").arg(s);
            const QImage img(path);
            QVERIFY2(!img.isNull(), qPrintable(path));
            QCOMPARE(img.size(), QSize(s.toInt(), s.toInt()));
            // Drawn, not blank: the tile covers the centre and corners are transparent.
            QVERIFY2(qAlpha(img.pixel(img.width() / 2, img.height() / 2)) == 255, qPrintable(path));
            QVERIFY2(qAlpha(img.pixel(0, 0)) < 64, qPrintable(path));
        }
    }

    void everyPqwCommandAnswersHelpAndVersion() {
        const QString expected = QStringLiteral("pqw ") + QString::fromLatin1(pqw::version());
        auto top = fixtures::runPqw({QStringLiteral("--version")});
        QCOMPARE(top.code, 0);
        QCOMPARE(top.out.trimmed(), expected);
        top = fixtures::runPqw({QStringLiteral("--help")});
        QCOMPARE(top.code, 0);
        // CLI11 lists the commands after "Subcommands:", one per line.
        const int at = top.out.indexOf(QLatin1String("Subcommands:"));
        QVERIFY2(at >= 0, qPrintable(top.out));
        QStringList commands;
        for (const QString& line : top.out.mid(at).split(QLatin1Char('\n')).mid(1)) {
            if (line.trimmed().isEmpty()) break;
            commands << line.trimmed().section(QLatin1Char(' '), 0, 0);
        }
        QVERIFY2(commands.size() >= 10 && commands.contains(QStringLiteral("layers")) && commands.contains(QStringLiteral("extract")),
                 qPrintable(commands.join(QLatin1Char(' '))));
        // Every command's --help and --version, run side by side (each start loads LibTorch).
        struct Proc {
            QString command, flag;
            std::unique_ptr<QProcess> p;
        };
        std::vector<Proc> procs;
        for (const QString& c : commands)
            for (const QString flag : {QStringLiteral("--help"), QStringLiteral("--version")}) {
                procs.push_back({c, flag, std::make_unique<QProcess>()});
                procs.back().p->start(fixtures::pqwPath(), {c, flag});
            }
        for (auto& pr : procs) {
            const QString what = pr.command + QLatin1Char(' ') + pr.flag;
            QVERIFY2(pr.p->waitForFinished(120000), qPrintable(what + QStringLiteral(": timed out")));
            QVERIFY2(pr.p->exitStatus() == QProcess::NormalExit && pr.p->exitCode() == 0,
                     qPrintable(what + QStringLiteral(": ") + QString::fromUtf8(pr.p->readAllStandardError())));
            const QString out = QString::fromUtf8(pr.p->readAllStandardOutput());
            if (pr.flag == QLatin1String("--help"))
                QVERIFY2(out.contains(QStringLiteral("Usage: pqw ") + pr.command) && out.contains(QLatin1String("--version")),
                         qPrintable(what + QStringLiteral(":\n") + out));
            else
                QCOMPARE(out.trimmed(), expected);
        }
        // An unknown option still fails (the version flags did not swallow errors).
        QVERIFY(fixtures::runPqw({QStringLiteral("layers"), QStringLiteral("--no-such-option")}).code != 0);
    }

    void guiAnswersWithoutADisplay() {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char* k : {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"}) env.remove(QString::fromLatin1(k));
        const auto v = runTool(guiPath(), {QStringLiteral("--version")}, env);
        QVERIFY2(v.code == 0, qPrintable(v.err));
        QCOMPARE(v.out.trimmed(), QStringLiteral("ProtoQuant Workbench ") + QString::fromLatin1(pqw::version()));
        const auto h = runTool(guiPath(), {QStringLiteral("--help")}, env);
        QVERIFY2(h.code == 0, qPrintable(h.err));
        QVERIFY(h.out.contains(QLatin1String("--screenshot")) && h.out.contains(QLatin1String("--list-views")));
        const auto l = runTool(guiPath(), {QStringLiteral("--list-views")}, env);
        QVERIFY2(l.code == 0, qPrintable(l.err));
        QCOMPARE(l.out.split(QLatin1Char('\n'), Qt::SkipEmptyParts), pqwgui::MainWindow::viewNames());
    }
};

QTEST_GUILESS_MAIN(TestPackaging)
#include "test_packaging.moc"
