#!/usr/bin/env python3
"""PyTorch on one CPU thread, at the shapes of the crate's benches: the peer
figures of docs/benchmarks.md's tables. Not part of CI.

Set-up (several GB: PyTorch pulls its CUDA wheels, then runs on the CPU):

    python3 -m venv target/torch-venv
    target/torch-venv/bin/pip install torch==2.15.0
    target/torch-venv/bin/python scripts/pytorch-peers.py

Each figure is the best of `--repeats` timed runs of a loop long enough to
take about 0.2 s, after a warm-up; compare it with the criterion figure of the
same shape from `RUSTFLAGS="-C target-cpu=native" cargo bench -p
tinyreg-benches` run on the same machine, in the same window.
"""

import argparse
import json
import os
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def best_seconds(fn, repeats):
    """Seconds per call: the best of `repeats` loops of about 0.2 s each."""
    fn()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        fn()
        calls += 1
    per_loop = max(1, int(calls * 4))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(per_loop):
            fn()
        best = min(best, (time.perf_counter() - start) / per_loop)
    return best


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def dense_forward(repeats):
    rows = []
    for batch, n_in, n_out in [(1, 64, 64), (16, 64, 64), (32, 256, 256), (64, 784, 256),
                               (256, 256, 256), (1024, 1024, 1024)]:
        x = torch.randn(batch, n_in)
        w = torch.randn(n_out, n_in)
        b = torch.randn(n_out)
        s = best_seconds(lambda: F.linear(x, w, b), repeats)
        flops = 2 * batch * n_in * n_out
        rows.append((f"dense forward ({batch}, {n_in}, {n_out}), F.linear",
                     f"{flops / s / 1e9:.1f} GFLOP/s", f"{s * 1e6:.2f} us", s))
    return rows


def conv(repeats):
    rows = []
    for layout in ["contiguous", "channels_last"]:
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        layer = nn.Conv2d(16, 32, 3, padding=1).to(memory_format=fmt)
        x = torch.randn(64, 16, 14, 14).to(memory_format=fmt)
        macs = 64 * 32 * 14 * 14 * 16 * 9
        with torch.no_grad():
            s = best_seconds(lambda: F.relu(layer(x)), repeats)
        rows.append((f"conv 3x3 forward + ReLU (64, 16->32, 14x14), {layout}",
                     f"{macs / s / 1e9:.1f} MAC/ns", f"{s * 1e3:.3f} ms", s))
        xg = x.clone().requires_grad_(True)

        def step():
            layer.zero_grad(set_to_none=True)
            F.relu(layer(xg)).sum().backward()

        s = best_seconds(step, repeats)
        rows.append((f"conv 3x3 forward + backward (64, 16->32, 14x14), {layout}",
                     f"{3 * macs / s / 1e9:.1f} MAC/ns", f"{s * 1e3:.3f} ms", s))
    return rows


def train_step(model, x, y, repeats):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return best_seconds(step, repeats)


def steps(repeats):
    rows = []
    for sizes, batch in [((784, 256, 128, 10), 64), ((64, 128, 10), 32)]:
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        x, y = torch.randn(batch, sizes[0]), torch.randint(0, 10, (batch,))
        s = train_step(model, x, y, repeats)
        rows.append((f"train step {'-'.join(map(str, sizes))}, batch {batch}, fused Adam",
                     f"{s * 1e6:.1f} us", "", s))
    for layout in ["contiguous", "channels_last"]:
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        # The Fashion baseline CNN of examples/fashion_cnn.rs.
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        ).to(memory_format=fmt)
        x = torch.randn(64, 1, 28, 28).to(memory_format=fmt)
        y = torch.randint(0, 10, (64,))
        s = train_step(model, x, y, repeats)
        rows.append((f"train step, the Fashion baseline CNN, batch 64, fused Adam, {layout}",
                     f"{s * 1e3:.2f} ms", "", s))
    return rows


def elementwise(repeats):
    rows = []
    n = 1 << 20
    a, b, out = torch.randn(n), torch.randn(n), torch.empty(n)
    s = best_seconds(lambda: torch.lerp(b, a, 0.3, out=out), repeats)
    rows.append(("mixup blend 1M, torch.lerp", f"{n / s / 1e9:.2f} elem/ns", "", s))
    n = 16 << 20
    x = torch.randn(n)
    s = best_seconds(lambda: F.dropout(x, 0.5, training=True), repeats)
    rows.append(("dropout 16M (inverted, train), F.dropout", f"{n / s / 1e9:.2f} elem/ns", "", s))
    s = best_seconds(lambda: torch.mul(x, 2.0), repeats)
    rows.append(("y = a * x, 16M, torch.mul", f"{n / s / 1e9:.2f} elem/ns", "", s))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write {op: seconds} here, for scripts/bench_tables.py")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, 1 thread, {cpu_name()}")
    print()
    print("| op | PyTorch | time |")
    print("|---|---|---|")
    seconds = {}
    for group in [dense_forward, conv, steps, elementwise]:
        for name, figure, t, s in group(args.repeats):
            print(f"| {name} | {figure} | {t} |", flush=True)
            seconds[name] = s
    if args.json:
        record = {"torch": torch.__version__, "threads": 1, "cpu": cpu_name(), "seconds": seconds}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
