#!/usr/bin/env python3
"""patchwork against PyTorch on the CPU: the same networks, batch, input and step, timed alternately.

Optional, never a dependency of the engine or its tests. Needs a PyTorch for the CPU, for example
the one `bash ../shared/tools/torch-venv.sh` installs, and a built patchwork:

  ~/.cache/torch-venv/bin/torch-python bench/compare_torch.py [--threads 2] [--rounds 3] [--iterations 5]

For each workload, each round times PyTorch in this process (median of --iterations steps after
one warm-up) and then `patchwork time --step-only` (the same), so that both see the same load on
a shared machine; the table gives each side's median over the rounds in ms per step and
patchwork's lead (PyTorch's time over patchwork's). A training step is the forward pass, the
cross-entropy loss, the backward pass and an SGD step with momentum 0.9 (zeroing the gradients);
an inference step is the forward pass in eval mode without a graph. Both sides use the networks
as torchvision writes them (tools/torch_compare.py builds the PyTorch ones) with their dropout
(0.5 for AlexNet, VGG and alexnet-small, 0.25 for fmnist-cnn), 1000 classes for the ImageNet
networks and 10 for the small ones, --threads threads, and the same OpenMP wait policy
(--wait-policy and --spin-count, default passive after 10,000 spins as patchwork's commands; the
PyPI wheel of torch uses GNU OpenMP too, which reads OMP_WAIT_POLICY and GOMP_SPINCOUNT when it
loads, so they are set before torch is imported).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

torch = nn = torch_compare = None  # imported in main(), after OMP_WAIT_POLICY is set

# (model, mode, batch, input C,H,W): the workloads of issue 15's table.
WORKLOADS = [
    ("fmnist-cnn", "train", 64, (1, 28, 28)),
    ("alexnet-small", "train", 64, (1, 28, 28)),
    ("alexnet-small", "train", 256, (3, 64, 64)),
    ("alexnet", "train", 16, (3, 224, 224)),
    ("alexnet", "eval", 1, (3, 224, 224)),
    ("vgg11", "train", 8, (3, 64, 64)),
    ("vgg11_bn", "eval", 16, (3, 64, 64)),
]


def torch_model(name, in_ch):
    small = name in ("fmnist-cnn", "alexnet-small", "vgg-small")
    dropout = 0.25 if name == "fmnist-cnn" else 0.5
    torch.manual_seed(0)
    return torch_compare.MODELS[name](10 if small else 1000, in_ch, dropout, 1.0).float()


def time_torch(model, mode, batch, shape, iterations):
    """Median ms per step over `iterations` steps after one warm-up."""
    x = torch.randn(batch, *shape)
    model.train(mode == "train")
    with torch.no_grad():
        classes = model(x[:1]).shape[1]
    y = torch.arange(batch) % classes
    opt = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    times = []
    for it in range(iterations + 1):
        t0 = time.perf_counter()
        if mode == "train":
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        else:
            with torch.no_grad():
                model(x)
        if it > 0:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


_STEP_ONLY = {}


def step_only_flag(cli):
    """["--step-only"] when this build has it (builds before it also time every layer)."""
    if cli not in _STEP_ONLY:
        help_text = subprocess.run([cli, "time", "--help"], capture_output=True, text=True).stdout
        _STEP_ONLY[cli] = ["--step-only"] if "--step-only" in help_text else []
    return _STEP_ONLY[cli]


def time_patchwork(cli, name, mode, batch, shape, iterations, threads):
    cmd = [cli, "time", "--model", name, "--mode", mode, "--batch", str(batch), "--input",
           ",".join(map(str, shape)), "--iterations", str(iterations), "--threads", str(threads),
           "--peak-gflops", "1", "--bandwidth", "1"] + step_only_flag(cli)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"total ([0-9.]+) ms", out)
    if not m:
        sys.exit("compare_torch: no step time in the output of " + " ".join(cmd) + ":\n" + out)
    kernel = re.search(r", (\w+) GEMM kernel", out)
    return float(m.group(1)), kernel.group(1) if kernel else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchwork", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                         "patchwork"), help="the patchwork binary (default: build/)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads on both sides (default: all)")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds per workload (median)")
    ap.add_argument("--iterations", type=int, default=5, help="steps per measurement (median)")
    ap.add_argument("--baseline", default="", help="another patchwork binary (an earlier build) timed in the same "
                                                   "rounds, for a before/after column")
    ap.add_argument("--only", default="", help="run only workloads whose model name contains this")
    ap.add_argument("--json", default="", help="also write the results to this file")
    ap.add_argument("--wait-policy", default="passive", choices=["passive", "active"],
                    help="OMP_WAIT_POLICY on both sides (default: passive, as patchwork's commands)")
    ap.add_argument("--spin-count", default="10000",
                    help="GOMP_SPINCOUNT on both sides (default: 10000, as patchwork's commands; '' for none)")
    args = ap.parse_args()
    os.environ["OMP_WAIT_POLICY"] = args.wait_policy
    if args.spin_count:
        os.environ["GOMP_SPINCOUNT"] = args.spin_count
    global torch, nn, torch_compare
    import torch
    import torch.nn as nn
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import torch_compare  # the PyTorch definitions of patchwork's networks
    if not os.access(args.patchwork, os.X_OK):
        sys.exit(f"compare_torch: no patchwork binary at {args.patchwork} (build it, or pass --patchwork)")
    torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__}, {args.threads} threads, OMP_WAIT_POLICY={args.wait_policy} and "
          f"GOMP_SPINCOUNT={args.spin_count or 'unset'} on both sides, "
          f"{args.rounds} alternated rounds of medians of {args.iterations} steps; ms per step (median over rounds)\n")
    before = " before |" if args.baseline else ""
    print(f"| workload |{before} patchwork | PyTorch | patchwork's lead |")
    print("|---|---|---|---|" + ("---|" if args.baseline else ""))
    results = []
    for name, mode, batch, shape in WORKLOADS:
        if args.only and args.only not in name:
            continue
        model = torch_model(name, shape[0])
        ours, theirs, base = [], [], []
        for _ in range(args.rounds):
            theirs.append(time_torch(model, mode, batch, shape, args.iterations))
            ms, kernel = time_patchwork(args.patchwork, name, mode, batch, shape, args.iterations, args.threads)
            ours.append(ms)
            if args.baseline:
                base.append(time_patchwork(args.baseline, name, mode, batch, shape, args.iterations, args.threads)[0])
        pw_ms, torch_ms = statistics.median(ours), statistics.median(theirs)
        label = f"{name}, {'train' if mode == 'train' else 'inference'}, batch {batch}, {'x'.join(map(str, shape))}"
        was = f" {statistics.median(base):.1f} |" if base else ""
        print(f"| {label} |{was} {pw_ms:.1f} | {torch_ms:.1f} | {torch_ms / pw_ms:.2f}x |", flush=True)
        results.append({"workload": label, "patchwork_ms": ours, "pytorch_ms": theirs, "baseline_ms": base,
                        "lead": torch_ms / pw_ms, "gemm_kernel": kernel})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pytorch": torch.__version__, "threads": args.threads, "wait_policy": args.wait_policy,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
