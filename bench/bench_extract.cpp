// Feature-extraction throughput of the default trunk (MobileNetV2 cut at block_10),
// images/s at a given input size and batch, median over repeats. The PyTorch eager
// baseline runs in bench/torch_mobilenet.py; bench/run-extract.sh runs both and prints
// the ratio. A 5th argument names another backbone file (e.g. a torchvision .pth state dict;
// bench/run-pth.sh compares native ConvNeXt-T / ResNet-50 with PyTorch eager on it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "pqw/backbone.h"
#include "pqw/backbone_files.h"
#include "pqw/util.h"

int main(int argc, char** argv) {
    const int size = argc > 1 ? std::atoi(argv[1]) : 112;
    const int batch = argc > 2 ? std::atoi(argv[2]) : 64;
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 7;
    const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
    pqw::initTorchThreads(threads);
    pqw::BackboneSpec spec;
    if (argc > 5) {
        spec.path = argv[5];
        spec.kind = pqw::backboneKindForPath(spec.path);
    }
    const auto bb = pqw::Backbone::open(spec);
    const auto shape = bb.featureShape(size);
    std::vector<float> in(static_cast<size_t>(batch) * 3 * size * size), out(static_cast<size_t>(batch) * shape[0] * shape[1] * shape[2]);
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (auto& v : in) v = u(rng);
    bb.forward(in.data(), batch, size, out.data());  // warm-up
    std::vector<double> ips;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        bb.forward(in.data(), batch, size, out.data());
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ips.push_back(batch / s);
    }
    std::sort(ips.begin(), ips.end());
    std::printf("%.2f\n", ips[ips.size() / 2]);
    return 0;
}
