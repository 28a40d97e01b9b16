#!/usr/bin/env python3
"""Writes the tokenizer reference fixtures of Tests/BitternTests/Fixtures/tokenizer.

    pip install tokenizers sentencepiece gguf numpy
    python3 tools/reference/make_tokenizer_fixtures.py [out_dir] [--bench]

Everything is generated here (no downloads) and is deterministic: rerunning gives byte-identical files.

Three small tokenizers are trained on a text this script generates (`training_text()`, not the corpus),
written as vocab-only GGUF files (no tensors, as llama.cpp's `vocab-only` GGUFs) and used as references:

  bpe_llama3   Hugging Face `tokenizers` byte-level BPE, Llama-3 pre-tokenizer regex,
               tokenizer.ggml.model "gpt2", tokenizer.ggml.pre "llama-bpe", BPE ignore_merges = true
               (as Meta's Llama-3 tokenizer.json and llama.cpp's LLAMA3 pre-type).
               5 special tokens + 1 non-special added token " hello world".
  bpe_gpt2     the same with the GPT-2 pre-tokenizer regex, tokenizer.ggml.pre "gpt2",
               ignore_merges = false (as GPT-2), the 5 special tokens, no non-special added token.
  spm_llama    `sentencepiece` BPE with scores and byte fallback (Llama-2 style), tokenizer.ggml.model "llama".

Files (see the README.md written next to them for the formats and the observed behaviours):
  corpus.txt, heldout.txt                       the test lines, hex of raw bytes (+ a readable escape)
  <tok>.gguf                                    vocab-only GGUF
  <tok>.tokenizer.json / spm_llama.model        the reference tokenizer itself
  <tok>.expected.txt, <tok>.heldout.expected.txt  `<hex>\t<ids>` (or `<hex>\t*` for invalid UTF-8)
  bpe_*.special.txt                             `<hex>\t<ids, specials parsed>\t<ids, specials as text>`

--bench only prints how long HF `tokenizers` takes to encode ~1 MB of English (nothing is written for it).
"""
import io
import json
import os
import random
import sys
import time
import unicodedata

# Single-threaded everything: the results do not depend on it, but it keeps reruns boring.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import gguf  # noqa: E402
import sentencepiece as spm  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

ARCH = "bitnet-b1.58"

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# Trained in (ids 0, 1, 2, inside the BPE model's vocab) ...
TRAINER_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
# ... and added after training (ids after the trained vocab, only in tokenizer.json's added_tokens).
LATE_SPECIALS = ["<|start_header_id|>", "<|end_header_id|>"]
# A non-special ("user-defined", normalized) added token, bpe_llama3 only.
USER_TOKEN = " hello world"

BPE_VOCAB = 1500
SPM_VOCAB = 1000

# Meta-Llama-3-8B-Instruct's chat template.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# llama.cpp's llama_token_type / gguf.TokenType
T_NORMAL, T_UNKNOWN, T_CONTROL, T_USER_DEFINED, T_UNUSED, T_BYTE = 1, 2, 3, 4, 5, 6

# ---------------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------------

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!",
    "hello world",
    "Hello World",
    "A ternary weight is one of -1, 0 or +1.",
    "She sells sea shells by the sea shore.",
    "It was the best of times, it was the worst of times.",
    "To be, or not to be, that is the question:",
    "Language models predict the next token from the previous ones.",
    "The meeting is at 10:30 a.m. on Tuesday, March 5th, 2024.",
    "Please send the report to the team by Friday; thanks!",
    "Why? Because I said so...",
    "Mr. and Mrs. Smith went to Washington, D.C. in the U.S.A.",
    "\"Quoted text\" and 'single quoted' text.",
    "(parenthesised) [bracketed] {braced} <angled>",
    "e.g. i.e. etc. vs. cf.",
    "ALL CAPS SENTENCE WITH SHOUTING!!!",
    "camelCaseWord snake_case_word kebab-case-word PascalCaseWord",
    "a",
    "I",
    " ",
    "",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The end.",
]

CONTRACTIONS = [
    "I'm here, you're there, he's gone, we've won, they'll come, I'd go, it's fine.",
    "I'M HERE, YOU'RE THERE, HE'S GONE, WE'VE WON, THEY'LL COME, I'D GO, IT'S FINE.",
    "DON'T won't can't shouldn't WOULDN'T isn't AREN'T",
    "you'll You'll YOU'LL yOu'Ll",
    "I'M", "you'll", "DON'T", "'s", "'S", "'", "''", "'''s", "rock'n'roll", "o'clock",
    "don\u2019t (typographic apostrophe) it\u2019s",
    "it'\u017fa IT'\u017fA x'LLama (long s case-folds to s under (?i:))",
    "'re're're",
    "James' car and the dogs' bones",
    " 's",
    "x'LL y'Ve z'D",
]

WHITESPACE = [
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "two trailing spaces  ",
    "   ",
    "word     word",
    "\tleading tab",
    "trailing tab\t",
    "tab\tseparated\tvalues",
    "\t\t\t",
    "mixed \t \t whitespace",
    "one\ntwo",
    "\n",
    "\n\n",
    "\n\n\n",
    "para one\n\n\npara two",
    "windows\r\nline\r\nendings\r\n",
    "\r\n",
    "\r\n\r\n",
    "\r",
    "old mac\rline",
    " \n ",
    "trailing newline\n",
    "\nleading newline",
    "space before newline \nand after\n ",
    "tabs\n\tand\n\t\tindents",
    "no-break\u00a0space and\u00a0\u00a0two",
    "ideographic\u3000space",
    "thin\u2009space, em\u2003space, hair\u200aspace",
    "zero\u200bwidth\u200bspace",
    "line\u2028separator and paragraph\u2029separator",
    "next line\u0085char",
    "vertical\x0btab and form\x0cfeed",
    "info\x1cseparator\x1dchars\x1e\x1f",
    "narrow\u202fno-break and medium\u205fmath space",
    "ogham\u1680space mark",
    " " * 40 + "x",
    "x" + " " * 17,
    "\u00a0\u00a0\u00a0",
    "a \u00a0b",
    "  \n  \n",
]

