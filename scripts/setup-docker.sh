#!/usr/bin/env bash
# Installs what the docker, renode-in-docker and qemu runtimes (and their tests) need,
# idempotently: only missing Debian packages are installed. Run as root on Debian 12:
#
#   sudo bash scripts/setup-docker.sh            # install what is missing
#   bash scripts/setup-docker.sh --check         # only report; exit 1 if something is missing
#
#   docker.io          the Docker engine (dockerd + runc + containerd); scripts/start-dockerd.sh
#                      starts a private daemon for the platform and its tests
#   debootstrap        builds the virtual-device image offline (scripts/build-device-image.sh)
#   qemu-system-arm    the qemu runtime (Mps2An385: -M mps2-an385 with its lan9118 NIC)
#   gcc-arm-none-eabi  builds the tiny qemu test firmware (qemu/test-firmware)
#   libnewlib-arm-none-eabi (its C library headers; the test firmware is freestanding)
#
# Renode and the Zephyr SDK are not packaged by Debian: install Renode from
# https://github.com/renode/renode/releases, or run it from the antmicro/renode image.
set -euo pipefail

say() { printf 'setup-docker: %s\n' "$*"; }

CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

# package -> a command it provides (what we really need)
declare -A PROVIDES=(
  [docker.io]=dockerd
  [debootstrap]=debootstrap
  [qemu-system-arm]=qemu-system-arm
  [gcc-arm-none-eabi]=arm-none-eabi-gcc
)
PACKAGES=(docker.io debootstrap qemu-system-arm gcc-arm-none-eabi)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if installed "$pkg"; then
    say "$pkg: already installed"
  elif command -v "${PROVIDES[$pkg]}" >/dev/null 2>&1; then
    say "$pkg: not from apt, but ${PROVIDES[$pkg]} is on PATH ($(command -v "${PROVIDES[$pkg]}")); using it"
  else
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  say "everything present"
  exit 0
fi
if [[ $CHECK_ONLY -eq 1 ]]; then
  say "missing: ${missing[*]} (run: sudo bash $0)"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  say "missing packages: ${missing[*]}"
  say "run as root to install them: sudo bash $0"
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  say "apt-get not found: install ${missing[*]} with your system's package manager"
  exit 1
fi
say "installing: ${missing[*]} (apt-get; this can take a few minutes)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
for pkg in "${missing[@]}"; do
  if ! command -v "${PROVIDES[$pkg]}" >/dev/null 2>&1; then
    say "$pkg was installed but ${PROVIDES[$pkg]} is still not on PATH"
    exit 1
  fi
done
say "installed: ${missing[*]}"
say "note: the engine is not started as a service; scripts/start-dockerd.sh <root> starts a private one"
