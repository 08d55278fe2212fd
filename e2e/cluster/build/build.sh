#!/usr/bin/env bash
# Builds the local test cluster's components (Kubernetes, etcd, kwok, cert-manager, trust-manager,
# helm) from pinned Go modules and caches the binaries, so only a machine's first run pays.
#
# Usage: build.sh [--force] [--list] [component ...]     (no component = all but the on-demand ones)
#   --force   rebuild even when a cached binary is up to date
#   --list    print the components and their versions, build nothing
#
# Output, under ${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator/:
#   bin/<component>-<version>/<binary>     the binaries (plus .stamp, build.log, build-stats.tsv)
#   crds/cert-manager-<version>/*.yaml     CRDs copied out of the module zips
#   crds/trust-manager-<version>/*.yaml
#   kwok-stages-<version>/stages.yaml      kwok's "fast" node and pod stages, for kwok --config
#   bin/manifest.json                      binary name -> absolute path, versions, CRD dirs
#
# Each component is built in its own module under modules/<component>/ with a committed go.mod
# and go.sum (-mod=readonly), CGO_ENABLED=0, -trimpath, and `go build -p $LR_BUILD_JOBS` (2).
# Components are built one after another. A cached binary is reused while its .stamp (a hash of
# the build module, flags and Go version) still matches.
# Environment: LR_BUILD_JOBS (go build -p, default 2), XDG_CACHE_HOME, the usual Go variables.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
modules="$here/modules"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator"
bin_root="$cache_root/bin"
crd_root="$cache_root/crds"
jobs="${LR_BUILD_JOBS:-2}"

# component | version | build module | pinned module (checked against go.mod) | binary=package ...
components=(
  "kubernetes|v1.37.2|kubernetes|k8s.io/kubernetes|kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler kubectl=k8s.io/kubernetes/cmd/kubectl"
  "etcd|v3.6.16|etcd|go.etcd.io/etcd/server/v3|etcd=go.etcd.io/etcd/server/v3"
  "kwok|v0.8.0|kwok|sigs.k8s.io/kwok|kwok=sigs.k8s.io/kwok/cmd/kwok"
  "cert-manager-controller|v1.21.2|cert-manager-controller|github.com/cert-manager/cert-manager|cert-manager-controller=."
  "cert-manager-cainjector|v1.21.2|cert-manager-cainjector|github.com/cert-manager/cert-manager|cert-manager-cainjector=."
  "trust-manager|v0.25.0|trust-manager|github.com/cert-manager/trust-manager|trust-manager=github.com/cert-manager/trust-manager/cmd/trust-manager"
  "helm|v3.22.0|helm|helm.sh/helm/v3|helm=helm.sh/helm/v3/cmd/helm"
)
# Built only when named (`build.sh vegeta`), never by a plain `build.sh`: tools of the benchmarks,
# not of the cluster or the tests. Same fields as above.
on_demand=(
  "vegeta|v12.13.0|vegeta|github.com/tsenart/vegeta/v12|vegeta=github.com/tsenart/vegeta/v12"
)

# CRDs copied from module zips: name | build module to resolve it in | module | dir in the zip
crd_sources=(
  "cert-manager|cert-manager-controller|github.com/cert-manager/cert-manager|deploy/crds"
  "trust-manager|trust-manager|github.com/cert-manager/trust-manager|deploy/crds"
)

log() { printf '[cluster-build] %s\n' "$*" >&2; }
die() { printf '[cluster-build] ERROR: %s\n' "$*" >&2; exit 1; }

# Version-stamping linker flags, as each upstream's release build sets them.
ldflags_for() {
  local component="$1" version="$2" flags="-s -w"
  case "$component" in
    kubernetes)
      local minor="${version#v1.}"; minor="${minor%%.*}"
      local pkg
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
      done
      ;;
    cert-manager-*)
      flags+=" -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$version"
      ;;
    helm)
      # helm's default capabilities (helm template without a cluster) follow its client-go minor.
      local cg
      cg="$(cd "$modules/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)"
      cg="${cg#v0.}"; cg="${cg%%.*}"
      flags+=" -X helm.sh/helm/v3/internal/version.version=$version"
      flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
      flags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$cg"
      flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$cg"
      ;;
  esac
  printf '%s' "$flags"
}

