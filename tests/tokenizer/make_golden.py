#!/usr/bin/env python3
"""Regenerates (or, with --check, verifies) the tokenizer and chat-template goldens of glmq.

Reference implementations: PyPI `tokenizers` (ids and decoding) and `jinja2` configured the way
transformers' apply_chat_template configures it (ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks and loopcontrols; transformers' tojson; raise_exception). Install with
`pip install tokenizers jinja2`. Exit code 77 means "skipped" (packages missing).

  make_golden.py --shared ../shared --out tests/tokenizer/golden          # rewrite the goldens
  make_golden.py --shared ../shared --out tests/tokenizer/golden --check  # compare, exit 1 on drift
"""
import argparse
import hashlib
import json
import os
import random
import struct
import sys

try:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from tokenizers import Tokenizer
except ImportError as e:  # the interop test skips cleanly without the reference packages
    print(f"skipping: {e}")
    sys.exit(77)

CHUNK_LINES = 4096
MINI = "models/glm-mini"


def fnv1a64(ids):
    """FNV-1a 64 over the ids as little-endian uint32: a compact, exact fingerprint of an id list."""
    h = 0xCBF29CE484222325
    for b in struct.pack(f"<{len(ids)}I", *ids):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def data_files(shared):
    root = os.path.join(shared, "data")
    out = []
    for dirpath, _, names in os.walk(root):
        for n in sorted(names):
            out.append(os.path.relpath(os.path.join(dirpath, n), shared))
    return sorted(out)


def file_golden(tok, shared, rel):
    raw = open(os.path.join(shared, rel), "rb").read()
    whole = tok.encode(raw.decode("utf-8", "replace")).ids
    lines = [l.decode("utf-8", "replace") for l in raw.split(b"\n")]
    chunk_hashes, total = [], 0
    for start in range(0, len(lines), CHUNK_LINES):
        encs = tok.encode_batch(lines[start:start + CHUNK_LINES])
        flat = []
        for e in encs:
            flat.extend(e.ids)
            flat.append(0xFFFFFFFF)  # line separator inside the fingerprint
            total += len(e.ids)
        chunk_hashes.append(fnv1a64(flat))
    return {
        "path": rel,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "whole_count": len(whole),
        "whole_hash": fnv1a64(whole),
        "whole_head": whole[:32],
        "lines": len(lines),
        "chunk_lines": CHUNK_LINES,
        "line_ids_total": total,
        "line_chunk_hashes": chunk_hashes,
    }


