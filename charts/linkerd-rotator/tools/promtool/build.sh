#!/usr/bin/env bash
# Builds promtool (for `promtool test rules` over the chart's alerts) from this Go module into the
# per-machine cache, reusing a cached binary when present; prints a "promtool=path" line.
set -euo pipefail
cd "$(dirname "$0")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator/bin"
# Prometheus 3.x is published as Go module versions v0.3xx.y: v0.316.0 is Prometheus 3.16.0.
version=v0.316.0
prometheus_version=3.16.0
dir="$cache/promtool-$version"
if [ ! -x "$dir/promtool" ]; then
  echo "building promtool $version (first run only)" >&2
  mkdir -p "$dir"
  # Via a temp file, so an interrupted build never leaves a half-written binary that looks usable.
  CGO_ENABLED=0 go build -trimpath -o "$dir/promtool.tmp" \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$prometheus_version" \
    github.com/prometheus/prometheus/cmd/promtool >&2
  mv "$dir/promtool.tmp" "$dir/promtool"
fi
echo "promtool=$dir/promtool"
