"""What the checker reports, and above all what it must not report."""

from __future__ import annotations

import textwrap

import pytest

from agentwatch.instrumentation.codecheck import Finding, check_source


def findings(source: str) -> list[tuple[str, str, str | None]]:
    return [(f.kind, f.name, f.keyword) for f in check_source(textwrap.dedent(source))]


CLEAN = {
    "class_body_names_seen_by_its_comprehension_iterable": """
        class A:
            xs = [1, 2]
            ys = [x for x in xs]
        """,
    "walrus_in_comprehension_binds_outside": """
        if any((hit := n) > 1 for n in [1, 2]):
            print(hit)
        """,
    "global_assigned_in_a_function_only": """
        def setup():
            global READY
            READY = True
        print(READY)
        """,
    "names_of_except_with_for_and_del": """
        import io
        with io.StringIO() as buf:
            for i in range(2):
                buf.write(str(i))
        try:
            pass
        except Exception as exc:
            print(exc)
        tmp = 1
        del tmp
        """,
    "dunders_and_builtins": "print(__name__, __file__, __doc__, __builtins__, len, __debug__)",
    "exec_defines_names": "exec('x = 1')\nprint(x)",
    "globals_defines_names": "globals()['y'] = 2\nprint(y)",
    "type_checking_only_module": """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import not_a_real_module_xyz
            from _typeshed import StrPath
        """,
    "optional_import_with_fallback": """
        try:
            import not_a_real_module_xyz as impl
        except ImportError:
            impl = None
        try:
            from collections import NoSuchThing
        except ImportError:
            NoSuchThing = dict
        """,
    "suppress_import_error": """
        import contextlib
        with contextlib.suppress(ImportError):
            import not_a_real_module_xyz
        """,
    "attribute_guarded_by_hasattr": """
        import os
        if hasattr(os, "no_such_function"):
            os.no_such_function()
        fn = getattr(os, "another_missing", None)
        """,
    "attribute_assigned_by_the_program": """
        import types
        ns = types.SimpleNamespace()
        ns.extra = 1
        print(ns.extra)
        import functools
        functools.my_patch = 1
        print(functools.my_patch)
        """,
    "module_getattr_pep562": "import concurrent.futures\nconcurrent.futures.computed_lazily",
    "rebound_name_is_unknown": """
        import collections
        d = collections.OrderedDict()
        d = {}
        d.move_to_endd = None
        x = []
        x = "text"
        x.upper()
        """,
    "shadowed_builtin": """
        def sorted(items, reversed=False):
            return items
        sorted([1], reversed=True)
        """,
    "decorated_function_keywords_unknown": """
        import functools
        def deco(fn):
            @functools.wraps(fn)
            def inner(*a, **k):
                return fn(*a, **k)
            return inner
        @deco
        def f(a):
            return a
        f(a=1, added_by_decorator=2)
        """,
    "python_class_instance_attributes_from_init": """
        import argparse
        class Job:
            def __init__(self):
                self.state = "new"
        parser = argparse.ArgumentParser()
        print(parser.prog, parser.description, Job().state)
        """,
    "platform_specific_stdlib_module": "import winreg\nimport msvcrt",
    "relative_imports": "from . import sibling\nfrom .pkg import thing\nprint(sibling, thing)",
    "windows_only_code_after_guard": """
        import sys, os
        if sys.platform != "win32":
            raise ImportError("windows only")
        os.startfile("x")
        """,
    "future_annotations_are_not_evaluated": """
        from __future__ import annotations
        def f(x: Undefined) -> AlsoUndefined:
            return x
        """,
    "local_annotations_are_not_evaluated": """
        def f():
            y: Undefined = 1
            return y
        """,
    "super_and_metaclass": """
        import abc
        class Base(abc.ABC):
            def run(self):
                return 1
        class Child(Base):
            def run(self):
                return super().run() + super().anything_dynamic
        """,
    "class_with_getattr": """
        class Lazy:
            def __getattr__(self, name):
                return name
        Lazy().whatever
        """,
    "match_captures": """
        match [1, 2]:
            case [a, *rest]:
                print(a, rest)
            case {"k": v, **others}:
                print(v, others)
            case str() as s:
                print(s)
        """,
    "star_import": "from os.path import *\nprint(join('a'), anything_at_all)",
    "submodule_reached_through_parent": "import xml\nprint(xml.etree)",
    "stdlib_keywords_right": """
        import json, os
        json.dumps({}, indent=2)
        os.makedirs("d", exist_ok=True)
        print("x", sep="", end="", flush=True)
        sorted([], key=len, reverse=True)
        """,
}


