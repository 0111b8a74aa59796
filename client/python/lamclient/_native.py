# SPDX-License-Identifier: MIT
"""ctypes declarations of lam.h (the subset this package uses) and the library loader."""
import ctypes
import ctypes.util
import os

lam_status = ctypes.c_int32


class ClientOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("socket_path", ctypes.c_char_p),
                ("arena_bytes", ctypes.c_uint64), ("timeout_ms", ctypes.c_uint32),
                ("connect_timeout_ms", ctypes.c_uint32)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("embedding_dim", ctypes.c_uint32),
                ("max_tokens", ctypes.c_uint32), ("vocab_size", ctypes.c_uint32), ("n_buckets", ctypes.c_uint32),
                ("buckets", ctypes.c_uint32 * 16), ("fingerprint", ctypes.c_char * 72), ("name", ctypes.c_char * 64),
                ("backend", ctypes.c_char * 16), ("daemon_epoch", ctypes.c_uint64),
                ("precision", ctypes.c_char * 16)]


class EmbedTokensRequest(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("token_ids", ctypes.POINTER(ctypes.c_int32)), ("lengths", ctypes.POINTER(ctypes.c_uint32)),
                ("n_sequences", ctypes.c_size_t), ("timeout_ms", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]


class EmbedTextRequest(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("texts", ctypes.POINTER(ctypes.c_char_p)), ("lengths", ctypes.POINTER(ctypes.c_size_t)),
                ("n_texts", ctypes.c_size_t), ("timeout_ms", ctypes.c_uint32), ("max_tokens", ctypes.c_uint32)]


def _find_library():
    path = os.environ.get("LAM_CLIENT_LIBRARY")
    if path:
        return path
    # The linker cache (ldconfig), else the SONAME through the dynamic loader's own search.
    return ctypes.util.find_library("lamclient") or "liblamclient.so.0"


def load():
    lib = ctypes.CDLL(_find_library())
    p = ctypes.POINTER
    sigs = {
        "lam_status_str": (ctypes.c_char_p, [lam_status]),
        "lam_version_string": (ctypes.c_char_p, []),
        "lam_client_options_init": (None, [p(ClientOptions)]),
        "lam_model_info_init": (None, [p(ModelInfo)]),
        "lam_embed_tokens_request_init": (None, [p(EmbedTokensRequest)]),
        "lam_embed_text_request_init": (None, [p(EmbedTextRequest)]),
        "lam_client_open": (lam_status, [p(ClientOptions), p(ctypes.c_void_p)]),
        "lam_client_close": (None, [ctypes.c_void_p]),
        "lam_client_last_error": (ctypes.c_char_p, [ctypes.c_void_p]),
        "lam_client_get_model_info": (lam_status, [ctypes.c_void_p, p(ModelInfo)]),
        "lam_client_get_embedding_dim": (lam_status, [ctypes.c_void_p, p(ctypes.c_uint32)]),
        "lam_client_embed_tokens": (lam_status, [ctypes.c_void_p, p(EmbedTokensRequest), ctypes.c_void_p,
                                                 ctypes.c_size_t, p(ctypes.c_size_t)]),
        "lam_client_embed_text": (lam_status, [ctypes.c_void_p, p(EmbedTextRequest), ctypes.c_void_p,
                                               ctypes.c_size_t, p(ctypes.c_size_t)]),
        "lam_client_ping": (lam_status, [ctypes.c_void_p, ctypes.c_uint32]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib
