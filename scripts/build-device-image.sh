#!/usr/bin/env bash
# Builds the virtual-device image offline, with no image registry: a Debian 12 (bookworm)
# minbase rootfs from debootstrap plus this machine's node binary is imported as the base
# image (docker import), then docker/Dockerfile adds the device bundle on top of it, exactly
# as it does on node:20-bookworm-slim for users with a registry.
#
#   scripts/build-device-image.sh [--bundle DIR] [--tag TAG] [--cache DIR] [--rebuild-rootfs]
#
#   --bundle DIR   the esbuild device bundle (dist/device-<hash>/, holds main.mjs); built if omitted
#   --tag TAG      image tag; default wasmbed/virtual-device:<bundle hash>
#   --cache DIR    where the debootstrapped rootfs tarball is kept between runs (default .tools/device-image)
#
# DOCKER_HOST is honoured (the engine from scripts/start-dockerd.sh). Nothing is rebuilt that
# exists: an existing TAG is kept, the base image and the rootfs tarball are reused. The first
# run debootstraps (a few minutes, needs root and a Debian mirror: DEBIAN_MIRROR, default
# http://deb.debian.org/debian); later runs take seconds. The image tag is printed last on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'build-device-image: %s\n' "$*" >&2; }

BUNDLE=""
TAG=""
CACHE="$ROOT/.tools/device-image"
REBUILD_ROOTFS=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bundle) BUNDLE="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    --rebuild-rootfs) REBUILD_ROOTFS=1; shift ;;
    *) say "unknown argument $1"; exit 2 ;;
  esac
done

command -v docker >/dev/null || { say "docker CLI not found: sudo bash scripts/setup-docker.sh"; exit 1; }
if ! docker version >/dev/null 2>&1; then
  say "no Docker engine answers at ${DOCKER_HOST:-the default socket}; start one: eval \"\$(scripts/start-dockerd.sh .tools/dockerd)\" && export DOCKER_HOST"
  exit 1
fi

if [[ -z "$BUNDLE" ]]; then
  say "building the device bundle (runtimes/device-bundle.ts)"
  BUNDLE="$(cd "$ROOT" && node --import tsx -e 'const m = await import("./runtimes/device-bundle.ts"); console.log(m.ensureDeviceBundle ? await m.ensureDeviceBundle() : "")' | tail -n 1)"
  BUNDLE="$(dirname "$BUNDLE")"
fi
[[ -f "$BUNDLE/main.mjs" ]] || { say "no main.mjs in bundle directory $BUNDLE"; exit 1; }
BUNDLE="$(cd "$BUNDLE" && pwd)"
if [[ -z "$TAG" ]]; then
  hash="$(basename "$BUNDLE")"
  TAG="wasmbed/virtual-device:${hash#device-}"
fi

if docker image inspect "$TAG" >/dev/null 2>&1; then
  say "image $TAG already present"
  echo "$TAG"
  exit 0
fi
mkdir -p "$CACHE"
SAVED="$CACHE/images/$(printf '%s' "$TAG" | tr '/:' '__').tar"
if [[ -s "$SAVED" ]]; then
  say "loading $TAG from $SAVED"
  if docker load -q -i "$SAVED" >/dev/null && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG"
    exit 0
  fi
  say "loading $SAVED failed; rebuilding"
  rm -f "$SAVED"
fi

NODE="$(command -v node)"
NODE_VERSION="$("$NODE" --version)"
ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)"
BASE_TAG="wasmbed/device-base:bookworm-node${NODE_VERSION#v}-${ARCH}"
ROOTFS_TAR="$CACHE/bookworm-minbase-$ARCH.tar"
mkdir -p "$CACHE"

BASE_SAVED="$CACHE/images/$(printf '%s' "$BASE_TAG" | tr '/:' '__').tar"
if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1 && [[ $REBUILD_ROOTFS -eq 0 && -s "$BASE_SAVED" ]]; then
  say "loading $BASE_TAG from $BASE_SAVED"
  docker load -q -i "$BASE_SAVED" >/dev/null || rm -f "$BASE_SAVED"
