# SPDX-License-Identifier: MIT
"""Starting and stopping a real lamd for the Python tests: the build's binaries (LAM_BIN_DIR),
and a daemon that is ready (`lamctl ping` exits 0 once the warm-up is done) before a test runs."""
import os
import signal
import subprocess
import time

BIN = os.environ.get("LAM_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))


def run(*args, stdin=None, env=None, timeout=120):
    """Runs one of the build's programs; returns the CompletedProcess (text, captured)."""
    return subprocess.run([os.path.join(BIN, args[0]), *args[1:]], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def start_lamd(model, sock, *extra, timeout=120):
    """Starts lamd on `model` and `sock` with the extra arguments; returns the process once it
    serves. The socket answers from the start of warm-up: `lamctl ping` exits 0 only when ready."""
    proc = subprocess.Popen([os.path.join(BIN, "lamd"), "--model", model, "--socket", sock, *extra])
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lamd exited with status {proc.returncode} before it was ready")
        if os.path.exists(sock) and run("lamctl", "ping", "--socket", sock, "-c", "1").returncode == 0:
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"lamd was not ready within {timeout} s")


def stop_lamd(proc, timeout=60):
    """SIGTERM, then the exit status (0 after a clean drain)."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)
