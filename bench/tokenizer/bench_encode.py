#!/usr/bin/env python3
"""Encode throughput, glmq vs HF tokenizers, single thread, same tokenizer.json and text.

  python3 bench/tokenizer/bench_encode.py --glmq build/glmq --model ../shared/models/glm-mini \
      --text ../shared/data/wikitext-2-raw/wiki.test.raw

HF: Tokenizer.encode(text) on the whole file with RAYON_NUM_THREADS=1 (best of N runs, load time
excluded). glmq: `glmq tokenize --file` (best of N runs) minus the best time of the same command
on an empty file, so tokenizer.json loading and process start are excluded too. Both outputs are
checked to be identical before any number is printed.
"""
import argparse
import os
import subprocess
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402  (the variables above must be set first)


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glmq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    raw = open(a.text, "rb").read()
    text = raw.decode("utf-8", "replace")
    mb = len(raw) / 1e6

    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    hf_ids = tok.encode(text).ids
    hf_s = best_of(a.runs, lambda: tok.encode(text))

    cmd = [a.glmq, "tokenize", "--model", a.model, "--file", a.text]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    glmq_ids = [int(x) for x in out.split(",")] if out else []
    assert glmq_ids == hf_ids, "glmq and HF ids differ"
    with tempfile.NamedTemporaryFile() as empty:
        base_cmd = [a.glmq, "tokenize", "--model", a.model, "--file", empty.name]
        base_s = best_of(a.runs, lambda: subprocess.run(base_cmd, check=True, capture_output=True))
    glmq_s = best_of(a.runs, lambda: subprocess.run(cmd, check=True, capture_output=True)) - base_s

    print(f"text: {a.text} ({len(raw)} bytes, {len(hf_ids)} tokens, ids identical)")
    print(f"HF tokenizers {__import__('tokenizers').__version__} (1 thread): {hf_s*1e3:8.1f} ms  {mb/hf_s:7.2f} MB/s")
    print(f"glmq tokenize (1 thread):          {glmq_s*1e3:8.1f} ms  {mb/glmq_s:7.2f} MB/s  "
          f"(load+start {base_s*1e3:.1f} ms excluded)")
    print(f"speedup: {hf_s/glmq_s:.2f}x")


if __name__ == "__main__":
    main()
