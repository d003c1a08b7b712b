#!/usr/bin/env python3
"""Drives `glmq serve` with the official openai Python client, the way applications and agents talk to it.

Covers: models, chat (streamed and not, equal), logprobs, JSON mode, the reasoning split of a GLM-5 template that opens
<think> in the prompt (thinking on and off), a tool-call round trip (forced call → tool_calls with JSON
arguments, streamed as deltas; the tool's answer back through the template), completions, and errors
surfacing as the client's exception types.
Usage: openai_client_test.py GLMQ_BINARY MODEL_DIR GLM5_TEMPLATE   (exit 77 when the openai package is missing)
"""
import json
import re
import subprocess
import sys

try:
    import openai
except ImportError:
    print("openai is not installed (pip install -r tests/interop/requirements.txt): skipped")
    sys.exit(77)


def start_server(glmq, model, template):
    proc = subprocess.Popen(
        [glmq, "serve", "--model", model, "--port", "0", "--threads", "1", "--parallel", "2", "--ctx", "1024",
         "--chat-template-file", template, "--alias", "glm-mini"],
        stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError("glmq serve exited before listening")


def main():
    glmq, model, template = sys.argv[1:4]
    proc, port = start_server(glmq, model, template)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
        run_checks(client)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("openai client: all checks passed")


def extra(obj, name):
    return (obj.model_extra or {}).get(name) if hasattr(obj, "model_extra") else getattr(obj, name, None)


def run_checks(client):
    assert [m.id for m in client.models.list().data] == ["glm-mini"]

    user = [{"role": "system", "content": "You are a Python expert."},
            {"role": "user", "content": "Write a function that reverses a list."}]
    no_think = {"chat_template_kwargs": {"enable_thinking": False}}

    # Chat, thinking off: the answer is content.
    r = client.chat.completions.create(model="glm-mini", messages=user, max_tokens=24, temperature=0, extra_body=no_think)
    msg = r.choices[0].message
    assert msg.role == "assistant" and msg.content, r
    assert extra(msg, "reasoning_content") is None, msg
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 24

    # Streaming gives the same text, then usage.
    chunks = list(client.chat.completions.create(model="glm-mini", messages=user, max_tokens=24, temperature=0, stream=True,
                                                  stream_options={"include_usage": True}, extra_body=no_think))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == msg.content, (text, msg.content)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == r.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens

    # Logprobs.
    r = client.chat.completions.create(model="glm-mini", messages=user, max_tokens=6, temperature=0, logprobs=True,
                                       top_logprobs=2, extra_body=no_think)
    lp = r.choices[0].logprobs.content
    assert len(lp) >= 1 and all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in lp), lp
    assert lp[0].top_logprobs[0].logprob >= lp[0].top_logprobs[1].logprob

    # Reasoning: the template opens <think>; without </think> in the output it all stays reasoning.
    r = client.chat.completions.create(model="glm-mini", messages=user, max_tokens=16, temperature=0)
    msg = r.choices[0].message
    assert extra(msg, "reasoning_content"), msg
    assert not msg.content, msg
    streamed = "".join(extra(c.choices[0].delta, "reasoning_content") or ""
                       for c in client.chat.completions.create(model="glm-mini", messages=user, max_tokens=16, temperature=0,
                                                               stream=True) if c.choices)
    assert streamed == extra(msg, "reasoning_content"), (streamed, msg)

    # Tool call round trip.
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    forced = {"type": "function", "function": {"name": "get_weather"}}
    r = client.chat.completions.create(model="glm-mini", messages=ask, tools=tools, tool_choice=forced, max_tokens=12, temperature=0)
    calls = r.choices[0].message.tool_calls
    assert calls and calls[0].type == "function" and calls[0].function.name.startswith("get_weather"), r
    args = json.loads(calls[0].function.arguments)
    assert isinstance(args, dict), args
    # Streamed, the call arrives as deltas that add up to the same call.
    name, arguments, ids = "", "", set()
    for c in client.chat.completions.create(model="glm-mini", messages=ask, tools=tools, tool_choice=forced, max_tokens=12,
                                            temperature=0, stream=True):
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            assert d.index == 0
            if d.id:
                ids.add(d.id)
            if d.function and d.function.name:
                name += d.function.name
            if d.function and d.function.arguments:
                arguments += d.function.arguments
    assert name == calls[0].function.name and json.loads(arguments) == args and len(ids) == 1, (name, arguments, ids)
    # The tool's answer goes back through the template.
    follow = ask + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[0].id, "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 24 C"}]
    r = client.chat.completions.create(model="glm-mini", messages=follow, tools=tools, max_tokens=8, temperature=0)
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls"), r
    assert r.usage.prompt_tokens > 20

    # JSON mode: the answer is a JSON object (or, cut off by max_tokens, the start of one).
    r = client.chat.completions.create(model="glm-mini", messages=[{"role": "user", "content": "Describe the os module as JSON."}],
                                       response_format={"type": "json_object"}, max_tokens=64, temperature=0)
    content = r.choices[0].message.content
    assert content.startswith("{"), content
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict), content

    # Completions.
    r = client.completions.create(model="glm-mini", prompt="def add(a, b):\n", max_tokens=12, temperature=0)
    assert r.choices[0].text and r.object == "text_completion", r
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="glm-mini", prompt="def add(a, b):\n", max_tokens=12, temperature=0, stream=True) if c.choices)
    assert streamed == r.choices[0].text, (streamed, r.choices[0].text)

    # Errors come back as the client's exceptions.
    for bad in ({"messages": []}, {"messages": user, "max_tokens": 10 ** 9}, {"messages": user, "temperature": 9},
                {"messages": [{"role": "user", "content": " ".join(f"word{i}" for i in range(3000))}]}):
        try:
            client.chat.completions.create(model="glm-mini", **bad)
            raise AssertionError(f"accepted {bad}")
        except openai.BadRequestError as e:
            assert e.status_code == 400 and e.body and "message" in e.body, e


if __name__ == "__main__":
    main()
