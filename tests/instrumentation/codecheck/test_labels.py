"""The labelled set: every label verified on this interpreter; precision and recall measured."""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import inspect
import symtable
from typing import Any

import pytest

from agentwatch.instrumentation.codecheck import check_source
from tests.instrumentation.codecheck.snippets import ALL, CORRECT, HALLUCINATED, Label, Snippet

MIN_PRECISION, MIN_RECALL = 0.95, 0.85
KINDS = ("module", "attribute", "keyword", "name")


def _resolve(dotted: str, source: str) -> Any:
    """The object `dotted` names: a builtin, a module attribute chain, or a snippet's own def."""
    parts = dotted.split(".")
    if hasattr(builtins, parts[0]):
        obj: Any = getattr(builtins, parts[0])
    elif importlib.util.find_spec(parts[0]) is not None:
        obj = importlib.import_module(parts[0])
    else:  # a function the snippet defines: run its `def` statements only
        tree = ast.parse(source)
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        namespace: dict[str, Any] = {}
        exec(compile(ast.Module(defs, []), "<defs>", "exec"), namespace)
        obj = namespace[parts[0]]
    for i, part in enumerate(parts[1:], start=2):
        prefix = ".".join(parts[:i])
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(prefix)
    return obj


def _module_missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True  # a missing parent package


def _attribute_missing(name: str) -> bool:
    base, _, attr = name.rpartition(".")
    owner = _resolve(base, "")
    if hasattr(owner, attr):
        return False
    if inspect.ismodule(owner):
        return _module_missing(name)
    return True


def _keyword_rejected(label: Label, source: str) -> bool:
    signature = inspect.signature(_resolve(label.name, source))
    kinds = inspect.Parameter
    if any(p.kind is kinds.VAR_KEYWORD for p in signature.parameters.values()):
        return False
    return label.keyword not in signature.parameters


def _name_unbound(name: str, source: str) -> bool:
    if hasattr(builtins, name):
        return False
    tables = [symtable.symtable(source, "<snippet>", "exec")]
    while tables:
        table = tables.pop()
        if name in table.get_identifiers():
            symbol = table.lookup(name)
            if symbol.is_assigned() or symbol.is_imported() or symbol.is_parameter():
                return False
        tables += table.get_children()
    return True


def test_the_set_is_big_enough_and_covers_every_kind() -> None:
    assert len(ALL) >= 60 and len(CORRECT) >= 30 and len(HALLUCINATED) >= 30
    assert all(1 <= len(s.labels) <= 3 for s in HALLUCINATED)
    assert all(not s.labels for s in CORRECT)
    counted = {kind: sum(lb.kind == kind for s in ALL for lb in s.labels) for kind in KINDS}
    assert all(n >= 5 for n in counted.values()), counted
    assert len({s.id for s in ALL}) == len(ALL)


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_every_snippet_compiles(snippet: Snippet) -> None:
    compile(snippet.source, snippet.id, "exec")


LABELS = [(s, label) for s in HALLUCINATED for label in s.labels]


@pytest.mark.parametrize(
    ("snippet", "label"), LABELS, ids=[f"{s.id}:{lb.line}:{lb.name}" for s, lb in LABELS]
)
def test_every_label_is_a_real_hallucination(snippet: Snippet, label: Label) -> None:
    line = snippet.source.splitlines()[label.line - 1]
    assert label.name.rpartition(".")[2] in line or label.keyword in line
    if label.kind == "module":
        assert _module_missing(label.name)
    elif label.kind == "attribute":
        assert _attribute_missing(label.name)
    elif label.kind == "keyword":
        assert label.keyword and _keyword_rejected(label, snippet.source)
    else:
        assert label.kind == "name" and _name_unbound(label.name, snippet.source)


def _imports(tree: ast.Module) -> dict[str, str]:
    """Names bound to modules by top-level-or-nested plain imports, outside guarded blocks."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.partition(".")[0]] = (
                    alias.name if alias.asname else alias.name.partition(".")[0]
                )
    return bound


def _guarded(tree: ast.Module) -> set[int]:
    """Lines inside try/except ImportError, TYPE_CHECKING or platform/version tests."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.If):
            lines.update(n.lineno for b in node.body for n in ast.walk(b) if hasattr(n, "lineno"))
    return lines


@pytest.mark.parametrize("snippet", CORRECT, ids=[s.id for s in CORRECT])
def test_every_correct_snippet_refers_to_real_modules_and_attributes(snippet: Snippet) -> None:
    tree = ast.parse(snippet.source)
    guarded = _guarded(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in guarded:
            continue
        if isinstance(node, ast.Import):
            assert all(not _module_missing(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                assert alias.name == "*" or hasattr(module, alias.name) or not _module_missing(full)
    modules = _imports(tree)
    for node in ast.walk(tree):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in modules and chain:
            if node.lineno not in guarded:
                _resolve(".".join([modules[node.id], *reversed(chain)]), "")


def _key(label: Any) -> tuple[int, str, str, str | None]:
    return label.line, label.name, label.kind, label.keyword


def test_precision_and_recall_on_the_labelled_set(record_property: Any) -> None:
    tp = fp = fn = 0
    misses = []
    for snippet in ALL:
        got = {_key(f) for f in check_source(snippet.source)}
        want = {_key(label) for label in snippet.labels}
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        if got != want:
            misses.append((snippet.id, sorted(got - want), sorted(want - got)))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    record_property("precision", precision)
    record_property("recall", recall)
    report = f"precision {precision:.3f} recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})"
    print(report)
    assert precision >= MIN_PRECISION, f"{report}; differences: {misses}"
    assert recall >= MIN_RECALL, f"{report}; differences: {misses}"
