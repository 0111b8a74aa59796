#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lamd's HTTP face driven by clients nobody here wrote: the official `openai` package
(client.embeddings.create, base64 by default and float on request) gets the same float32 bits
as `lamctl embed --text` through the shared-memory path; `requests` speaks TEI's /embed and
/info; prometheus_client's text parser reads /metrics, whose histograms and counters agree
with `lamctl status --json`. Runs on all-MiniLM-L6-v2 (tools/models/fetch-minilm.sh, which
tools/install-deps.sh runs), over loopback TCP with a bearer token."""
import json
import os
import struct
import subprocess
import tempfile
import unittest

import openai
import requests
from prometheus_client.parser import text_string_to_metric_families

from lamd_support import run, start_lamd, stop_lamd

SRC = os.environ.get("LAM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(SRC, "models", "all-MiniLM-L6-v2")
TOKEN = "lamd-test-token-4c1f9e2d7a"

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Ünïcödé, accents — and 漢字!", "", "a"]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


@unittest.skipUnless(os.path.isdir(MODEL), "all-MiniLM-L6-v2 missing: run tools/models/fetch-minilm.sh")
class HttpFaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lamd-http-")
        cls.sock = os.path.join(cls.tmp.name, "s")
        token_file = os.path.join(cls.tmp.name, "token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(TOKEN + "\n")
        cls.lamd = start_lamd(MODEL, cls.sock, "--backend", "cpu", "--cache-dir", "none", "--log-level", "warning",
                              "--http", "127.0.0.1:0", "--http-token-file", token_file)
        doc = cls.status()
        cls.model_name = doc["model"]["name"]
        host_port = doc["http"]["http_listeners"][0]
        cls.base = "http://" + host_port
        cls.auth = {"Authorization": "Bearer " + TOKEN}

    @classmethod
    def tearDownClass(cls):
        assert stop_lamd(cls.lamd) == 0
        cls.tmp.cleanup()

    @classmethod
    def status(cls):
        r = run("lamctl", "status", "--json", "--socket", cls.sock)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def reference(self, texts):
        """float32 rows from `lamctl embed --text` through the shared-memory path of the same lamd."""
        r = run("lamctl", "embed", "--text", "--socket", self.sock, stdin="".join(t + "\n" for t in texts))
        self.assertEqual(r.returncode, 0, r.stderr)
        return [[f32(x) for x in json.loads(line)] for line in r.stdout.splitlines()]

    def test_openai_client_gets_the_bits_of_lamctl_embed(self):
        client = openai.OpenAI(base_url=self.base + "/v1", api_key=TOKEN, max_retries=0)
        want = self.reference(TEXTS)
        # The client asks for base64 unless told otherwise, and decodes it itself.
        for kwargs in ({}, {"encoding_format": "float"}):
            resp = client.embeddings.create(model=self.model_name, input=TEXTS, **kwargs)
            self.assertEqual(resp.object, "list")
            self.assertEqual(resp.model, self.model_name)
            self.assertEqual([d.index for d in resp.data], list(range(len(TEXTS))))
            for d, w in zip(resp.data, want):
                self.assertEqual([f32(x) for x in d.embedding], w, kwargs)
            self.assertGreater(resp.usage.prompt_tokens, 2 * len(TEXTS))
            self.assertEqual(resp.usage.prompt_tokens, resp.usage.total_tokens)
        one = client.embeddings.create(model="sentence-transformers/" + self.model_name, input=TEXTS[0])
        self.assertEqual([f32(x) for x in one.data[0].embedding], want[0])
        # Errors arrive as the client's typed exceptions with OpenAI's error object.
        with self.assertRaises(openai.NotFoundError) as e:
            client.embeddings.create(model="text-embedding-3-small", input="x")
        self.assertEqual(e.exception.body["code"], "model_not_found")
        with self.assertRaises(openai.BadRequestError) as e:
            client.embeddings.create(model=self.model_name, input=[[101, 10 ** 6, 102]])
        self.assertEqual(e.exception.body["code"], "token_out_of_range")
        with self.assertRaises(openai.AuthenticationError):
            openai.OpenAI(base_url=self.base + "/v1", api_key="wrong", max_retries=0).embeddings.create(
                model=self.model_name, input="x")

    def test_tei_embed_and_info_with_requests(self):
        want = self.reference(TEXTS)
        r = requests.post(self.base + "/embed", json={"inputs": TEXTS}, headers=self.auth, timeout=60)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual([[f32(x) for x in row] for row in r.json()], want)
        info = requests.get(self.base + "/info", headers=self.auth, timeout=60).json()
        self.assertEqual(info["model_id"], self.model_name)
        # sentence-transformers' max_seq_length for the model (256), as TEI reports it.
        self.assertEqual(info["max_input_length"], 256)
        # Past 256 tokens (here 302): refused like TEI unless truncate is true, then the first
        # 256 tokens', as lamctl embed --text and sentence-transformers give.
        long_text = "word " * 300
        r = requests.post(self.base + "/embed", json={"inputs": long_text}, headers=self.auth, timeout=60)
        self.assertEqual(r.status_code, 413, r.text)
        self.assertEqual(r.json()["error_type"], "Validation")
        r = requests.post(self.base + "/embed", json={"inputs": long_text, "truncate": True}, headers=self.auth,
                          timeout=60)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual([f32(x) for x in r.json()[0]], self.reference([long_text])[0])
        r = requests.post(self.base + "/embed", data=b"{", headers=self.auth, timeout=60)
        self.assertEqual(r.status_code, 400)
        self.assertEqual(set(r.json()), {"error", "error_type"})
        # curl, the other everyday client.
        out = subprocess.run(["curl", "-sS", "-H", "Authorization: Bearer " + TOKEN, "-H",
                              "Content-Type: application/json", "-d", json.dumps({"inputs": TEXTS[0]}),
                              self.base + "/embed"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([f32(x) for x in json.loads(out.stdout)[0]], want[0])

    def test_metrics_parse_and_agree_with_the_status_document(self):
        for _ in range(3):
            requests.post(self.base + "/embed", json={"inputs": ["metrics", "twice"]}, headers=self.auth,
                          timeout=60).raise_for_status()
        self.reference(["through shared memory"])
        r = requests.get(self.base + "/metrics", headers=self.auth, timeout=60)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        doc = self.status()
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        for name in ("lamd_request_duration_seconds", "lamd_queue_wait_seconds", "lamd_batch_duration_seconds"):
            self.assertEqual(families[name].type, "histogram", name)
        req = families["lamd_request_duration_seconds"]
        for transport in ("http", "shm"):
            buckets = [(s.labels["le"], s.value) for s in req.samples
                       if s.name.endswith("_bucket") and s.labels["transport"] == transport]
            values = [v for _, v in buckets]
            self.assertEqual(buckets[-1][0], "+Inf")
            self.assertEqual(values, sorted(values), "cumulative buckets never decrease")
            count = [s.value for s in req.samples if s.name.endswith("_count") and s.labels["transport"] == transport]
            self.assertEqual(count, [values[-1]])
            self.assertGreaterEqual(values[-1], 1)
        by_transport = {row["transport"]: row for row in doc["transports"]["by_transport"]}
        seqs = {s.labels["transport"]: s.value for s in families["lamd_transport_sequences"].samples}
        # /metrics was read just before the status document; nothing ran in between.
        self.assertEqual(seqs["http"], by_transport["http"]["sequences_total"])
        self.assertGreaterEqual(seqs["http"], 6)
        self.assertGreaterEqual(seqs["shm"], 1)
        codes = {s.labels["code"]: s.value for s in families["lamd_http_responses"].samples}
        self.assertGreaterEqual(codes["200"], 3)
        batches = [s.value for s in families["lamd_batch_duration_seconds"].samples if s.name.endswith("_count")]
        self.assertEqual(batches, [doc["batches"]["batches_total"]])
        # lamctl's exposition has the same families.
        r = run("lamctl", "status", "--prometheus", "--socket", self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        lamctl = {f.name: f.type for f in text_string_to_metric_families(r.stdout)}
        self.assertEqual(lamctl.get("lamd_request_duration_seconds"), "histogram")
        self.assertTrue(set(families) <= set(lamctl) | {"lamd_uptime_seconds"}, set(families) - set(lamctl))


if __name__ == "__main__":
    unittest.main()
