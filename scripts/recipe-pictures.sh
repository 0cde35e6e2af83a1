#!/usr/bin/env bash
# recipe-pictures.sh - regenerate docs/recipe/: the pictures and the printed
# output of `tinyreg search configs/digits.toml` that docs/recipe.md shows.
# The search is reproducible: the same trials and winner on any machine with
# the same rounding (docs/platforms.md); only the seconds change.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tinyreg-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/tinyreg search configs/digits.toml --out "$work/run" --threads 2 >"$work/stdout.txt"
sed -i "s#$work/run/#runs/digits/#" "$work/stdout.txt"
dest=docs/recipe
mkdir -p "$dest"
machine=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
{
  echo "\$ tinyreg search configs/digits.toml"
  echo "# $(date -u +%F), commit $(git describe --always --dirty), $machine, $(nproc) cores"
  cat "$work/stdout.txt"
} >"$work/search-output.txt"
for file in range_test.svg loss.svg accuracy.svg best_so_far.svg trial_curves.svg \
  param_0.svg search_plane.svg importance.svg parallel.svg; do
  cp "$work/run/$file" "$dest/$file.tmp" && mv "$dest/$file.tmp" "$dest/$file"
done
cp "$work/search-output.txt" "$dest/search-output.txt.tmp" && mv "$dest/search-output.txt.tmp" "$dest/search-output.txt"

# Two runs that go wrong, for the curves' step: a rate far too high, and 40
# training images with no dropout and no decay (the rest of the config as
# configs/digits.toml).
data="$PWD/data/"
sed "s|\"\.\./data/|\"$data|; s/^lr = 2e-3/lr = 0.5/; s/^epochs = 60/epochs = 20/" configs/digits.toml >"$work/high-lr.toml"
sed "s|\"\.\./data/|\"$data|; s/keep = 0.8/keep = 1.0/; s/units = 128/units = 512/; s/^weight_decay = 1e-4/weight_decay = 0/;
  s/^validation = 287.*/validation = 300\nlimit = 340/; s/^epochs = 60/epochs = 200/; s/^schedule = .*/schedule = \"constant\"/" \
  configs/digits.toml >"$work/small-data.toml"
for run in high-lr small-data; do
  target/release/tinyreg train "$work/$run.toml" --out "$work/$run" >/dev/null
  for chart in loss accuracy; do
    cp "$work/$run/$chart.svg" "$dest/$run-$chart.svg.tmp" && mv "$dest/$run-$chart.svg.tmp" "$dest/$run-$chart.svg"
  done
  {
    echo "# tinyreg train, configs/digits.toml with: $(diff <(sed "s|\"\.\./data/|\"$data|" configs/digits.toml) "$work/$run.toml" | sed -n 's/^> //p' | paste -sd ';' -)"
    grep -o 'diagnosis[:a-z ]*: [^<]*' "$work/$run/index.html"
  } >"$dest/$run-diagnosis.txt"
done
echo "docs/recipe/ regenerated" >&2
