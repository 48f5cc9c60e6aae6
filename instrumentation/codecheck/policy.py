"""Which modules exist, which may be imported to be introspected, and which are allowed.

The checked code is never run. What the checker learns about the modules it names comes from:

- `importlib.util.find_spec` for a top-level name, which reads the import path and imports
  nothing;
- for a submodule `a.b`, either the parent's attributes when the parent may be imported (below),
  or `importlib.machinery.PathFinder.find_spec("a.b", <a's search locations>)`, which lists
  files and imports nothing. (Plain `find_spec("a.b")` would import `a`: it is only called once
  `a` is imported anyway.)
- introspection (attributes, signatures) of a module only when it may be imported: it is
  already in `sys.modules` (importing it again runs nothing), or it is in the standard library
  (`sys.stdlib_module_names`) and not in `UNSAFE_STDLIB`, or the caller named it in
  `Policy.importable` (the CLI's `--import`), taking responsibility for its import-time side
  effects. Any other installed package is only checked for existence, its submodules included.

A module the checked code imports relative to itself (`from . import x`), or that is found in
`Policy.search_path` (the checked file's own directory and package root), is the user's own:
never imported, never flagged. A standard-library name that this interpreter lacks (`winreg`
on Linux, `_tkinter` when Tk was not built) is another platform's module: never flagged.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

UNSAFE_STDLIB = frozenset({"antigravity", "this", "__hello__", "__phello__", "idlelib", "__main__"})
"""Standard-library modules whose import does something visible (opens a browser, prints)."""

_Spec = importlib.machinery.ModuleSpec


@dataclass(frozen=True)
class Policy:
    """What `check_source` may assume and do; the defaults import only the standard library."""

    allowed: frozenset[str] | None = None
    """Top-level modules the code may import besides the standard library and its own modules;
    None: any installed module. (The prompting helper's `ApiContext.allowed` is such a set.)"""
    importable: frozenset[str] = frozenset()
    """Third-party modules (and their submodules) that may be imported to be introspected."""
    search_path: tuple[str, ...] = ()
    """Directories holding the checked code's own modules."""

    @classmethod
    def of(
        cls,
        allowed: Iterable[str] | None = None,
        importable: Iterable[str] = (),
        search_path: Sequence[str] = (),
    ) -> Policy:
        """A policy from plain iterables."""
        allow = None if allowed is None else frozenset(allowed)
        return cls(allow, frozenset(importable), tuple(search_path))


@dataclass
class Modules:
    """Module look-ups under a `Policy`, cached for the life of one check."""

    policy: Policy = field(default_factory=Policy)
    _specs: dict[str, _Spec | None] = field(default_factory=dict)
    _found: dict[str, bool | None] = field(default_factory=dict)
    _local: dict[str, bool] = field(default_factory=dict)

    def is_local(self, name: str) -> bool:
        """Whether the top-level module of `name` is the checked code's own."""
        top = name.partition(".")[0]
        if top not in self._local:
            found = False
            if self.policy.search_path:
                try:
                    found = _path_spec(top, self.policy.search_path) is not None
                except Exception:  # an unreadable directory: assume it might be there
                    found = True
            self._local[top] = found
        return self._local[top]

    def allowed(self, name: str) -> bool:
        """Whether the allow-list admits `name` (stdlib and local modules always are)."""
        top = name.partition(".")[0]
        return (
            self.policy.allowed is None
            or top in self.policy.allowed
            or top in sys.stdlib_module_names
            or self.is_local(name)
        )

    def may_import(self, name: str) -> bool:
        """Whether the policy lets the checker import `name` to introspect it."""
        top = name.partition(".")[0]
        if top in UNSAFE_STDLIB:
            return False  # __main__ included: it is whatever program runs the checker
        if name in sys.modules:
            return True
        if top in sys.stdlib_module_names:
            return not self.is_local(name)
        return _covered(name, self.policy.importable)

    def exists(self, name: str) -> bool | None:
        """True when module `name` can be imported, False when not, None when unknowable."""
        if name not in self._found:
            self._found[name] = self._exists(name)
        return self._found[name]

    def _exists(self, name: str) -> bool | None:
        if name in sys.modules or self.is_local(name):
            return True
        parent, _, last = name.rpartition(".")
        if not parent:
            spec = self._top_spec(name)
            if spec is None and name in sys.stdlib_module_names:
                return None  # another platform's module, or one this build left out
            return spec is not None
        known = self.exists(parent)
        if not known:
            return known
        if self.may_import(parent):
            module = self.load(parent)
            if module is None:
                return None
            return submodule(module, last)
        spec = self.spec(parent)
        if spec is None or spec.submodule_search_locations is None:
            return None  # e.g. a module that fills sys.modules with its "submodules"
        try:
            found = _path_spec(name, list(spec.submodule_search_locations))
        except Exception:
            return None
        self._specs[name] = found
        return found is not None

    def spec(self, name: str) -> _Spec | None:
        """The spec found while checking that `name` exists, without importing it."""
        if name not in self._specs and "." not in name:
            self._top_spec(name)
        return self._specs.get(name)

    def _top_spec(self, name: str) -> _Spec | None:
        if name not in self._specs:
            try:
                self._specs[name] = importlib.util.find_spec(name)
            except (ImportError, ValueError):  # ValueError: a module whose __spec__ is None
                self._specs[name] = None
        return self._specs[name]

    def load(self, name: str) -> ModuleType | None:
        """The module `name`, imported if the policy allows it; None when it may not be."""
        if not self.may_import(name) or self.is_local(name) and name not in sys.modules:
            return None
        return _import(name)


def _covered(name: str, prefixes: frozenset[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in prefixes for i in range(1, len(parts) + 1))


def _path_spec(name: str, path: Sequence[str]) -> _Spec | None:
    return importlib.machinery.PathFinder.find_spec(name, list(path))


def submodule(module: ModuleType, last: str) -> bool | None:
    """Whether `last` is a submodule of the imported `module`; None when unknowable."""
    full = f"{module.__name__}.{last}"
    if isinstance(vars(module).get(last), ModuleType) or full in sys.modules:
        return True
    if not hasattr(module, "__path__"):
        # `import os.path` works because os put os.path in sys.modules; any other name under a
        # plain module fails ("'os' is not a package") unless its __getattr__ plays tricks.
        return None if "__getattr__" in vars(module) else False
    try:
        return importlib.util.find_spec(full) is not None
    except Exception:
        return None


_imported: dict[str, ModuleType | None] = {}


def _import(name: str) -> ModuleType | None:
    """Import `name`; None when its import fails in any way (it is then treated as unknown)."""
    if name in sys.modules:
        module: Any = sys.modules[name]
        return module if isinstance(module, ModuleType) else None
    if name not in _imported:
        try:
            with warnings.catch_warnings():  # deprecated stdlib modules warn on import
                warnings.simplefilter("ignore")
                _imported[name] = importlib.import_module(name)
        except BaseException as exc:  # SystemExit included: an import must never end the check
            if isinstance(exc, KeyboardInterrupt):
                raise
            _imported[name] = None
    return _imported[name]
