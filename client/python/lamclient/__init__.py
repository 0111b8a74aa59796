# SPDX-License-Identifier: MIT
"""Python client of lamd: sentence embeddings from the host's lamd through liblamclient.

    import lamclient
    with lamclient.Client() as client:
        rows = client.embed(["hello world"])            # [[0.0123, ...]] (floats of float32s)
        matrix = client.embed(["hello world"], numpy=True)

A Client may be used from several threads at once (liblamclient serialises what it must and
batches concurrent calls together; the GIL is released while a call waits for lamd).
"""
import array
import ctypes
import threading

from . import _native
from ._errors import *  # noqa: F401,F403 (the exception classes are the package's API)
from ._errors import LamError, error_for
from ._status import STATUS_CODES

__all__ = ["Client", "ModelInfo", "LamError", "InputError", "STATUS_CODES", "status_str", "library_version"]
__all__ += [name for name in dir() if name.endswith("Error") and name not in __all__]

TIMEOUT_DEFAULT = 0
TIMEOUT_INFINITE = 0xFFFFFFFF

_lib = None
_lib_lock = threading.Lock()


def _library():
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _native.load()
        return _lib


def status_str(status):
    """lam_status_str(): the static description of a status code."""
    return _library().lam_status_str(status).decode()


def library_version():
    """Version of the loaded liblamclient ("X.Y.Z")."""
    return _library().lam_version_string().decode()


class ModelInfo:
    """What lamd serves (lam_model_info)."""

    __slots__ = ("embedding_dim", "max_tokens", "vocab_size", "buckets", "fingerprint", "name", "backend",
                 "daemon_epoch", "precision")

    def __init__(self, raw):
        self.embedding_dim = raw.embedding_dim
        self.max_tokens = raw.max_tokens
        self.vocab_size = raw.vocab_size
        self.buckets = list(raw.buckets[: raw.n_buckets])
        self.fingerprint = raw.fingerprint.decode()
        self.name = raw.name.decode()
        self.backend = raw.backend.decode()
        self.daemon_epoch = raw.daemon_epoch
        self.precision = raw.precision.decode()

    def __repr__(self):
        return f"ModelInfo(name={self.name!r}, embedding_dim={self.embedding_dim}, backend={self.backend!r}, precision={self.precision!r})"


class Client:
    """A connection to lamd (lam_client). Use as a context manager, or call close().

    socket_path: None = $LAMD_SOCKET, else /run/lamd/lamd.sock.
    timeout_ms: default per-call timeout (0 = the library's 30 s); each call may override it.
    Opening fails with a LamError subclass (DaemonUnavailableError when nothing listens);
    once open, a lost daemon makes calls fail and the next call reconnects.
    """

    def __init__(self, socket_path=None, *, timeout_ms=0, connect_timeout_ms=0, arena_bytes=0):
        lib = _library()
        self._lib = lib
        self._handle = None
        opts = _native.ClientOptions()
        lib.lam_client_options_init(ctypes.byref(opts))
        opts.socket_path = socket_path.encode() if socket_path is not None else None
        opts.timeout_ms = timeout_ms
        opts.connect_timeout_ms = connect_timeout_ms
        opts.arena_bytes = arena_bytes
        handle = ctypes.c_void_p()
        status = lib.lam_client_open(ctypes.byref(opts), ctypes.byref(handle))
        if status != 0:
            err = self._error(status, handle)
            lib.lam_client_close(handle)
            raise err
        self._handle = handle
        self._dim = None

    def close(self):
        """Closes the connection (idempotent). The client must not be in use on other threads."""
        if self._handle is not None:
            self._lib.lam_client_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()

    def _error(self, status, handle=None):
        handle = self._handle if handle is None else handle
        detail = self._lib.lam_client_last_error(handle) if handle else b""
        return error_for(status, self._lib.lam_status_str(status).decode(), (detail or b"").decode(errors="replace"))

    def _check(self, status):
        if status != 0:
            raise self._error(status)

    def _live(self):
        if self._handle is None:
            raise InvalidArgumentError(1, status_str(1), "the client is closed")  # noqa: F405
        return self._handle

    @property
    def embedding_dim(self):
        """Floats per embedding (learnt at connect; no round trip)."""
        dim = ctypes.c_uint32()
        self._check(self._lib.lam_client_get_embedding_dim(self._live(), ctypes.byref(dim)))
        return dim.value

    def model_info(self):
        """The served model: a ModelInfo."""
        raw = _native.ModelInfo()
        self._lib.lam_model_info_init(ctypes.byref(raw))
        self._check(self._lib.lam_client_get_model_info(self._live(), ctypes.byref(raw)))
        return ModelInfo(raw)

    def ping(self, timeout_ms=0):
        """A round trip through the shared-memory rings; raises if lamd does not answer."""
        self._check(self._lib.lam_client_ping(self._live(), timeout_ms))

    def embed(self, texts, *, numpy=False, timeout_ms=0, max_tokens=0):
        """Embeds UTF-8 texts (str or bytes); lamd tokenises them with the model's vocabulary,
        truncating as sentence-transformers does (the model's max_seq_length), or at max_tokens
        when given (up to the model's max_tokens).

        Returns one row per text: a list of float lists, or with numpy=True a float32
        numpy.ndarray of shape (len(texts), embedding_dim). Rows are L2-normalised and bitwise
        the same whatever else is batched with them.
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
        encoded = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts]
        n = len(encoded)
        req = _native.EmbedTextRequest()
        self._lib.lam_embed_text_request_init(ctypes.byref(req))
        ptrs = (ctypes.c_char_p * max(n, 1))(*encoded)
        lens = (ctypes.c_size_t * max(n, 1))(*[len(t) for t in encoded])
        req.texts = ptrs
        req.lengths = lens
        req.n_texts = n
        req.timeout_ms = timeout_ms
        req.max_tokens = max_tokens
        return self._call(self._lib.lam_client_embed_text, req, n, numpy)

    def embed_tokens(self, sequences, *, numpy=False, timeout_ms=0):
        """Embeds token-id sequences (each a list of ints, [CLS] and [SEP] included).
        Returns rows as embed() does."""
        seqs = [list(s) for s in sequences]
        n = len(seqs)
        flat = [t for s in seqs for t in s]
        ids = (ctypes.c_int32 * max(len(flat), 1))(*flat)
        lens = (ctypes.c_uint32 * max(n, 1))(*[len(s) for s in seqs])
        req = _native.EmbedTokensRequest()
        self._lib.lam_embed_tokens_request_init(ctypes.byref(req))
        req.token_ids = ids
        req.lengths = lens
        req.n_sequences = n
        req.timeout_ms = timeout_ms
        return self._call(self._lib.lam_client_embed_tokens, req, n, numpy)

    def _call(self, fn, req, n, as_numpy):
        handle = self._live()
        dim = self.embedding_dim
        count = ctypes.c_size_t()
        if as_numpy:
            import numpy  # optional dependency: only this branch needs it
            out = numpy.empty((n, dim), dtype=numpy.float32)
            self._check(fn(handle, ctypes.byref(req), out.ctypes.data_as(ctypes.c_void_p), out.size,
                           ctypes.byref(count)))
            return out
        buf = array.array("f", bytes(4 * n * dim))
        addr, _ = buf.buffer_info()
        self._check(fn(handle, ctypes.byref(req), ctypes.c_void_p(addr), n * dim, ctypes.byref(count)))
        return [buf[i * dim:(i + 1) * dim].tolist() for i in range(n)]