DIGITS = [
    "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
    "0", "00", "007", "0.5", "3.14159", "-42", "+7", "1e10", "6.022e23", "1,000", "1,234,567.89",
    "12.345,67 EUR", "$1,999.99", "100%", "50/50", "3/4", "2024-03-05", "10:30:59", "1st 2nd 3rd 4th",
    "phone: +1 (555) 123-4567", "v1.2.3-beta.4", "0x1F 0b1010 0o777", "IPv4 192.168.0.1",
    "abc123def456", "123abc", "a1b2c3", "ten 10 hundred 100 thousand 1000",
    "\u00bd \u00bc \u00b2 \u00b3 \u2153",
    "Roman \u2167 \u216b",
    "Arabic-Indic \u0661\u0662\u0663 and Devanagari \u0967\u0968\u0969",
    "fullwidth \uff11\uff12\uff13\uff14",
    "circled \u2460\u2461\u2462",
    "9" * 50,
]

PUNCT = [
    "...", "?!", "--", "``", "!!!", "???", "?!?!", "---", "___", "***", "...!?", ". . .",
    "Wait... what?!", "end--start", "``quoted''", "a -- b", "x...y", "hello!!!world", ":-) ;-) :-(",
    "#hashtag @mention", "&amp; &lt; &gt;", "~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./",
    "\u2014 em dash \u2013 en dash \u2026 ellipsis", "\u00ab guillemets \u00bb \u201cdouble\u201d \u2018single\u2019",
    "\u00bfQu\u00e9? \u00a1S\u00ed!", "\u3002\u3001\u300c\u300d", "!?\n", ".\r\n", "!\n\n\n", " ,\n",
    "a.b.c.d", "(((nested)))", "<<>>", "::", "->", "=>", "!==", "...\n...",
]

CODE = [
    "def main():\n    print(\"hello\")\n    return 0\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if x == 1:\n\treturn True\nelse:\n\treturn False",
    "let xs: [Int] = [1, 2, 3].map { $0 * 2 }",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name;",
    "{\"key\": \"value\", \"n\": 42, \"list\": [1, 2.5, null, true]}",
    "<html><body><p class=\"x\">Hi</p></body></html>",
    "x = y + z * (w - 3) / 4 % 5",
    "a && b || !c",
    "foo_bar.baz_qux(123)",
    "    indented four",
    "        indented eight",
    "\t\tdouble tab indented",
    "$ ls -la /usr/local/bin | grep -v '^d' > out.txt 2>&1",
    "// comment\n/* block\n   comment */",
    "`inline code` and ```fenced```",
    "regex: ^[a-z0-9_]+@[a-z]+\\.[a-z]{2,}$",
    "C:\\Users\\Name\\Documents\\file.txt",
    "0xDEADBEEF",
    "λx.λy.x",
]

URLS = [
    "https://example.com/path/to/page?query=1&other=two#fragment",
    "http://www.test.org",
    "ftp://files.example.net/pub/file-1.2.tar.gz",
    "mailto:someone@example.com",
    "Visit https://github.com/user/repo/issues/123 for details.",
    "www.example.co.uk/a_b-c~d",
    "user@host.domain.tld",
    "https://en.wikipedia.org/wiki/Byte_pair_encoding",
]

CJK = [
    "你好，世界！",
    "我爱自然语言处理。",
    "机器学习和深度学习是人工智能的重要分支。",
    "今天天气很好，我们去公园吧",
    "中文English混合text",
    "こんにちは、世界！",
    "日本語のテキストとカタカナ、ひらがな。",
    "東京は日本の首都です。",
    "ｶﾀｶﾅ半角",
    "안녕하세요, 세계!",
    "한국어 텍스트 처리는 재미있습니다.",
    "漢字仮名交じり文",
    "𠀀𠀁𪚥 (CJK extension B)",
    "一二三四五六七八九十",
    "２０２４年３月５日",
]

EMOJI = [
    "😀",
    "I ❤️ emoji 😂🤣",
    "👍👍🏻👍🏼👍🏽👍🏾👍🏿",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "👩\u200d💻 and 🧑\u200d🚀",
    "🏳️\u200d🌈 🏴\u200d☠️",
    "🇺🇸🇯🇵🇩🇪🇫🇷",
    "🇺",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f (Scotland tag sequence)",
    "1️⃣ #️⃣ *️⃣",
    "☺ ☺️ ✌ ✌️",
    "🎉🎉🎉 party",
    "emoji🙂inside🙂words",
    "🫠🫡🫶",
]

SCRIPTS = [
    "e\u0301 vs \u00e9",
    "a\u0300\u0301\u0302\u0303\u0304 stacked marks",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
    "n\u0303 \u00f1 N\u0303",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629\u060c \u0623\u0644\u064a\u0633 \u0643\u0630\u0644\u0643\u061f",
    "\u0634\u0643\u0631\u064b\u0627 with harakat \u0628\u0650\u0633\u0652\u0645\u0650",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u05e2\u05b4\u05d1\u05b0\u05e8\u05b4\u05d9\u05ea with niqqud",
    "mixed LTR \u05e2\u05d1\u05e8\u05d9\u05ea RTL 123",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0915\u0940 \u092a\u0930\u0940\u0915\u094d\u0937\u093e\u0964",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a (Thai)",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 \u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 \u0431\u0443\u043b\u043e\u043a.",
    "\u041c\u041e\u0421\u041a\u0412\u0410 \u043c\u043e\u0441\u043a\u0432\u0430",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "\u03b1\u03b2\u03b3\u03b4 \u0391\u0392\u0393\u0394 \u03c0 \u2248 3.14",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade co\u00f6perate",
    "Stra\u00dfe \u00fcber \u00c4rger \u00d6l",
    "\u0141\u00f3d\u017a \u017b\u00f3\u0142w \u010cesk\u00fd \u0158\u00edm",
    "\u00c5ngstr\u00f6m \u212bngstr\u00f6m (angstrom sign)",
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 letters",
    "\u0130stanbul \u0131\u015f\u0131k",
    "\ufb01 \ufb02 ligatures",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0 (Georgian)",
    "\u0532\u0561\u0580\u0565\u0582 (Armenian)",
    "\u1200\u1208\u121d (Ethiopic)",
    "\U0001d400\U0001d401\U0001d402 math bold",
    "\u13a3\u13b3\u13a9 (Cherokee)",
]

