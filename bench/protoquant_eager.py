"""PyTorch eager version of one stage-1 epoch, one stage-2 epoch and the prototype-index
build, on the same memory-mapped fp16 feature cache and the same stage-0 head (read from the
checkpoint bench_protoquant wrote), same batch sizes and thread count. Prints the median
seconds of each, like bench_protoquant."""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

cache_dir, ckpt = sys.argv[1], sys.argv[2]
codes_k = int(sys.argv[3]) if len(sys.argv) > 3 else 256
repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)

meta = json.load(open(f"{cache_dir}/meta.json"))
D, H, W = meta["shape"]
N = meta["count"]
feats = torch.from_numpy(np.memmap(f"{cache_dir}/features.f16", dtype=np.float16, mode="r", shape=(N, D, H * W)))
labels = torch.tensor(meta["labels"])
splits = torch.tensor(meta["splits"])
invalid = set(meta.get("invalid", []))
train = [i for i in range(N) if splits[i] == 0 and i not in invalid]
val = [i for i in range(N) if splits[i] == 1 and i not in invalid]

raw = open(ckpt, "rb").read()
assert raw[:8] == b"PQWHEAD1"
(mlen,) = struct.unpack("<Q", raw[8:16])
m = json.loads(raw[16:16 + mlen])
payload = raw[16 + mlen:]
T = {t["name"]: torch.frombuffer(bytearray(payload[t["offset"]:t["offset"] + t["bytes"]]), dtype=torch.float32)
     .reshape(t["shape"]) for t in m["tensors"]}
lnw, lnb, fcw, fcb = T["ln.weight"], T["ln.bias"], T["fc.weight"], T["fc.bias"]
n_cls = fcw.shape[0]


def batch(ids):
    return feats[torch.tensor(ids)].float().transpose(1, 2).contiguous()


def head0(p):
    return F.linear(F.layer_norm(p, (D,), lnw, lnb, 1e-5), fcw, fcb)


def assign(f, c):
    return (F.normalize(f, dim=-1) @ F.normalize(c, dim=-1).t()).argmax(-1)


def stage1_epoch():
    codes = torch.nn.init.orthogonal_(torch.empty(codes_k, D)).requires_grad_(True)
    opt = torch.optim.Adam([codes], lr=5e-4)
    perm = torch.randperm(len(train)).tolist()
    for s in range(0, len(train), 128):
        ids = [train[i] for i in perm[s:s + 128]]
        f, y = batch(ids), labels[ids]
        with torch.no_grad():
            idx = assign(f, codes)
        q = codes[idx.reshape(-1)].view(f.shape)
        loss = F.cross_entropy(head0(q.mean(1)), y, label_smoothing=0.1) + (q - f).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for s in range(0, len(val), 512):
            ids = val[s:s + 512]
            f = batch(ids)
            head0(codes[assign(f, codes).reshape(-1)].view(f.shape).mean(1)).argmax(1)
    return codes.detach()


def head_forward(f, codes, Wt, tau=0.1):
    S = F.normalize(f, dim=-1) @ F.normalize(codes, dim=-1).t()
    A = torch.softmax(S / tau, -1)
    pi = A.max(1).values
    return pi @ torch.relu(Wt).t(), A


def stage2_epoch(codes):
    Wt = (torch.randn(n_cls, codes_k) * 0.1 + 1.0).requires_grad_(True)
    opt = torch.optim.Adam([Wt], lr=1e-3)
    perm = torch.randperm(len(train)).tolist()
    for s in range(0, len(train), 128):
        ids = [train[i] for i in perm[s:s + 128]]
        z, _ = head_forward(batch(ids), codes, Wt)
        loss = F.cross_entropy(z, labels[ids])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for s in range(0, len(val), 512):
            head_forward(batch(val[s:s + 512]), codes, Wt)[0].argmax(1)
    return Wt.detach()


def index(codes, Wt, k=10):
    best_v = torch.full((0, codes_k), -1.0)
    best_s = torch.zeros((0, codes_k), dtype=torch.long)
    best_c = torch.zeros((0, codes_k), dtype=torch.long)
    usage = torch.zeros(codes_k, dtype=torch.long)
    with torch.no_grad():
        for s in range(0, len(train), 256):
            ids = train[s:s + 256]
            f = batch(ids)
            _, A = head_forward(f, codes, Wt)
            mx, cell = A.max(1)
            usage += torch.bincount(A.argmax(-1).reshape(-1), minlength=codes_k)
            v = torch.cat([best_v, mx])
            sid = torch.cat([best_s, torch.tensor(ids).unsqueeze(1).expand(-1, codes_k)])
            cc = torch.cat([best_c, cell])
            tv, ti = v.topk(min(k, v.shape[0]), 0)
            best_v, best_s, best_c = tv, sid.gather(0, ti), cc.gather(0, ti)


t1, t2, ti = [], [], []
for _ in range(repeats):
    t0 = time.perf_counter(); codes = stage1_epoch(); t1.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); Wt = stage2_epoch(codes); t2.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); index(codes, Wt); ti.append(time.perf_counter() - t0)
med = lambda v: sorted(v)[len(v) // 2]
print(f"{med(t1):.4f} {med(t2):.4f} {med(ti):.4f}")
