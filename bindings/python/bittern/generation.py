"""Streaming generation (bittern_generate, bittern_chat) as Python iterators, and multi-turn chat.

The C calls run to completion and report text through a callback, so a Generation runs the call on a
worker thread and hands the pieces to the consumer one at a time, in lockstep: the library produces the
next piece only when the consumer asks for it (as a Python generator would), and closing the iterator
makes the callback return false, which cancels the call. Every token whose text the consumer received
is in the context afterwards and nothing beyond it (the library keeps the token whose callback returned
false: its text was delivered). A cancel() from another thread while the library is producing a piece
keeps that token too, though its text is not yielded.
"""
from __future__ import annotations

import atexit
import ctypes
import queue
import sys
import threading
import weakref
from dataclasses import dataclass

from . import _lib
from ._handle import Closing
from ._lib import lib

_PIECE = 0
_DONE = 1

# Started, unfinished generations. Their worker threads are daemons blocked in the library's callback;
# they are cancelled at exit, while threads can still run (an atexit function runs before the interpreter
# starts finalizing; after that a daemon thread cannot take the GIL again, so nothing may wait for one).
_live = weakref.WeakSet()


@atexit.register
def _close_live_generations() -> None:
    for gen in list(_live):
        try:
            gen.close()
        except Exception:
            pass


@dataclass(frozen=True)
class GenerationResult:
    """How a generation ended (bittern_generate_result).

    finish_reason    "length" (max_tokens reached), "end" (the model produced an end-of-generation
                     token), "stop" (a stop string appeared), "cancelled" (the iterator was closed early),
                     "context_full" (no room for another token: reset or truncate the context)
    n_prompt_tokens  prompt tokens decoded by this call
    n_reused_tokens  prompt tokens found already in the context (chat prefix reuse)
    n_generated      tokens sampled (an end-of-generation token, or the one that noticed a
                     cancellation, included)
    prefill_ms       time decoding the prompt
    decode_ms        time sampling and decoding the reply"""

    finish_reason: str
    n_prompt_tokens: int
    n_reused_tokens: int
    n_generated: int
    prefill_ms: float
    decode_ms: float

    @property
    def prefill_tokens_per_second(self) -> float:
        return 1000.0 * self.n_prompt_tokens / self.prefill_ms if self.prefill_ms > 0 else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        return 1000.0 * self.n_generated / self.decode_ms if self.decode_ms > 0 else 0.0

    @classmethod
    def _from_c(cls, r: _lib.GenerateResult) -> "GenerationResult":
        return cls(finish_reason=_lib.FINISH_NAMES.get(r.finish_reason, "unknown (%d)" % r.finish_reason),
                   n_prompt_tokens=int(r.n_prompt_tokens), n_reused_tokens=int(r.n_reused_tokens),
                   n_generated=int(r.n_generated), prefill_ms=float(r.prefill_ms), decode_ms=float(r.decode_ms))


class _Stream:
    """What the worker thread shares with the consumer. Holds no reference to the Generation, so that
    dropping the last reference to an unfinished Generation closes it (cancelling the call)."""

    def __init__(self):
        self.queue = queue.SimpleQueue()
        self.demand = threading.Semaphore(0)  # one permit: "the consumer wants the next piece"
        self.cancel = False
        self.callback_error = None

    def on_text(self, text, length, token, _user):
        try:
            if self.cancel:
                return False
            if length == 0:
                return True
            piece = ctypes.string_at(text, length).decode("utf-8", "replace")
            self.queue.put((_PIECE, piece, int(token)))
            self.demand.acquire()
            # The consumer received this piece and asked for more (True) or stopped (False); either way the
            # library keeps this token in the context.
            return not self.cancel
        except BaseException as e:  # never let an exception cross the C frames
            self.callback_error = e
            return False


def _run(stream: _Stream, call, callback) -> None:
    """Worker thread body: runs the C call, then posts (_DONE, status, message)."""
    try:
        status = call(callback)
        message = _lib.last_error() if status != _lib.OK else None  # this thread's message
        stream.queue.put((_DONE, status, message))
    except BaseException as e:
        stream.queue.put((_DONE, None, e))


