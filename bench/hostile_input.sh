#!/usr/bin/env bash
# Time and peak memory of `sieve ingest` on the hostile inputs of issue 8 (bounded work): HTML
# nested 1M <div>s deep (11 MB), one tag with 1M attributes, a 94 MB JSON line of nested arrays,
# a 200 MB JSON line with no spaces, a 50 MB .txt with no spaces. Lexical ingest only (no model:
# HF_HOME points at an empty folder). Prints one line per input: exit code, wall seconds, peak RSS
# in MB, and the note.
# One word of 200 MB peaked at 2.3 GB (11x: the chunker listed every code point's offset, 8 bytes
# each); chunked in windows it peaks at ~600 MB (3x: the record, its text, the chunks).
#   bench/hostile_input.sh [path/to/sieve]     (default build/sieve)
set -euo pipefail
sieve=$(realpath "${1:-build/sieve}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HF_HOME="$work/hf" SIEVE_OFFLINE=1
mkdir -p "$work/in" "$HF_HOME"
python3 - "$work/in" <<'PY'
import sys, os
d = sys.argv[1]
with open(os.path.join(d, "deep.html"), "w") as f:
    f.write("<div>" * 1_000_000 + "deep text" + "</div>" * 1_000_000)
with open(os.path.join(d, "attrs.html"), "w") as f:
    f.write("<p" + "".join(f" a{i}=x" for i in range(1_000_000)) + ">visible</p>")
n = 47_000_000
with open(os.path.join(d, "nested.jsonl"), "w") as f:
    f.write('{"_id": "a", "text": "t", "junk": ' + "[" * n + "]" * n + "}\n")
with open(os.path.join(d, "long.jsonl"), "w") as f:
    f.write('{"_id": "a", "text": "' + "x" * 200_000_000 + '"}\n')
with open(os.path.join(d, "nospace.txt"), "w") as f:
    f.write("y" * 50_000_000)
PY
for f in deep.html attrs.html nested.jsonl long.jsonl nospace.txt; do
  rm -rf "$work/idx"
  set +e
  /usr/bin/time -f "%e %M" -o "$work/time" "$sieve" --index "$work/idx" ingest --max-file-mb 300 \
    "$work/in/$f" >"$work/out" 2>"$work/err"
  rc=$?
  set -e
  read -r seconds kb <"$work/time"
  note=$(grep -h -m1 -E "too deep|attributes|error|:" "$work/err" "$work/out" | head -1 || true)
  printf '%-14s %5s MB  exit %d  %6.2f s  %6d MB peak  %s\n' "$f" \
    "$(($(stat -c %s "$work/in/$f") / 1000000))" "$rc" "$seconds" "$((kb / 1024))" "$note"
done
