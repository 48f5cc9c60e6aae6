"""The `agentwatch` command: one entry point, one sub-command per part of the product."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from agentwatch import __version__, logs
from agentwatch.errors import AgentwatchError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line and exit code 2, without the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every sub-command."""
    from agentwatch.alerts.remediation import cli as remediate_cli
    from agentwatch.demo import run as demo_run
    from agentwatch.exporter import cli as exporter_cli
    from agentwatch.instrumentation.codecheck import cli as codecheck_cli

    parser = _Parser(
        prog="agentwatch",
        description="Observability for AI agents and LLM services: GPU memory per process, "
        "leak analysis, tokens, latency and response quality.",
    )
    parser.add_argument("--version", action="version", version=f"agentwatch {__version__}")
    parser.add_argument("--log-level", choices=logs.LEVELS, default="info")
    parser.add_argument("--log-format", choices=logs.FORMATS, default="text")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    exporter = commands.add_parser(
        "exporter",
        help="serve GPU metrics (NVML or simulated) on /metrics, with leak analysis",
        description="GPU and token exporter: NVML per GPU and per process, XID events, "
        "leak analysis, container/pod attribution; /metrics for Prometheus, optional OTLP.",
    )
    exporter_cli.add_arguments(exporter)
    exporter.set_defaults(run=exporter_cli.run)
    remediate = commands.add_parser(
        "remediate",
        help="receive Alertmanager's webhook and restart the workload of a leaking process",
        description="Remediation receiver: for GPU memory leak and exhaustion alerts, a "
        "Kubernetes rollout restart, a Docker container restart or a command; a dry run "
        "unless --enable, authenticated, allow-listed, rate-limited and audited.",
    )
    remediate_cli.add_arguments(remediate)
    remediate.set_defaults(run=remediate_cli.run)
    check = commands.add_parser(
        "check-code",
        help="report hallucinated API references (modules, attributes, keywords, names) in "
        "Python files, without running them",
        description="Static check of (generated) Python code for references that do not exist: "
        "modules that cannot be imported, attributes a module or class lacks, keyword arguments "
        "a callee does not take, names never defined. Exit 0 when clean, 1 with findings, 2 on "
        "bad usage or unparsable input.",
    )
    codecheck_cli.add_arguments(check)
    check.set_defaults(run=codecheck_cli.run)
    demo = commands.add_parser(
        "demo",
        help="run the whole stack on loopback, no Docker: simulated GPUs and LLM service, an "
        "instrumented agent, Prometheus, Alertmanager and the receiver (dry run)",
        description="One command for the demo: the exporter (simulated GPU leak), a simulated "
        "OpenAI-compatible LLM service, an instrumented support agent, the remediation "
        "receiver in dry run and, where installed, Prometheus with every rule and "
        "Alertmanager; prints the URLs and each alert's remediation decision; Ctrl-C stops all.",
    )
    demo_run.add_arguments(demo)
    demo.set_defaults(run=demo_run.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logs.configure(args.log_level, args.log_format)
    try:
        code: int = args.run(args)
    except AgentwatchError as exc:
        print(f"agentwatch {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
