#!/usr/bin/env python3
"""Judged questions over Debian's own documentation, in the default offline mode.

Builds an index of /usr/share/common-licenses, /usr/share/doc and a few man pages with the given
sieve binary (no models: HF_HOME points at an empty folder, so retrieval is lexical and the
answer extractive), asks every question of questions.jsonl and counts, per question, whether the
answer text (case and whitespace insensitive) is in a cited passage and in the answer.

  eval/debian/run.py [--sieve build/sieve] [--index DIR] [--keep]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MAN_PAGES = ["ls", "grep", "tar", "cp", "find", "sort", "gzip", "xz", "sed", "ssh", "git", "curl"]


def norm(text):
    return re.sub(r"\s+", " ", text).strip().lower()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sieve", default=os.path.join(HERE, "..", "..", "build", "sieve"))
    parser.add_argument("--index", help="reuse or keep this index folder")
    parser.add_argument("--questions", default=os.path.join(HERE, "questions.jsonl"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="sieve-debian-eval-")
    env = dict(os.environ, HF_HOME=os.path.join(work, "hf"), HOME=work)
    index = args.index or os.path.join(work, "index")
    paths = ["/usr/share/common-licenses", "/usr/share/doc"]
    paths += [f"/usr/share/man/man1/{name}.1.gz" for name in MAN_PAGES]
    start = time.time()
    ingest = subprocess.run([args.sieve, "--index", index, "--json", "ingest", *paths],
                            env=env, capture_output=True, text=True)
    seconds = time.time() - start
    try:
        report = json.loads(ingest.stdout)
        print(f"ingest: exit {ingest.returncode}, {report.get('files')} files, "
              f"{report.get('bytes')} bytes, {seconds:.1f} s", file=sys.stderr)
    except json.JSONDecodeError:
        print(f"ingest: exit {ingest.returncode}: {ingest.stderr[-500:]}", file=sys.stderr)

    questions = [json.loads(line) for line in open(args.questions) if line.strip()]
    cited = answered = 0
    for q in questions:
        out = subprocess.run([args.sieve, "--index", index, "--json", "ask", q["question"]],
                             env=env, capture_output=True, text=True)
        try:
            r = json.loads(out.stdout)
        except json.JSONDecodeError:
            print(f"{q['id']}: ask failed: {out.stderr.strip()[:200]}")
            continue
        want = norm(q["answer"])
        in_cited = any(want in norm(c["text"]) for c in r.get("citations", []))
        in_answer = want in norm(r.get("answer", ""))
        cited += in_cited
        answered += in_answer
        top = r["citations"][0]["path"] if r.get("citations") else "-"
        print(f"{q['id']:16} cited={int(in_cited)} answer={int(in_answer)}  first citation: {top}")
    print(f"answer in a cited passage: {cited}/{len(questions)}; in the answer text: "
          f"{answered}/{len(questions)}")


if __name__ == "__main__":
    main()
