#!/usr/bin/env bash
# Provides a real kube-apiserver, etcd and kubectl for the Kubernetes tests (test/kubernetes.test.ts)
# and for trying k8s mode without a cluster. Idempotent: binaries are cached in .tools/kubernetes/bin
# and rebuilt only when missing or built for another version.
#
#   scripts/setup-kubernetes.sh            # build/install what is missing
#   scripts/setup-kubernetes.sh --print    # print the bin directory and exit
#
# kube-apiserver: built from the k8s.io/kubernetes Go module through the Go module proxy. That
#   module cannot be `go install`ed directly (its go.mod replaces k8s.io/* with ./staging/...), so a
#   scratch module in .tools/kubernetes/src/apiserver requires it and replaces every staging module
#   with its published k8s.io/<name> v0.<minor>.<patch> release.
# etcd: built the same way from go.etcd.io/etcd/server/v3 (its go.mod also has relative replaces).
# kubectl: Debian 12's kubernetes-client package when it can be installed (root + apt), otherwise
#   built from the same scratch module as kube-apiserver (k8s.io/kubernetes/cmd/kubectl).
#
# Needs: Go >= 1.25 and network access to the Go module proxy. Takes ~10-20 min the first time on
# a 2-core machine (most of it compiling kube-apiserver); seconds afterwards.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools/kubernetes"
BIN="$TOOLS/bin"
SRC="$TOOLS/src"
say() { printf '[setup-kubernetes] %s\n' "$*" >&2; }

