#!/usr/bin/env bash
# Regenerates gen/identitypb from proto/identity.proto. Only needed when the
# .proto changes: the generated Go code is committed, so building needs no protoc.
# Needs protoc on PATH (Debian: apt-get install protobuf-compiler).
set -euo pipefail
cd "$(dirname "$0")"
PROTOC_GEN_GO_VERSION=v1.36.11
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"
PATH="$tools:$PATH" protoc -I proto \
  --go_out=gen/identitypb --go_opt=paths=source_relative \
  --go-grpc_out=gen/identitypb --go-grpc_opt=paths=source_relative \
  proto/identity.proto
