#!/usr/bin/env bash
# Starts a private Docker engine for Wasmbed (and its tests), idempotently:
#
#   scripts/start-dockerd.sh <root>          start (or find) the engine; prints DOCKER_HOST=unix://<root>/docker.sock
#   scripts/start-dockerd.sh <root> --stop   stop it (containers it runs are stopped with it)
#   eval "$(scripts/start-dockerd.sh .tools/dockerd)"   # then: export DOCKER_HOST
#
# Everything lives under <root>: data/ (images, volumes, containers), exec/ (runtime state,
# the managed containerd), docker.sock, dockerd.pid, dockerd.log. A second call with the same
# root finds the running engine and prints the same DOCKER_HOST. The engine is the Debian
# docker.io dockerd (scripts/setup-docker.sh installs it), no
# iptables and no bridge: containers use host networking. Needs root (namespaces, mounts).
# Storage: overlay2 when the kernel can mount an overlay on <root>'s filesystem (a container is
# then created in well under a second), else vfs, which copies the whole image for every
# container (seconds for the device image; BENCHMARKS.md). DOCKERD_STORAGE_DRIVER forces one; a
# root that already holds vfs data keeps vfs (its images would be invisible under overlay2).
# Only the last line of stdout is the DOCKER_HOST line; messages go to stderr.
set -euo pipefail

say() { printf 'start-dockerd: %s\n' "$*" >&2; }

if [[ $# -lt 1 || "$1" == -* ]]; then
  say "usage: $0 <root> [--stop]"
  exit 2
fi
mkdir -p "$1"
ROOT="$(cd "$1" && pwd)"
SOCK="$ROOT/docker.sock"
PIDFILE="$ROOT/dockerd.pid"
LOG="$ROOT/dockerd.log"
HOST="unix://$SOCK"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

# A unix socket path is limited to 107 bytes; the managed containerd's socket is longer still.
if [[ ${#ROOT} -gt 70 ]]; then
  say "root \"$ROOT\" is too long for the engine's unix sockets (keep it under 70 characters)"
  exit 2
fi

pid_alive() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null
}

engine_answers() {
  [[ -S "$SOCK" ]] || return 1
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 5 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1
  else
    DOCKER_HOST="$HOST" timeout 5 docker version >/dev/null 2>&1
  fi
}

if [[ "${2:-}" == "--stop" ]]; then
  if pid_alive; then
    pid="$(cat "$PIDFILE")"
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd did not stop in 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    say "no dockerd running for $ROOT"
  fi
  # The managed containerd normally exits with dockerd; make sure (only the one under this root).
  cpid="$(cat "$ROOT/exec/containerd/containerd.pid" 2>/dev/null || true)"
  if [[ -n "$cpid" ]] && kill -0 "$cpid" 2>/dev/null && grep -q "$ROOT/exec" "/proc/$cpid/cmdline" 2>/dev/null; then
    kill -TERM "$cpid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  # dockerd leaves its network-namespace mount behind; unmount whatever is still mounted
  # under the root (deepest first) so the caller can delete the directory.
  if [[ -r /proc/self/mounts ]]; then
    awk -v root="$ROOT/" 'index($2, root) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
    done
  fi
  exit 0
fi

if pid_alive && engine_answers; then
  say "dockerd already running for $ROOT (pid $(cat "$PIDFILE"))"
  echo "DOCKER_HOST=$HOST"
  exit 0
fi

DOCKERD="$(command -v dockerd || true)"
if [[ -z "$DOCKERD" ]]; then
  say "dockerd not found: install the engine with: sudo bash scripts/setup-docker.sh"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  say "dockerd needs root (this script was run as uid $(id -u))"
  exit 1
fi

# Can the kernel mount an overlay here (not on overlayfs itself, e.g. inside some containers)?
overlay_works() {
  local probe rc=1
  probe="$(mktemp -d "$ROOT/.overlay-probe.XXXXXX")" || return 1
  mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
    rc=0
    umount "$probe/merged" 2>/dev/null || umount -l "$probe/merged" 2>/dev/null || true
  fi
  rm -rf "$probe"
  return $rc
}

storage_driver() {
  if [[ -n "${DOCKERD_STORAGE_DRIVER:-}" ]]; then
    echo "$DOCKERD_STORAGE_DRIVER"
  elif [[ -d "$ROOT/data/vfs" && -n "$(ls -A "$ROOT/data/vfs" 2>/dev/null)" ]]; then
    echo vfs
  elif overlay_works; then
    echo overlay2
  else
    echo vfs
  fi
}

if pid_alive; then
  say "dockerd (pid $(cat "$PIDFILE")) runs but does not answer; waiting for it"
else
  rm -f "$PIDFILE" "$SOCK"
  mkdir -p "$ROOT/data" "$ROOT/exec"
  DRIVER="$(storage_driver)"
  say "starting dockerd under $ROOT with $DRIVER storage (log: $LOG)"
  # setsid: the engine outlives this script and is not killed with the caller's process group.
  setsid "$DOCKERD" \
    --data-root "$ROOT/data" \
    --exec-root "$ROOT/exec" \
    --pidfile "$PIDFILE" \
    -H "$HOST" \
    --storage-driver "$DRIVER" \
    --iptables=false \
    --ip-masq=false \
    --ip-forward=false \
    --bridge=none \
    --userland-proxy=false \
    >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE.starting"
fi

for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
  if engine_answers; then
    rm -f "$PIDFILE.starting"
    say "dockerd ready (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
    echo "DOCKER_HOST=$HOST"
    exit 0
  fi
  spid="$(cat "$PIDFILE.starting" 2>/dev/null || true)"
  if [[ -n "$spid" ]] && ! kill -0 "$spid" 2>/dev/null; then
    say "dockerd exited while starting; last lines of $LOG:"
    tail -n 15 "$LOG" >&2
    rm -f "$PIDFILE.starting"
    exit 1
  fi
  sleep 0.1
done
say "dockerd did not answer on $SOCK within ${WAIT_SECONDS}s; last lines of $LOG:"
tail -n 15 "$LOG" >&2
exit 1
