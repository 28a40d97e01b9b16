"""Loading libbittern.so and declaring the C API of include/bittern.h for ctypes.

The library is searched, in order:
  1. $BITTERN_LIBRARY (a file, or a directory holding libbittern.so);
  2. a libbittern.so* inside this package's directory (a packager may ship it there);
  3. build/lib/libbittern.so in this package's directory or any directory above it, then in the
     current working directory or any directory above it (a Bittern checkout after scripts/build.sh).
"""
from __future__ import annotations

import ctypes
import glob
import os
from ctypes import (POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float, c_int8, c_int32, c_size_t,
                    c_uint32, c_uint64, c_void_p)

# ---- statuses (bittern.h) ----------------------------------------------------------------------------
OK = 0
E_INVALID_ARGUMENT = -1
E_IO = -2
E_FORMAT = -3
E_UNSUPPORTED = -4
E_OUT_OF_MEMORY = -5
E_INTERNAL = -6
E_CONTEXT_FULL = -7
E_ABORTED = -8

STATUS_NAMES = {
    OK: "OK",
    E_INVALID_ARGUMENT: "BITTERN_E_INVALID_ARGUMENT",
    E_IO: "BITTERN_E_IO",
    E_FORMAT: "BITTERN_E_FORMAT",
    E_UNSUPPORTED: "BITTERN_E_UNSUPPORTED",
    E_OUT_OF_MEMORY: "BITTERN_E_OUT_OF_MEMORY",
    E_INTERNAL: "BITTERN_E_INTERNAL",
    E_CONTEXT_FULL: "BITTERN_E_CONTEXT_FULL",
    E_ABORTED: "BITTERN_E_ABORTED",
}

# ---- finish reasons (bittern_finish_reason) ----------------------------------------------------------
FINISH_LENGTH = 0        # max_tokens reached
FINISH_END = 1           # the model produced an end-of-generation token (not emitted)
FINISH_STOP = 2          # a stop string appeared (it and what follows are not emitted)
FINISH_CANCELLED = 3     # the text callback returned false
FINISH_CONTEXT_FULL = 4  # no room for another token

FINISH_NAMES = {
    FINISH_LENGTH: "length",
    FINISH_END: "end",
    FINISH_STOP: "stop",
    FINISH_CANCELLED: "cancelled",
    FINISH_CONTEXT_FULL: "context_full",
}

SEED_RANDOM = 2 ** 64 - 1  # BITTERN_SEED_RANDOM (UINT64_MAX)
TOKEN_ERROR = -2 ** 31     # INT32_MIN: what the size-query text functions return on error


class BitternError(RuntimeError):
    """A call into libbittern failed. `.status` is the bittern_status (one of the E_* constants),
    `.message` the text of bittern_last_error()."""

    def __init__(self, status: int, message: str):
        self.status = int(status)
        self.message = message
        name = STATUS_NAMES.get(self.status, "status %d" % self.status)
        super().__init__("%s (%s)" % (message, name))


class LibraryNotFoundError(ImportError):
    """libbittern.so could not be found or loaded."""


# ---- finding the library ---------------------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _ancestors(start: str):
    d = os.path.abspath(start)
    while True:
        yield d
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent


def _candidates():
    """Yields (path, how it was found) in search order; paths need not exist."""
    env = os.environ.get("BITTERN_LIBRARY")
    if env:
        if os.path.isdir(env):
            yield os.path.join(env, "libbittern.so"), "$BITTERN_LIBRARY directory"
        else:
            yield env, "$BITTERN_LIBRARY"
    inside = sorted(glob.glob(os.path.join(_PACKAGE_DIR, "libbittern.so*")))
    if inside:
        for p in inside:
            yield p, "package directory"
    else:
        yield os.path.join(_PACKAGE_DIR, "libbittern.so*"), "package directory"
    seen = set()
    for start, how in ((_PACKAGE_DIR, "above the package"), (os.getcwd(), "above the working directory")):
        for d in _ancestors(start):
            p = os.path.join(d, "build", "lib", "libbittern.so")
            if p not in seen:
                seen.add(p)
                yield p, how


def find_library() -> str:
    """Path of the libbittern.so that `import bittern` loads (raises LibraryNotFoundError)."""
    looked = []
    for path, how in _candidates():
        if "*" not in path and os.path.isfile(path):
            return path
        looked.append("%s (%s)" % (path, how))
    raise LibraryNotFoundError(
        "libbittern.so not found. Build it with scripts/build.sh in a Bittern checkout and run from there, "
        "or set BITTERN_LIBRARY to its path. Looked in:\n  " + "\n  ".join(looked))


def _load():
    path = find_library()
    try:
        return ctypes.CDLL(path), path
    except OSError as e:
        raise LibraryNotFoundError("cannot load %s: %s" % (path, e)) from e


lib, library_path = _load()

# ---- types --------------------------------------------------------------------------------------------


class RuntimeParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("n_threads", c_int32),
        ("backend", c_char_p),
        ("numa_policy", c_char_p),
        ("topology", c_char_p),
        ("use_smt", c_int32),
    ]


class QuantParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("zero_threshold", c_float),
    ]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_float, c_void_p)


class ModelParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("head_type", c_char_p),
        ("progress", PROGRESS_FN),
        ("progress_user_data", c_void_p),
    ]


class ContextParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("n_ctx", c_uint32),
        ("logits_all", c_bool),
        ("kv_type", c_char_p),
    ]


class SamplerParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repeat_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("penalty_last_n", c_int32),
        ("seed", c_uint64),
    ]


class GenerateResult(Structure):
    _fields_ = [
        ("n_prompt_tokens", c_int32),
        ("n_reused_tokens", c_int32),
        ("n_generated", c_int32),
        ("finish_reason", c_int32),
        ("prefill_ms", c_double),
        ("decode_ms", c_double),
    ]


class GenerateParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("max_tokens", c_int32),
        ("sampling", SamplerParams),
        ("sampler", c_void_p),
        ("stop", POINTER(c_char_p)),
        ("n_stop", c_int32),
        ("parse_special", c_bool),
        ("result", POINTER(GenerateResult)),
    ]


class ChatMessage(Structure):
    _fields_ = [
        ("role", c_char_p),
        ("content", c_char_p),
    ]


class ConvertParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("weight_type", c_char_p),
        ("head_type", c_char_p),
        ("zero_threshold", c_float),
        ("architecture", c_char_p),
    ]


# bool (*bittern_text_callback)(const char *text, size_t len, int32_t token, void *user_data). text is
# declared POINTER(c_char), not c_char_p, so that ctypes hands over the pointer and the callback reads
# exactly len bytes (ctypes.string_at(text, len)).
TEXT_CALLBACK = ctypes.CFUNCTYPE(c_bool, POINTER(c_char), c_size_t, c_int32, c_void_p)
# bool (*bittern_abort_callback)(void *user_data)
ABORT_CALLBACK = ctypes.CFUNCTYPE(c_bool, c_void_p)

status_t = c_int32
runtime_p = c_void_p
matrix_p = c_void_p
f32_p = POINTER(c_float)
i8_p = POINTER(c_int8)
i32_p = POINTER(c_int32)

# ---- prototypes: every function of include/bittern.h ------------------------------------------------
# Strings the caller must free (char *, from *_describe) are declared c_void_p so that ctypes does not
# convert them and lose the pointer; see take_string().

