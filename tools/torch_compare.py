#!/usr/bin/env python3
"""Check patchwork against PyTorch: same weights, same input, compare logits, loss and gradients.

PyTorch is a reference only (Debian's python3-torch: `apt-get install python3-torch`); the engine
and its tests never need Python. Safetensors files are written and read here by a few lines of
code, so no other Python package is needed.

  # one command: build the model in PyTorch, run `patchwork forward` on the same weights and
  # input, print the largest relative difference of every output, fail above --tolerance
  python3 tools/torch_compare.py compare --model alexnet-small --mode train
  python3 tools/torch_compare.py compare --model vgg11_bn --input-size 3,64,64 --classes 10

  # regenerate the committed fixtures of tests/test_torch_fixtures.cpp (seeded, deterministic)
  python3 tools/torch_compare.py fixtures --out tests/fixtures

Models known here (written as torchvision writes them, names equal to patchwork's):
alexnet, vgg11/13/16/19[_bn], alexnet-small, vgg-small, fmnist-cnn. Dropout is built with p=0 in
train mode (the two frameworks draw different masks); batch norm runs on batch statistics in
train mode and on running statistics in eval mode.
"""
import argparse
import collections
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn

# ---------------------------------------------------------------- safetensors, minimal
_DT = {torch.float32: ("F32", 4), torch.float64: ("F64", 8), torch.int32: ("I32", 4), torch.int64: ("I64", 8)}
_TD = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I32": (torch.int32, 4), "I64": (torch.int64, 8)}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        code, size = _DT[t.dtype]
        data = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        dtype, _ = _TD[e["dtype"]]
        b, end = e["data_offsets"]
        buf = bytearray(raw[8 + n + b:8 + n + end])
        out[name] = torch.frombuffer(buf, dtype=dtype).reshape(e["shape"]) if buf else torch.zeros(e["shape"], dtype=dtype)
    return out


# ---------------------------------------------------------------- the models, as patchwork builds them
def scaled(n, width):
    # Half away from zero, as C++'s std::llround (Python's round() goes to even).
    return max(1, math.floor(n * width + 0.5))


def alexnet(classes, in_ch, dropout, width):
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(
            nn.Conv2d(in_ch, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2))),
        ("avgpool", nn.AdaptiveAvgPool2d(6)), ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(
            nn.Dropout(dropout), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, classes)))]))


def vgg(depth, bn, classes, in_ch, dropout, width):
    plans = {11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
             13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
             16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
             19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                  512, 512, 512, 512, "M"]}
    return vgg_from_plan(plans[depth], bn, classes, in_ch, dropout, 7, 4096)


def vgg_from_plan(plan, bn, classes, in_ch, dropout, pool, hidden):
    layers, c = [], in_ch
    for v in plan:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(c, v, 3, 1, 1))
        if bn:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU())
        c = v
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(*layers)), ("avgpool", nn.AdaptiveAvgPool2d(pool)), ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(
            nn.Linear(c * pool * pool, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes)))]))


def vgg_small(classes, in_ch, dropout, width):
    plan = [v if v == "M" else scaled(v, width) for v in [32, "M", 64, "M", 128, 128, "M"]]
    return vgg_from_plan(plan, True, classes, in_ch, dropout, 3, scaled(256, width))


def alexnet_small(classes, in_ch, dropout, width):
    c1, c2, c3, c5, h = (scaled(n, width) for n in (32, 64, 96, 64, 256))
    lrn = lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)
    pool = lambda: nn.MaxPool2d(2, 2, ceil_mode=True)
    f = collections.OrderedDict([
        ("conv1", nn.Conv2d(in_ch, c1, 5, 1, 2)), ("relu1", nn.ReLU()), ("pool1", pool()), ("norm1", lrn()),
        ("conv2", nn.Conv2d(c1, c2, 3, 1, 1)), ("relu2", nn.ReLU()), ("pool2", pool()), ("norm2", lrn()),
        ("conv3", nn.Conv2d(c2, c3, 3, 1, 1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(c3, c3, 3, 1, 1)), ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(c3, c5, 3, 1, 1)), ("relu5", nn.ReLU()), ("pool5", pool())])
    cl = collections.OrderedDict([
        ("fc6", nn.Linear(c5 * 9, h)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(dropout)),
        ("fc7", nn.Linear(h, h)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(dropout)),
        ("fc8", nn.Linear(h, classes))])
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(f)), ("avgpool", nn.AdaptiveAvgPool2d(3)), ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(cl))]))


def fmnist_cnn(classes, in_ch, dropout, width):
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(
            nn.Conv2d(in_ch, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(
            nn.Dropout(dropout), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, classes)))]))


MODELS = {"alexnet": alexnet, "alexnet-small": alexnet_small, "vgg-small": vgg_small, "fmnist-cnn": fmnist_cnn}
for _d in (11, 13, 16, 19):
    MODELS[f"vgg{_d}"] = (lambda d: lambda *a: vgg(d, False, *a))(_d)
    MODELS[f"vgg{_d}_bn"] = (lambda d: lambda *a: vgg(d, True, *a))(_d)


def build(name, classes, in_ch, width, seed):
    if name not in MODELS:
        sys.exit(f"torch_compare: no PyTorch definition for '{name}' (known: {', '.join(sorted(MODELS))})")
    torch.manual_seed(seed)
    m = MODELS[name](classes, in_ch, 0.0, width).double()
    # Non-trivial batch-norm state, so that eval mode is tested on more than mean 0, var 1.
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    # Round to float32 first, so that the float64 reference uses exactly the weights patchwork gets.
    return m.float().double()


