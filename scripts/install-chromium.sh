#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the dashboard browser tests, which drive it
# from Python through Playwright's API pointed at this binary (nothing downloads a browser).
#
#   scripts/install-chromium.sh       # no-op when /usr/bin/chromium exists
set -euo pipefail

BIN=/usr/bin/chromium

log() { printf 'install-chromium: %s\n' "$*" >&2; }
die() { printf 'install-chromium: error: %s\n' "$*" >&2; exit 1; }

if [[ -x "$BIN" ]]; then
    log "$("$BIN" --version 2>/dev/null | head -n1 || echo present)"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install chromium by hand"
if [[ "$(id -u)" != 0 ]]; then
    die "installing needs root (apt-get install chromium)"
fi

# See install-prometheus.sh for why the policy goes through a variable.
candidate() { local policy; policy="$(apt-cache policy chromium 2>/dev/null || true)"; \
    [[ "$policy" == *"Candidate: "[0-9]* ]]; }
if ! candidate; then
    log "apt lists do not know chromium yet: apt-get update"
    apt-get update -qq
fi
candidate || die "no installable 'chromium' package in the configured apt sources"

# Recommends would add desktop integration and fonts packs the headless tests never use.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
[[ -x "$BIN" ]] || die "apt-get finished but $BIN is missing"
log "installed: $("$BIN" --version 2>/dev/null | head -n1)"
