// What a newcomer meets in the window (issue 18), each checked where a test can check it: the
// mouse wheel does not edit an unfocused control, the log follows its newest line unless the
// user scrolled up, the running job is the top row of the Jobs panel, actions that replace the
// session ask about unsaved work first, a failed open is not added to Recent, and file dialogs
// start in the last folder used or the home folder, and every Training setting is undoable.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QLineEdit>
#include <QPushButton>
#include <QStyle>
#include <QDir>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QUndoStack>
#include <QVBoxLayout>
#include <QWheelEvent>
#include <QtTest/QtTest>

#include <atomic>
#include <chrono>
#include <thread>

#include "filedialogs.h"
#include "fixtures.h"
#include "jobrunner.h"
#include "mainwindow.h"
#include "panels.h"
#include "project.h"
#include "session.h"
#include "theme.h"
#include "wheelguard.h"
#include "pqw/util.h"

using namespace pqwgui;

namespace {
void wheelOver(QWidget* w, int steps) {
    const QPointF at(w->width() / 2.0, w->height() / 2.0);
    QWheelEvent e(at, w->mapToGlobal(at), QPoint(), QPoint(0, -120 * steps), Qt::NoButton, Qt::NoModifier,
                  Qt::NoScrollPhase, false);
    QApplication::sendEvent(w, &e);
}
}  // namespace

