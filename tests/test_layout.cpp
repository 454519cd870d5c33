// The window at 1024 x 640, its default 1280 x 800 and 1920 x 1080 (issue 18): every view, after a tiny
// demo has filled it, is checked for text cut off (labels, buttons, combo boxes narrower than
// their contents need), widgets pushed outside the window, and siblings drawn over each other.
// The same runs write screenshots (PQW_LAYOUT_SHOTS=folder) to look at.
#include <QAbstractButton>
#include <QAbstractScrollArea>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QLabel>
#include <QLayout>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabBar>
#include <QTabWidget>
#include <QtTest/QtTest>

#include "mainwindow.h"
#include "session.h"
#include "tiny_demo.h"
#include "theme.h"
#include "pqw/util.h"

using namespace pqwgui;

namespace {
/// A view's scroll page (MainWindow puts each view in one): it scrolls the whole view on a
/// small screen, and the view inside is laid out at no less than its minimum size.
bool isPage(const QWidget* w) { return w->objectName().startsWith(QLatin1String("page:")); }

/// Inside a scroll area's viewport (other than a view's page), a widget may extend past what is
/// shown: that is scrolling, not clipping. Item views and plots draw their own contents.
bool scrolls(const QWidget* w, const QWidget* top) {
    for (const QWidget* p = w->parentWidget(); p && p != top; p = p->parentWidget())
        if (qobject_cast<const QAbstractScrollArea*>(p) && !isPage(p)) return true;
    return false;
}

/// Where a widget must lie: inside its view (the page's content, which may be larger than what
/// the window shows and is scrolled to), or inside the window.
QRect allowedArea(const QWidget* w, QWidget* win) {
    const QWidget* below = w;
    for (const QWidget* p = w->parentWidget(); p && p != win; below = p, p = p->parentWidget())
        if (isPage(p)) {
            const QWidget* viewport = static_cast<const QAbstractScrollArea*>(p)->viewport();
            if (below != viewport) break;  // the page's own scroll bars
            const QWidget* content = viewport->findChild<QWidget*>(QString(), Qt::FindDirectChildrenOnly);
            if (content) return QRect(content->mapTo(win, QPoint(0, 0)), content->size());
        }
    return win->rect();
}

QString nameOf(const QWidget* w) {
    QString s = QString::fromLatin1(w->metaObject()->className());
    if (!w->objectName().isEmpty()) s += QLatin1Char('#') + w->objectName();
    if (auto* l = qobject_cast<const QLabel*>(w)) s += QStringLiteral(" \"%1\"").arg(l->text().left(40));
    if (auto* b = qobject_cast<const QAbstractButton*>(w)) s += QStringLiteral(" \"%1\"").arg(b->text().left(40));
    return s;
}

QStringList layoutProblems(QWidget* win) {
    QStringList out;
    for (QWidget* w : win->findChildren<QWidget*>()) {
        const QRect area = allowedArea(w, win);
        if (!w->isVisibleTo(win) || !w->isVisible() || w->isWindow() || scrolls(w, win)) continue;
        if (w->visibleRegion().isEmpty()) continue;  // behind another tab (a tabified dock)
        if (qobject_cast<QTabBar*>(w->parentWidget())) continue;  // the tab bar's own scroll buttons
        if (w->inherits("QDockWidgetTitleButton")) continue;      // drawn by the style in the title
        const QRect r(w->mapTo(win, QPoint(0, 0)), w->size());
        if (w->width() > 0 && w->height() > 0 && !area.contains(r))
            out << QStringLiteral("%1 outside the window (%2,%3 %4x%5)").arg(nameOf(w)).arg(r.x()).arg(r.y()).arg(r.width()).arg(r.height());
        if (auto* l = qobject_cast<QLabel*>(w); l && !l->text().isEmpty() && l->pixmap().isNull()) {
            if (l->wordWrap()) {
                if (l->heightForWidth(l->width()) > l->height() + 2)
                    out << QStringLiteral("%1 cut: needs %2 px of height, has %3").arg(nameOf(w)).arg(l->heightForWidth(l->width())).arg(l->height());
            } else if (l->minimumSizeHint().width() > l->width() + 2) {
                out << QStringLiteral("%1 cut: needs %2 px of width, has %3").arg(nameOf(w)).arg(l->minimumSizeHint().width()).arg(l->width());
            }
        }
        if ((qobject_cast<QAbstractButton*>(w) || qobject_cast<QComboBox*>(w)) && w->minimumSizeHint().width() > w->width() + 2)
            out << QStringLiteral("%1 squeezed: needs %2 px, has %3").arg(nameOf(w)).arg(w->minimumSizeHint().width()).arg(w->width());
        // Siblings in one layout must not overlap.
        if (QLayout* lay = w->layout()) {
            QList<QWidget*> kids;
            for (int i = 0; i < lay->count(); ++i)
                if (QWidget* k = lay->itemAt(i)->widget(); k && k->isVisible()) kids << k;
            for (int i = 0; i < kids.size(); ++i)
                for (int j = i + 1; j < kids.size(); ++j)
                    if (kids[i]->geometry().intersected(kids[j]->geometry()).width() > 2 &&
                        kids[i]->geometry().intersected(kids[j]->geometry()).height() > 2)
                        out << QStringLiteral("%1 overlaps %2").arg(nameOf(kids[i]), nameOf(kids[j]));
        }
    }
    return out;
}
}  // namespace