@pytest.mark.parametrize("source", CLEAN.values(), ids=CLEAN.keys())
def test_a_correct_program_is_not_flagged(source: str) -> None:
    assert findings(source) == []


FLAGGED = {
    "missing_top_level_module": ("import nonexistent_pkg_q", ("module", "nonexistent_pkg_q", None)),
    "missing_submodule": ("import json.nonexistent", ("module", "json.nonexistent", None)),
    "from_import_of_missing_name": (
        "from os import nonexistent_fn",
        ("attribute", "os.nonexistent_fn", None),
    ),
    "module_attribute": ("import os\nos.path.joinn", ("attribute", "os.path.joinn", None)),
    "aliased_module_attribute": ("import json as j\nj.parse", ("attribute", "json.parse", None)),
    "class_attribute": (
        "import datetime\ndatetime.datetime.noww()",
        ("attribute", "datetime.datetime.noww", None),
    ),
    "constructor_result": (
        "import collections\nx = collections.OrderedDict()\nx.move_to_endd('a')",
        ("attribute", "collections.OrderedDict.move_to_endd", None),
    ),
    "constructor_result_in_a_function": (
        "from collections import deque\ndef f():\n    q = deque()\n    q.push(1)",
        ("attribute", "collections.deque.push", None),
    ),
    "literal": ("'a'.upperr()", ("attribute", "str.upperr", None)),
    "keyword_of_module_function": (
        "import os\nos.makedirs('d', exists_ok=True)",
        ("keyword", "os.makedirs", "exists_ok"),
    ),
    "keyword_of_method": ("[].sort(reversed=True)", ("keyword", "list.sort", "reversed")),
    "keyword_of_builtin": ("print('x', sepp='')", ("keyword", "print", "sepp")),
    "keyword_of_local_function": (
        "def f(a, *, b=1):\n    return a\nf(1, c=2)",
        ("keyword", "f", "c"),
    ),
    "keyword_of_local_class": (
        "class P:\n    def __init__(self, x):\n        self.x = x\nP(y=1)",
        ("keyword", "P", "y"),
    ),
    "undefined_name": ("print(undefined_q)", ("name", "undefined_q", None)),
    "name_of_another_function_scope": (
        "def a():\n    local_only = 1\ndef b():\n    return local_only",
        ("name", "local_only", None),
    ),
    "annotation_evaluated_at_def_time": ("def f(x: Undefined): pass", ("name", "Undefined", None)),
}


@pytest.mark.parametrize(("source", "expected"), FLAGGED.values(), ids=FLAGGED.keys())
def test_a_hallucination_is_flagged(source: str, expected: tuple[str, str, str | None]) -> None:
    assert findings(source) == [expected]


def test_a_finding_carries_its_position_and_message() -> None:
    [finding] = check_source("import os\nx = (os\n     .path.joinn)\n")
    assert finding == Finding(3, 11, "os.path.joinn", "attribute", None, finding.message)
    assert "joinn" in finding.message and "os.path" in finding.message
    assert finding.as_dict("f.py") == {
        "file": "f.py",
        "line": 3,
        "col": 11,
        "name": "os.path.joinn",
        "kind": "attribute",
        "message": finding.message,
    }


def test_keyword_findings_carry_the_keyword() -> None:
    [finding] = check_source("print(1,\n      sepp='')")
    assert (finding.line, finding.col, finding.keyword) == (2, 6, "sepp")
    assert finding.as_dict()["keyword"] == "sepp"


def test_each_reference_is_reported_once() -> None:
    found = check_source("import os\nos.path.joinn.more.deeper\nos.path.joinn")
    assert [(f.line, f.name) for f in found] == [(2, "os.path.joinn"), (3, "os.path.joinn")]


def test_a_missing_submodule_import_is_not_also_an_attribute() -> None:
    assert findings("import json.nope\njson.nope.x") == [("module", "json.nope", None)]


def test_unparsable_source_raises_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        check_source("def (:")
    with pytest.raises(SyntaxError):
        check_source("x = 1\0")
