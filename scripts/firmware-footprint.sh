#!/usr/bin/env bash
# firmware-footprint.sh - the firmware's footprint and instruction counts on the
# Cortex-M4F (QEMU mps2-an386), for Adam and for momentum SGD: flash (code and
# constants without the digits set), static RAM (data + bss, training state
# included), peak stack, and instructions per training step and per multiply-add
# of the dense kernel (QEMU's insncount plugin, scripts/qemu-insncount.c).
# Needs the embedded toolchain (scripts/install-embedded-toolchain.sh) and QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/install-embedded-toolchain.sh)"
plugin="$(scripts/build-qemu-insncount.sh)"
data_bytes=$(($(stat -c %s data/digits-train.bin) + $(stat -c %s data/digits-test.bin)))
target=thumbv7em-none-eabihf
echo "| optimizer | flash without data (text+rodata) | data set in flash | static RAM (data+bss) | peak stack | test acc | instructions / step | instructions / MAC |"
echo "|---|---|---|---|---|---|---|---|"
# All variants share the firmware's own target folder (CI built the plain
# variant there already): core and the crate compile once, a feature change
# rebuilds the firmware crate only. Each ELF is read before the next build.
build() { # build FEATURES -> path of the ELF
  (cd examples/firmware && cargo build -q --release -Zbuild-std=core --target "$target" \
    --features "$1")
  echo "examples/firmware/target/$target/release/tinyreg-firmware"
}
for variant in adam sgd; do
  extra=""
  [ "$variant" = sgd ] && extra="sgd"
  # The footprint of the firmware as shipped; the counts from a build that adds
  # the measurement windows (and their buffers).
  elf=$(build "$extra")
  read -r text data bss _ < <(arm-none-eabi-size -A "$elf" | awk '
    $1 == ".text" || $1 == ".rodata" || $1 == ".vector_table" { t += $2 }
    $1 == ".data" { d += $2 } $1 == ".bss" || $1 == ".uninit" { b += $2 }
    END { print t, d, b }')
  elf=$(build "insncount${extra:+,$extra}")
  begin=$(arm-none-eabi-nm "$elf" | awk '$3 == "bench_begin" { print "0x" $1 }')
  end=$(arm-none-eabi-nm "$elf" | awk '$3 == "bench_end" { print "0x" $1 }')
  out=$(timeout 600 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf" \
    -plugin "$plugin,begin=$begin,end=$end" -d plugin 2>&1)
  step=$(echo "$out" | awk '/insncount window 0:/ { print $4 }')
  dense=$(echo "$out" | awk '/insncount window 1:/ { print $4 }')
  stack=$(echo "$out" | sed -n 's/.*peak stack \([0-9]*\) bytes.*/\1/p')
  acc=$(echo "$out" | sed -n 's/^test accuracy \([0-9]*\)%.*/\1/p')
  per_mac=$(awk -v d="$dense" 'BEGIN { printf "%.2f", d / (16 * 64 * 32) }')
  echo "| $variant | $((text - data_bytes)) B | $data_bytes B | $((data + bss)) B | $stack B | $acc% | $step | $per_mac |"
done
