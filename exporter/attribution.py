"""`ProcAttributor`: the container and Kubernetes pod of a host PID, without the Kubernetes API.

The container id and pod UID come from /proc/PID/cgroup (and /proc/PID/mountinfo when the cgroup
says nothing). Pod names and namespaces come from kubelet's on-disk conventions, which a
DaemonSet can mount read-only:

- `/var/log/pods/<namespace>_<pod name>_<pod uid>/`, mapping a pod UID to its name;
- `/var/log/containers/<pod name>_<namespace>_<container name>-<container id>.log`, mapping a
  container id to its pod when the cgroup path carries no pod UID.

Namespaces and container names are DNS-1123 labels and pod names DNS-1123 subdomains; none can
hold an underscore, which makes the `_` split unambiguous. Entries that do not match are ignored.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from agentwatch.exporter.cgroup import NO_CGROUP_INFO, CgroupInfo, parse_cgroup, parse_mountinfo
from agentwatch.exporter.model import NO_ATTRIBUTION, Attribution

log = logging.getLogger(__name__)

RELIST_INTERVAL_SECONDS = 10.0
"""A directory is listed again on a lookup miss at most this often."""

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_UID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}"
_POD_DIR_RE = re.compile(rf"(?P<namespace>{_LABEL})_(?P<pod>{_SUBDOMAIN})_(?P<key>{_UID})")
_CONTAINER_LOG_RE = re.compile(
    rf"(?P<pod>{_SUBDOMAIN})_(?P<namespace>{_LABEL})_{_LABEL}-(?P<key>[0-9a-f]{{64}})\.log"
)

_Pod = tuple[str, str]
"""(namespace, pod name)."""


class _DirIndex:
    """A directory's entry names parsed into key -> (namespace, pod name).

    Listed again on a miss at most every `RELIST_INTERVAL_SECONDS`: a new pod resolves quickly,
    and a flood of unknown keys does not hammer the disk.
    """

    def __init__(
        self, path: str | Path | None, pattern: re.Pattern[str], clock: Callable[[], float]
    ) -> None:
        self._path = None if path is None else Path(path)
        self._pattern = pattern
        self._clock = clock
        self._entries: dict[str, _Pod] = {}
        self._listed_at: float | None = None

    def get(self, key: str) -> _Pod | None:
        if self._path is None or not key:
            return None
        found = self._entries.get(key)
        if found is None and self._due():
            self._relist(self._path)
            found = self._entries.get(key)
        return found

    def _due(self) -> bool:
        return self._listed_at is None or self._clock() - self._listed_at >= RELIST_INTERVAL_SECONDS

    def _relist(self, path: Path) -> None:
        self._listed_at = self._clock()
        try:
            names = os.listdir(path)
        except OSError as error:
            # Not a Kubernetes node, or the directory is not mounted: keep what was known.
            log.debug("cannot list %s: %s", path, error)
            return
        entries: dict[str, _Pod] = {}
        for name in names:
            match = self._pattern.fullmatch(name)
            if match is not None:
                entries[match["key"]] = (match["namespace"], match["pod"])
        self._entries = entries


class ProcAttributor:
    """Attribute host PIDs to containers and pods from /proc and kubelet's log directories."""

    def __init__(
        self,
        proc_root: str | Path = "/proc",
        pods_log_dir: str | Path | None = "/var/log/pods",
        containers_log_dir: str | Path | None = "/var/log/containers",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._proc_root = Path(proc_root)
        self._pods = _DirIndex(pods_log_dir, _POD_DIR_RE, clock)
        self._containers = _DirIndex(containers_log_dir, _CONTAINER_LOG_RE, clock)
        # A process never changes cgroup in practice, so its parse is kept until it exits;
        # the pod name is looked up on each call, so a pod whose log directory appears late
        # still resolves.
        self._cache: dict[int, CgroupInfo] = {}

    def attribute(self, pid: int) -> Attribution:
        """Return where `pid` runs; `Attribution()` when unknown. Never raises."""
        try:
            info = self._cache.get(pid)
            if info is None:
                info = self._read(pid)
                if info is None:
                    return NO_ATTRIBUTION
                self._cache[pid] = info
            return self._resolve(info)
        except Exception:  # a surprise in /proc must cost one label, never the scrape
            log.debug("attribution of pid %d failed", pid, exc_info=True)
            return NO_ATTRIBUTION

    def forget(self, live_pids: set[int]) -> None:
        """Drop cached entries of processes that are no longer alive."""
        self._cache = {pid: info for pid, info in self._cache.items() if pid in live_pids}

    def _read(self, pid: int) -> CgroupInfo | None:
        """Parse the process's files; None when it is gone (nothing worth caching)."""
        directory = self._proc_root / str(pid)
        try:
            info = parse_cgroup(_read_text(directory / "cgroup"))
            if info == NO_CGROUP_INFO:
                info = parse_mountinfo(_read_text(directory / "mountinfo"))
        except (FileNotFoundError, ProcessLookupError) as error:
            log.debug("pid %d is gone: %s", pid, error)
            return None
        except OSError as error:
            # Permission denied and the like will not change for this process: cache the miss.
            log.debug("cannot read /proc of pid %d: %s", pid, error)
            return NO_CGROUP_INFO
        return info

    def _resolve(self, info: CgroupInfo) -> Attribution:
        if info == NO_CGROUP_INFO:
            return NO_ATTRIBUTION
        pod = self._pods.get(info.pod_uid) or self._containers.get(info.container_id)
        if pod is None:
            return Attribution(container=info.container_id, pod=info.pod_uid)
        namespace, name = pod
        return Attribution(container=info.container_id, pod=name, namespace=namespace)


def _read_text(path: Path) -> str:
    # Paths in these files are bytes; a stray non-UTF-8 name must not hide the rest.
    return path.read_bytes().decode("utf-8", errors="replace")
