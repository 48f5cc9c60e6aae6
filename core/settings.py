"""Command-line flags that fall back to environment variables, and their value parsers.

Every flag `--some-flag` of a command can also be set with `AGENTWATCH_SOME_FLAG`; a flag on the
command line wins. A bad value, from either place, is a `UsageError` naming where it came from.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from agentwatch.errors import UsageError

ENV_PREFIX = "AGENTWATCH_"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def env_name(flag: str) -> str:
    """`--sim-speed` -> `AGENTWATCH_SIM_SPEED`."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def parse_duration(text: str) -> float:
    """Seconds from `1.5`, `500ms`, `15s`, `2m` or `1h`; raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 1, 0.5s, 500ms, 2m)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return seconds


def positive_float(text: str) -> float:
    """A float greater than zero; raises ValueError."""
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be positive: {text!r}")
    return value


def add_flag(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    help: str,
    default: Any = None,
    parse: Callable[[str], Any] = str,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
) -> None:
    """Add `flag` whose default comes from its environment variable, else `default`."""
    env = env_name(flag)
    dest = flag.lstrip("-").replace("-", "_")
    shown = f" (env {env}; default: {default})" if default is not None else f" (env {env})"
    if choices is not None:
        help += f"; one of {', '.join(choices)}"
    parser.add_argument(
        flag,
        default=None,
        dest=dest,
        help=help + shown,
        metavar=metavar or flag.lstrip("-").split("-")[-1].upper(),
    )
    parser.set_defaults(**{f"_spec_{dest}": (env, default, parse, choices)})


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> None:
    """Fill every flag added with `add_flag` from the command line, else the environment."""
    environ = os.environ if environ is None else environ
    for key, spec in list(vars(args).items()):
        if not key.startswith("_spec_"):
            continue
        delattr(args, key)
        dest = key.removeprefix("_spec_")
        env, default, parse, choices = spec
        raw, origin = getattr(args, dest), "--" + dest.replace("_", "-")
        if raw is None and environ.get(env, "") != "":
            raw, origin = environ[env], env
        if raw is None:
            setattr(args, dest, default)
            continue
        if choices is not None and raw not in choices:
            raise UsageError(f"{origin}: {raw!r} is not one of {', '.join(choices)}")
        try:
            setattr(args, dest, parse(raw))
        except ValueError as exc:
            raise UsageError(f"{origin}: {exc}") from None
