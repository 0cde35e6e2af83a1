#!/usr/bin/env bash
# test-cross-target.sh - run the crate's tests on aarch64 (NEON, under
# qemu-aarch64) and on wasm32 with simd128 (under Node's WASI), then compare
# the training bits of every target with x86-64's (tests/cross_target.rs).
#
# Usage: scripts/test-cross-target.sh [aarch64|wasm32|compare]...   (default: all three)
#
# Installs what it needs: Debian's qemu-user, the aarch64 cross gcc and libc
# (the linker), and the two Rust targets with rustup. Where rustup cannot
# download a target, aarch64 falls back to Debian's rustc-web building std
# from source (scripts/install-embedded-toolchain.sh, -Zbuild-std); wasm32 has
# no such fallback (Debian's wasi-libc is older than the std it would need),
# so without rustup's target the wasm32 tests are skipped with a notice that
# says so (and the comparison goes on with the targets that ran).
#
# Tests run in release with overflow checks and debug assertions on (QEMU runs
# a debug build about 6x slower, and a wrap anywhere still fails a test).
# Doc tests are not cross-compiled; they run on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'echo "test-cross-target: failed at line $LINENO" >&2' ERR

say() { echo "test-cross-target: $*" >&2; }
root_do() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(aarch64 wasm32 compare)

bits_dir="$PWD/target/cross-target-bits"
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true

apt_install() {
  local need=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ "${#need[@]}" -gt 0 ]; then
    say "apt-get install ${need[*]}"
    root_do apt-get update -qq
    root_do env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
}

# has_rustup_target TARGET: whether rustup's toolchain has (or can now download) TARGET's std.
has_rustup_target() {
  rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
  say "rustup target add $1"
  timeout 300 rustup target add "$1" >&2 2>&1
}

# test_for TARGET BUILD-STD-CRATES [cargo test arguments]: the whole crate's
# tests for TARGET, writing its training bits into $bits_dir.
test_for() {
  local target=$1 build_std=$2
  shift 2
  if has_rustup_target "$target"; then
    TINYREG_CROSS_TARGET_DIR="$bits_dir" cargo test --release --target "$target" "$@"
  elif [ -n "$build_std" ]; then
    say "no rustup std for $target: building it from Debian's rust-web-src"
    (
      eval "$(scripts/install-embedded-toolchain.sh)"
      TINYREG_CROSS_TARGET_DIR="$bits_dir" CARGO_TARGET_DIR=target/cross-build-std \
        cargo test --release -Zbuild-std="$build_std" --target "$target" "$@"
    )
  else
    say "no std for $target: rustup could not download it and it has no fallback"
    return 1
  fi
}

mkdir -p "$bits_dir"
for step in "${steps[@]}"; do
  case "$step" in
    aarch64)
      apt_install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
      say "aarch64 (NEON): the crate's tests under qemu-aarch64"
      test_for aarch64-unknown-linux-gnu std,panic_unwind
      ;;
    wasm32)
      command -v node >/dev/null || apt_install nodejs
      node_major=$(node -p 'process.versions.node.split(".")[0]')
      node_flags=(--no-warnings)
      # Node 18 (Debian 12's) keeps WASI behind a flag; 20 and later do not.
      [ "$node_major" -ge 20 ] || node_flags+=(--experimental-wasi-unstable-preview1)
      export CARGO_TARGET_WASM32_WASIP1_RUNNER="node ${node_flags[*]} $PWD/scripts/wasi-run.mjs"
      if ! has_rustup_target wasm32-wasip1; then
        say "NOTICE: wasm32 NOT TESTED: rustup could not add wasm32-wasip1 (no other std for it here)"
        continue
      fi
      say "wasm32 (simd128): the crate's tests under Node $(node --version) WASI"
      RUSTFLAGS="-C target-feature=+simd128" test_for wasm32-wasip1 ""
      say "wasm32-unknown-unknown (the browser's target): the library builds"
      if has_rustup_target wasm32-unknown-unknown; then
        RUSTFLAGS="-C target-feature=+simd128" cargo build --release --lib --target wasm32-unknown-unknown
      else
        say "NOTICE: wasm32-unknown-unknown NOT BUILT: rustup could not add it"
      fi
      ;;
    compare)
      say "x86-64: the training bits of the default build (SSE2) and of AVX2 + FMA"
      # The default build in the plain release profile, which the examples use
      # too, so CI builds the dependencies once for both.
      env -u CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS -u CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS \
        TINYREG_CROSS_TARGET_DIR="$bits_dir" cargo test --release --test cross_target \
        cross_target_training_learns
      # The AVX2 build in CI's AVX2 step's folder and profile, which it reuses.
      RUSTFLAGS="-C target-feature=+avx2,+fma" CARGO_TARGET_DIR=target/avx2 \
        TINYREG_CROSS_TARGET_DIR="$bits_dir" cargo test --release --test cross_target \
        cross_target_training_learns
      say "every target's training bits against every other's"
      env -u CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS -u CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS \
        TINYREG_CROSS_TARGET_DIR="$bits_dir" cargo test --release --test cross_target \
        cross_target_results_agree -- --ignored --nocapture
      ;;
    *)
      say "unknown step $step (aarch64, wasm32 or compare)"
      exit 2
      ;;
  esac
done
