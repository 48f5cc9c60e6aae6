"""What a name or expression of the checked code stands for, and which attributes it has.

Only three kinds of values are ever inferred, each from introspection that runs no checked code:

- a module (`import os`), whose attributes are its `__dict__`, plus its submodules; a module
  with a PEP 562 `__getattr__` has unknowable attributes;
- a real object found in an introspected module or among the builtins (a class, a function, a
  constant), looked up with `inspect.getattr_static`, so no property or `__getattr__` runs;
- an instance: the result of calling a class whose call obviously returns an instance of it
  (no custom `__new__` in Python, no metaclass `__call__`), or a literal.

An instance's attributes are its class's. For a class written in C (a static type) that is all
it has, since its constructor puts nothing in the instance `__dict__` (except when given keyword
arguments, as `types.SimpleNamespace` does: then nothing is inferred). A Python class's
instances may also hold what its methods assign (`self.x = ...`): the source of every class in
the MRO is scanned for such assignments and for annotations (dataclass fields), and when a
source is missing, or uses `setattr`, `__dict__` or `vars`, the instance's attributes are
unknowable. A class with a custom `__getattr__` or `__getattribute__` anywhere in its MRO (or
its metaclass's, for class attributes) has unknowable attributes too.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
import threading
import weakref
from dataclasses import dataclass
from types import (
    BuiltinFunctionType,
    FunctionType,
    GenericAlias,
    MethodDescriptorType,
    MethodType,
    ModuleType,
)

from agentwatch.instrumentation.codecheck.policy import Modules, submodule

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made at run time (Python code, PyType_FromSpec)


@dataclass(frozen=True)
class ModuleValue:
    """A module, by its real name; `path` is how the checked code spells it."""

    name: str
    path: str


@dataclass(frozen=True)
class ObjectValue:
    """A real object found by introspection."""

    obj: object
    path: str


@dataclass(frozen=True)
class InstanceValue:
    """An instance of `cls` made by an obvious constructor call or a literal."""

    cls: type
    path: str


Value = ModuleValue | ObjectValue | InstanceValue


def attribute(value: Value, attr: str, modules: Modules) -> tuple[bool | None, Value | None]:
    """(found, its value): found is False when `attr` certainly does not exist, None if unknown."""
    path = f"{value.path}.{attr}"
    if isinstance(value, ModuleValue):
        return _module_attribute(value, attr, path, modules)
    if isinstance(value, InstanceValue):
        return _instance_attribute(value.cls, attr, path)
    obj = value.obj
    if isinstance(obj, type):
        if _dynamic(type(obj), stop=type):
            return None, None
        found = _static(obj, attr)
    else:
        if _dynamic(type(obj)):
            return None, None
        found = _static(obj, attr)
    if found is _MISSING:
        return False, None
    return True, _wrap(found, path)


def constructed(value: Value | None, has_keywords: bool) -> InstanceValue | None:
    """The instance a call of `value` obviously returns, if `value` is such a class."""
    if not isinstance(value, ObjectValue) or not _obvious_constructor(value.obj):
        return None
    cls = value.obj
    assert isinstance(cls, type)
    if not cls.__flags__ & _HEAPTYPE and cls.__dictoffset__ and has_keywords:
        return None  # types.SimpleNamespace(a=1) fills the instance __dict__ from its keywords
    return InstanceValue(cls, value.path)


def accepts(func: object, keyword: str) -> bool | None:
    """Whether `func`'s signature takes `keyword`; None when it has no signature to read.

    `follow_wrapped=False`: a decorator's wrapper that takes `**kwargs` may accept more than the
    function it wraps (and `functools.wraps` hides that from `inspect.signature`).
    """
    if isinstance(func, classmethod | staticmethod):
        func = func.__func__
    try:
        signature = inspect.signature(func, follow_wrapped=False)  # type: ignore[arg-type]
    except Exception:  # ValueError, TypeError: builtins without a text signature, oddities
        return None
    kinds = inspect.Parameter
    for parameter in signature.parameters.values():
        if parameter.kind is kinds.VAR_KEYWORD:
            return True
        if parameter.name == keyword:
            # A positional-only match is a TypeError too, but text signatures of builtins are
            # not always exact about it: not flagged.
            return True
    return False


_MISSING = object()
_RUNTIME = {
    "sys": frozenset({"ps1", "ps2", "last_type", "last_value", "last_traceback", "last_exc"})
    | {"tracebacklimit", "pypy_version_info", "getwindowsversion", "winver", "dllhandle"}
    | {"getandroidapilevel", "_enablelegacywindowsfsencoding"},
}
"""Module attributes the interpreter sets only at times (interactive mode, after an error), or
that another implementation or platform has (PyPy, Windows, Android)."""
# Static types whose attribute look-up forwards elsewhere (super, proxies, aliases, methods).
_COMPUTED = frozenset(
    {super, weakref.ProxyType, weakref.CallableProxyType, GenericAlias, MethodType, ModuleType}
    | {threading.local}
)


def _static(obj: object, attr: str) -> object:
    try:
        return inspect.getattr_static(obj, attr)
    except AttributeError:
        return _MISSING
    except Exception:  # a hostile __mro__ or __dict__: unknowable, treated as present
        return None


def _wrap(found: object, path: str) -> Value | None:
    """The value to keep tracking after an attribute look-up (descriptors lose it)."""
    if isinstance(found, ModuleType):
        return ModuleValue(found.__name__, path)
    if isinstance(found, classmethod | staticmethod):
        return ObjectValue(found.__func__, path)
    if isinstance(
        found, type | FunctionType | MethodType | BuiltinFunctionType | MethodDescriptorType
    ):
        return ObjectValue(found, path)
    # Anything else (a property or other descriptor, a data value such as sys.stdout or
    # sys.pycache_prefix, which programs reassign) is not followed.
    return None


def _module_attribute(
    value: ModuleValue, attr: str, path: str, modules: Modules
) -> tuple[bool | None, Value | None]:
    module = modules.load(value.name)
    if module is None:
        # Not introspected: a submodule is still found without importing anything.
        sub = f"{value.name}.{attr}"
        return (None, ModuleValue(sub, path)) if modules.exists(sub) else (None, None)
    namespace = vars(module)
    if attr in namespace:
        return True, _wrap(namespace[attr], path)
    if _static(module, attr) is not _MISSING or attr in _RUNTIME.get(module.__name__, ()):
        return True, None  # __dict__, __name__ and the like, from the module type
    if "__getattr__" in namespace:
        return None, None  # PEP 562: computed attributes
    is_sub = submodule(module, attr)
    if is_sub:
        # Present once something imports it: never flagged, still followed.
        return True, ModuleValue(f"{module.__name__}.{attr}", path)
    return is_sub, None


def _instance_attribute(cls: type, attr: str, path: str) -> tuple[bool | None, Value | None]:
    if _dynamic(cls):
        return None, None
    found = _static(cls, attr)
    if found is not _MISSING:
        value = _wrap(found, path)
        return True, value if isinstance(value, ObjectValue) and callable(value.obj) else None
    if not cls.__flags__ & _HEAPTYPE:
        return False, None
    assigned = _instance_names(cls)
    if assigned is None:
        return None, None
    return (True, None) if attr in assigned else (False, None)


def _dynamic(cls: type, stop: type = object) -> bool:
    """Whether `cls` computes attributes: a `__getattr__`, or a `__getattribute__` of its own.

    Every C type that sets its attribute slot shows a `__getattribute__` (dict, list, str do,
    with the generic look-up); only those known to compute attributes count.
    """
    try:
        mro = cls.__mro__
    except Exception:
        return True
    for klass in mro:
        if klass is stop or klass is object:
            break
        names = vars(klass)
        if "__getattr__" in names:
            return True
        if "__getattribute__" in names and (klass.__flags__ & _HEAPTYPE or klass in _COMPUTED):
            return True
    return False


def _obvious_constructor(cls: object) -> bool:
    if not isinstance(cls, type) or issubclass(cls, type):
        return False
    if type(cls).__call__ is not type.__call__:
        return False  # a metaclass decides what a call returns (Enum, singletons, ...)
    for klass in cls.__mro__:
        if klass.__flags__ & _HEAPTYPE and "__new__" in vars(klass):
            return False  # pathlib.Path() returns a PosixPath, for instance
    return True


@functools.lru_cache(maxsize=256)
def _instance_names(cls: type) -> frozenset[str] | None:
    """Names the classes of `cls`'s MRO annotate or assign on instances; None if unknowable."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__flags__ & _HEAPTYPE:
            continue  # C types assign nothing to an instance __dict__
        names.update(vars(klass).get("__annotations__", {}))
        assigned = _assigned_in_source(klass)
        if assigned is None:
            return None
        names.update(assigned)
    return frozenset(names)


