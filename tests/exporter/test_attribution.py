"""ProcAttributor against a fake /proc, /var/log/pods and /var/log/containers in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentwatch.exporter.attribution import RELIST_INTERVAL_SECONDS, ProcAttributor
from agentwatch.exporter.model import Attribution

# Entry names in the shape kubelet writes them (a kubeadm node's /var/log/pods and
# /var/log/containers); the static pod's UID is a 32-hex hash.
PROXY_UID = "81e09ae0-12ec-4ec5-94b8-51cda7906370"
PROXY_ID = "c269a18400e27b14085c57f8e36f5b4d5471c140eb27e8b0f632c056547555de"
APISERVER_UID = "33d556edd3ae8ef21980288cef77ae8b"
APISERVER_ID = "3959d7abfbd0221e5043fccbcb8040e9a1a4e6518dad483b7a33a131885e0283"
OTHER_UID = "0a947273-7214-4824-8411-875ebd7626e4"
OTHER_ID = "a8f62e52ed7c2cd85242dcf0eb1d727b643540ceca7f328ad7d2f31aedf07731"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def systemd_cgroup(uid: str, container_id: str) -> str:
    escaped = uid.replace("-", "_")
    return (
        "0::/kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{escaped}.slice/cri-containerd-{container_id}.scope\n"
    )


class Node:
    """A fake node: /proc entries and kubelet's log directories under one tmp_path."""

    def __init__(self, root: Path) -> None:
        self.proc = root / "proc"
        self.pods = root / "var/log/pods"
        self.containers = root / "var/log/containers"
        for directory in (self.proc, self.pods, self.containers):
            directory.mkdir(parents=True)
        self.clock = FakeClock()

    def process(self, pid: int, cgroup: str | bytes, mountinfo: str = "") -> Path:
        directory = self.proc / str(pid)
        directory.mkdir(exist_ok=True)
        data = cgroup.encode() if isinstance(cgroup, str) else cgroup
        (directory / "cgroup").write_bytes(data)
        (directory / "mountinfo").write_text(mountinfo)
        return directory

    def pod(self, namespace: str, name: str, uid: str) -> Path:
        directory = self.pods / f"{namespace}_{name}_{uid}"
        directory.mkdir()
        return directory

    def container_log(self, pod: str, namespace: str, container: str, cid: str) -> None:
        link = self.containers / f"{pod}_{namespace}_{container}-{cid}.log"
        # The symlink's target does not need to exist for the listing.
        link.symlink_to(self.pods / f"{namespace}_{pod}_x" / container / "0.log")

    def attributor(self, pods: bool = True, containers: bool = True) -> ProcAttributor:
        return ProcAttributor(
            proc_root=self.proc,
            pods_log_dir=self.pods if pods else None,
            containers_log_dir=self.containers if containers else None,
            clock=self.clock,
        )


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def test_pod_uid_resolves_to_name_and_namespace(node: Node) -> None:
    node.pod("kube-system", "kube-proxy-6xsx9", PROXY_UID)
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    got = node.attributor().attribute(100)
    assert got == Attribution(container=PROXY_ID, pod="kube-proxy-6xsx9", namespace="kube-system")


def test_static_pod_uid_resolves(node: Node) -> None:
    node.pod("kube-system", "kube-apiserver-controlplane", APISERVER_UID)
    node.process(100, systemd_cgroup(APISERVER_UID, APISERVER_ID))
    got = node.attributor().attribute(100)
    assert got == Attribution(APISERVER_ID, "kube-apiserver-controlplane", "kube-system")


def test_container_log_resolves_when_pod_uid_is_unknown(node: Node) -> None:
    node.container_log("kube-proxy-6xsx9", "kube-system", "kube-proxy", PROXY_ID)
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    got = node.attributor(pods=False).attribute(100)
    assert got == Attribution(PROXY_ID, "kube-proxy-6xsx9", "kube-system")


def test_mountinfo_is_read_when_the_cgroup_says_nothing(node: Node) -> None:
    node.container_log("kube-proxy-6xsx9", "kube-system", "kube-proxy", PROXY_ID)
    mountinfo = (
        f"473 456 254:1 /var/lib/docker/containers/{PROXY_ID}/hostname /etc/hostname "
        "rw,relatime - ext4 /dev/vda1 rw\n"
    )
    node.process(100, "0::/\n", mountinfo)
    got = node.attributor().attribute(100)
    assert got == Attribution(PROXY_ID, "kube-proxy-6xsx9", "kube-system")


def test_unresolved_pod_falls_back_to_its_uid(node: Node) -> None:
    node.process(100, systemd_cgroup(OTHER_UID, OTHER_ID))
    assert node.attributor().attribute(100) == Attribution(OTHER_ID, OTHER_UID, "")


