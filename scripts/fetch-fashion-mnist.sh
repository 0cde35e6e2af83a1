#!/usr/bin/env bash
# fetch-fashion-mnist.sh - put Fashion-MNIST's IDX files (gzip) into a folder
# (default data/fashion-mnist) for `cargo run --release --example fashion`.
#
# Source: Debian's `dataset-fashion-mnist` package (H. Xiao, K. Rasul, R. Vollgraf,
# "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
# Algorithms", arXiv:1708.07747, 2017; MIT licence, (c) 2017 Zalando SE). The .deb is
# downloaded with apt-get and unpacked with dpkg -x: nothing is installed.
# Idempotent: an existing folder with the four files is left alone.
set -euo pipefail
dir="${1:-data/fashion-mnist}"
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
have=1
for f in "${files[@]}"; do [ -e "$dir/$f" ] || have=0; done
if [ "$have" = 1 ]; then echo "$dir"; exit 0; fi
root_do() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
tmp="$(mktemp -d)"
chmod 755 "$tmp" # apt-get download runs as _apt
trap 'rm -rf "$tmp"' EXIT
root_do apt-get update -qq >&2
(cd "$tmp" && apt-get download -qq dataset-fashion-mnist) >&2
dpkg -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/root"
mkdir -p "$dir"
for f in "${files[@]}"; do
  cp "$(find "$tmp/root" -name "$f" | head -1)" "$dir/$f"
done
echo "$dir"
