"""Models and contexts: load a GGUF ternary model, tokenize, decode tokens, read logits, generate and chat
(bittern_model_*, bittern_context_*, bittern_decode, bittern_logits, bittern_tokenize & co.,
bittern_generate, bittern_chat)."""
from __future__ import annotations

import ctypes
import json
import os
import weakref

import numpy as np

from . import _lib
from ._handle import OwnedHandle
from ._lib import lib
from .generation import Chat, Generation, _message_dict
from .runtime import runtime_handle
from .sampling import Sampler, sampler_params

_INT32_MIN, _INT32_MAX = -2 ** 31, 2 ** 31 - 1


# ---- helpers --------------------------------------------------------------------------------------------

def default_model_path() -> str:
    """Path of the bundled demo model (bittern_default_model_path): $BITTERN_MODEL when set, else
    bittern-demo.gguf in <dir>/../share/bittern/ or <dir>/, where <dir> holds libbittern.so.
    Raises BitternError E_IO (the message lists the places searched) when it is not found."""
    ptr = lib.bittern_default_model_path()
    if not ptr:
        raise _lib.BitternError(_lib.E_IO, _lib.last_error())
    try:
        return os.fsdecode(ctypes.string_at(ptr))
    finally:
        lib.bittern_string_free(ptr)


def _text_failure() -> _lib.BitternError:
    """The error of a text function that failed without a status (INT32_MIN or NULL)."""
    return _lib.last_failure()


def _cstring(value, what: str) -> bytes:
    """UTF-8 bytes for a NUL-terminated C string argument (str or bytes; no NUL inside)."""
    if isinstance(value, str):
        b = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        b = bytes(value)
    else:
        raise TypeError("%s must be a str or bytes, got %s" % (what, type(value).__name__))
    if b"\0" in b:
        raise ValueError("%s must not contain NUL characters (it is passed as a C string)" % what)
    return b


def _token(t) -> int:
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
        raise TypeError("a token id must be an int, got %s" % type(t).__name__)
    t = int(t)
    if not _INT32_MIN <= t <= _INT32_MAX:
        raise ValueError("token id %d does not fit an int32" % t)
    return t


def _vocab_token(t):
    """An int token id for the is_* predicates, None when it cannot be in any vocabulary (TypeError for
    a non-int)."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
        raise TypeError("a token id must be an int, got %s" % type(t).__name__)
    t = int(t)
    return t if 0 <= t <= _INT32_MAX else None


def _token_array(tokens) -> np.ndarray:
    a = np.asarray(tokens)
    if a.size == 0:
        return np.zeros(0, dtype=np.int32)
    if a.ndim != 1:
        raise ValueError("tokens must be a 1-D sequence of ints, got shape %s" % (a.shape,))
    if a.dtype.kind not in "iu":
        raise TypeError("tokens must be ints, got dtype %s" % a.dtype)
    if a.min() < _INT32_MIN or a.max() > _INT32_MAX:
        raise ValueError("token ids must fit an int32")
    return np.ascontiguousarray(a, dtype=np.int32)


def _chat_messages(messages):
    """A ctypes array of bittern_chat_message and the bytes it points to (keep both alive)."""
    if isinstance(messages, (str, bytes, dict)):
        raise TypeError("messages must be a list of messages, not a single %s" % type(messages).__name__)
    dicts = [_message_dict(m) for m in messages]
    encoded = [(_cstring(m["role"], "role"), _cstring(m["content"], "content")) for m in dicts]
    array = (_lib.ChatMessage * max(len(encoded), 1))()
    for i, (role, content) in enumerate(encoded):
        array[i].role = role
        array[i].content = content
    return array, len(encoded), encoded


def _template(template):
    return None if template is None else _cstring(template, "template")


def _generate_params(max_tokens, sampling: dict, sampler, stop, parse_special):
    """(bittern_generate_params, its bittern_generate_result, objects to keep alive)."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)):
        raise TypeError("max_tokens must be an int, got %s" % type(max_tokens).__name__)
    params = lib.bittern_generate_default_params()
    params.max_tokens = int(max_tokens)
    params.sampling = sampler_params(**sampling)
    if sampler is not None:
        if not isinstance(sampler, Sampler):
            raise TypeError("sampler must be a bittern.Sampler, got %s" % type(sampler).__name__)
        params.sampler = sampler._h()
    if stop is None:
        stops = []
    elif isinstance(stop, (str, bytes)):
        stops = [_cstring(stop, "stop")]
    else:
        stops = [_cstring(s, "stop") for s in stop]
    stop_array = (ctypes.c_char_p * max(len(stops), 1))(*stops)
    if stops:
        params.stop = stop_array
    params.n_stop = len(stops)
    params.parse_special = bool(parse_special)
    result = _lib.GenerateResult()
    params.result = ctypes.pointer(result)
    return params, result, (stops, stop_array, sampler)


