# SPDX-License-Identifier: MIT
"""Exceptions: one class per failing lam_status, all derived from LamError.

Codes from 20 up are verdicts on the caller's input (InputError, also a ValueError); the
others are failures of the call or of the service. Where a builtin exception means the same,
the class derives from it too (TimeoutError, PermissionError, ValueError).
"""
import builtins

from ._status import STATUS_CODES


class LamError(Exception):
    """A call into liblamclient failed. `status` is the lam_status code, `status_name` its
    name ("TIMEOUT"), `detail` the library's message (lam_client_last_error)."""

    status = -1

    def __init__(self, status, description, detail=""):
        self.status = status
        self.status_name = _NAMES.get(status, "UNKNOWN")
        self.description = description
        self.detail = detail
        super().__init__(f"{description}: {detail}" if detail else description)


class InputError(LamError, ValueError):
    """The request itself is invalid (lam_status codes 20 and up): fix the input."""


class InvalidArgumentError(LamError, ValueError): status = 1
class DaemonUnavailableError(LamError, ConnectionError): status = 2
class TimeoutError(LamError, builtins.TimeoutError): status = 3  # noqa: A001 (lamclient.TimeoutError)
class BufferTooSmallError(LamError): status = 4
class ProtocolMismatchError(LamError): status = 5
class ModelNotLoadedError(LamError): status = 6
class BackendFailedError(LamError): status = 7
class OverloadedError(LamError): status = 8
class InternalError(LamError): status = 9
class TooLargeError(LamError): status = 10
class PermissionDeniedError(LamError, PermissionError): status = 11
class ModelInvalidError(LamError): status = 12
class IoError(LamError, OSError): status = 13
class NotFoundError(LamError): status = 14
class CancelledError(LamError): status = 15
class DeadlineExceededError(LamError): status = 16
class UnsupportedError(LamError): status = 17
class EmptyBatchError(InputError): status = 20
class EmptySequenceError(InputError): status = 21
class TokenOutOfRangeError(InputError): status = 22
class SequenceTooLongError(InputError): status = 23
class InvalidUtf8Error(InputError): status = 24
class MalformedRequestError(InputError): status = 25
class PendingError(LamError): status = 26


_NAMES = {num: name for name, num in STATUS_CODES}
_BY_STATUS = {cls.status: cls for cls in list(globals().values())
              if isinstance(cls, type) and issubclass(cls, LamError) and cls.status >= 0}


def error_for(status, description, detail=""):
    """The exception for a lam_status (LamError itself for a code this module does not know)."""
    return _BY_STATUS.get(status, LamError)(status, description, detail)
