#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One call on a GPU machine: build the CUDA backend and its tests, run `ctest -L gpu` (and the
# GPU test binaries under compute-sanitizer memcheck when the toolkit has it), the GPU benchmark
# when lam-bench has one, and print one table. Sized for a fresh H200 host in under 8 minutes.
#
#   tools/gpu-check.sh              everything
#   tools/gpu-check.sh --build-only the configure + build step only (works without a GPU)
#
#   LAM_GPU_BUILD_DIR  build directory (default build-gpu)
#   LAM_GPU_ARCH       CUDA architecture for CMake (default: the device's, else 90)
set -uo pipefail
cd "$(dirname "$0")/.."

build=${LAM_GPU_BUILD_DIR:-build-gpu}
jobs=$(nproc)
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1
rows=()
failed=0
row() {
  rows+=("$(printf '| %-28s | %-7s | %-8s | %s' "$1" "$2" "$3" "$4")")
  if [ "$2" = FAIL ]; then failed=1; fi
  return 0
}
table() {
  echo
  echo "=== gpu-check: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) on ${device:-no device} ==="
  printf '| %-28s | %-7s | %-8s | %s\n' step result seconds detail
  printf '|%s|%s|%s|%s\n' "------------------------------" "---------" "----------" "------"
  printf '%s\n' "${rows[@]}"
}
timed() {  # timed NAME DETAIL_ON_FAIL CMD...: runs CMD, records one row
  local name=$1 note=$2
  shift 2
  local t0=$SECONDS log
  log=$(mktemp)
  if "$@" >"$log" 2>&1; then
    row "$name" ok $((SECONDS - t0)) "$(tail -n 1 "$log" | cut -c1-90)"
  else
    row "$name" FAIL $((SECONDS - t0)) "$note (log: $log)"
    tail -n 40 "$log" >&2
    return 1
  fi
}

device=$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -n 1)
arch=${LAM_GPU_ARCH:-$(echo "$device" | awk -F', ' '{gsub(/\./, "", $2); print $2}')}
[ -n "$arch" ] || arch=90

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# (NvrtcCacheTest needs no GPU and runs in CI; left out here for the 8-minute budget.)
targets=(lamd lamctl lam-mkmodel lam-bench lam_cuda_backend unit_plan_host_test unit_cuda_module_test
         unit_engine_validate_test)
for src in tests/gpu/*_test.cpp; do targets+=("gpu_$(basename "$src" .cpp)"); done

timed configure "cmake configure failed" \
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLAM_FATAL_WARNINGS=ON -DLAM_CUDA=ON \
  -DLAM_CUDA_ARCHITECTURES="$arch" "${launcher[@]}" || { table; exit 1; }
timed build "build failed" cmake --build "$build" -j"$jobs" --target "${targets[@]}" || { table; exit 1; }
if [ "$build_only" = 1 ]; then table; exit 0; fi

if [ -z "$device" ]; then
  row "gpu tests" SKIP 0 "no NVIDIA device (nvidia-smi lists none)"
  table
  exit "$failed"
fi

# The host-side checks of the same plan first (seconds), then the device ones.
timed "unit: plan + module" "host executor or module tests failed" \
  ctest --test-dir "$build" --output-on-failure -R 'PlanHostTest|CudaModuleTest|EngineOpenTest' || true
timed "ctest -L gpu" "GPU tests failed" ctest --test-dir "$build" --output-on-failure -L gpu --timeout 300 || true

sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$sanitizer" ]; then
  for bin in "$build"/tests/bin/gpu_*; do
    timed "memcheck $(basename "$bin")" "compute-sanitizer memcheck reported errors" \
      timeout 240 "$sanitizer" --tool memcheck --error-exitcode 1 --leak-check no "$bin" || true
  done
else
  row "memcheck" SKIP 0 "compute-sanitizer not installed"
fi

# Every LAM variant (synthetic weights) and all-MiniLM when it is here, fp32 and tf32.
bench_md=$(mktemp --suffix=.md)
bench_models=(--synthetic all)
[ -f models/all-MiniLM-L6-v2/model.safetensors ] && bench_models+=(--model models/all-MiniLM-L6-v2)
cuda_bench() { "$build/bin/lam-bench" engine --backend cuda "${bench_models[@]}" -r 3 >"$bench_md"; }
timed "lam-bench engine (cuda)" "benchmark failed" cuda_bench || true
# Item 7's cold start: a new client process's first embedding through a warm CUDA lamd vs an
# in-process engine that initialises CUDA and compiles (`in-process / daemon p50` in the notes).
f128_dir=$(mktemp -d)
ipc_bench() {
  "$build/bin/lam-mkmodel" --variant f128 --seed 1 --out "$f128_dir/f128" --force >/dev/null &&
    timeout 300 "$build/bin/lam-bench" ipc --backend cuda --model "$f128_dir/f128" -r 1 >>"$bench_md"
}
timed "lam-bench ipc (cuda lamd)" "ipc benchmark failed" ipc_bench || true
# The PyTorch eager peer on the same GPU (tools/lam-bench/torch_eager.py), where torch has CUDA.
if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  torch_bench() {
    for dtype in fp32 tf32; do
      timeout 150 python3 tools/lam-bench/torch_eager.py --model "$f128_dir/f128" --device cuda --dtype "$dtype" \
        --shapes 1x16,32x128,256x128,8x512,1x8192 --reps 5 >>"$bench_md" || return 1
    done
  }
  timed "torch eager F128 (peer)" "torch_eager.py failed" torch_bench || true
else
  row "torch eager F128 (peer)" SKIP 0 "no PyTorch with CUDA in python3"
fi
rm -rf "$f128_dir"
table
if [ -s "$bench_md" ]; then
  echo
  cat "$bench_md"
fi
exit "$failed"
