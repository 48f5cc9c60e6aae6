"""Scopes of a module and the names each binds: the first pass of the checker.

Every binding form counts: assignments of all kinds, `del`, `for`/`with`/`except ... as`, imports,
`def`/`class`, parameters, the walrus (bound in the nearest enclosing non-comprehension scope),
`match` captures, `global`/`nonlocal`, and PEP 695 type parameters. A name bound exactly once in
its scope, by a form whose value is obvious (`x = expr`, an import, a `def` or `class`), keeps
that binding as its value; a name bound twice or more has no known value: the checker never
guesses which binding a use sees.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

MODULE, FUNCTION, CLASS, COMPREHENSION = "module", "function", "class", "comprehension"

Binding = ast.expr | ast.alias | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None
"""What a name was bound to: the assigned expression, an import alias, a definition, or None."""

_Comprehension = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp


@dataclass(eq=False)
class Scope:
    """One scope: module, function (or lambda), class body or comprehension."""

    kind: str
    parent: Scope | None
    counts: dict[str, int] = field(default_factory=dict)
    values: dict[str, Binding] = field(default_factory=dict)
    imports: dict[str, ast.Import | ast.ImportFrom] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)
    """Names declared `global` or `nonlocal` here (name to "global" or "nonlocal")."""

    plain_imports: set[str] = field(default_factory=set)
    """Names bound only by `import a` / `import a.b`: all the same module `a`."""

    def bind(self, name: str, value: Binding = None) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.values[name] = value
        self.plain_imports.discard(name)

    def value(self, name: str) -> Binding:
        """The binding of `name` here when it is the only one, else None."""
        return self.values.get(name) if self.counts.get(name) == 1 else None

    def chain(self) -> Iterator[Scope]:
        scope: Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent


class ScopeMap:
    """Each scope-creating node of a module mapped to its `Scope`; `scope(node)` finds it."""

    def __init__(self, tree: ast.Module) -> None:
        self.root = Scope(MODULE, None)
        self._scopes: dict[int, Scope] = {id(tree): self.root}
        self.star_import = False
        binder = _Binder(self)
        binder.visit_body(tree.body, self.root)
        binder.rebind_declared()

    def scope(self, node: ast.AST) -> Scope:
        return self._scopes[id(node)]

    def new(self, node: ast.AST, kind: str, parent: Scope) -> Scope:
        scope = self._scopes[id(node)] = Scope(kind, parent)
        return scope


class _Binder:
    """Walks a module once, recording bindings in the scope where Python makes them."""

    def __init__(self, scopes: ScopeMap) -> None:
        self.scopes = scopes
        self.declared_bindings: list[tuple[Scope, str]] = []

    def visit_body(self, body: list[ast.stmt], scope: Scope) -> None:
        for stmt in body:
            self.visit(stmt, scope)

    def bind(self, scope: Scope, name: str, value: Binding = None) -> None:
        if name in scope.declared:
            self.declared_bindings.append((scope, name))
        else:
            scope.bind(name, value)

    def rebind_declared(self) -> None:
        """`global x; x = 1` rebinds the module's x, `nonlocal` an enclosing function's.

        Either way the target gains a binding nobody can place in time: it loses its value.
        """
        for scope, name in self.declared_bindings:
            target = self.scopes.root
            if scope.declared[name] == "nonlocal":
                outer = (s for s in scope.chain() if s is not scope and s.kind == FUNCTION)
                target = next((s for s in outer if name in s.counts), target)
            target.bind(name)
            target.bind(name)

    def visit(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.visit_all(node.decorator_list, scope)
            self.visit_arguments(node.args, scope)
            self.visit_all([node.returns] if node.returns else [], scope)
            inner = self.scopes.new(node, FUNCTION, scope)
            self.type_params(node, scope, inner)
            self.bind_arguments(node.args, inner)
            self.visit_body(node.body, inner)
            self.bind(scope, node.name, None if node.decorator_list else node)
        elif isinstance(node, ast.Lambda):
            self.visit_arguments(node.args, scope)
            inner = self.scopes.new(node, FUNCTION, scope)
            self.bind_arguments(node.args, inner)
            self.visit(node.body, inner)
        elif isinstance(node, ast.ClassDef):
            self.visit_all([*node.decorator_list, *node.bases, *node.keywords], scope)
            inner = self.scopes.new(node, CLASS, scope)
            self.type_params(node, scope, inner)
            self.visit_body(node.body, inner)
            self.bind(scope, node.name, None if node.decorator_list else node)
        elif isinstance(node, _Comprehension):
            self.visit_comprehension(node, scope)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            kind = "global" if isinstance(node, ast.Global) else "nonlocal"
            scope.declared.update(dict.fromkeys(node.names, kind))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                if alias.asname is None and name in scope.plain_imports:
                    continue  # `import a` then `import a.b` binds the same module twice
                self.bind(scope, name, alias)
                scope.imports[name] = node
                if alias.asname is None and scope.counts.get(name) == 1:
                    scope.plain_imports.add(name)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    self.scopes.star_import = True
                    continue
                name = alias.asname or alias.name
                self.bind(scope, name, alias)
                scope.imports[name] = node
        elif isinstance(node, ast.Assign):
            self.visit(node.value, scope)
            for target in node.targets:
                self.bind_target(target, scope, node.value)
        elif isinstance(node, ast.AnnAssign):
            self.visit_all([node.annotation] + ([node.value] if node.value else []), scope)
            self.bind_target(node.target, scope, node.value)
        elif isinstance(node, ast.NamedExpr):
            self.visit(node.value, scope)
            owner = next(s for s in scope.chain() if s.kind != COMPREHENSION)
            assert isinstance(node.target, ast.Name)
            self.bind(owner, node.target.id)
            if owner is not scope:
                self.bind(scope, node.target.id)
        elif isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):  # for/with/aug-assign/del targets, alike
                self.bind(scope, node.id)
        elif isinstance(node, ast.ExceptHandler):
            if node.name:
                self.bind(scope, node.name)
            self.generic(node, scope)
        elif isinstance(node, ast.MatchAs | ast.MatchStar):
            if node.name:
                self.bind(scope, node.name)
            self.generic(node, scope)
        elif isinstance(node, ast.MatchMapping):
            if node.rest:
                self.bind(scope, node.rest)
            self.generic(node, scope)
        else:
            self.generic(node, scope)

    def generic(self, node: ast.AST, scope: Scope) -> None:
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope)

    def visit_all(self, nodes: Sequence[ast.AST], scope: Scope) -> None:
        for node in nodes:
            self.visit(node, scope)

    def bind_target(self, target: ast.expr, scope: Scope, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            self.bind(scope, target.id, value)
        else:  # unpacking, subscripts, attributes: visit for nested names, no known value
            self.visit(target, scope)

    def visit_arguments(self, args: ast.arguments, scope: Scope) -> None:
        """Defaults and annotations, which the enclosing scope evaluates."""
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in every:
            if arg.annotation is not None:
                self.visit(arg.annotation, scope)
        defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        self.visit_all(defaults, scope)

    def bind_arguments(self, args: ast.arguments, scope: Scope) -> None:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        for arg in every:
            if arg is not None:
                self.bind(scope, arg.arg)

    def type_params(self, node: ast.AST, outer: Scope, inner: Scope) -> None:
        # PEP 695 (3.12+): `def f[T](x: T)`; annotations see T, so both scopes bind it.
        for param in getattr(node, "type_params", ()):
            name = getattr(param, "name", None)
            if isinstance(name, str):
                outer.bind(name)
                inner.bind(name)

    def visit_comprehension(self, node: _Comprehension, scope: Scope) -> None:
        first, *rest = node.generators
        self.visit(first.iter, scope)  # the outermost iterable is evaluated outside
        inner = self.scopes.new(node, COMPREHENSION, scope)
        self.visit(first.target, inner)
        self.visit_all(first.ifs, inner)
        for generator in rest:
            self.visit(generator.iter, inner)
            self.visit(generator.target, inner)
            self.visit_all(generator.ifs, inner)
        elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self.visit_all(elements, inner)