def test_container_outside_kubernetes(node: Node) -> None:
    node.process(100, f"0::/system.slice/docker-{OTHER_ID}.scope\n")
    got = node.attributor(pods=False, containers=False).attribute(100)
    assert got == Attribution(container=OTHER_ID)


def test_host_process_has_no_attribution(node: Node) -> None:
    node.process(100, "0::/system.slice/sshd.service\n")
    assert node.attributor().attribute(100) == Attribution()


def test_second_call_uses_the_cache_until_forget(node: Node) -> None:
    node.pod("kube-system", "kube-proxy-6xsx9", PROXY_UID)
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    attributor = node.attributor()
    first = attributor.attribute(100)
    node.process(100, systemd_cgroup(OTHER_UID, OTHER_ID))
    assert attributor.attribute(100) == first
    attributor.forget({100, 200})
    assert attributor.attribute(100) == first
    attributor.forget({200})
    assert attributor.attribute(100) == Attribution(OTHER_ID, OTHER_UID, "")


def test_pod_log_directory_is_relisted_on_a_miss_at_most_every_interval(node: Node) -> None:
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    attributor = node.attributor()
    assert attributor.attribute(100).pod == PROXY_UID
    node.pod("kube-system", "kube-proxy-6xsx9", PROXY_UID)
    node.clock.now += RELIST_INTERVAL_SECONDS - 0.5
    assert attributor.attribute(100).pod == PROXY_UID
    node.clock.now += 0.5
    assert attributor.attribute(100).pod == "kube-proxy-6xsx9"


def test_a_hit_does_not_relist_and_a_later_miss_drops_deleted_pods(node: Node) -> None:
    proxy_dir = node.pod("kube-system", "kube-proxy-6xsx9", PROXY_UID)
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    node.process(200, systemd_cgroup(OTHER_UID, OTHER_ID))
    attributor = node.attributor()
    assert attributor.attribute(100).pod == "kube-proxy-6xsx9"
    proxy_dir.rmdir()
    node.clock.now += 2 * RELIST_INTERVAL_SECONDS
    assert attributor.attribute(100).pod == "kube-proxy-6xsx9"
    assert attributor.attribute(200).pod == OTHER_UID
    assert attributor.attribute(100).pod == PROXY_UID


@pytest.mark.parametrize(
    "entry",
    [
        f"kube-system_kube_proxy_{PROXY_UID}",
        f"Kube-System_kube-proxy-6xsx9_{PROXY_UID}",
        f"kube-system_kube-proxy-6xsx9_{PROXY_UID}_extra",
        "kube-system_kube-proxy-6xsx9_not-a-uid",
        f"-bad_kube-proxy-6xsx9_{PROXY_UID}",
    ],
    ids=["underscore-in-name", "uppercase", "extra-field", "bad-uid", "leading-dash"],
)
def test_malformed_pod_log_entries_are_ignored(node: Node, entry: str) -> None:
    (node.pods / entry).mkdir()
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    assert node.attributor().attribute(100) == Attribution(PROXY_ID, PROXY_UID, "")


def test_pod_name_may_be_a_dns_subdomain(node: Node) -> None:
    node.pod("default", "nodehelloworld.example.com", PROXY_UID)
    node.process(100, systemd_cgroup(PROXY_UID, PROXY_ID))
    assert node.attributor().attribute(100).pod == "nodehelloworld.example.com"


def test_missing_pid_is_empty_and_not_cached(node: Node) -> None:
    attributor = node.attributor()
    assert attributor.attribute(300) == Attribution()
    node.process(300, f"0::/system.slice/docker-{OTHER_ID}.scope\n")
    assert attributor.attribute(300).container == OTHER_ID


def test_unreadable_cgroup_file_is_empty(node: Node) -> None:
    # Running as root defeats chmod; a directory where the file should be fails the same way.
    directory = node.proc / "100"
    (directory / "cgroup").mkdir(parents=True)
    assert node.attributor().attribute(100) == Attribution()


def test_symlink_loop_is_empty(node: Node) -> None:
    directory = node.proc / "100"
    directory.mkdir()
    os.symlink("cgroup", directory / "cgroup")
    assert node.attributor().attribute(100) == Attribution()


def test_garbage_bytes_are_empty(node: Node) -> None:
    node.process(100, b"\xff\xfe\x00garbage\n12:\x80:/docker/\xc3\n", "\xff not mountinfo")
    assert node.attributor().attribute(100) == Attribution()


def test_missing_directories_are_empty(tmp_path: Path) -> None:
    attributor = ProcAttributor(
        proc_root=tmp_path / "no-proc",
        pods_log_dir=tmp_path / "no-pods",
        containers_log_dir=tmp_path / "no-containers",
    )
    assert attributor.attribute(1) == Attribution()
    assert attributor.attribute(-1) == Attribution()


def test_real_proc_self_does_not_raise() -> None:
    assert isinstance(ProcAttributor().attribute(os.getpid()), Attribution)