RARE = [
    "\ufffd",
    "replacement \ufffd char",
    "\U0010fffd",
    "\U0010ffff",
    "\uf8ff apple logo (private use)",
    "\ue000\ue001",
    "\U000f0000 plane-15 private use",
    "\ufeffBOM at start",
    "\u200e\u200f LRM RLM",
    "\u200c\u200d ZWNJ ZWJ",
    "a\x00b (NUL)",
    "\x07bell \x1b[31mred\x1b[0m",
    "\x7f DEL",
    "\u00ad soft hyphen",
    "\ufdd0 noncharacter",
    "\U0001f9ff\U0001fa70",
    "\u2603\u2764\u2705",
    "\u0000",
]

MULTILINE = [
    "First line.\nSecond line.\nThird line.",
    "Dear Sir,\n\nThank you for your letter.\n\nRegards,\nMe\n",
    "- item one\n- item two\n  - nested item\n",
    "# Title\n\nSome *markdown* text.\n\n```python\nprint(1)\n```\n",
    "line with trailing spaces   \nnext line\t\n\n",
    "\n\n\nstarts with newlines",
    "ends with newlines\n\n\n",
    "CRLF para\r\n\r\nsecond para\r\n",
    "mixed\r\n\n\r\r\nendings",
    "<|not_special|> and <s > look special but are plain text\n",
    "User: Hi!\nAssistant: Hello! How can I help?\nUser: Tell me a joke.",
    "Q: What's 2+2?\nA: 4.\n",
    "poem:\n  roses are red,\n    violets are blue\n",
    "\u4f60\u597d\n\u4e16\u754c\n",
    "\u0645\u0631\u062d\u0628\u0627\n\u05e9\u05dc\u05d5\u05dd\n",
    "emoji\n\U0001f600\n\U0001f468\u200d\U0001f469\u200d\U0001f467\n",
]

ADDED_TOKEN_PROBES = [
    "say hello world now",
    " hello world",
    "  hello world",
    " hello worlds",
    " Hello World",
    " hello world hello world",
    " hello world\n hello world",
    "x hello worldx",
]

# Words added to both BPE vocabularies as ordinary tokens that no merge produces (see add_unreachable_tokens).
UNREACHABLE = [" quixotic", "xylophone"]
UNREACHABLE_PROBES = [
    "a quixotic xylophone",
    " quixotic",
    "quixotic",
    "xylophone quixotic xylophones",
    "Quixotic XYLOPHONE",
]

INVALID_UTF8 = [
    b"\xff\xfe",
    b"\xff",
    b"\x80",
    b"abc\x80def",
    b"\xbf\xbf\xbf",
    b"truncated \xe4\xbd",
    b"truncated 4-byte \xf0\x9f\x98",
    b"\xe4\xbd\xa0\xe5\xa5",
    b"\xc3",
    b"\xc3 space",
    b"overlong \xc0\xaf \xe0\x80\xaf",
    b"surrogate \xed\xa0\x80 and \xed\xbf\xbf",
    b"surrogate pair as CESU-8 \xed\xa0\xbd\xed\xb8\x80",
    b"beyond U+10FFFF \xf4\x90\x80\x80",
    b"five-byte \xf8\x88\x80\x80\x80",
    b"\xfe\xff BOM-like",
    b"valid \xc3\xa9 then invalid \xe9 then valid \xe2\x82\xac",
    b"\n\xff\n",
    b"  \x80  ",
    b"\xf0\x9f\x98\x80\xf0\x9f\x98",
    b"\xed\x9f\xbf ok then \xee\x80\x80 ok",
]


def generated_lines():
    out = []
    # digits of every length 1..24 and a few separators
    for n in range(1, 17):
        out.append("".join(str((i * 7 + 3) % 10) for i in range(n)))
    out += ["x" * 300, "ab" * 100, " " * 100, "\n" * 20, "\t" * 10 + "tabbed", "-" * 64, "=" * 31,
            "😀" * 20, "你" * 30, "a " * 60]
    # whitespace run x content matrix
    for ws in [" ", "  ", "\t", " \t", "\n", "\r\n", "\n\n", " \n", "\u00a0", "\u3000"]:
        for w in ["word", "123", "你好"]:
            out.append(ws + w + ws + w + ws)
    return out


def corpus_entries():
    texts = (ENGLISH + CONTRACTIONS + WHITESPACE + DIGITS + PUNCT + CODE + URLS + CJK + EMOJI + SCRIPTS
             + RARE + MULTILINE + ADDED_TOKEN_PROBES + UNREACHABLE_PROBES + generated_lines())
    entries = [t.encode("utf-8") for t in texts] + list(INVALID_UTF8)
    assert len(set(entries)) == len(entries), "duplicate corpus lines"
    return entries


# Held-out: a seeded random mix, built differently from the corpus.
HELDOUT_WORDS = (
    "the of and to in is was for on that with as by at from his her they we you this are be have not "
    "but or which one all were when there been has more would their if will so out about up into time "
    "year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night "
    "point home water room mother area money story fact month lot right study book eye job word "
    "business issue side kind head house service friend father power hour game line end member law "
    "car city community name president team minute idea kid body information back parent face others "
    "level office door health person art war history party result change morning reason research girl "
    "guy moment air teacher force education Über naïve Ægir Øresund œuvre ŽALUZIE Ærø"
).split()
HELDOUT_PUNCT = ["...", "?!", "--", "``", "''", ",", ".", ";", ":", "!", "?", "(", ")", "[", "]", "{", "}",
                 "\"", "'", "'s", "'T", "'LL", "'re", "/", "\\", "|", "#", "@", "&", "*", "%", "$", "€",
                 "£", "¥", "—", "–", "…", "«", "»", "“", "”", "‘", "’", "・", "。", "、", "！", "？", "~",
                 "^", "<", ">", "=", "+", "-", "_"]
