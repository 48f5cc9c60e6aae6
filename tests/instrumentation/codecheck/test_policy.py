"""The import policy: what is imported to be introspected, allow-lists, the code's own modules."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentwatch.instrumentation.codecheck import Policy, check_file, check_source

CODE = """import sidefx_pkg
import sidefx_pkg.sub
import sidefx_pkg.nosuch
print(sidefx_pkg.known, sidefx_pkg.whatever)
"""


@pytest.fixture
def sidefx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed package whose import leaves a mark: it must not be imported by default."""
    package = tmp_path / "site" / "sidefx_pkg"
    package.mkdir(parents=True)
    marker = tmp_path / "imported"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nknown = 1\n")
    (package / "sub.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    yield marker
    for name in [n for n in sys.modules if n.partition(".")[0] == "sidefx_pkg"]:
        del sys.modules[name]


def kinds(found: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(f.kind, f.name) for f in found]


def test_a_third_party_package_is_never_imported_by_default(sidefx: Path) -> None:
    found = check_source(CODE)
    assert kinds(found) == [("module", "sidefx_pkg.nosuch")]  # submodules found from files
    assert not sidefx.exists() and "sidefx_pkg" not in sys.modules


def test_import_lets_the_checker_introspect_a_named_package(sidefx: Path) -> None:
    found = check_source(CODE, Policy.of(importable=["sidefx_pkg"]))
    assert kinds(found) == [("module", "sidefx_pkg.nosuch"), ("attribute", "sidefx_pkg.whatever")]
    assert sidefx.exists()


def test_a_module_off_the_allow_list_is_a_finding() -> None:
    source = "import json\nimport wrapt\nimport yaml\nfrom wrapt import ObjectProxy\n"
    found = check_source(source, Policy.of(allowed=["yaml"]))
    assert kinds(found) == [("module", "wrapt"), ("module", "wrapt")]
    assert "allow-list" in found[0].message
    assert check_source(source) == []


def test_the_files_own_modules_are_found_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("raise SystemExit('never imported')\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "main.py").write_text("import helpers\nimport pkg.main\nhelpers.anything\n")
    script = tmp_path / "script.py"
    script.write_text("import helpers\nfrom helpers import anything\nhelpers.whatever()\n")
    assert check_file(script) == []
    assert check_file(tmp_path / "pkg" / "main.py") == []
    assert kinds(check_source(script.read_text())) == [("module", "helpers"), ("module", "helpers")]
    assert "helpers" not in sys.modules


def test_unsafe_stdlib_modules_are_not_imported() -> None:
    assert check_source("import antigravity\nantigravity.fly()\nimport this\nthis.x") == []
    assert "antigravity" not in sys.modules