# A hash of everything that decides the binaries: the build module, the flags and the Go version.
stamp_for() {
  local moddir="$1" ldflags="$2"
  {
    (cd "$moddir" && find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum)
    printf 'ldflags=%s\n' "$ldflags"
    printf 'go=%s\n' "$(go env GOVERSION)"
    printf 'goos=%s goarch=%s\n' "$(go env GOOS)" "$(go env GOARCH)"
  } | sha256sum | cut -c1-16
}

have_gnu_time=false
if [[ -x /usr/bin/time ]] && /usr/bin/time --version 2>&1 | grep -q 'GNU'; then
  have_gnu_time=true
fi

build_component() {
  local spec="$1" force="$2"
  local component version module pinned targets
  IFS='|' read -r component version module pinned targets <<<"$spec"
  local moddir="$modules/$module"
  local outdir="$bin_root/$component-$version"
  [[ -f "$moddir/go.mod" ]] || die "$component: build module $moddir/go.mod is missing"

  local resolved
  if ! resolved="$(cd "$moddir" && go list -m -f '{{.Version}}' "$pinned" 2>&1)"; then
    die "$component: cannot resolve $pinned in modules/$module: $resolved"
  fi
  [[ "$resolved" == "$version" ]] \
    || die "$component: modules/$module/go.mod pins $pinned $resolved, but build.sh expects $version; update one to match"

  local ldflags stamp
  ldflags="$(ldflags_for "$component" "$version")"
  stamp="$(stamp_for "$moddir" "$ldflags")"

  local all_cached=true target
  for target in $targets; do
    [[ -x "$outdir/${target%%=*}" ]] || all_cached=false
  done
  if [[ "$force" == false && "$all_cached" == true && -f "$outdir/.stamp" && "$(cat "$outdir/.stamp")" == "$stamp" ]]; then
    log "$component $version: cached in $outdir"
    return 0
  fi

  mkdir -p "$bin_root"
  local work
  work="$(mktemp -d "$bin_root/.$component-$version.XXXXXX")"
  local stats="$work/build-stats.tsv" buildlog="$work/build.log"
  printf 'binary\tseconds\tcpu_seconds\tpeak_rss_kib\n' >"$stats"
  local component_start=$SECONDS
  for target in $targets; do
    local name="${target%%=*}" pkg="${target#*=}"
    log "$component $version: building $name ($pkg) ..."
    local start=$SECONDS rss="n/a" cpu="n/a" rc=0
    local -a cmd=(go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$work/$name" "$pkg")
    if [[ "$have_gnu_time" == true ]]; then
      # %M is the largest single process (go, compile or link), not the sum; %U+%S include
      # every compile and link process, so they show the work independent of machine load.
      (cd "$moddir" && CGO_ENABLED=0 /usr/bin/time -f 'LR_STATS %M %U %S' -o "$work/.time" "${cmd[@]}") \
        >>"$buildlog" 2>&1 || rc=$?
      read -r rss cpu < <(awk '/^LR_STATS/ {printf "%s %.0f\n", $2, $3 + $4}' "$work/.time" 2>/dev/null) || true
      rss="${rss:-n/a}"; cpu="${cpu:-n/a}"
    else
      (cd "$moddir" && CGO_ENABLED=0 "${cmd[@]}") >>"$buildlog" 2>&1 || rc=$?
    fi
    local took=$((SECONDS - start))
    if [[ $rc -ne 0 ]]; then
      local kept="$bin_root/$component-$version.failed.log"
      cp "$buildlog" "$kept"
      rm -rf "$work"
      log "$component $version: go build of $name failed after ${took}s (exit $rc); go said:"
      tail -n 40 "$kept" | sed 's/^/    /' >&2
      die "$component $version: build failed; full log in $kept"
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$took" "$cpu" "$rss" >>"$stats"
    log "$component $version: built $name in ${took}s (CPU ${cpu}s; peak RSS of the largest go/compile/link process ${rss} KiB)"
  done
  rm -f "$work/.time"
  printf '%s\n' "$stamp" >"$work/.stamp"
  # Move file by file (rename is atomic), so a reader never sees a missing or half-written
  # binary, and files another tool keeps in the same directory are left alone.
  mkdir -p "$outdir"
  chmod 755 "$outdir"
  local f
  for f in "$work"/* "$work/.stamp"; do
    mv -f "$f" "$outdir/"
  done
  rmdir "$work"
  log "$component $version: done in $((SECONDS - component_start))s -> $outdir"
}

# Copies CRD YAMLs out of a module in the module cache (downloading the module if needed).
copy_crds() {
  local spec="$1" force="$2" name module modpath subdir
  IFS='|' read -r name module modpath subdir <<<"$spec"
  local moddir="$modules/$module" version dir
  version="$(cd "$moddir" && go list -m -f '{{.Version}}' "$modpath")"
  local dest="$crd_root/$name-$version"
  if [[ "$force" == false && -d "$dest" ]]; then
    log "$name CRDs $version: cached in $dest"
    return 0
  fi
  dir="$(cd "$moddir" && go mod download "$modpath@$version" && go list -m -f '{{.Dir}}' "$modpath")"
  [[ -n "$dir" && -d "$dir/$subdir" ]] || die "$name CRDs: $modpath@$version has no $subdir in the module cache (dir '$dir')"
  local tmp
  mkdir -p "$crd_root"
  tmp="$(mktemp -d "$crd_root/.$name-$version.XXXXXX")"
  local f count=0
  for f in "$dir/$subdir"/*.yaml; do
    # These files must be plain manifests; a Helm template would not apply.
    if grep -q '{{' "$f"; then
      rm -rf "$tmp"
      die "$name CRDs: $f is templated; expected plain YAML"
    fi
    cp "$f" "$tmp/"
    count=$((count + 1))
  done
  [[ $count -gt 0 ]] || { rm -rf "$tmp"; die "$name CRDs: no *.yaml in $modpath@$version/$subdir"; }
  chmod -R u+w,go+rX "$tmp"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "$name CRDs $version: $count files -> $dest"
}

# kwok needs Stage configs to move nodes and pods along; these are kwokctl's "fast" set (node
# initialize + lease heartbeat, pod ready/complete/delete) from the kwok module zip, concatenated
# into one file for `kwok --config=<file>`.
kwok_stage_files=(
  kustomize/stage/node/fast/node-initialize.yaml
  kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  kustomize/stage/pod/fast/pod-ready.yaml
  kustomize/stage/pod/fast/pod-complete.yaml
  kustomize/stage/pod/fast/pod-delete.yaml
)
copy_kwok_stages() {
  local force="$1" moddir="$modules/kwok" version dir
  version="$(cd "$moddir" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)"
  local dest="$cache_root/kwok-stages-$version"
  if [[ "$force" == false && -f "$dest/stages.yaml" ]]; then
    log "kwok stages $version: cached in $dest"
    return 0
  fi
  dir="$(cd "$moddir" && go mod download "sigs.k8s.io/kwok@$version" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  mkdir -p "$dest"
  local tmp f
  tmp="$(mktemp "$dest/.stages.XXXXXX")"
  for f in "${kwok_stage_files[@]}"; do
    [[ -f "$dir/$f" ]] || { rm -f "$tmp"; die "kwok stages: $f is missing from sigs.k8s.io/kwok@$version"; }
    { printf -- '---\n# %s\n' "$f"; cat "$dir/$f"; } >>"$tmp"
  done
  chmod 644 "$tmp"
  mv -f "$tmp" "$dest/stages.yaml"
  log "kwok stages $version: ${#kwok_stage_files[@]} stages -> $dest/stages.yaml"
}

json_string() {
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

# manifest.json lists every component whose binaries are in the cache, built now or earlier.
write_manifest() {
  local manifest="$bin_root/manifest.json" tmp
  mkdir -p "$bin_root"
  tmp="$(mktemp "$bin_root/.manifest.XXXXXX")"
  local bins="" vers="" comps="" crds="" sep spec
  for spec in "${components[@]}" "${on_demand[@]}"; do
    local component version module pinned targets target complete=true
    IFS='|' read -r component version module pinned targets <<<"$spec"
    for target in $targets; do
      [[ -x "$bin_root/$component-$version/${target%%=*}" ]] || complete=false
    done
    [[ "$complete" == true ]] || continue
    sep="${comps:+,}"
    comps+="$sep"$'\n    '"$(json_string "$component"): $(json_string "$version")"
    for target in $targets; do
      local name="${target%%=*}"
      sep="${bins:+,}"
      bins+="$sep"$'\n    '"$(json_string "$name"): $(json_string "$bin_root/$component-$version/$name")"
      vers+="${vers:+,}"$'\n    '"$(json_string "$name"): $(json_string "$version")"
    done
  done
  for spec in "${crd_sources[@]}"; do
    local name module modpath subdir d
    IFS='|' read -r name module modpath subdir <<<"$spec"
    for d in "$crd_root/$name"-v*; do
      [[ -d "$d" ]] || continue
      crds+="${crds:+,}"$'\n    '"$(json_string "$name"): {\"version\": $(json_string "${d##*/$name-}"), \"dir\": $(json_string "$d")}"
    done
  done
  local stages=""
  for d in "$cache_root"/kwok-stages-v*; do
    [[ -f "$d/stages.yaml" ]] || continue
    stages="{\"version\": $(json_string "${d##*/kwok-stages-}"), \"file\": $(json_string "$d/stages.yaml")}"
  done
  {
    printf '{\n  "schemaVersion": 1,\n  "goVersion": %s,\n' "$(json_string "$(go env GOVERSION)")"
    printf '  "binaries": {%s\n  },\n' "$bins"
    printf '  "versions": {%s\n  },\n' "$vers"
    printf '  "components": {%s\n  },\n' "$comps"
    printf '  "crds": {%s\n  },\n' "$crds"
    printf '  "kwokStages": %s\n}\n' "${stages:-null}"
  } >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$manifest"
  log "manifest: $manifest"
}

main() {
  local force=false list=false
  local -a wanted=()
  local arg
  for arg in "$@"; do
    case "$arg" in
      --force) force=true ;;
      --list) list=true ;;
      -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      -*) die "unknown option $arg (see --help)" ;;
      *) wanted+=("$arg") ;;
    esac
  done

  local spec
  if [[ "$list" == true ]]; then
    for spec in "${components[@]}"; do
      IFS='|' read -r c v _ <<<"$spec"
      printf '%s %s\n' "$c" "$v"
    done
    for spec in "${on_demand[@]}"; do
      IFS='|' read -r c v _ <<<"$spec"
      printf '%s %s (only when named)\n' "$c" "$v"
    done
    return 0
  fi

  command -v go >/dev/null || die "go is not on PATH; install Go >= 1.26 first"
  local gov
  gov="$(go env GOVERSION)"
  [[ "$gov" =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] >= 26 )) \
    || die "Go $gov is too old; the pinned modules need Go >= 1.26"
  # Reproducible builds from the committed go.sum files; never rewrite them.
  export GOFLAGS="-mod=readonly -buildvcs=false"
  # Each build module stands alone, even if the repo grows a go.work for other Go code.
  export GOWORK=off

  local -a selected=()
  if [[ ${#wanted[@]} -eq 0 ]]; then
    selected=("${components[@]}")
  else
    local w found
    for w in "${wanted[@]}"; do
      found=false
      for spec in "${components[@]}" "${on_demand[@]}"; do
        if [[ "${spec%%|*}" == "$w" ]]; then selected+=("$spec"); found=true; fi
      done
      [[ "$found" == true ]] || die "unknown component $w; known: $(printf '%s ' "${components[@]%%|*}" "${on_demand[@]%%|*}")"
    done
  fi

  mkdir -p "$bin_root" "$crd_root"
  # One build at a time per machine: parallel test runners may all call this script.
  if command -v flock >/dev/null; then
    exec 9>"$cache_root/.build.lock"
    flock 9
  fi

  log "Go $gov, go build -p $jobs, cache $cache_root"
  local total_start=$SECONDS
  for spec in "${selected[@]}"; do
    build_component "$spec" "$force"
  done
  for spec in "${crd_sources[@]}"; do
    copy_crds "$spec" "$force"
  done
  copy_kwok_stages "$force"
  write_manifest
  log "all done in $((SECONDS - total_start))s"
  cat "$bin_root/manifest.json"
}

main "$@"
