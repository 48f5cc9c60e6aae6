"""Container id, pod uid and runtime from the text of /proc/PID/cgroup and /proc/PID/mountinfo.

Pure parsing, no I/O. A path is read component by component and the deepest match wins, so a
container nested in another (Docker in Docker, KinD nodes on podman) reports the inner one and
sub-cgroups below a container (`init.scope`, crun's `container`, `kube-proxy`) are ignored. An id
counts only when a whole component (or the part after a known runtime prefix) is exactly 64
lowercase hex digits. That keeps out systemd units that merely embed an id (a Docker shm mount
unit) and the `crio-conmon-<id>.scope` and `libpod-conmon-<id>.scope` monitor processes, which
are not containers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX64 = r"[0-9a-f]{64}"
# Pod UIDs are UUIDs; static (file-defined) pods use a 32-hex hash instead. The systemd driver
# escapes the dashes as underscores.
_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}"
# `kubepods-pod<uid>.slice` (guaranteed QoS), `kubepods-burstable-pod<uid>.slice`, and KinD's
# `kubelet-kubepods-besteffort-pod<uid>.slice`.
_POD_SLICE = rf"(?:[a-z]+-)?kubepods-(?:[a-z]+-)?pod(?P<uid>{_UID})\.slice"
_PREFIXES = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}
_PREFIX = "|".join(re.escape(prefix) for prefix in _PREFIXES)

# `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope` (systemd
# driver) and podman's cgroupfs `libpod_parent/libpod-<id>`.
_PREFIXED_RE = re.compile(rf"(?P<prefix>{_PREFIX})-(?P<id>{_HEX64})(?:\.scope)?")
# runc's systemd cgroupsPath `slice:prefix:name` taken literally as a cgroupfs name, seen on cgroup
# v1 with containerd 1.4: `kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>`.
_SLICE_PATH_RE = re.compile(rf"{_POD_SLICE}:(?P<prefix>{_PREFIX}):(?P<id>{_HEX64})")
_BARE_ID_RE = re.compile(_HEX64)
_POD_SLICE_RE = re.compile(_POD_SLICE)
_POD_DIR_RE = re.compile(rf"pod(?P<uid>{_UID})")
_LINE_RE = re.compile(r"(?P<hierarchy>\d+):(?P<controllers>[^:]*):(?P<path>.*)")

# mountinfo (proc(5)): `id parent major:minor root mount-point options [optional...] - fstype ...`.
# A file counts only as the root (the path inside its filesystem) of a mount at the place the
# runtime puts it: on a host, kubelet's subPath bind mounts and every container's rootfs appear
# in the mount table too, and must not attribute host processes to some container.
_DOCKER_FILE_RE = re.compile(
    rf"(?:^|/)docker/containers/(?P<id>{_HEX64})/(?P<file>hostname|hosts|resolv\.conf)$"
)
# Podman and CRI-O (containers/storage). In a CRI-O pod hostname, resolv.conf and .containerenv
# come from the sandbox (pause) container; `userdata/run/secrets` is the container's own.
_STORAGE_FILE_RE = re.compile(
    rf"(?:^|/)overlay-containers/(?P<id>{_HEX64})/userdata/"
    r"(?P<file>hostname|hosts|resolv\.conf|\.containerenv|run/secrets)$"
)
# Kubelet bind-mounts `/var/lib/kubelet/pods/<uid>/etc-hosts` on /etc/hosts in every container it
# starts; then the network files above belong to the pod sandbox, not to this container.
_KUBELET_HOSTS_RE = re.compile(rf"(?:^|/)kubelet/pods/(?P<uid>{_UID})/(?P<file>etc-hosts)$")
_MOUNT_POINTS = {
    "hostname": "/etc/hostname",
    "hosts": "/etc/hosts",
    "resolv.conf": "/etc/resolv.conf",
    "etc-hosts": "/etc/hosts",
    ".containerenv": "/run/.containerenv",
    "run/secrets": "/run/secrets",
}


@dataclass(frozen=True)
class CgroupInfo:
    """What a cgroup path or mount table tells about a process; empty strings when nothing."""

    container_id: str = ""
    """The full 64-hex container id, lowercase."""
    pod_uid: str = ""
    """The Kubernetes pod UID, dashed (or the 32-hex hash of a static pod)."""
    runtime: str = ""
    """`docker`, `containerd`, `cri-o`, `podman`, or `` when the path does not say."""


NO_CGROUP_INFO = CgroupInfo()


def canonical_pod_uid(raw: str) -> str:
    """Return a pod UID in kubelet's form: dashes instead of the systemd driver's underscores."""
    return raw.replace("_", "-")


def parse_cgroup_path(path: str) -> CgroupInfo:
    """Classify one cgroup path such as `/kubepods/burstable/pod<uid>/<id>`."""
    container_id = pod_uid = runtime = ""
    parent = ""
    for part in path.split("/"):
        if match := _SLICE_PATH_RE.fullmatch(part):
            container_id, runtime = match["id"], _PREFIXES[match["prefix"]]
            pod_uid = canonical_pod_uid(match["uid"])
        elif match := _PREFIXED_RE.fullmatch(part):
            container_id, runtime = match["id"], _PREFIXES[match["prefix"]]
        elif _BARE_ID_RE.fullmatch(part):
            # Under /kubepods (cgroupfs driver) a bare id does not say whether dockershim or
            # containerd made it; only Docker's own `/docker/<id>` does.
            container_id, runtime = part, "docker" if parent == "docker" else ""
        elif match := _POD_SLICE_RE.fullmatch(part) or _POD_DIR_RE.fullmatch(part):
            pod_uid = canonical_pod_uid(match["uid"])
        parent = part
    return CgroupInfo(container_id, pod_uid, runtime)


def parse_cgroup(text: str) -> CgroupInfo:
    """Parse /proc/PID/cgroup (v1, v2 or hybrid); the unified `0::` line is preferred."""
    unified: list[str] = []
    legacy: list[str] = []
    for line in text.splitlines():
        match = _LINE_RE.fullmatch(line.strip())
        if match is None:
            continue
        if match["hierarchy"] == "0" and not match["controllers"]:
            unified.append(match["path"])
        else:
            legacy.append(match["path"])
    # Hybrid hosts can leave the unified line at the runtime's own service
    # (`0::/system.slice/containerd.service`) while v1 controllers name the container, so a line
    # that yields no container id never ends the search.
    pod_only = NO_CGROUP_INFO
    for path in unified + legacy:
        info = parse_cgroup_path(path)
        if info.container_id:
            return info
        if info.pod_uid and not pod_only.pod_uid:
            pod_only = info
    return pod_only


def parse_mountinfo(text: str) -> CgroupInfo:
    """Parse /proc/PID/mountinfo: the fallback when the cgroup file reads `0::/`."""
    from_cgroup_mount = NO_CGROUP_INFO
    own_secrets = docker_file = storage_file = pod_uid = ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        root, mount_point = fields[3], fields[4]
        if _fstype(fields) in ("cgroup", "cgroup2"):
            # Without a private cgroup namespace, a cgroup mount's root is the container's path.
            if not from_cgroup_mount.container_id:
                from_cgroup_mount = parse_cgroup_path(root)
        elif match := _placed(_KUBELET_HOSTS_RE, root, mount_point):
            pod_uid = pod_uid or canonical_pod_uid(match["uid"])
        elif match := _placed(_DOCKER_FILE_RE, root, mount_point):
            docker_file = docker_file or match["id"]
        elif match := _placed(_STORAGE_FILE_RE, root, mount_point):
            if match["file"] == "run/secrets":
                own_secrets = own_secrets or match["id"]
            else:
                storage_file = storage_file or match["id"]
    if from_cgroup_mount.container_id:
        return from_cgroup_mount
    pod_uid = pod_uid or from_cgroup_mount.pod_uid
    runtime_of_storage = "cri-o" if pod_uid else "podman"
    if own_secrets:
        return CgroupInfo(own_secrets, pod_uid, runtime_of_storage)
    if pod_uid:
        # Kubelet-managed: the hostname-style mounts name the sandbox, so only the pod is known.
        return CgroupInfo("", pod_uid, "")
    if docker_file:
        return CgroupInfo(docker_file, "", "docker")
    if storage_file:
        return CgroupInfo(storage_file, "", "podman")
    return NO_CGROUP_INFO


def _placed(pattern: re.Pattern[str], root: str, mount_point: str) -> re.Match[str] | None:
    match = pattern.search(root)
    if match is None or _MOUNT_POINTS[match["file"]] != mount_point:
        return None
    return match


def _fstype(fields: list[str]) -> str:
    # Optional fields (`shared:N`, `master:N`) vary in number; a lone `-` ends them.
    try:
        return fields[fields.index("-", 6) + 1]
    except (ValueError, IndexError):
        return ""


def parse_mountinfo_container_id(text: str) -> str:
    """Return the 64-hex container id named by /proc/PID/mountinfo, or ``."""
    return parse_mountinfo(text).container_id
