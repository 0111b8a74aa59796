#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One lamd for the client-library tests (ctest fixture `lam_clients_lamd`).

  lamd_fixture.py start WORKDIR LAMD LAMCTL LAM_MKMODEL MODEL_DIR SENTENCES
  lamd_fixture.py stop WORKDIR

start: serves MODEL_DIR (all-MiniLM-L6-v2 when tools/models/fetch-minilm.sh has run; else a
synthetic BERT model made with lam-mkmodel) on WORKDIR/lamd.sock on the CPU, waits until
`lamctl ping` answers, and writes WORKDIR/reference.jsonl: `lamctl embed --text` of SENTENCES
through that lamd, one JSON array per line, 9 significant digits (exact float32). The language
tests embed the same sentences through their binding and compare bit for bit.
stop: SIGTERM, and waits until lamd is gone (SIGKILL and failure after 30 s).
"""
import os
import signal
import subprocess
import sys
import time


def start(work, lamd, lamctl, mkmodel, model, sentences):
    os.makedirs(work, exist_ok=True)
    sock = os.path.join(work, "lamd.sock")
    if not os.path.exists(os.path.join(model, "config.json")):
        model = os.path.join(work, "bert-model")
        subprocess.run([mkmodel, "--variant", "bert", "--seed", "1", "--layers", "2", "--out", model, "--force"],
                       check=True, stdout=subprocess.DEVNULL)
    for stale in (sock, os.path.join(work, "reference.jsonl")):
        if os.path.exists(stale):
            os.unlink(stale)
    log = open(os.path.join(work, "lamd.log"), "wb")
    # Buckets up to 128 tokens (every sentence fits), no disk cache: ready in well under a second.
    proc = subprocess.Popen([lamd, "--model", model, "--socket", sock, "--backend", "cpu", "--cache-dir", "none",
                             "--buckets", "16,32,64,128", "--threads", "2", "--log-level", "warning"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    with open(os.path.join(work, "lamd.pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            sys.exit(f"lamd exited with {proc.returncode} before serving; see {log.name}")
        if os.path.exists(sock) and subprocess.run([lamctl, "ping", "--socket", sock, "-c", "1"],
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            break
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit("lamd did not answer within 120 s")
        time.sleep(0.05)
    with open(sentences, "rb") as fin, open(os.path.join(work, "reference.jsonl.tmp"), "wb") as fout:
        subprocess.run([lamctl, "embed", "--text", "--socket", sock], stdin=fin, stdout=fout, check=True)
    os.rename(os.path.join(work, "reference.jsonl.tmp"), os.path.join(work, "reference.jsonl"))
    print(f"lamd {proc.pid} serving {model} on {sock}")


def stop(work):
    pid_file = os.path.join(work, "lamd.pid")
    if not os.path.exists(pid_file):
        return 0
    pid = int(open(pid_file).read())
    os.unlink(pid_file)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        sys.exit(f"lamd {pid} was already gone")
    # lamd is not our child (ctest started the fixture's setup in another process): poll.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            return 0
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        sys.exit(f"lamd {pid} did not stop within 30 s of SIGTERM")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "start":
        start(*sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "stop":
        sys.exit(stop(sys.argv[2]))
    else:
        sys.exit(__doc__)
