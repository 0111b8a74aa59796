#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cargo_test.sh SRC WORK: `cargo test --offline` of the Rust binding (client/rust) against the
# fixture's lamd. The crate is copied to WORK (cargo writes Cargo.lock next to the manifest) and
# built there (CARGO_TARGET_DIR in WORK); it has no dependencies, so nothing is fetched.
# liblamclient comes from LAM_LIB_DIR. Exit 77 (skip) without cargo.
set -euo pipefail
src=$1 work=$2
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: skipped"
  exit 77
fi
mkdir -p "$work/crate"
rm -rf "$work/crate/src" "$work/crate/tests"
cp -r "$src/Cargo.toml" "$src/build.rs" "$src/src" "$src/tests" "$work/crate/"
export CARGO_TARGET_DIR="$work/target"
cargo --version
cd "$work/crate"
cargo test --offline
