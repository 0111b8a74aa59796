#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer targets of tests/fuzz/ (see FUZZING.md).
#
#   tools/fuzz.sh [--build-dir DIR] [--seconds N | --cpu-seconds N] [--jobs J] [--merge] [target...]
#
# Configures DIR (default build-fuzz) with clang-14, the fuzzers, ASan and UBSan if it has no
# CMakeCache.txt yet, builds the targets, then runs each for N seconds (default 60) on a scratch
# copy of its committed corpus (tests/fuzz/corpus/<name>/), J targets at a time (default 1),
# with -timeout=10 -rss_limit_mb=2048. Prints one line per target: executions, coverage
# (cov: edges, ft: features), corpus size before/after, and the outcome. Exits non-zero if any
# target found a crash, leak, timeout or out-of-memory; its reproducer stays under
# DIR/fuzz-artifacts/<name>/ and its log path is printed. Nothing is written into the
# repository unless --merge is given: then the inputs that add coverage are merged
# (-merge=1) into tests/fuzz/corpus/<name>/.
# --cpu-seconds N runs each target until its process has used N seconds of CPU (user + sys)
# instead of N seconds of wall time, then interrupts it (SIGINT, libFuzzer's clean stop): for
# long runs on a shared machine, where a wall-clock budget buys an unknown amount of fuzzing.
# Combine with `nice` to fill only idle CPU. The line then shows wall and CPU seconds. Do not
# pause a run with SIGSTOP: libFuzzer's per-input -timeout is wall-clock, so the input in hand
# when it resumes is reported as a timeout (seen: a 13 s "timeout" of an input that runs in 1 ms).
# Targets are named with or without the _fuzz suffix; default: every tests/fuzz/*_fuzz.cpp.
# Environment: FUZZ_ARGS adds libFuzzer flags to every run (e.g. FUZZ_ARGS=-max_len=65536).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=build-fuzz
seconds=60
cpu_seconds=0
jobs=1
merge=0
targets=()