HELDOUT_WS = [" ", " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000",
              "\u2009", "\x0b", "\x0c", "\u0085", "\u2028", "\t "]
HELDOUT_RANGES = [
    (0x00A0, 0x00FF), (0x0100, 0x017F), (0x0180, 0x024F), (0x0300, 0x036F), (0x0370, 0x03FF),
    (0x0400, 0x04FF), (0x0530, 0x058F), (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0900, 0x097F),
    (0x0980, 0x09FF), (0x0E00, 0x0E7F), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1E00, 0x1EFF),
    (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20BF), (0x2100, 0x214F), (0x2150, 0x218F),
    (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x257F), (0x2600, 0x26FF),
    (0x2700, 0x27BF), (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xFB00, 0xFB4F), (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF),
    (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
]
# Python 3.11's unicodedata is Unicode 14.0; unassigned (Cn) and surrogate code points are skipped so the
# lines do not depend on which Unicode version the tokenizer's regex tables follow.


def random_codepoint(rng):
    while True:
        lo, hi = rng.choice(HELDOUT_RANGES)
        cp = rng.randint(lo, hi)
        if unicodedata.category(chr(cp)) not in ("Cn", "Cs"):
            return chr(cp)


def random_number(rng):
    kind = rng.randrange(5)
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    if kind == 0:
        return digits
    if kind == 1:
        return f"{rng.randint(0, 10**7):,}"
    if kind == 2:
        return f"{rng.uniform(-1000, 1000):.{rng.randint(1, 5)}f}"
    if kind == 3:
        return digits + rng.choice(["%", "px", "th", "km", "e-3", "x"])
    return rng.choice(["٣٤٥", "१२३", "１２", "½", "²", "Ⅻ", "①"]) + digits[:3]


def heldout_entries(n_valid=92, n_invalid=8):
    rng = random.Random(20240305)
    out = []
    seen = set()
    while len(out) < n_valid:
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            if r < 0.35:
                w = rng.choice(HELDOUT_WORDS)
                parts.append(rng.choice([w, w, w.upper(), w.capitalize()]))
            elif r < 0.50:
                parts.append(random_number(rng))
            elif r < 0.62:
                parts.append("".join(rng.choice(HELDOUT_PUNCT) for _ in range(rng.randint(1, 3))))
            elif r < 0.82:
                parts.append(rng.choice(HELDOUT_WS))
            else:
                parts.append("".join(random_codepoint(rng) for _ in range(rng.randint(1, 4))))
        # mostly single spaces between fragments, sometimes glued
        s = ""
        for p in parts:
            s += p + (" " if rng.random() < 0.6 else "")
        if rng.random() < 0.2:
            s = " " + s
        b = s.encode("utf-8")
        if b not in seen:
            seen.add(b)
            out.append(b)
    while len(out) < n_valid + n_invalid:
        b = bytearray()
        for _ in range(rng.randint(1, 10)):
            r = rng.random()
            if r < 0.4:
                b += rng.choice(HELDOUT_WORDS).encode("utf-8") + b" "
            elif r < 0.7:
                b += bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 3)))
            else:
                full = random_codepoint(rng).encode("utf-8")
                b += full[:rng.randint(1, len(full))]  # sometimes truncated
        b = bytes(b)
        if not is_utf8(b):
            out.append(b)
    return out


def is_utf8(b):
    try:
        b.decode("utf-8", errors="strict")
        return True
    except UnicodeDecodeError:
        return False


def escape(b):
    """A readable one-line ASCII form of raw bytes (only for humans; the hex is the fixture)."""
    s = b.decode("utf-8", errors="backslashreplace")
    return s.encode("unicode_escape").decode("ascii").replace("\t", "\\t")


# ---------------------------------------------------------------------------------------------------
# Training text (deterministic, different from the corpus)
# ---------------------------------------------------------------------------------------------------

TRAIN_WORDS = (
    "the be to of and a in that have it for not on with he as you do at this but his by from they we "
    "say her she or an will my one all would there their what so up out if about who get which go me "
    "when make can like time no just him know take people into year your good some could them see "
    "other than then now look only come its over think also back after use two how our work first well "
    "way even new want because any these give day most us model token language weight ternary matrix "
    "vector layer attention inference memory kernel thread cache quantize decode encode prompt answer "
    "question hello world water house river mountain computer program function value number string "
    "running walked talking played happily quickly beautiful important different following"
).split()
TRAIN_CAPS = ["The", "A", "In", "It", "We", "They", "She", "He", "This", "When", "If", "I"]
TRAIN_CJK = ("我们今天学习语言模型的推理和训练方法这是一个简单的例子中文文本处理世界你好人工智能机器"
             "日本語のテキストです東京大学こんにちはありがとう한국어안녕하세요감사합니다")
TRAIN_OTHER = ["Привет мир", "как дела", "Γειά σου", "καλημέρα", "café", "naïve", "Straße", "über",
               "señor", "été", "mañana"]
TRAIN_CODE = [
    "def f(x):\n    return x + 1\n",
    "for i in range(10):\n    print(i)\n",
    "int main() { return 0; }\n",
    "if (a == b) { c = d; }\n",
    "x = [1, 2, 3]\n",
    "import numpy as np\n",
]


