"""Write the dashboards' JSON (`python -m agentwatch.dashboards`), or `--check` it for drift."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from agentwatch.dashboards import GENERATORS
from agentwatch.dashboards.common import UIDS, render

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "json"


def generated() -> dict[str, str]:
    """Each dashboard's file name and JSON text, as the generators make them now."""
    out = {}
    for key in GENERATORS:
        module = importlib.import_module(f"agentwatch.dashboards.{key}")
        out[f"{UIDS[key].removeprefix('agentwatch-')}.json"] = render(module.build())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with --check, compare) the JSON files; 1 when --check finds drift."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="folder of the JSON files")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs"
    )
    args = parser.parse_args(argv)
    files = generated()
    folder: Path = args.output
    if args.check:
        stale = sorted(
            name
            for name, text in files.items()
            if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text
        )
        extra = sorted(p.name for p in folder.glob("*.json") if p.name not in files)
        for name in stale:
            print(f"{folder / name}: differs from its generator", file=sys.stderr)
        for name in extra:
            print(f"{folder / name}: no generator makes it", file=sys.stderr)
        if stale or extra:
            print("run: python -m agentwatch.dashboards", file=sys.stderr)
            return 1
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
