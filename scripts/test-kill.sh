#!/usr/bin/env bash
# Kills `tinyreg train` and `tinyreg search` with SIGKILL at a spread of
# moments and checks what the reliability promise says survives:
# - train (a 1.2M-parameter MLP, a 14 MB checkpoint with Adam's state, written
#   every epoch): half the kills land at a random moment, half while the
#   checkpoint's temporary file is being written. After each: the previous
#   checkpoint loads (`predict` verifies its CRC-32C), `report` draws the
#   folder, and `train --resume` goes on. The run finally resumed to its end
#   has the weights of an unbroken run, bit for bit.
# - search (64 digits trials of 30 epochs): killed at random moments, resumed
#   with `--resume` on 1 or 2 threads in turn; after each kill `report` draws
#   the folder; the final trials, epochs and winner checkpoint equal an
#   unbroken search's bit for bit (trial seconds aside).
# Prints how many kills landed inside a checkpoint write. Run from anywhere;
# KILLS (default 20) sets the kills of each command.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${KILLS:-20}
RANDOM=2026
cargo build --release -q -p tinyreg-cli
bin=$PWD/target/release/tinyreg
work=target/kill-test
rm -rf "$work"
mkdir -p "$work"
data=$PWD/data

cat >"$work/train.toml" <<EOF
seed = 3
[data]
format = "icls"
train = "$data/digits-train.bin"
test = "$data/digits-test.bin"
validation = 287
[network]
layers = [
  { type = "dense", units = 1024, relu = true },
  { type = "dropout", keep = 0.8 },
  { type = "dense", units = 1024, relu = true },
  { type = "dense", units = 10 },
]
[train]
epochs = 16
batch = 64
optimizer = "adam"
lr = 1e-3
EOF

cat >"$work/search.toml" <<EOF
seed = 0
[data]
format = "icls"
train = "$data/digits-train.bin"
test = "$data/digits-test.bin"
validation = 287
[network]
layers = [
  { type = "dense", units = 128, relu = true },
  { type = "dropout", keep = 0.8 },
  { type = "dense", units = 10 },
]
[train]
epochs = 30
batch = 32
optimizer = "adamw"
lr = 2e-3
weight_decay = 1e-4
[search]
sampler = "random"
trials = 64
seed = 5
params = [
  { name = "lr", low = 1e-4, high = 1e-1, log = true },
  { name = "layers.1.keep", low = 0.5, high = 1.0 },
]
EOF

# Sleeps a random 0.05 to 0.05 + $1 seconds (from the seeded $RANDOM).
random_sleep() {
  sleep "$(awk -v r="$RANDOM" -v m="$1" 'BEGIN { printf "%.3f", 0.05 + r / 32768 * m }')"
}

# Kills pid $1 as soon as a checkpoint's temporary file shows up in $2
# (within $3 seconds), else at the end of that time.
kill_in_write() {
  local pid=$1 dir=$2 deadline=$((SECONDS + $3))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    if compgen -G "$dir/.weights.tinyreg.*.tmp" >/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      return
    fi
  done
  kill -9 "$pid" 2>/dev/null || true
}

echo "== train: an unbroken run"
"$bin" train "$work/train.toml" --out "$work/train-whole" >"$work/train-whole.log"

echo "== train: $kills kills"
dir=$work/train-killed
in_write=0
for k in $(seq 1 "$kills"); do
  args=(train "$work/train.toml" --out "$dir")
  if [ -f "$dir/weights.tinyreg" ]; then
    args+=(--resume "$dir/weights.tinyreg")
  fi
  "$bin" "${args[@]}" >"$work/train-$k.log" 2>&1 &
  pid=$!
  if [ $((k % 2)) -eq 0 ]; then
    kill_in_write "$pid" "$dir" 20
  else
    random_sleep 1.2
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  if compgen -G "$dir/.weights.tinyreg.*.tmp" >/dev/null; then
    in_write=$((in_write + 1))
    rm -f "$dir"/.weights.tinyreg.*.tmp
  fi
  if [ -f "$dir/weights.tinyreg" ]; then
    "$bin" predict "$work/train.toml" --weights "$dir/weights.tinyreg" --out "$work/predicted.txt" 2>>"$work/predict.log" \
      || { echo "FAIL: kill $k: the previous checkpoint does not load" >&2; exit 1; }
  fi
  if [ -f "$dir/run.json" ]; then
    "$bin" report "$dir" >/dev/null || { echo "FAIL: kill $k: report failed" >&2; exit 1; }
  fi
  if grep -q '"status":"done"' "$dir/run.json" 2>/dev/null; then
    echo "train: finished before kill $k"
    break
  fi
done
echo "train: $k kills, $in_write inside a checkpoint write; every checkpoint left loaded and every folder reported"
if ! grep -q '"status":"done"' "$dir/run.json" 2>/dev/null; then
  args=(train "$work/train.toml" --out "$dir")
  if [ -f "$dir/weights.tinyreg" ]; then
    args+=(--resume "$dir/weights.tinyreg")
  fi
  "$bin" "${args[@]}" >"$work/train-final.log"
fi
if ! cmp -s "$work/train-whole/weights.tinyreg" "$dir/weights.tinyreg"; then
  echo "FAIL: the resumed run's weights differ from the unbroken run's" >&2
  exit 1
fi
echo "train: resumed to the end, weights.tinyreg equals the unbroken run's byte for byte"

echo "== search: an unbroken run"
"$bin" search "$work/search.toml" --out "$work/search-whole" --threads 2 >"$work/search-whole.log"

echo "== search: $kills kills"
dir=$work/search-killed
progress=""
for k in $(seq 1 "$kills"); do
  threads=$((k % 2 + 1))
  if [ -f "$dir/journal.jsonl" ]; then
    args=(search --resume "$dir" --threads "$threads")
  else
    args=(search "$work/search.toml" --out "$dir" --threads "$threads")
  fi
  "$bin" "${args[@]}" >"$work/search-$k.log" 2>&1 &
  pid=$!
  random_sleep 1.5
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -f "$dir/run.json" ]; then
    "$bin" report "$dir" >/dev/null || { echo "FAIL: kill $k: report failed" >&2; exit 1; }
  fi
  progress+=" $(($(cat "$dir/journal.jsonl" 2>/dev/null | wc -l) - 1))"
done
echo "search: $kills kills; trials in the journal after each:$progress (of 64); every folder reported"
if [ -f "$dir/journal.jsonl" ]; then
  "$bin" search --resume "$dir" --threads 1 >"$work/search-final.log"
else
  "$bin" search "$work/search.toml" --out "$dir" --threads 1 >"$work/search-final.log"
fi
python3 - "$work/search-whole" "$dir" <<'EOF'
import json, sys
whole, resumed = sys.argv[1], sys.argv[2]
def trials(d):
    rows = [json.loads(l) for l in open(f"{d}/trials.jsonl")]
    for r in rows:
        r.pop("seconds")
    return rows
assert trials(whole) == trials(resumed), "trials differ"
for name in ["epochs.jsonl", "weights.tinyreg", "curves.jsonl"]:
    assert open(f"{whole}/{name}", "rb").read() == open(f"{resumed}/{name}", "rb").read(), name
print("search: resumed to the end, trials, epochs and the winner's checkpoint equal the unbroken search's")
EOF
