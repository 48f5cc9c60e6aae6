"""Dependency-restricted prompting: the sections, their budget, and the allow-list they feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentwatch.instrumentation import tokens
from agentwatch.instrumentation.codecheck import check_source
from agentwatch.instrumentation.codecheck.prompting import APIS_HEADING, LOCAL_HEADING, api_context

LOCAL = '''
def fetch(url: str, *, retries: int = 3) -> bytes:
    """Never run: the file is parsed only."""

class Store:
    def __init__(self, path, readonly=False):
        pass

    def get(self, key):
        pass

    def _private(self):
        pass

def _hidden():
    pass

raise SystemExit("a user's module must never be imported")
'''


@pytest.fixture
def local(tmp_path: Path) -> Path:
    path = tmp_path / "myproject.py"
    path.write_text(LOCAL)
    return path


def test_sections_list_public_names_with_signatures(local: Path) -> None:
    context = api_context(["shlex"], [local], budget=10_000)
    assert context.text.startswith(APIS_HEADING)
    assert "- shlex.quote(s)" in context.text
    assert LOCAL_HEADING in context.text
    for entry in (
        "- myproject.fetch(url: str, *, retries: int=3) -> bytes",
        "- myproject.Store(path, readonly=False)",
        "- myproject.Store.get(key)",
    ):
        assert entry in context.text
    assert "_private" not in context.text and "_hidden" not in context.text
    assert context.omitted == 0
    assert context.allowed == {"shlex", "myproject"}


@pytest.mark.parametrize("budget", [0, 40, 120, 250])
def test_the_budget_is_counted_with_tiktoken_and_kept(local: Path, budget: int) -> None:
    context = api_context(["json", "shlex"], [local], budget=budget, model="gpt-4o")
    assert context.tokens == tokens.count_text(context.text, "gpt-4o").tokens <= budget
    full = api_context(["json", "shlex"], [local], budget=10_000, model="gpt-4o")
    assert context.omitted > 0 and full.tokens > budget
    assert (context.text == "") == (context.tokens == 0)


def test_the_allow_list_feeds_check_code(local: Path) -> None:
    policy = api_context(["json"], [local], budget=500).policy()
    source = "import json\nimport myproject\nimport os\nimport wrapt\n"
    assert [(f.kind, f.name) for f in check_source(source, policy)] == [("module", "wrapt")]


def test_a_negative_budget_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        api_context(["json"], budget=-1)
