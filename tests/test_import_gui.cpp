// "Import a ProtoQuant checkpoint..." in the window (offscreen): the start-page button opens
// the dialog, Recognise runs as a job and shows what the file holds before anything is
// imported, Import writes a model whose logits match PyTorch (checked in test_pth) and loads
// its backbone into the session. A screenshot of the dialog is written for a look.
#include <QApplication>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QtTest/QtTest>

#include "importdialog.h"
#include "mainwindow.h"
#include "pqw/protoquant.h"

using namespace pqwgui;

class TestImportGui : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QApplication::setOrganizationName(QStringLiteral("ProtoQuantTest"));
    }

    void importFromTheStartPage() {
        MainWindow w;
        w.setAskToSave(false);
        w.show();
        auto* button = w.findChild<QPushButton*>(QStringLiteral("importProtoQuantButton"));
        QVERIFY(button);
        button->click();
        auto* dlg = w.findChild<ImportProtoQuantDialog*>();
        QVERIFY(dlg);
        const QString fixtures = qEnvironmentVariable("PQW_PTH_FIXTURES");
        dlg->setCheckpoint(fixtures + "/pipnet_convnext_cuda.pth");
        QSignalSpy recognised(dlg, &ImportProtoQuantDialog::recognised);
        dlg->recognise();
        QVERIFY(recognised.wait(60000));
        QCOMPARE(recognised.at(0).at(0).toBool(), true);
        const QString s = dlg->summaryText();
        QVERIFY2(s.contains("prototypes P:  12") && s.contains("classes C: 5") && s.contains("83.25 %") &&
                     s.contains("cuda:0"), qPrintable(s));
        const QString shots = qEnvironmentVariable("PQW_SCREENSHOT_DIR", QDir::tempPath());
        QVERIFY(dlg->grab().save(shots + "/import_dialog.png"));

        const QString out = QDir::tempPath() + "/pqw_test_import_gui.pqwh";
        QFile::remove(out);
        QSignalSpy imported(dlg, &ImportProtoQuantDialog::imported);
        QSignalSpy backbone(w.session(), &Session::backboneChanged);
        dlg->importTo(out);
        QVERIFY(imported.wait(120000));
        const auto m = pqw::ProtoModel::load(out.toStdString());
        QCOMPARE(m.numPrototypes(), 12);
        QCOMPARE(m.backboneSpec().kind, std::string("pth"));
        QVERIFY(backbone.count() > 0 || backbone.wait(60000));
        QVERIFY(w.session()->backbone());
        QCOMPARE(w.session()->backbone()->id(), m.backboneId());

        // A forbidden global: the summary shows the one-line refusal, nothing is imported.
        dlg->setCheckpoint(fixtures + "/bad_reduce.pth");
        recognised.clear();
        dlg->recognise();
        QVERIFY(recognised.wait(60000));
        QCOMPARE(recognised.at(0).at(0).toBool(), false);
        QVERIFY2(dlg->summaryText().contains("refusing the global 'posix.system'"), qPrintable(dlg->summaryText()));
    }
};

QTEST_MAIN(TestImportGui)
#include "test_import_gui.moc"
