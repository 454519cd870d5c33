#include "pqw/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "pqw/backbone.h"
#include "pqw/error.h"
#include "pqw/recorded_backbone.h"
#include "pqw/feature_cache.h"
#include "pqw/heatmap.h"
#include "pqw/method_text.h"
#include "pqw/omenn.h"
#include "pqw/plot.h"
#include "pqw/preprocess.h"
#include "pqw/protoquant.h"
#include "pqw/pruning.h"
#include "pqw/render.h"
#include "pqw/util.h"

namespace pqw {

namespace fs = std::filesystem;

namespace {

std::string esc(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string pct(double v) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << 100.0 * v << " %";
    return s.str();
}

std::string num(double v, int prec = 4) {
    std::ostringstream s;
    s << std::setprecision(prec) << v;
    return s.str();
}

/// Splits one CSV line (the sweep summary has no quoted commas, but honour quotes anyway).
std::vector<std::string> csvFields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (char c : line) {
        if (c == '"') quoted = !quoted;
        else if (c == ',' && !quoted) out.emplace_back();
        else out.back() += c;
    }
    return out;
}

/// Writes figures and collects the HTML body; every section is guarded so one failure
/// does not lose the rest.
struct Writer {
    std::string out, assets;
    std::ostringstream body;
    ReportResult result;
    JobContext& ctx;
    int figure = 0;

    Writer(const std::string& o, JobContext& c) : out(o), assets(o + "/assets"), ctx(c) {}

    std::string assetName(const std::string& stem) { return "assets/" + std::to_string(++figure) + "-" + stem; }

    /// A plot as PNG (shown) + SVG (linked).
    void plot(const PlotSpec& p, const std::string& stem, const std::string& caption) {
        const std::string rel = assetName(stem);
        for (const auto& f : writePlot(p, out + "/" + rel)) result.files.push_back(f);
        // A block with the image, a line break and the caption: what both browsers and Qt's
        // rich-text engine (the PDF) lay out the same way.
        body << "<div class=\"figure\"><img src=\"" << esc(rel) << ".png\" width=\"" << int(p.width / 1.4) << "\" alt=\""
             << esc(caption) << "\"><br><span class=\"caption\">" << esc(caption) << " (<a href=\"" << esc(rel)
             << ".svg\">SVG</a>)</span></div>\n";
    }
    /// An RGB image as PNG.
    void image(const cv::Mat& rgb, const std::string& stem, const std::string& caption, int width = 0) {
        const std::string rel = assetName(stem) + ".png";
        writePng(out + "/" + rel, rgb);
        result.files.push_back(out + "/" + rel);
        body << "<div class=\"figure\"><img src=\"" << esc(rel) << "\"";
        if (width > 0) body << " width=\"" << width << "\"";
        body << " alt=\"" << esc(caption) << "\"><br><span class=\"caption\">" << esc(caption) << "</span></div>\n";
    }
    void warn(const std::string& section, const std::string& why) {
        result.warnings.push_back(section + ": " + why);
        body << "<p class=\"warn\">" << esc(section) << " could not be made: " << esc(why) << "</p>\n";
    }
    void section(const std::string& name, const std::function<void()>& fn) {
        ctx.throwIfCancelled();
        try {
            fn();
        } catch (const Cancelled&) {
            throw;
        } catch (const std::exception& e) {
            warn(name, e.what());
        }
    }
    void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
        body << "<table><tr>";
        for (const auto& h : header) body << "<th>" << esc(h) << "</th>";
        body << "</tr>\n";
        for (const auto& r : rows) {
            body << "<tr>";
            for (const auto& c : r) body << "<td>" << esc(c) << "</td>";
            body << "</tr>\n";
        }
        body << "</table>\n";
    }
};

std::string nowText() {
    const std::time_t t = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
    return buf;
}

