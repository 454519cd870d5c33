// A stage-0 head supplied as a TorchScript module: loading, validation against a feature
// cache, and its forward pass (differentiable in the input, parameters frozen).
#include <torch/script.h>

#include <filesystem>
#include <sstream>

#include "model_impl.h"
#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw {

namespace pq {

struct ScriptHead {
    mutable torch::jit::Module module;
};

std::shared_ptr<const ScriptHead> loadScriptHead(const std::string& bytes, const std::string& name) {
    auto h = std::make_shared<ScriptHead>();
    try {
        std::istringstream in(bytes);
        h->module = torch::jit::load(in);
    } catch (const std::exception& e) {
        throw Error(name + ": not a TorchScript module (" + std::string(e.what()).substr(0, 160) + ")");
    }
    h->module.eval();
    for (auto p : h->module.parameters()) p.set_requires_grad(false);
    return h;
}

torch::Tensor scriptHeadForward(const ScriptHead& h, const torch::Tensor& maps) {
    auto out = h.module.forward({maps});
    if (!out.isTensor()) throw Error("the TorchScript stage-0 head did not return a tensor");
    return out.toTensor();
}

}  // namespace pq

void setStage0TorchScript(ProtoModel& m, const std::string& path, const FeatureCache& cache) {
    m.checkCompatible(cache);
    auto& d = m.impl();
    const std::string bytes = readFile(path);
    auto head = pq::loadScriptHead(bytes, path);
    const auto train = cache.indices(Split::Train);
    if (train.empty()) throw Error(path + ": cannot be checked: the feature cache has no training samples");
    const auto sh = cache.shape();
    const std::vector<size_t> two(train.begin(), train.begin() + long(std::min<size_t>(2, train.size())));
    auto x = torch::empty({int64_t(two.size()), sh[0], sh[1], sh[2]});
    for (size_t i = 0; i < two.size(); ++i) cache.read(two[i], x[int64_t(i)].data_ptr<float>());
    torch::Tensor z;
    const std::string in = "[" + std::to_string(two.size()) + ", " + std::to_string(sh[0]) + ", " +
                           std::to_string(sh[1]) + ", " + std::to_string(sh[2]) + "]";
    try {
        torch::NoGradGuard ng;
        z = pq::scriptHeadForward(*head, x);
    } catch (const std::exception& e) {
        throw Error(path + ": the stage-0 module does not run on the cached feature maps " + in + " (" +
                    std::string(e.what()).substr(0, 240) + ")");
    }
    const int64_t N = d.N();
    if (z.dim() != 2 || z.size(0) != int64_t(two.size()) || z.size(1) != N || z.scalar_type() != torch::kFloat)
        throw Error(path + ": the stage-0 module maps feature maps " + in + " to " + c10::str(z.sizes()) + " " +
                    std::string(c10::toString(z.scalar_type())) + "; float logits [" + std::to_string(two.size()) +
                    ", " + std::to_string(N) + "] (one per class of the cache) are needed");
    if (!torch::isfinite(z).all().item<bool>())
        throw Error(path + ": the stage-0 module returns NaN or infinite logits on the cached feature maps " + in);
    d.stage0 = true;
    d.stage0Script = head;
    d.stage0ScriptBytes = bytes;
    d.stage0ScriptName = std::filesystem::path(path).filename().string();
    d.lnWeight = d.lnBias = d.fcWeight = d.fcBias = torch::Tensor();
    // A codebook and head learned through another stage 0 no longer belong to this one.
    d.codes = torch::Tensor();
    d.W = torch::Tensor();
    d.enabled.clear();
    d.hyper["stage0"] = {{"torchscript", d.stage0ScriptName}, {"fnv1a64", hex64(fnv1a64(bytes.data(), bytes.size()))}};
}

}  // namespace pqw
