#!/usr/bin/env bash
# Installs a real Prometheus server (Debian's `prometheus` package) for the metrics integration
# test, which scrapes a running rolloutd and checks the series through PromQL.
#
#   scripts/install-prometheus.sh       # no-op when /usr/bin/prometheus exists
#
# Only the server binary is needed: the test writes its own config and starts it on a loopback
# port. The package also ships a systemd unit; nothing here starts it (there is no systemd in
# the sandbox or CI, and the test never uses the packaged service).
set -euo pipefail

BIN=/usr/bin/prometheus

log() { printf 'install-prometheus: %s\n' "$*" >&2; }
die() { printf 'install-prometheus: error: %s\n' "$*" >&2; exit 1; }

if [[ -x "$BIN" ]]; then
    log "$("$BIN" --version 2>&1 | head -n1)"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install Prometheus by hand"
if [[ "$(id -u)" != 0 ]]; then
    die "installing needs root (apt-get install prometheus)"
fi

# apt-cache knows the package only once the lists are there; fetch them when it does not.
# (The output goes through a variable: `apt-cache | grep -q` would die of SIGPIPE under
# pipefail when grep stops reading early.)
candidate() { local policy; policy="$(apt-cache policy prometheus 2>/dev/null || true)"; \
    [[ "$policy" == *"Candidate: "[0-9]* ]]; }
if ! candidate; then
    log "apt lists do not know prometheus yet: apt-get update"
    apt-get update -qq
fi
candidate || die "no installable 'prometheus' package in the configured apt sources"

# Recommends would bring the node exporter and its service; the server is all the test runs.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
[[ -x "$BIN" ]] || die "apt-get finished but $BIN is missing"
log "installed: $("$BIN" --version 2>&1 | head -n1)"