def _assigned_in_source(klass: type) -> frozenset[str] | None:
    """Attribute names the methods of `klass` assign; None when they set some dynamically."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
        tree = ast.parse(source)
    except Exception:  # no source (C extension, REPL, zipimport without source): unknowable
        return None
    names: set[str] = set()
    for method in ast.walk(tree):
        if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        params = [*method.args.posonlyargs, *method.args.args]
        owners = {"self"} | ({params[0].arg} if params else set())
        for node in ast.walk(method):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if isinstance(node.ctx, ast.Store):
                    names.add(node.attr)  # any object's: a superset is the safe side
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
                if _is_dict_of(node.value, owners):  # self.__dict__[name] = value
                    return None
            elif isinstance(node, ast.Call) and _dynamic_call(node, owners, names):
                return None
    return frozenset(names)


def _dynamic_call(call: ast.Call, owners: set[str], names: set[str]) -> bool:
    """`setattr(self, name, v)` with a computed name, `vars(self)`: attributes beyond reading."""
    func = call.func
    if isinstance(func, ast.Attribute) and _is_dict_of(func.value, owners):
        return func.attr in ("update", "setdefault")  # self.__dict__.update(kwargs)
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    if called not in ("setattr", "__setattr__", "vars"):
        return False
    args = call.args
    if not args or not isinstance(args[0], ast.Name) or args[0].id not in owners:
        return False
    if called != "vars" and len(args) > 1:
        name = args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            names.add(name.value)
            return False
    return True


def _is_dict_of(node: ast.expr, owners: set[str]) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "__dict__"
        and isinstance(node.value, ast.Name)
        and node.value.id in owners
    )
