"""The library entry points: check a source string or a file."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from agentwatch.instrumentation.codecheck.checker import check_tree
from agentwatch.instrumentation.codecheck.findings import Finding
from agentwatch.instrumentation.codecheck.policy import Policy


def check_source(
    source: str, policy: Policy | None = None, *, filename: str = "<source>"
) -> list[Finding]:
    """The findings of Python `source`, sorted by position; the code is never run.

    Raises SyntaxError when `source` does not parse (null bytes included).
    """
    try:
        tree = ast.parse(source, filename)
    except ValueError as exc:  # "source code string cannot contain null bytes" (3.11)
        raise SyntaxError(str(exc)) from None
    return check_tree(tree, policy)


def check_file(path: str | os.PathLike[str], policy: Policy | None = None) -> list[Finding]:
    """The findings of the Python file at `path`.

    The file's own directory, and the root of the package it is in, join the policy's search
    path: the modules next to it are its own, never flagged. Raises OSError when the file cannot
    be read, SyntaxError (UnicodeDecodeError included, a ValueError) when it does not parse.
    """
    file = Path(path)
    source = file.read_bytes()
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SyntaxError(f"{file}: not UTF-8: {exc}") from None
    policy = policy or Policy()
    extra = tuple(p for p in _own_roots(file) if p not in policy.search_path)
    policy = Policy(policy.allowed, policy.importable, policy.search_path + extra)
    return check_source(text, policy, filename=str(file))


def _own_roots(file: Path) -> list[str]:
    """The file's directory and, if it is inside a package, the directory holding that package."""
    directory = file.resolve().parent
    roots = [str(directory)]
    top = directory
    while (top / "__init__.py").exists() and top.parent != top:
        top = top.parent
    if top != directory:
        roots.append(str(top))
    return roots
