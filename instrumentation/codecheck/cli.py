"""`agentwatch check-code FILE...`: hallucinated API references in Python files.

Exit code 0 when every file is clean, 1 when there are findings, 2 on bad usage or when a file
cannot be read or parsed (the other files are still checked and reported).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from agentwatch.errors import UsageError
from agentwatch.instrumentation.codecheck.api import check_file
from agentwatch.instrumentation.codecheck.findings import Finding
from agentwatch.instrumentation.codecheck.policy import Policy

FORMATS = ("text", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare check-code's arguments."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="Python files to check")
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="text lines, or one JSON array"
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="MODULE[,MODULE...]",
        help="allow-list of importable top-level modules (repeatable); when given, an import "
        "of any other module (besides the standard library and the files' own) is a finding",
    )
    parser.add_argument(
        "--import",
        dest="importable",
        action="append",
        metavar="MODULE[,MODULE...]",
        help="installed modules the checker may import to introspect their attributes and "
        "signatures (their import-time code runs); by default only the standard library and "
        "modules already imported are introspected",
    )
    parser.add_argument(
        "--path",
        action="append",
        metavar="DIR",
        help="a directory holding the checked code's own modules (repeatable); each file's "
        "own directory and package root always are",
    )


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Check every file; print the findings; return the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    if args.format not in FORMATS:
        raise UsageError(f"--format: one of {', '.join(FORMATS)}")
    allowed = None if args.allow is None else _names(args.allow)
    policy = Policy.of(allowed, _names(args.importable or ()), tuple(args.path or ()))
    results: list[tuple[str, Finding]] = []
    unreadable = False
    for file in args.files:
        try:
            results += [(file, finding) for finding in check_file(file, policy)]
        except (OSError, SyntaxError) as exc:
            print(f"agentwatch check-code: {file}: {_reason(exc)}", file=err)
            unreadable = True
    if args.format == "json":
        json.dump([finding.as_dict(file) for file, finding in results], out, indent=2)
        out.write("\n")
    else:
        for file, f in results:
            print(f"{file}:{f.line}:{f.col + 1}: {f.kind}: {f.message}", file=out)
    return 2 if unreadable else int(bool(results))


def _names(values: Iterable[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",")]
    bad = [name for name in names if not all(part.isidentifier() for part in name.split("."))]
    if bad:
        raise UsageError(f"not a module name: {bad[0]!r}")
    return names


def _reason(exc: OSError | SyntaxError) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"cannot parse, line {exc.lineno}: {exc.msg}"
    if isinstance(exc, SyntaxError):
        return f"cannot parse: {exc.msg}"
    return f"cannot read: {exc.strerror or exc}"
