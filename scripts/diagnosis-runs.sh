#!/usr/bin/env bash
# Regenerates tests/data/runs/: the per-epoch records and step losses of real
# runs of the shipped configs, which tests/diagnosis.rs reads (a healthy run
# must get no finding, and no run contradictory advice):
# - digits-train: `tinyreg train configs/digits.toml` (60 epochs, cosine);
# - digits-search: the winner of `tinyreg search configs/digits.toml`,
#   retrained from its seed;
# - digits-high-lr: configs/digits.toml at lr 0.15 for 20 epochs (too high).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tinyreg-cli
bin=target/release/tinyreg
work=target/diagnosis-runs
rm -rf "$work" && mkdir -p "$work"
out=tests/data/runs
"$bin" train configs/digits.toml --out "$work/train" >/dev/null
"$bin" search configs/digits.toml --out "$work/search" >/dev/null
sed 's/^lr = 2e-3/lr = 0.15/; s/^epochs = 60/epochs = 20/; s|"\.\./data/|"../../data/|' configs/digits.toml >"$work/high-lr.toml"
"$bin" train "$work/high-lr.toml" --out "$work/high-lr" >/dev/null
for run in train search high-lr; do
  cp "$work/$run/curves.jsonl" "$out/digits-$run.curves.jsonl"
  cp "$work/$run/steps.csv" "$out/digits-$run.steps.csv"
done
echo "tests/data/runs regenerated"
