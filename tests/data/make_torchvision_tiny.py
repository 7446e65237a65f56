#!/usr/bin/python3
"""Makes the torchvision-style safetensors fixtures that tests/test_checkpoint.c loads.

A tiny ResNet-shaped module (conv1, bn1, layer1.0.conv1, layer1.0.bn1, fc) is built with
torch.nn, its values set by a formula the C test recomputes:

    tensor k of the state_dict (0-based), element i:  (k + 1) + i / 64

(exact in float32 and float16; in bfloat16, fc.bias[1] = 14 + 1/64 rounds to 14), and the
BN counters num_batches_tracked set to 7.
The state_dict is written in the safetensors format by hand (the `safetensors` package
is not needed): JSON keys sorted by name, data ordered by dtype size then name as the
reference implementation does, header padded with spaces to 8 bytes.

    torchvision_tiny.safetensors       float32 weights, int64 counters
    torchvision_tiny_f16.safetensors   model.half(): float16 weights, bfloat16 fc.bias

Run from this directory with PyTorch installed:  python3 make_torchvision_tiny.py
"""
import json
import struct

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(Block())
        self.fc = nn.Linear(4, 2)


DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: the bytes of an int16 view are the same.
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write(path, state, metadata):
    order = sorted(state, key=lambda k: (-state[k].element_size(), k))
    header, blobs, off = {}, [], 0
    for name in order:
        b = raw_bytes(state[name])
        header[name] = {"dtype": DTYPES[state[name].dtype], "shape": list(state[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    m = Tiny()
    with torch.no_grad():
        for k, (name, t) in enumerate(m.state_dict().items()):
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            else:
                n = t.numel()
                t.copy_(((k + 1) + torch.arange(n, dtype=torch.float64) / 64).reshape(t.shape))
    write("torchvision_tiny.safetensors", m.state_dict(), {"format": "pt"})
    sd = m.half().state_dict()
    sd["fc.bias"] = sd["fc.bias"].to(torch.bfloat16)
    write("torchvision_tiny_f16.safetensors", sd, {"format": "pt"})
    for k, (name, t) in enumerate(sd.items()):
        print(k, name, DTYPES[t.dtype], list(t.shape))


if __name__ == "__main__":
    main()
