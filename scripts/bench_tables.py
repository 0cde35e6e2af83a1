#!/usr/bin/env python3
"""The benchmark page from its raw runs.

    bench_tables.py machine                 facts of this machine, as JSON
    bench_tables.py slug                    a folder-name slug for this machine
    bench_tables.py collect DIR BUILD       criterion's results under DIR as CSV rows
    bench_tables.py page                    docs/benchmarks.md from docs/bench/*/

`scripts/bench-window.sh` runs a window (the crate's benches in the default
and the native build, PyTorch's peers before and after them) and calls these.
Each window is a folder `docs/bench/<date>_<machine>/` holding `machine.json`,
`results.csv` (build, benchmark id, mean and interval in ns, throughput) and,
when PyTorch ran, `pytorch.json`. Windows measured before the script existed
hold `summary.csv` instead: their headline figures, transcribed from the page
of the commit they name.
"""

import csv
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "docs" / "bench"

# The crate's training steps and PyTorch's, as criterion and
# scripts/pytorch-peers.py name them.
STEPS = [
    ("64-128-10 MLP, batch 32", "train_step/mlp_64_128_10/batch32",
     ["train step 64-128-10, batch 32, fused Adam"]),
    ("784-256-128-10 MLP, batch 64", "train_step/mlp_784_256_128_10/batch64",
     ["train step 784-256-128-10, batch 64, fused Adam"]),
    ("Fashion CNN, batch 64", "train_step/fashion_cnn/batch64",
     ["train step, the Fashion baseline CNN, batch 64, fused Adam, contiguous",
      "train step, the Fashion baseline CNN, batch 64, fused Adam, channels_last"]),
]
SHAPES = ["1x64x64", "16x64x64", "32x256x256", "64x784x256", "256x256x256", "1024x1024x1024"]
FMA_PEAK = "conv_backward/fma_peak_macs"
COPY = "dropout/copy/16M"


def cpuinfo():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    key, value = (part.strip() for part in line.split(":", 1))
                    info.setdefault(key, value)
    except OSError:
        pass
    return info


def machine():
    info = cpuinfo()
    flags = set(info.get("flags", "").split())
    simd = [f for f in ["avx512f", "avx2", "fma", "sse2", "asimd"] if f in flags]

    def run(*cmd):
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {
        "cpu": info.get("model name", platform.processor() or "unknown"),
        "family": info.get("cpu family"),
        "model": info.get("model"),
        "simd": simd,
        "cores": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": run("git", "describe", "--always", "--dirty"),
        "rustc": run("rustc", "--version"),
    }


def slug():
    """The CPU's name and, since one name covers several generations (an
    "AMD EPYC" VM may be Zen 3, 4 or 5), its family and model numbers."""
    m = machine()
    words = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*", " ", m["cpu"].lower())
    name = "-".join(re.findall(r"[a-z0-9]+", words)[:4]) or "machine"
    return f"{name}-f{m['family']}-m{m['model']}" if m["family"] else name