# ---- models ---------------------------------------------------------------------------------------------

class Model(OwnedHandle):
    """A loaded model (weights and tokenizer, shared read-only by any number of contexts).

        m = bittern.Model()                    # the bundled demo model; or bittern.Model("model.gguf")
        print("".join(m.generate("In the beginning", max_tokens=40)))
        ids = m.tokenize("Hello")              # [bos, ...]
        ctx = m.context(n_ctx=512)
        logits = ctx.decode(ids)               # numpy float32 (n_vocab,), for the last token

    Closing the model while contexts live is safe: the library keeps it until the last context goes."""

    _free = staticmethod(lib.bittern_model_free)

    def __init__(self, path=None, runtime=None, head_type=None, progress=None):
        """Loads a GGUF model; path None loads the bundled demo model (default_model_path()).
        progress, if given, is called with fractions rising from 0 to 1 during the load.
        head_type: storage of the output head, "q8" (the default), "q6" (6-bit, 22% smaller), "f16" or "f32".
        Raises BitternError: E_IO (cannot open; or no bundled model), E_FORMAT (not a supported model
        file), E_INVALID_ARGUMENT (unknown head_type), E_OUT_OF_MEMORY."""
        self._handle = None
        self._info = None
        if path is None:
            path = default_model_path()
        params = lib.bittern_model_default_params()
        head = head_type.encode("utf-8") if head_type is not None else None
        params.head_type = head
        callback = None
        if progress is not None:
            callback = _lib.PROGRESS_FN(lambda fraction, _user: progress(float(fraction)))
            params.progress = callback
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_model_load(runtime_handle(runtime), os.fsencode(path), ctypes.byref(params),
                                          ctypes.byref(handle)))
        self._handle = handle

    def _h(self):
        if self._handle is None:
            raise ValueError("Model is closed")
        return self._handle

    @property
    def n_vocab(self) -> int:
        return int(lib.bittern_model_n_vocab(self._h()))

    @property
    def info(self) -> dict:
        """bittern_model_describe: architecture, hyperparameters, head type, tensors."""
        return json.loads(_lib.take_string(lib.bittern_model_describe(self._h())))

    @property
    def context_length(self) -> int:
        """The context length the model was trained for (the n_ctx of context(n_ctx=0))."""
        if self._info is None:
            self._info = self.info
        return int(self._info["context_length"])

    def context(self, n_ctx: int = 0, logits_all: bool = False, kv_type=None) -> "Context":
        """A new Context (KV cache of n_ctx positions; 0: the model's context length; kv_type "f16",
        the default, or "f32")."""
        return Context(self, n_ctx=n_ctx, logits_all=logits_all, kv_type=kv_type)

    # ---- text ----------------------------------------------------------------------------------------

    def tokenize(self, text, add_special: bool = True, parse_special: bool = False) -> list:
        """Token ids of text (a str, encoded as UTF-8, or any bytes). add_special adds BOS (and EOS) as the
        vocabulary asks; parse_special turns the text of control tokens such as "<|eot_id|>" into those
        tokens (otherwise they are tokenized as plain text). Raises BitternError (E_UNSUPPORTED: the
        model has no tokenizer)."""
        if isinstance(text, str):
            data = text.encode("utf-8")
        elif isinstance(text, (bytes, bytearray, memoryview)):
            data = bytes(text)
        else:
            raise TypeError("text must be a str or bytes, got %s" % type(text).__name__)
        h = self._h()
        capacity = len(data) + 8  # byte-level vocabularies need at most one token per byte plus specials
        while True:
            if capacity > _INT32_MAX:
                raise ValueError("text is too long to tokenize in one call")
            out = (ctypes.c_int32 * capacity)()
            n = lib.bittern_tokenize(h, data, len(data), bool(add_special), bool(parse_special), out, capacity)
            if n == _lib.TOKEN_ERROR:
                raise _text_failure()
            if n >= 0:
                return list(out[:n])
            capacity = -n  # too small: -(needed)

    def _size_query_bytes(self, fill, guess: int) -> bytes:
        capacity = max(guess, 16)
        while True:
            buf = ctypes.create_string_buffer(capacity)
            n = fill(buf, capacity)
            if n == _lib.TOKEN_ERROR:
                raise _text_failure()
            if n >= 0:
                return buf.raw[:n]
            capacity = -n

    def detokenize_bytes(self, tokens, skip_special: bool = False) -> bytes:
        """The exact bytes of the tokens' text (SentencePiece's added leading space removed; control
        tokens such as <|eot_id|> left out when skip_special). The bytes may end inside a UTF-8
        character, or not be UTF-8 at all, if the tokens are. Raises BitternError E_INVALID_ARGUMENT
        for a token outside the vocabulary."""
        a = _token_array(tokens)
        h = self._h()
        ptr = a.ctypes.data_as(_lib.i32_p)
        return self._size_query_bytes(
            lambda buf, cap: lib.bittern_detokenize(h, ptr, a.size, bool(skip_special), buf, cap), 8 * a.size)

    def detokenize(self, tokens, skip_special: bool = False, errors: str = "replace") -> str:
        """The tokens' text as a str: detokenize_bytes() decoded as UTF-8 with `errors` ("replace" turns
        bytes that are not UTF-8 into U+FFFD; "strict" raises UnicodeDecodeError). Use detokenize_bytes
        for the exact bytes and a Detokenizer to turn a token stream into text piece by piece."""
        return self.detokenize_bytes(tokens, skip_special).decode("utf-8", errors)

    def token_to_piece(self, token: int) -> bytes:
        """The bytes of one token's text (a control token's text such as b"<|eot_id|>" included; a
        token may hold part of a UTF-8 character). Raises BitternError E_INVALID_ARGUMENT for a token
        outside the vocabulary."""
        t = _token(token)
        h = self._h()
        return self._size_query_bytes(lambda buf, cap: lib.bittern_token_to_piece(h, t, buf, cap), 32)

    def detokenizer(self, skip_special: bool = False) -> "Detokenizer":
        """A streaming Detokenizer (push tokens one by one, get valid UTF-8 text)."""
        return Detokenizer(self, skip_special=skip_special)

    def _special(self, fn):
        t = fn(self._h())
        return None if t < 0 else int(t)

    @property
    def bos(self):
        """The beginning-of-sequence token id, or None when the vocabulary has none."""
        return self._special(lib.bittern_token_bos)

    @property
    def eos(self):
        """The end-of-sequence token id, or None when the vocabulary has none."""
        return self._special(lib.bittern_token_eos)

    @property
    def eot(self):
        """The end-of-turn token id (<|eot_id|>, <|im_end|>), or None when the vocabulary has none."""
        return self._special(lib.bittern_token_eot)

    def is_eog(self, token: int) -> bool:
        """Whether the token ends generation (EOS, end of turn). False for tokens outside the vocabulary."""
        t = _vocab_token(token)
        return t is not None and bool(lib.bittern_token_is_eog(self._h(), t))

    def is_control(self, token: int) -> bool:
        """Whether the token is a control token (BOS, EOS, chat markers). False for tokens outside the
        vocabulary."""
        t = _vocab_token(token)
        return t is not None and bool(lib.bittern_token_is_control(self._h(), t))

    # ---- chat templates ------------------------------------------------------------------------------

    def chat_render(self, messages, template=None, add_assistant_prompt: bool = True) -> str:
        """The prompt text of a conversation. messages: dicts {"role", "content"}, (role, content)
        tuples or objects with .role and .content; roles "system", "user", "assistant". template: "bitnet",
        "llama3", "chatml", or None for the family recognised from the file's tokenizer.chat_template.
        With add_assistant_prompt the text ends where the assistant's reply starts.
        Raises BitternError: E_INVALID_ARGUMENT (unknown role or template name), E_UNSUPPORTED (no or
        unrecognised template in the file, no tokenizer); TypeError/ValueError for malformed messages."""
        array, n, _keep = _chat_messages(messages)
        ptr = lib.bittern_chat_render(self._h(), _template(template), array, n, bool(add_assistant_prompt))
        if not ptr:
            raise _text_failure()
        try:
            return ctypes.string_at(ptr).decode("utf-8", "replace")
        finally:
            lib.bittern_string_free(ptr)

    # ---- generation ----------------------------------------------------------------------------------

    def _fresh_context(self, n_prompt: int, max_tokens: int) -> "Context":
        """A context just large enough for the prompt and max_tokens (at most the model's length)."""
        length = self.context_length
        if max_tokens < 0:
            n_ctx = 0
        else:
            n_ctx = max(1, n_prompt + int(max_tokens))
            if length > 0:
                n_ctx = min(n_ctx, length)
        return Context(self, n_ctx=n_ctx)

    def generate(self, prompt, max_tokens: int = 128, temperature: float = 0.8, top_k: int = 40,
                 top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.1, repeat_last_n: int = 64,
                 presence_penalty: float = 0.0, frequency_penalty: float = 0.0, seed=None, stop=None,
                 parse_special: bool = False, context=None, sampler=None) -> Generation:
        """Streams a continuation of prompt (bittern_generate): returns a Generation, an iterator of str
        pieces (see Generation for cancelling and .result).

        max_tokens      tokens to sample at most (-1: until the context is full)
        temperature     <= 0: greedy (only the penalties apply); top_k (0: off), top_p (1: off; in (0, 1]),
                        min_p (0: off; in [0, 1]), repeat_penalty (1: off; > 0) over the last
                        repeat_last_n tokens (prompt included; -1: all; 0: no penalties),
                        presence_penalty, frequency_penalty -- as in Sampler
        seed            None: random; an int gives the same text on every machine
        stop            a str or a list of str: generation ends where one appears; it and what follows
                        are not yielded
        parse_special   turn special-token text in the prompt ("<|eot_id|>") into those tokens
        context         None: a fresh context for this call (sized for the prompt and max_tokens);
                        a Context: continue it (BOS is added only when it is empty); it keeps prompt
                        and reply, so a later call continues from there
        sampler         a Sampler to use (and update) instead of the sampling arguments above

        The generation stops at an end-of-generation token (not yielded). Errors are raised by the
        Generation's first next() (see Generation)."""
        prompt_b = _cstring(prompt, "prompt")
        sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                        repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n,
                        presence_penalty=presence_penalty, frequency_penalty=frequency_penalty, seed=seed)
        params, result, keep = _generate_params(max_tokens, sampling, sampler, stop, parse_special)
        owns = context is None
        if owns:
            n_prompt = len(self.tokenize(prompt_b, add_special=True, parse_special=parse_special))
            context = self._fresh_context(n_prompt, max_tokens)
        elif not isinstance(context, Context):
            raise TypeError("context must be a bittern.Context or None, got %s" % type(context).__name__)
        ctx = context

        def call(callback):
            return lib.bittern_generate(ctx._handle, prompt_b, ctypes.byref(params), callback, None)

        return Generation(call, ctx, result, keep=(params, keep, prompt_b), owns_context=owns)

    def chat(self, messages, max_tokens: int = 512, temperature: float = 0.8, top_k: int = 40,
             top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.1, repeat_last_n: int = 64,
             presence_penalty: float = 0.0, frequency_penalty: float = 0.0, seed=None, stop=None,
             context=None, template=None, sampler=None) -> Generation:
        """Streams the assistant's next reply to a conversation (bittern_chat): returns a Generation.
        messages as in chat_render (the last one usually the user's); template as in chat_render;
        the other arguments as in generate(). With a context, the rendered conversation is compared with
        the tokens it holds and only what follows their common prefix is decoded (result.n_reused_tokens),
        so passing the same context with the reply and a new message appended reuses the cache (the Chat
        class does this for you). The reply ends at the end-of-turn token.
        Note: the rendered conversation is tokenized with special-token parsing, so control-token text
        inside a message ("<|eot_id|>") becomes that token.
        Raises (from the first next()) what generate() raises, and E_INVALID_ARGUMENT for no messages,
        an unknown role or template; E_UNSUPPORTED for a model without a chat template and no template.
        Without a context the conversation is rendered at once (to size the fresh context), so role and
        template errors are then raised by chat() itself. TypeError/ValueError for malformed messages."""
        array, n, encoded = _chat_messages(messages)
        template_b = _template(template)
        sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                        repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n,
                        presence_penalty=presence_penalty, frequency_penalty=frequency_penalty, seed=seed)
        params, result, keep = _generate_params(max_tokens, sampling, sampler, stop, False)
        owns = context is None
        if owns:
            rendered = self.chat_render(messages, template=template, add_assistant_prompt=True)
            n_prompt = len(self.tokenize(rendered, add_special=False, parse_special=True))
            context = self._fresh_context(n_prompt, max_tokens)
        elif not isinstance(context, Context):
            raise TypeError("context must be a bittern.Context or None, got %s" % type(context).__name__)
        ctx = context

        def call(callback):
            return lib.bittern_chat(ctx._handle, template_b, array, n, ctypes.byref(params), callback, None)

        return Generation(call, ctx, result, keep=(params, keep, array, encoded, template_b), owns_context=owns)

    def chat_session(self, system=None, template=None, n_ctx: int = 0, **defaults) -> Chat:
        """A Chat (multi-turn conversation keeping one context) on this model."""
        return Chat(self, system=system, template=template, n_ctx=n_ctx, **defaults)

    def __repr__(self):
        return "<bittern.Model%s>" % (" (closed)" if self._handle is None else "")