def training_lines(seed=7, n=6000, english_only=False):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        r = rng.random()
        if english_only or r < 0.72:
            words = [rng.choice(TRAIN_WORDS) for _ in range(rng.randint(4, 16))]
            words[0] = rng.choice(TRAIN_CAPS) if rng.random() < 0.5 else words[0].capitalize()
            s = " ".join(words)
            if rng.random() < 0.3:
                k = rng.randrange(len(words))
                s = s.replace(words[k], words[k] + ",", 1)
            if rng.random() < 0.1:
                s += " " + rng.choice(["I'm", "it's", "don't", "we'll", "they're", "you've", "he'd"])
            if rng.random() < 0.15:
                s += " " + str(rng.randint(0, 99999))
            s += rng.choice([".", ".", ".", "!", "?", "...", ":"])
        elif r < 0.82:
            s = "".join(rng.choice(TRAIN_CJK) for _ in range(rng.randint(3, 15))) + rng.choice(["。", "！", "？", ""])
        elif r < 0.90:
            s = " ".join(rng.choice(TRAIN_OTHER) for _ in range(rng.randint(2, 6))) + "."
        elif r < 0.96:
            s = rng.choice(TRAIN_CODE).rstrip("\n")
        else:
            s = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 7))) for _ in range(rng.randint(2, 8)))
        lines.append(s)
    return lines


# ---------------------------------------------------------------------------------------------------
# HF byte-level BPE
# ---------------------------------------------------------------------------------------------------

def train_bpe(pattern, ignore_merges, lines):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=TRAINER_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # Whole lines with their newline so that newline-bearing pre-tokens are seen in training.
    tok.train_from_iterator([l + "\n" for l in lines], trainer=trainer)
    assert tok.model.ignore_merges == ignore_merges
    tok = add_unreachable_tokens(tok, UNREACHABLE)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LATE_SPECIALS])
    return tok


def add_unreachable_tokens(tok, words):
    """Appends byte-level tokens to the BPE model's vocab (not as added tokens) that no merge produces, as
    Llama-3's vocabulary has: with ignore_merges = true (Llama-3 / llama.cpp "llama-bpe") a pre-token equal
    to such a token becomes that one token; with ignore_merges = false (GPT-2) it is split by the merges."""
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    for w in words:
        t = bl.pre_tokenize_str(w)[0][0]
        assert t not in vocab
        vocab[t] = len(vocab)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    tok = Tokenizer.from_str(json.dumps(data))
    plain = Tokenizer.from_str(json.dumps(data))
    plain.model.ignore_merges = False
    for w in words:
        t = bl.pre_tokenize_str(w)[0][0]
        assert len(plain.model.tokenize(t)) > 1, w  # really unreachable by merges
    return tok


def bpe_vocab_arrays(tok):
    """(tokens, token_types, merges) for GGUF, in id order, following llama.cpp's convert_hf_to_gguf."""
    data = json.loads(tok.to_str())
    vocab = tok.get_vocab(with_added_tokens=True)
    n = len(vocab)
    by_id = {i: t for t, i in vocab.items()}
    assert sorted(by_id) == list(range(n)), "ids are not contiguous"
    added = {a["id"]: a for a in data["added_tokens"]}
    tokens, types = [], []
    for i in range(n):
        t = by_id[i]
        if i in added:
            assert added[i]["content"] == t
            types.append(T_CONTROL if added[i]["special"] else T_USER_DEFINED)
        else:
            assert data["model"]["vocab"][t] == i
            types.append(T_NORMAL)
        tokens.append(t)
    merges = []
    for m in data["model"]["merges"]:
        if isinstance(m, str):  # older tokenizers: "a b"
            merges.append(m)
        else:  # tokenizers >= 0.20: ["a", "b"]
            assert len(m) == 2 and " " not in m[0] and " " not in m[1]
            merges.append(m[0] + " " + m[1])
    return tokens, types, merges


def write_bpe_gguf(path, tok, pre):
    tokens, types, merges = bpe_vocab_arrays(tok)
    vocab = tok.get_vocab(with_added_tokens=True)
    w = gguf.GGUFWriter(path, ARCH)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab["<|begin_of_text|>"])
    w.add_eos_token_id(vocab["<|end_of_text|>"])
    w.add_eot_token_id(vocab["<|eot_id|>"])
    w.add_add_bos_token(True)
    w.add_chat_template(LLAMA3_CHAT_TEMPLATE)
    finish_gguf(w)
    return tokens, types, merges


def finish_gguf(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


SPECIAL_LINES = [
    "<|eot_id|>Hello<|begin_of_text|>",
    "<|begin_of_text|>",
    "<|begin_of_text|>Hello, world!<|end_of_text|>",
    "<|eot_id|><|eot_id|><|eot_id|>",
    " <|eot_id|> ",
    "  <|eot_id|>  x",
    "abc<|end_of_text|>def",
    "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>",
    ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nWhat's 2+2?<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "<|eot_id|",
    "<|eot_id |>",
    "<|EOT_ID|>",
    "<|eot_id|>>",
    "<<|eot_id|>",
    "<|<|eot_id|>|>",
    "<s></s><unk> are not special here",
    "say hello world<|eot_id|> hello world",
    "<|eot_id|>\n\n\n<|eot_id|>\r\n",
    "你好<|eot_id|>😀<|end_of_text|>",
    "<|end_header_id|>'s<|end_header_id|>'S",
    "123<|eot_id|>456",
    "<|begin_of_text|> hello world",
]


# ---------------------------------------------------------------------------------------------------
# sentencepiece BPE (Llama-2 style)
# ---------------------------------------------------------------------------------------------------

SPM_OPTIONS = dict(
    model_type="bpe",
    vocab_size=SPM_VOCAB,
    byte_fallback=True,
    character_coverage=0.9995,
    normalization_rule_name="identity",
    add_dummy_prefix=True,
    remove_extra_whitespaces=False,
    split_digits=True,
    allow_whitespace_only_pieces=True,
    split_by_unicode_script=True,
    split_by_whitespace=True,
    max_sentencepiece_length=16,
    unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
    unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>",
    num_threads=1,
    input_sentence_size=0,
    shuffle_input_sentence=False,
    minloglevel=2,
)


def train_spm(lines):
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, **SPM_OPTIONS)
    return buf.getvalue()