/// The explained image as float CHW for the head's backbone.
std::vector<float> preprocessFor(const Backbone& bb, const cv::Mat& rgb, int size) {
    const auto pp = bb.preprocess(size);
    std::vector<float> x(size_t(3) * size_t(size) * size_t(size));
    preprocessImage(rgb, pp, x.data());
    return x;
}

}  // namespace

ReportResult writeReport(const Project& p, const std::string& outDir, const ReportOptions& o, JobContext& ctx) {
    std::error_code ec;
    fs::create_directories(outDir + "/assets", ec);
    if (ec) throw Error(outDir + ": cannot create the report folder (" + ec.message() + ")");
    Writer w(outDir, ctx);
    const std::string title = p.name.empty() ? std::string("ProtoQuant Workbench report") : p.name;

    // Shared state the sections build on.
    std::optional<Dataset> ds;
    std::optional<FeatureCache> cache;
    std::optional<ProtoModel> active;
    std::optional<Backbone> activeBackbone;

    w.body << "<h1>" << esc(title) << "</h1>\n<p class=\"meta\">ProtoQuant Workbench " << version() << ", "
           << esc(nowText()) << "</p>\n";

    // --- Dataset ---------------------------------------------------------------------
    ctx.progress(0.02, "dataset");
    w.body << "<h2>Dataset</h2>\n";
    w.section("The dataset summary", [&] {
        if (!p.hasDataset) {
            w.body << "<p>The project has no dataset.</p>\n";
            return;
        }
        ds = Dataset::open(p.dataset);
        w.body << "<p><b>" << esc(ds->name()) << "</b> (" << esc(ds->format()) << ", " << esc(p.dataset.path) << "): "
               << ds->size() << " images, " << ds->classNames().size() << " classes; validation carved from training ("
               << pct(p.dataset.valFraction) << ", seed " << p.dataset.seed << ")";
        if (p.dataset.maxTrain || p.dataset.maxTest)
            w.body << "; a class-stratified subset of at most " << p.dataset.maxTrain << " training and "
                   << p.dataset.maxTest << " test images";
        w.body << ".</p>\n";
        const auto tr = ds->classCounts(Split::Train), va = ds->classCounts(Split::Val), te = ds->classCounts(Split::Test);
        std::vector<std::vector<std::string>> rows;
        size_t st = 0, sv = 0, se = 0;
        for (size_t c = 0; c < ds->classNames().size(); ++c) {
            rows.push_back({ds->classNames()[c], std::to_string(tr[c]), std::to_string(va[c]), std::to_string(te[c])});
            st += tr[c], sv += va[c], se += te[c];
        }
        rows.push_back({"all", std::to_string(st), std::to_string(sv), std::to_string(se)});
        w.table({"class", "train", "validation", "test"}, rows);
        if (ds->report().skipped)
            w.body << "<p class=\"warn\">" << ds->report().skipped << " unreadable images were skipped.</p>\n";
    });

    // --- Backbone and features ---------------------------------------------------------
    ctx.progress(0.08, "features");
    w.body << "<h2>Backbone and features</h2>\n";
    w.section("The feature summary", [&] {
        if (p.hasBackbone)
            w.body << "<p>Backbone: " << esc(p.backbone.kind) << (p.backbone.path.empty() ? "" : " " + esc(p.backbone.path))
                   << ", cut at " << esc(p.backbone.cutLayer.empty() ? std::string("its default layer") : p.backbone.cutLayer)
                   << ", input " << p.inputSize << " px.</p>\n";
        if (p.cacheDir.empty()) {
            w.body << "<p>No feature cache.</p>\n";
            return;
        }
        cache = FeatureCache::open(p.cacheDir);
        const auto s = cache->shape();
        w.body << "<p>Feature cache " << esc(p.cacheDir) << ": " << cache->size() << " feature maps of " << s[0] << " x "
               << s[1] << " x " << s[2] << " (backbone " << esc(cache->backboneId()) << ", layer " << esc(cache->cutLayer())
               << ", input " << cache->inputSize() << " px, stride " << cache->stride() << ", box side "
               << cache->effectiveReceptiveField() << " px).</p>\n";
        if (!ds) ds = Dataset::open(cache->datasetSpec());
    });

    // --- Heads -------------------------------------------------------------------------
    w.body << "<h2>Trained heads</h2>\n";
    if (p.heads.empty()) w.body << "<p>The project has no trained head.</p>\n";
    for (size_t hi = 0; hi < p.heads.size(); ++hi) {
        ctx.progress(0.1 + 0.3 * double(hi) / double(p.heads.size()), "heads");
        const std::string& path = p.heads[hi];
        const bool isActive = int(hi) == p.activeHead;
        w.body << "<h3>" << esc(fs::path(path).filename().string()) << (isActive ? " (active)" : "") << "</h3>\n";
        w.section("Head " + path, [&] {
            ProtoModel m = ProtoModel::load(path);
            w.body << "<p>" << esc(m.kind()) << " head: " << m.numPrototypes() << " prototypes, " << m.numClasses()
                   << " classes, stages: " << (m.hasStage0() ? "0 " : "") << (m.hasCodebook() ? "1 " : "")
                   << (m.hasHead() ? "2" : "") << "; trained on " << esc(m.backboneId()) << " features at "
                   << m.inputSize() << " px.</p>\n";
            // Training curves: per stage, loss and validation accuracy against the epoch.
            const auto& hist = m.history();
            if (!hist.empty()) {
                std::map<std::string, std::pair<PlotSeries, PlotSeries>> byStage;
                std::vector<std::string> order;
                for (const auto& r : hist) {
                    if (!byStage.count(r.stage)) order.push_back(r.stage);
                    auto& [loss, acc] = byStage[r.stage];
                    loss.name = acc.name = r.stage;
                    loss.x.push_back(r.epoch);
                    loss.y.push_back(r.loss);
                    acc.x.push_back(r.epoch);
                    acc.y.push_back(r.valAccuracy);
                }
                PlotSpec lp, ap;
                lp.title = "Training loss";
                lp.xLabel = ap.xLabel = "epoch";
                lp.yLabel = "loss";
                ap.title = "Validation accuracy";
                ap.yLabel = "top-1";
                lp.width = ap.width = 640;
                lp.height = ap.height = 400;
                int color = 0;
                for (const auto& s : order) {
                    auto [loss, acc] = byStage[s];
                    loss.color = acc.color = color++;
                    lp.series.push_back(loss);
                    ap.series.push_back(acc);
                }
                w.plot(lp, "loss", "Training loss per epoch, by stage");
                w.plot(ap, "val-accuracy", "Validation top-1 per epoch, by stage");
            }
            if (cache && o.evaluate) {
                m.checkCompatible(*cache);
                const HeadKind kind = m.hasHead() ? HeadKind::Interpretable : m.hasCodebook() ? HeadKind::Quantised : HeadKind::Stage0;
                if (!m.hasStage0() && !m.hasHead()) return;
                const Evaluation ev = evaluate(m, *cache, Split::Test, kind, ctx);
                w.body << "<p>Test split (" << ev.samples << " images): top-1 <b>" << pct(ev.top1) << "</b>, top-5 "
                       << pct(ev.top5) << ".</p>\n";
                std::vector<std::string> header = {"true \\ predicted"};
                for (const auto& c : m.classNames()) header.push_back(c);
                header.push_back("accuracy");
                std::vector<std::vector<std::string>> rows;
                for (size_t t = 0; t < ev.confusion.size(); ++t) {
                    std::vector<std::string> r = {m.classNames()[t]};
                    for (auto v : ev.confusion[t]) r.push_back(std::to_string(v));
                    r.push_back(pct(ev.perClass[t]));
                    rows.push_back(r);
                }
                w.body << "<p>Confusion matrix (rows: true class):</p>\n";
                w.table(header, rows);
            }
            if (isActive) active = std::move(m);
        });
    }

    // --- Prototype gallery -------------------------------------------------------------
    ctx.progress(0.45, "prototype gallery");
    if (active && active->numPrototypes() > 0 && active->hasHead()) {
        w.body << "<h2>Prototype gallery</h2>\n";
        w.section("The prototype gallery", [&] {
            if (!cache) throw Error("the project has no feature cache to find the prototypes' training patches");
            if (!ds) throw Error("the project has no dataset to crop the patches from");
            cache->checkMadeFrom(*ds);
            const auto infos = buildPrototypeIndex(*active, *cache, o.patches, ctx);
            std::vector<size_t> order(infos.size());
            for (size_t i = 0; i < order.size(); ++i) order[i] = i;
            // The prototypes that count most for some class first (the most used ones are often
            // background, which every class shares with small weights).
            auto strongest = [&](size_t i) {
                float m = 0;
                for (float v : infos[i].classWeights) m = std::max(m, v);
                return m;
            };
            std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return strongest(a) > strongest(b); });
            const size_t n = std::min(order.size(), size_t(std::max(0, o.prototypes)));
            w.body << "<p>The " << n << " of " << infos.size()
                   << " prototypes with the largest weight for a class, each with its nearest training patches (best first), "
                      "its usage and the classes it votes for.</p>\n";
            for (size_t k = 0; k < n; ++k) {
                ctx.throwIfCancelled();
                const auto& info = infos[order[k]];
                if (!active->prototypeEnabled(info.index)) continue;
                w.image(renderPrototypeStrip(*ds, info, active->classNames(), active->inputSize(), 80),
                        "prototype-" + std::to_string(info.index), "Prototype " + std::to_string(info.index) +
                        " (used by " + std::to_string(info.usage) + " training cells)");
            }
        });
    }

    // --- Chosen explanations -----------------------------------------------------------
    ctx.progress(0.65, "explanations");
    if (!p.explanations.empty()) {
        w.body << "<h2>Explanations</h2>\n";
        std::map<std::string, std::pair<std::shared_ptr<ProtoModel>, std::shared_ptr<Backbone>>> models;
        const size_t n = std::min(p.explanations.size(), size_t(std::max(0, o.maxExplanations)));
        for (size_t i = 0; i < n; ++i) {
            const auto& e = p.explanations[i];
            w.section("Explanation " + std::to_string(i + 1), [&] {
                const std::string headPath = e.head.empty() ? p.activeHeadPath() : e.head;
                if (headPath.empty()) throw Error("no head to explain with");
                auto& slot = models[headPath];
                if (!slot.first) {
                    slot.first = std::make_shared<ProtoModel>(ProtoModel::load(headPath));
                    slot.second = std::make_shared<Backbone>(
                        openRecordedBackbone(slot.first->backboneSpec(), slot.first->backboneId(), headPath));
                }
                const ProtoModel& m = *slot.first;
                const Backbone& bb = *slot.second;
                Method method;
                if (!parseMethod(e.method, method)) throw Error("unknown method '" + e.method + "'");
                cv::Mat rgb;
                std::string what;
                if (!e.image.empty()) {
                    rgb = loadImageFile(e.image);
                    what = fs::path(e.image).filename().string();
                } else {
                    if (!ds) throw Error("sample " + std::to_string(e.sample) + " needs the project's dataset");
                    if (size_t(e.sample) >= ds->size())
                        throw Error("sample " + std::to_string(e.sample) + " is outside the dataset (" +
                                    std::to_string(ds->size()) + " images)");
                    rgb = ds->loadImage(size_t(e.sample));
                    what = "sample " + std::to_string(e.sample) + " (" + ds->classNames()[size_t(ds->sample(size_t(e.sample)).label)] + ")";
                }
                const int size = m.inputSize();
                const Explainer ex = Explainer::fromModel(m, bb);
                const auto x = preprocessFor(bb, rgb, size);
                const auto logits = ex.logits(x.data(), 1, size);
                const int pred = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
                const int target = e.target >= 0 ? e.target : pred;
                const auto names = ex.classNames();
                if (target >= int(names.size()) || e.contrast >= int(names.size()))
                    throw Error("class index out of range (the head has " + std::to_string(names.size()) + " classes)");
                Target t;
                t.index = target;
                t.contrast = e.contrast;
                const Attribution at = explain(ex, method, x.data(), size, t);
                const cv::Mat img = preprocessedView(rgb, bb.preprocess(size));  // the pixels the model saw
                HeatmapOptions ho;
                ho.width = ho.height = size;
                ho.signedMap = methodIsSigned(method);
                const cv::Mat over = blendOverlay(img, renderHeatmap(at.map, at.height, at.width, ho));
                cv::Mat pair;
                cv::hconcat(img, over, pair);
                std::string caption = what + ": predicted " + names[size_t(pred)] + "; " + methodTitle(method) + " for " +
                                      names[size_t(target)];
                if (e.contrast >= 0) caption += " vs " + names[size_t(e.contrast)];
                caption += ". Explained value " + num(at.output);
                if (method == Method::Omenn)
                    caption += " = weight contributions " + num(at.weightSum) + " + bias share " + num(at.biasSum) +
                               " (residual " + num(at.completenessError, 2) + ")";
                w.image(pair, "explanation-" + std::to_string(i + 1), caption, 2 * std::min(size, 224));
            });
        }
    }

    // --- Sweeps ------------------------------------------------------------------------
    ctx.progress(0.85, "sweeps");
    if (!p.sweeps.empty()) w.body << "<h2>Pruning sweeps</h2>\n";
    for (size_t si = 0; si < p.sweeps.size(); ++si) {
        const std::string& dir = p.sweeps[si];
        w.body << "<h3>" << esc(fs::path(dir).filename().string()) << "</h3>\n";
        w.section("Sweep " + dir, [&] {
            const std::string sub = w.assets + "/sweep-" + std::to_string(si + 1);
            const auto files = writeSweepReport(dir, sub);
            for (const auto& f : files) {
                w.result.files.push_back(f);
                if (fs::path(f).extension() != ".png") continue;
                const std::string rel = "assets/sweep-" + std::to_string(si + 1) + "/" + fs::path(f).filename().string();
                std::string svg = rel.substr(0, rel.size() - 4) + ".svg";
                w.body << "<div class=\"figure\"><img src=\"" << esc(rel) << "\" width=\"580\"><br><span class=\"caption\">"
                       << esc(fs::path(f).stem().string());
                if (fs::exists(sub + "/" + fs::path(svg).filename().string()))
                    w.body << " (<a href=\"" << esc(svg) << "\">SVG</a>)";
                w.body << "</span></div>\n";
            }
            std::istringstream csv(sweepSummaryCsv(finishedRunEntries(readSweepFolder(dir))));
            std::string line;
            std::vector<std::string> header;
            std::vector<std::vector<std::string>> rows;
            while (std::getline(csv, line)) {
                if (line.empty()) continue;
                if (header.empty()) header = csvFields(line);
                else rows.push_back(csvFields(line));
            }
            if (!header.empty()) w.table(header, rows);
        });
    }

    // --- The page ------------------------------------------------------------------------
    std::ostringstream html;
    html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << esc(title) << "</title>\n<style>\n"
         << "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\n"
         << "table{border-collapse:collapse;margin:0.5em 0;font-size:small}\n"
         << "th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}\n"
         << "th{background:#eee}\n.figure{margin:0.8em 0}\n.caption{font-size:small;color:#555}\n"
         << ".warn{color:#a40000}\n.meta{color:#666}\n</style></head><body>\n"
         << w.body.str() << "</body></html>\n";
    w.result.htmlPath = outDir + "/report.html";
    writeFileAtomic(w.result.htmlPath, html.str());
    w.result.files.insert(w.result.files.begin(), w.result.htmlPath);
    ctx.progress(1.0, "report written");
    return w.result;
}

}  // namespace pqw