class Detokenizer(OwnedHandle):
    """Turns a stream of tokens into text that is always valid UTF-8 (bittern_detokenizer_*): bytes of a
    character split across tokens are held until it is complete.

        d = model.detokenizer(skip_special=True)
        text = "".join(d.push(t) for t in tokens) + d.flush()"""

    _free = staticmethod(lib.bittern_detokenizer_free)

    def __init__(self, model: Model, skip_special: bool = False):
        self._handle = None
        if not isinstance(model, Model):
            raise TypeError("model must be a bittern.Model, got %s" % type(model).__name__)
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_detokenizer_create(model._h(), bool(skip_special), ctypes.byref(handle)))
        self._handle = handle

    def _push(self, token: int) -> str:
        if self._handle is None:
            raise ValueError("Detokenizer is closed")
        n = ctypes.c_size_t()
        p = lib.bittern_detokenizer_push(self._handle, token, ctypes.byref(n))
        if not p:
            raise _text_failure()
        return ctypes.string_at(p, n.value).decode("utf-8", "replace")

    def push(self, token: int) -> str:
        """The text this token completes (possibly ""). Raises BitternError E_INVALID_ARGUMENT for a token
        outside the vocabulary."""
        t = _token(token)
        if t == -1:
            raise ValueError("use flush() to flush the detokenizer")
        return self._push(t)

    def flush(self) -> str:
        """Whatever is held (an incomplete character as U+FFFD); the detokenizer then starts over."""
        return self._push(-1)