def adversarial_cases():
    """Deterministic hard inputs: emoji/ZWJ, CJK, combining marks, RTL, controls, invalid UTF-8,
    long runs, special tokens inside text, and random mixtures of all of them."""
    s = lambda t: t.encode("utf-8")
    fixed = [
        b"", b" ", b"\n", b"  \n\n \t", s("Hello, world!"), s("I'm you're we've they'll she'd IT'S"),
        s("👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇯🇵🇫🇷"), s("❤️‍🔥 and ZWJ\u200d alone \u200c\ufeff"),
        s("日本語のテキスト、中文文本。한국어 텍스트"), s("e\u0301 a\u0308 \u1100\u1161\u11a8 o\u0328\u0304 Z\u0336\u0335"),
        s("مرحبا بالعالم שלום עולם \u202bembedded\u202c"), bytes(range(0, 32)) + b"\x7f",
        s("\u0085\u00a0\u1680\u2000\u2028\u2029\u202f\u205f\u3000\u180e\u200b"),
        b"\xff\xfe invalid \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 trunc \xf0\x9f\x98",
        b"\x80\x80\x80 cont only", s(" " * 1000), s("\n" * 500), s("1234567890" * 50),
        s(" " * 37 + "x" + "\t" * 5 + "\r\n" * 7), s("<|user|>hi<|assistant|>there<|endoftext|>"),
        s("text<|user|>"), s("<|user|><|user|>  <think></think>"), s("<|use<|user|>r|> [gMASK]<sop>x"),
        s("  <tool_call>f<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>  "),
        s("def f(x):\n    return x ** 2  # comment\n\n\n\tpass\r\n"), s("ſ ß ﬁ Ǆ İ K Å"),
        s("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 ①②③ ¼ Ⅻ ١٢٣ ४५६"), s("a" * 3000), s("!@#$%^&*()_+-=[]{}|;':\",./<>?`~" * 10),
        s("mixed 123abc456 'S 'LL 'Re"), s("\u00e9" * 200 + "\U0001F600" * 100),
    ]
    rng = random.Random(20251126)
    alphabet = ["a", "Z", " ", "  ", "\n", "\t", "\r\n", "1", "23", "456", "'s", "'T", "é", "ü", "中", "文", "日",
                "😀", "👍🏽", "\u200d", "\u0301", "ا", "ש", "\u0000", "\u001b", "\u0085", "\u00a0", "\u3000",
                "<|user|>", "<think>", "[gMASK]", "<sop>", "!", "...", "--", "_", "Ġ", "Ċ", "ĠĠ"]
    mixed = []
    for _ in range(60):
        parts = [rng.choice(alphabet) for _ in range(rng.randint(1, 40))]
        b = "".join(parts).encode("utf-8")
        if rng.random() < 0.3:  # splice in raw bytes that break UTF-8
            pos = rng.randint(0, len(b))
            b = b[:pos] + bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 3))) + b[pos:]
        mixed.append(b)
    random_bytes = [bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 64))) for _ in range(20)]
    return fixed + mixed + random_bytes


def adversarial_golden(tok):
    out = []
    for b in adversarial_cases():
        text = b.decode("utf-8", "replace")
        ids = tok.encode(text).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        out.append({"input_hex": b.hex(), "ids": ids, "decoded_hex": decoded.encode("utf-8").hex(),
                    "roundtrip": decoded == text})
    return out


def make_env():
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City, e.g. 東京"},
                          "days": {"type": "integer", "minimum": 1}}, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "description": "Search the web \"quoted\" <b>",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                         "filters": {"type": "array", "items": {"type": "string"}}}}}, "strict": True}
DEFERRED = {"name": "lazy_tool", "description": "Loaded later", "defer_loading": True, "parameters": {}}
PLAIN = {"name": "calc", "description": "Evaluate 1.5e-7 * 2", "parameters": {"type": "object",
         "properties": {"expr": {"type": "string", "default": None}, "precision": {"type": "number", "default": 0.25}}}}


