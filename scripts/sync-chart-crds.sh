#!/usr/bin/env bash
# Copies the project's CRDs (config/crd/*.yaml, the generated source of truth) into the Helm
# chart's files/crds/ folder, and removes chart copies whose source is gone. The chart renders
# them from there with templates/crds.yaml (values installCRDs, keepCRDs, crdAnnotations), not
# from Helm's crds/ folder, so that `helm upgrade` applies CRD changes.
#
# Why copies and not a symlink: `helm package` and `helm install` from a packaged chart do not
# follow links out of the chart directory, so the chart must carry real files.
# tests/chart/test_chart.py fails when the two folders differ; run this script to fix that.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/config/crd"
chart_dir="$root/charts/rolloutd/files/crds"

shopt -s nullglob
sources=("$source_dir"/*.yaml)
if ((${#sources[@]} == 0)); then
    echo "sync-chart-crds: no CRDs in $source_dir; generate them first" >&2
    exit 1
fi

mkdir -p "$chart_dir"
for copy in "$chart_dir"/*.yaml; do
    if [[ ! -e "$source_dir/$(basename "$copy")" ]]; then
        rm -- "$copy"
        echo "sync-chart-crds: removed $(basename "$copy") (no longer in config/crd)" >&2
    fi
done
for source in "${sources[@]}"; do
    target="$chart_dir/$(basename "$source")"
    if ! cmp -s "$source" "$target"; then
        cp -- "$source" "$target"
        echo "sync-chart-crds: updated $(basename "$source")" >&2
    fi
done
echo "sync-chart-crds: charts/rolloutd/files/crds matches config/crd (${#sources[@]} files)" >&2
