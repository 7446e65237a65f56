#!/usr/bin/python3
"""Runs the weights and input that dump.c wrote through torch_reference.py's
ReferenceModel (mapping our torchvision-style names onto its names) and prints
the largest difference of each output.  Usage: compare.py DIR [1 = training mode]"""
import os, sys, re, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.environ.get("MUST_TORCH_REFERENCE_DIR", "/work/shared/bench"))
from torch_reference import ReferenceModel
d = sys.argv[1]; training = len(sys.argv) > 2 and sys.argv[2] == "1"
idx = {}
for line in open(d + "/index.txt"):
    p = line.split(); idx[p[0]] = [int(v) for v in p[1:]]
def load(n): return torch.from_numpy(np.fromfile(f"{d}/{n}.bin", dtype=np.float32).reshape(idx[n]))
def tname(n):
    n = re.sub(r"^conv1\.", "stem.0.", n); n = re.sub(r"^bn1\.", "stem.1.", n)
    n = re.sub(r"^(layer\d\.\d)\.conv1\.", r"\1.a.0.", n); n = re.sub(r"^(layer\d\.\d)\.bn1\.", r"\1.a.1.", n)
    n = re.sub(r"^(layer\d\.\d)\.conv2\.", r"\1.b.0.", n); n = re.sub(r"^(layer\d\.\d)\.bn2\.", r"\1.b.1.", n)
    n = re.sub(r"\.downsample\.", ".down.", n)
    n = re.sub(r"^fpn\.lateral(\d)", r"lat\1", n); n = re.sub(r"^fpn\.output(\d)", r"out\1", n)
    n = re.sub(r"^fpn\.p(\d)", r"p\1", n); n = re.sub(r"^fc\.", "cls.", n)
    return n
m = ReferenceModel()
sd = m.state_dict()
new = {}
for n in idx:
    if n.startswith("out.") or n.startswith("lvl.") or n == "input": continue
    t = tname(n); assert t in sd, (n, t); assert tuple(sd[t].shape) == tuple(idx[n]), (n, sd[t].shape, idx[n]); new[t] = load(n)
missing = [k for k in sd if k not in new and not k.endswith("num_batches_tracked")]
assert not missing, missing
m.load_state_dict(new, strict=False)
m.train(training)
x = load("input")
with torch.no_grad():
    lc, ls, ld = m(x)
for name, t in (("logits", lc), ("seg", ls), ("depth", ld)):
    o = load("out." + name)
    print(name, tuple(t.shape), "max abs diff %.3g" % (o - t).abs().max().item(), "max abs %.3g" % t.abs().max().item())
