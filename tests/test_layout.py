"""The layout: one distribution, one namespace, one module of metric names, one test command.

DESIGN.md, "Layout": `core/` is the package `agentwatch`, every other top-level Python folder is
`agentwatch.<folder>`, and no generic top-level name (`exporter`, `core`) is importable. These
tests build the real wheel and read the real Makefile, CI script and README.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import require_binary

REPO = Path(__file__).resolve().parent.parent
NOT_SOURCE = {
    ".git",
    ".venv",
    "build",
    "dist",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}
METRIC_MODULES = {"core/names.py", "core/otel_names.py"}
"""The only modules allowed to spell metric names (the contract and its OTel translation)."""
METRIC_LITERAL = re.compile(r"(agentwatch|gen_ai)_[a-z][a-z0-9_]*")


def source_roots() -> dict[Path, str]:
    """Each folder of the repository that is a package, and its path inside the wheel."""
    roots = {REPO / "core": "agentwatch"}
    for child in sorted(REPO.iterdir()):
        if child.name in {"core", "tests"} or not (child / "__init__.py").is_file():
            continue
        roots[child] = f"agentwatch/{child.name}"
    return roots


def source_files() -> list[Path]:
    """Every .py file of the package, as found in the repository."""
    return sorted(
        path
        for root in source_roots()
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts
    )


# --- the wheel ------------------------------------------------------------------------------


def _copy_ignored(directory: str, entries: list[str]) -> set[str]:
    return {e for e in entries if e in NOT_SOURCE or e.endswith(".egg-info")}


@pytest.fixture(scope="module")
def wheel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the working tree."""
    # A copy, because an in-tree build reuses build/lib, where a stale file from an earlier
    # build would hide a package that pyproject.toml forgot.
    source = tmp_path_factory.mktemp("source") / "agentwatch"
    shutil.copytree(REPO, source, ignore=_copy_ignored, symlinks=True)
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--no-cache-dir", "-q", "-w", str(out), "."],
        cwd=source,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("agentwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(wheel_file: Path) -> list[str]:
    """The wheel's file list."""
    with zipfile.ZipFile(wheel_file) as archive:
        return archive.namelist()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_holds_the_agentwatch_namespace_only(wheel: list[str]) -> None:
    top = {name.split("/", 1)[0] for name in wheel}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and dist_info.pop().startswith("agentwatch-")
    assert top - {t for t in top if t.endswith(".dist-info")} == {"agentwatch"}
    for generic in ("exporter/", "core/", "tests/"):
        assert not [n for n in wheel if n.startswith(generic)]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "path",
    [
        "agentwatch/__init__.py",
        "agentwatch/__main__.py",
        "agentwatch/cli.py",
        "agentwatch/names.py",
        "agentwatch/py.typed",
        "agentwatch/exporter/__init__.py",
        "agentwatch/exporter/model.py",
        "agentwatch/exporter/sim/__init__.py",
        "agentwatch/exporter/sim/scenarios.py",
    ],
    ids=str,
)
def test_the_wheel_holds(wheel: list[str], path: str) -> None:
    assert path in wheel


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_source_module_is_in_the_wheel_and_nothing_else(wheel: list[str]) -> None:
    roots = source_roots()
    expected = {
        f"{prefix}/{path.relative_to(root).as_posix()}"
        for root, prefix in roots.items()
        for path in source_files()
        if path.is_relative_to(root)
    }
    shipped = {name for name in wheel if name.endswith(".py")}
    assert sorted(expected - shipped) == [], "missing: is the subpackage in pyproject's packages?"
    assert sorted(shipped - expected) == [], "shipped without a source file in the repository"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_declares_the_console_script(wheel_file: Path) -> None:
    with zipfile.ZipFile(wheel_file) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(name).decode()
    section = entry_points.split("[console_scripts]", 1)[1].split("\n[", 1)[0]
    scripts = [line.replace(" ", "") for line in section.splitlines() if line.strip()]
    assert scripts == ["agentwatch=agentwatch.cli:main"]