fi
if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  if [[ $REBUILD_ROOTFS -eq 1 || ! -s "$ROOTFS_TAR" ]]; then
    command -v debootstrap >/dev/null || { say "debootstrap not found: sudo bash scripts/setup-docker.sh"; exit 1; }
    [[ $(id -u) -eq 0 ]] || { say "debootstrap needs root"; exit 1; }
    MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    work="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    trap 'rm -rf "$work" "$ROOTFS_TAR.tmp"' EXIT
    say "debootstrap bookworm (minbase, $ARCH) from $MIRROR into $work; the first build takes a few minutes"
    started=$(date +%s)
    debootstrap --variant=minbase --arch="$ARCH" bookworm "$work" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
      say "debootstrap failed; last lines of $CACHE/debootstrap.log:"
      tail -n 20 "$CACHE/debootstrap.log" >&2
      exit 1
    }
    # What a container does not need: caches, docs, locales, apt lists.
    rm -rf "$work"/var/cache/apt/* "$work"/var/lib/apt/lists/* "$work"/usr/share/doc/* \
      "$work"/usr/share/man/* "$work"/usr/share/info/* "$work"/var/log/*
    find "$work/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
    chmod 755 "$work" # mktemp made it 0700; it becomes the image's /
    tar --numeric-owner -C "$work" -cf "$ROOTFS_TAR.tmp" .
    mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$work"
    trap - EXIT
    say "rootfs cached at $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1), $(($(date +%s) - started)) s)"
  else
    say "using cached rootfs $ROOTFS_TAR"
  fi
  # Base image = rootfs + node at /usr/local/bin/node (where the node:20 images have it).
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/rootfs"
  tar --numeric-owner -C "$stage/rootfs" -xf "$ROOTFS_TAR"
  chmod 755 "$stage/rootfs"
  install -m 0755 "$NODE" "$stage/rootfs/usr/local/bin/node"
  tar --numeric-owner -C "$stage/rootfs" -cf "$stage/base.tar" .
  rm -rf "$stage/rootfs"
  say "importing $BASE_TAG (node $NODE_VERSION from $NODE)"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --message "wasmbed device base: debian bookworm minbase + node $NODE_VERSION" \
    "$stage/base.tar" "$BASE_TAG" >/dev/null
  rm -rf "$stage"
  trap - EXIT
  if ! docker run --rm --network none "$BASE_TAG" node -e 'process.exit(0)' >/dev/null 2>&1; then
    say "node does not run in $BASE_TAG (is $NODE a dynamically linked glibc build?)"
    exit 1
  fi
  mkdir -p "$CACHE/images"
  docker save -o "$BASE_SAVED.tmp" "$BASE_TAG" && mv "$BASE_SAVED.tmp" "$BASE_SAVED" || rm -f "$BASE_SAVED.tmp"
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp -r "$BUNDLE" "$ctx/device"
say "building $TAG from docker/Dockerfile on $BASE_TAG"
DOCKER_BUILDKIT=0 docker build -q -f "$ROOT/docker/Dockerfile" --build-arg "BASE=$BASE_TAG" \
  --label "wasmbed.io/bundle=$(basename "$BUNDLE")" -t "$TAG" "$ctx" >/dev/null
if ! docker run --rm --network none --entrypoint node "$TAG" -e 'process.exit(0)' >/dev/null 2>&1; then
  say "node does not start in $TAG as its user; not keeping it"
  docker image rm -f "$TAG" >/dev/null 2>&1 || true
  exit 1
fi
# Keep a copy so a fresh engine (CI, tests) loads it in seconds instead of rebuilding.
mkdir -p "$CACHE/images"
docker save -o "$SAVED.tmp" "$TAG" && mv "$SAVED.tmp" "$SAVED" || rm -f "$SAVED.tmp"
echo "$TAG"
