"""The checker: walks a parsed module with its scopes and reports hallucinated references.

Precision comes first: anything the checker cannot be sure of is not reported. In particular:

- names: a star import, `globals()`, `exec` or `__builtins__` anywhere turns the name check off;
  dunder names are never reported; annotations are skipped under `from __future__ import
  annotations` and inside functions (where Python never evaluates them);
- inside `if TYPE_CHECKING:`, and `if` statements testing `sys.platform`, `sys.version_info`,
  `os.name`, `platform.*`, `hasattr`, `find_spec` or a name bound by an import, nothing is
  reported: such code is meant for another interpreter or is guarded; the same after such an
  `if` whose body raises or returns, and in a def decorated with such a test (`skipUnless`);
- inside a `try` (or `with contextlib.suppress(...)`) whose handlers catch ImportError, missing
  modules and `from` imports are not reported; catching AttributeError, TypeError or NameError
  silences attributes, keywords or names the same way (`Exception` and a bare `except` all);
- an attribute name the file ever assigns or deletes, or passes as a string to `hasattr`,
  `getattr`, `setattr` or `delattr`, is never reported.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable
from dataclasses import dataclass

from agentwatch.instrumentation.codecheck import findings, objects
from agentwatch.instrumentation.codecheck.findings import Finding
from agentwatch.instrumentation.codecheck.guards import (
    dotted,
    exception_names,
    guarded_by,
    is_guard_test,
    is_type_checking,
    leaves,
    silenced_by,
)
from agentwatch.instrumentation.codecheck.localdefs import local_parameters
from agentwatch.instrumentation.codecheck.objects import InstanceValue, ModuleValue, ObjectValue
from agentwatch.instrumentation.codecheck.policy import Modules, Policy, submodule
from agentwatch.instrumentation.codecheck.scopes import CLASS, FUNCTION, Scope, ScopeMap

_BUILTINS = frozenset(dir(builtins))
_ATTR_FUNCTIONS = frozenset({"hasattr", "getattr", "setattr", "delattr"})
_DYNAMIC_NAMES = frozenset({"globals", "exec", "__builtins__"})
# sys.modules[__name__] and Enum._convert_ write a module's globals from outside its source.
_DYNAMIC_ATTRS = frozenset({"modules", "_convert_"})
_LITERALS = (bool, int, float, complex, str, bytes)


@dataclass(frozen=True)
class LocalDef:
    """An undecorated `def` or `class` of the checked code, bound once."""

    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


Inferred = objects.Value | LocalDef | None


def check_tree(tree: ast.Module, policy: Policy | None = None) -> list[Finding]:
    """The findings of a parsed module, sorted by position."""
    return _Checker(tree, Modules(policy or Policy())).run()


class _Checker:
    def __init__(self, tree: ast.Module, modules: Modules) -> None:
        self.tree, self.modules = tree, modules
        self.scopes = ScopeMap(tree)
        self.found: set[Finding] = set()
        self.silenced: dict[str, int] = dict.fromkeys(findings.KINDS, 0)
        self.inferred: dict[int, Inferred] = {}
        self.resolving: set[tuple[int, str]] = set()
        self.attrs_set: set[str] = set()
        self.imported: set[str] = set()  # `import a.b`: a missing a.b is one module finding
        self.dynamic_names = self.scopes.star_import
        self.lazy_annotations = False
        for node in ast.walk(tree):
            self.survey(node)

    def survey(self, node: ast.AST) -> None:
        """File-wide facts, gathered before the walk."""
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            self.attrs_set.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _ATTR_FUNCTIONS and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    self.attrs_set.add(name.value)
        elif isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMES:
            self.dynamic_names = True
        elif isinstance(node, ast.Attribute) and node.attr in _DYNAMIC_ATTRS:
            self.dynamic_names |= node.attr != "modules" or dotted(node) == "sys.modules"
        elif isinstance(node, ast.Import):
            self.imported.update(alias.name for alias in node.names)
            self.dynamic_names |= "builtins" in self.imported
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            self.lazy_annotations |= any(a.name == "annotations" for a in node.names)

    def run(self) -> list[Finding]:
        self.body(self.tree.body, self.scopes.root)
        return sorted(self.found)

    def report(
        self, kind: str, node: ast.AST, name: str, message: str, kw: str | None = None
    ) -> None:
        if self.silenced[kind]:
            return
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        if isinstance(node, ast.Attribute) and node.end_lineno and node.end_col_offset:
            line, col = node.end_lineno, node.end_col_offset - len(node.attr)
        self.found.add(Finding(line, col, name, kind, kw, message))

    # -- the walk ---------------------------------------------------------------------------

    def body(self, nodes: Iterable[ast.AST], scope: Scope) -> None:
        nodes = list(nodes)
        for i, node in enumerate(nodes):
            self.visit(node, scope)
            if isinstance(node, ast.If) and self.is_guard(node.test, scope) and leaves(node.body):
                # `if sys.platform != "win32": raise ImportError(...)`: the rest is guarded.
                self.silent(findings.KINDS, nodes[i + 1 :], scope)
                return

    def silent(self, kinds: Iterable[str], nodes: Iterable[ast.AST], scope: Scope) -> None:
        kinds = tuple(kinds)
        for kind in kinds:
            self.silenced[kind] += 1
        try:
            self.body(nodes, scope)
        finally:
            for kind in kinds:
                self.silenced[kind] -= 1

    def visit(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self.function(node, scope)
        elif isinstance(node, ast.ClassDef):
            self.body([*node.decorator_list, *node.bases, *node.keywords], scope)
            self.silent(guarded_by(node), node.body, self.scopes.scope(node))
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            self.visit(node.generators[0].iter, scope)
            inner = self.scopes.scope(node)
            first, *rest = node.generators
            self.body([first.target, *first.ifs], inner)
            for generator in rest:
                self.body([generator.iter, generator.target, *generator.ifs], inner)
            elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            self.body(elements, inner)
        elif isinstance(node, ast.AnnAssign):
            if not (self.lazy_annotations or scope.kind == FUNCTION):
                self.visit(node.annotation, scope)
            self.body([node.target] + ([node.value] if node.value else []), scope)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                self.check_module(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            self.import_from(node)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.try_(node, scope)
        elif isinstance(node, ast.If):
            self.if_(node, scope)
        elif isinstance(node, ast.With | ast.AsyncWith):
            self.with_(node, scope)
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.check_name(node, scope)
        elif isinstance(node, ast.Attribute):
            self.visit(node.value, scope)
            if isinstance(node.ctx, ast.Load):
                self.check_attribute(node, scope)
        elif isinstance(node, ast.Call):
            self.body([node.func, *node.args, *node.keywords], scope)
            self.check_keywords(node, scope)
        else:
            self.body(ast.iter_child_nodes(node), scope)

    def function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, scope: Scope
    ) -> None:
        args = node.args
        outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d)]
        if not isinstance(node, ast.Lambda):
            outer[:0] = node.decorator_list
            if not self.lazy_annotations:
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
                outer += [a.annotation for a in every if a is not None and a.annotation]
                outer += [node.returns] if node.returns else []
        self.body(outer, scope)
        inner = self.scopes.scope(node)
        if isinstance(node, ast.Lambda):
            self.visit(node.body, inner)
        else:
            self.silent(guarded_by(node), node.body, inner)

    def try_(self, node: ast.AST, scope: Scope) -> None:
        caught: set[str] = set()
        for handler in getattr(node, "handlers", ()):
            caught |= exception_names(handler.type)
        silenced = silenced_by(caught)
        self.silent(silenced, getattr(node, "body", ()), scope)
        # `except ImportError: from contextlib import GeneratorContextManager`: the fallback is
        # for another interpreter, as guarded as the body.
        fallback = [findings.MODULE, findings.ATTRIBUTE] if findings.MODULE in silenced else []
        self.silent(fallback, getattr(node, "handlers", ()), scope)
        self.body([*getattr(node, "orelse", ()), *getattr(node, "finalbody", ())], scope)

    def if_(self, node: ast.If, scope: Scope) -> None:
        self.visit(node.test, scope)
        if is_type_checking(node.test):
            self.silent(findings.KINDS, node.body, scope)
            self.body(node.orelse, scope)
        elif self.is_guard(node.test, scope):
            self.silent(findings.KINDS, [*node.body, *node.orelse], scope)
        else:
            self.body([*node.body, *node.orelse], scope)

    def with_(self, node: ast.With | ast.AsyncWith, scope: Scope) -> None:
        caught: set[str] = set()
        for item in node.items:
            self.body(
                [item.context_expr] + ([item.optional_vars] if item.optional_vars else []), scope
            )
            call = item.context_expr
            if isinstance(call, ast.Call) and dotted(call.func).endswith("suppress"):
                for arg in call.args:
                    caught |= exception_names(arg)
        self.silent(silenced_by(caught), node.body, scope)

    def is_guard(self, test: ast.expr, scope: Scope) -> bool:
        """A test of the platform, the version, or whether an optional import succeeded."""
        if is_guard_test(test):
            return True
        names = [n.id for n in ast.walk(test) if isinstance(n, ast.Name)]
        return any(name in s.imports for name in names for s in scope.chain())

    # -- the four checks ----------------------------------------------------------------------

    def check_module(self, name: str, node: ast.AST) -> None:
        exists = self.modules.exists(name)
        if exists is False:
            self.report(findings.MODULE, node, name, f"no module named {name!r}")
        elif exists and not self.modules.allowed(name):
            self.report(findings.MODULE, node, name, f"module {name!r} is not on the allow-list")

    def import_from(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # relative imports are the checked code's own modules
        self.check_module(node.module, node)
        if self.modules.exists(node.module) is not True:
            return
        module = self.modules.load(node.module)
        if module is None:
            return
        namespace = vars(module)
        if "__getattr__" in namespace:
            return
        for alias in node.names:
            if alias.name == "*" or alias.name in namespace:
                continue
            if submodule(module, alias.name) is False:
                name = f"{node.module}.{alias.name}"
                message = f"cannot import name {alias.name!r} from {node.module!r}"
                self.report(findings.ATTRIBUTE, node, name, message)

    def check_name(self, node: ast.Name, scope: Scope) -> None:
        name = node.id
        if self.dynamic_names or name in _BUILTINS or _is_dunder(name):
            return
        if any(name in s.counts or name in s.declared for s in scope.chain()):
            return
        self.report(findings.NAME, node, name, f"name {name!r} is not defined")

    def check_attribute(self, node: ast.Attribute, scope: Scope) -> None:
        base = self.infer(node.value, scope)
        if not isinstance(base, ModuleValue | ObjectValue | InstanceValue):
            return
        if node.attr in self.attrs_set:
            return
        if isinstance(base, ModuleValue) and f"{base.name}.{node.attr}" in self.imported:
            return
        found, _ = objects.attribute(base, node.attr, self.modules)
        if found is False:
            message = f"{base.path!r} has no attribute {node.attr!r}"
            self.report(findings.ATTRIBUTE, node, f"{base.path}.{node.attr}", message)

    def check_keywords(self, node: ast.Call, scope: Scope) -> None:
        keywords = [k for k in node.keywords if k.arg is not None]
        if not keywords:
            return
        callee = self.infer(node.func, scope)
        if isinstance(callee, LocalDef):
            accepted, path = local_parameters(callee.node), callee.node.name
        elif isinstance(callee, ObjectValue) and callable(callee.obj):
            accepted, path = None, callee.path
        else:
            return
        for keyword in keywords:
            assert keyword.arg is not None
            if isinstance(callee, ObjectValue):
                ok = objects.accepts(callee.obj, keyword.arg)
            else:
                ok = None if accepted is None else keyword.arg in accepted or "**" in accepted
            if ok is False:
                message = f"{path}() got an unexpected keyword argument {keyword.arg!r}"
                self.report(findings.KEYWORD, keyword, path, message, keyword.arg)

    # -- inference ----------------------------------------------------------------------------

    def infer(self, node: ast.expr, scope: Scope) -> Inferred:
        key = id(node)
        if key not in self.inferred:
            self.inferred[key] = self._infer(node, scope)
        return self.inferred[key]

    def _infer(self, node: ast.expr, scope: Scope) -> Inferred:
        if isinstance(node, ast.Name):
            return self.lookup(node.id, scope)
        if isinstance(node, ast.Attribute):
            base = self.infer(node.value, scope)
            if isinstance(base, ModuleValue | ObjectValue | InstanceValue):
                found, value = objects.attribute(base, node.attr, self.modules)
                return value if found is not False else None
            return None
        if isinstance(node, ast.Call):
            callee = self.infer(node.func, scope)
            if isinstance(callee, ObjectValue):
                return objects.constructed(callee, bool(node.keywords))
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, _LITERALS):
            return InstanceValue(type(node.value), type(node.value).__name__)
        for syntax, kind in _DISPLAYS:
            if isinstance(node, syntax):
                return InstanceValue(kind, kind.__name__)
        return None

    def lookup(self, name: str, scope: Scope) -> Inferred:
        """The value of `name` as Python resolves it from `scope`, when it is obvious."""
        owner = _owner(name, scope, self.scopes.root)
        if owner is None:
            if name in _BUILTINS and not _is_dunder(name) and not self.scopes.star_import:
                return ObjectValue(getattr(builtins, name), name)
            return None
        binding = owner.value(name)
        key = (id(owner), name)
        if binding is None or key in self.resolving:
            return None
        self.resolving.add(key)
        try:
            return self.resolve(name, binding, owner)
        finally:
            self.resolving.discard(key)

    def resolve(self, name: str, binding: ast.AST, owner: Scope) -> Inferred:
        if isinstance(binding, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return LocalDef(binding)
        if isinstance(binding, ast.expr):
            return self.infer(binding, owner)
        if not isinstance(binding, ast.alias):
            return None
        statement = owner.imports.get(name)
        if isinstance(statement, ast.Import):
            module = binding.name if binding.asname else binding.name.partition(".")[0]
            return ModuleValue(module, module) if self.modules.exists(module) else None
        if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            if not self.modules.exists(statement.module):
                return None
            base = ModuleValue(statement.module, statement.module)
            found, value = objects.attribute(base, binding.name, self.modules)
            return value if found else None
        return None


_DISPLAYS: tuple[tuple[type[ast.expr] | tuple[type[ast.expr], ...], type], ...] = (
    ((ast.List, ast.ListComp), list),
    ((ast.Dict, ast.DictComp), dict),
    ((ast.Set, ast.SetComp), set),
    (ast.Tuple, tuple),
    (ast.JoinedStr, str),
)


def _owner(name: str, scope: Scope, root: Scope) -> Scope | None:
    """The scope whose binding of `name` a use in `scope` sees (Python's LEGB, classes skipped)."""
    current: Scope | None = scope
    first = True
    while current is not None:
        declared = current.declared.get(name)
        if declared == "global":
            return root if name in root.counts else None
        if declared is None and name in current.counts and (first or current.kind != CLASS):
            return current
        current, first = current.parent, False
    return None


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")
