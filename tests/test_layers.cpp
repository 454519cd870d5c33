// pqw::nn layer modules and Graph, checked against plain nested-loop computations.
#include <QtTest/QtTest>

#include <cmath>

#include "nn/graph.h"
#include "nn/layers.h"

using namespace pqw::nn;
using torch::Tensor;

namespace {

Tensor rnd(std::vector<int64_t> shape, uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    return torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32));
}

bool close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
    if (a.sizes() != b.sizes()) {
        qWarning() << "shape mismatch" << QString::fromStdString(c10::str(a.sizes())) << QString::fromStdString(c10::str(b.sizes()));
        return false;
    }
    const double err = (a - b).abs().max().item<double>();
    const double scale = std::max(1.0, b.abs().max().item<double>());
    if (err > tol * scale) qWarning() << "max abs error" << err;
    return err <= tol * scale;
}

/// Plain-loop 2-D convolution with explicit zero padding (top, bottom, left, right).
Tensor refConv(const Tensor& x, const Tensor& w, const Tensor& b, int sh, int sw, Pad4 p, int groups) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3), cpg = C / groups, opg = O / groups;
    const int64_t OH = (H + p.top + p.bottom - kh) / sh + 1, OW = (W + p.left + p.right - kw) / sw + 1;
    Tensor y = torch::zeros({N, O, OH, OW});
    auto X = x.accessor<float, 4>();
    auto Wt = w.accessor<float, 4>();
    auto Y = y.accessor<float, 4>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t i = 0; i < OH; ++i)
                for (int64_t j = 0; j < OW; ++j) {
                    double s = b.defined() ? b[o].item<double>() : 0.0;
                    const int64_t g = o / opg;
                    for (int64_t c = 0; c < cpg; ++c)
                        for (int64_t u = 0; u < kh; ++u)
                            for (int64_t v = 0; v < kw; ++v) {
                                const int64_t r = i * sh + u - p.top, q = j * sw + v - p.left;
                                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                                s += X[n][g * cpg + c][r][q] * Wt[o][c][u][v];
                            }
                    Y[n][o][i][j] = static_cast<float>(s);
                }
    return y;
}

/// Plain-loop pooling; avg excludes padded cells, max ignores them.
Tensor refPool(const Tensor& x, int k, int s, Pad4 p, bool isMax) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t OH = (H + p.top + p.bottom - k) / s + 1, OW = (W + p.left + p.right - k) / s + 1;
    Tensor y = torch::zeros({N, C, OH, OW});
    auto X = x.accessor<float, 4>();
    auto Y = y.accessor<float, 4>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < OH; ++i)
                for (int64_t j = 0; j < OW; ++j) {
                    double acc = isMax ? -1e30 : 0.0;
                    int cnt = 0;
                    for (int u = 0; u < k; ++u)
                        for (int v = 0; v < k; ++v) {
                            const int64_t r = i * s + u - p.top, q = j * s + v - p.left;
                            if (r < 0 || r >= H || q < 0 || q >= W) continue;
                            acc = isMax ? std::max(acc, double(X[n][c][r][q])) : acc + X[n][c][r][q];
                            ++cnt;
                        }
                    Y[n][c][i][j] = static_cast<float>(isMax ? acc : acc / cnt);
                }
    return y;
}

/// Plain-loop eval BatchNorm over axis 1.
Tensor refBN(const Tensor& x, const Tensor& g, const Tensor& b, const Tensor& m, const Tensor& v, double eps) {
    Tensor y = x.clone();
    auto Y = y.accessor<float, 4>();
    for (int64_t n = 0; n < x.size(0); ++n)
        for (int64_t c = 0; c < x.size(1); ++c)
            for (int64_t i = 0; i < x.size(2); ++i)
                for (int64_t j = 0; j < x.size(3); ++j)
                    Y[n][c][i][j] = static_cast<float>((Y[n][c][i][j] - m[c].item<double>()) /
                                                           std::sqrt(v[c].item<double>() + eps) * g[c].item<double>() +
                                                       b[c].item<double>());
    return y;
}

Tensor mapElems(const Tensor& x, const std::function<double(double)>& f) {
    Tensor y = x.contiguous().clone();
    float* p = y.data_ptr<float>();
    for (int64_t i = 0; i < y.numel(); ++i) p[i] = static_cast<float>(f(p[i]));
    return y;
}

