"""The llama-cpp-python versions this instrumentation supports.

0.2.0 is the first release with `Llama.create_completion` and `create_chat_completion` in the
shape wrapped here (OpenAI-shaped dicts, `stream=True` generators, chat handlers calling
`create_completion`); 0.3.x is the newest. llama-cpp-python ships as an sdist that compiles
llama.cpp, too slow to build in this project's CI: the tests run against a stand-in mirroring
0.3's `Llama` interface.
"""

from __future__ import annotations

_instruments = ("llama-cpp-python >= 0.2.0, < 1",)
