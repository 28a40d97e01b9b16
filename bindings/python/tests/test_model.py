"""bittern.Model / Context against the tiny BitNet fixture and its independent numpy reference logits."""
import os
import struct

import numpy as np
import pytest

import bittern

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Tests", "BitternTests", "Fixtures")
MODEL = os.path.join(FIXTURES, "tiny_bitnet.gguf")


def expected():
    tokens, logits = None, {}
    with open(os.path.join(FIXTURES, "tiny_bitnet.expected.txt")) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "tokens":
                tokens = [int(x) for x in parts[1:]]
            elif parts and parts[0] == "logits":
                logits[int(parts[1])] = np.array([struct.unpack(">f", bytes.fromhex(h))[0] for h in parts[2:]],
                                                 dtype=np.float32)
    return tokens, logits


def test_decode_matches_the_reference_logits():
    tokens, want = expected()
    seen = []
    # F32 head and KV cache: the reference's storage (the defaults are q8 and F16)
    with bittern.Model(MODEL, progress=seen.append, head_type="f32") as m:
        assert seen and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)
        info = m.info
        assert info["architecture"] in ("bitnet-b1.58", "bitnet-25") and info["head_type"] == "f32"
        assert m.n_vocab == len(want[0])
        ctx = m.context(n_ctx=32, logits_all=True, kv_type="f32")
        last = ctx.decode(tokens)
        np.testing.assert_allclose(last, want[len(tokens) - 1], atol=1e-3)
        for i in range(len(tokens)):
            np.testing.assert_allclose(ctx.logits(i), want[i], atol=1e-3)
            assert int(np.argmax(ctx.logits(i))) == int(np.argmax(want[i]))
        # token by token after a reset gives the same last logits
        ctx.reset()
        for t in tokens:
            step = ctx.decode([t])
        np.testing.assert_allclose(step, last, atol=1e-5)
        ctx.close()


def test_context_full_and_errors():
    m = bittern.Model(MODEL)
    ctx = m.context(n_ctx=4)
    ctx.decode([1, 2, 3])
    with pytest.raises(bittern.BitternError) as e:
        ctx.decode([4, 5])
    assert e.value.status == bittern.E_CONTEXT_FULL
    ctx.decode([4])  # the failed batch left the context unchanged: one position was still free
    with pytest.raises(bittern.BitternError):
        ctx.decode([m.n_vocab])  # out-of-range token
    n_vocab = m.n_vocab
    m.close()  # contexts keep the model alive
    ctx.reset()
    assert ctx.decode([1]).shape == (n_vocab,)
    with pytest.raises(bittern.BitternError) as e:
        bittern.Model("/nonexistent/model.gguf")
    assert e.value.status == bittern.E_IO
    with pytest.raises(bittern.BitternError) as e:
        bittern.Model(MODEL, head_type="nope")
    assert e.value.status in (bittern.E_INVALID_ARGUMENT, bittern.E_UNSUPPORTED)


def test_q6_head_is_close_to_the_exact_one():
    with bittern.Model(MODEL, head_type="f32") as exact, bittern.Model(MODEL, head_type="q6") as m:
        assert m.info["head_type"] == "q6"
        a, b = exact.context(), m.context()
        la, lb = a.decode([1, 2, 3]), b.decode([1, 2, 3])
        assert np.abs(la - lb).max() < 0.45 and not np.array_equal(la, lb)
