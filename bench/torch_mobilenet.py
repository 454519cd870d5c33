"""PyTorch eager baseline for bench/run-extract.sh: torchvision's MobileNetV2 features up to
block 10 (features[:12], 96 channels at stride 16), eval mode, no_grad, same batch and
thread count. Prints the median images/s over repeats."""
import sys
import time

import torch
import torchvision

size = int(sys.argv[1]) if len(sys.argv) > 1 else 112
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 7
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.mobilenet_v2(weights=None).features[:12].eval()
x = torch.rand(batch, 3, size, size)
with torch.no_grad():
    out = model(x)
    assert out.shape[1] == 96, out.shape
    model(x)  # warm-up
    ips = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x)
        ips.append(batch / (time.perf_counter() - t0))
ips.sort()
print(f"{ips[len(ips) // 2]:.2f}")
