#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every build and test dependency of lamd on a fresh Debian machine.
# Debian packages for the build; PyPI only for test tooling (numpy) and model files.
# Idempotent: re-running it is cheap when everything is already present.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEB_PKGS=(
  build-essential cmake ninja-build pkg-config
  libuv1-dev libtbb-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest
  libdnnl-dev libsystemd-dev nlohmann-json3-dev libxxhash-dev libicu-dev
  # Command-line parsing of lamd and lamctl (header-only).
  libcli11-dev
  # The HTTP face's request parser (nodejs http-parser 2.9) and curl for its tests.
  libhttp-parser-dev curl
  python3 python3-pip binutils
  # The sanitizer and fuzz stages of tools/run-tests.sh: clang with its sanitizer and libFuzzer
  # runtimes, llvm-symbolizer for the reports' stacks, and the OpenMP runtime clang's FindOpenMP
  # looks for (omp.h, libomp).
  clang-14 libclang-rt-14-dev llvm-14 libomp-14-dev
  # Packaging and install tests (tests/packaging, tests/install): `file` for CPack's DEB
  # generator, dpkg-shlibdeps (dpkg-dev), systemd-analyze/-sysusers/-tmpfiles (systemd) and man
  # for the units' and man pages' checks. python3-pip brings setuptools and wheel, which
  # `pip install ./client/python` uses.
  file dpkg-dev systemd man-db
  # PyYAML, to check deploy/kubernetes/ (tests/python/test_deploy_manifests.py).
  python3-yaml
)
# The Go and Rust bindings' tests (tests/clients): Debian's toolchains, unless one is already on
# PATH (a rustup or upstream Go install is used as it is).
command -v go >/dev/null 2>&1 || DEB_PKGS+=(golang-go)
command -v cargo >/dev/null 2>&1 || DEB_PKGS+=(cargo)

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test tooling from PyPI (the float64 reference is numpy).
PY=${PYTHON:-python3}
if ! "$PY" -c "import numpy" 2>/dev/null; then
  "$PY" -m pip install -q numpy || "$PY" -m pip install -q --break-system-packages numpy
fi
# The Prometheus text parser, to check `lamctl status --prometheus` in the tests.
if ! "$PY" -c "import prometheus_client" 2>/dev/null; then
  "$PY" -m pip install -q prometheus_client==0.26.0 || "$PY" -m pip install -q --break-system-packages prometheus_client==0.26.0
fi
# Real HTTP clients for the HTTP face's tests: the official OpenAI client and requests.
if ! "$PY" -c "import openai, requests" 2>/dev/null; then
  "$PY" -m pip install -q openai==3.63.0 requests==2.34.2 || "$PY" -m pip install -q --break-system-packages openai==3.63.0 requests==2.34.2
fi
# Building the Python client's wheel (tests/clients: pip install from the repository) needs
# setuptools >= 70.1 or the wheel package beside an older setuptools (Python 3.11's bundled 65.5
# has neither); wheel 0.45.1 is the last with its own bdist_wheel for setuptools < 70.1.
if "$PY" -m pip --version >/dev/null 2>&1 && ! "$PY" -c "import importlib.util as u, setuptools, sys
sys.exit(not (u.find_spec('setuptools.command.bdist_wheel') or u.find_spec('wheel')))" 2>/dev/null; then
  "$PY" -m pip install -q wheel==0.45.1 || "$PY" -m pip install -q --break-system-packages wheel==0.45.1
fi
# cuobjdump, to check NVRTC's cubins in the tests (the toolkit image lacks it): NVIDIA's wheel.
if [ -d /usr/local/cuda ] && ! "$PY" -c "import nvidia, os, sys; sys.exit(not os.path.exists(os.path.join(list(nvidia.__path__)[0], 'cu13', 'bin', 'cuobjdump')))" 2>/dev/null; then
  "$PY" -m pip install -q nvidia-cuda-cuobjdump==13.5.37 || "$PY" -m pip install -q --break-system-packages nvidia-cuda-cuobjdump==13.5.37
fi
echo "install-deps: ok"
"$(dirname "${BASH_SOURCE[0]}")/models/fetch-minilm.sh"   # model files for tests (all-MiniLM-L6-v2)
