"""Exporter health: are the exporters scraped, do their collections succeed, is the data fresh.

Also agentwatch's own errors inside instrumented applications: a counted error there means a
signal went missing while the application's call went on.
"""

from __future__ import annotations

from typing import Any

from agentwatch import names
from agentwatch.alerts import rules
from agentwatch.dashboards.common import (
    RATE,
    banner_layout,
    dashboard,
    metric,
    query_variable,
    select,
    stat,
    steps,
    target,
    timeseries,
)

KEY = "exporter_health"
UP = "up"
"""Series Prometheus writes for every target it scrapes."""
SCRAPE_DURATION = "scrape_duration_seconds"
SCRAPE_SAMPLES = "scrape_samples_scraped"


def build(config: rules.Config | None = None) -> Any:
    """The exporter health dashboard."""
    c = config or rules.Config()
    on = (c.exporter_selector, 'instance=~"$instance"')

    def m(name: str, *extra: str) -> str:
        return select(name, *on, *extra)

    layout = banner_layout()
    layout.row("Exporters")
    layout.add(
        stat(
            "Exporters up",
            "Whether Prometheus can scrape each exporter (its `up` series); down for 5 minutes"
            " is AgentwatchExporterDown, and its GPUs are unwatched.",
            [target(m(UP), "{{instance}}", instant=True)],
            "none",
            thresholds=steps("red", (1, "green")),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"color": "red", "index": 0, "text": "down"},
                        "1": {"color": "green", "index": 1, "text": "up"},
                    },
                }
            ],
        ),
        w=8,
        h=5,
    )
    layout.add(
        stat(
            "Last collection succeeded",
            "1 if the exporter's last collection read every GPU, 0 if it failed or is stale;"
            " 0 for 10 minutes is AgentwatchExporterCollectFailing.",
            [target(m(metric(names.EXPORTER_COLLECT_SUCCESS)), "{{instance}}", instant=True)],
            "none",
            thresholds=steps("red", (1, "green")),
        ),
        w=8,
        h=5,
    )
    layout.add(
        stat(
            "Data age",
            "Seconds since each exporter's last fully successful collection. Red over"
            f" {rules.duration(c.exporter_stale_seconds)}: AgentwatchExporterStale.",
            [
                target(
                    f"time() - {m(metric(names.EXPORTER_LAST_SUCCESS))}",
                    "{{instance}}",
                    instant=True,
                )
            ],
            "s",
            thresholds=steps("green", (float(c.exporter_stale_seconds), "red")),
        ),
        w=8,
        h=5,
    )
    layout.add(
        timeseries(
            "Collection success",
            "The exporter's collect_success over time: dips are collections that missed a GPU.",
            [target(m(metric(names.EXPORTER_COLLECT_SUCCESS)), "{{instance}}")],
            "none",
            thresholds=steps("red", (1, "green")),
            minimum=0,
            maximum=1,
        )
    )
    layout.add(
        timeseries(
            "Collection and scrape duration",
            "Wall time of the exporter's last collection cycle, and of Prometheus's scrape.",
            [
                target(m(metric(names.EXPORTER_COLLECT_DURATION)), "collect {{instance}}"),
                target(m(SCRAPE_DURATION), "scrape {{instance}}"),
            ],
            "s",
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "NVML errors",
            "NVML calls that failed per second, by call and error (gpu_is_lost, not_supported"
            " is never counted: unsupported fields are absent). Only failing calls are drawn.",
            [
                target(
                    "sum by (instance, call, error)"
                    f" (rate({m(metric(names.EXPORTER_NVML_ERRORS))}[{RATE}])) > 0",
                    "{{call}} {{error}} {{instance}}",
                )
            ],
            "cps",
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "Samples per scrape",
            "Samples each exporter serves per scrape: grows with GPUs and processes; a sudden"
            " drop is lost GPUs or processes.",
            [target(m(SCRAPE_SAMPLES), "{{instance}}")],
            "short",
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "GPUs lost",
            "GPUs that stopped answering the driver (agentwatch_gpu_up 0): lost for 1 minute"
            " is AgentwatchGpuLost.",
            [target(f"{m(metric(names.GPU_UP))} == 0", "{{instance}} GPU {{gpu}}")],
            "none",
            bars=True,
        )
    )

    layout.row("agentwatch inside instrumented applications")
    errors = select(metric(names.INSTRUMENTATION_ERRORS), c.llm_selector)
    layout.add(
        timeseries(
            "Instrumentation errors",
            "Errors inside agentwatch's instrumentation of LLM clients, by service, where and"
            " error: the instrumented call went on, but some of its telemetry is missing.",
            [
                target(
                    f"sum by (job, instrumentation, error) (rate({errors}[{RATE}]))",
                    "{{instrumentation}} {{error}} {{job}}",
                )
            ],
            "cps",
            minimum=0,
        ),
        w=24,
    )
    variables = [
        query_variable("instance", "Exporter", select(UP, c.exporter_selector), "instance"),
    ]
    return dashboard(
        KEY,
        "The agentwatch exporters' own health (scrapes, collections, data age, NVML errors) and"
        " agentwatch's errors inside instrumented applications.",
        layout,
        variables,
    )
