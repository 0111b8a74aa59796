#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite from a fresh clone: install dependencies, build (warnings are errors),
# run every test. GPU tests skip cleanly without a device. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLAM_FATAL_WARNINGS=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900 "$@"
