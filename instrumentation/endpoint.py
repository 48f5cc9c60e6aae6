"""`PrometheusEndpoint`: one in-process `/metrics` with the LLM metrics and this process's GPUs.

For users without a collector: `agentwatch.instrument(prometheus="127.0.0.1:9464")` serves what
the collector's Prometheus exporter would have served for this process, plus the GPU metrics of
the devices it uses. The HTTP side is the exporter's `MetricsServer` (health, readiness, keep-
alive, per-connection threads and timeouts); this module is its `MetricsSource`. The LLM part is
rendered at scrape time (cumulative in-process state, cheap to write); the GPU part is the
`LocalGpu`'s pre-rendered bytes, so NVML is never on a scrape's path.
"""

from __future__ import annotations

import gzip
from typing import Protocol

from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE

from agentwatch.exporter.server import MetricsServer, parse_listen
from agentwatch.instrumentation.prometheus_reader import PrometheusReader

DEFAULT_LISTEN = "127.0.0.1:9464"
"""The OpenTelemetry Prometheus exporter's default port, on loopback."""
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""What the text form is: format 0.0.4, whatever prometheus_client's latest constant says."""
_GZIP_LEVEL = 1  # as the exporter: metrics text is repetitive, level 1 gets most of the gain


class GpuSource(Protocol):
    """The GPU part of the page: `LocalGpu`, or a test's stand-in."""

    def start(self) -> None:
        """Begin collecting (in the background; never blocks on the driver)."""
        ...

    def stop(self) -> None:
        """Stop collecting and release the driver."""
        ...

    def ready(self) -> bool:
        """True once a first collection was published."""
        ...

    def text(self, openmetrics: bool) -> bytes:
        """Families in the asked-for format, without OpenMetrics' `# EOF`."""
        ...


class PrometheusEndpoint:
    """Serve `reader`'s metrics and `gpu`'s on `listen`; `start()`, then `shutdown()`."""

    def __init__(
        self, reader: PrometheusReader, gpu: GpuSource | None, listen: str = DEFAULT_LISTEN
    ) -> None:
        host, port = parse_listen(listen)  # UsageError now, before anything starts
        self._reader = reader
        self._gpu = gpu
        self._server = MetricsServer(self, host, port)

    def start(self) -> None:
        """Bind first (a taken port fails fast, with `AgentwatchError`), then collect GPUs."""
        self._server.start()
        if self._gpu is not None:
            self._gpu.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        return self._server.address

    def shutdown(self) -> None:
        """Stop serving and collecting; safe to call more than once."""
        self._server.shutdown()
        if self._gpu is not None:
            self._gpu.stop()

    def exposition(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, str]:
        """The page now: LLM metrics, then the GPU families, in the asked-for form."""
        body = self._reader.render(openmetrics, eof=False)
        if self._gpu is not None:
            body += self._gpu.text(openmetrics)
        if openmetrics:
            body += b"# EOF\n"
        if gzipped:
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL)
        return body, OPENMETRICS_TYPE if openmetrics else TEXT_TYPE

    def ready(self) -> bool:
        """True once the GPU part has a first collection (at once without one)."""
        return self._gpu is None or self._gpu.ready()