def conversations():
    sys_msg = {"role": "system", "content": "You are a helpful assistant."}
    u = lambda t: {"role": "user", "content": t}
    a = lambda t, **kw: dict({"role": "assistant", "content": t}, **kw)
    call = lambda name, args: {"type": "function", "function": {"name": name, "arguments": args}}
    convs = [
        ([u("Hello")], None, False, {}),
        ([u("Hello")], None, True, {}),
        ([sys_msg, u("Hi there")], None, True, {}),
        ([sys_msg, u("Q1"), a("A1"), u("Q2")], None, True, {}),
        ([u("Q1"), a("A1"), u("Q2"), a("A2")], None, False, {}),
        ([u("Weather?")], [WEATHER], True, {}),
        ([sys_msg, u("Weather in Paris?"), a("", tool_calls=[call("get_weather", {"city": "Paris", "days": 2})]),
          {"role": "tool", "content": "{\"temp\": 18, \"sky\": \"clear\"}"}, a("It is 18°C and clear.")],
         [WEATHER, SEARCH], False, {}),
        ([u("Two calls"), a("Let me check.", tool_calls=[call("get_weather", {"city": "東京"}),
                                                          call("search", {"query": "news", "filters": ["a", "b"]})]),
          {"role": "tool", "content": "sunny"}, {"role": "tool", "content": "headlines"}], [WEATHER, SEARCH], True, {}),
        ([u("Think"), a("The answer is 4.", reasoning_content="2+2 is 4.")], None, False, {}),
        ([u("Think"), a("<think>inline reasoning</think>\n\nThe answer.")], None, False, {}),
        ([u("Q1"), a("A1", reasoning_content="r1"), u("Q2"), a("A2", reasoning_content="r2")], None, False,
         {"clear_thinking": True}),
        ([u("Q1"), a("A1", reasoning_content="r1"), u("Q2")], None, True, {"clear_thinking": False}),
        ([u("Hi")], None, True, {"enable_thinking": False}),
        ([u("Hi")], None, True, {"enable_thinking": True}),
        ([u("Effort")], None, True, {"reasoning_effort": "low"}),
        ([u("Effort")], None, True, {"reasoning_effort": "high"}),
        ([u("Effort")], None, True, {"reasoning_effort": "medium"}),
        ([{"role": "user", "content": [{"type": "text", "text": "part one "}, {"type": "image"},
                                       {"type": "text", "text": "part two"}]}], None, True, {}),
        ([u("  padded content  \n"), a("   \n  spaced answer \n ")], None, False, {}),
        ([u("Tools without wrapper")], [PLAIN, DEFERRED], True, {}),
        ([u("x"), a("", tool_calls=[{"name": "calc", "arguments": {"expr": "1+1", "precision": 0.5,
                                                                    "nested": {"k": [1, None, True]}}}]),
          {"role": "observation", "content": "2"}], [PLAIN], True, {}),
        ([sys_msg, u("Unicode: 😀 café \u200d مرحبا"), a("Réponse: ✓")], None, True, {}),
        ([u("Q"), a(None, tool_calls=[call("search", {"query": "q \"quoted\" \\ back"})])], [SEARCH], False, {}),
        ([u("A"), u("B"), a("C"), {"role": "system", "content": "late system"}, u("D")], None, True, {}),
        ([], None, True, {}),
        ([u("empty assistant"), a("")], None, False, {}),
        ([u("numbers"), a("", tool_calls=[call("calc", {"expr": 3, "precision": 1e-5, "big": 1e16, "neg": -0.0})])],
         None, False, {}),
    ]
    return convs


def template_goldens(shared, env):
    glm5 = open(os.path.join(shared, "docs/glm5_chat_template.jinja"), encoding="utf-8").read()
    mini_cfg = json.load(open(os.path.join(shared, MINI, "tokenizer_config.json"), encoding="utf-8"))
    specials = {k: mini_cfg[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if mini_cfg.get(k)}
    out = []
    for name, source in (("glm5", glm5), ("glm-mini", mini_cfg["chat_template"])):
        tpl = env.from_string(source)
        for messages, tools, gen, extra in conversations():
            # What transformers passes: messages, tools, documents, add_generation_prompt, special tokens, kwargs.
            kwargs = dict(specials)
            kwargs.update(extra)
            rendered = tpl.render(messages=messages, tools=tools, documents=None, add_generation_prompt=gen, **kwargs)
            out.append({"template": name, "messages": messages, "tools": tools, "add_generation_prompt": gen,
                        "extra": extra, "expected": rendered})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    tok = Tokenizer.from_file(os.path.join(args.shared, MINI, "tokenizer.json"))
    goldens = {
        "tokenizer_files.json": {"tokenizer": MINI, "files": [file_golden(tok, args.shared, f) for f in data_files(args.shared)]},
        "tokenizer_adversarial.json": {"tokenizer": MINI, "cases": adversarial_golden(tok)},
        "chat_templates.json": {"cases": template_goldens(args.shared, make_env())},
    }
    drift = False
    for name, content in goldens.items():
        path = os.path.join(args.out, name)
        text = json.dumps(content, ensure_ascii=False, indent=1) + "\n"
        if args.check:
            old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
            if old != text:
                print(f"DRIFT: {path} differs from what tokenizers/jinja2 produce now")
                drift = True
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {path} ({len(text)} bytes)")
    sys.exit(1 if drift else 0)


if __name__ == "__main__":
    main()
