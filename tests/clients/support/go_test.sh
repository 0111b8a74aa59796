#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# go_test.sh SRC WORK: `go test` of the Go binding (client/go) against the fixture's lamd, with
# the build cache in WORK and nothing fetched (stdlib only; GOPROXY=off). cgo finds liblamclient
# through PKG_CONFIG_PATH (the build tree's lamclient.pc). Exit 77 (skip) without go.
set -euo pipefail
src=$1 work=$2
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed: skipped"
  exit 77
fi
mkdir -p "$work"
export GOCACHE="$work/cache" GOPATH="$work/gopath" GOPROXY=off GOFLAGS= GO111MODULE=on CGO_ENABLED=1 GOTELEMETRY=off
go version
cd "$src"
go vet ./...
go test -count=1 -v ./...
