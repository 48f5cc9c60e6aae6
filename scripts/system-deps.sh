#!/usr/bin/env bash
# Install the real components the integration tests start: Prometheus and promtool, Alertmanager
# and amtool (Debian's packages), openssl for the TLS tests, docker-compose and kubectl for the
# stack's configuration checks. Idempotent; needs root (or sudo)
# when something is missing. Without root it says what to install and leaves the decision to the
# tests: they skip, or fail where AGENTWATCH_REQUIRE_BINARIES=1 (as in CI).
set -euo pipefail

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v openssl >/dev/null || need+=(openssl)
# A Compose implementation, for `docker-compose config` on the compose files (tests/stack).
command -v docker-compose >/dev/null || need+=(docker-compose)
# kubectl (for `kubectl kustomize`) where the machine's package sources have it.
if ! command -v kubectl >/dev/null && apt-cache show kubectl >/dev/null 2>&1; then
  need+=(kubectl)
fi
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "system-deps: missing ${need[*]}; install with: sudo apt-get install ${need[*]}" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${need[*]} and no apt-get here; install them by hand" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start system services; the tests run their own instances on free ports.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  "${sudo[@]}" systemctl disable --now prometheus prometheus-node-exporter prometheus-alertmanager \
    >/dev/null 2>&1 || true
fi
