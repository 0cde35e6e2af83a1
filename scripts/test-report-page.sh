#!/usr/bin/env bash
# Opens the index.html of a `tinyreg search` run in headless Chromium
# (Debian's; installed with apt-get when missing and root): the page must
# render with every picture loaded (the page's own script counts them), and a
# screenshot is kept beside it (target/report-ci/screenshot.png).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/report-ci
if ! command -v chromium >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
    || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >&2
fi
cargo build --release -q -p tinyreg-cli
rm -rf "$out"
target/release/tinyreg search configs/digits.toml --out "$out" >"$out.log"
page="file://$(pwd)/$out/index.html"
images=$(grep -c '<img ' "$out/index.html")
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000)
dom=$(chromium "${flags[@]}" --dump-dom "$page" 2>/dev/null)
status=$(printf '%s' "$dom" | grep -o 'data-images="[^"]*"' || true)
echo "index.html: $images pictures; the page says: ${status:-nothing (did it render?)}"
if [ "$status" != "data-images=\"$images loaded, 0 missing\"" ]; then
  echo "FAIL: the page did not render with every picture" >&2
  exit 1
fi
chromium "${flags[@]}" --window-size=1200,2600 --screenshot="$out/screenshot.png" "$page" 2>/dev/null
test -s "$out/screenshot.png"
echo "screenshot: $out/screenshot.png"