if [[ "${1:-}" == "--print" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN" "$SRC"
start_all=$(date +%s)

stamp_ok() { [[ -x "$BIN/$1" && -f "$BIN/$1.version" && "$(cat "$BIN/$1.version")" == "$2" ]]; }

if ! command -v go >/dev/null; then
  say "Go is not installed; it is needed to build kube-apiserver and etcd (https://go.dev/dl/)"
  exit 1
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

# ---------------------------------------------------------------- etcd
if stamp_ok etcd "$ETCD_VERSION"; then
  say "etcd $ETCD_VERSION: cached at $BIN/etcd"
else
  say "etcd $ETCD_VERSION: building from go.etcd.io/etcd/server/v3 (a few minutes)…"
  t0=$(date +%s)
  dir="$SRC/etcd"
  rm -rf "$dir" && mkdir -p "$dir"
  cat >"$dir/go.mod" <<EOF
module wasmbed.local/etcd-build

go 1.24

require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOF
  printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy >/dev/null 2>&1 || true)
  (cd "$dir" && go mod download go.etcd.io/etcd/server/v3 && go get go.etcd.io/etcd/server/v3@"$ETCD_VERSION" >/dev/null 2>&1 || true)
  (cd "$dir" && go build -trimpath -ldflags='-s -w' -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  echo "$ETCD_VERSION" >"$BIN/etcd.version"
  say "etcd $ETCD_VERSION: built in $(($(date +%s) - t0)) s"
fi

# ---------------------------------------------------------------- kube-apiserver (+ kubectl fallback)
k8s_module_dir="$SRC/apiserver"
prepare_k8s_module() {
  [[ -f "$k8s_module_dir/.ready-$KUBERNETES_VERSION" ]] && return 0
  say "k8s.io/kubernetes $KUBERNETES_VERSION: preparing a scratch module with the staging replaces…"
  rm -rf "$k8s_module_dir" && mkdir -p "$k8s_module_dir"
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local modfile
  modfile="$(curl -fsSL "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod" 2>/dev/null ||
    true)"
  if [[ -z "$modfile" ]]; then
    (cd "$k8s_module_dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null)
    modfile="$(cat "$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod")"
  fi
  local staging
  staging="$(printf '%s\n' "$modfile" | sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p')"
  if [[ -z "$staging" ]]; then
    say "could not read the staging module list from k8s.io/kubernetes@$KUBERNETES_VERSION's go.mod"
    exit 1
  fi
  {
    printf 'module wasmbed.local/apiserver-build\n\ngo 1.25.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
      "$KUBERNETES_VERSION"
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
    printf ')\n'
  } >"$k8s_module_dir/go.mod"
  printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\t_ "k8s.io/kubectl/pkg/cmd"\n)\n' \
    >"$k8s_module_dir/tools.go"
  say "resolving dependencies (go mod tidy; downloads ~300 MB of modules the first time)…"
  (cd "$k8s_module_dir" && go mod tidy 2>&1 | grep -v '^go: downloading' || true)
  [[ -s "$k8s_module_dir/go.sum" ]] || { say "go mod tidy failed"; exit 1; }
  touch "$k8s_module_dir/.ready-$KUBERNETES_VERSION"
}

if stamp_ok kube-apiserver "$KUBERNETES_VERSION"; then
  say "kube-apiserver $KUBERNETES_VERSION: cached at $BIN/kube-apiserver"
else
  prepare_k8s_module
  say "kube-apiserver $KUBERNETES_VERSION: compiling (the long part: ~10-20 min on 2 cores)…"
  t0=$(date +%s)
  (cd "$k8s_module_dir" && go build -trimpath -ldflags='-s -w' -o "$BIN/kube-apiserver.tmp" \
    k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
  echo "$KUBERNETES_VERSION" >"$BIN/kube-apiserver.version"
  say "kube-apiserver $KUBERNETES_VERSION: built in $(($(date +%s) - t0)) s"
fi

# ---------------------------------------------------------------- kubectl
if [[ -x "$BIN/kubectl" ]]; then
  say "kubectl: $BIN/kubectl ($(cat "$BIN/kubectl.version" 2>/dev/null || echo unknown))"
else
  debian_kubectl=""
  # Debian's kubernetes-client (1.20) only when it is the package that owns /usr/bin/kubectl, or
  # when nothing does and apt can install it; another /usr/bin/kubectl (e.g. the Google Cloud
  # SDK's dispatcher) is left alone and kubectl is built to match the API server instead.
  if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q "install ok installed"; then
    debian_kubectl=/usr/bin/kubectl
  elif [[ ! -e /usr/bin/kubectl ]] && command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]] &&
    [[ "${KUBECTL_FROM_DEBIAN:-1}" == "1" ]]; then
    say "kubectl: installing Debian's kubernetes-client package…"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null 2>&1; }; then
      debian_kubectl=/usr/bin/kubectl
    else
      say "kubectl: apt-get install kubernetes-client failed; building kubectl instead"
    fi
  elif [[ -e /usr/bin/kubectl ]]; then
    say "kubectl: /usr/bin/kubectl is not Debian's kubernetes-client ($(dpkg -S /usr/bin/kubectl 2>/dev/null | cut -d: -f1 || echo unpackaged)); building kubectl to match the API server"
  fi
  if [[ -n "$debian_kubectl" ]]; then
    ln -sf "$debian_kubectl" "$BIN/kubectl"
    dpkg-query -W -f='debian kubernetes-client ${Version}\n' kubernetes-client >"$BIN/kubectl.version"
    say "kubectl: using $debian_kubectl ($(cat "$BIN/kubectl.version"))"
  else
    prepare_k8s_module
    say "kubectl $KUBERNETES_VERSION: compiling from k8s.io/kubernetes/cmd/kubectl…"
    t0=$(date +%s)
    (cd "$k8s_module_dir" && go build -trimpath -ldflags='-s -w' -o "$BIN/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl)
    mv "$BIN/kubectl.tmp" "$BIN/kubectl"
    echo "built $KUBERNETES_VERSION" >"$BIN/kubectl.version"
    say "kubectl: built in $(($(date +%s) - t0)) s"
  fi
fi

say "ready in $(($(date +%s) - start_all)) s: $BIN/{etcd,kube-apiserver,kubectl}"
