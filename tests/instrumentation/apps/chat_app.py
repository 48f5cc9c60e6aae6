"""A small application making OpenAI calls against the fake API, for subprocess tests.

`python -m tests.instrumentation.apps.chat_app [--instrument]` makes one chat completion and
one streamed chat completion, and prints what the caller received as JSON. With
`--instrument` it calls `agentwatch.instrument()` first and `agentwatch.uninstrument()` last;
without it, the process is instrumented from outside (`opentelemetry-instrument`) or not at all.
"""

from __future__ import annotations

import json
import sys

from tests.instrumentation.openai import fakeapi as fake


def main(argv: list[str]) -> int:
    if "--instrument" in argv:
        import agentwatch

        agentwatch.instrument()
    with fake.client(fake.fixed(lambda: fake.json_response(fake.completion("Hello!")))) as c:
        reply = c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES)
    chunks = fake.text_chunks(["Hel", "lo"], with_usage=fake.usage(prompt=9, completion=2))
    with fake.client(fake.fixed(lambda: fake.sse_response(fake.sse(chunks)))) as c:
        stream = c.chat.completions.create(
            model=fake.MODEL,
            messages=fake.MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces = [ch.choices[0].delta.content for ch in stream if ch.choices]
    json.dump({"reply": reply.choices[0].message.content, "streamed": pieces}, sys.stdout)
    if "--instrument" in argv:
        agentwatch.uninstrument()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
