#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pip_install_test.sh PYTHON PACKAGE_DIR WORK: builds a wheel of PACKAGE_DIR (client/python),
# installs it into WORK/site and embeds the reference sentences with the installed package
# (bit for bit, as the python test). Exit 77 (skip) without pip, or setuptools that can build a
# wheel (setuptools >= 70.1, or older with the wheel package: Debian's python3-pip has both).
set -euo pipefail
py=$1 pkg=$2 work=$3
can_build_wheels() {
  "$py" -m pip --version >/dev/null 2>&1 &&
    "$py" -c "import importlib.util as u, setuptools, sys
sys.exit(not (u.find_spec('setuptools.command.bdist_wheel') or u.find_spec('wheel')))" 2>/dev/null
}
if ! can_build_wheels; then
  echo "pip, or setuptools able to build a wheel, missing for $py: skipped"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
# A copy: setuptools writes build/ and *.egg-info next to the sources.
cp -r "$pkg" "$work/src"
"$py" -m pip wheel --quiet --no-deps --no-build-isolation --no-index -w "$work/dist" "$work/src"
"$py" -m pip install --quiet --no-deps --no-index --target "$work/site" "$work"/dist/lamclient-*.whl
cd "$work"
PYTHONPATH="$work/site" "$py" - <<'PY'
import json, os, struct
import lamclient
assert os.path.dirname(lamclient.__file__).startswith(os.path.join(os.getcwd(), "site")), lamclient.__file__
sentences = open(os.environ["LAM_CLIENT_SENTENCES"], encoding="utf-8").read().split("\n")[:-1]
want = [json.loads(l) for l in open(os.environ["LAM_CLIENT_REFERENCE"])]
with lamclient.Client(os.environ["LAMD_SOCKET"]) as c:
    got = c.embed(sentences)
pack = lambda rows: b"".join(struct.pack(f"<{len(r)}f", *r) for r in rows)
assert pack(got) == pack(want), "installed lamclient differs from lamctl embed"
print(f"installed lamclient {lamclient.__file__}: {len(got)} embeddings identical to lamctl's")
PY
