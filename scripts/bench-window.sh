#!/usr/bin/env bash
# bench-window.sh - one measurement window: the crate's criterion benches in
# the default build and the native one (-C target-cpu=native), each pinned to
# one core, with PyTorch's peers (scripts/pytorch-peers.py) run before and
# after them; the raw results go to docs/bench/<date>_<machine>/ and
# docs/benchmarks.md is regenerated from every window kept there.
#
#   scripts/bench-window.sh
#
# Environment: BENCHES (default "train_step dense dropout blend pool optim"),
# BENCH_SECONDS (criterion's measurement time per benchmark, default 1),
# TORCH_PYTHON (a Python with torch; default target/torch-venv/bin/python,
# see scripts/pytorch-peers.py; without one the window has no PyTorch
# figures, and says so). Takes about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
benches=${BENCHES:-"train_step dense dropout blend pool optim"}
seconds=${BENCH_SECONDS:-1}
torch_python=${TORCH_PYTHON:-target/torch-venv/bin/python}
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then pin=(taskset -c 1); fi

work=target/bench-window
rm -rf "$work" && mkdir -p "$work"
python3 scripts/bench_tables.py machine >"$work/machine.json"
name="$(date -u +%F)_$(python3 scripts/bench_tables.py slug)"

have_torch=no
if [ -x "$torch_python" ] && "$torch_python" -c "import torch" 2>/dev/null; then have_torch=yes; fi
if [ $have_torch = yes ]; then
  echo "PyTorch, before the crate's benches" >&2
  "${pin[@]}" "$torch_python" scripts/pytorch-peers.py --json "$work/pytorch.json" >&2
else
  echo "NOTICE: no PyTorch at $torch_python: this window has no PyTorch figures" >&2
fi

for build in default native; do
  flags=""
  if [ $build = native ]; then flags="-C target-cpu=native"; fi
  # Absolute: criterion resolves a relative target directory from the bench crate's folder.
  export CARGO_TARGET_DIR="$PWD/target/bench-$build"
  rm -rf "$CARGO_TARGET_DIR/criterion"
  RUSTFLAGS="$flags" cargo bench -p tinyreg-benches --no-run
  for bench in $benches; do
    echo "$build build: --bench $bench" >&2
    RUSTFLAGS="$flags" "${pin[@]}" cargo bench -q -p tinyreg-benches --bench "$bench" -- \
      --warm-up-time 0.5 --measurement-time "$seconds" >&2
  done
  python3 scripts/bench_tables.py collect "$CARGO_TARGET_DIR/criterion" $build >>"$work/results.csv"
done
unset CARGO_TARGET_DIR

if [ $have_torch = yes ]; then
  echo "PyTorch, after the crate's benches" >&2
  "${pin[@]}" "$torch_python" scripts/pytorch-peers.py --json "$work/pytorch-2.json" >&2
fi

# The window lands whole or not at all.
dest="docs/bench/$name"
if [ -e "$dest" ]; then dest="${dest}_$(date -u +%H%M)"; fi
mkdir -p docs/bench
cp -r "$work" "$dest.tmp"
sync "$dest.tmp"/*
mv "$dest.tmp" "$dest"
python3 scripts/bench_tables.py page >docs/benchmarks.md.tmp
mv docs/benchmarks.md.tmp docs/benchmarks.md
echo "window in $dest; docs/benchmarks.md regenerated" >&2
