"""`agentwatch remediate`: flags, wiring, and the run loop of the remediation receiver."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from agentwatch.alerts.remediation import config, decide
from agentwatch.alerts.remediation.audit import AuditLog
from agentwatch.alerts.remediation.decide import Ledger, Policy
from agentwatch.alerts.remediation.receiver import Remediator
from agentwatch.alerts.remediation.server import ServerOptions, WebhookServer
from agentwatch.alerts.remediation.target import Target
from agentwatch.errors import UsageError
from agentwatch.settings import add_flag, env_name, parse_duration, resolve

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:9402"
TARGETS = ("kubernetes", "docker", "command")
_SWITCHES = ("enable", "insecure_no_auth")


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1: {text!r}")
    return value


def _seconds(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be 0 or more: {text!r}")
    return value


def _switch(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    # On when given, else when its variable is true; resolved in `_resolve_switches`.
    parser.add_argument(
        flag, action="store_true", default=None, help=f"{help} (env {env_name(flag)}=true)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the receiver's flags (each also settable as AGENTWATCH_<FLAG>)."""
    add_flag(
        parser,
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="address of POST /webhook",
    )
    add_flag(
        parser,
        "--target",
        default="kubernetes",
        choices=TARGETS,
        metavar="NAME",
        help="what a restart is: a rollout restart, a Docker container restart, or a command",
    )
    _switch(parser, "--enable", "restart for real; without it every decision is a dry run")
    add_flag(parser, "--token-file", metavar="FILE", help="bearer token Alertmanager must send")
    add_flag(parser, "--tls-cert-file", metavar="FILE", help="serve HTTPS with this certificate")
    add_flag(parser, "--tls-key-file", metavar="FILE", help="private key of --tls-cert-file")
    add_flag(
        parser,
        "--tls-client-ca-file",
        metavar="FILE",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    _switch(parser, "--insecure-no-auth", "accept unauthenticated requests (loopback only)")
    add_flag(
        parser,
        "--alertnames",
        parse=_names,
        metavar="LIST",
        help="comma-separated alertnames that may restart (default: "
        + ",".join(decide.DEFAULT_ALERTNAMES)
        + ")",
    )
    add_flag(
        parser,
        "--allow-namespace",
        parse=_names,
        metavar="GLOBS",
        help="comma-separated namespace patterns that may be restarted (none by default)",
    )
    add_flag(
        parser,
        "--allow-workload",
        parse=_names,
        metavar="GLOBS",
        help="comma-separated kind/name patterns (deployment/vllm-*, container/*; none by default)",
    )
    add_flag(
        parser,
        "--cooldown",
        default=1800.0,
        parse=parse_duration,
        metavar="DURATION",
        help="no second restart of one workload within DURATION",
    )
    add_flag(
        parser, "--max-restarts", default=3, parse=_count, help="restarts per --restart-window"
    )
    add_flag(
        parser,
        "--restart-window",
        default=3600.0,
        parse=parse_duration,
        metavar="DURATION",
        help="sliding window of --max-restarts",
    )
    add_flag(parser, "--audit-log", default="-", metavar="FILE", help="JSON lines; - is stdout")
    add_flag(parser, "--max-body-bytes", default=1 << 20, parse=_count, help="request size limit")
    add_flag(parser, "--kube-api-url", metavar="URL", help="API server (default: in-cluster)")
    add_flag(
        parser,
        "--kube-credentials-dir",
        default=str(Path("/var/run/secrets/kubernetes.io/serviceaccount")),
        metavar="DIR",
        help="directory of the service-account token and ca.crt",
    )
    add_flag(
        parser,
        "--docker-socket",
        default="/var/run/docker.sock",
        metavar="PATH",
        help="the Docker Engine API socket",
    )
    add_flag(
        parser,
        "--docker-api-version",
        metavar="X.Y",
        help="Docker Engine API version (default: the daemon's)",
    )
    add_flag(
        parser,
        "--docker-stop-timeout",
        default=10,
        parse=_seconds,
        metavar="SECONDS",
        help="seconds between SIGTERM and SIGKILL",
    )
    add_flag(
        parser,
        "--restart-command",
        metavar="ARGV",
        help="with --target command: the command line, {label} fields filled from the alert",
    )
    add_flag(
        parser,
        "--command-timeout",
        default=60.0,
        parse=parse_duration,
        metavar="DURATION",
        help="kill --restart-command after DURATION",
    )


def _resolve_switches(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    for dest in _SWITCHES:
        if getattr(args, dest) is not None:
            continue
        env = env_name("--" + dest.replace("_", "-"))
        raw = environ.get(env, "").strip().lower()
        if raw not in ("", "0", "1", "true", "false", "yes", "no"):
            raise UsageError(f"{env}: {raw!r} is not true or false")
        setattr(args, dest, raw in ("1", "true", "yes"))


def build_target(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    """The target the flags describe; `UsageError` for an incomplete description."""
    if args.target == "kubernetes":
        from agentwatch.alerts.remediation.k8s import KubeApi, KubernetesTarget, in_cluster

        kube = in_cluster(
            environ, url=args.kube_api_url, credentials_dir=Path(args.kube_credentials_dir)
        )
        return KubernetesTarget(KubeApi(kube))
    if args.target == "docker":
        from agentwatch.alerts.remediation.docker import DockerApi, DockerTarget

        try:
            api = DockerApi(Path(args.docker_socket), args.docker_api_version)
        except ValueError as exc:
            raise UsageError(f"--docker-api-version: {exc}") from None
        return DockerTarget(api, args.docker_stop_timeout)
    from agentwatch.alerts.remediation.command import CommandTarget, parse_command

    if not args.restart_command:
        raise UsageError("--target command needs --restart-command")
    try:
        argv = parse_command(args.restart_command)
    except ValueError as exc:
        raise UsageError(f"--restart-command: {exc}") from None
    return CommandTarget(argv, args.command_timeout)


def build_server(args: argparse.Namespace, environ: Mapping[str, str]) -> WebhookServer:
    """Check every flag and wire the receiver (not yet listening)."""
    from agentwatch.exporter.server import parse_listen

    resolve(args, environ)
    _resolve_switches(args, environ)
    host, port = parse_listen(args.listen)
    token = config.load_token(args.token_file, environ)
    tls = config.tls_context(args.tls_cert_file, args.tls_key_file, args.tls_client_ca_file)
    config.check_auth(host, token, tls, args.insecure_no_auth)
    policy = Policy(
        alertnames=frozenset(
            decide.DEFAULT_ALERTNAMES if args.alertnames is None else args.alertnames
        ),
        allow_namespaces=args.allow_namespace or (),
        allow_workloads=args.allow_workload or (),
        cooldown=args.cooldown,
        max_restarts=args.max_restarts,
        window=args.restart_window,
    )
    if not policy.alertnames:
        raise UsageError("--alertnames: the list is empty")
    target = build_target(args, environ)
    if not policy.allow_namespaces or not policy.allow_workloads:
        log.warning("the allow-list is empty: every alert will be skipped-not-allowed")
    remediator = Remediator(
        target, Ledger(policy), AuditLog.open(args.audit_log), dry_run=not args.enable
    )
    options = ServerOptions(host, port, token, tls, args.max_body_bytes)
    return WebhookServer(remediator, options)


def run(args: argparse.Namespace) -> int:
    """Start the receiver and serve until SIGINT or SIGTERM."""
    server = build_server(args, os.environ)
    if server.remediator.dry_run:
        log.warning("dry run: decisions are audited, nothing is restarted (--enable to act)")
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    server.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.remediator.audit.close()
    return 0
