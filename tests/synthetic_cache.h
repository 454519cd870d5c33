#pragma once
// A hand-made feature cache for tests (shared by test_protoquant and test_pruning_kinds):
// D x H x W feature maps where class c has one cell holding "part" c and background cells
// elsewhere, plus small noise. Splits: 60 % train, 20 % val, 20 % test.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace synth {

constexpr int D = 8, H = 3, W = 3, NC = 3;

/// Direction of "part" c (the class evidence) and of the background.
inline torch::Tensor partVector(int c) {
    auto v = torch::zeros({D});
    v[c] = 4.0;
    v[c + 4] = 1.0;
    return v;
}
inline torch::Tensor backgroundVector() {
    auto v = torch::zeros({D});
    v[3] = 3.0;
    v[7] = 1.0;
    return v;
}

/// Writes a feature cache by hand: class c images have background cells everywhere except
/// one random cell holding part c; small noise. Splits: 60 % train, 20 % val, 20 % test.
inline void writeSyntheticCache(const std::string& dir, int n, uint64_t seed, std::vector<std::string> classes = {"a", "b", "c"},
                         const std::string& backbone = "synthetic-backbone") {
    std::filesystem::create_directories(dir);
    torch::manual_seed(seed);
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto feats = torch::empty({n, D, H * W});
    nlohmann::json labels = nlohmann::json::array(), splits = nlohmann::json::array();
    for (int i = 0; i < n; ++i) {
        const int c = i % NC;
        const int cell = static_cast<int>(rng() % (H * W));
        for (int k = 0; k < H * W; ++k) {
            auto v = (k == cell ? partVector(c) : backgroundVector()) + 0.1 * torch::randn({D});
            feats[i].select(1, k).copy_(v);
        }
        labels.push_back(c);
        const int r = i % 10;
        splits.push_back(r < 6 ? 0 : (r < 8 ? 1 : 2));
    }
    auto half = feats.to(torch::kHalf).contiguous();
    std::ofstream(dir + "/features.f16", std::ios::binary)
        .write(reinterpret_cast<const char*>(half.data_ptr()), static_cast<std::streamsize>(half.numel() * 2));
    nlohmann::json m = {{"format", "pqw-feature-cache"}, {"version", 1}, {"fingerprint", "synthetic-" + std::to_string(seed)},
              {"backbone", {{"id", backbone}, {"cut", "cut"}, {"stride", 16}, {"receptive_field", 40}}},
              {"input_size", 48}, {"shape", {D, H, W}}, {"count", n}, {"done", n}, {"classes", classes},
              {"labels", labels}, {"splits", splits}, {"invalid", nlohmann::json::array()}};
    std::ofstream(dir + "/meta.json") << m.dump();
}

}  // namespace synth