def _varint(buf, pos):
    v = shift = 0
    while True:
        c = buf[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, pos


def _proto_fields(buf):
    """Minimal protobuf wire-format reader: [(field number, wire type, value)] (no protobuf package needed)."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _varint(buf, pos)
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            v, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.append((num, wt, v))
    return out


def spm_proto(model):
    """ModelProto: pieces [(piece, score, type)] (sentencepiece_model.proto; type NORMAL=1 UNKNOWN=2 CONTROL=3
    USER_DEFINED=4 UNUSED=5 BYTE=6, the same numbers as llama.cpp's token types) and the normalizer spec."""
    pieces, norm = [], {}
    for num, _, v in _proto_fields(model):
        if num == 1:
            piece, score, ty = "", 0.0, 1
            for n2, _, v2 in _proto_fields(v):
                if n2 == 1:
                    piece = v2.decode("utf-8")
                elif n2 == 2:
                    score = float(np.frombuffer(v2, "<f4")[0])
                elif n2 == 3:
                    ty = v2
            pieces.append((piece, score, ty))
        elif num == 3:
            names = {1: "name", 3: "add_dummy_prefix", 4: "remove_extra_whitespaces", 5: "escape_whitespaces"}
            norm = {"add_dummy_prefix": True, "remove_extra_whitespaces": True, "escape_whitespaces": True}
            for n2, _, v2 in _proto_fields(v):
                if n2 == 1:
                    norm["name"] = v2.decode()
                elif n2 == 2:
                    norm["precompiled_charsmap_bytes"] = len(v2)
                elif n2 in names:
                    norm[names[n2]] = bool(v2)
    return pieces, norm


def spm_vocab_arrays(sp, model):
    pieces, _ = spm_proto(model)
    assert len(pieces) == sp.get_piece_size()
    tokens, scores, types = [], [], []
    for i, (piece, score, ty) in enumerate(pieces):
        # cross-check the proto with the processor's API
        assert piece == sp.id_to_piece(i) and np.float32(score) == np.float32(sp.get_score(i))
        assert (ty == T_UNKNOWN) == sp.is_unknown(i) and (ty == T_CONTROL) == sp.is_control(i)
        assert (ty == T_BYTE) == sp.is_byte(i) and (ty == T_UNUSED) == sp.is_unused(i)
        tokens.append(piece)
        scores.append(score)
        types.append(ty)
    return tokens, scores, types


def write_spm_gguf(path, sp, model):
    tokens, scores, types = spm_vocab_arrays(sp, model)
    w = gguf.GGUFWriter(path, ARCH)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    finish_gguf(w)
    return tokens, scores, types


# ---------------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------------

def write_lines(path, header, rows):
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for h in header:
            f.write(("# " + h).rstrip() + "\n")
        for r in rows:
            f.write(r + "\n")


def ids_str(ids):
    return " ".join(str(i) for i in ids)


def encode_expected(entries, encode, decode, problems, name):
    rows = []
    for b in entries:
        if not is_utf8(b):
            rows.append(b.hex() + "\t*")
            continue
        text = b.decode("utf-8")
        ids = encode(text)
        back = decode(ids)
        if back != text:
            problems.append(f"{name}: decode(encode(x)) != x for {escape(b)!r}: got {back!r}")
        rows.append(b.hex() + "\t" + ids_str(ids))
    return rows


def check_gguf(path, expect):
    """Reads the file back with gguf-py and compares every key with `expect` {key: (type, value)}."""
    r = gguf.GGUFReader(path)
    assert len(r.tensors) == 0, path
    V = gguf.GGUFValueType
    got = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        if f.types[0] == V.ARRAY:
            sub = f.types[-1]
            if sub == V.STRING:
                val = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            else:
                val = [f.parts[i][0].item() for i in f.data]
            got[f.name] = (("ARRAY", sub.name), val)
        elif f.types[0] == V.STRING:
            got[f.name] = (V.STRING.name, bytes(f.parts[f.data[0]]).decode("utf-8"))
        else:
            got[f.name] = (f.types[0].name, f.parts[f.data[0]][0].item())
    assert list(got) == list(expect), (path, list(got), list(expect))
    for k, (ty, val) in expect.items():
        gty, gval = got[k]
        assert gty == ty, (path, k, gty, ty)
        if isinstance(val, list) and val and isinstance(val[0], float):
            assert np.array_equal(np.float32(gval), np.float32(val)), (path, k)
        else:
            assert gval == val, (path, k)
    return got


def bench(tok):
    text_lines = training_lines(seed=99, n=16000, english_only=True)
    text = "\n".join(text_lines)
    while len(text.encode()) < 1_000_000:
        text += "\n" + text
    text = text[:1_000_000]
    lines = text.split("\n")
    n = len(text.encode())
    t_one, t_batch = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        ids = tok.encode(text, add_special_tokens=False).ids
        t_one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tok.encode_batch(lines, add_special_tokens=False)
        t_batch.append(time.perf_counter() - t0)
    print(f"bench: {n} bytes of English, {len(ids)} tokens ({n / len(ids):.2f} bytes/token)")
    print(f"bench: encode(one string)        best {min(t_one) * 1e3:.1f} ms  "
          f"({n / min(t_one) / 1e6:.2f} MB/s), all {[round(x * 1e3, 1) for x in t_one]}")
    print(f"bench: encode_batch({len(lines)} lines) best {min(t_batch) * 1e3:.1f} ms  "
          f"({n / min(t_batch) / 1e6:.2f} MB/s)  [TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM')},"
          f" RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')}]")


# ---------------------------------------------------------------------------------------------------

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    do_bench = "--bench" in sys.argv[1:]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = args[0] if args else os.path.join(repo, "Tests", "BitternTests", "Fixtures", "tokenizer")
    os.makedirs(out, exist_ok=True)
    P = lambda name: os.path.join(out, name)  # noqa: E731
    versions = (f"tokenizers {tokenizers.__version__}, sentencepiece {spm.__version__}, "
                f"gguf-py {gguf_version()}, Python {sys.version.split()[0]}")
    problems = []

    corpus = corpus_entries()
    heldout = heldout_entries()
    assert not set(corpus) & set(heldout)
    fmt = "one entry per line: <lowercase hex of the raw bytes>\\t<readable escape, for humans only>"
    write_lines(P("corpus.txt"), ["Tokenizer test corpus (tools/reference/make_tokenizer_fixtures.py).", fmt,
                                  "Entries may be empty, contain newlines / CR / NUL, or be invalid UTF-8."],
                [b.hex() + "\t" + escape(b) for b in corpus])
    write_lines(P("heldout.txt"), ["Held-out lines: seeded random mix (random.Random(20240305)).", fmt],
                [b.hex() + "\t" + escape(b) for b in heldout])

    train = training_lines()
    train_set = set(train)
    assert not any(b.decode("utf-8", "replace") in train_set for b in corpus), "corpus line in training text"

    # ---- byte-level BPE ---------------------------------------------------------------------------
    #
    # Hugging Face behaviour recorded here (tokenizers 0.23):
    # * `encode(text, add_special_tokens=False)` only stops the post-processor (BOS/EOS template) from
    #   adding tokens.  Added tokens *in the text* are always split out first, before normalization and
    #   pre-tokenization: special added tokens (normalized=False) on the raw text, then non-special
    #   (normalized=True) ones on the normalized text; every remaining span is pre-tokenized and BPE'd on
    #   its own, so the regex never sees across an added token.  There is no "parse_special=false" switch in
    #   `encode`; the only way to treat special tokens as plain text is `tok.encode_special_tokens = True`
    #   (the `split_special_tokens` option of transformers), which affects only special=True added tokens:
    #   non-special added tokens such as " hello world" are still split out.
    # * The corpus expected files use `encode(text, add_special_tokens=False)` with the default
    #   encode_special_tokens=False.  The corpus and held-out lines contain no special-token text (asserted
    #   below), so these ids are the same whether a reimplementation parses special tokens or not; the
    #   special.txt files record both modes.  Non-special added tokens (" hello world") are split out in
    #   both modes (as llama.cpp does for USER_DEFINED tokens even with parse_special = false).
    for b in corpus + heldout:
        for t in TRAINER_SPECIALS + LATE_SPECIALS + ["<s>", "</s>", "<unk>"]:
            assert t.encode() not in b, (t, b)
    bpe_specs = [
        ("bpe_llama3", LLAMA3_PATTERN, "llama-bpe", True, True),
        ("bpe_gpt2", GPT2_PATTERN, "gpt2", False, False),
    ]
    bpe_info = {}
    for name, pattern, pre, ignore_merges, with_user_token in bpe_specs:
        tok = train_bpe(pattern, ignore_merges, train)
        if with_user_token:
            tok.add_tokens([AddedToken(USER_TOKEN, special=False, normalized=True)])
        tok.save(P(name + ".tokenizer.json"), pretty=True)
        tok = Tokenizer.from_file(P(name + ".tokenizer.json"))  # use exactly what was saved
        tokens, types, merges = write_bpe_gguf(P(name + ".gguf"), tok, pre)
        vocab = tok.get_vocab(with_added_tokens=True)
        ids = {t: vocab[t] for t in TRAINER_SPECIALS + LATE_SPECIALS + ([USER_TOKEN] if with_user_token else [])}
        bpe_info[name] = dict(n_vocab=len(tokens), n_merges=len(merges), ids=ids)

        enc = lambda s, tok=tok: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
        dec = lambda ids, tok=tok: tok.decode(ids, skip_special_tokens=False)  # noqa: E731
        header = [
            f"{name}: HF tokenizers byte-level BPE, vocab {len(tokens)} ({len(merges)} merges), "
            f"tokenizer.ggml.pre = \"{pre}\", BPE ignore_merges = {str(ignore_merges).lower()}.",
            "pre_tokenizer = Sequence([Split(Regex(P), behavior=isolated, invert=False), "
            "ByteLevel(add_prefix_space=False, use_regex=False)]), decoder ByteLevel, no normalizer, P =",
            pattern,
            "ids = tok.encode(text, add_special_tokens=False).ids  (no BOS; added tokens in the text are split out)",
            "format: <hex of input bytes>\\t<space separated ids>; `*` = input is not valid UTF-8, no HF reference",
            "(check only that decode(encode(bytes)) == bytes).  An empty input has an empty id list.",
            "tok.decode(ids, skip_special_tokens=False) == text for every valid line (checked by the script).",
            "special ids: " + ", ".join(f"{t!r}={i}" for t, i in ids.items()),
            versions,
        ]
        for fname, entries in [("expected", corpus), ("heldout.expected", heldout)]:
            rows = encode_expected(entries, enc, dec, problems, f"{name}/{fname}")
            write_lines(P(f"{name}.{fname}.txt"), header, rows)
            bpe_info[name][fname] = len(rows)

        # special tokens: parsed (HF default) and as plain text (encode_special_tokens = True)
        rows = []
        for s in SPECIAL_LINES:
            tok.encode_special_tokens = False
            parsed = tok.encode(s, add_special_tokens=False).ids
            tok.encode_special_tokens = True
            plain = tok.encode(s, add_special_tokens=False).ids
            tok.encode_special_tokens = False
            for ids_ in (parsed, plain):
                if dec(ids_) != s:
                    problems.append(f"{name}/special: decode != text for {s!r}")
            rows.append(s.encode().hex() + "\t" + ids_str(parsed) + "\t" + ids_str(plain))
        write_lines(P(name + ".special.txt"), [
            f"{name}: special-token text.  format: <hex>\\t<ids, specials parsed>\\t<ids, specials as plain text>",
            "column 2: tok.encode(text, add_special_tokens=False) (HF default: special added tokens are split out",
            "  of the raw text, exact case-sensitive match, no lstrip/rstrip; the spans between are pre-tokenized",
            "  separately).  column 3: the same with tok.encode_special_tokens = True (special tokens are plain",
            "  text; non-special added tokens are still split out).",
            "special ids: " + ", ".join(f"{t!r}={i}" for t, i in ids.items()),
            versions,
        ], rows)
        bpe_info[name]["special"] = len(rows)

        # diagnostic: how much ignore_merges matters on this corpus
        other = Tokenizer.from_str(tok.to_str())
        other.model.ignore_merges = not ignore_merges
        diff = sum(1 for b in corpus + heldout if is_utf8(b)
                   and other.encode(b.decode(), add_special_tokens=False).ids != enc(b.decode()))
        bpe_info[name]["ignore_merges_flip_diff"] = diff

        check_gguf(P(name + ".gguf"), {
            "general.architecture": ("STRING", ARCH),
            "tokenizer.ggml.model": ("STRING", "gpt2"),
            "tokenizer.ggml.pre": ("STRING", pre),
            "tokenizer.ggml.tokens": (("ARRAY", "STRING"), tokens),
            "tokenizer.ggml.token_type": (("ARRAY", "INT32"), types),
            "tokenizer.ggml.merges": (("ARRAY", "STRING"), merges),
            "tokenizer.ggml.bos_token_id": ("UINT32", ids["<|begin_of_text|>"]),
            "tokenizer.ggml.eos_token_id": ("UINT32", ids["<|end_of_text|>"]),
            "tokenizer.ggml.eot_token_id": ("UINT32", ids["<|eot_id|>"]),
            "tokenizer.ggml.add_bos_token": ("BOOL", True),
            "tokenizer.chat_template": ("STRING", LLAMA3_CHAT_TEMPLATE),
        })
        if do_bench and name == "bpe_llama3":
            bench(tok)

    # ---- sentencepiece ----------------------------------------------------------------------------
    model = train_spm(train)
    with open(P("spm_llama.model"), "wb") as f:
        f.write(model)
    sp = spm.SentencePieceProcessor(model_proto=model)
    tokens, scores, types = write_spm_gguf(P("spm_llama.gguf"), sp, model)
    assert [sp.piece_to_id("<0x%02X>" % b) for b in range(256)] == list(range(3, 259))
    spm_enc = lambda s: sp.encode(s, out_type=int)  # noqa: E731
    spm_dec = lambda ids: sp.decode(ids)  # noqa: E731
    flags = ", ".join(f"{k}={v}" for k, v in SPM_OPTIONS.items()
                      if k not in ("num_threads", "input_sentence_size", "shuffle_input_sentence", "minloglevel"))
    _, norm = spm_proto(model)
    header = [
        f"spm_llama: sentencepiece BPE, vocab {len(tokens)}, trained with {flags}.",
        "Normalizer spec (encode): identity rule (no NFKC), add_dummy_prefix=True (one U+2581 before the whole",
        "input), escape_whitespaces=True (each U+0020 -> U+2581, nothing else), remove_extra_whitespaces=False;",
        "characters without a piece -> <0xNN> byte pieces (byte_fallback).",
        "normalizer_spec in the model: " + ", ".join(f"{k}={v}" for k, v in sorted(norm.items())),
        "ids = sp.encode(text) (no BOS/EOS).  format: <hex of input bytes>\\t<space separated ids>;",
        "`*` = input is not valid UTF-8, no reference.  An empty input has an empty id list.",
        "sp.decode(ids) == text for every valid line (checked by the script; decode drops the dummy-prefix U+2581).",
        "ids: <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258",
        versions,
    ]
    spm_info = dict(n_vocab=len(tokens))
    for fname, entries in [("expected", corpus), ("heldout.expected", heldout)]:
        rows = encode_expected(entries, spm_enc, spm_dec, problems, f"spm_llama/{fname}")
        write_lines(P(f"spm_llama.{fname}.txt"), header, rows)
        spm_info[fname] = len(rows)
    n_fallback = sum(1 for b in corpus if is_utf8(b) and any(types[i] == T_BYTE for i in spm_enc(b.decode())))
    spm_info["lines_with_byte_fallback"] = n_fallback
    check_gguf(P("spm_llama.gguf"), {
        "general.architecture": ("STRING", ARCH),
        "tokenizer.ggml.model": ("STRING", "llama"),
        "tokenizer.ggml.tokens": (("ARRAY", "STRING"), tokens),
        "tokenizer.ggml.scores": (("ARRAY", "FLOAT32"), scores),
        "tokenizer.ggml.token_type": (("ARRAY", "INT32"), types),
        "tokenizer.ggml.bos_token_id": ("UINT32", 1),
        "tokenizer.ggml.eos_token_id": ("UINT32", 2),
        "tokenizer.ggml.unknown_token_id": ("UINT32", 0),
        "tokenizer.ggml.add_bos_token": ("BOOL", True),
        "tokenizer.ggml.add_eos_token": ("BOOL", False),
        "tokenizer.ggml.add_space_prefix": ("BOOL", True),
    })

    # ---- report -----------------------------------------------------------------------------------
    print(versions)
    print(f"corpus {len(corpus)} entries ({sum(not is_utf8(b) for b in corpus)} invalid UTF-8), "
          f"heldout {len(heldout)} ({sum(not is_utf8(b) for b in heldout)} invalid UTF-8)")
    for name, info in bpe_info.items():
        print(name, json.dumps(info, ensure_ascii=True))
    print("spm_llama", json.dumps(spm_info))
    for p in problems:
        print("PROBLEM:", p)
    total = 0
    for fn in sorted(os.listdir(out)):
        sz = os.path.getsize(P(fn))
        total += sz
        print(f"  {sz:9d}  {fn}")
    print(f"  {total:9d}  total")
    if problems:
        sys.exit("decode(encode(text)) != text for %d entries (see PROBLEM lines)" % len(problems))


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