usage() {
  sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

while (($#)); do
  case "$1" in
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --cpu-seconds) cpu_seconds=${2:?--cpu-seconds needs a value}; shift 2 ;;
    --cpu-seconds=*) cpu_seconds=${1#*=}; shift ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    --merge) merge=1; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *) targets+=("${1%_fuzz}"); shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz.sh: --seconds must be a positive integer" >&2; exit 2; }
[[ "$cpu_seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --cpu-seconds must be a non-negative integer" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || { echo "fuzz.sh: --jobs must be a positive integer" >&2; exit 2; }
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"

if ((${#targets[@]} == 0)); then
  for src in "$root"/tests/fuzz/*_fuzz.cpp; do
    name=$(basename "$src" .cpp)
    targets+=("${name%_fuzz}")
  done
fi
for t in "${targets[@]}"; do
  [[ -f "$root/tests/fuzz/${t}_fuzz.cpp" ]] || { echo "fuzz.sh: no target $t (tests/fuzz/${t}_fuzz.cpp)" >&2; exit 2; }
done

# ---- configure and build ----------------------------------------------------------------
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  echo "fuzz.sh: configuring $build_dir (clang-14, fuzzers, ASan, UBSan)"
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAM_BUILD_FUZZERS=ON -DLAM_SANITIZE_ADDRESS=ON \
    -DLAM_SANITIZE_UNDEFINED=ON -DLAM_CUDA=OFF -DLAM_NATIVE_CPU=OFF "${launcher[@]}" >/dev/null
elif ! grep -q '^LAM_BUILD_FUZZERS:BOOL=ON' "$build_dir/CMakeCache.txt"; then
  echo "fuzz.sh: $build_dir is not configured with -DLAM_BUILD_FUZZERS=ON (see FUZZING.md)" >&2
  exit 2
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=("${t}_fuzz"); done
cmake --build "$build_dir" -j"$jobs" --target "${build_targets[@]}"

# ---- run ----------------------------------------------------------------------------------
# UBSan reports are recoverable in this build; halt so that a report is a finding.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/lam-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
artifacts="$build_dir/fuzz-artifacts"
logs="$build_dir/fuzz-logs"
mkdir -p "$logs"

run_one() {
  local t=$1
  local bin="$build_dir/fuzz/${t}_fuzz"
  local seeds="$root/tests/fuzz/corpus/$t"
  local corpus="$scratch/$t/corpus"
  local log="$logs/$t.log"
  local art="$artifacts/$t/"
  mkdir -p "$corpus" "$art"
  if [[ -d "$seeds" ]]; then cp -R "$seeds/." "$corpus/"; fi
  local before
  before=$(find "$corpus" -type f | wc -l)
  local rc=0 t0=$SECONDS max_time=$seconds
  # With a CPU budget the wall-clock limit is only a backstop (100x the budget).
  ((cpu_seconds > 0)) && max_time=$((cpu_seconds * 100))
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  (cd "$scratch/$t" && exec "$bin" -max_total_time="$max_time" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art" ${FUZZ_ARGS:-} "$corpus") >"$log" 2>&1 &
  local pid=$! cpu=0 stopped=0
  if ((cpu_seconds > 0)); then
    local hz
    hz=$(getconf CLK_TCK)
    while kill -0 "$pid" 2>/dev/null; do
      # utime + stime of the fuzzer (fields 14 and 15 of /proc/PID/stat; the name in field 2
      # has no spaces here), all its threads included.
      cpu=$(awk -v hz="$hz" '{printf "%d", ($14 + $15) / hz}' "/proc/$pid/stat" 2>/dev/null || echo "$cpu")
      if ((cpu >= cpu_seconds)); then
        stopped=1
        kill -INT "$pid" 2>/dev/null || true
        break
      fi
      sleep 2
    done
  fi
  wait "$pid" || rc=$?
  # libFuzzer exits with 72 when interrupted: that is the budget's end, not a finding.
  if ((stopped)) && ((rc == 72)) && ! grep -q 'Test unit written to' "$log"; then rc=0; fi
  local wall=$((SECONDS - t0))
  local after execs cov ft
  after=$(find "$corpus" -type f | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
  ft=$({ grep -o 'ft: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
  local found
  found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tr '\n' ' ')
  local outcome="ok"
  if ((rc != 0)) || [[ -n "$found" ]]; then
    outcome="FAILED (exit $rc): reproducer ${found:-none written}; log $log"
  fi
  local took="${wall}s"
  ((cpu_seconds > 0)) && took="${wall}s wall ${cpu}s cpu"
  printf '%-14s %5s  execs %-10s cov %-6s ft %-7s corpus %s -> %s  %s\n' "$t" "$took" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$before" "$after" "$outcome" >"$scratch/$t.line"
  if ((merge)) && ((rc == 0)); then
    mkdir -p "$seeds"
    # shellcheck disable=SC2086
    "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 ${FUZZ_ARGS:-} "$seeds" "$corpus" \
      >>"$log" 2>&1 || echo "fuzz.sh: merge of $t failed; see $log" >>"$scratch/$t.line"
    echo "               merged: tests/fuzz/corpus/$t now holds $(find "$seeds" -type f | wc -l) inputs" >>"$scratch/$t.line"
  fi
  [[ "$outcome" == ok ]]
}

budget="${seconds} s"
((cpu_seconds > 0)) && budget="${cpu_seconds} CPU-seconds"
echo "fuzz.sh: ${#targets[@]} target(s), ${budget} each, $jobs at a time; logs in $logs"
failed=0
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
for t in "${targets[@]}"; do cat "$scratch/$t.line"; done
if ((failed)); then
  echo "fuzz.sh: FAILED: a target found a crash, leak, timeout or OOM (reproducers under $artifacts)" >&2
  exit 1
fi
echo "fuzz.sh: all targets ran clean"
