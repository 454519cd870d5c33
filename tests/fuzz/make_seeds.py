#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<target>/ from small valid inputs and the
bad-input corpus (tests/data/bad). Run once after changing a format: python3 make_seeds.py."""
import glob, gzip, json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "..", "data", "bad")
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


for t in ("idx", "csv", "tfjs", "checkpoint"):
    shutil.rmtree(os.path.join(OUT, t), ignore_errors=True)

# IDX: valid images / labels, raw and gzip, and every IDX file of the bad corpus.
img = struct.pack(">IIII", 0x803, 3, 4, 4) + bytes(range(48))
lab = struct.pack(">II", 0x801, 3) + bytes([0, 1, 2])
put("idx", "images3x4x4", img)
put("idx", "labels3", lab)
put("idx", "images3x4x4.gz", gzip.compress(img, mtime=0))
put("idx", "labels3.gz", gzip.compress(lab, mtime=0))
for f in sorted(glob.glob(os.path.join(BAD, "idx_*", "*-ubyte*"))):
    put("idx", os.path.basename(os.path.dirname(f)) + "_" + os.path.basename(f), open(f, "rb").read())

# CSV: valid manifests (with and without header, quoting) and the bad corpus.
put("csv", "plain.csv", b"img/a.png,cat\nimg/a.png,dog,test\n")
put("csv", "header.csv", b"split,label,path,extra\ntrain,cat,img/a.png,1\nval,cat,\"img/a.png\",2\ntest,cat,img/a.png,\n")
put("csv", "quoted.csv", b"\xef\xbb\xbfpath,label\r\n\"img/a.png\",\"a \"\"quoted\"\", label\"\r\n")
for f in sorted(glob.glob(os.path.join(BAD, "csv", "*.csv"))):
    put("csv", os.path.basename(f), open(f, "rb").read())

# TFJS: model.json + NUL + shard, from every case of the bad corpus (one parses fully: the
# short shard case with a corrected shard).
for d in sorted(glob.glob(os.path.join(BAD, "tfjs_*"))):
    model = open(os.path.join(d, "model.json"), "rb").read()
    shard_path = os.path.join(d, "weights.bin")
    shard = open(shard_path, "rb").read() if os.path.exists(shard_path) else b""
    put("tfjs", os.path.basename(d), model + b"\0" + shard)
put("tfjs", "valid_conv", open(os.path.join(BAD, "tfjs_long_shard", "model.json"), "rb").read() + b"\0" +
    open(os.path.join(BAD, "tfjs_long_shard", "weights.bin"), "rb").read()[:224])
seq = {"modelTopology": {"model_config": {"class_name": "Sequential", "config": {"layers": [
    {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [None, 3]}}]}}},
    "weightsManifest": [{"paths": ["w.bin"], "weights": [
        {"name": "d/kernel", "shape": [3, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1}},
        {"name": "d/bias", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}]}
put("tfjs", "sequential_quantised", json.dumps(seq).encode() + b"\0" + bytes(range(6)) + struct.pack("<2e", 0.5, -2.0))

# Project files: see corpus/project (hand-written seeds, kept as they are), plus one nested
# 40 000 deep (issue 17: a deep view_state overflowed the stack in the JSON library).
DEEP = 40000
put("project", "deep_view_state.pqwproj", ('{"format": "protoquant-workbench-project", "version": 1, "view_state": {"a": ' +
                                            "[" * DEEP + "]" * DEEP + "}}").encode())
# Checkpoints: every file of the bad corpus (several are valid files).
for f in sorted(glob.glob(os.path.join(BAD, "checkpoints", "*.pqwh"))):
    put("checkpoint", os.path.basename(f), open(f, "rb").read())
print("seeds:", {t: len(os.listdir(os.path.join(OUT, t))) for t in sorted(os.listdir(OUT))})