# --- imports --------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("module", "importable"),
    [("exporter", False), ("core", False), ("agentwatch.exporter.sim", True)],
    ids=["exporter", "core", "agentwatch.exporter.sim"],
)
def test_only_the_agentwatch_namespace_is_importable(
    tmp_path: Path, module: str, importable: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    if importable:
        assert (done.returncode, done.stderr) == (0, "")
    else:
        assert done.returncode != 0
        assert f"ModuleNotFoundError: No module named '{module}'" in done.stderr


# --- the metric-name contract is single-sourced ---------------------------------------------


def metric_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal in `source` that starts with a metric name.

    Docstrings and other bare string statements are prose and may mention names; an f-string
    counts when its leading text starts one (`f"agentwatch_{kind}_bytes"`).
    """
    tree = ast.parse(source)
    prose = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                if re.match(r"(agentwatch|gen_ai)_", head.value):
                    found.append((node.lineno, head.value))
            prose.update(id(v) for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in prose and METRIC_LITERAL.match(node.value):
                found.append((node.lineno, node.value))
    return found


LITERAL_CASES = {
    "name": ('NAME = "agentwatch_gpu_up"', [(1, "agentwatch_gpu_up")]),
    "query": (
        'q = "gen_ai_client_token_usage_bucket{le=1}"',
        [(1, "gen_ai_client_token_usage_bucket{le=1}")],
    ),
    "f-string": ('n = f"agentwatch_gpu_{kind}_bytes"', [(1, "agentwatch_gpu_")]),
    "docstring": ('"""agentwatch_gpu_info is the identity."""', []),
    "prose": ('log.warning("see agentwatch_gpu_info")', []),
    "logger": ('logger = getLogger("agentwatch.exporter")', []),
    "env-var": ('ENV = "AGENTWATCH_LISTEN"', []),
    "bare-prefix": ('prefix = "agentwatch_"', []),
}


@pytest.mark.parametrize(
    ("source", "expected"), list(LITERAL_CASES.values()), ids=list(LITERAL_CASES)
)
def test_metric_literals_finds_spelled_metric_names(
    source: str, expected: list[tuple[int, str]]
) -> None:
    assert metric_literals(source) == expected


@pytest.mark.parametrize(
    "path",
    [p for p in source_files() if p.relative_to(REPO).as_posix() not in METRIC_MODULES],
    ids=lambda p: p.relative_to(REPO).as_posix(),
)
def test_no_module_but_names_spells_a_metric_name(path: Path) -> None:
    found = metric_literals(path.read_text(encoding="utf-8"))
    assert found == [], f"use agentwatch.names instead of literals: {found}"


def test_the_metric_modules_exist() -> None:
    for module in METRIC_MODULES:
        assert (REPO / module).is_file()


# --- one test command -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_make_test_installs_the_system_deps_then_runs_pytest() -> None:
    make = require_binary("make")
    done = subprocess.run(
        [make, "-n", "test"], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    deps = [i for i, line in enumerate(lines) if line.strip() == "bash scripts/system-deps.sh"]
    tests = [i for i, line in enumerate(lines) if re.search(r"python3? -m pytest( |$)", line)]
    assert deps and tests, done.stdout
    assert deps[0] < tests[-1]


def test_ci_runs_exactly_make_test() -> None:
    script = REPO / ".ci" / "run"
    assert script.stat().st_mode & stat.S_IXUSR, ".ci/run is not executable"
    commands = [
        line.strip()
        for line in script.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert [c for c in commands if re.search(r"\b(make|pytest)\b", c)] == ["make test"]
    assert commands[-1] == "make test"
    assert "export AGENTWATCH_REQUIRE_BINARIES=1" in commands


def test_the_readme_quick_start_names_make_test() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("## Quick start")
    end = readme.find("\n## ", start + 1)
    quick_start = readme[start : end if end != -1 else None]
    commands = [line.split("#", 1)[0].strip() for line in quick_start.splitlines()]
    assert "make test" in commands
