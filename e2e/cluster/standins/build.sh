#!/usr/bin/env bash
# Builds linkerd-standin (the Linkerd identity/proxy-injector stand-ins) into the per-machine
# cache and prints the binary's path as the last line of output. The cache key is the SHA-256 of
# the module's source files (go.mod, go.sum, *.go except tests, *.proto), so an unchanged tree
# reuses the binary and any source change builds a new one beside it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator/bin"

hash="$(
  cd "$here"
  find . -type f \( -name go.mod -o -name go.sum -o -name '*.proto' -o \( -name '*.go' -a ! -name '*_test.go' \) \) \
    ! -path './.*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12
)"
dir="$cache/linkerd-standin-$hash"
bin="$dir/linkerd-standin"

if [ -x "$bin" ]; then
  echo "linkerd-standin: cached ($hash)" >&2
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "linkerd-standin: go is not on PATH" >&2; exit 1; }
mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.linkerd-standin-$hash.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "linkerd-standin: building ($hash) with $(go version)" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$tmp/linkerd-standin" ./cmd/linkerd-standin) >&2
# Publish atomically; a concurrent build that won the race is as good as ours.
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
  [ -x "$bin" ] || { echo "linkerd-standin: could not publish $dir" >&2; exit 1; }
fi
echo "$bin"
