"""Text, sampling, generation and chat against the bundled demo model (bittern.Model() with no path)."""
import ctypes
import gc
import os

import numpy as np
import pytest

import bittern
from bittern import _lib

PROMPT = "In the beginning"


@pytest.fixture(scope="module")
def model():
    m = bittern.Model()
    yield m
    m.close()


def greedy_tokens(model, prompt, n, add_special=True):
    """The reference: decode the prompt, then argmax(logits) token by token until n tokens or an
    end-of-generation token (which is returned too)."""
    ctx = model.context(n_ctx=len(model.tokenize(prompt)) + n + 1)
    logits = ctx.decode(model.tokenize(prompt, add_special=add_special))
    out = []
    for _ in range(n):
        t = int(np.argmax(logits))
        out.append(t)
        if model.is_eog(t):
            break
        logits = ctx.decode([t])
    ctx.close()
    return out


GREEDY = dict(temperature=0.0, repeat_penalty=1.0)


# ---- the bundled model and the structs ---------------------------------------------------------------------

def test_default_model_and_struct_sizes(model):
    path = bittern.default_model_path()
    assert os.path.isfile(path) and path.endswith(".gguf")
    assert model.n_vocab > 256 and model.context_length > 0
    # the ctypes mirrors have the size the library sets in its default params
    assert _lib.lib.bittern_generate_default_params().size == ctypes.sizeof(_lib.GenerateParams)
    assert _lib.lib.bittern_sampler_default_params().size == ctypes.sizeof(_lib.SamplerParams)
    d = _lib.lib.bittern_generate_default_params()
    assert d.max_tokens == 256 and d.n_stop == 0 and not d.parse_special and not d.result and not d.sampler
    assert d.sampling.seed == bittern.SEED_RANDOM and d.sampling.top_k == 40
    assert abs(d.sampling.temperature - 0.8) < 1e-6 and d.sampling.penalty_last_n == 64
    assert bittern.E_ABORTED == -8


# ---- text -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["Hello world", "naïve café — 日本語 🐦 ok", "  spaces\n\ttabs\r\n", ""])
def test_tokenize_detokenize_round_trip(model, text):
    ids = model.tokenize(text)
    assert ids[0] == model.bos
    assert all(isinstance(t, int) and 0 <= t < model.n_vocab for t in ids)
    assert model.detokenize(ids, skip_special=True) == text
    assert model.detokenize(ids) == model.token_to_piece(model.bos).decode() + text
    plain = model.tokenize(text, add_special=False)
    assert plain == ids[1:]
    assert model.detokenize_bytes(plain) == text.encode("utf-8")
    assert b"".join(model.token_to_piece(t) for t in plain) == text.encode("utf-8")


def test_invalid_utf8_bytes_round_trip(model):
    data = b"ab\xff\xfe cd \xc3 \xe6\x97 end\x80"
    ids = model.tokenize(data, add_special=False)
    assert model.detokenize_bytes(ids) == data
    assert model.detokenize(ids) == data.decode("utf-8", "replace")
    with pytest.raises(UnicodeDecodeError):
        model.detokenize(ids, errors="strict")
    # the streaming detokenizer never yields broken UTF-8: incomplete characters become U+FFFD
    d = model.detokenizer()
    streamed = "".join(d.push(t) for t in ids) + d.flush()
    assert streamed.replace("\ufffd", "") == data.decode("utf-8", "ignore")
    text = "日本語 🐦 naïve"
    d = model.detokenizer(skip_special=True)
    assert "".join(d.push(t) for t in model.tokenize(text)) + d.flush() == text


def test_size_query_protocol(model):
    lib, h = _lib.lib, model._handle
    data = "The size-query protocol: ünïcödé".encode("utf-8")
    n = len(model.tokenize(data))
    out = (ctypes.c_int32 * (n + 4))(*([-7] * (n + 4)))
    assert lib.bittern_tokenize(h, data, len(data), True, False, None, 0) == -n
    assert lib.bittern_tokenize(h, data, len(data), True, False, out, n - 1) == -n
    assert list(out) == [-7] * (n + 4)  # nothing written when too small
    assert lib.bittern_tokenize(h, data, len(data), True, False, out, n + 4) == n
    ids = list(out[:n])
    arr = (ctypes.c_int32 * n)(*ids)
    want = model.detokenize_bytes(ids)
    buf = ctypes.create_string_buffer(b"#" * (len(want) + 4), len(want) + 4)
    assert lib.bittern_detokenize(h, arr, n, False, None, 0) == -len(want)
    assert lib.bittern_detokenize(h, arr, n, False, buf, len(want) - 1) == -len(want)
    assert buf.raw == b"#" * (len(want) + 4)
    assert lib.bittern_detokenize(h, arr, n, False, buf, len(want)) == len(want) and buf.raw[:len(want)] == want
    assert lib.bittern_token_to_piece(h, model.eot, None, 0) == -len(b"<|eot_id|>")
    # errors: INT32_MIN with a message
    assert lib.bittern_tokenize(h, data, len(data), True, False, out, -1) == _lib.TOKEN_ERROR
    assert lib.bittern_token_to_piece(h, model.n_vocab, buf, 8) == _lib.TOKEN_ERROR
    # a long text goes through the Python wrapper in one call whatever its density
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    assert model.detokenize_bytes(model.tokenize(noise, add_special=False)) == noise


