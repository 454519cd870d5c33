// OMENN over TorchScript graphs: the walker behind `pqw explain --script` and TorchScript
// trunks under a head. See docs/omenn.md, "TorchScript models".
//
// Two passes over the frozen graph (torch::jit::freeze: weights constant, submodules inlined):
//  1. a dependency pass (backwards from the output) marks the values on the *linear path*:
//     those the output is linear in once every gate is frozen. A gate function (sigmoid,
//     softmax, rsqrt, ...) stops the marking; so do a divisor and the query / key of
//     attention. A value that only shapes a gate is never marked.
//  2. the evaluation: unmarked values are computed detached (no autograd: the attention
//     scores q k^T, a LayerNorm's variance, an SE branch); marked ones run through the op's
//     frozen linear piece with autograd, recording every bias term with its placement.
// A value computed by a gate function from the input ("gate value") may meet the linear
// path only as a factor (mul, div, matmul, einsum, attention); a product of two linear-path
// values, or a gate value added to the linear path, is refused naming the op.
#include <torch/torch.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "omenn/script_eval.h"

namespace pqw::omenn::walker {

/// Evaluates the graph: input 0 the module, input 1 the image x [1, C, H, W] (requires grad).
torch::Tensor ScriptEval::run(const std::shared_ptr<torch::jit::Graph>& graph, const c10::IValue& self, const torch::Tensor& x) {
    if (graph->inputs().size() != 2) throw Error(std::string(kPrefix) + "forward must take one tensor");
    if (graph->outputs().size() != 1) throw Error(std::string(kPrefix) + "forward must return one tensor");
    need_.insert(graph->outputs()[0]);
    markBlock(graph->block());
    env[graph->inputs()[0]] = self;
    env[graph->inputs()[1]] = x;
    Placement p;
    p.kind = PK::Grid;
    p.h = 2;
    p.w = 3;
    place_[graph->inputs()[1]] = p;
    runBlock(graph->block());
    const Value* o = graph->outputs()[0];
    const auto& out = env.at(o);
    if (!out.isTensor()) throw Error(std::string(kPrefix) + "forward must return one tensor");
    auto g = gate_.find(o);
    if (g != gate_.end() && !out.toTensor().requires_grad())
        throw Error(std::string(kPrefix) + "the output depends on the input only through " + g->second +
                    ", which has no linear path (gates are supported as factors: x * gate(x), attention @ v)");
    return out.toTensor();
}

}  // namespace pqw::omenn::walker

