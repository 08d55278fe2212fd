#!/usr/bin/env bash
# Builds webpki-verify (Linkerd's verifier, rustls-webpki at linkerd2-proxy's version) into the
# per-machine cache, or reuses it, and prints the binary's path as the last line of output.
#
# Output: ${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator/bin/webpki-verify-<rustls-webpki version>/
#   webpki-verify   the binary
#   .stamp          hash of Cargo.toml, Cargo.lock, src/ and `rustc -vV`; a match reuses the binary
#   build.log       cargo's output of the last build
# Cargo's target dir is ${cache}/cargo-target/webpki-verify, never inside the repository.
# `cargo build --release --locked`: crates.io only, exactly the committed Cargo.lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator"

log() { printf '[webpki-verify] %s\n' "$*" >&2; }
die() { printf '[webpki-verify] ERROR: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null && command -v rustc >/dev/null \
  || die "expected cargo and rustc on PATH, found neither; install Rust (https://rustup.rs) and rerun"

# The version Cargo.lock resolves must be the one Cargo.toml pins with "=".
locked="$(awk '/^name = "rustls-webpki"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$here/Cargo.lock")"
[[ -n "$locked" ]] || die "expected rustls-webpki in $here/Cargo.lock, found none; run cargo generate-lockfile there"
grep -q "^rustls-webpki = { version = \"=$locked\"" "$here/Cargo.toml" \
  || die "expected Cargo.toml to pin rustls-webpki \"=$locked\" (the Cargo.lock version), found another requirement; make them agree"

out="$cache_root/bin/webpki-verify-$locked"
bin="$out/webpki-verify"
stamp="$(
  {
    cd "$here"
    find Cargo.toml Cargo.lock src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    rustc -vV
  } | sha256sum | cut -c1-16
)"

mkdir -p "$cache_root/bin"
# One build at a time per machine; a second caller waits and then finds the binary cached.
exec 9>"$cache_root/bin/.webpki-verify.lock"
flock 9

if [[ -x "$bin" && -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]]; then
  log "rustls-webpki $locked: cached in $out"
  echo "$bin"
  exit 0
fi

target="$cache_root/cargo-target/webpki-verify"
work="$(mktemp -d "$cache_root/bin/.webpki-verify-$locked.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "rustls-webpki $locked: building with $(rustc --version) (target dir $target) ..."
start=$SECONDS
if ! CARGO_TARGET_DIR="$target" cargo build --release --locked --manifest-path "$here/Cargo.toml" >"$work/build.log" 2>&1; then
  cp "$work/build.log" "$cache_root/bin/webpki-verify-$locked.failed.log"
  tail -n 40 "$work/build.log" | sed 's/^/    /' >&2
  die "cargo build failed after $((SECONDS - start))s; full log in $cache_root/bin/webpki-verify-$locked.failed.log"
fi
cp "$target/release/webpki-verify" "$work/webpki-verify"
printf '%s\n' "$stamp" >"$work/.stamp"
# Publish file by file (rename is atomic): a reader never sees a half-written binary.
mkdir -p "$out"
for f in "$work/webpki-verify" "$work/build.log" "$work/.stamp"; do
  mv -f "$f" "$out/"
done
log "rustls-webpki $locked: built in $((SECONDS - start))s -> $out"
echo "$bin"
