#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lamctl model install|ls|use in a scratch state directory, and lamd serving the result.

A synthetic model (lam-mkmodel) is installed (copied and validated), listed, activated through
STATE/model, replaced only with --force, refused when corrupt or not a directory; then lamd
started with `--model STATE/model` serves it (its model info names the installed copy's
fingerprint, the same as the source's).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("LAM_BIN_DIR", "build/bin")
LAMCTL, LAMD, MKMODEL = (os.path.join(BIN, n) for n in ("lamctl", "lamd", "lam-mkmodel"))


def lamctl(*args, ok=True):
    r = subprocess.run([LAMCTL, "model", *args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"lamctl model {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def main():
    work = tempfile.mkdtemp(prefix="lamctl-model-")
    try:
        src = os.path.join(work, "tiny-bert")
        subprocess.run([MKMODEL, "--variant", "bert", "--seed", "3", "--layers", "1", "--vocab-size", "2000",
                        "--out", src], check=True, stdout=subprocess.DEVNULL)
        state = os.path.join(work, "state")
        r = lamctl("install", src, "--state-dir", state)
        assert "installed tiny-bert (fingerprint " in r.stdout, r.stdout
        fingerprint = r.stdout.split("fingerprint ")[1].split(")")[0]
        installed = os.path.join(state, "models", "tiny-bert")
        for name in os.listdir(src):
            a, b = os.path.join(src, name), os.path.join(installed, name)
            if os.path.isfile(a):
                assert open(a, "rb").read() == open(b, "rb").read(), name
                assert os.stat(b).st_mode & 0o777 == 0o644, name
        assert not os.path.exists(os.path.join(state, "model")), "installed without --activate yet activated"
        assert [n for n in os.listdir(os.path.join(state, "models")) if n.startswith(".")] == [], "leftovers"

        # Installing again needs --force; under another name it is a second model.
        r = lamctl("install", src, "--state-dir", state, ok=False)
        assert r.returncode == 1 and "already installed" in r.stderr, r.stderr
        lamctl("install", src, "--state-dir", state, "--force")
        os.environ["LAMD_STATE_DIR"] = state
        lamctl("install", src, "--name", "second", "--activate")
        assert os.readlink(os.path.join(state, "model")) == os.path.join("models", "second")
        listing = lamctl("ls").stdout.splitlines()
        assert listing[0].split() == ["*", "second", fingerprint], listing
        assert listing[1].split() == ["tiny-bert", fingerprint], listing
        lamctl("use", "tiny-bert")
        assert os.readlink(os.path.join(state, "model")) == os.path.join("models", "tiny-bert")

        # Refusals: not a directory, a corrupt model (nothing is installed), a bad name, not installed.
        r = lamctl("install", "all-MiniLM-L6-v2", ok=False)
        assert r.returncode == 1 and "does not download" in r.stderr, r.stderr
        bad = os.path.join(work, "bad")
        shutil.copytree(src, bad)
        with open(os.path.join(bad, "model.safetensors"), "r+b") as f:
            f.truncate(100)
        r = lamctl("install", bad, ok=False)
        assert r.returncode == 1 and "not a model lamd can load" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(state, "models", "bad"))
        assert lamctl("install", src, "--name", "../escape", ok=False).returncode == 2
        r = lamctl("use", "absent", ok=False)
        assert r.returncode == 1 and "not installed" in r.stderr, r.stderr

        # lamd serves the active model through STATE/model.
        sock = os.path.join(work, "lamd.sock")
        lamd = subprocess.Popen([LAMD, "--model", os.path.join(state, "model"), "--socket", sock, "--backend", "cpu",
                                 "--cache-dir", "none", "--buckets", "16", "--threads", "1", "--log-level", "warning"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                r = subprocess.run([LAMCTL, "status", "model", "--socket", sock], capture_output=True, text=True)
                if r.returncode == 0:
                    break
                assert lamd.poll() is None and time.monotonic() < deadline, "lamd did not serve the installed model"
                time.sleep(0.05)
            assert fingerprint in r.stdout, r.stdout
        finally:
            lamd.send_signal(signal.SIGTERM)
            assert lamd.wait(timeout=60) == 0
        print("lamctl model: install, ls, use, refusals and a lamd serving STATE/model: ok")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
