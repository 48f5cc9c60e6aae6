"""Python code blocks of a Markdown text (an LLM response), for `check_source`."""

from __future__ import annotations

import re

# A fenced block (CommonMark: 3+ backticks or tildes, closed by a fence of the same character at
# least as long), whose info string names Python. Unlabelled blocks are left out: an LLM labels
# its Python, and shell sessions or JSON in a bare fence would only be unparsable noise.
_FENCE = re.compile(
    r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n"
    r"(?P<body>.*?)"
    r"(?:^[ ]{0,3}(?P=fence)[`~]*[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_PYTHON = frozenset({"python", "python3", "py", "py3"})


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python (or py, python3) fenced blocks of `text`, in order."""
    blocks = []
    for match in _FENCE.finditer(text):
        words = match.group("info").strip().split()
        if not words or words[0].lower().strip("{.}") not in _PYTHON:
            continue
        indent = len(match.group("indent"))
        lines = match.group("body").splitlines(keepends=True)
        # CommonMark removes up to the opening fence's indentation from each content line.
        blocks.append("".join(_dedent(line, indent) for line in lines))
    return blocks


def _dedent(line: str, indent: int) -> str:
    stripped = len(line) - len(line.lstrip(" "))
    return line[min(stripped, indent) :]
