// The resources layer (resources/resources.qrc, report.qrc): the theme files are valid JSON
// with valid colours and are what the window applies; every icon listed in the .qrc is
// compiled in and draws something; the PDF report's style sheet is compiled into reportpdf.
#include <QtTest/QtTest>

#include <QApplication>
#include <QDirIterator>
#include <QFile>
#include <QIcon>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPainter>
#include <QRegularExpression>

#include "theme.h"

using namespace pqwgui;

namespace {
QJsonObject readTheme(const QString& name) {
    QFile f(QStringLiteral(":/themes/%1.json").arg(name));
    if (!f.open(QIODevice::ReadOnly)) return {};
    QJsonParseError err{};
    const auto doc = QJsonDocument::fromJson(f.readAll(), &err);
    return err.error == QJsonParseError::NoError ? doc.object() : QJsonObject{};
}
}  // namespace

class TestTheme : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void themeFilesAreValid() {
        for (const QString name : {QStringLiteral("light"), QStringLiteral("dark")}) {
            const QJsonObject t = readTheme(name);
            QVERIFY2(!t.isEmpty(), qPrintable(name + QStringLiteral(".json is missing or not JSON")));
            QCOMPARE(t.value(QStringLiteral("name")).toString(), name);
            // Every colour anywhere in the file is a valid #rrggbb.
            const QRegularExpression hex(QStringLiteral("^#[0-9a-fA-F]{6}$"));
            for (const QString group : {QStringLiteral("palette"), QStringLiteral("disabled"), QStringLiteral("accent")}) {
                const QJsonObject g = t.value(group).toObject();
                for (auto it = g.begin(); it != g.end(); ++it)
                    QVERIFY2(hex.match(it.value().toString()).hasMatch(),
                             qPrintable(QStringLiteral("%1.json %2.%3").arg(name, group, it.key())));
            }
            const QJsonObject plot = t.value(QStringLiteral("plot")).toObject();
            for (const QString key : {QStringLiteral("text"), QStringLiteral("grid"), QStringLiteral("background")})
                QVERIFY2(hex.match(plot.value(key).toString()).hasMatch(), qPrintable(name + QStringLiteral(" plot.") + key));
            QVERIFY(plot.value(QStringLiteral("series")).toArray().size() >= 6);
            QVERIFY2(t.value(QStringLiteral("accent")).toObject().contains(QStringLiteral("error")), qPrintable(name + QStringLiteral(" accent.error")));
        }
    }

    void windowAppliesTheFiles() {
        auto* theme = Theme::instance();
        theme->init();
        for (const auto mode : {Theme::Dark, Theme::Light}) {
            theme->setMode(mode, false);
            const QJsonObject t = readTheme(mode == Theme::Dark ? QStringLiteral("dark") : QStringLiteral("light"));
            const QJsonObject pal = t.value(QStringLiteral("palette")).toObject();
            if (pal.contains(QStringLiteral("Window")))
                QCOMPARE(QApplication::palette().color(QPalette::Window), QColor(pal.value(QStringLiteral("Window")).toString()));
            const QJsonObject plot = t.value(QStringLiteral("plot")).toObject();
            QCOMPARE(theme->background(), QColor(plot.value(QStringLiteral("background")).toString()));
            QCOMPARE(theme->grid(), QColor(plot.value(QStringLiteral("grid")).toString()));
            QCOMPARE(theme->error(), QColor(t.value(QStringLiteral("accent")).toObject().value(QStringLiteral("error")).toString()));
            // Text reads on the background: clearly different lightness.
            QVERIFY(std::abs(theme->text().lightness() - theme->background().lightness()) > 120);
            QVERIFY(theme->series(0) != theme->series(1));
        }
        QVERIFY(theme->isDark() == false);
        QVERIFY(QApplication::palette().color(QPalette::Window).lightness() > 128);
    }

    void everyIconRenders() {
        int icons = 0;
        for (QDirIterator it(QStringLiteral(":/icons"), QDirIterator::Subdirectories); it.hasNext();) {
            const QString path = it.next();
            if (!path.endsWith(QLatin1String(".svg"))) continue;
            ++icons;
            const QIcon icon(path);
            QVERIFY2(!icon.isNull(), qPrintable(path));
            QImage img = icon.pixmap(32, 32).toImage().convertToFormat(QImage::Format_ARGB32);
            QVERIFY2(!img.isNull(), qPrintable(path));
            int drawn = 0;
            for (int y = 0; y < img.height(); ++y)
                for (int x = 0; x < img.width(); ++x) drawn += qAlpha(img.pixel(x, y)) > 0;
            QVERIFY2(drawn > 32, qPrintable(QStringLiteral("%1 draws %2 pixels").arg(path).arg(drawn)));
        }
        QVERIFY2(icons >= 10, qPrintable(QStringLiteral("%1 icons compiled in").arg(icons)));  // app icon + 9 actions
        for (const QString a : {QStringLiteral("open"), QStringLiteral("extract"), QStringLiteral("train"), QStringLiteral("explain"),
                                QStringLiteral("cancel"), QStringLiteral("undo"), QStringLiteral("redo")})
            QVERIFY2(!Theme::icon(a).isNull() && QFile::exists(QStringLiteral(":/icons/actions/%1.svg").arg(a)), qPrintable(a));
    }

    void reportStyleSheetIsCompiledIn() {
        QFile css(QStringLiteral(":/report/report.css"));
        QVERIFY(css.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(css.readAll());
        QVERIFY(text.contains(QLatin1String(".warn")) && text.contains(QLatin1String("table")));
    }
};

QTEST_MAIN(TestTheme)
#include "test_theme.moc"
