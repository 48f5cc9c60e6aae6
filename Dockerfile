# syntax=docker/dockerfile:1
# The agentwatch image: the GPU exporter (the default command) and `agentwatch remediate`.
# The `demo` target adds what the demo agent needs: `docker build --target demo`.
# Base images are pinned to a version; bump them deliberately (tests/stack checks the pins).
ARG PYTHON_IMAGE=python:3.12.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY exporter exporter
COPY instrumentation instrumentation
COPY alerts alerts
COPY dashboards dashboards
COPY deploy deploy
# A virtual environment that the runtime stage copies whole: no compiler, pip cache or
# sources end up in the image.
RUN python -m venv /opt/agentwatch \
 && /opt/agentwatch/bin/pip install --upgrade pip==25.1.1 \
 && /opt/agentwatch/bin/pip install .

FROM build AS build-demo
# The demo agent's libraries: pyproject.toml's `demo` extra (the OpenAI SDK it calls the fake
# LLM with, and the retry and circuit-breaker libraries it is instrumented through).
RUN /opt/agentwatch/bin/pip install '.[demo]'

FROM ${PYTHON_IMAGE} AS runtime
# A fixed, unprivileged uid that owns nothing in the image. NVML needs no root where the
# NVIDIA runtime hands the device nodes to the container (the usual 0666 nodes).
RUN groupadd --system --gid 10001 agentwatch \
 && useradd --system --uid 10001 --gid agentwatch --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin agentwatch
ENV PATH=/opt/agentwatch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001

FROM runtime AS demo
COPY --from=build-demo /opt/agentwatch /opt/agentwatch
LABEL org.opencontainers.image.title="agentwatch-demo" \
      org.opencontainers.image.source="https://github.com/agentwatch/agentwatch" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["python", "-m"]
CMD ["agentwatch.demo.llm_server", "--help"]

# The default target, last: the exporter.
FROM runtime AS exporter
COPY --from=build /opt/agentwatch /opt/agentwatch
LABEL org.opencontainers.image.title="agentwatch" \
      org.opencontainers.image.source="https://github.com/agentwatch/agentwatch" \
      org.opencontainers.image.licenses="Apache-2.0"
EXPOSE 9401
# /-/healthy answers while the HTTP server runs; a stalled collection shows in the metrics
# (agentwatch_exporter_collect_success 0), not as a dead container.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('AGENTWATCH_LISTEN', ':9401').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/-/healthy', timeout=4)"]
ENTRYPOINT ["agentwatch"]
CMD ["exporter", "--listen", "0.0.0.0:9401"]
