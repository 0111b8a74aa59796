# SPDX-License-Identifier: MIT
"""lam_status codes: the X-macro list of include/lam/lam_status.h, as (name, number).

Numbers are stable and never reused. tests/clients/python_client_test.py checks this table
against the header and against lam_status_str() of the loaded library.
"""
STATUS_CODES = (
    ("OK", 0),
    ("INVALID_ARG", 1),
    ("DAEMON_UNAVAILABLE", 2),
    ("TIMEOUT", 3),
    ("BUFFER_TOO_SMALL", 4),
    ("PROTOCOL_MISMATCH", 5),
    ("MODEL_NOT_LOADED", 6),
    ("BACKEND_FAILED", 7),
    ("OVERLOADED", 8),
    ("INTERNAL", 9),
    ("TOO_LARGE", 10),
    ("PERMISSION_DENIED", 11),
    ("MODEL_INVALID", 12),
    ("IO_ERROR", 13),
    ("NOT_FOUND", 14),
    ("CANCELLED", 15),
    ("DEADLINE_EXCEEDED", 16),
    ("UNSUPPORTED", 17),
    ("EMPTY_BATCH", 20),
    ("EMPTY_SEQUENCE", 21),
    ("TOKEN_OUT_OF_RANGE", 22),
    ("SEQUENCE_TOO_LONG", 23),
    ("INVALID_UTF8", 24),
    ("MALFORMED_REQUEST", 25),
    ("PENDING", 26),
)
