#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Observability against a real lamd: `lamctl status --prometheus` parses with the reference
Prometheus text parser (prometheus_client) and carries the same values as the daemon's JSON
status document; liblamclient logs nothing by default and logs to LAM_LOG_FILE at
LAM_LOG_LEVEL when asked."""
import json
import os
import tempfile
import unittest

from prometheus_client.parser import text_string_to_metric_families

from lamd_support import run, start_lamd, stop_lamd


class ObservabilityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lamd-prom-")
        model = os.path.join(cls.tmp.name, "model")
        r = run("lam-mkmodel", "--variant", "f128", "--seed", "3", "--out", model)
        assert r.returncode == 0, r.stderr
        cls.sock = os.path.join(cls.tmp.name, "s")
        cls.lamd = start_lamd(model, cls.sock, "--log-level", "warning")

    @classmethod
    def tearDownClass(cls):
        assert stop_lamd(cls.lamd) == 0
        cls.tmp.cleanup()

    def test_exposition_parses_and_matches_the_json_document(self):
        ping = run("lamctl", "ping", "--socket", self.sock)
        self.assertEqual(ping.returncode, 0, ping.stderr)
        self.assertIn("lamd is ready (serving)", ping.stdout)
        self.assertEqual(run("lamctl", "ping", "--live", "--socket", self.sock).returncode, 0)
        before = json.loads(run("lamctl", "status", "--json", "--socket", self.sock).stdout)
        r = run("lamctl", "embed", "--socket", self.sock, stdin="[101, 2000, 102]\n[101, 3000, 4000, 102]\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("lamctl", "status", "--json", "--socket", self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        r = run("lamctl", "status", "--prometheus", "--socket", self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        samples = {}
        families = list(text_string_to_metric_families(r.stdout))
        self.assertGreater(len(families), 20)
        for fam in families:
            self.assertTrue(fam.name.startswith("lamd_"), fam.name)
            self.assertIn(fam.type, ("counter", "gauge", "histogram"))
            self.assertTrue(fam.samples, fam.name)
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                self.assertNotIn(key, samples, "duplicate sample")
                samples[key] = s.value

        def one(name, **labels):
            return samples[(name, tuple(sorted(labels.items())))]

        self.assertEqual(one("lamd_requests_by_status_total", status="OK"), doc["requests"]["by_status"]["OK"])
        self.assertEqual(one("lamd_ring_nops_total"), doc["requests"]["ring_nops_total"])
        self.assertEqual(one("lamd_tokens_total"), doc["batches"]["tokens_total"])
        self.assertEqual(doc["batches"]["tokens_total"] - before["batches"]["tokens_total"], 7)
        self.assertEqual(one("lamd_requests_ok_total"), doc["requests"]["requests_ok"])
        self.assertEqual(one("lamd_uptime_seconds"), doc["server"]["uptime_in_seconds"])
        for row in doc["executables"]["by_bucket"]:
            self.assertEqual(one("lamd_executable_resident", bucket=row["bucket"]), 1.0 if row["resident"] else 0.0)
            self.assertEqual(one("lamd_executable_hits_total", bucket=row["bucket"]), row["hits"])
        info = [s for f in families if f.name == "lamd_info" for s in f.samples]
        self.assertEqual(len(info), 1)
        self.assertEqual(info[0].value, 1.0)
        self.assertEqual(info[0].labels["server_backend"], doc["server"]["backend"])
        self.assertEqual(info[0].labels["model_fingerprint"], doc["model"]["fingerprint"])

    def test_prometheus_refuses_a_section_or_json(self):
        for extra in (["server"], ["--json"]):
            r = run("lamctl", "status", "--prometheus", *extra, "--socket", self.sock)
            self.assertEqual(r.returncode, 2)
            self.assertIn("--prometheus", r.stderr)

    def test_client_library_is_silent_unless_the_environment_asks(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAM_LOG_")}
        line = "[101, 2000, 102]\n"
        # lamctl embed --socket goes through liblamclient.
        r = run("lamctl", "embed", "--socket", self.sock, stdin=line, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("liblamclient", r.stderr)
        log = os.path.join(self.tmp.name, "client.log")
        r = run("lamctl", "embed", "--socket", self.sock, stdin=line,
                env=dict(env, LAM_LOG_LEVEL="info", LAM_LOG_FILE=log))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(log) as f:
            text = f.read()
        self.assertRegex(text, r"liblamclient\[\d+\] info: connected to " + self.sock)
        # Debug on stderr (no file): a failed connection names the socket it tried.
        missing = os.path.join(self.tmp.name, "nobody-here.sock")
        r = run("lamctl", "embed", "--socket", missing, stdin=line, env=dict(env, LAM_LOG_LEVEL="debug"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("liblamclient[", r.stderr)
        self.assertIn("debug: ", r.stderr)
        self.assertIn(missing, r.stderr)

if __name__ == "__main__":
    unittest.main()