namespace pqw {

using omenn::walker::kPrefix;

torch::Tensor omenn::scriptFrozenForward(const torch::jit::Module& frozen, const torch::Tensor& x,
                                         std::vector<BiasTerm>& biases) {
    omenn::walker::ScriptEval ev(biases);
    return ev.run(frozen.get_method("forward").graph(), frozen._ivalue(), x);
}

namespace {

/// The frozen copy of `module` (clone, eval, torch::jit::freeze), cached: freezing costs about
/// a forward pass (2.4 s of a 20.8 s ConvNeXt-T explanation on a loaded machine), and
/// explanations of one module come in series (all classes, a view, a benchmark). An entry is
/// reused only for the same module object (held weakly, so a freed module is never matched by
/// its address) whose tensor attributes (parameters, buffers) are the same tensors at the same
/// version counters: replacing a parameter or writing into it in place freezes again.
torch::jit::Module frozenCopy(const torch::jit::Module& module) {
    using Key = std::vector<std::pair<const void*, uint32_t>>;
    Key key;
    for (const auto& a : module.named_attributes(/*recurse=*/true))
        if (a.value.isTensor() && a.value.toTensor().defined())
            key.emplace_back(a.value.toTensor().unsafeGetTensorImpl(), a.value.toTensor()._version());
    struct Entry {
        c10::weak_intrusive_ptr<c10::ivalue::Object> object;
        Key key;
        torch::jit::Module frozen;
    };
    static std::mutex mu;
    static std::list<Entry> cache;  // most recent first
    constexpr size_t kEntries = 2;
    {
        std::lock_guard<std::mutex> lock(mu);
        for (auto it = cache.begin(); it != cache.end();) {
            auto strong = it->object.lock();
            if (!strong) {
                it = cache.erase(it);
                continue;
            }
            if (strong.get() == module._ivalue().get() && it->key == key) {
                cache.splice(cache.begin(), cache, it);
                return cache.front().frozen;
            }
            ++it;
        }
    }
    auto m = module.clone();
    m.eval();
    torch::jit::Module frozen;
    try {
        frozen = torch::jit::freeze(m);
    } catch (const c10::Error& e) {
        throw Error(std::string(kPrefix) + "the module cannot be frozen (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
    std::lock_guard<std::mutex> lock(mu);
    cache.push_front(Entry{c10::weak_intrusive_ptr<c10::ivalue::Object>(module._ivalue()), std::move(key), frozen});
    if (cache.size() > kEntries) cache.pop_back();
    return frozen;
}

}  // namespace

Attribution explainScriptModule(const torch::jit::Module& module, const torch::Tensor& x0, int index) {
    const auto frozen = frozenCopy(module);
    // The frozen pass is the model's forward (the same ops on the same values, every gate
    // reproducing its activation), so z is read from it: no second forward. Its agreement with
    // the module's own output is tested (test_omenn, test_omenn_families against PyTorch).
    omenn::FrozenPass fp;
    fp.x = x0.detach().clone().requires_grad_(true);
    fp.logits = omenn::scriptFrozenForward(frozen, fp.x, fp.biases).flatten();
    if (index < 0 || index >= fp.logits.size(0)) throw Error("output " + std::to_string(index) + " out of range");
    auto z = fp.logits[index];
    const double real = z.item<double>();
    if (!z.requires_grad()) {  // the output does not depend on the input: all bias
        Attribution a;
        a.method = "omenn";
        a.channels = static_cast<int>(x0.size(1));
        a.height = static_cast<int>(x0.size(2));
        a.width = static_cast<int>(x0.size(3));
        a.perChannel.assign(static_cast<size_t>(x0.numel()), 0.f);
        a.map.assign(static_cast<size_t>(a.height * a.width), 0.f);
        a.biasSum = real;
        a.biasMap.assign(a.map.size(), static_cast<float>(a.biasSum / static_cast<double>(a.map.size())));
        a.output = real;
        a.completenessError = 0.0;
        return a;
    }
    return omenn::attribute(fp, z, real, false);
}

namespace {
torch::jit::Module loadScript(const std::string& path) {
    try {
        return torch::jit::load(path);
    } catch (const c10::Error& e) {
        throw Error(path + ": not a TorchScript module (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
}
}  // namespace

std::vector<float> torchScriptOutputs(const std::string& path, const float* x, int channels, int height, int width) {
    auto m = loadScript(path);
    m.eval();
    torch::NoGradGuard ng;
    auto xt = torch::from_blob(const_cast<float*>(x), {1, channels, height, width}, torch::kFloat).clone();
    // The output must be what a classifier returns (issue 17, case 11).
    torch::jit::IValue out;
    try {
        out = m.forward({xt});
    } catch (const c10::Error& e) {
        std::string w = e.what_without_backtrace();
        throw Error(path + ": fails on a " + std::to_string(channels) + "x" + std::to_string(height) + "x" +
                    std::to_string(width) + " input: " + w.substr(0, w.find('\n')).substr(0, 200));
    } catch (const std::exception& e) {  // the TorchScript interpreter's own errors (std::runtime_error)
        std::string w = e.what();
        throw Error(path + ": fails on a " + std::to_string(channels) + "x" + std::to_string(height) + "x" +
                    std::to_string(width) + " input: " + w.substr(0, w.find('\n')).substr(0, 200));
    }
    if (!out.isTensor()) throw Error(path + ": forward() must return a tensor of logits [1, classes], not " + out.tagKind());
    auto y = out.toTensor();
    if (!y.is_floating_point())
        throw Error(path + ": forward() returned " + std::string(c10::toString(y.scalar_type())) +
                    " values; logits must be floating point");
    if (y.dim() != 2 || y.size(0) != 1)
        throw Error(path + ": forward() returned shape " + c10::str(y.sizes()) + "; a classifier's logits [1, classes] are needed");
    y = y.to(torch::kFloat).flatten().contiguous();
    if (!torch::isfinite(y).all().item<bool>()) throw Error(path + ": forward() returned NaN or infinite logits");
    return {y.data_ptr<float>(), y.data_ptr<float>() + y.numel()};
}

Attribution explainTorchScript(const std::string& path, const float* x, int channels, int height, int width,
                               int outputIndex) {
    auto m = loadScript(path);
    auto xt = torch::from_blob(const_cast<float*>(x), {1, channels, height, width}, torch::kFloat).clone();
    return explainScriptModule(m, xt, outputIndex);
}

}  // namespace pqw
