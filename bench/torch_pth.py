"""bench/run-pth.sh's helper. `write DIR`: writes torchvision convnext_tiny, resnet50 and
vit_b_16 with seeded random weights (weights=None) as state dicts DIR/<name>.pth.
`run FILE SIZE BATCH REPEATS THREADS`: PyTorch eager on the same weights, the same trunk the
workbench builds (ConvNeXt: model.features; ResNet: conv1..layer4; ViT: the official
ProtoQuant code's ViTWithGAP.forward_features, i.e. patch tokens + class token through the
encoder, then the patch tokens as a 14 x 14 grid), eval, no_grad; prints the median images/s."""
import sys
import time

import torch
import torchvision

if sys.argv[1] == "write":
    torch.manual_seed(0)
    torch.save(torchvision.models.convnext_tiny(weights=None).state_dict(), sys.argv[2] + "/convnext_tiny.pth")
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), sys.argv[2] + "/resnet50.pth")
    torch.save(torchvision.models.vit_b_16(weights=None).state_dict(), sys.argv[2] + "/vit_b_16.pth")
    sys.exit(0)

path, size, batch, repeats, threads = sys.argv[2], *map(int, sys.argv[3:7])
torch.set_num_threads(threads)
if "convnext" in path:
    m = torchvision.models.convnext_tiny(weights=None)
    m.load_state_dict(torch.load(path))
    trunk = m.features
elif "vit" in path:
    m = torchvision.models.vit_b_16(weights=None)
    m.load_state_dict(torch.load(path))

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m  # a submodule, so that trunk.eval() reaches it

        def forward(self, x):
            t = self.m._process_input(x)
            t = self.m.encoder(torch.cat((self.m.class_token.expand(t.shape[0], -1, -1), t), 1))[:, 1:]
            s = int(t.shape[1] ** 0.5)
            return t.transpose(1, 2).reshape(t.shape[0], -1, s, s)

    trunk = Trunk()
else:
    m = torchvision.models.resnet50(weights=None)
    m.load_state_dict(torch.load(path))
    trunk = torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4)
trunk.eval()
x = torch.rand(batch, 3, size, size)
with torch.no_grad():
    trunk(x)  # warm-up
    ips = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trunk(x)
        ips.append(batch / (time.perf_counter() - t0))
ips.sort()
print(f"{ips[len(ips) // 2]:.2f}")
