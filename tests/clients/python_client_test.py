#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""client/python (lamclient) against a real lamd (the lam_clients_lamd ctest fixture).

Embeddings must be bitwise those `lamctl embed --text` printed through the same lamd.
Environment: LAMD_SOCKET, LAM_CLIENT_REFERENCE, LAM_CLIENT_SENTENCES, LAM_CLIENT_LIBRARY,
LAM_SOURCE_DIR; client/python on PYTHONPATH (or the package installed).
"""
import json
import os
import re
import struct
import sys
import threading
import unittest

import lamclient


def f32_bits(values):
    return struct.pack(f"<{len(values)}f", *values)


def load_reference():
    with open(os.environ["LAM_CLIENT_SENTENCES"], encoding="utf-8") as f:
        sentences = f.read().split("\n")[:-1]
    with open(os.environ["LAM_CLIENT_REFERENCE"]) as f:
        rows = [json.loads(line) for line in f]
    assert len(sentences) == len(rows) and rows, (len(sentences), len(rows))
    return sentences, rows


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sentences, cls.reference = load_reference()
        cls.client = lamclient.Client(os.environ["LAMD_SOCKET"])

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_embed_returns_lamctl_embeddings_bit_for_bit(self):
        rows = self.client.embed(self.sentences)
        self.assertEqual(len(rows), len(self.reference))
        for i, (got, want) in enumerate(zip(rows, self.reference)):
            self.assertEqual(f32_bits(got), f32_bits(want), f"sentence {i}: {self.sentences[i]!r}")

    def test_embed_into_numpy_gives_the_same_bits(self):
        try:
            import numpy
        except ImportError:
            self.skipTest("numpy is not installed")
        matrix = self.client.embed(self.sentences, numpy=True)
        self.assertEqual(matrix.dtype, numpy.float32)
        self.assertEqual(matrix.shape, (len(self.sentences), self.client.embedding_dim))
        self.assertEqual(matrix.tobytes(), b"".join(f32_bits(r) for r in self.reference))

    def test_model_info_and_dimension_agree(self):
        info = self.client.model_info()
        self.assertEqual(info.embedding_dim, self.client.embedding_dim)
        self.assertEqual(info.embedding_dim, len(self.reference[0]))
        self.assertEqual(info.backend, "cpu")
        self.assertTrue(info.fingerprint)
        self.client.ping()

    def test_many_threads_share_one_client(self):
        errors = []

        def worker(k):
            try:
                for j in range(5):
                    i = (k + j) % len(self.sentences)
                    got = self.client.embed([self.sentences[i]])[0]
                    if f32_bits(got) != f32_bits(self.reference[i]):
                        errors.append(f"thread {k}: sentence {i} differs")
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(f"thread {k}: {e!r}")

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_statuses_raise_their_typed_exceptions(self):
        with self.assertRaises(lamclient.InvalidUtf8Error) as cm:
            self.client.embed(["fine", b"\xff bad"])
        self.assertEqual(cm.exception.status, 24)
        self.assertEqual(cm.exception.status_name, "INVALID_UTF8")
        self.assertIn("text 1", cm.exception.detail)
        self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(lamclient.EmptyBatchError):
            self.client.embed([])
        with self.assertRaises(lamclient.TokenOutOfRangeError):
            self.client.embed_tokens([[101, 1 << 30, 102]])
        with self.assertRaises(lamclient.EmptySequenceError):
            self.client.embed_tokens([[101, 102], []])
        with self.assertRaises(TypeError):
            self.client.embed("not a list")
        with self.assertRaises(lamclient.InvalidArgumentError) as cm:
            self.client.embed(["fine"], max_tokens=100000)
        self.assertIn("max_tokens 100000", cm.exception.detail)
        with self.assertRaises(lamclient.DaemonUnavailableError) as cm:
            lamclient.Client(os.environ["LAMD_SOCKET"] + ".absent")
        self.assertIn(".absent", str(cm.exception))
        self.assertIsInstance(cm.exception, lamclient.LamError)

    def test_embed_tokens_gives_unit_rows(self):
        rows = self.client.embed_tokens([[101, 102], [101, 2023, 2003, 102]])
        self.assertEqual(len(rows), 2)
        for row in rows:
            self.assertEqual(len(row), self.client.embedding_dim)
            self.assertAlmostEqual(sum(v * v for v in row), 1.0, places=5)
        again = self.client.embed_tokens([[101, 2023, 2003, 102]])
        self.assertEqual(f32_bits(again[0]), f32_bits(rows[1]))

    def test_status_table_matches_the_header_and_the_library(self):
        header = os.path.join(os.environ["LAM_SOURCE_DIR"], "include", "lam", "lam_status.h")
        with open(header) as f:
            listed = re.findall(r"X\((\w+),\s*(\d+),\s*\"([^\"]*)\"\)", f.read())
        self.assertEqual([(n, int(v)) for n, v, _ in listed], list(lamclient.STATUS_CODES))
        for name, num, text in listed:
            self.assertEqual(lamclient.status_str(int(num)), text, name)
            if int(num) != 0:
                self.assertEqual(lamclient._errors.error_for(int(num), text).status_name, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
