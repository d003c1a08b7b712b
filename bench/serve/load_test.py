#!/usr/bin/env python3
"""Bounded load test of `glmq serve` over loopback (standard library only).

Starts the server, then runs rounds of requests from C concurrent clients (half of them streaming, max_tokens
varied), and reports: failed requests, requests/s, p50/p99 latency, time to first token of streamed requests,
aggregate generated tokens/s, and the server's resident memory after each round (it must not grow from round
to round). Before the rounds, the same requests one at a time give the single-stream tokens/s.

Usage: load_test.py GLMQ MODEL_DIR [--clients 32] [--requests 256] [--rounds 3] [--parallel 8] [--threads 2]
                    [--single 8] [--temperature 0]
"""
import argparse
import http.client
import json
import random
import re
import statistics
import subprocess
import threading
import time

PROMPTS = [
    "Write a Python function that sorts a list of tuples by the second item.",
    "What does the os.path module do?",
    "Explain list comprehensions with an example.",
    "How do I read a CSV file in Python?",
    "What is the difference between a list and a tuple?",
    "Show how to use a context manager.",
    "How do I handle exceptions in Python?",
    "Write a generator that yields Fibonacci numbers.",
]


def start(glmq, model, parallel, threads, queue, ctx):
    proc = subprocess.Popen([glmq, "serve", "--model", model, "--port", "0", "--parallel", str(parallel), "--threads", str(threads),
                             "--queue", str(queue), "--ctx", str(ctx)], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError("server did not start")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def one_request(port, body):
    """Returns (ok, latency_s, ttft_s or None, completion_tokens)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            resp.read()
            return False, time.perf_counter() - t0, None, 0
        if not body.get("stream"):
            data = json.loads(resp.read())
            return True, time.perf_counter() - t0, None, data["usage"]["completion_tokens"]
        ttft, tokens, done, buffer = None, 0, False, b""
        while True:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
            if not chunk:
                break
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                payload = event[len(b"data: "):]
                if payload == b"[DONE]":
                    done = True
                    continue
                j = json.loads(payload)
                if j.get("usage"):
                    tokens = j["usage"]["completion_tokens"]
                elif ttft is None and j["choices"] and j["choices"][0]["delta"].get("content"):
                    ttft = time.perf_counter() - t0
        return done, time.perf_counter() - t0, ttft, tokens
    except Exception:
        return False, time.perf_counter() - t0, None, 0
    finally:
        conn.close()


def make_bodies(n, seed, temperature):
    rng = random.Random(seed)
    bodies = []
    for i in range(n):
        stream = i % 2 == 1
        body = {"messages": [{"role": "user", "content": rng.choice(PROMPTS)}], "max_tokens": rng.randint(8, 48),
                "temperature": temperature, "seed": i, "ignore_eos": True, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        bodies.append(body)
    return bodies


def run(port, bodies, clients):
    results, lock, next_index = [], threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                if next_index[0] >= len(bodies):
                    return
                body = bodies[next_index[0]]
                next_index[0] += 1
            r = one_request(port, body)
            with lock:
                results.append(r)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def summarize(name, results, wall):
    ok = [r for r in results if r[0]]
    lat = sorted(r[1] for r in ok)
    ttft = sorted(r[2] for r in ok if r[2] is not None)
    tokens = sum(r[3] for r in ok)
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
    line = (f"{name}: {len(results)} requests, {len(results) - len(ok)} failed, {len(ok) / wall:.2f} req/s, "
            f"latency p50 {pct(lat, 0.5):.2f} s p99 {pct(lat, 0.99):.2f} s, "
            f"TTFT p50 {pct(ttft, 0.5):.2f} s, {tokens} tokens in {wall:.1f} s = {tokens / wall:.1f} tokens/s")
    print(line, flush=True)
    return len(results) - len(ok), tokens / wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("glmq")
    ap.add_argument("model")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--single", type=int, default=8, help="requests for the single-stream baseline")
    ap.add_argument("--temperature", type=float, default=0.0)
    args = ap.parse_args()
    proc, port = start(args.glmq, args.model, args.parallel, args.threads, queue=args.clients, ctx=512)
    failed = 0
    try:
        print(f"server: --parallel {args.parallel} --threads {args.threads}; RSS at start {rss_mib(proc.pid):.1f} MiB", flush=True)
        results, wall = run(port, make_bodies(args.single, 99, args.temperature), 1)
        failed += summarize("single stream (1 client)", results, wall)[0]
        rss = []
        for k in range(args.rounds):
            results, wall = run(port, make_bodies(args.requests, k, args.temperature), args.clients)
            failed += summarize(f"round {k + 1} ({args.clients} clients)", results, wall)[0]
            rss.append(rss_mib(proc.pid))
            print(f"  server RSS after round {k + 1}: {rss[-1]:.1f} MiB", flush=True)
        growth = rss[-1] - rss[0] if len(rss) > 1 else 0.0
        print(f"RSS growth from round 1 to round {len(rss)}: {growth:+.1f} MiB", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    print(f"{failed} failed requests in total")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
