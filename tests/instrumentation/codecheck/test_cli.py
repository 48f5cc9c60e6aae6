"""`agentwatch check-code`: formats and exit codes (through cli.add_arguments and cli.run)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from agentwatch.errors import UsageError
from agentwatch.instrumentation.codecheck import cli


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="check-code")
    cli.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parser.parse_args(list(argv)), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "clean": "import os\nprint(os.getcwd())\n",
        "bad": "import os\nos.path.joinn('a')\nprint('x', sepp='')\nimport wrapt\n",
        "broken": "def (:\n",
    }
    out = {}
    for name, text in paths.items():
        out[name] = tmp_path / f"{name}.py"
        out[name].write_text(text)
    return out


def test_a_clean_file_exits_0(files: dict[str, Path]) -> None:
    assert run(str(files["clean"])) == (0, "", "")


def test_findings_exit_1_as_text_lines(files: dict[str, Path]) -> None:
    code, out, _ = run(str(files["bad"]), str(files["clean"]))
    assert code == 1
    assert out.splitlines() == [
        f"{files['bad']}:2:9: attribute: 'os.path' has no attribute 'joinn'",
        f"{files['bad']}:3:12: keyword: print() got an unexpected keyword argument 'sepp'",
    ]


def test_json_is_one_array_with_each_findings_file(files: dict[str, Path]) -> None:
    code, out, _ = run("--format", "json", str(files["bad"]), "--allow", "yaml,jsonschema")
    assert code == 1
    found = json.loads(out)
    assert [(f["file"], f["line"], f["kind"], f["name"]) for f in found] == [
        (str(files["bad"]), 2, "attribute", "os.path.joinn"),
        (str(files["bad"]), 3, "keyword", "print"),
        (str(files["bad"]), 4, "module", "wrapt"),
    ]
    assert found[1]["keyword"] == "sepp" and "keyword" not in found[0]


def test_json_of_a_clean_file_is_an_empty_array(files: dict[str, Path]) -> None:
    assert run("--format", "json", str(files["clean"])) == (0, "[]\n", "")


def test_an_unparsable_file_exits_2_and_the_others_are_still_reported(
    files: dict[str, Path],
) -> None:
    code, out, err = run("--format", "json", str(files["broken"]), str(files["bad"]))
    assert code == 2
    assert len(json.loads(out)) == 2
    assert f"{files['broken']}: cannot parse, line 1" in err


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.py"))
    assert code == 2 and "cannot read" in err


def test_bad_usage_exits_2() -> None:
    with pytest.raises(SystemExit) as exited:
        run("--format", "xml", "f.py")
    assert exited.value.code == 2
    with pytest.raises(UsageError) as error:
        run("--allow", "not a module", "f.py")
    assert error.value.exit_code == 2
