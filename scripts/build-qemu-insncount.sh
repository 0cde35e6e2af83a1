#!/usr/bin/env bash
# build-qemu-insncount.sh - build scripts/qemu-insncount.c into libinsncount.so
# for the installed qemu-system-arm. Debian's QEMU loads plugins but ships no
# plugin header, so qemu-plugin.h is taken from the Debian source package of the
# installed version, fetched with a private apt state (deb-src twins of the
# system's sources) so the system's apt configuration is left alone.
# Usage: scripts/build-qemu-insncount.sh [DIR]   (default target/qemu-plugin)
# Prints the path of the built plugin.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-target/qemu-plugin}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
header="$dir/qemu-plugin.h"
if [ ! -e "$header" ]; then
  version=$(dpkg-query -W -f='${source:Version}' qemu-system-arm)
  state="$dir/apt"
  rm -rf "$state"
  mkdir -p "$state/lists/partial" "$state/sources"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/*.sources > "$state/sources/src.sources" 2>/dev/null || true
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list > "$state/sources/src.list" 2>/dev/null || true
  apt_private=(apt-get -qq -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$state/sources"
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
  "${apt_private[@]}" update >&2
  (cd "$state" && "${apt_private[@]}" source --download-only "qemu=$version" >&2)
  tar -xJf "$state"/qemu_*.orig.tar.xz -C "$state" --no-same-owner --wildcards --no-wildcards-match-slash \
    '*/include/qemu/qemu-plugin.h'
  mv "$state"/qemu-*/include/qemu/qemu-plugin.h "$header"
  rm -rf "$state"
fi
plugin="$dir/libinsncount.so"
if [ ! "$plugin" -nt "$here/qemu-insncount.c" ]; then
  cc -shared -fPIC -O2 -Wall -Wextra $(pkg-config --cflags glib-2.0 2>/dev/null) -I"$dir" \
    "$here/qemu-insncount.c" -o "$plugin"
fi
echo "$plugin"