def collect(directory, build):
    """One CSV row per criterion benchmark under `directory`."""
    out = csv.writer(sys.stdout)
    for bench in sorted(Path(directory).glob("**/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        mean = est["mean"]
        throughput = meta.get("throughput") or {}
        kind, amount = next(iter(throughput.items()), ("", ""))
        out.writerow([build, meta["full_id"], f"{mean['point_estimate']:.3f}",
                      f"{mean['confidence_interval']['lower_bound']:.3f}",
                      f"{mean['confidence_interval']['upper_bound']:.3f}", kind, amount])


def read_window(folder):
    window = {"name": folder.name, "machine": {}, "results": {}, "torch": None, "summary": None}
    if (folder / "machine.json").exists():
        window["machine"] = json.loads((folder / "machine.json").read_text())
    if (folder / "results.csv").exists():
        with open(folder / "results.csv") as f:
            for build, bench_id, mean, low, high, kind, amount in csv.reader(f):
                window["results"][(build, bench_id)] = {
                    "ns": float(mean), "low": float(low), "high": float(high),
                    "kind": kind, "amount": float(amount) if amount else None}
    for name in ["pytorch.json", "pytorch-2.json"]:
        if (folder / name).exists():
            seconds = json.loads((folder / name).read_text())["seconds"]
            torch = window["torch"] or {}
            for op, s in seconds.items():
                torch[op] = min(torch.get(op, float("inf")), s)
            window["torch"] = torch
            window["torch_version"] = json.loads((folder / name).read_text())["torch"]
    if (folder / "summary.csv").exists():
        with open(folder / "summary.csv") as f:
            window["summary"] = list(csv.DictReader(f))
    return window


def duration(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def rate(result):
    """Throughput per ns: elements, or multiply-adds for the `_macs` groups."""
    if not result or not result["amount"]:
        return None
    return result["amount"] / result["ns"]


def gflops(shape, ns):
    b, i, o = (int(v) for v in shape.split("x"))
    return 2 * b * i * o / ns


def window_section(w):
    m = w["machine"]
    r = w["results"]
    lines = []
    simd = ", ".join(m.get("simd", []))
    lines.append(f"## {m.get('date', w['name'])[:10]}, {m.get('cpu', '?')}")
    lines.append("")
    peak = rate(r.get(("native", FMA_PEAK)))
    copy = rate(r.get(("native", COPY)))
    facts = [f"{m.get('cpu')} (family {m.get('family')}, model {m.get('model')}; {simd}), "
             f"{m.get('cores')} cores, {m.get('date')}, commit {m.get('commit')}, {m.get('rustc')}."]
    if peak:
        facts.append(f"FMA peak of the native build: {peak:.1f} multiply-adds per ns "
                     f"({2 * peak:.1f} GFLOP/s, `{FMA_PEAK}`).")
    if copy:
        facts.append(f"Copy of 16M floats: {copy:.2f} elements per ns (`{COPY}`).")
    if w["torch"]:
        facts.append(f"PyTorch {w.get('torch_version')} on one thread, the better of its runs "
                     f"before and after the crate's (`scripts/pytorch-peers.py`).")
    else:
        facts.append("PyTorch did not run in this window.")
    lines.append(" ".join(facts))
    lines.append(f"Raw results: [bench/{w['name']}/](bench/{w['name']}/).")
    lines.append("")

    torch = w["torch"] or {}
    lines.append("| training step, Adam | default build | native build | PyTorch (best variant) | native vs PyTorch | default vs PyTorch |")
    lines.append("|---|---|---|---|---|---|")
    for label, bench_id, torch_ops in STEPS:
        d, n = r.get(("default", bench_id)), r.get(("native", bench_id))
        t = min((torch[op] * 1e9 for op in torch_ops if op in torch), default=None)
        cells = [label, duration(d["ns"]) if d else "", duration(n["ns"]) if n else "",
                 duration(t) if t else "",
                 f"{t / n['ns']:.2f}x" if t and n else "", f"{t / d['ns']:.2f}x" if t and d else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    lines.append("Dense forward, GFLOP/s (`--bench dense`; `gemm` 0.19 built with its `x86-v4` AVX-512 feature, "
                 "`matrixmultiply` 0.3 choosing its kernel at run time):")
    lines.append("")
    lines.append("| (batch, in, out) | default | native | `matrixmultiply` | `gemm` | PyTorch `F.linear` | native vs best peer |")
    lines.append("|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        def g(build, fn):
            x = r.get((build, f"dense/{fn}/{shape}"))
            return gflops(shape, x["ns"]) if x else None
        b, i, o = shape.split("x")
        t = torch.get(f"dense forward ({b}, {i}, {o}), F.linear")
        tg = gflops(shape, t * 1e9) if t else None
        row = [g("default", "forward"), g("native", "forward"), g("native", "matrixmultiply"),
               g("native", "gemm"), tg]
        peers = [v for v in row[2:] if v]
        ratio = f"{row[1] / max(peers):.2f}x" if row[1] and peers else ""
        lines.append(f"| ({b}, {i}, {o}) | " + " | ".join(f"{v:.1f}" if v else "" for v in row) + f" | {ratio} |")
    lines.append("")

    lines.append("Element-wise kernels, elements per ns (higher is better):")
    lines.append("")
    lines.append("| op | default | native | baseline in the same run | PyTorch |")
    lines.append("|---|---|---|---|---|")
    elementwise = [
        ("dropout forward 16M (inverted, mask bits written)", "dropout/inverted_forward/16M",
         "copy", COPY, "dropout 16M (inverted, train), F.dropout", 16 << 20),
        ("dropout mask sampling alone 16M", "dropout/mask_sampling/16M", "copy", COPY, None, 16 << 20),
        ("dropout backward 16M", "dropout/backward/16M", "copy", COPY, "y = a * x, 16M, torch.mul", 16 << 20),
        ("mixup blend 1M", "blend/blend/1M", "copy", "blend/copy/1M", "mixup blend 1M, torch.lerp", 1 << 20),
    ]
    for label, bench_id, base_name, base_id, torch_op, n in elementwise:
        d, nat, base = r.get(("default", bench_id)), r.get(("native", bench_id)), r.get(("native", base_id))
        t = torch.get(torch_op) if torch_op else None
        cells = [label, f"{rate(d):.2f}" if rate(d) else "", f"{rate(nat):.2f}" if rate(nat) else "",
                 f"{base_name} {rate(base):.2f}" if rate(base) else "",
                 f"{n / (t * 1e9):.2f} (`{torch_op.split(', ')[-1]}`)" if t else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    conv_rows = [
        ("conv 3x3 forward + ReLU (64, 16->32, 14x14)", "conv/direct_16_to_32_14x14_macs",
         "conv 3x3 forward + ReLU (64, 16->32, 14x14)"),
        ("conv 3x3 backward (64, 16->32, 14x14)", "conv_backward/direct_16_to_32_14x14_macs", None),
    ]
    lines.append("Convolution (`--bench pool`):")
    lines.append("")
    lines.append("| op | default | native | PyTorch, contiguous | PyTorch, channels_last |")
    lines.append("|---|---|---|---|---|")
    for label, bench_id, torch_op in conv_rows:
        d, nat = r.get(("default", bench_id)), r.get(("native", bench_id))
        tc = torch.get(f"{torch_op}, contiguous") if torch_op else None
        tl = torch.get(f"{torch_op}, channels_last") if torch_op else None
        cells = [label, duration(d["ns"]) if d else "", duration(nat["ns"]) if nat else "",
                 duration(tc * 1e9) if tc else "", duration(tl * 1e9) if tl else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    lines.append("<details><summary>Every benchmark of the window: mean time, default and native build</summary>")
    lines.append("")
    lines.append("| benchmark | default | native | default / native |")
    lines.append("|---|---|---|---|")
    ids = sorted({bench_id for _, bench_id in r})
    for bench_id in ids:
        d, nat = r.get(("default", bench_id)), r.get(("native", bench_id))
        ratio = f"{d['ns'] / nat['ns']:.2f}" if d and nat else ""
        lines.append(f"| `{bench_id}` | {duration(d['ns']) if d else ''} | "
                     f"{duration(nat['ns']) if nat else ''} | {ratio} |")
    lines.append("")
    lines.append("</details>")
    lines.append("")
    return lines


def summary_section(w):
    rows = w["summary"]
    lines = [f"### {w['name']}", ""]
    note = (BENCH / w["name"] / "README.md")
    if note.exists():
        lines.append(note.read_text().strip().splitlines()[0])
        lines.append("")
    keys = list(rows[0].keys())
    lines.append("| " + " | ".join(keys) + " |")
    lines.append("|" + "---|" * len(keys))
    for row in rows:
        lines.append("| " + " | ".join(row[k] for k in keys) + " |")
    lines.append("")
    return lines


HEADER = """# Benchmarks

This page is generated by `scripts/bench_tables.py page` from the raw runs in
[bench/](bench/); `scripts/bench-window.sh` measures a new window and
regenerates it. A window runs on one machine in one sitting: the crate's
criterion benches (`cargo bench -p tinyreg-benches`) in the default build
(what `cargo build --release` gives) and the native one (`RUSTFLAGS="-C
target-cpu=native"`), each pinned to one core (`taskset -c 1`), with
`scripts/pytorch-peers.py` (PyTorch on one thread) before and after them.
Each window names its machine, its FMA peak and copy bandwidth measured in
the same run, its date and commit. Ratios above 1 favour tinyreg.

Machines change: a figure holds for the machine named above it. The peers:
PyTorch (the better of its contiguous and channels_last layouts for the
CNN, fused Adam), `gemm` 0.19 with its `x86-v4` AVX-512 kernels and
`matrixmultiply` 0.3 (both choose their kernels at run time), a copy of the
same bytes for the memory-bound kernels.
"""


def page():
    windows = [read_window(p) for p in sorted(BENCH.iterdir(), reverse=True) if p.is_dir()]
    lines = HEADER.splitlines() + [""]
    for w in windows:
        if w["results"]:
            lines += window_section(w)
    earlier = [w for w in windows if w["summary"]]
    if earlier:
        lines.append("## Earlier windows")
        lines.append("")
        lines.append("Measured before the raw results were kept: the headline figures as the page of each")
        lines.append("window's commit printed them, one row per figure (`bench/<window>/summary.csv`).")
        lines.append("")
        for w in earlier:
            lines += summary_section(w)
    return "\n".join(lines).rstrip() + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "machine":
        print(json.dumps(machine(), indent=1))
    elif cmd == "slug":
        print(slug())
    elif cmd == "collect" and len(sys.argv) == 4:
        collect(sys.argv[2], sys.argv[3])
    elif cmd == "page":
        sys.stdout.write(page())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
