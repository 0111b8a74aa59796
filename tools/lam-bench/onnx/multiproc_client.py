#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One client process of compare.py's multi-process case: batch-1 embeddings for a fixed time.

  multiproc_client.py ort ONNX IDS_JSON OFFSET    its own ONNX Runtime session (intra_op 1),
                                                  what a process does without a daemon
  multiproc_client.py lamd SOCKET IDS_JSON OFFSET lam_client_embed_tokens through lamclient
                                                  (client/python; LAM_CLIENT_LIBRARY names the .so)

IDS_JSON holds token-id sequences ([CLS] ... [SEP]); the process embeds them one per call,
starting at OFFSET and cycling. Protocol on stdin/stdout, so that the parent starts every process
before timing any: the process loads, prints "ready", reads one line "START_EPOCH SECONDS"
(time.time() values), waits for START_EPOCH, calls back to back until START_EPOCH + SECONDS and
prints one JSON line: calls completed, the time of the last completion (relative to the start),
the latency of every call in ns, and its peak and current RSS in KiB.
"""
import json
import sys
import time


def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    side, target, ids_path, offset = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(ids_path) as f:
        seqs = json.load(f)
    import numpy as np
    if side == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(target, so, providers=["CPUExecutionProvider"])
        feeds = [{"input_ids": np.array([s], np.int64), "attention_mask": np.ones((1, len(s)), np.int64)}
                 for s in seqs]

        def call(i):
            sess.run(None, feeds[i])
    elif side == "lamd":
        import lamclient
        client = lamclient.Client(target)

        def call(i):
            client.embed_tokens([seqs[i]], numpy=True)
    else:
        sys.exit(f"unknown side {side}")
    call(offset % len(seqs))  # warm-up: first-call allocations, connection, thread pool
    print("ready", flush=True)
    start, seconds = (float(x) for x in sys.stdin.readline().split())
    end = start + seconds
    time.sleep(max(0.0, start - time.time()))
    lat, i, last = [], offset, 0.0
    while True:
        t0 = time.perf_counter_ns()
        call(i % len(seqs))
        t1 = time.perf_counter_ns()
        now = time.time()
        if now > end:
            break
        lat.append(t1 - t0)
        last = now - start
        i += 1
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and execve, so it would
    # report the parent's peak (torch and all) instead of this process's.
    print(json.dumps({"calls": len(lat), "last": last, "lat_ns": lat, "peak_rss_kib": status_kib("VmHWM"),
                      "rss_kib": status_kib("VmRSS")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
