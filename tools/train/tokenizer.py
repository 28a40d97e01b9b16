#!/usr/bin/env python3
"""Trains the bundled model's tokenizer: byte-level BPE (Hugging Face `tokenizers`) with the Llama-3
pre-tokenizer regex and BOS/EOS/EOT special tokens, then encodes the corpus into token-id arrays.

    pip install tokenizers numpy
    python3 tools/train/tokenizer.py CORPUS_DIR [--vocab 4096]

Reads CORPUS_DIR/train.txt and valid.txt (tools/train/corpus.py); writes CORPUS_DIR/tokenizer.json,
train.bin and valid.bin (uint16 token ids, the text encoded without special tokens).
"""
import argparse
import json
import os

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

# The Llama-3 pre-tokenizer (FORMATS.md: what Hugging Face applies to the 2B4T vocabulary).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]   # ids 0, 1, 2


def new_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--vocab", type=int, default=4096)
    args = ap.parse_args()
    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([os.path.join(args.corpus, "train.txt")], trainer)
    # Take a word that is itself a token whole (ignore_merges), as Llama-3's tokenizer.json does and as
    # Bittern does for tokenizer.ggml.pre "llama-bpe". On this corpus it changes no token id (checked:
    # train.bin and valid.bin are identical either way).
    spec = json.loads(tok.to_str())
    spec["model"]["ignore_merges"] = True
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.save(os.path.join(args.corpus, "tokenizer.json"))
    for split in ("train", "valid"):
        with open(os.path.join(args.corpus, split + ".txt"), encoding="utf-8") as f:
            text = f.read()
        ids = np.array(tok.encode(text, add_special_tokens=False).ids, dtype=np.uint16)
        ids.tofile(os.path.join(args.corpus, split + ".bin"))
        print(f"tokenizer: {split}: {len(text) / 1e6:.2f} M chars -> {len(ids) / 1e6:.3f} M tokens "
              f"({len(text) / max(len(ids), 1):.2f} chars/token)")


if __name__ == "__main__":
    main()