class TestUx : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QApplication::setOrganizationName(QStringLiteral("ProtoQuantUxTest"));
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, tmp_.filePath(QStringLiteral("settings")));
        pqw::initTorchThreads(2);
        Theme::instance()->init();
    }

    void wheelScrollsTheFormNotTheControl() {
        WheelGuard::install();
        QScrollArea area;
        auto* form = new QWidget;
        auto* v = new QVBoxLayout(form);
        auto* edit = new QLineEdit;  // holds the focus, as a field the user typed in would
        v->addWidget(edit);
        auto* combo = new QComboBox;
        combo->addItems({QStringLiteral("k-means"), QStringLiteral("orthogonal"), QStringLiteral("random")});
        auto* spin = new QSpinBox;
        spin->setRange(0, 100);
        spin->setValue(50);
        v->addWidget(combo);
        v->addWidget(spin);
        v->addSpacing(2000);  // a long form: there is something to scroll
        area.setWidget(form);
        area.resize(300, 200);
        area.show();
        QVERIFY(QTest::qWaitForWindowExposed(&area));
        edit->setFocus();
        QTRY_VERIFY(edit->hasFocus());
        // Unfocused: the wheel scrolls the form, the values stay.
        QCOMPARE(combo->focusPolicy(), Qt::StrongFocus);
        QCOMPARE(spin->focusPolicy(), Qt::StrongFocus);
        const int before = area.verticalScrollBar()->value();
        wheelOver(combo, 1);
        wheelOver(spin, 1);
        QCOMPARE(combo->currentIndex(), 0);
        QCOMPARE(spin->value(), 50);
        QVERIFY2(area.verticalScrollBar()->value() > before, "the wheel over an unfocused control scrolls its form");
        // Focused (clicked or tabbed to): the wheel edits it, as users expect.
        spin->setFocus();
        QTRY_VERIFY(spin->hasFocus());
        wheelOver(spin, 1);
        QVERIFY2(spin->value() != 50, "a focused spin box takes the wheel");
    }

    void logFollowsNewestUnlessScrolledUp() {
        LogPanel log;
        log.resize(300, 120);
        log.show();
        QVERIFY(QTest::qWaitForWindowExposed(&log));
        auto* bar = log.verticalScrollBar();
        for (int i = 0; i < 200; ++i) log.appendLine(QStringLiteral("line %1").arg(i));
        QVERIFY(bar->maximum() > 0);
        QCOMPARE(bar->value(), bar->maximum());
        // The user scrolls up to read: new lines do not pull the view away.
        bar->setValue(0);
        QVERIFY(!log.followsNewest());
        for (int i = 0; i < 50; ++i) log.appendLine(QStringLiteral("more %1").arg(i));
        QCOMPARE(bar->value(), 0);
        // Back at the end: following resumes.
        bar->setValue(bar->maximum());
        QVERIFY(log.followsNewest());
        log.appendLine(QStringLiteral("newest"));
        QCOMPARE(bar->value(), bar->maximum());
        // Hidden while lines arrive (the panel is a tab behind Jobs), then raised: the newest lines.
        log.hide();
        for (int i = 0; i < 100; ++i) log.appendLine(QStringLiteral("while hidden %1").arg(i));
        log.show();
        QTRY_COMPARE(bar->value(), bar->maximum());
    }

    void runningJobIsTheTopRow() {
        JobRunner runner;
        JobsPanel panel(&runner);
        std::atomic<int> released{0};
        auto blockerFor = [&released](int k) {
            return [&released, k](pqw::JobContext&) {
                while (released < k) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                return std::function<void()>();
            };
        };
        runner.submit(QStringLiteral("first"), blockerFor(1));
        runner.submit(QStringLiteral("second"), blockerFor(2));
        runner.submit(QStringLiteral("third"), blockerFor(3));
        QTRY_COMPARE(panel.shownOrder(), (QStringList{QStringLiteral("first"), QStringLiteral("second"), QStringLiteral("third")}));
        // "first" ends: "second" runs and is the top row; the finished row sinks below the queue.
        released = 1;
        QTRY_COMPARE(panel.shownOrder(), (QStringList{QStringLiteral("second"), QStringLiteral("third"), QStringLiteral("first")}));
        released = 3;
        QTRY_VERIFY(!runner.busy());
        // Room for about four rows by default (it was about two and a half).
        QVERIFY(panel.sizeHint().height() >= 4 * panel.fontMetrics().height());
    }

    void replacingTheSessionAsksFirst() {
        const QString data = tmp_.filePath(QStringLiteral("data"));
        fixtures::writeImageFolder(data, 2, 3);
        MainWindow w;
        QStringList asked;
        auto answer = QMessageBox::Cancel;
        w.setSaveQuestion([&](const QString& text) {
            asked << text;
            return answer;
        });
        w.openImageFolder(data);
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->dataset() != nullptr, 20000);
        QTRY_VERIFY(!w.jobs()->busy());
        QVERIFY(w.project()->isDirty());
        // Cancel: the demo does not start and nothing is replaced.
        w.startDemo();
        QCOMPARE(asked.size(), 1);
        QVERIFY2(asked[0].contains(QStringLiteral("demo")), qPrintable(asked[0]));
        QVERIFY(!w.jobs()->busy());
        QVERIFY(w.demoButton()->isEnabled());
        // The same question guards opening another dataset or project.
        w.openImageFolder(data);
        w.openProject(tmp_.filePath(QStringLiteral("none.pqwproj")));
        QCOMPARE(asked.size(), 3);
        QVERIFY(!w.jobs()->busy());
        // Discard: the action goes ahead.
        answer = QMessageBox::Discard;
        w.setAskToSave(true);
        QVERIFY(w.confirmReplaceSession(QStringLiteral("Test")));
    }

    /// Every Training setting the user edits is an undo step (issue 18): typing into a spin box
    /// is one step however many keys, a check box click and a combo choice are one step each,
    /// undo sets the field back and redo again; a value set by code is not a step.
    void trainingSettingsAreUndoable() {
        MainWindow w;
        w.resize(1280, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.showView(QStringLiteral("training"));
        QWidget* form = w.findChild<QWidget*>(QStringLiteral("trainingSettings"));
        QVERIFY(form);
        const auto spins = form->findChildren<QSpinBox*>();
        const auto boxes = form->findChildren<QCheckBox*>();
        const auto combos = form->findChildren<QComboBox*>();
        QVERIFY(!spins.isEmpty() && !boxes.isEmpty() && !combos.isEmpty());
        QUndoStack* undo = w.undoStack();
        const int steps0 = undo->count();
        QSpinBox* spin = spins.first();
        const int v0 = spin->value();
        spin->setValue(v0 + 1);  // by code (no focus): not a step
        QCOMPARE(undo->count(), steps0);
        const int v1 = spin->value();
        spin->setFocus();
        QTRY_VERIFY(spin->hasFocus());
        QTest::keyClick(spin, Qt::Key_Up);
        QTest::keyClick(spin, Qt::Key_Up);
        QTest::keyClick(spin, Qt::Key_Up);
        QCOMPARE(spin->value(), v1 + 3);
        QCOMPARE(undo->count(), steps0 + 1);  // three keys, one step
        QVERIFY2(undo->undoText().startsWith(QStringLiteral("Training: Stage 0")), qPrintable(undo->undoText()));
        QCheckBox* box = boxes.first();
        const bool b0 = box->isChecked();
        box->click();
        QCOMPARE(undo->count(), steps0 + 2);
        QComboBox* combo = combos.first();
        QVERIFY(combo->count() > 1);
        const int c0 = combo->currentIndex();
        const int c1 = (c0 + 1) % combo->count();
        combo->setCurrentIndex(c1);
        Q_EMIT combo->activated(c1);  // what a user's choice emits after the change
        QCOMPARE(undo->count(), steps0 + 3);
        undo->undo();
        QCOMPARE(combo->currentIndex(), c0);
        undo->undo();
        QCOMPARE(box->isChecked(), b0);
        undo->undo();
        QCOMPARE(spin->value(), v1);
        undo->redo();
        QCOMPARE(spin->value(), v1 + 3);
        QCOMPARE(undo->count(), steps0 + 3);  // undo and redo add no steps
    }

    void failedOpenIsNotRecent() {
        MainWindow w;
        w.setAskToSave(false);
        const QString missing = tmp_.filePath(QStringLiteral("no-such-folder"));
        w.openImageFolder(missing);
        QTRY_VERIFY(!w.jobs()->busy());
        QTest::qWait(50);
        const QStringList recent = QSettings().value(QStringLiteral("recent")).toStringList();
        QVERIFY2(!recent.contains(QStringLiteral("folder:") + missing), qPrintable(recent.join(QLatin1Char(','))));
        const QString data = tmp_.filePath(QStringLiteral("data"));
        w.openImageFolder(data);
        QTRY_VERIFY_WITH_TIMEOUT(QSettings().value(QStringLiteral("recent")).toStringList().contains(QStringLiteral("folder:") + data), 20000);
    }

    void uncheckedBoxesAreVisibleInTheDarkTheme() {
        Theme::instance()->setMode(Theme::Dark, false);
        QCheckBox box(QStringLiteral("Auto-run"));
        box.setChecked(false);
        box.resize(box.sizeHint());
        QImage img(box.size(), QImage::Format_RGB32);
        img.fill(box.palette().color(QPalette::Window));
        box.render(&img);
        // The indicator's area (left of the text): its outline must stand out from the window.
        const int window = qGray(box.palette().color(QPalette::Window).rgb());
        int contrast = 0;
        const int side = std::min(img.height(), box.style()->pixelMetric(QStyle::PM_IndicatorWidth) + 4);
        for (int y = 0; y < img.height(); ++y)
            for (int x = 0; x < side; ++x) contrast = std::max(contrast, std::abs(qGray(img.pixel(x, y)) - window));
        QVERIFY2(contrast >= 60, qPrintable(QStringLiteral("indicator contrast %1 of 255").arg(contrast)));
        Theme::instance()->setMode(Theme::Light, false);
    }

    void dialogsStartWhereTheUserWas() {
        QSettings().remove(QStringLiteral("ui/lastDialogFolder"));
        QCOMPARE(dialogStartFolder(), QDir::homePath());
        const QString sub = tmp_.filePath(QStringLiteral("pictures"));
        QDir().mkpath(sub);
        rememberDialogPath(sub + QStringLiteral("/shoe.png"));
        QCOMPARE(dialogStartFolder(), sub);
        rememberDialogPath(tmp_.path());
        QCOMPARE(dialogStartFolder(), tmp_.path());
        // A remembered folder that was deleted since: home again.
        QDir(sub).removeRecursively();
        rememberDialogPath(sub + QStringLiteral("/x.png"));
        QCOMPARE(dialogStartFolder(), QDir::homePath());
    }
};

QTEST_MAIN(TestUx)
#include "test_ux.moc"