Tensor refDense(const Tensor& x, const Tensor& w, const Tensor& b) {
    Tensor y = torch::zeros({x.size(0), w.size(0)});
    for (int64_t n = 0; n < x.size(0); ++n)
        for (int64_t o = 0; o < w.size(0); ++o) {
            double s = b.defined() ? b[o].item<double>() : 0.0;
            for (int64_t i = 0; i < w.size(1); ++i) s += x[n][i].item<double>() * w[o][i].item<double>();
            y[n][o] = s;
        }
    return y;
}

}  // namespace

class TestLayers : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(2); }

    void convAsymmetricStride() {
        auto x = rnd({2, 3, 7, 8}, 1), w = rnd({4, 3, 3, 3}, 2), b = rnd({4}, 3);
        const Pad4 p{0, 1, 1, 2};
        Conv2d conv(w, b, {2, 1}, p);
        QVERIFY(close(conv(x), refConv(x, w, b, 2, 1, p, 1)));
        const Pad4 sym{1, 1, 2, 2};
        Conv2d conv2(w, Tensor(), {1, 2}, sym);
        QVERIFY(close(conv2(x), refConv(x, w, Tensor(), 1, 2, sym, 1)));
    }

    void convTfSame() {
        // TF "same", stride 2, even input: total pad 1 -> (0 before, 1 after).
        QCOMPARE(tfSamePadding(8, 3, 2).first, int64_t(0));
        QCOMPARE(tfSamePadding(8, 3, 2).second, int64_t(1));
        QCOMPARE(tfSamePadding(7, 3, 2).first, int64_t(1));
        QCOMPARE(tfSamePadding(7, 3, 1).second, int64_t(1));
        QCOMPARE(tfSamePadding(5, 1, 1).first + tfSamePadding(5, 1, 1).second, int64_t(0));
        auto x = rnd({1, 2, 8, 7}, 4), w = rnd({3, 2, 3, 3}, 5);
        Conv2d conv(w, Tensor(), {2, 2}, Pad4{});
        conv.tfSame = true;
        const Pad4 p = conv.padFor(8, 7);
        QCOMPARE(p.top, int64_t(0));
        QCOMPARE(p.bottom, int64_t(1));
        QCOMPARE(p.left, int64_t(1));
        QCOMPARE(p.right, int64_t(1));
        auto y = conv(x);
        QCOMPARE(y.size(2), int64_t(4));
        QCOMPARE(y.size(3), int64_t(4));
        QVERIFY(close(y, refConv(x, w, Tensor(), 2, 2, p, 1)));
    }

    void depthwiseConv() {
        auto x = rnd({2, 3, 6, 5}, 6), w = rnd({6, 1, 3, 3}, 7), b = rnd({6}, 8);  // multiplier 2
        const Pad4 p{1, 1, 1, 1};
        Conv2d conv(w, b, {1, 1}, p, {1, 1}, 3);
        QVERIFY(close(conv(x), refConv(x, w, b, 1, 1, p, 3)));
        QCOMPARE(conv.spatial().kernelH, int64_t(3));
    }

    void batchNorm() {
        auto x = rnd({2, 4, 3, 3}, 9), g = rnd({4}, 10), b = rnd({4}, 11), m = rnd({4}, 12);
        auto v = rnd({4}, 13).abs() + 0.1;
        BatchNorm bn(g, b, m, v, 1e-3);
        auto ref = refBN(x, g, b, m, v, 1e-3);
        QVERIFY(close(bn(x), ref));
        // The affine form OMENN uses.
        QVERIFY(close(x * bn.scale().view({1, -1, 1, 1}) + bn.shift().view({1, -1, 1, 1}), ref));
    }

    void activations() {
        auto x = rnd({2, 5, 3, 3}, 14) * 5;
        Activation relu6(Activation::Fn::ReLU, 6.0);
        auto ref6 = mapElems(x, [](double v) { return std::min(std::max(v, 0.0), 6.0); });
        QVERIFY(close(relu6(x), ref6));
        auto xc = x.clone();
        auto y = relu6.forward({xc}, /*mayOverwrite=*/true);
        QVERIFY(close(y, ref6));
        QVERIFY(y.data_ptr() == xc.data_ptr());  // in place
        Activation leaky(Activation::Fn::ReLU, 0.0, 0.2);
        QVERIFY(close(leaky(x), mapElems(x, [](double v) { return v > 0 ? v : 0.2 * v; })));
        Activation gelu(Activation::Fn::GELU);
        QVERIFY(close(gelu(x), mapElems(x, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); })));
        Activation silu(Activation::Fn::SiLU);
        QVERIFY(close(silu(x), mapElems(x, [](double v) { return v / (1.0 + std::exp(-v)); })));
        Activation sig(Activation::Fn::Sigmoid);
        QVERIFY(close(sig(x), mapElems(x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); })));
        Activation lin(Activation::Fn::Linear);
        QVERIFY(close(lin(x), x));
        // Softmax over channels.
        Activation sm(Activation::Fn::Softmax);
        auto s = sm(x);
        auto e = mapElems(x, [](double v) { return std::exp(v); });
        QVERIFY(close(s, e / e.sum(1, true)));
        Activation::Fn fn;
        double mx;
        QVERIFY(Activation::fromKeras("relu6", fn, mx) && fn == Activation::Fn::ReLU && mx == 6.0);
        QVERIFY(Activation::fromKeras("swish", fn, mx) && fn == Activation::Fn::SiLU);
        QVERIFY(!Activation::fromKeras("elu", fn, mx));
    }

    void pooling() {
        auto x = rnd({2, 3, 7, 6}, 15);
        const Pad4 p{0, 1, 1, 1};
        QVERIFY(close(AvgPool2d({3, 3}, {2, 2}, p)(x), refPool(x, 3, 2, p, false)));
        QVERIFY(close(MaxPool2d({3, 3}, {2, 2}, p)(x), refPool(x, 3, 2, p, true)));
        const Pad4 sym{1, 1, 1, 1};
        QVERIFY(close(AvgPool2d({3, 3}, {1, 1}, sym)(x), refPool(x, 3, 1, sym, false)));
        QVERIFY(close(MaxPool2d({2, 2}, {2, 2})(x), refPool(x, 2, 2, Pad4{}, true)));
        QVERIFY(close(AvgPool2d({2, 2}, {2, 2})(x), refPool(x, 2, 2, Pad4{}, false)));
        // TF "same" average pooling excludes the padding from the mean.
        AvgPool2d same({3, 3}, {2, 2});
        same.tfSame = true;
        QVERIFY(close(same(x), refPool(x, 3, 2, same.padFor(7, 6), false)));
        // Global average / max.
        auto gap = GlobalPool(false)(x);
        QCOMPARE(gap.dim(), int64_t(2));
        for (int n = 0; n < 2; ++n)
            for (int c = 0; c < 3; ++c) {
                double s = 0, m = -1e30;
                for (int i = 0; i < 7; ++i)
                    for (int j = 0; j < 6; ++j) {
                        s += x[n][c][i][j].item<double>();
                        m = std::max(m, x[n][c][i][j].item<double>());
                    }
                QVERIFY(std::abs(gap[n][c].item<double>() - s / 42) < 1e-4);
                QVERIFY(std::abs(GlobalPool(true)(x)[n][c].item<double>() - m) < 1e-4);
            }
        QCOMPARE(GlobalPool(false, true)(x).dim(), int64_t(4));
    }

    void flattenIsNhwc() {
        auto x = rnd({2, 3, 2, 4}, 16);
        auto y = Flatten()(x);
        QCOMPARE(y.size(1), int64_t(24));
        for (int n = 0; n < 2; ++n)
            for (int h = 0; h < 2; ++h)
                for (int w = 0; w < 4; ++w)
                    for (int c = 0; c < 3; ++c)
                        QCOMPARE(y[n][(h * 4 + w) * 3 + c].item<float>(), x[n][c][h][w].item<float>());
    }

    void dense() {
        auto x = rnd({3, 5}, 17), w = rnd({4, 5}, 18), b = rnd({4}, 19);
        Dense d(w, b);
        QVERIFY(close(d(x), refDense(x, w, b)));
        // On 4-D input it acts on channels (a 1x1 convolution).
        auto x4 = rnd({2, 5, 3, 2}, 20);
        QVERIFY(close(d(x4), refConv(x4, w.view({4, 5, 1, 1}), b, 1, 1, Pad4{}, 1)));
        QVERIFY(close(Dense(w, Tensor())(x), refDense(x, w, Tensor())));
        QCOMPARE(d.parameterCount(), int64_t(24));
    }

    void addConcat() {
        auto a = rnd({2, 3, 4, 4}, 21), b = rnd({2, 3, 4, 4}, 22), c = rnd({2, 2, 4, 4}, 23);
        auto s = Add().forward({a, b, a});
        auto ref = a.clone();
        {
            float* r = ref.data_ptr<float>();
            const float* pa = a.data_ptr<float>();
            const float* pb = b.data_ptr<float>();
            for (int64_t i = 0; i < a.numel(); ++i) r[i] = 2 * pa[i] + pb[i];
        }
        QVERIFY(close(s, ref));
        auto a2 = a.clone();
        QVERIFY(close(Add().forward({a2, b}, true), a + b));
        auto cat = Concat(1).forward({a, c});
        QCOMPARE(cat.size(1), int64_t(5));
        for (int n = 0; n < 2; ++n)
            for (int ch = 0; ch < 5; ++ch)
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4; ++j)
                        QCOMPARE(cat[n][ch][i][j].item<float>(), ch < 3 ? a[n][ch][i][j].item<float>() : c[n][ch - 3][i][j].item<float>());
    }

    void layerNorm() {
        auto x = rnd({3, 6}, 24), g = rnd({6}, 25), b = rnd({6}, 26);
        LayerNorm ln(g, b, 1e-3);
        Tensor ref = torch::zeros({3, 6});
        for (int n = 0; n < 3; ++n) {
            double m = 0, v = 0;
            for (int i = 0; i < 6; ++i) m += x[n][i].item<double>() / 6;
            for (int i = 0; i < 6; ++i) v += std::pow(x[n][i].item<double>() - m, 2) / 6;
            for (int i = 0; i < 6; ++i)
                ref[n][i] = (x[n][i].item<double>() - m) / std::sqrt(v + 1e-3) * g[i].item<double>() + b[i].item<double>();
        }
        QVERIFY(close(ln(x), ref));
        // 4-D: normalised over channels at each position.
        auto x4 = rnd({1, 6, 2, 2}, 27);
        auto y4 = ln(x4);
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
                QVERIFY(close(y4.select(3, j).select(2, i), ln(x4.select(3, j).select(2, i).contiguous())));
    }

    void graphCutAndInPlace() {
        // in -> conv -> bn -> relu6 -> (a) ; relu6 also -> dw -> (b); add(a, b) -> gap
        Graph g("in");
        auto conv = std::make_shared<Conv2d>(rnd({4, 3, 3, 3}, 30), rnd({4}, 31), std::array<int64_t, 2>{2, 2}, Pad4{0, 1, 0, 1});
        auto bn = std::make_shared<BatchNorm>(rnd({4}, 32), rnd({4}, 33), rnd({4}, 34), rnd({4}, 35).abs() + 0.5, 1e-3);
        const int c = g.addNode("conv", "Conv2D", {0}, conv);
        const int b = g.addNode("bn", "BatchNormalization", {c}, bn);
        const int r = g.addNode("relu", "ReLU", {b}, std::make_shared<Activation>(Activation::Fn::ReLU, 6.0));
        const int dw = g.addNode("dw", "DepthwiseConv2D", {r},
                                 std::make_shared<Conv2d>(rnd({4, 1, 3, 3}, 36), Tensor(), std::array<int64_t, 2>{1, 1},
                                                          Pad4{1, 1, 1, 1}, std::array<int64_t, 2>{1, 1}, 4));
        const int relu2 = g.addNode("relu2", "ReLU", {dw}, std::make_shared<Activation>(Activation::Fn::ReLU));
        const int add = g.addNode("add", "Add", {r, relu2}, std::make_shared<Add>());
        const int gap = g.addNode("gap", "GlobalAveragePooling2D", {add}, std::make_shared<GlobalPool>());
        QCOMPARE(g.indexOf("dw"), dw);
        QCOMPARE(g.indexOf("nope"), -1);
        QCOMPARE(g.consumers(r), (std::vector<int>{dw, add}));
        QCOMPARE(g.named_parameters().size(), size_t(5));  // conv w, b; bn gamma, beta; dw w

        auto x = rnd({2, 3, 9, 9}, 37);
        const auto xCopy = x.clone();
        // Reference by hand with separate module calls (no in-place).
        auto t = (*bn)(refConv(x, conv->weight, conv->bias, 2, 2, Pad4{0, 1, 0, 1}, 1));
        t = t.clamp(0, 6);
        auto u = std::dynamic_pointer_cast<Conv2d>(g.node(dw).module)->operator()(t).relu();
        auto ref = (t + u).mean({2, 3});
        torch::Tensor y;
        {
            c10::InferenceMode guard;
            y = g.forward(x);
        }
        QVERIFY(close(y, ref));
        QVERIFY(torch::equal(x, xCopy));  // the caller's input is never overwritten
        // Cut: only ancestors are evaluated.
        std::vector<int> seen;
        auto yc = g.forward(x, b, [&](int i, const Node&, const std::vector<Tensor>&, const Tensor&) { seen.push_back(i); });
        QCOMPARE(seen, (std::vector<int>{0, c, b}));
        QCOMPARE(yc.size(1), int64_t(4));
        const auto all = g.forwardAll(x, add);
        QVERIFY(all[add].defined() && !all[gap].defined());
        QVERIFY(close(all[add].mean({2, 3}), ref));
        // Sub-graph and folding.
        auto sub = g.upTo(add);
        QCOMPARE(sub->size(), 7);  // in conv bn relu dw relu2 add
        QCOMPARE(sub->node(sub->outputIndex()).name, std::string("add"));
        auto folded = foldBatchNorm(g);
        QCOMPARE(folded->size(), g.size() - 1);
        QCOMPARE(folded->indexOf("conv"), -1);
        QVERIFY(folded->indexOf("bn") >= 0);
        QVERIFY(close(folded->forward(x), ref, 1e-4));
        // The inference graph (folded, channels-last convolutions) on channels-last input.
        auto inf = inferenceGraph(g);
        QCOMPARE(inf->size(), folded->size());
        QVERIFY(close(inf->forward(x.contiguous(at::MemoryFormat::ChannelsLast)).contiguous(), ref, 1e-4));
        QVERIFY(g.node(dw).module != inf->node(inf->indexOf("dw")).module);  // convs are copies
        // Receptive field: conv k3 s2 -> rf 3, jump 2; dw k3 -> rf 3 + 2*2 = 7.
        const auto rf = g.receptiveFields();
        QCOMPARE(rf[c].size, int64_t(3));
        QCOMPARE(rf[c].stride, int64_t(2));
        QCOMPARE(rf[add].size, int64_t(7));
        QCOMPARE(rf[gap].size, int64_t(0));
    }

    void inferenceGraphAbsorbsPadding() {
        // ZeroPad2d (2, 0, 1, 3) -> Conv2d k3 s2 valid: absorbed into one padded convolution.
        for (int groups : {1, 4}) {
            Graph g("in");
            const int p = g.addNode("pad", "ZeroPadding2D", {0}, std::make_shared<ZeroPad2d>(Pad4{2, 0, 1, 3}));
            g.addNode("conv", "Conv2D", {p},
                      std::make_shared<Conv2d>(rnd({4, 4 / groups, 3, 3}, 60), rnd({4}, 61), std::array<int64_t, 2>{2, 2},
                                               Pad4{}, std::array<int64_t, 2>{1, 1}, groups));
            for (int size : {9, 10}) {
                auto x = rnd({2, 4, size, size + 1}, 62);
                auto ref = refConv(x, std::dynamic_pointer_cast<Conv2d>(g.node(2).module)->weight,
                                   std::dynamic_pointer_cast<Conv2d>(g.node(2).module)->bias, 2, 2, Pad4{2, 0, 1, 3}, groups);
                auto inf = inferenceGraph(g);
                QCOMPARE(inf->size(), 2);  // in, conv
                QCOMPARE(inf->indexOf("pad"), -1);
                QVERIFY(close(inf->forward(x.contiguous(at::MemoryFormat::ChannelsLast)).contiguous(), ref));
                QVERIFY(close(g.forward(x), ref));
            }
        }
    }

    void foldRelative() {
        // A chain with large-magnitude statistics: folded == unfolded (1e-4 relative).
        Graph g("in");
        const int c1 = g.addNode("c1", "Conv2D", {0},
                                 std::make_shared<Conv2d>(rnd({8, 3, 3, 3}, 40), Tensor(), std::array<int64_t, 2>{1, 1}, Pad4{1, 1, 1, 1}));
        const int b1 = g.addNode("b1", "BatchNormalization", {c1},
                                 std::make_shared<BatchNorm>(rnd({8}, 41) * 3, rnd({8}, 42), rnd({8}, 43) * 10,
                                                             rnd({8}, 44).abs() * 5 + 0.01, 1e-3));
        const int d = g.addNode("d", "Dense", {b1}, std::make_shared<Dense>(rnd({5, 8}, 45), rnd({5}, 46)));
        g.addNode("b2", "BatchNormalization", {d},
                  std::make_shared<BatchNorm>(rnd({5}, 47), rnd({5}, 48), rnd({5}, 49), rnd({5}, 50).abs() + 0.1, 1e-3));
        auto x = rnd({2, 3, 6, 6}, 51);
        auto ref = g.forward(x);
        auto f = foldBatchNorm(g);
        QCOMPARE(f->size(), 3);
        auto y = f->forward(x);
        const double rel = ((y - ref).abs().max() / ref.abs().max()).item<double>();
        QVERIFY2(rel < 1e-4, qPrintable(QString::number(rel)));
    }
};

QTEST_GUILESS_MAIN(TestLayers)
#include "test_layers.moc"
