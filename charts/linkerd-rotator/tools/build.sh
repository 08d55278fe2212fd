#!/usr/bin/env bash
# Builds the chart tests' tools (helm, kubeconform) from this Go module into the per-machine cache,
# reusing a cached binary when present; prints "name=path" lines for the test support code to read.
set -euo pipefail
cd "$(dirname "$0")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator/bin"
helm_version=v3.22.0
kubeconform_version=v0.8.0

# build <name> <version> <package>: go build into cache/<name>-<version>/<name> via a temp file,
# so an interrupted build never leaves a half-written binary that looks usable.
build() {
  local name=$1 version=$2 pkg=$3
  local dir="$cache/$name-$version"
  if [ ! -x "$dir/$name" ]; then
    echo "building $name $version (first run only)" >&2
    mkdir -p "$dir"
    CGO_ENABLED=0 go build -trimpath -o "$dir/$name.tmp" \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" "$pkg" >&2
    mv "$dir/$name.tmp" "$dir/$name"
  fi
  echo "$name=$dir/$name"
}

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(helm kubeconform)
for tool in "${wanted[@]}"; do
  case "$tool" in
    helm) build helm "$helm_version" helm.sh/helm/v3/cmd/helm ;;
    kubeconform) build kubeconform "$kubeconform_version" github.com/yannh/kubeconform/cmd/kubeconform ;;
    *) echo "unknown tool '$tool': expected helm or kubeconform" >&2; exit 2 ;;
  esac
done
