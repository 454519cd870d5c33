"""PyTorch eager Gradient x Input (what Captum's InputXGradient costs) on the default trunk's
architecture: torchvision's MobileNetV2 features[:12] (96 x S/16 x S/16) + global mean +
Linear(96, 10), eval mode, batch 1, same threads; the baseline of issue 19's OMENN target.
usage: torch_mobilenet_gxi.py SIZE REPEATS THREADS  -> prints "forward_ms gxi_ms" (medians)"""
import sys
import time

import torch
import torchvision

size, repeats, threads = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torch.nn.Sequential(torchvision.models.mobilenet_v2(weights=None).features[:12],
                            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(96, 10)).eval()
for p in model.parameters():
    p.requires_grad_(False)
x0 = torch.rand(1, 3, size, size)


def fwd():
    with torch.no_grad():
        model(x0)


def gxi():
    x = x0.clone().requires_grad_(True)
    model(x)[0, 3].backward()
    return x * x.grad


def median_ms(fn):
    fn()
    t = []
    for _ in range(repeats):
        a = time.perf_counter()
        fn()
        t.append(1000 * (time.perf_counter() - a))
    return sorted(t)[len(t) // 2]


print(f"{median_ms(fwd):.2f} {median_ms(gxi):.2f}")
