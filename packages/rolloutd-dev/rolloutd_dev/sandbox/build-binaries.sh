#!/usr/bin/env bash
# Builds the sandbox's control plane from public Go modules (no release downloads, no Docker).
#
# usage: build-binaries.sh OUT_DIR K8S_VERSION ETCD_VERSION KWOK_VERSION
#
# kube-apiserver, kube-controller-manager and kube-scheduler come from k8s.io/kubernetes built
# inside a throw-away consumer module: upstream's go.mod points its staging modules at v0.0.0
# through local replaces, so each one is replaced by its published v0.<minor>.<patch> tag.
# etcd needs a consumer module for the same reason; kwok installs directly. Each binary is
# built into a temporary name and moved into place only when it works, so an interrupted build
# never leaves a half-written cache.
set -euo pipefail

OUT=$1 K8S=$2 ETCD=$3 KWOK=$4
MINOR=$(echo "$K8S" | cut -d. -f2)
STAGING="v0.${K8S#v1.}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The compiled packages of Kubernetes fill ~4 GiB of Go's build cache and are never needed
# again once the binaries exist, so they go to a throw-away cache (ROLLOUTD_GOCACHE keeps one).
export GOCACHE="${ROLLOUTD_GOCACHE:-$WORK/gocache}"

step() { printf '==> %s\n' "$*"; }

if [ ! -x "$OUT/etcd" ]; then
  step "etcd $ETCD: resolving modules"
  mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
  go mod init example.invalid/rolloutd-sandbox-etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD"
  step "etcd $ETCD: compiling"
  go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.partial" go.etcd.io/etcd/server/v3
  mv "$OUT/etcd.partial" "$OUT/etcd"
fi

if [ ! -x "$OUT/kwok" ]; then
  step "kwok $KWOK: compiling"
  GOBIN="$WORK/kwokbin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  mv "$WORK/kwokbin/kwok" "$OUT/kwok"
fi

COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler"
missing=""
for c in $COMPONENTS; do [ -x "$OUT/$c" ] || missing="$missing $c"; done
if [ -n "$missing" ]; then
  step "kubernetes $K8S: resolving modules (staging modules pinned to $STAGING)"
  mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
  cat > go.mod <<EOM
module example.invalid/rolloutd-sandbox-k8s

go 1.25.0

godebug default=go1.25
EOM
  UPSTREAM_GOMOD=$(go mod download -json "k8s.io/kubernetes@$K8S" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  for m in $(sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*|\1|p' "$UPSTREAM_GOMOD"); do
    go mod edit -replace="$m=$m@$STAGING"
  done
  pkgs=""
  for c in $missing; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
  go get $(for p in $pkgs; do echo "$p@$K8S"; done)
  ldflags="-s -w"
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags="$ldflags -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$MINOR"
    ldflags="$ldflags -X $p.gitTreeState=clean -X $p.buildDate=$now"
  done
  for c in $missing; do
    step "kubernetes $K8S: compiling $c"
    go build -trimpath -ldflags "$ldflags" -o "$OUT/$c.partial" "k8s.io/kubernetes/cmd/$c"
    mv "$OUT/$c.partial" "$OUT/$c"
  done
fi

step "done: $("$OUT/kube-apiserver" --version), etcd $("$OUT/etcd" --version | head -1 | awk '{print $3}')"