class Generation(Closing):
    """An iterator over the text of a reply (str pieces, whole UTF-8 characters, never empty), streamed
    as the library produces it. Made by Model.generate / Model.chat / Context.generate / Context.chat /
    Chat.send; nothing runs until the first next().

        gen = model.generate("Once upon a time", max_tokens=50)
        for piece in gen:
            print(piece, end="", flush=True)
        print(gen.result.finish_reason, gen.result.n_generated)

    Generation advances only while the consumer asks for pieces. Leaving the loop early (break, an
    exception) and then close() -- or dropping the last reference, or leaving a `with` block -- cancels
    it: result.finish_reason is then "cancelled" and the context holds exactly the tokens whose text was
    yielded. cancel() (from any thread) ends the iteration the same way. One thread iterates; while a
    generation is unfinished its context cannot be used for anything else (RuntimeError).

    Attributes:
        result   a GenerationResult once the call has finished (None before, and if it failed or never
                 started)
        text     all the text yielded so far
        error    the exception the call ended with, if any (it is also raised by next())

    Raises (from next()): BitternError -- E_INVALID_ARGUMENT for bad parameters (top_p out of range, an
    empty stop string, an unknown chat template or role, ...), E_CONTEXT_FULL when the prompt does not
    fit the room left in the context (the context is then unchanged), E_ABORTED when the context's abort
    callback stopped a decode, E_UNSUPPORTED when the model has no tokenizer or chat template."""

    def __init__(self, call, context, result_struct, keep=(), owns_context=False, on_finish=None):
        # call(callback) -> status runs the C function with everything already bound; result_struct is
        # the bittern_generate_result that params.result points to.
        self._call = call
        self._result_struct = result_struct
        self._context = context
        self._keep = keep
        self._owns_context = owns_context
        self._on_finish = on_finish
        self._stream = None
        self._thread = None
        self._outstanding = False  # a piece was yielded and its callback waits for demand
        self._done = False
        self._cancel_before_start = False
        self._pieces = []
        self.result = None
        self.error = None

    # ---- iteration -----------------------------------------------------------------------------------

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        if self._thread is None:
            if self._cancel_before_start:
                self.close()
                raise StopIteration
            self._start()
        elif self._outstanding:
            self._outstanding = False
            self._stream.demand.release()
        item = self._stream.queue.get()
        if item[0] == _PIECE:
            self._outstanding = True
            self._pieces.append(item[1])
            return item[1]
        self._finish(item)
        if self.error is not None:
            raise self.error
        raise StopIteration

    def _start(self) -> None:
        self._context._begin_generation(self)  # raises if the context is closed or busy
        stream = _Stream()
        callback = _lib.TEXT_CALLBACK(stream.on_text)
        self._stream = stream
        self._callback = callback  # alive for the whole call
        self._thread = threading.Thread(target=_run, args=(stream, self._call, callback),
                                        name="bittern-generate", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            self._thread = None
            self._context._end_generation(self)
            raise
        _live.add(self)

    def _finish(self, item) -> None:
        _, status, payload = item
        self._thread.join()
        _live.discard(self)
        self._done = True
        self._outstanding = False
        if status is None:
            self.error = payload
        elif self._stream.callback_error is not None:
            self.error = self._stream.callback_error
        elif status != _lib.OK:
            self.error = _lib.BitternError(status, payload)
        else:
            self.result = GenerationResult._from_c(self._result_struct)
        self._release()

    def _release(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            context._end_generation(self)
            if self._owns_context:
                context.close()
        self._call = None
        self._keep = None
        on_finish, self._on_finish = self._on_finish, None
        if on_finish is not None:
            on_finish(self)

    # ---- results -------------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The text yielded so far (all of the reply once finished)."""
        return "".join(self._pieces)

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def finished(self) -> bool:
        return self._done

    def read(self) -> str:
        """Runs the generation to its end and returns the whole text (including what was already
        yielded). Raises what next() raises."""
        for _ in self:
            pass
        return self.text

    # ---- closing -------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Asks the generation to stop; safe from any thread (a signal handler, a server's "stop" button).
        The iterator then ends without yielding more (result.finish_reason "cancelled", unless it ended
        otherwise first); the context keeps exactly the tokens whose text was yielded. A prompt being
        decoded is not interrupted (use the context's abort callback for that)."""
        if self._stream is not None:
            self._stream.cancel = True
        elif not self._done:
            self._cancel_before_start = True

    def close(self) -> None:
        """Stops the generation (if it runs) and waits for the worker thread; idempotent. Call it from
        the thread that iterates (from another thread use cancel()). An error the call ended with is
        kept in .error, not raised."""
        if self._done:
            return
        if self._thread is None:  # never started
            self._done = True
            self._release()
            return
        stream = self._stream
        stream.cancel = True
        stream.demand.release()
        if sys.is_finalizing():  # the worker can no longer run: do not wait for it
            self._done = True
            return
        while True:
            item = stream.queue.get()
            if item[0] == _DONE:
                break
        self._finish(item)

    def __repr__(self):
        if self.result is not None:
            state = "finished (%s)" % self.result.finish_reason
        elif self.error is not None:
            state = "failed"
        elif self._done:
            state = "closed"
        else:
            state = "running" if self._thread is not None else "not started"
        return "<bittern.Generation %s, %d chars>" % (state, sum(len(p) for p in self._pieces))


class Chat:
    """A conversation that keeps its messages and one Context across turns, so each turn decodes only
    what is new (bittern_chat reuses the longest common prefix of the KV cache).

        chat = bittern.Chat(model, system="You are terse.", max_tokens=200, temperature=0.7)
        for piece in chat.send("Hello!"):
            print(piece, end="", flush=True)
        reply = chat.ask("And then?")          # the whole reply as a str

    Keyword arguments (max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,
    presence_penalty, frequency_penalty, seed, stop, sampler) are the defaults of every turn; send() and
    ask() may override them. When a turn finishes or is closed, the reply text that was yielded is
    appended to `messages` as the assistant's message (and its GenerationResult is `last_result`); a
    turn that failed or never started removes its user message again. Starting a new turn closes an
    unfinished previous one. When the conversation outgrows the context, the turn fails with
    E_CONTEXT_FULL (or ends with finish_reason "context_full"): reset() or drop old messages."""

    def __init__(self, model, system=None, template=None, n_ctx: int = 0, messages=None, **defaults):
        from .model import Model  # model.py imports this module

        if not isinstance(model, Model):
            raise TypeError("model must be a bittern.Model, got %s" % type(model).__name__)
        self.model = model
        self.template = template
        self.messages = []
        if system is not None:
            self.messages.append({"role": "system", "content": system})
        if messages is not None:
            self.messages.extend(_message_dict(m) for m in messages)
        self._defaults = dict(defaults)
        self.context = model.context(n_ctx=n_ctx)
        self._turn = None
        self.last_result = None

    def send(self, content: str, **overrides) -> Generation:
        """Appends a user message and returns the streaming Generation of the assistant's reply."""
        self._close_turn()
        if not isinstance(content, str):
            raise TypeError("content must be a str, got %s" % type(content).__name__)
        self.messages.append({"role": "user", "content": content})
        messages = self.messages
        holder = self

        def on_finish(gen, messages=messages, ref=weakref.ref(holder)):
            if gen.result is None:  # failed or never started: forget the question
                if messages and messages[-1]["role"] == "user":
                    messages.pop()
            else:
                messages.append({"role": "assistant", "content": gen.text})
            chat = ref()
            if chat is not None:
                chat.last_result = gen.result

        kwargs = dict(self._defaults)
        kwargs.update(overrides)
        kwargs.setdefault("template", self.template)
        try:
            turn = self.context.chat(list(messages), **kwargs)
        except BaseException:
            messages.pop()
            raise
        turn._on_finish = on_finish
        self._turn = turn
        return turn

    def ask(self, content: str, **overrides) -> str:
        """send() run to the end: the whole reply."""
        return self.send(content, **overrides).read()

    def _close_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.close()

    def reset(self, keep_system: bool = True) -> None:
        """Forgets the conversation (keeping a first system message unless keep_system is False) and
        empties the context."""
        self._close_turn()
        keep = self.messages[:1] if keep_system and self.messages and self.messages[0]["role"] == "system" else []
        self.messages[:] = keep
        self.context.reset()

    def render(self, add_assistant_prompt: bool = False) -> str:
        """The conversation so far as the model's prompt text (Model.chat_render)."""
        return self.model.chat_render(self.messages, template=self.template,
                                      add_assistant_prompt=add_assistant_prompt)

    def close(self) -> None:
        self._close_turn()
        self.context.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _message_dict(m) -> dict:
    """{"role", "content"} from a dict, a (role, content) pair or an object with .role and .content."""
    if isinstance(m, dict):
        try:
            role, content = m["role"], m["content"]
        except KeyError as e:
            raise ValueError("a chat message needs 'role' and 'content', got keys %s" % sorted(m)) from e
    elif isinstance(m, (tuple, list)):
        if len(m) != 2:
            raise ValueError("a chat message tuple must be (role, content), got %d items" % len(m))
        role, content = m
    elif hasattr(m, "role") and hasattr(m, "content"):
        role, content = m.role, m.content
    else:
        raise TypeError("a chat message must be a dict, a (role, content) tuple or have .role and .content; "
                        "got %s" % type(m).__name__)
    if not isinstance(role, str) or not isinstance(content, str):
        raise TypeError("chat message role and content must be str")
    return {"role": role, "content": content}
