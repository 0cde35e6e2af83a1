#!/usr/bin/env bash
# check-c-example.sh - the C ABI end to end: include/tinyreg.h is what cbindgen
# makes of src/capi.rs now; examples/c/main.c, built by the host gcc against
# libtinyreg_c.a, trains digits and passes; the same C, built by
# arm-none-eabi-gcc (newlib, rdimon semihosting) for the Cortex-M4F, passes
# under QEMU. Needs the embedded toolchain (scripts/install-embedded-toolchain.sh
# with QEMU and the ARM GNU tools). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's cbindgen (0.24) installs in seconds where `cargo install` builds
# for minutes; both make the same header up to spacing, which the check
# ignores (diff -b).
root_do() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v cbindgen >/dev/null; then
  root_do apt-get install -y -qq cbindgen >/dev/null 2>&1 \
    || (root_do apt-get update -qq && root_do apt-get install -y -qq cbindgen) >/dev/null 2>&1 \
    || cargo install cbindgen --locked --version 0.29.4
fi

echo "== header is current"
cbindgen -q --config examples/c/cbindgen.toml --crate tinyreg --output target/tinyreg.h.new
diff -u -b include/tinyreg.h target/tinyreg.h.new
echo "include/tinyreg.h is current"

echo "== host: gcc + libtinyreg_c.a"
(cd examples/c && cargo build --release)
gcc -O2 -Wall -Wextra -Werror -std=c11 -I include -o target/c-example-host examples/c/main.c \
  examples/c/target/release/libtinyreg_c.a -lm
target/c-example-host data

echo "== Cortex-M4F: arm-none-eabi-gcc + rdimon, under QEMU"
eval "$(scripts/install-embedded-toolchain.sh)"
(cd examples/c && cargo build --release -Zbuild-std=core --target thumbv7em-none-eabihf)
arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -O2 -std=c11 -Wall -Werror \
  --specs=rdimon.specs -I include -T examples/c/mps2-an386.ld -Wl,--gc-sections -Wl,--no-warn-rwx-segments -Wl,--no-warn-execstack \
  -o target/c-example-m4.elf examples/c/startup.c examples/c/main.c \
  examples/c/target/thumbv7em-none-eabihf/release/libtinyreg_c.a -lm
arm-none-eabi-size target/c-example-m4.elf
timeout 600 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -kernel target/c-example-m4.elf
echo "C example passed on the host and on the Cortex-M4F"
