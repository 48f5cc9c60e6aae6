"""`python -m agentwatch.deploy [--check] [--output DIR]`: write or check deploy/kubernetes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agentwatch.deploy.manifests import REPO, files


def main(argv: Sequence[str] | None = None) -> int:
    """Write the manifests; with `--check`, exit 1 naming every file that differs instead."""
    parser = argparse.ArgumentParser(prog="python -m agentwatch.deploy", description=__doc__)
    parser.add_argument("--output", type=Path, default=REPO / "deploy" / "kubernetes")
    parser.add_argument("--repo", type=Path, default=REPO, help="where alerts/ and dashboards/ are")
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    wanted = files(repo=args.repo)
    if args.check:
        stale = [
            name
            for name, text in wanted.items()
            if not (args.output / name).is_file()
            or (args.output / name).read_text(encoding="utf-8") != text
        ]
        known = {p.relative_to(args.output).as_posix() for p in args.output.rglob("*.yaml")}
        stale += sorted(known - set(wanted))
        for name in stale:
            print(
                f"deploy/kubernetes/{name} is out of date: run python -m agentwatch.deploy",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for name, text in wanted.items():
        path = args.output / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for path in args.output.rglob("*.yaml"):
        if path.relative_to(args.output).as_posix() not in wanted:
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
