"""Dependency-restricted prompting: tell the model which APIs exist, then check it kept to them.

`api_context(packages, local_files, budget=...)` builds two prompt sections, "Available APIs"
(public functions and classes of installed packages, with signatures) and "Local functions"
(the same for the user's own files), within a token budget counted with tiktoken
(`agentwatch.instrumentation.tokens`). Its `allowed` set is the allow-list that `check-code`
(`Policy.allowed`, `--allow`) then enforces on the generated code.

The packages are imported to read their signatures: the caller names them, as with
`check-code --import`. The user's own files are only parsed, never imported.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentwatch.instrumentation import tokens
from agentwatch.instrumentation.codecheck.policy import Policy

APIS_HEADING = "## Available APIs"
LOCAL_HEADING = "## Local functions"


@dataclass(frozen=True)
class ApiContext:
    """The prompt sections, their token count, and the allow-list they imply."""

    text: str
    tokens: int
    allowed: frozenset[str]
    """Top-level modules the sections name: `Policy(allowed=...)` for check-code."""
    omitted: int
    """Entries left out to stay within the budget."""
    search_path: tuple[str, ...] = ()
    """The directories of the local files: where check-code finds them."""

    def policy(self, importable: Iterable[str] = (), search_path: Sequence[str] = ()) -> Policy:
        """A check-code policy allowing exactly these modules (and the standard library)."""
        paths = tuple(dict.fromkeys([*self.search_path, *search_path]))
        return Policy(self.allowed, frozenset(importable), paths)


def api_context(
    packages: Sequence[str] = (),
    local_files: Sequence[str | Path] = (),
    *,
    budget: int = 2000,
    model: str = "gpt-4o",
) -> ApiContext:
    """The "Available APIs" and "Local functions" sections, at most `budget` tokens of `model`.

    Entries are taken package by package, then file by file, in order, each one that still
    fits; a section with no entry that fits is left out, headings included.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, not {budget}")
    apis = [entry for package in packages for entry in package_entries(package)]
    sections = [
        (APIS_HEADING, "Use only these packages and the Python standard library.", apis),
        (LOCAL_HEADING, "Functions and classes of this project.", local_entries(local_files)),
    ]
    allowed = frozenset(p.partition(".")[0] for p in packages)
    allowed |= frozenset(Path(f).stem for f in local_files)
    # Entry by entry, with each line counted alone (cheap); the whole text is counted at the
    # end, and entries are dropped from the end while BPE merges across lines overshoot.
    kept: list[tuple[str, str, list[str]]] = []
    total = omitted = 0
    for heading, intro, entries in sections:
        chosen: list[str] = []
        head = _count(f"{heading}\n{intro}\n\n", model)
        for entry in entries:
            cost = _count(f"- {entry}\n", model) + (0 if chosen else head)
            if total + cost > budget:
                omitted += 1
                continue
            chosen.append(entry)
            total += cost
        kept.append((heading, intro, chosen))
    text = _render(kept)
    total = _count(text, model)
    while total > budget and any(chosen for _, _, chosen in kept):
        next(chosen for _, _, chosen in reversed(kept) if chosen).pop()
        omitted += 1
        text = _render(kept)
        total = _count(text, model)
    directories = tuple(dict.fromkeys(str(Path(f).resolve().parent) for f in local_files))
    return ApiContext(text, total, allowed, omitted, directories)


def package_entries(name: str) -> list[str]:
    """`module.name(signature)` for each public function and class of module `name`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(name)
    public = getattr(module, "__all__", None)
    names = list(public) if isinstance(public, list | tuple) else sorted(vars(module))
    out = []
    for attr in names:
        if not isinstance(attr, str) or attr.startswith("_"):
            continue
        obj = vars(module).get(attr)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
            out.append(f"{name}.{attr}{_signature(obj)}")
    return out


def local_entries(files: Sequence[str | Path]) -> list[str]:
    """The public top-level functions and classes of the user's files, from their source."""
    out = []
    for file in files:
        path = Path(file)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out += [f"{path.stem}.{entry}" for entry in _definitions(tree.body)]
    return out


def _definitions(body: list[ast.stmt]) -> Iterator[str]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
                yield f"{node.name}({ast.unparse(node.args)}){returns}"
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            init = next((n for n in node.body if _is_def(n, "__init__")), None)
            args = ""
            if isinstance(init, ast.FunctionDef | ast.AsyncFunctionDef):
                init.args.args = init.args.args[1:]  # a parsed copy of the file: not shared
                args = ast.unparse(init.args)
            yield f"{node.name}({args})"
            for method in _definitions(node.body):
                yield f"{node.name}.{_drop_self(method)}"


def _is_def(node: ast.stmt, name: str) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name


def _drop_self(entry: str) -> str:
    name, _, rest = entry.partition("(")
    for first in ("self, ", "self", "cls, ", "cls"):
        if rest.startswith(first):
            return f"{name}({rest[len(first) :]}"
    return entry


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _render(sections: list[tuple[str, str, list[str]]]) -> str:
    parts = []
    for heading, intro, entries in sections:
        if entries:
            parts.append("\n".join([heading, intro, *(f"- {entry}" for entry in entries)]))
    return "\n\n".join(parts) + ("\n" if parts else "")


def _count(text: str, model: str) -> int:
    return tokens.count_text(text, model).tokens
