"""bench/run-omenn-script.sh's helper.
`write DIR`: torchvision convnext_tiny and vit_b_16 with seeded random weights (weights=None),
traced at 224 px as users export them (eval, no_grad, torch.jit.trace): DIR/NAME.pt, plus the
same weights as DIR/NAME.pth for the eager model.
`run NAME DIR SIZE REPEATS THREADS`: PyTorch on the same weights and input as
bench_omenn_script (x = rand*2-1 is not bit-identical, only the same shape): medians, in ms, of
one forward of the traced module (no_grad), one Gradient x Input on the eager torchvision model
(forward with grad + backward of the top logit + x * grad) and the same on the traced module.
Prints "forward_ms gxi_eager_ms gxi_script_ms" (nan when PyTorch cannot differentiate the traced
module: the fused attention of a traced ViT has no derivative)."""
import sys
import time
import warnings

import torch
import torchvision

warnings.filterwarnings("ignore")

MODELS = {"convnext_tiny": torchvision.models.convnext_tiny, "vit_b_16": torchvision.models.vit_b_16}

if sys.argv[1] == "write":
    for name, make in MODELS.items():
        torch.manual_seed(0)
        m = make(weights=None).eval()
        if name == "vit_b_16":  # torchvision zero-initialises the ViT classifier: give it weights
            torch.nn.init.normal_(m.heads.head.weight, std=0.02)
        torch.save(m.state_dict(), f"{sys.argv[2]}/{name}.pth")
        with torch.no_grad():
            torch.jit.trace(m, torch.rand(1, 3, 224, 224)).save(f"{sys.argv[2]}/{name}.pt")
    sys.exit(0)

name, d, size, repeats, threads = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
torch.set_num_threads(threads)
eager = MODELS[name](weights=None)
eager.load_state_dict(torch.load(f"{d}/{name}.pth"))
eager.eval()
script = torch.jit.load(f"{d}/{name}.pt").eval()
x0 = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(7)) * 2 - 1


def fwd():
    with torch.no_grad():
        return script(x0)


def gxi(m):
    x = x0.clone().requires_grad_(True)
    y = m(x)[0]
    y[int(y.argmax())].backward()
    return x * x.grad


def median_ms(fn):
    for _ in range(3):  # warm-up: TorchScript's profiling executor optimises after a few calls
        fn()
    t = []
    for _ in range(repeats):
        a = time.perf_counter()
        fn()
        t.append(1000 * (time.perf_counter() - a))
    t.sort()
    return t[len(t) // 2]


def script_gxi_ms():
    try:
        return f"{median_ms(lambda: gxi(script)):.1f}"
    except RuntimeError:  # a traced ViT: "derivative for aten::_native_multi_head_attention is not implemented"
        return "nan"


print(f"{median_ms(fwd):.1f} {median_ms(lambda: gxi(eager)):.1f} {script_gxi_ms()}")
