#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Start-up cost of lamctl's daemon-facing commands (BENCHMARKS.md, "lamctl start-up").
#   tools/lam-bench/lamctl-startup.sh SOCKET RUNS ROUNDS LAMCTL [LAMCTL...]
# For each round and each LAMCTL in turn (interleaved, so that a noisy neighbour hits them
# alike): RUNS sequential `LAMCTL ping -c 1`, RUNS `LAMCTL --version` (start-up alone) and RUNS
# /bin/true (a bare process); prints the mean wall time per run of each, in microseconds.
set -euo pipefail
if [ $# -lt 4 ]; then sed -n '3,7p' "$0" >&2; exit 2; fi
sock=$1 runs=$2 rounds=$3
shift 3
mean_us() {  # mean_us CMD...: mean wall time of RUNS runs of CMD, output discarded
  local t0 t1
  t0=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
  t1=$(date +%s%N)
  echo $(((t1 - t0) / runs / 1000))
}
printf '%-5s %-40s %10s %14s %14s\n' round lamctl ping_us version_us bin_true_us
for ((r = 1; r <= rounds; r++)); do
  for lamctl in "$@"; do
    ping=$(mean_us "$lamctl" ping --socket "$sock" -c 1)
    version=$(mean_us "$lamctl" --version)
    bare=$(mean_us /bin/true)
    printf '%-5s %-40s %10s %14s %14s\n' "$r" "$lamctl" "$ping" "$version" "$bare"
  done
done
