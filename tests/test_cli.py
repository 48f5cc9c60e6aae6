"""The `agentwatch` command line: its entry points, help and version, and env-var fallbacks."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentwatch import __version__
from agentwatch.cli import main
from agentwatch.errors import UsageError
from agentwatch.settings import add_flag, env_name, parse_duration, positive_float, resolve


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run `argv` to completion with AGENTWATCH_* variables removed from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTWATCH_")}
    return subprocess.run(
        list(argv), capture_output=True, text=True, env=env, timeout=30, stdin=subprocess.DEVNULL
    )


def console_script() -> str:
    """The `agentwatch` script installed next to this interpreter (the virtualenv's bin)."""
    found = shutil.which("agentwatch", path=str(Path(sys.executable).parent))
    assert found is not None, f"no agentwatch script in {Path(sys.executable).parent}"
    return found


# --- entry points ---------------------------------------------------------------------------


def test_the_console_script_is_installed_in_the_virtualenv() -> None:
    script = Path(console_script())
    assert os.access(script, os.X_OK)
    assert script.parent == Path(sys.executable).parent


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["console-script", "python-m"], ids=str)
def test_help_lists_the_exporter_command(how: str) -> None:
    prefix = [console_script()] if how == "console-script" else [sys.executable, "-m", "agentwatch"]
    done = run(*prefix, "--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: agentwatch")
    assert "exporter" in done.stdout
    assert "--version" in done.stdout


@pytest.mark.timeout(60)
def test_version_prints_the_package_version() -> None:
    done = run(console_script(), "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"agentwatch {__version__}\n", "")


@pytest.mark.timeout(60)
def test_no_command_prints_help_and_exits_2() -> None:
    done = run(console_script())
    assert done.returncode == 2
    assert done.stdout.startswith("usage: agentwatch") and "exporter" in done.stdout


@pytest.mark.timeout(60)
def test_exporter_help_names_each_flag_with_its_environment_variable() -> None:
    done = run(console_script(), "exporter", "--help")
    assert (done.returncode, done.stderr) == (0, "")
    for flag in ("--listen", "--gpu-backend", "--sim-speed", "--interval", "--web-config-file"):
        assert flag in done.stdout
        assert env_name(flag) in done.stdout


def test_main_without_a_command_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "exporter" in capsys.readouterr().out


def test_main_reports_a_usage_error_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exporter", "--interval", "soon"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("agentwatch exporter: error: --interval: ")


# --- env-var fallbacks (core/settings.py) ---------------------------------------------------


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser()
    add_flag(result, "--sim-speed", default=1.0, parse=positive_float, help="speed")
    add_flag(result, "--gpu-backend", default="nvml", choices=("nvml", "sim"), help="backend")
    add_flag(result, "--interval", default=1.0, parse=parse_duration, help="interval")
    add_flag(result, "--web-config-file", help="file")
    return result


def resolved(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    args = parser().parse_args(argv)
    resolve(args, environ)
    return args


@pytest.mark.parametrize(
    ("flag", "variable"),
    [
        ("--sim-speed", "AGENTWATCH_SIM_SPEED"),
        ("--listen", "AGENTWATCH_LISTEN"),
        ("--web-config-file", "AGENTWATCH_WEB_CONFIG_FILE"),
    ],
    ids=["sim-speed", "listen", "web-config-file"],
)
def test_env_name_of_a_flag(flag: str, variable: str) -> None:
    assert env_name(flag) == variable


def test_a_flag_beats_its_environment_variable() -> None:
    args = resolved(["--sim-speed", "4"], {"AGENTWATCH_SIM_SPEED": "8"})
    assert args.sim_speed == 4.0


def test_an_environment_variable_beats_the_default() -> None:
    env = {"AGENTWATCH_SIM_SPEED": "8", "AGENTWATCH_INTERVAL": "250ms"}
    args = resolved([], env)
    assert (args.sim_speed, args.interval) == (8.0, 0.25)


def test_the_default_applies_without_flag_or_variable() -> None:
    args = resolved([], {})
    assert (args.sim_speed, args.gpu_backend, args.interval) == (1.0, "nvml", 1.0)
    assert args.web_config_file is None
    assert not [key for key in vars(args) if key.startswith("_spec_")]


def test_an_empty_variable_counts_as_unset() -> None:
    assert resolved([], {"AGENTWATCH_SIM_SPEED": ""}).sim_speed == 1.0


def test_a_default_is_not_parsed_from_the_environment_of_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTWATCH_SIM_SPEED", "3")
    assert resolved([], {}).sim_speed == 1.0  # the environ passed in is the only one read


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {"AGENTWATCH_SIM_SPEED": "-2"}, "AGENTWATCH_SIM_SPEED: must be positive"),
        ([], {"AGENTWATCH_INTERVAL": "xyz"}, "AGENTWATCH_INTERVAL: not a duration"),
        ([], {"AGENTWATCH_GPU_BACKEND": "cuda"}, "AGENTWATCH_GPU_BACKEND: 'cuda' is not one of"),
        (["--sim-speed", "0"], {}, "--sim-speed: must be positive"),
        (["--gpu-backend", "cuda"], {}, "--gpu-backend: 'cuda' is not one of nvml, sim"),
    ],
    ids=["env-speed", "env-interval", "env-choice", "flag-speed", "flag-choice"],
)
def test_a_bad_value_names_where_it_came_from(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        resolved(argv, environ)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1", 1.0), ("0.5s", 0.5), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (" 15s ", 15.0)],
    ids=["bare", "seconds", "milliseconds", "minutes", "hours", "padded"],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "0", "0ms", "-1s", "5d", "1.5.2s"],
    ids=["empty", "word", "zero", "zero-ms", "negative", "days", "two-dots"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
