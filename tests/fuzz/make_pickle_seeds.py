#!/usr/bin/python3
"""Writes the seed corpus tests/fuzz/corpus/pickle/ for fuzz_pickle: data.pkl records of small
torch.save files (state dict, ProtoQuant payload, cuda:0 locations, shared storages) and
whole legacy (non-zip) torch.save streams, plus a refused global. Needs Debian's python3-torch:
run once after changing the reader with /usr/bin/python3 make_pickle_seeds.py."""
import collections, io, os, shutil, zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "pickle")
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
g = torch.Generator().manual_seed(0)
sd = collections.OrderedDict()
sd["0.weight"] = torch.randn(2, 3, 1, 1, generator=g)
sd["1.running_var"] = torch.rand(2, generator=g)
sd["1.num_batches_tracked"] = torch.tensor(3)
base = torch.randn(4, 4, generator=g)
sd["view.t"] = base.t()           # non-contiguous strides
sd["view.row"] = base[1]          # storage offset, shared storage
sd["half"] = torch.randn(3, generator=g).half()
objs = {
    "state_dict": sd,
    "payload": {"model": sd, "epoch": 7, "val_top1": torch.tensor(83.25), "name": "x", "lst": [1, 2.5, None, True]},
    "tensor": torch.arange(6.0).reshape(2, 3),
}


def data_pkl(obj):
    b = io.BytesIO()
    torch.save(obj, b)
    z = zipfile.ZipFile(io.BytesIO(b.getvalue()))
    return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


for name, obj in objs.items():
    open(os.path.join(OUT, name + ".pkl"), "wb").write(data_pkl(obj))
    b = io.BytesIO()
    torch.save(obj, b, _use_new_zipfile_serialization=False)
    open(os.path.join(OUT, name + ".legacy"), "wb").write(b.getvalue())

real = torch.serialization.location_tag
torch.serialization.location_tag = lambda s: "cuda:0"
open(os.path.join(OUT, "cuda.pkl"), "wb").write(data_pkl(sd))
torch.serialization.location_tag = real


class Evil:
    def __reduce__(self):
        return (os.system, ("true",))


open(os.path.join(OUT, "evil.pkl"), "wb").write(data_pkl({"x": Evil()}))
