"""HF transformers' perplexity of a checkpoint with llama-perplexity's method: the text tokenized whole with the
model's tokenizer.json (no BOS), the first CHUNKS disjoint chunks of CTX tokens, each chunk one forward pass, the
predictions of its second half scored. bench/peer/run.sh uses it as the exact-arithmetic reference of the bf16 rows
(float32 compute on the bf16 weights, eager attention), against which both engines' bf16 runs are compared.

    python3 bench/peer/hf_perplexity.py MODEL_DIR TEXT CTX CHUNKS

Prints one line: `ppl PPL predictions N` (the format bench/peer/table.py reads)."""
import math
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    model_dir, text_path, ctx, chunks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(text_path, encoding="utf-8") as f:
        ids = Tokenizer.from_file(f"{model_dir}/tokenizer.json").encode(f.read(), add_special_tokens=False).ids
    if len(ids) < ctx * chunks:
        sys.exit(f"{text_path}: {len(ids)} tokens, {chunks} chunks of {ctx} need {ctx * chunks}")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    first = ctx // 2
    nll, n = 0.0, 0
    with torch.no_grad():
        for c in range(chunks):
            x = torch.tensor([ids[c * ctx:(c + 1) * ctx]])
            logp = torch.log_softmax(model(x).logits[0].double(), dim=-1)
            targets = x[0, first + 1:]
            nll -= logp[first:ctx - 1].gather(1, targets[:, None]).sum().item()
            n += targets.numel()
            print(f"chunk {c + 1}/{chunks}: ppl {math.exp(nll / n):.4f}", file=sys.stderr, flush=True)
    print(f"ppl {math.exp(nll / n):.6f} predictions {n}")


if __name__ == "__main__":
    main()
