"""The one family of errors shown to users: a one-line message and an exit code."""

from __future__ import annotations


class AgentwatchError(Exception):
    """An error a user can act on; the CLI prints its message on one line and exits."""

    exit_code = 1


class UsageError(AgentwatchError):
    """A bad flag, environment variable or configuration file."""

    exit_code = 2