# ---- contexts -------------------------------------------------------------------------------------------

class Context(OwnedHandle):
    """A decoding state (KV cache) on a model; use it from one thread at a time.

    While a Generation made on this context is unfinished (started and neither exhausted nor closed),
    every other use of the context raises RuntimeError; close() closes that generation first."""

    _free = staticmethod(lib.bittern_context_free)

    def __init__(self, model: Model, n_ctx: int = 0, logits_all: bool = False, kv_type=None):
        self._handle = None
        self._active = None
        if not isinstance(model, Model):
            raise TypeError("model must be a bittern.Model, got %s" % type(model).__name__)
        params = lib.bittern_context_default_params()
        params.n_ctx = int(n_ctx)
        params.logits_all = bool(logits_all)
        kv = kv_type.encode("utf-8") if kv_type is not None else None
        params.kv_type = kv
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_context_create(model._h(), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self._model = model
        self._n_vocab = model.n_vocab
        self._n_ctx = int(n_ctx) if n_ctx else model.context_length
        self._last_n = 0
        self._abort_callback = None
        self._abort_state = None

    def _active_generation(self):
        gen = self._active() if self._active is not None else None
        return gen

    def _h(self):
        if self._handle is None:
            raise ValueError("Context is closed")
        if self._active_generation() is not None:
            raise RuntimeError("the context is in use by an unfinished Generation; exhaust it or close() it "
                               "first")
        return self._handle

    def _begin_generation(self, gen) -> None:
        self._h()
        self._active = weakref.ref(gen)

    def _end_generation(self, gen) -> None:
        if self._active_generation() is gen:
            self._active = None

    def close(self) -> None:
        """Closes an unfinished generation on this context, then releases the context (idempotent)."""
        gen = self._active_generation()
        if gen is not None:
            gen.close()
        self._active = None
        super().close()

    @property
    def model(self) -> Model:
        return self._model

    @property
    def n_ctx(self) -> int:
        """Positions of the KV cache."""
        return self._n_ctx

    @property
    def n_tokens(self) -> int:
        """Tokens in the cache (the position of the next token)."""
        n = lib.bittern_context_n_tokens(self._h())
        if n < 0:
            raise _lib.BitternError(_lib.E_INVALID_ARGUMENT, _lib.last_error())
        return int(n)

    def _check(self, status: int) -> None:
        if status == _lib.OK:
            return
        error = _lib.BitternError(status, _lib.last_error())
        cause = None
        if status == _lib.E_ABORTED and self._abort_state is not None:
            cause, self._abort_state[0] = self._abort_state[0], None
        if cause is not None:
            raise error from cause
        raise error

    def decode(self, tokens) -> np.ndarray:
        """Appends tokens at the current position; returns a copy of the last token's logits.
        Raises BitternError (E_CONTEXT_FULL when the batch would pass n_ctx, E_ABORTED when the abort
        callback stopped it, E_INVALID_ARGUMENT for a token outside the vocabulary; the context is then
        unchanged)."""
        t = np.ascontiguousarray(np.asarray(tokens, dtype=np.int32).reshape(-1))
        if t.size == 0:
            raise ValueError("decode needs at least one token")
        self._check(lib.bittern_decode(self._h(), t.ctypes.data_as(_lib.i32_p), t.size))
        self._last_n = int(t.size)
        return self.logits(-1)

    def logits(self, i: int = -1) -> np.ndarray:
        """Logits (float32, n_vocab) of token i of the last decode (-1: the last one), copied.
        Raises BitternError E_INVALID_ARGUMENT when there are none (nothing decoded since creation, reset
        or truncate; i not kept without logits_all)."""
        p = lib.bittern_logits(self._h(), int(i))
        if not p:
            raise _lib.BitternError(_lib.E_INVALID_ARGUMENT, _lib.last_error())
        return np.ctypeslib.as_array(p, shape=(self._n_vocab,)).copy()

    def reset(self) -> None:
        """Forgets every token (position 0)."""
        _lib.check(lib.bittern_context_reset(self._h()))

    def truncate(self, n_tokens: int) -> None:
        """Keeps the first n_tokens positions of the KV cache. Raises BitternError E_INVALID_ARGUMENT
        when n_tokens is more than the cache holds."""
        _lib.check(lib.bittern_context_truncate(self._h(), int(n_tokens)))

    def set_abort_callback(self, fn) -> None:
        """Sets fn() -> bool, asked between tokens while this context decodes (prompt tokens included,
        on the decoding thread: a generation's worker thread too); when it returns True the decode
        raises BitternError E_ABORTED and the context is as it was before that call. An exception in fn
        aborts too (it becomes the __cause__ of the BitternError raised by decode()). None clears it."""
        h = self._h()
        if fn is None:
            _lib.check(lib.bittern_context_set_abort_callback(h, _lib.ABORT_CALLBACK(), None))
            self._abort_callback = self._abort_state = None
            return
        if not callable(fn):
            raise TypeError("fn must be callable or None")
        state = [None]

        def abort(_user):
            try:
                return bool(fn())
            except BaseException as e:
                state[0] = e
                return True

        callback = _lib.ABORT_CALLBACK(abort)
        _lib.check(lib.bittern_context_set_abort_callback(h, callback, None))
        self._abort_callback, self._abort_state = callback, state  # alive while the library may call it

    def generate(self, prompt, **kwargs) -> Generation:
        """Model.generate(prompt, context=self, **kwargs): continues this context."""
        self._h()
        return self._model.generate(prompt, context=self, **kwargs)

    def chat(self, messages, **kwargs) -> Generation:
        """Model.chat(messages, context=self, **kwargs): the reply, reusing the common prefix of the cache."""
        self._h()
        return self._model.chat(messages, context=self, **kwargs)

    def __repr__(self):
        if self._handle is None:
            return "<bittern.Context (closed)>"
        return "<bittern.Context n_ctx=%d>" % self._n_ctx
