#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 13's peer comparison in one command: starts lamd (HTTP on loopback TCP + shared memory)
# and infinity-emb (https://github.com/michaelfeil/infinity, an OpenAI-compatible embedding
# server on sentence-transformers + torch, from PyPI) on the same local model directory, offline,
# then runs lam-bench-http against lamd http, lamd shm and the peer, interleaved, and stops both.
#
#   python3 -m venv /opt/peer && /opt/peer/bin/pip install 'infinity-emb[server,torch]'
#   PEER_VENV=/opt/peer tools/peers/run-peer-bench.sh --reps 3 --seconds 10 --warmup 2
#
# Arguments go to lam-bench-http (defaults: --texts 1,32 --conns 1,16,64). Environment:
#   PEER_VENV   the venv holding infinity_emb (required)
#   MODEL       model directory (default models/all-MiniLM-L6-v2, tools/models/fetch-minilm.sh)
#   BIN         lamd / lam-bench-http directory (default build/bin)
#   LAMD_PORT, PEER_PORT   loopback ports (default 18431, 18432)
#   THREADS     torch's intra-op threads (OMP/MKL; default nproc); lamd uses its own default
# The peer runs as shipped otherwise (its default batch size 32, dynamic batching), without its
# optional disk cache, telemetry and start-up warmup (the benchmark warms every cell up itself).
# Neither side has a deadline: lamd runs with --http-deadline-ms 0 and the shared-memory clients
# wait without a timeout, as infinity does, so that 32 texts x 64 connections past saturation
# (a minute or more of queue on two cores) is measured instead of failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${PEER_VENV:?set PEER_VENV to a venv with infinity-emb[server,torch]}"
MODEL=${MODEL:-models/all-MiniLM-L6-v2}
BIN=${BIN:-build/bin}
LAMD_PORT=${LAMD_PORT:-18431}
PEER_PORT=${PEER_PORT:-18432}
THREADS=${THREADS:-$(nproc)}
model_abs=$(cd "$MODEL" && pwd)
work=$(mktemp -d /tmp/lam-peer-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for port in "$LAMD_PORT" "$PEER_PORT"; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "run-peer-bench: 127.0.0.1:$port is taken (set LAMD_PORT / PEER_PORT)" >&2
    exit 1
  fi
done

"$BIN/lamd" --model "$MODEL" --socket "$work/s" --backend cpu --cache-dir none --log-level warning \
  --http "127.0.0.1:$LAMD_PORT" --http-deadline-ms 0 >"$work/lamd.log" 2>&1 &
pids+=($!)
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0 \
  OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS \
  "$PEER_VENV/bin/infinity_emb" v2 --model-id "$model_abs" --served-model-name all-MiniLM-L6-v2 \
  --engine torch --device cpu --no-bettertransformer --no-vector-disk-cache --no-model-warmup \
  --host 127.0.0.1 --port "$PEER_PORT" --url-prefix /v1 --log-level warning >"$work/peer.log" 2>&1 &
pids+=($!)

wait_http() {  # URL NAME LOG
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.5
  done
  echo "run-peer-bench: $2 did not come up; its log:" >&2
  cat "$3" >&2
  exit 1
}
wait_http "http://127.0.0.1:$LAMD_PORT/ready" lamd "$work/lamd.log"
wait_http "http://127.0.0.1:$PEER_PORT/health" infinity "$work/peer.log"

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peer: infinity-emb $("$PEER_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("infinity-emb"))'), torch $("$PEER_VENV/bin/python" -c 'import torch; print(torch.__version__)'), $THREADS torch threads"
"$BIN/lam-bench-http" --socket "$work/s" --http "127.0.0.1:$LAMD_PORT" --peer "127.0.0.1:$PEER_PORT" \
  --peer-name infinity "$@"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
