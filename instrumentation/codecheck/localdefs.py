"""Keyword names the checked code's own (undecorated) functions and classes accept."""

from __future__ import annotations

import ast

from agentwatch.instrumentation.codecheck.guards import dotted


def local_parameters(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
) -> set[str] | None:
    """Keyword names a local def accepts ("**" for any); None when that is not obvious."""
    if isinstance(node, ast.ClassDef):
        if node.keywords or any(dotted(b) != "object" for b in node.bases):
            return None  # a base class or metaclass may define what a call accepts
        inits = [s for s in node.body if _defines(s, "__init__")]
        if len(inits) != 1 or any(_defines(s, "__new__") for s in node.body):
            return None
        init = inits[0]
        if not isinstance(init, ast.FunctionDef | ast.AsyncFunctionDef) or init.decorator_list:
            return None
        names = _parameters(init.args)
        if names is not None:
            first = (init.args.posonlyargs + init.args.args)[:1]
            names -= {a.arg for a in first}
        return names
    return _parameters(node.args)


def _parameters(args: ast.arguments) -> set[str] | None:
    if args.kwarg is not None:
        return {"**"}
    return {a.arg for a in [*args.args, *args.kwonlyargs]}


def _defines(statement: ast.stmt, name: str) -> bool:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name == name
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        targets = [statement.target]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)