class TestLayout : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    MainWindow* w_ = nullptr;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QApplication::setOrganizationName(QStringLiteral("ProtoQuantLayoutTest"));
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, tmp_.filePath(QStringLiteral("settings")));
        pqw::initTorchThreads(2);
        Theme::instance()->init();
        if (pqw::assetsDir().empty()) QSKIP("default backbone not fetched");
        w_ = new MainWindow;
        w_->setAskToSave(false);
        w_->setDemoConfig(fixtures::tinyDemo(tmp_.filePath(QStringLiteral("demo"))));
        w_->resize(1280, 800);
        w_->show();
        QSignalSpy done(w_->session(), &Session::demoFinished);
        w_->startDemo();
        QVERIFY(done.wait(180000));
        QVERIFY(done.first().at(0).toBool());
        QTRY_VERIFY_WITH_TIMEOUT(!w_->jobs()->busy(), 60000);
    }
    void cleanupTestCase() { delete w_; }

    void everyViewFits_data() {
        QTest::addColumn<QSize>("size");
        QTest::addColumn<QString>("view");
        // A laptop with scaling (1024 x 640: each view scrolls in its page where it needs more
        // room), the default size and a large screen.
        for (const QSize s : {QSize(1024, 640), QSize(1280, 800), QSize(1920, 1080)})
            for (const QString& v : MainWindow::viewNames())
                QTest::newRow(qPrintable(QStringLiteral("%1x%2 %3").arg(s.width()).arg(s.height()).arg(v))) << s << v;
    }
    void everyViewFits() {
        QFETCH(QSize, size);
        QFETCH(QString, view);
        QVERIFY(w_);
        // The window can be made this small at all (a larger minimum size clips everything).
        const QSize min = w_->minimumSizeHint();
        QString who;  // which parts ask for the room
        for (int i = 0; i < w_->tabs()->count(); ++i) {
            const QSize m = w_->tabs()->widget(i)->minimumSizeHint();
            who += QStringLiteral("\n  view %1 needs %2 x %3").arg(w_->tabs()->tabText(i)).arg(m.width()).arg(m.height());
        }
        for (auto* d : w_->findChildren<QDockWidget*>())
            who += QStringLiteral("\n  dock %1 needs %2 x %3").arg(d->objectName()).arg(d->minimumSizeHint().width()).arg(d->minimumSizeHint().height());
        QVERIFY2(min.width() <= size.width() && min.height() <= size.height(),
                 qPrintable(QStringLiteral("the window needs at least %1 x %2:%3").arg(min.width()).arg(min.height()).arg(who)));
        w_->resize(size);
        QVERIFY(w_->showView(view));
        QTRY_VERIFY_WITH_TIMEOUT(!w_->jobs()->busy(), 60000);  // the view's results are in (maps, numbers)
        QTest::qWait(150);  // layouts and queued replots settle
        QCOMPARE(w_->size(), size);
        if (const QString dir = qEnvironmentVariable("PQW_LAYOUT_SHOTS"); !dir.isEmpty())
            w_->grab().save(QStringLiteral("%1/%2-%3x%4.png").arg(dir, view).arg(size.width()).arg(size.height()));
        const QStringList problems = layoutProblems(w_);
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QStringLiteral("\n"))));
    }
};

QTEST_MAIN(TestLayout)
#include "test_layout.moc"
