"""The guards that silence findings: handlers, platform and version tests, TYPE_CHECKING."""

from __future__ import annotations

import ast

from agentwatch.instrumentation.codecheck import findings

_GUARD_WORDS = frozenset({"platform", "version_info", "hasattr", "find_spec", "implementation"})
_CATCH_ALL = frozenset({"Exception", "BaseException"})
_SILENCED_BY = {
    findings.MODULE: frozenset({"ImportError", "ModuleNotFoundError"}),
    findings.ATTRIBUTE: frozenset({"AttributeError", "ImportError"}),
    findings.KEYWORD: frozenset({"TypeError"}),
    findings.NAME: frozenset({"NameError", "UnboundLocalError"}),
}


def exception_names(node: ast.expr | None) -> set[str]:
    """The class names an `except` clause (or `suppress(...)` argument) catches."""
    if node is None:
        return {"BaseException"}  # a bare `except:`
    if isinstance(node, ast.Tuple):
        return set().union(*(exception_names(e) for e in node.elts))
    return {dotted(node).rpartition(".")[2]}


def silenced_by(caught: set[str]) -> list[str]:
    """The finding kinds that catching `caught` makes expected (and so silent)."""
    if caught & _CATCH_ALL:
        return list(findings.KINDS)
    return [kind for kind, names in _SILENCED_BY.items() if caught & names]


def dotted(node: ast.expr) -> str:
    """`a.b.c` for a Name/Attribute chain, else the empty string."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return dotted(test).rpartition(".")[2] == "TYPE_CHECKING"


def is_guard_test(test: ast.expr) -> bool:
    """A test of the platform, the version, an attribute's or a module's presence."""
    for node in ast.walk(test):
        name = dotted(node) if isinstance(node, ast.Name | ast.Attribute) else ""
        parts = name.split(".")
        os_name = parts[-1] == "name" and parts[0].strip("_") == "os"
        if parts[-1] in _GUARD_WORDS or os_name or "platform" in parts:
            return True
        if parts[-1] == "TYPE_CHECKING":
            return True
    return False


def guarded_by(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[str, ...]:
    """Every kind, for a def decorated `@skipUnless(sys.platform == "win32", ...)` and the like."""
    return findings.KINDS if any(is_guard_test(d) for d in node.decorator_list) else ()


def leaves(body: list[ast.stmt]) -> bool:
    """Whether a block ends by raising, returning or exiting."""
    last = body[-1] if body else None
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return dotted(last.value.func) in ("sys.exit", "exit", "quit")
    return isinstance(last, ast.Raise | ast.Return)
