"""bittern.convert / bittern.quantize: a transformers checkpoint (Tests/BitternTests/Fixtures/hf) to GGUF,
run, and compared with the logits transformers computed from it."""
import json
import os

import numpy as np
import pytest

import bittern

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HF = os.path.join(ROOT, "Tests", "BitternTests", "Fixtures", "hf")


def reference(name):
    ref = json.load(open(os.path.join(HF, "reference.json")))
    m = ref["models"][name]
    logits = np.fromfile(os.path.join(HF, m["logits"]), "<f4").reshape(m["positions"], m["vocab"])
    return ref["sequences"], logits


def our_logits(path, sequences):
    model = bittern.Model(path, head_type="f32")
    rows = []
    for s in sequences:
        ctx = model.context(logits_all=True, kv_type="f32")
        ctx.decode(s)
        rows += [ctx.logits(i) for i in range(len(s))]
    return np.stack(rows)


@pytest.mark.parametrize("name,wtype", [("llama-packed", "tq1_0"), ("bitnet-packed", "i2_s")])
def test_convert_matches_transformers(tmp_path, name, wtype):
    out = str(tmp_path / "m.gguf")
    bittern.convert(os.path.join(HF, name), out, weight_type=wtype, head_type="q8")
    seqs, want = reference(name)
    got = our_logits(out, seqs)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
    assert np.abs(got - want).mean() < 0.1     # the q8 head adds its rounding to the f32 fixture tolerance


def test_quantize_and_errors(tmp_path):
    a, b = str(tmp_path / "a.gguf"), str(tmp_path / "b.gguf")
    bittern.convert(os.path.join(HF, "bitnet-master"), a)
    bittern.quantize(a, b, "tq2_0", head_type="q8")
    assert bittern.Model(b).n_vocab == 1024
    with pytest.raises(bittern.BitternError) as e:
        bittern.convert(str(tmp_path / "missing"), str(tmp_path / "x.gguf"))
    assert e.value.status == bittern.E_IO and "config.json" in e.value.message
    with pytest.raises(bittern.BitternError) as e:
        bittern.convert(os.path.join(HF, "bitnet-master"), str(tmp_path / "x.gguf"), weight_type="q4_0")
    assert e.value.status == bittern.E_INVALID_ARGUMENT and "q4_0" in e.value.message
    with pytest.raises(bittern.BitternError) as e:
        bittern.quantize(a, a, "tq1_0")
    assert e.value.status == bittern.E_INVALID_ARGUMENT
    assert not os.path.exists(str(tmp_path / "x.gguf"))
