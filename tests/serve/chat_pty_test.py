#!/usr/bin/env python3
"""glmq chat in a pseudo-terminal: two turns, a reset, and exit — as a person at a terminal would use it.

Checks that each turn answers, that the second turn reuses the cache of the first (its stats line reports
cached prompt tokens), that /reset starts over (nothing cached), and that /exit leaves with status 0.
Usage: chat_pty_test.py GLMQ_BINARY MODEL_DIR
"""
import os
import pty
import re
import select
import sys
import time


def main():
    glmq, model = sys.argv[1], sys.argv[2]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(glmq, [glmq, "chat", "--model", model, "--threads", "1", "--max-tokens", "12", "--ctx", "512"])
    out = b""

    def read_until(pattern, timeout=120):
        nonlocal out
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, out)
            if m:
                consumed = out[: m.end()]
                out = out[m.end():]
                return consumed
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        raise AssertionError(f"timed out waiting for {pattern!r}; got {out[-500:]!r}")

    def say(line):
        os.write(fd, line.encode() + b"\n")

    read_until(rb"> ")
    say("Write a Python function that adds two numbers.")
    first = read_until(rb"\[prompt (\d+) tokens \((\d+) cached\)[^\]]*\]")
    m = re.search(rb"\[prompt (\d+) tokens \((\d+) cached\)", first)
    assert m and int(m.group(2)) == 0, first
    read_until(rb"> ")
    say("Now make it subtract.")
    second = read_until(rb"\[prompt (\d+) tokens \((\d+) cached\)[^\]]*\]")
    m = re.search(rb"\[prompt (\d+) tokens \((\d+) cached\)", second)
    assert m and int(m.group(2)) > 0, f"second turn reused no cache: {second!r}"
    assert int(m.group(1)) > int(m.group(2))
    read_until(rb"> ")
    say("/reset")
    read_until(rb"conversation cleared")
    read_until(rb"> ")
    say("Hello again.")
    third = read_until(rb"\[prompt (\d+) tokens \((\d+) cached\)[^\]]*\]")
    m = re.search(rb"\[prompt (\d+) tokens \((\d+) cached\)", third)
    # After a reset the template's fixed prefix may still match the cache; the old conversation may not.
    assert m and int(m.group(2)) < int(m.group(1)), third
    read_until(rb"> ")
    say("/exit")
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    print("chat terminal session: 3 turns, cache reused across turns, /reset and /exit work")


if __name__ == "__main__":
    main()