def test_special_tokens(model):
    bos, eos, eot = model.bos, model.eos, model.eot
    assert (bos, eos, eot) == (0, 1, 2)  # the bundled model's vocabulary
    for t in (bos, eos, eot):
        assert model.is_control(t)
    assert model.is_eog(eos) and model.is_eog(eot) and not model.is_eog(bos)
    word = model.tokenize(" the", add_special=False)
    assert len(word) == 1 and not model.is_control(word[0]) and not model.is_eog(word[0])
    assert model.token_to_piece(eot) == b"<|eot_id|>"
    assert model.token_to_piece(bos) == b"<|begin_of_text|>"
    # out of the vocabulary: the predicates say no, the piece is an error
    assert not model.is_control(model.n_vocab) and not model.is_eog(-1) and not model.is_control(2 ** 40)
    with pytest.raises(bittern.BitternError) as e:
        model.token_to_piece(model.n_vocab)
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(bittern.BitternError) as e:
        model.detokenize([1, model.n_vocab])
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(TypeError):
        model.tokenize(42)


def test_parse_special(model):
    text = "Hi<|eot_id|>"
    parsed = model.tokenize(text, add_special=False, parse_special=True)
    plain = model.tokenize(text, add_special=False)
    assert parsed[-1] == model.eot and parsed.count(model.eot) == 1
    assert model.eot not in plain and len(plain) > len(parsed)
    assert model.tokenize("<|eot_id|>", add_special=False, parse_special=True) == [model.eot]
    assert model.detokenize(parsed) == text and model.detokenize(plain) == text
    assert model.detokenize(parsed, skip_special=True) == "Hi"
    assert model.detokenize(plain, skip_special=True) == text  # only real control tokens are skipped


# ---- generation -------------------------------------------------------------------------------------------

def test_greedy_generation_equals_argmax_loop(model):
    want = greedy_tokens(model, PROMPT, 40)
    gen = model.generate(PROMPT, max_tokens=40, **GREEDY)
    pieces = list(gen)
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    emitted = [t for t in want if not model.is_eog(t)]
    assert "".join(pieces) == gen.text == model.detokenize(emitted, skip_special=True)
    r = gen.result
    assert r.n_generated == len(want)
    assert r.finish_reason == ("end" if model.is_eog(want[-1]) else "length")
    assert r.n_prompt_tokens == len(model.tokenize(PROMPT)) and r.n_reused_tokens == 0
    assert r.prefill_ms > 0 and r.decode_ms > 0
    # deterministic
    assert model.generate(PROMPT, max_tokens=40, **GREEDY).read() == gen.text


