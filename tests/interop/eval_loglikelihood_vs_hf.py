#!/usr/bin/env python3
"""Per-request log-likelihoods of `glmq eval` equal HF transformers' (float32, eager attention, CPU).

Runs `glmq eval --log-samples` on the first documents of hellaswag, piqa and winogrande, then rebuilds every
request independently: lm-eval's _encode_pair with the HF tokenizer (no special tokens), the model's logits on
context + continuation[:-1], log-softmax in float64, summed over the continuation. Token ids must be equal and
log-likelihoods within 1e-3. Exit 77 (skipped) when torch or transformers is missing.
"""
import argparse
import json
import os
import subprocess
import sys

TOLERANCE = 1e-3


def encode_pair(tokenizer, context, continuation):
    # lm_eval.models.huggingface.HFLM._encode_pair
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation, add_special_tokens=False)
    ctx = tokenizer.encode(context, add_special_tokens=False)
    return ctx, whole[len(ctx):]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glmq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--limit", type=int, default=4)
    args = ap.parse_args()
    try:
        import torch
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    except ImportError as e:
        print(f"skipped: {e} (pip install -r tests/interop/requirements.txt)")
        return 77

    samples_path = os.path.join(args.work, "eval_interop_samples.jsonl")
    cmd = [args.glmq, "eval", "--model", args.model, "--data-dir", args.data_dir, "--tasks",
           "hellaswag,piqa,winogrande", "--limit", str(args.limit), "--log-samples", samples_path, "--threads", "1",
           # The float32 cache is the reference path; glmq eval's default float16 cache moves sums by ~1e-2.
           "--kv-bits", "32", "--indexer-kv-bits", "32"]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    with open(samples_path, encoding="utf-8") as f:
        samples = [json.loads(line) for line in f]
    assert len(samples) == args.limit * (4 + 2 + 2), f"{len(samples)} requests logged"

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(args.model, "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    worst, failures = 0.0, 0
    for s in samples:
        ctx, cont = encode_pair(tokenizer, s["context"], s["continuation"])
        where = f'{s["task"]} doc {s["doc"]} choice {s["choice"]}'
        if ctx != s["context_tokens"] or cont != s["continuation_tokens"]:
            print(f"FAIL {where}: token ids differ\n  hf   {ctx} | {cont}\n  glmq {s['context_tokens']} | {s['continuation_tokens']}")
            failures += 1
            continue
        inp = torch.tensor([(ctx + cont)[:-1]])
        with torch.no_grad():
            logits = model(input_ids=inp).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        rows = logp[len(ctx) - 1:]
        ll = sum(rows[j, t].item() for j, t in enumerate(cont))
        greedy = all(rows[j].argmax().item() == t for j, t in enumerate(cont))
        diff = abs(ll - s["loglikelihood"])
        worst = max(worst, diff)
        ok = diff <= TOLERANCE and greedy == s["is_greedy"]
        print(f'{"ok  " if ok else "FAIL"} {where}: hf {ll:.6f} glmq {s["loglikelihood"]:.6f} diff {diff:.2e}'
              f' greedy hf {greedy} glmq {s["is_greedy"]}')
        failures += 0 if ok else 1
    print(f"{len(samples)} requests, worst |Δ log-likelihood| {worst:.2e}, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
