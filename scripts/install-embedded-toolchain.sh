#!/usr/bin/env bash
# install-embedded-toolchain.sh - set up a Rust compiler for the no_std targets
# tinyreg is checked on (thumbv7em-none-eabihf, thumbv6m-none-eabi,
# riscv32imac-unknown-none-elf), on a Debian 12 machine where `rustup target add`
# cannot download.
#
# Why: rustup's stable has no std for those targets here. Debian's `rustc-web`
# (1.96, every LLVM target) plus its std sources builds them with
# `-Zbuild-std=core`. We unpack those packages (and lld, the targets' default
# linker) into a private folder with `dpkg -x`, so nothing clashes with rustup;
# cargo stays rustup's. Set EMBEDDED_APT_PACKAGES to also apt-get install system
# tools the firmware checks need, e.g. "qemu-system-arm qemu-system-misc
# gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi".
#
# Usage: eval "$(scripts/install-embedded-toolchain.sh [DIR])"   # default target/embedded-toolchain
#        cargo build -Zbuild-std=core --target thumbv7em-none-eabihf --no-default-features
# Prints the `export RUSTC=... RUSTDOC=... RUSTC_BOOTSTRAP=1` line to eval.
# Idempotent: a finished DIR is reused; delete it to refresh.
set -euo pipefail
trap 'echo "install-embedded-toolchain: failed at line $LINENO" >&2' ERR

dir="${1:-${EMBEDDED_TOOLCHAIN_DIR:-target/embedded-toolchain}}"
rust_version="${EMBEDDED_RUST_VER:-1.96.0+dfsg1-1~deb12u2}"
llvm_version="${EMBEDDED_LLVM_VER:-1:22.1.8-1~deb12u1}"
extra_apt="${EMBEDDED_APT_PACKAGES:-}"

say() { echo "install-embedded-toolchain: $*" >&2; }
root_do() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
root="$dir/root"
debs="$dir/debs"

if [ -n "$extra_apt" ]; then
  need=()
  for p in $extra_apt; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ "${#need[@]}" -gt 0 ]; then
    root_do apt-get update -qq >&2
    # One at a time: on a machine with backported QEMU tools, asking for all of
    # them at once made apt's resolver give up ("generated breaks").
    for p in "${need[@]}"; do
      say "apt-get install $p"
      root_do env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2
    done
  fi
fi

# fetch PKG VERSION -> path of the downloaded .deb (falls back to apt's candidate).
fetch() {
  local pkg=$1 want=$2 got
  if (cd "$debs" && apt-get download -qq "$pkg=$want") >/dev/null 2>&1; then
    got=$want
  else
    got=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p')
    say "warning: $pkg=$want not available, using $got"
    (cd "$debs" && apt-get download -qq "$pkg=$got") >&2
  fi
  ls "$debs/${pkg}_${got/:/%3a}_"*.deb
}

if [ ! -e "$root/.complete" ]; then
  rm -rf "$root" "$debs"
  mkdir -p "$root" "$debs"
  root_do apt-get update -qq >&2
  rustc_deb=$(fetch rustc-web "$rust_version")
  version=$(dpkg-deb -f "$rustc_deb" Version)
  stddev_deb=$(fetch libstd-rust-web-dev "$version")
  std_name=$(dpkg-deb -f "$stddev_deb" Depends | grep -o 'libstd-rust-web-[0-9.]*[0-9]' | head -1)
  std_deb=$(fetch "$std_name" "$version")
  src_deb=$(fetch rust-web-src "$version")
  llvm_name=$(dpkg-deb -f "$std_deb" Depends | grep -o 'libllvm[0-9]*' | head -1)
  llvm_deb=$(fetch "$llvm_name" "$llvm_version")
  lld_deb=$(fetch "lld-${llvm_name#libllvm}" "$(dpkg-deb -f "$llvm_deb" Version)")
  for f in "$rustc_deb" "$stddev_deb" "$std_deb" "$llvm_deb" "$lld_deb"; do
    say "unpacking $(basename "$f")"
    dpkg -x "$f" "$root"
  done
  # -Zbuild-std reads only library/ of the source tree.
  say "unpacking library/ of $(basename "$src_deb")"
  dpkg-deb --fsys-tarfile "$src_deb" | tar -xf - -C "$root" --wildcards \
    --no-wildcards-match-slash './usr/src/rustc-*/library' './usr/lib/rustlib/src'
  # rustc looks for `rust-lld` in <sysroot>/lib/rustlib/<host>/bin.
  host_bin=$(echo "$root"/usr/lib/rustlib/*-linux-gnu)/bin
  mkdir -p "$host_bin"
  ln -sfn "../../../llvm-${llvm_name#libllvm}/bin/lld" "$host_bin/rust-lld"
  mkdir -p "$dir/bin"
  cat > "$dir/bin/rustc" <<'WRAPPER'
#!/bin/sh
# Runs the unpacked Debian rustc with its private shared libraries.
root="$(dirname "$(readlink -f "$0")")/../root"
lib=$(echo "$root"/usr/lib/*-linux-gnu)
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$root/usr/bin/$(basename "$0")" "$@"
WRAPPER
  chmod +x "$dir/bin/rustc"
  ln -sfn rustc "$dir/bin/rustdoc"
  rm -rf "$debs"
  touch "$root/.complete"
fi

"$dir/bin/rustc" -V >&2
echo "export RUSTC='$dir/bin/rustc' RUSTDOC='$dir/bin/rustdoc' RUSTC_BOOTSTRAP=1"
