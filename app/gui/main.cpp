// protoquant-workbench: the GUI. `--demo` opens the default demo on start; `--screenshot FILE`
// renders one view at a fixed size (offscreen works), writes the PNG and exits.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QIcon>
#include <QImageWriter>
#include <QSaveFile>
#include <QTimer>

#include <cstdio>
#include <memory>

#include "datasetview.h"
#include "explain/explainview.h"
#include "mainwindow.h"
#include <QStatusBar>

#include "project.h"
#include "prototypeview.h"
#include "pruning/pruningview.h"
#include "pqw/util.h"
#include "theme.h"

#include <QLabel>
#include <QLayout>
#include <QListView>

using namespace pqwgui;

namespace {
/// --help, --version and --list-views print and exit: they need no window, so they run
/// under a QCoreApplication and work without a display (help2man, CI, ssh sessions).
bool wantsInfoOnly(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const QByteArray a(argv[i]);
        if (a == "--") break;
        if (a == "-h" || a == "--help" || a == "--help-all" || a == "-?" || a == "-v" || a == "--version" ||
            a == "--list-views")
            return true;
    }
    return false;
}
}  // namespace

int main(int argc, char** argv) {
    std::unique_ptr<QCoreApplication> appHolder;
    if (wantsInfoOnly(argc, argv))
        appHolder = std::make_unique<QCoreApplication>(argc, argv);
    else
        appHolder = std::make_unique<QApplication>(argc, argv);
    QCoreApplication& app = *appHolder;
    QCoreApplication::setOrganizationName(QStringLiteral("ProtoQuant"));
    QCoreApplication::setApplicationName(QStringLiteral("ProtoQuant Workbench"));
    QCoreApplication::setApplicationVersion(QString::fromLatin1(pqw::version()));

    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("Interpretable image classification with ProtoQuant prototypes."));
    p.addHelpOption();
    p.addVersionOption();
    const QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Open the demo (Fashion-MNIST subset) on start."));
    const QCommandLineOption features(QStringLiteral("features"), QStringLiteral("Open this feature cache folder."), QStringLiteral("DIR"));
    const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("Load this checkpoint (with --features)."), QStringLiteral("CKPT"));
    const QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("Render a view to this PNG and exit."), QStringLiteral("FILE"));
    const QCommandLineOption view(QStringLiteral("view"), QStringLiteral("View for --screenshot: ") + MainWindow::viewNames().join(QStringLiteral(", ")),
                                  QStringLiteral("NAME"), QStringLiteral("start"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size for --screenshot."), QStringLiteral("WxH"), QStringLiteral("1280x800"));
    const QCommandLineOption theme(QStringLiteral("theme"), QStringLiteral("light or dark for this run (not saved)."), QStringLiteral("NAME"));
    const QCommandLineOption explain(QStringLiteral("explain"), QStringLiteral("Explain this image once the model is ready."), QStringLiteral("IMAGE"));
    const QCommandLineOption demoTrain(QStringLiteral("demo-train"), QStringLiteral("Training images of the demo subset."), QStringLiteral("N"));
    const QCommandLineOption saveModel(QStringLiteral("save-model"), QStringLiteral("Save the checkpoint once the model is ready."), QStringLiteral("CKPT"));
    const QCommandLineOption sweep(QStringLiteral("sweep"), QStringLiteral("Open this pruning sweep folder in the Pruning view."), QStringLiteral("DIR"));
    const QCommandLineOption sweepRun(QStringLiteral("sweep-run"),
                                      QStringLiteral("With --sweep: select run RUN; with N and METHOD, also compare it with the dense model on test image N."),
                                      QStringLiteral("RUN[:N:METHOD]"));
    const QCommandLineOption compare(QStringLiteral("compare"),
                                     QStringLiteral("Explain view: compare with this second checkpoint (same features) in a pane."),
                                     QStringLiteral("CKPT"));
    const QCommandLineOption project(QStringLiteral("project"), QStringLiteral("Open this project (.pqwproj)."), QStringLiteral("FILE"));
    const QCommandLineOption listViews(QStringLiteral("list-views"), QStringLiteral("Print the view names --view takes, one per line, and exit."));
    for (const auto& o : {demo, features, model, shot, view, size, theme, explain, compare, demoTrain, saveModel, project, sweep, sweepRun,
                          listViews})
        p.addOption(o);
    p.addPositionalArgument(QStringLiteral("project"), QStringLiteral("A project file to open (.pqwproj), as from a file manager."), QStringLiteral("[FILE]"));
    p.process(app);  // exits after --help / --version
    if (p.isSet(listViews)) {
        for (const QString& v : MainWindow::viewNames()) std::printf("%s\n", qPrintable(v));
        return 0;
    }
    if (!qobject_cast<QApplication*>(&app)) return 0;  // not reached: process() handled the flag
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.protoquant.Workbench"));
    // The installed icon theme's when there is one (the package installs it), else the
    // compiled-in copy of the same SVG (resources/icons/), e.g. when run from the build folder.
    QApplication::setWindowIcon(
        QIcon::fromTheme(QStringLiteral("protoquant-workbench"), QIcon(QStringLiteral(":/icons/protoquant-workbench.svg"))));

    pqw::initTorchThreads();
    Theme::instance()->init();
    if (p.isSet(theme)) Theme::instance()->setMode(p.value(theme) == QLatin1String("dark") ? Theme::Dark : Theme::Light, false);

    MainWindow w;
    DemoConfig dc = w.demoConfig();
    if (p.isSet(demoTrain)) dc.maxTrain = p.value(demoTrain).toULong();
    w.setDemoConfig(dc);

    const bool screenshot = p.isSet(shot);
    if (screenshot) w.setAskToSave(false);
    QString projectFile = p.value(project);
    if (projectFile.isEmpty() && !p.positionalArguments().isEmpty()) projectFile = p.positionalArguments().first();
    QSize winSize(1280, 800);
    {
        const QStringList wh = p.value(size).split(QLatin1Char('x'));
        if (wh.size() != 2 || wh[0].toInt() < 200 || wh[1].toInt() < 150) {
            std::fprintf(stderr, "--size must look like 1280x800\n");
            return 2;
        }
        winSize = QSize(wh[0].toInt(), wh[1].toInt());
    }
    if (screenshot && !MainWindow::viewNames().contains(p.value(view).toLower())) {
        std::fprintf(stderr, "--view must be one of: %s\n", qPrintable(MainWindow::viewNames().join(QStringLiteral(", "))));
        return 2;
    }
    if (screenshot) {
        // Exactly the requested size, even below the layouts' minimum (widgets are squeezed).
        w.layout()->setSizeConstraint(QLayout::SetNoConstraint);
        w.setMinimumSize(0, 0);
        // The log goes to stderr too, so a failing screenshot run says why.
        QObject::connect(w.jobs(), &JobRunner::logMessage, &w, [](const QString& line) {
            std::fprintf(stderr, "%s\n", qPrintable(line));
        });
    }
    w.resize(winSize);
    if (!screenshot) w.restoreLayout();  // screenshots always use the default layout and size
    w.show();

    // How responsive the window stayed: the largest gap between ticks of a 10 ms timer while
    // jobs ran (printed in screenshot mode, where the run is scripted).
    QElapsedTimer loopClock;
    loopClock.start();
    qint64 lastTick = -1;
    double maxGapMs = 0;
    QTimer loopProbe;
    loopProbe.setInterval(10);
    loopProbe.setTimerType(Qt::PreciseTimer);
    QObject::connect(&loopProbe, &QTimer::timeout, &w, [&] {
        const qint64 now = loopClock.nsecsElapsed();
        if (lastTick >= 0 && w.jobs()->busy()) maxGapMs = std::max(maxGapMs, double(now - lastTick) / 1e6);
        lastTick = now;
    });
    if (screenshot) loopProbe.start();

    // What to do once the requested data is ready.
    auto ready = [&] {
        if (p.isSet(saveModel)) w.saveCheckpoint(p.value(saveModel));
        if (p.isSet(explain)) w.explainImage(p.value(explain));
        if (p.isSet(compare)) {
            w.showView(QStringLiteral("explain"));
            w.explainView()->compareWith(p.value(compare));  // a job: the grab below waits for it
        }
        if (!screenshot) return;
        // Let the last queued results, thumbnails and layouts settle, then grab.
        auto shoot = [&] {
            QTimer::singleShot(1200, &w, [&] {
                const QImage img = w.grab().toImage();
                // QSaveFile: a temporary file renamed over the target once complete (atomic).
                QSaveFile file(p.value(shot));
                QImageWriter writer(&file, "png");
                if (!file.open(QIODevice::WriteOnly) || !writer.write(img) || !file.commit()) {
                    const QString why = writer.error() != QImageWriter::UnknownError ? writer.errorString() : file.errorString();
                    std::fprintf(stderr, "cannot write %s: %s\n", qPrintable(p.value(shot)), qPrintable(why));
                    QApplication::exit(1);
                    return;
                }
                std::fprintf(stderr, "wrote %s (%dx%d); largest event-loop delay while jobs ran: %.1f ms\n",
                             qPrintable(p.value(shot)), img.width(), img.height(), maxGapMs);
                QApplication::exit(0);
            });
        };
        auto grab = [&, shoot] {
            w.showView(p.value(view));
            w.prototypeView()->selectFirst();
            if (w.datasetView()->grid()->model()->rowCount() > 0 && !w.datasetView()->grid()->currentIndex().isValid())
                w.datasetView()->grid()->setCurrentIndex(w.datasetView()->grid()->model()->index(0, 0));
            // The Explain view computes its maps (on a test image it picks) before the grab.
            if (p.value(view).toLower() == QLatin1String("explain") && w.explainView()->prepareScreenshot())
                QObject::connect(w.jobs(), &JobRunner::idle, &w, shoot, Qt::SingleShotConnection);
            else
                shoot();
        };
        if (w.jobs()->busy())
            QObject::connect(w.jobs(), &JobRunner::idle, &w, grab, Qt::SingleShotConnection);
        else
            grab();
    };
    if (screenshot)
        QObject::connect(w.jobs(), &JobRunner::finished, &w, [](int, JobStatus st, const QString& msg) {
            if (st == JobStatus::Failed) {
                std::fprintf(stderr, "error: %s\n", qPrintable(msg));
                QApplication::exit(1);
            }
        });

    if (p.isSet(sweep))
        QTimer::singleShot(0, &w, [&] {
            if (!w.pruningView()->openSweep(p.value(sweep))) {
                std::fprintf(stderr, "--sweep: %s\n", qPrintable(w.pruningView()->statusText()));
                if (screenshot) QApplication::exit(1);
                return;
            }
            const QStringList c = p.value(sweepRun).split(QLatin1Char(':'));
            if (!c[0].isEmpty()) w.pruningView()->selectRun(c[0]);
            if (c.size() == 3) w.pruningView()->compare(c[0], c[1].toInt(), c[2]);
        });
    if (!projectFile.isEmpty()) {
        QTimer::singleShot(0, &w, [&, projectFile] {
            w.project()->open(projectFile, [&](bool ok, const QString& msg) {
                if (ok) {
                    ready();
                    return;
                }
                std::fprintf(stderr, "%s\n", qPrintable(msg));
                if (screenshot) QApplication::exit(1);
                else w.statusBar()->showMessage(msg, 15000);
            });
        });
    } else if (p.isSet(demo)) {
        QObject::connect(w.session(), &Session::demoFinished, &w, [&](bool ok) {
            if (ok) ready();
        }, Qt::SingleShotConnection);
        QTimer::singleShot(0, &w, &MainWindow::startDemo);
    } else if (p.isSet(features)) {
        const QString dir = p.value(features), ckpt = p.value(model);
        QTimer::singleShot(0, &w, [&, dir, ckpt] {
            w.session()->openFeatures(dir, [&, ckpt] {
                if (ckpt.isEmpty()) ready();
                else w.session()->loadModel(ckpt, ready);
            });
        });
    } else if (screenshot) {
        QTimer::singleShot(0, &w, ready);
    } else {
        QTimer::singleShot(0, &w, &MainWindow::offerRecovery);
    }
    return app.exec();
}