def weights_of(m):
    # patchwork's names: torchvision's, without num_batches_tracked (patchwork keeps no counter).
    return {k: v.float() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}


def reference(m, x, y, mode):
    """Logits, loss and gradients in float64 (the reference), named as `patchwork forward` names them."""
    m.train(mode == "train")
    x = x.double().clone().requires_grad_(True)
    m.zero_grad()
    logits = m(x)
    out = {"logits": logits.detach()}
    if y is not None:
        loss = nn.functional.cross_entropy(logits, y.long())
        loss.backward()
        out["loss"] = loss.detach()
        out["input.grad"] = x.grad.detach()
        for k, p in m.named_parameters():
            out[k] = p.grad.detach()
        if mode == "train":  # the running statistics after one training-mode forward pass
            for k, b in m.named_buffers():
                if not k.endswith("num_batches_tracked"):
                    out[k] = b.detach()
    return {k: v.float() for k, v in out.items()}


def max_rel(a, b):
    """max |a - b| relative to max |b| (the reference's largest magnitude in this tensor), floored
    at 1e-3: some gradients are zero in exact arithmetic (a conv bias before a training-mode batch
    norm) and only rounding noise remains of them in both frameworks."""
    a, b = a.double().flatten(), b.double().flatten()
    if a.numel() == 0:
        return 0.0
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-3))


# ---------------------------------------------------------------- commands
def cmd_fixtures(args):
    """Small fixtures: a narrow alexnet-small (LRN, ceil pooling) and vgg-small (batch norm)."""
    os.makedirs(args.out, exist_ok=True)
    specs = [("alexnet-small", 0.125, 1), ("vgg-small", 0.125, 2)]
    for name, width, seed in specs:
        m = build(name, 10, 1, width, seed)
        g = torch.Generator().manual_seed(100 + seed)
        x = torch.randn(4, 1, 28, 28, generator=g, dtype=torch.float64).float()
        y = torch.tensor([3, 0, 9, 3], dtype=torch.int32)
        stem = os.path.join(args.out, name)
        meta = {"model": name, "width": str(width), "classes": "10", "in_channels": "1",
                "made_by": "tools/torch_compare.py fixtures", "torch": torch.__version__}
        save_safetensors(stem + ".weights.safetensors", weights_of(m), meta)
        save_safetensors(stem + ".input.safetensors", {"input": x, "labels": y}, meta)
        for mode in ("train", "eval"):
            mm = build(name, 10, 1, width, seed)  # fresh running statistics for each mode
            save_safetensors(f"{stem}.{mode}.expected.safetensors", reference(mm, x, y, mode), dict(meta, mode=mode))
        print(f"wrote {stem}.*.safetensors")


def cmd_compare(args):
    shape = [int(v) for v in args.input_size.split(",")]
    m = build(args.model, args.classes, shape[0], args.width, args.seed)
    g = torch.Generator().manual_seed(args.seed + 1)
    x = torch.randn([args.batch] + shape, generator=g, dtype=torch.float64).float()
    y = torch.randint(0, args.classes, (args.batch,), generator=g, dtype=torch.int64)
    with tempfile.TemporaryDirectory() as d:
        w, i, o = (os.path.join(d, f) for f in ("weights.safetensors", "input.safetensors", "out.safetensors"))
        save_safetensors(w, weights_of(m))
        save_safetensors(i, {"input": x, "labels": y})
        cmd = [args.patchwork, "forward", "--model", args.model, "--weights", w, "--input", i, "--labels", i,
               "--output", o, "--mode", args.mode, "--device", args.device, "--classes", str(args.classes),
               "--width", str(args.width), "--dropout", "0"]
        print("$", " ".join(cmd))
        subprocess.run(cmd, check=True)
        ours = load_safetensors(o)
    ref = reference(m, x, y, args.mode)
    worst = 0.0
    for k in sorted(ref):
        if k not in ours:
            print(f"  {k:40s} MISSING from patchwork's output")
            worst = float("inf")
            continue
        r = max_rel(ours[k], ref[k])
        worst = max(worst, r)
        print(f"  {k:40s} {str(list(ref[k].shape)):22s} max rel diff {r:.2e}")
    ok = worst <= args.tolerance
    print(f"{'OK' if ok else 'FAIL'}: largest relative difference {worst:.2e} (tolerance {args.tolerance:g})")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures", help="write the test fixtures")
    f.add_argument("--out", default="tests/fixtures")
    c = sub.add_parser("compare", help="compare `patchwork forward` with PyTorch on one model")
    c.add_argument("--model", default="alexnet-small")
    c.add_argument("--input-size", default="1,28,28", help="C,H,W")
    c.add_argument("--classes", type=int, default=10)
    c.add_argument("--width", type=float, default=1.0, help="width of the small models")
    c.add_argument("--batch", type=int, default=4)
    c.add_argument("--mode", choices=["train", "eval"], default="eval")
    c.add_argument("--device", default="cpu")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--tolerance", type=float, default=1e-4)
    c.add_argument("--patchwork", default="build/patchwork")
    args = p.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    sys.exit(cmd_fixtures(args) if args.cmd == "fixtures" else cmd_compare(args))


if __name__ == "__main__":
    main()