_PROTOTYPES = {
    # versions, errors
    "bittern_version": (c_char_p, []),
    "bittern_abi_version": (c_uint32, []),
    "bittern_last_error": (c_char_p, []),
    "bittern_last_status": (c_int32, []),
    "bittern_string_free": (None, [c_void_p]),
    # backends
    "bittern_backend_count": (c_size_t, []),
    "bittern_backend_name": (c_char_p, [c_size_t]),
    "bittern_backend_supported": (c_bool, [c_size_t]),
    "bittern_plugin_load": (status_t, [c_char_p]),
    # runtime
    "bittern_runtime_default_params": (RuntimeParams, []),
    "bittern_runtime_create": (status_t, [POINTER(RuntimeParams), POINTER(runtime_p)]),
    "bittern_runtime_free": (None, [runtime_p]),
    "bittern_runtime_describe": (c_void_p, [runtime_p]),
    "bittern_runtime_backend": (c_char_p, [runtime_p]),
    "bittern_runtime_n_threads": (c_int32, [runtime_p]),
    # ternary matrices
    "bittern_quant_default_params": (QuantParams, []),
    "bittern_matrix_from_f32": (status_t, [runtime_p, f32_p, c_size_t, c_size_t, POINTER(QuantParams),
                                           POINTER(matrix_p)]),
    "bittern_matrix_from_trits": (status_t, [runtime_p, i8_p, c_size_t, c_size_t, c_float, POINTER(matrix_p)]),
    "bittern_matrix_gemv_f32": (status_t, [matrix_p, f32_p, f32_p]),
    "bittern_matrix_gemm_f32": (status_t, [matrix_p, f32_p, c_size_t, f32_p]),
    "bittern_matrix_gemv_i8": (status_t, [matrix_p, i8_p, i32_p]),
    "bittern_matrix_gemm_i8": (status_t, [matrix_p, i8_p, c_size_t, i32_p]),
    "bittern_matrix_shape": (status_t, [matrix_p, POINTER(c_size_t), POINTER(c_size_t), POINTER(c_float)]),
    "bittern_matrix_describe": (c_void_p, [matrix_p]),
    "bittern_matrix_free": (None, [matrix_p]),
    # models and contexts
    "bittern_model_default_params": (ModelParams, []),
    "bittern_model_load": (status_t, [runtime_p, c_char_p, POINTER(ModelParams), POINTER(c_void_p)]),
    "bittern_model_free": (None, [c_void_p]),
    "bittern_model_describe": (c_void_p, [c_void_p]),
    "bittern_model_n_vocab": (c_int32, [c_void_p]),
    "bittern_context_default_params": (ContextParams, []),
    "bittern_context_create": (status_t, [c_void_p, POINTER(ContextParams), POINTER(c_void_p)]),
    "bittern_context_free": (None, [c_void_p]),
    "bittern_decode": (status_t, [c_void_p, i32_p, c_size_t]),
    "bittern_logits": (f32_p, [c_void_p, c_int32]),
    "bittern_context_reset": (status_t, [c_void_p]),
    "bittern_context_truncate": (status_t, [c_void_p, c_uint32]),
    "bittern_default_model_path": (c_void_p, []),
    "bittern_context_set_abort_callback": (status_t, [c_void_p, ABORT_CALLBACK, c_void_p]),
    "bittern_context_n_tokens": (c_int32, [c_void_p]),
    # text
    "bittern_tokenize": (c_int32, [c_void_p, c_char_p, c_size_t, c_bool, c_bool, i32_p, c_int32]),
    "bittern_token_to_piece": (c_int32, [c_void_p, c_int32, c_char_p, c_int32]),
    "bittern_detokenize": (c_int32, [c_void_p, i32_p, c_int32, c_bool, c_char_p, c_int32]),
    "bittern_token_bos": (c_int32, [c_void_p]),
    "bittern_token_eos": (c_int32, [c_void_p]),
    "bittern_token_eot": (c_int32, [c_void_p]),
    "bittern_token_is_eog": (c_bool, [c_void_p, c_int32]),
    "bittern_token_is_control": (c_bool, [c_void_p, c_int32]),
    "bittern_detokenizer_create": (status_t, [c_void_p, c_bool, POINTER(c_void_p)]),
    "bittern_detokenizer_push": (POINTER(c_char), [c_void_p, c_int32, POINTER(c_size_t)]),
    "bittern_detokenizer_free": (None, [c_void_p]),
    # sampling
    "bittern_sampler_default_params": (SamplerParams, []),
    "bittern_sampler_create": (status_t, [c_void_p, POINTER(SamplerParams), POINTER(c_void_p)]),
    "bittern_sampler_create_chain": (status_t, [c_void_p, c_uint64, POINTER(c_void_p)]),
    "bittern_sampler_add_logit_bias": (status_t, [c_void_p, c_int32, i32_p, f32_p]),
    "bittern_sampler_add_penalties": (status_t, [c_void_p, c_int32, c_float, c_float, c_float]),
    "bittern_sampler_add_top_k": (status_t, [c_void_p, c_int32]),
    "bittern_sampler_add_top_p": (status_t, [c_void_p, c_float]),
    "bittern_sampler_add_min_p": (status_t, [c_void_p, c_float]),
    "bittern_sampler_add_temperature": (status_t, [c_void_p, c_float]),
    "bittern_sampler_add_greedy": (status_t, [c_void_p]),
    "bittern_sampler_add_dist": (status_t, [c_void_p]),
    "bittern_sampler_sample": (c_int32, [c_void_p, c_void_p, c_int32]),
    "bittern_sampler_accept": (status_t, [c_void_p, c_int32]),
    "bittern_sampler_reset": (status_t, [c_void_p]),
    "bittern_sampler_free": (None, [c_void_p]),
    # generation
    "bittern_generate_default_params": (GenerateParams, []),
    "bittern_generate": (status_t, [c_void_p, c_char_p, POINTER(GenerateParams), TEXT_CALLBACK, c_void_p]),
    # chat (bittern_chat_render returns a char * to free: c_void_p, see take_string)
    "bittern_chat_render": (c_void_p, [c_void_p, c_char_p, POINTER(ChatMessage), c_size_t, c_bool]),
    "bittern_chat": (status_t, [c_void_p, c_char_p, POINTER(ChatMessage), c_size_t, POINTER(GenerateParams),
                                TEXT_CALLBACK, c_void_p]),
    # convert / quantize
    "bittern_convert_default_params": (ConvertParams, []),
    "bittern_convert": (status_t, [c_char_p, c_char_p, POINTER(ConvertParams)]),
    "bittern_quantize": (status_t, [c_char_p, c_char_p, POINTER(ConvertParams)]),
}

for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes

# ---- helpers ------------------------------------------------------------------------------------------


def last_error() -> str:
    msg = lib.bittern_last_error()
    return msg.decode("utf-8", "replace") if msg is not None else ""


def check(status: int) -> None:
    """Raises BitternError for a failing status (reads this thread's message right away)."""
    if status != OK:
        raise BitternError(status, last_error())


def last_failure() -> BitternError:
    """The error of a call that failed without returning a status (NULL, -1, INT32_MIN): this thread's
    bittern_last_status() and message."""
    status = int(lib.bittern_last_status())
    return BitternError(status if status != OK else E_INTERNAL, last_error())


def take_string(ptr) -> str:
    """Copies a library-allocated char * into a str and frees it; NULL raises last_failure()."""
    if not ptr:
        raise last_failure()
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib.bittern_string_free(ptr)
