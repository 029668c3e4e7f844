#!/usr/bin/env bash
# Installs what the firmware build and tests need (scripts/firmware-test.sh), idempotently:
# only missing Debian packages are installed. Run as root on Debian 12 (bookworm):
#
#   sudo scripts/setup-firmware.sh
#
#   cmake, make, gcc          build
#   clang, libclang-rt-14-dev AddressSanitizer/UBSan and libFuzzer
#   libmbedtls-dev            TLS for the POSIX device (mbedTLS 2.28, as in Debian 12)
#   gcc-arm-none-eabi,        the Cortex-M3/M4/M7 compile check of firmware/core
#   libnewlib-arm-none-eabi
#
# WAMR (optional): if `cargo` is installed, the WAMR sources are fetched from crates.io
# (crate wamr-sys, which ships wasm-micro-runtime) and recorded in firmware/third_party/
# wamr.path; the POSIX device then runs apps in WAMR. Without them it uses the stand-in
# runtime, which validates modules but executes nothing. WAMR_FETCH=0 skips this step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'setup-firmware: %s\n' "$*"; }

PACKAGES=(cmake make gcc clang libclang-rt-14-dev libmbedtls-dev gcc-arm-none-eabi libnewlib-arm-none-eabi)
missing=()
for pkg in "${PACKAGES[@]}"; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    say "$pkg: already installed"
  else
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing packages: ${missing[*]}"
    say "run as root (sudo $0) to install them"
    exit 1
  fi
  say "installing: ${missing[*]} (apt-get; this can take a few minutes)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  say "packages installed"
else
  say "all Debian packages present"
fi

# WAMR sources (optional)
WAMR_PATH_FILE="$ROOT/firmware/third_party/wamr.path"
if [[ "${WAMR_FETCH:-1}" == "0" ]]; then
  say "WAMR: skipped (WAMR_FETCH=0)"
elif [[ -f "$WAMR_PATH_FILE" && -f "$(cat "$WAMR_PATH_FILE")/build-scripts/runtime_lib.cmake" ]]; then
  say "WAMR: sources at $(cat "$WAMR_PATH_FILE")"
elif command -v cargo >/dev/null; then
  say "WAMR: fetching the wamr-sys crate (wasm-micro-runtime sources) from crates.io with cargo"
  probe="$ROOT/firmware/third_party/wamr-fetch"
  mkdir -p "$probe/src"
  printf '[package]\nname = "wamr-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\nwamr-sys = "=0.1.1"\n' \
    >"$probe/Cargo.toml"
  echo 'fn main() {}' >"$probe/src/main.rs"
  if (cd "$probe" && cargo fetch -q 2>&1 | tail -n 5); then
    CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
    wamr=$(ls -d "$CARGO_HOME_DIR"/registry/src/*/wamr-sys-0.1.1/wasm-micro-runtime 2>/dev/null | head -n 1 || true)
    if [[ -n "$wamr" && -f "$wamr/build-scripts/runtime_lib.cmake" ]]; then
      echo "$wamr" >"$WAMR_PATH_FILE"
      say "WAMR: sources at $wamr"
    else
      say "WAMR: crate fetched but sources not found; the POSIX device will use the stand-in runtime"
    fi
  else
    say "WAMR: cargo fetch failed; the POSIX device will use the stand-in runtime"
  fi
else
  say "WAMR: cargo not installed; the POSIX device will use the stand-in runtime (apt-get install cargo to get WAMR)"
fi
say "done"