def test_seeds(model):
    kw = dict(max_tokens=30, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    a = model.generate(PROMPT, seed=1234, **kw).read()
    b = model.generate(PROMPT, seed=1234, **kw).read()
    assert a == b and a
    others = {model.generate(PROMPT, seed=s, **kw).read() for s in (1, 2, 3)}
    assert len(others | {a}) >= 3  # different seeds give different text


def test_stop_strings(model):
    full = model.generate(PROMPT, max_tokens=40, **GREEDY).read()
    words = full.split()
    stop = " " + words[len(words) // 2]  # a word from the middle of the greedy text
    cut = full.index(stop)
    assert cut > 0
    gen = model.generate(PROMPT, max_tokens=40, stop=[stop, "never appears \u2603"], **GREEDY)
    text = gen.read()
    assert text == full[:cut] and stop not in text
    assert gen.result.finish_reason == "stop"
    # a single str works too; a stop string that never appears changes nothing
    assert model.generate(PROMPT, max_tokens=40, stop=stop, **GREEDY).read() == full[:cut]
    assert model.generate(PROMPT, max_tokens=40, stop="\u2603\u2603", **GREEDY).read() == full


def test_max_tokens_and_continuing_a_context(model):
    n_prompt = len(model.tokenize(PROMPT))
    ctx = model.context(n_ctx=128)
    gen = ctx.generate(PROMPT, max_tokens=7, **GREEDY)
    text = gen.read()
    assert gen.result.n_generated == 7 and gen.result.finish_reason == "length"
    assert ctx.n_tokens == n_prompt + 7
    # the context continues: no BOS the second time, and greedy text continues the greedy text
    gen2 = ctx.generate("", max_tokens=5, **GREEDY)
    more = gen2.read()
    assert gen2.result.n_prompt_tokens == 0 and ctx.n_tokens == n_prompt + 12
    assert text + more == model.generate(PROMPT, max_tokens=12, **GREEDY).read()
    # a context that fills up ends the reply with finish "context_full" (not an error)
    small = model.context(n_ctx=n_prompt + 3)
    gen3 = small.generate(PROMPT, max_tokens=50, **GREEDY)
    gen3.read()
    assert gen3.result.finish_reason == "context_full" and small.n_tokens == n_prompt + 3
    # a prompt longer than the room left: E_CONTEXT_FULL, context unchanged
    with pytest.raises(bittern.BitternError) as e:
        small.generate("a long prompt that cannot fit", max_tokens=1).read()
    assert e.value.status == bittern.E_CONTEXT_FULL
    assert small.n_tokens == n_prompt + 3


def test_break_cancels_and_keeps_the_context_consistent(model):
    want = greedy_tokens(model, PROMPT, 20)
    assert len(want) == 20 and not any(model.is_eog(t) for t in want)  # the reference runs long enough
    ctx = model.context(n_ctx=128)
    gen = ctx.generate(PROMPT, max_tokens=100, **GREEDY)
    seen = []
    for piece in gen:
        seen.append(piece)
        if len(seen) == 3:
            break
    with pytest.raises(RuntimeError):
        ctx.n_tokens  # busy until the generation is closed
    gen.close()
    r = gen.result
    assert r.finish_reason == "cancelled"
    n_prompt = len(model.tokenize(PROMPT))
    # every token whose text was yielded is in the context, nothing more
    assert ctx.n_tokens == n_prompt + 3 == n_prompt + r.n_generated
    assert "".join(seen) == model.detokenize(want[:3], skip_special=True)
    assert int(np.argmax(ctx.logits())) == want[3]
    # the context is usable: greedy continuation gives the reference tokens
    rest = ctx.generate("", max_tokens=5, **GREEDY).read()
    assert rest == model.detokenize(want[3:8], skip_special=True)
    gen.close()  # idempotent


def test_dropping_an_unfinished_generation_cancels_it(model):
    ctx = model.context(n_ctx=128)
    for _ in ctx.generate(PROMPT, max_tokens=100, **GREEDY):
        break
    gc.collect()
    n = ctx.n_tokens  # the iterator is gone: its generation was cancelled and the context is free
    assert n == len(model.tokenize(PROMPT)) + 1
    # closing before the first next() runs nothing
    gen = ctx.generate(" more", max_tokens=10)
    gen.close()
    assert gen.result is None and ctx.n_tokens == n
    assert list(gen) == []
    # closing the context closes its generation
    gen = ctx.generate(" more", max_tokens=100, **GREEDY)
    next(gen)
    ctx.close()
    assert gen.finished and gen.result.finish_reason == "cancelled"


def test_errors_are_raised_by_the_iterator(model):
    with pytest.raises(bittern.BitternError) as e:
        model.generate(PROMPT, top_p=0.0).read()
    assert e.value.status == bittern.E_INVALID_ARGUMENT and "top_p" in e.value.message
    with pytest.raises(bittern.BitternError) as e:
        list(model.generate(PROMPT, max_tokens=-2))
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(bittern.BitternError) as e:
        model.generate(PROMPT, stop=[""]).read()
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(ValueError):
        model.generate("a\0b")
    with pytest.raises(ValueError):
        model.generate(PROMPT, seed=-1)
    with pytest.raises(TypeError):
        model.generate(PROMPT, sampler="greedy")


# ---- chat -------------------------------------------------------------------------------------------------

def test_chat_render_bitnet_template(model):
    msgs = [{"role": "system", "content": "Be brief."}, ("user", "Hi there"), ("assistant", "Hello."),
            ("user", "Again")]
    want = ("<|begin_of_text|>System: Be brief.<|eot_id|>User: Hi there<|eot_id|>Assistant: Hello.<|eot_id|>"
            "User: Again<|eot_id|>Assistant: ")
    assert model.chat_render(msgs) == want
    assert model.chat_render(msgs, template="bitnet") == want
    assert model.chat_render(msgs, add_assistant_prompt=False) == want[:-len("Assistant: ")]
    assert model.chat_render([("user", "x")], template="chatml") == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(bittern.BitternError) as e:
        model.chat_render(msgs, template="nope")
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(bittern.BitternError) as e:
        model.chat_render([("wizard", "hi")])
    assert e.value.status == bittern.E_INVALID_ARGUMENT and "wizard" in e.value.message
    with pytest.raises((TypeError, ValueError)):
        model.chat_render([("user",)])
    with pytest.raises(TypeError):
        model.chat_render("hello")


def test_chat_two_turns_reuse_the_prefix(model):
    chat = bittern.Chat(model, system="You are helpful.", max_tokens=24, seed=11)
    first = chat.send("Hello!")
    reply1 = first.read()
    r1 = first.result
    assert r1.n_reused_tokens == 0 and r1.finish_reason in ("length", "end")
    assert chat.messages[-1] == {"role": "assistant", "content": reply1}
    # the prompt ends before the template's last space: the reply's first token carries it (" Hello"), and
    # the text shown does not start with it
    assert not reply1.startswith(" ")
    prompt1 = model.tokenize(model.chat_render(chat.messages[:2]).rstrip(" "), add_special=False, parse_special=True)
    assert r1.n_prompt_tokens == len(prompt1)
    second = chat.send("Tell me more.")
    reply2 = second.read()
    r2 = second.result
    prompt2 = model.tokenize(model.chat_render(chat.messages[:4]).rstrip(" "), add_special=False, parse_special=True)
    # the first turn's prompt is reused, and the reply up to the first token where the sampled tokens differ
    # from the tokenization of their text (sampling may pick a non-canonical split, " th" + "e")
    assert r2.n_reused_tokens >= len(prompt1)
    assert r2.n_reused_tokens + r2.n_prompt_tokens == len(prompt2)
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert chat.messages[-1]["content"] == reply2
    # the same conversation in a fresh context gives the same reply (same seed)
    again = model.chat(chat.messages[:4], max_tokens=24, seed=11).read()
    assert again == reply2
    chat.close()


def test_chat_errors_and_unstarted_turns(model):
    with pytest.raises(bittern.BitternError) as e:
        model.chat([("user", "hi")], template="nope")  # rendered at once to size the fresh context
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    ctx = model.context(n_ctx=256)
    with pytest.raises(bittern.BitternError) as e:
        ctx.chat([("robot", "hi")]).read()
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(bittern.BitternError) as e:
        ctx.chat([]).read()
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(bittern.BitternError) as e:
        ctx.chat([("user", "hi")], template="nope").read()
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    chat = bittern.Chat(model, max_tokens=8)
    chat.send("never read")
    chat.send("read").read()  # the unread turn was closed and forgotten
    assert [m["content"] for m in chat.messages if m["role"] == "user"] == ["read"]
    with pytest.raises(bittern.BitternError):
        chat.ask("x", top_p=2.0)
    assert [m["role"] for m in chat.messages] == ["user", "assistant"]  # the failed question is dropped
    chat.reset()
    assert chat.messages == [] and chat.context.n_tokens == 0


# ---- abort callback ---------------------------------------------------------------------------------------

def test_abort_callback(model):
    ctx = model.context(n_ctx=64)
    ctx.decode(model.tokenize(PROMPT))
    before = ctx.n_tokens
    logits = ctx.logits()
    ctx.set_abort_callback(lambda: True)
    with pytest.raises(bittern.BitternError) as e:
        ctx.decode([5, 6, 7])
    assert e.value.status == bittern.E_ABORTED
    assert ctx.n_tokens == before
    np.testing.assert_array_equal(ctx.logits(), logits)  # the last logits are kept too
    # stopping in the middle of a prefill also leaves the context as it was
    calls = []
    ctx.set_abort_callback(lambda: calls.append(1) or len(calls) > 3)
    with pytest.raises(bittern.BitternError) as e:
        ctx.decode(list(range(10, 20)))
    assert e.value.status == bittern.E_ABORTED and len(calls) == 4 and ctx.n_tokens == before
    # an exception in the callback aborts, and is the cause of the error
    def boom():
        raise KeyError("boom")
    ctx.set_abort_callback(boom)
    with pytest.raises(bittern.BitternError) as e:
        ctx.decode([5])
    assert e.value.status == bittern.E_ABORTED and isinstance(e.value.__cause__, KeyError)
    # generation on the context aborts the same way
    ctx.set_abort_callback(lambda: True)
    with pytest.raises(bittern.BitternError) as e:
        ctx.generate(" and", max_tokens=5).read()
    assert e.value.status == bittern.E_ABORTED and ctx.n_tokens == before
    ctx.set_abort_callback(None)
    ctx.decode([5])
    assert ctx.n_tokens == before + 1


# ---- samplers ---------------------------------------------------------------------------------------------

def test_sampler_chains(model):
    greedy = model.generate(PROMPT, max_tokens=30, **GREEDY).read()
    top1 = bittern.Sampler.chain(model, seed=99).add_top_k(1).add_temperature(1.5).add_dist()
    assert model.generate(PROMPT, max_tokens=30, sampler=top1).read() == greedy
    assert model.generate(PROMPT, max_tokens=30, sampler=bittern.Sampler.greedy(model)).read() == greedy
    # a sampled chain differs from greedy (very likely), and the same seed repeats it
    hot = lambda: bittern.Sampler.chain(model, seed=7).add_temperature(1.5).add_dist()
    a = model.generate(PROMPT, max_tokens=30, sampler=hot()).read()
    assert a == model.generate(PROMPT, max_tokens=30, sampler=hot()).read()
    assert a != greedy
    # driving decode + sample by hand
    want = greedy_tokens(model, PROMPT, 10)
    s = bittern.Sampler(model, temperature=0, repeat_penalty=1.0)
    ctx = model.context(n_ctx=64)
    with pytest.raises(bittern.BitternError) as e:
        s.sample(ctx)  # no logits yet
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    ctx.decode(model.tokenize(PROMPT))
    got = []
    for _ in range(10):
        t = s.sample(ctx)
        got.append(t)
        s.accept(t)
        ctx.decode([t])
    assert got == want
    # a logit bias of -inf bans the greedy token
    ctx.reset()
    ctx.decode(model.tokenize(PROMPT))
    banned = bittern.Sampler.chain(model).add_logit_bias({want[0]: float("-inf")}).add_greedy()
    assert banned.sample(ctx) != want[0]
    with pytest.raises(bittern.BitternError) as e:
        bittern.Sampler(model, top_p=0)
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    with pytest.raises(bittern.BitternError):
        bittern.Sampler.chain(model).add_top_k(0)
    with pytest.raises(bittern.BitternError):
        s.accept(model.n_vocab)
    s.reset()
    s.close()
    with pytest.raises(ValueError):
        s.sample(ctx)


def test_cancel_from_the_loop_and_from_another_thread(model):
    import threading

    want = greedy_tokens(model, PROMPT, 10)
    n_prompt = len(model.tokenize(PROMPT))
    ctx = model.context(n_ctx=256)
    gen = ctx.generate(PROMPT, max_tokens=100, **GREEDY)
    seen = []
    for piece in gen:
        seen.append(piece)
        if len(seen) == 2:
            gen.cancel()  # the loop then ends by itself
    assert len(seen) == 2 and gen.result.finish_reason == "cancelled"
    assert ctx.n_tokens == n_prompt + 2 and "".join(seen) == model.detokenize(want[:2])
    # from another thread while the consumer iterates
    full_gen = model.context(n_ctx=200).generate(PROMPT, max_tokens=-1, **GREEDY)
    full = full_gen.read()
    assert full_gen.result.finish_reason == "context_full"  # the reference runs to the end of the context
    ctx = model.context(n_ctx=200)
    gen = ctx.generate(PROMPT, max_tokens=-1, **GREEDY)
    third = threading.Event()
    canceller = threading.Thread(target=lambda: third.wait() and gen.cancel())
    canceller.start()
    seen = []
    for piece in gen:
        seen.append(piece)
        if len(seen) == 3:
            third.set()
    canceller.join()
    r = gen.result
    assert r.finish_reason == "cancelled" and len(seen) >= 3
    text = "".join(seen)
    assert full.startswith(text) and len(text) < len(full)
    assert ctx.n_tokens == n_prompt + r.n_generated  # every sampled token is kept (the last may not be yielded)
    # cancelled before it started: runs nothing
    gen = ctx.generate(PROMPT, max_tokens=5)
    gen.cancel()
    assert list(gen) == [] and gen.result is None


def test_an_unfinished_generation_does_not_block_exit(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "leave.py"
    script.write_text("import bittern\nm = bittern.Model()\nctx = m.context()\n"
                      "g = ctx.generate('In the beginning', max_tokens=400)\nprint(repr(next(g)))\n")
    env = dict(os.environ, BITTERN_LIBRARY=bittern.library_path,
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(bittern.__file__))))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.strip(), p.stderr
