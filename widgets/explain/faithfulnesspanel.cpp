#include "explain/faithfulnesspanel.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include "common/layouts.h"
#include "explain/explainengine.h"
#include "explain/overlay.h"
#include "plots.h"
#include "qcp.h"
#include "theme.h"

namespace pqwgui {

FaithfulnessPanel::FaithfulnessPanel(ExplainEngine* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
    auto* fv = new QVBoxLayout(this);
    plot_ = makePlot(tr("This image: deletion and insertion"));
    plot_->setObjectName(QStringLiteral("curvesPlot"));
    for (int g = 0; g < 2; ++g) {
        auto* graph = plot_->addGraph();
        auto recolour = [this, graph, g] {
            graph->setPen(QPen(Theme::instance()->series(g), 2));
            plot_->replot();
        };
        recolour();
        connect(Theme::instance(), &Theme::changed, plot_, recolour);
    }
    plot_->graph(0)->setName(tr("deletion"));
    plot_->graph(1)->setName(tr("insertion"));
    plot_->legend->setVisible(true);
    plot_->xAxis->setLabel(tr("share of cells removed / restored"));
    plot_->setMinimumHeight(190);
    plot_->yAxis->setLabel(tr("probability of the class"));
    plot_->xAxis->setRange(0, 1);
    plot_->yAxis->setRange(0, 1);
    fv->addWidget(plot_, 3);
    curvesText_ = smallLabel();
    curvesText_->setObjectName(QStringLiteral("curvesText"));
    fv->addWidget(curvesText_);
    auto* tbox = new QGroupBox(tr("Dataset table (a job)"));
    tbox->setToolTip(tr("Every ticked method on a seeded sample of test images"));
    auto* tv = new QVBoxLayout(tbox);
    auto* trow = new QHBoxLayout;
    methods_ = new QListWidget;
    methods_->setObjectName(QStringLiteral("tableMethods"));
    methods_->setMaximumHeight(70);
    methods_->setFlow(QListView::LeftToRight);
    methods_->setWrapping(true);
    for (const pqw::Method m : explainMethods()) {
        auto* it = new QListWidgetItem(methodLabel(m), methods_);
        it->setData(Qt::UserRole, int(m));
        it->setFlags(it->flags() | Qt::ItemIsUserCheckable);
        const bool slow = m == pqw::Method::Occlusion || m == pqw::Method::SmoothGrad;
        it->setCheckState(slow ? Qt::Unchecked : Qt::Checked);
    }
    tv->addWidget(methods_);
    images_ = new QSpinBox;
    images_->setObjectName(QStringLiteral("tableImages"));
    images_->setRange(1, 10000);
    images_->setValue(20);
    images_->setToolTip(tr("Test images (a seeded sample: the same as `pqw faithfulness --seed 0`)"));
    sanity_ = new QSpinBox;
    sanity_->setObjectName(QStringLiteral("tableRandomisation"));
    sanity_->setRange(0, 100);
    sanity_->setValue(2);
    sanity_->setToolTip(tr("Images for the model-randomisation check (slow: re-explains with scrambled weights)"));
    auto* compute = new QPushButton(tr("Compute table"));
    compute->setObjectName(QStringLiteral("computeTable"));
    trow->addWidget(new QLabel(tr("Images")));
    trow->addWidget(images_);
    trow->addWidget(new QLabel(tr("randomisation")));
    trow->addWidget(sanity_);
    trow->addStretch(1);
    tv->addLayout(trow);
    tv->addWidget(compute);
    table_ = new QTableWidget;
    table_->setObjectName(QStringLiteral("faithfulnessTable"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->setMinimumHeight(120);
    tv->addWidget(table_, 1);
    tableText_ = smallLabel(tr("Deletion AUC: lower is better; insertion AUC: higher is better; completeness residual: how far "
                               "the map's sum is from the logit; randomisation: rank correlation with the map of a scrambled "
                               "model (low is better)."));
    tv->addWidget(tableText_);
    fv->addWidget(tbox, 2);
    connect(compute, &QPushButton::clicked, this, [this] {
        tableKey_ = {};
        computeTable();
    });
    connect(engine_, &ExplainEngine::resultReady, this, [this](const CacheKey& key) {
        if (!tableKey_.isNull() && key == tableKey_) computeTable();  // shows the cached table
    });
    connect(engine_, &ExplainEngine::failed, this, [this](const CacheKey& key, const QString& why) {
        if (!tableKey_.isNull() && key == tableKey_) tableText_->setText(tr("The table was not computed: %1").arg(why));
    });
}

void FaithfulnessPanel::clearCurves() {
    plot_->graph(0)->data()->clear();
    plot_->graph(1)->data()->clear();
    plot_->replot();
}

void FaithfulnessPanel::update(const ExplainSettings& s, bool request) {
    settings_ = s;
    if (!engine_->ready() || engine_->inputImage().isNull() || s.panes.empty()) {
        clearCurves();
        curvesText_->setText(tr("Deletion and insertion curves of the active pane's map appear here once an image is explained."));
        return;
    }
    const auto& p = s.activePane();
    auto map = engine_->cachedMap(engine_->mapKey(p, s.compute));
    if (!map) {
        clearCurves();
        curvesText_->setText(tr("Waiting for the active pane's map."));
        return;
    }
    const int cls = map->target;
    const CacheKey key = engine_->curvesKey(p, s.compute, cls);
    auto r = engine_->cachedCurves(key);
    if (!r) {
        clearCurves();
        if (request && !engine_->hasFailed(key)) engine_->requestCurves(p, s.compute, cls);
        curvesText_->setText(notComputedText(engine_->hasFailed(key), engine_->failure(key), engine_->pending(key),
                                             tr("Deleting and inserting cells in order of the map...")));
        return;
    }
    const QStringList names = engine_->classNames();
    for (int g = 0; g < 2; ++g) {
        const auto& y = g == 0 ? r->deletion : r->insertion;
        QVector<double> xs, ys;
        for (size_t i = 0; i < y.size(); ++i) {
            xs << (y.size() > 1 ? double(i) / double(y.size() - 1) : 0.0);
            ys << y[i];
        }
        plot_->graph(g)->setData(xs, ys, true);
        plot_->graph(g)->setName(g == 0 ? tr("deletion (AUC %1)").arg(r->deletionAuc, 0, 'f', 3)
                                        : tr("insertion (AUC %1)").arg(r->insertionAuc, 0, 'f', 3));
    }
    setPlotTitle(plot_, tr("This image: %1 map, class %2").arg(methodLabel(p.method), names.value(cls)));
    plot_->replot();
    curvesText_->setText(tr("Cells are removed (deletion: set to black) or restored into a blurred copy (insertion) in the "
                            "order of the map, most important first. A faithful map makes the probability fall fast "
                            "(deletion AUC %1, lower is better) and rise fast (insertion AUC %2, higher is better).")
                             .arg(r->deletionAuc, 0, 'f', 3).arg(r->insertionAuc, 0, 'f', 3));
}

void FaithfulnessPanel::computeTable() {
    QList<pqw::Method> methods;
    for (int i = 0; i < methods_->count(); ++i)
        if (methods_->item(i)->checkState() == Qt::Checked) methods << pqw::Method(methods_->item(i)->data(Qt::UserRole).toInt());
    if (methods.isEmpty()) {
        tableText_->setText(tr("Tick at least one method."));
        return;
    }
    QString why;
    if (!engine_->ready(&why)) {
        tableText_->setText(why);
        return;
    }
    const CacheKey key = engine_->tableKey(methods, images_->value(), settings_.compute);
    tableKey_ = key;
    auto t = engine_->cachedTable(key);
    if (!t) {
        engine_->clearFailure(key);
        if (!engine_->pending(key)) engine_->requestTable(methods, images_->value(), settings_.compute, sanity_->value());
        tableText_->setText(tr("Computing the table (see the Jobs panel for progress; Cancel stops it)..."));
        return;
    }
    const QStringList cols = {QStringLiteral("deletion_auc"), QStringLiteral("insertion_auc"), QStringLiteral("pixel_flipping_auc"),
                              QStringLiteral("faithfulness_corr"), QStringLiteral("completeness_residual"), QStringLiteral("randomisation_spearman")};
    const QStringList heads = {tr("method"), tr("deletion ↓"), tr("insertion ↑"), tr("pixel flipping ↓"), tr("faithfulness corr. ↑"),
                               tr("completeness residual"), tr("randomisation ρ ↓")};
    table_->clear();
    table_->setColumnCount(int(heads.size()));
    table_->setHorizontalHeaderLabels(heads);
    table_->setRowCount(int(t->rows.size()));
    for (int r = 0; r < int(t->rows.size()); ++r) {
        const auto& row = t->rows[size_t(r)];
        pqw::Method m;
        table_->setItem(r, 0, new QTableWidgetItem(pqw::parseMethod(row.method, m) ? methodLabel(m) : QString::fromStdString(row.method)));
        for (int c = 0; c < cols.size(); ++c) {
            auto it = row.metrics.find(cols[c].toStdString());
            auto* item = new QTableWidgetItem(it == row.metrics.end() ? QStringLiteral("–")
                                                                     : QStringLiteral("%1 ± %2").arg(it->second.first, 0, 'g', 3).arg(it->second.second, 0, 'g', 2));
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            table_->setItem(r, c + 1, item);
        }
    }
    table_->resizeColumnsToContents();
    tableText_->setText(tr("%1 test images (seeded), the predicted class of each; mean ± standard deviation.").arg(t->images));
}

}  // namespace pqwgui
