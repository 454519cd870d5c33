// OMENN cost on the default trunk (MobileNetV2 cut at block_10) + a head, one image:
// median time of one OMENN explanation (real forward for z + frozen pass + one backward)
// over the median time of one forward pass of the same model, measured in the same run;
// and Integrated Gradients (50 steps, batched) over OMENN. Both forward paths are reported:
// the unfolded layer graph OMENN runs on, and the inference graph (BatchNorm folded,
// channels-last) that feature extraction uses.
//   bench_omenn [size=112] [head=stage0|interpretable] [repeats=9] [threads=2]
// PQW_BENCH_IG=0 skips the IG part (minutes at 224 px on a loaded machine).
// PQW_TRACE=FILE also writes a Chrome trace (LibTorch's profiler) of five explanations, or of
// five forward passes with PQW_TRACE_FWD=1.
#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backbone_impl.h"
#include "omenn/explainer_impl.h"
#include "pqw/backbone.h"
#include "pqw/omenn.h"
#include "pqw/util.h"

namespace {
template <typename Fn>
double medianMs(int repeats, Fn&& fn) {
    fn();  // warm-up
    std::vector<double> t;
    for (int r = 0; r < repeats; ++r) {
        const auto a = std::chrono::steady_clock::now();
        fn();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
    const int size = argc > 1 ? std::atoi(argv[1]) : 112;
    const std::string head = argc > 2 ? argv[2] : "stage0";
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 9;
    const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
    pqw::initTorchThreads(threads);
    const auto bb = pqw::Backbone::open(pqw::BackboneSpec{});
    const auto fs = bb.featureShape(size);
    torch::manual_seed(0);
    auto d = std::make_shared<pqw::Explainer::Impl>();
    d->trunk = bb.impl().graph;
    d->fast = bb.impl().fast;
    d->inputSize = size;
    if (head == "interpretable") {
        d->head = pqw::ExplainHead::Interpretable;
        d->codes = torch::randn({64, fs[0]});
        d->W = torch::randn({10, 64});
        d->enabled = torch::ones({64});
    } else {
        d->head = pqw::ExplainHead::Stage0;
        d->lnWeight = torch::ones({fs[0]});
        d->lnBias = torch::zeros({fs[0]});
        d->fcWeight = torch::randn({10, fs[0]}) * 0.1;
        d->fcBias = torch::zeros({10});
    }
    const auto e = pqw::makeExplainer(d);
    auto xt = torch::rand({1, 3, size, size});
    std::vector<float> x(xt.data_ptr<float>(), xt.data_ptr<float>() + xt.numel());
    pqw::Target t;
    t.index = 3;

    // Interleaved (forward, forward, OMENN) per repeat: the machine is shared, so the three
    // see the same load; medians of each.
    auto now = [] { return std::chrono::steady_clock::now(); };
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::vector<double> tg, tf, to;
    double residual = 0;
    for (int r = -1; r < repeats; ++r) {  // r = -1: warm-up
        auto a = now();
        {
            torch::NoGradGuard ng;
            (void)d->forward(xt);
        }
        auto b = now();
        (void)e.logits(x.data(), 1, size);
        auto c = now();
        residual = pqw::explain(e, pqw::Method::Omenn, x.data(), size, t).completenessError;
        auto dd = now();
        if (r < 0) continue;
        tg.push_back(ms(a, b));
        tf.push_back(ms(b, c));
        to.push_back(ms(c, dd));
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    if (getenv("PQW_TRACE")) {
        torch::autograd::profiler::RecordProfile guard(getenv("PQW_TRACE"));
        for (int i = 0; i < 5; ++i) (void)(getenv("PQW_TRACE_FWD") ? (void)e.logits(x.data(), 1, size) : (void)pqw::explain(e, pqw::Method::Omenn, x.data(), size, t));
    }
    const double fwdGraph = median(tg), fwdFast = median(tf), omenn = median(to);
    pqw::ExplainOptions ig;
    ig.steps = 50;
    ig.batch = 25;
    double igErr = 0, igMs = 0;
    const bool runIg = !(getenv("PQW_BENCH_IG") && std::string(getenv("PQW_BENCH_IG")) == "0");
    if (runIg)
        igMs = medianMs(std::max(3, repeats / 3), [&] {
            igErr = pqw::explain(e, pqw::Method::IntegratedGradients, x.data(), size, t, ig).completenessError;
        });
    std::printf("size %d, head %s, threads %d, medians over %d repeats\n", size, head.c_str(), threads, repeats);
    std::printf("forward (layer graph, no grad)     %8.2f ms\n", fwdGraph);
    std::printf("forward (inference graph)          %8.2f ms\n", fwdFast);
    std::printf("OMENN explanation                  %8.2f ms   residual %.2e\n", omenn, residual);
    if (runIg) std::printf("IG, 50 steps                       %8.2f ms   completeness error %.2e\n", igMs, igErr);
    std::printf("OMENN / forward (layer graph)      %8.2f x\n", omenn / fwdGraph);
    std::printf("OMENN / forward (inference graph)  %8.2f x\n", omenn / fwdFast);
    if (runIg) std::printf("IG(50) / OMENN                     %8.2f x\n", igMs / omenn);
    return 0;
}
