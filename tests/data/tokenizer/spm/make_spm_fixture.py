#!/usr/bin/python3
"""Builds the SentencePiece fixture of the tokenizer tests (run by hand; the tests only read the
outputs, they never need Python).

  /usr/bin/python3 tests/data/tokenizer/spm/make_spm_fixture.py

1. Trains a small unigram model with Debian's `spm_train` on the Cranfield document texts
   (../shared/data/cranfield/corpus.jsonl), written as `sentencepiece.bpe.model` like the file
   of an XLM-RoBERTa folder (bge-m3 / bge-reranker-base name theirs the same, also unigram).
   Skipped when the model already exists, so the committed model stays as it is.
2. Records python3-sentencepiece's pieces and ids for a set of texts in `spm_golden.json`.
   The C++ test checks its libsentencepiece path against these ids and the XLM-R id mapping.
"""
import json
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
CORPUS = os.path.join(ROOT, "..", "shared", "data", "cranfield", "corpus.jsonl")
MODEL = os.path.join(HERE, "sentencepiece.bpe.model")

TEXTS = [
    "",
    "the boundary layer on a flat plate",
    "What similarity laws must be obeyed when constructing aeroelastic models of heated high "
    "speed aircraft?",
    "  leading   and trailing spaces  ",
    "Tabs\tand\nnewlines\r\nmixed",
    "UPPER case and MiXeD case words",
    "numbers 1,234.56 and 3.14159 and 2026-11-25",
    "café naïve Ångström Dvořák",
    "full-width ＡＢＣ１２３ and ligature ﬁne (NFKC)",
    "日本語のテキストと中文文本",
    "emoji 🙂 and symbols ∮ ≠ ∞",
    "supersonic hypersonic transonic subsonic",
    "x" * 300,
    "zero\u200bwidth and soft\u00adhyphen",
]


def train():
    with tempfile.TemporaryDirectory() as tmp:
        text_path = os.path.join(tmp, "cranfield.txt")
        with open(CORPUS, encoding="utf-8") as src, open(text_path, "w", encoding="utf-8") as out:
            for line in src:
                doc = json.loads(line)
                text = doc.get("text", "").strip()
                if text:
                    out.write(text + "\n")
        prefix = os.path.join(tmp, "spm")
        subprocess.run(
            ["spm_train", f"--input={text_path}", f"--model_prefix={prefix}",
             "--model_type=unigram", "--vocab_size=1000", "--character_coverage=1.0",
             "--num_threads=1", "--minloglevel=1"],
            check=True)
        os.replace(prefix + ".model", MODEL)


def main():
    if not os.path.exists(MODEL):
        train()
    sp = spm.SentencePieceProcessor(model_file=MODEL)
    cases = []
    for text in TEXTS:
        cases.append({
            "text": text,
            "spm_ids": sp.encode(text, out_type=int),
            "pieces": sp.encode(text, out_type=str),
        })
    golden = {
        "model": "sentencepiece.bpe.model",
        "spm_piece_count": sp.get_piece_size(),
        "spm_unk_id": sp.unk_id(),
        "generator": "python3-sentencepiece " + spm.__version__,
        "cases": cases,
    }
    with open(os.path.join(HERE, "spm_golden.json"), "w", encoding="utf-8") as out:
        json.dump(golden, out, ensure_ascii=True, indent=1)
        out.write("\n")
    print(f"{MODEL}: {os.path.getsize(MODEL)} bytes, {len(cases)} golden cases", file=sys.stderr)


if __name__ == "__main__":
    main()
