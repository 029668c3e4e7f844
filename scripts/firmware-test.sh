#!/usr/bin/env bash
# Builds and tests the C firmware (firmware/): configure + build with CMake (clang), unit
# tests against test/vectors under AddressSanitizer + UBSan, libFuzzer runs of the decoder,
# the memory-block parser and the device state machine for a bounded time (failing on any
# finding), a gcc build of the core and the POSIX device, and a Cortex-M3/M4/M7 compile of
# firmware/core (and a Cortex-M7 one of the shared WAMR glue, firmware/wamr, when WAMR's sources
# are there), all with warnings as errors.
#
#   scripts/firmware-test.sh              everything (about 2 minutes on 2 cores)
#   scripts/firmware-test.sh --build-only configure + build only (used by test/firmware.test.ts)
#
# Environment: FUZZ_SECONDS (default 30, per target), FIRMWARE_BUILD_DIR (default
# firmware/build), WAMR_ROOT (a wasm-micro-runtime tree; default: the one
# scripts/setup-firmware.sh fetched, else the POSIX device uses the stand-in runtime).
# Missing tools: run scripts/setup-firmware.sh first (as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FW="$ROOT/firmware"
BUILD="${FIRMWARE_BUILD_DIR:-$FW/build}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
BUILD_ONLY=0
[[ "${1:-}" == "--build-only" ]] && BUILD_ONLY=1

step() { printf '\n=== firmware: %s\n' "$*"; }
die() { printf 'firmware-test: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)

for tool in cmake clang; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup-firmware.sh (as root)"
done
[[ -f /usr/include/mbedtls/ssl.h ]] || die "mbedTLS headers not found: run scripts/setup-firmware.sh (as root)"

if [[ -z "${WAMR_ROOT:-}" && -f "$FW/third_party/wamr.path" ]]; then
  WAMR_ROOT="$(cat "$FW/third_party/wamr.path")"
fi
WAMR_ARGS=()
if [[ -n "${WAMR_ROOT:-}" && -f "$WAMR_ROOT/build-scripts/runtime_lib.cmake" ]]; then
  WAMR_ARGS=(-DWAMR_ROOT="$WAMR_ROOT")
fi

step "configure ($BUILD)"
mkdir -p "$BUILD"
cmake -S "$FW" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DWB_SANITIZE=ON -DWB_FUZZ=ON -DWB_POSIX_DEVICE=ON "${WAMR_ARGS[@]}" >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; die "cmake configure failed"; }
grep -E "wasm runtime" "$BUILD/configure.log" || true

step "build"
cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1 || { cat "$BUILD/build.log"; die "build failed"; }
grep -E "warning|Built target" "$BUILD/build.log" || true
for bin in wb_tests fuzz_decode fuzz_blocks fuzz_device wasmbed-device; do
  [[ -x "$BUILD/$bin" ]] || die "build did not produce $bin"
done
if [[ $BUILD_ONLY -eq 1 ]]; then
  echo "firmware build ok ($(( $(date +%s) - t0 )) s): $BUILD/wasmbed-device"
  exit 0
fi

step "unit tests (ASan + UBSan) against test/vectors"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$BUILD/wb_tests" "$ROOT/test/vectors"

step "gcc build (-Werror): core, unit tests, POSIX device"
# gcc is the compiler the boards use; its -Wformat-truncation and friends differ from clang's.
GCC_BUILD="$BUILD/gcc"
mkdir -p "$GCC_BUILD"
cmake -S "$FW" -B "$GCC_BUILD" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release -DWB_SANITIZE=OFF -DWB_FUZZ=OFF \
  -DWB_POSIX_DEVICE=ON "${WAMR_ARGS[@]}" >"$GCC_BUILD/configure.log" 2>&1 \
  || { cat "$GCC_BUILD/configure.log"; die "gcc: cmake configure failed"; }
cmake --build "$GCC_BUILD" -j"$(nproc)" >"$GCC_BUILD/build.log" 2>&1 || { cat "$GCC_BUILD/build.log"; die "gcc build failed"; }
"$GCC_BUILD/wb_tests" "$ROOT/test/vectors" | tail -n 2
echo "gcc: ok"

step "Cortex-M compile of firmware/core for every board CPU (arm-none-eabi-gcc, -Werror)"
# mps2/an385 is a Cortex-M3; stm32f746g_disco, nucleo_f767zi and mimxrt1064_evk are Cortex-M7;
# the Cortex-M4 boards of common/mcu-profiles.ts too. Flags as Zephyr builds the core (-Os, C99).
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc not found: run scripts/setup-firmware.sh (as root)"
for cpu in cortex-m3 cortex-m4 cortex-m7; do
  mkdir -p "$BUILD/$cpu"
  for src in "$FW"/core/src/*.c; do
    arm-none-eabi-gcc -mcpu="$cpu" -mthumb -mfloat-abi=soft -std=c99 -Os -ffreestanding \
      -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wconversion -Wno-sign-conversion \
      -Wformat-truncation=1 -pedantic -I"$FW/core/include" -c "$src" -o "$BUILD/$cpu/$(basename "$src" .c).o"
  done
  arm-none-eabi-size -t "$BUILD/$cpu"/*.o | tail -n 1
  echo "$cpu: ok"
done
# The WAMR glue the Zephyr build shares with the POSIX device (firmware/wamr), for a 32-bit
# CPU, against the WAMR headers the POSIX device uses. Not -pedantic: WAMR's native table
# takes function pointers as void *, which ISO C does not allow.
if [[ -n "${WAMR_ROOT:-}" && -f "$WAMR_ROOT/core/iwasm/include/wasm_export.h" ]]; then
  mkdir -p "$BUILD/cortex-m7/wamr"
  for src in "$FW"/wamr/*.c; do
    arm-none-eabi-gcc -mcpu=cortex-m7 -mthumb -mfloat-abi=soft -std=c99 -Os -ffreestanding \
      -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wconversion -Wno-sign-conversion \
      -Wformat-truncation=1 -I"$FW/core/include" -I"$WAMR_ROOT/core/iwasm/include" \
      -c "$src" -o "$BUILD/cortex-m7/wamr/$(basename "$src" .c).o"
  done
  echo "firmware/wamr for cortex-m7: ok"
fi

step "libFuzzer, ${FUZZ_SECONDS} s per target"
for target in decode blocks device; do
  work="$BUILD/fuzz-$target"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  log="$work/fuzz.log"
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$BUILD/fuzz_$target" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$FW/fuzz/corpus/$target" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  if [[ $rc -ne 0 ]] || ls "$work/artifacts" | grep -q .; then
    tail -n 60 "$log"
    die "fuzz_$target found a problem (exit $rc); reproducer in $work/artifacts/"
  fi
  echo "fuzz_$target: $runs inputs, no findings"
done

step "done in $(( $(date +%s) - t0 )) s"
echo "FIRMWARE TESTS PASSED"
