"""Parsing of /proc/PID/cgroup and /proc/PID/mountinfo, on line shapes seen in the wild.

Each case names the runtime and cgroup driver and, in a comment, where the shape was seen. Ids come
from those sources (a shape seen without a usable id borrows one from another case); where a
source gave only a path, the `N:controller:` prefix is added.
"""

from __future__ import annotations

import pytest

from agentwatch.exporter.cgroup import (
    CgroupInfo,
    parse_cgroup,
    parse_mountinfo,
    parse_mountinfo_container_id,
)

_CONTROLLERS = ("name=systemd", "pids", "memory", "cpu,cpuacct", "devices", "freezer", "blkio")


def v1(path: str, unified: str | None = None) -> str:
    """A cgroup v1 file with every controller at `path`, numbered high to low as the kernel does,
    plus a `0::` line on a hybrid host."""
    count = len(_CONTROLLERS) + 1
    lines = [f"{count}:rdma:/"]
    lines += [f"{count - 1 - i}:{name}:{path}" for i, name in enumerate(_CONTROLLERS)]
    if unified is not None:
        lines.append(f"0::{unified}")
    return "\n".join(lines) + "\n"


def dashed(uid: str) -> str:
    return uid.replace("_", "-")


# neuvector/neuvector share/system/cgroup_test.go (TestDockerIDUbuntu, ...CentOS, ...RancherOS,
# ...Kubepods, ...Kubepods2, TestK8sProxyProcess, TestK8sBottleRocket, TestK8sCrio_v1_19,
# TestK8sCrio_v1_17, TestK8sContainerd_v1_2_13, TestK8sContainerd_v1_4_4).
NV_UBUNTU = "31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba98287593a2ee30"
NV_CENTOS = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"
NV_RANCHER_OUTER = "a9a5ad238e59234193ee7ec3fcff5e735b3708ea1068826952255b69e3cfa413"
NV_RANCHER_INNER = "ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a"
NV_KUBEPODS_POD, NV_KUBEPODS = (
    "74ba62da-1a3d-11e7-bb11-080027cb0e22",
    "cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c",
)
NV_KUBEPODS2_POD, NV_KUBEPODS2 = (
    "045b1e35_7f13_11e7_ac42_0050568ffca0",
    "b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70",
)
NV_PROXY_POD, NV_PROXY = (
    "f8a694f2-7c08-11e9-98da-000c29077430",
    "c04e0a88a1de067f25bece337d4dbb897396e0b623c2a65330850fc9823f1903",
)
NV_BOTTLEROCKET_POD, NV_BOTTLEROCKET = (
    "dd1bf9d1_241d_47f5_8e25_12de83135812",
    "f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830",
)
NV_BOTTLEROCKET_PATH = (
    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
    f"{NV_BOTTLEROCKET_POD}.slice/cri-containerd-{NV_BOTTLEROCKET}.scope"
)
NV_CRIO119_POD, NV_CRIO119 = (
    "8ca306fa_3c03_47fa_97dd_19979c345572",
    "d6d725b909f37c3e232aadfbafa950a58bfe7baa579ba8c47a12be88bb921607",
)
NV_CRIO117_POD, NV_CRIO117 = (
    "487a0dc6dccaeefbcfedba7a7ce1ca18",  # a static pod: kubelet's 32-hex hash, not a UUID
    "7a1fd6fe8cdfbd44dc78c4cc85dad7031eaab4365801684cad0aabdeaf863f9e",
)
NV_CTRD12_POD, NV_CTRD12 = (
    "a36d0c1d-0b26-4451-8d80-9c195e004afa",
    "5dd96d5394ca930a854a390ea46f7515a8bc930123eb3251ba20f2708a38fc61",
)
NV_CTRD14_POD, NV_CTRD14 = (
    "2105e389_7471_476e_a50f_6074cef29bbd",
    "d3d8ccf5cca91931c6285c1d7472c413dd5a7700fddc0aa9f89a9ac7008b003e",
)
# stackrox/collector collector/test/UtilityTest.cpp (ExtractContainerIDFromCgroup).
SR_MESOS_POD, SR_MESOS = (
    "8e18d5f1-1421-42b7-8151-fb1c3be4bd4d",
    "e73c55f3e7f5b6a9cfc32a89bf13e44d348bcc4fa7b079f804d61fb1532ddbe5",
)
SR_GKE_POD, SR_GKE = (
    "7cd3dba6-e475-11e9-8f99-42010a8a00d2",
    "2bc55a8cae1704a733ba5d785d146bbed9610483380507cbf00c96b32bb637e1",
)
SR_GKE_SYSTEMD_POD, SR_GKE_SYSTEMD = (
    "ce705797_e47e_11e9_bd71_42010a000002",
    "6525e65814a99d431b6978e8f8c895013176c6c58173b56639d4b020c14e6022",
)
SR_PODMAN = "e9cf81e3b1d172752567c8fe6ac48c1c751b9237ab47bf55cbfd5a971a4a9519"
SR_KIND_NODE = "cbdfa0f1f08763b1963c30d98e11e1f052cb67f1e9b7c0ab8a6ca6c70cbcad69"
SR_KIND_POD, SR_KIND = (
    "6eab3b7b_f0a6_4bb8_bff2_d5bc9017c04b",
    "5ebf11e02dbde102cda4b76bc0e3849a65f9edac7a12bdabfd34db01b9556101",
)
SR_CONMON = "b6ce30d02945df4bbf8e8b7193b2c56ebb3cd10227dd7e59d7f7cdc2cfa2a307"
# DataDog/dd-trace-py tests/tracer/runtime/test_container.py (ECS, Fargate, malformed ids).
DD_ECS = "38fac3e99302b3622be089dd41e7ccf38aff368a86cc339972075136ee2710ce"
DD_FARGATE = "432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da"
DD_DOCKER = "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860"
# An HTB "GitLab" write-up, `cat /proc/1/cgroup` inside a Docker container on a hybrid host.
HTB_DOCKER = "7eb263389e5eea068ad3d0c208ea4dd02ba86fa0b2ebd44f63adc391351fba6d"
# elastic/apm-agent-python tests/utils/cgroup_tests.py.
EL_DOCKER = "051e2ee0bce99116029a13df4a9e943137f19f957f38ac02d6bad96f9b700f76"
EL_CRIO_POD, EL_CRIO = (
    "90d81341_92de_11e7_8cf2_507b9d4141fa",
    "2227daf62df6694645fee5df53c1f91271546a9560e8600a525690ae252b7f63",
)
# open-telemetry/opentelemetry-java-instrumentation resources tests (*_proc_self_mountinfo*).
OT_DOCKER = "be522444b60caf2d3934b8b24b916a8a314f4b68d4595aa419874657e8d103f2"
OT_DOCKER1 = "188329f95b930c32eeeffd34658ed2538960947e166743fa3743f5ce3d739b40"
OT_CTRD_POD, OT_CTRD = (
    "321c09bf_282b_44e4_a467_39daf144ef1f",
    "f2a44bc8e090f93a2b4d7f510bdaff0615ad52906e3287ee956dcf5aa5012a91",
)
OT_CTRD_SANDBOX = "b136f3d296b4c2024b3e7ad816f2a804a47cf1acc3d445075c6d78cf159ef58d"
OT_CRIO_POD, OT_CRIO, OT_CRIO_SANDBOX = (
    "0a947273-7214-4824-8411-875ebd7626e4",
    "a8f62e52ed7c2cd85242dcf0eb1d727b643540ceca7f328ad7d2f31aedf07731",
    "2ac4c84cb0d3c3beb04beeef6ccf71c17b5fdd0252ce3a2b66bc2fdd0aaa1814",
)
OT_CRIO1_POD, OT_CRIO1 = (
    "8f215fa2_6177_4ab9_b1f4_c802d19657bc",
    "f23ec1d4b715c6531a17e9c549222fbbe1f7ffff697a29a2212b3b4cdc37f52e",
)
OT_PODMAN = "2a33efc76e519c137fe6093179653788bed6162d4a15e5131c8e835c968afbe6"
OT_PODMAN2 = "1b8f3c3819fbae7b858e55c52ec5783d06aa9cbf337815ecb9b96f47babcee5d"
# `podman inspect` State.CgroupPath and a podman --log-level=debug trace, both public.
PODMAN_CGROUPFS = "cf594798841275880f780c2aa55954b2d218b92a7c82df039aef02e2f4fe83f1"
PODMAN_ROOTLESS = "9ce45faf7719310972823ceeb3afaa4bc6c5b86fe1d59da60946fc12f42541ca"

CONTAINERS = [
    # Docker, cgroupfs driver, cgroup v1 (Ubuntu; neuvector).
    pytest.param(
        v1(f"/docker/{NV_UBUNTU}"), CgroupInfo(NV_UBUNTU, "", "docker"), id="docker-cgroupfs-v1"
    ),
    # A single devices line (elastic).
    pytest.param(
        f"12:devices:/docker/{EL_DOCKER}\n",
        CgroupInfo(EL_DOCKER, "", "docker"),
        id="docker-cgroupfs-v1-one-line",
    ),
    # Docker, systemd driver, cgroup v1 (CentOS; neuvector).
    pytest.param(
        v1(f"/system.slice/docker-{NV_CENTOS}.scope"),
        CgroupInfo(NV_CENTOS, "", "docker"),
        id="docker-systemd-v1",
    ),
    # Docker 20.10+ on a cgroup v2 host, systemd driver (the default there).
    pytest.param(
        f"0::/system.slice/docker-{NV_UBUNTU}.scope\n",
        CgroupInfo(NV_UBUNTU, "", "docker"),
        id="docker-systemd-v2",
    ),
    # Docker, cgroupfs driver, hybrid host: the unified line stays at containerd's service (HTB).
    pytest.param(
        v1(f"/docker/{HTB_DOCKER}", unified="/system.slice/containerd.service"),
        CgroupInfo(HTB_DOCKER, "", "docker"),
        id="docker-cgroupfs-hybrid",
    ),
    # Docker in Docker (RancherOS system-docker; neuvector): the inner container.
    pytest.param(
        v1(f"/docker/{NV_RANCHER_OUTER}/docker/{NV_RANCHER_INNER}"),
        CgroupInfo(NV_RANCHER_INNER, "", "docker"),
        id="docker-in-docker-v1",
    ),
    # Sysbox / systemd-in-container: processes live in `init.scope` below the container
    # (nestybox/sysbox issues 303 and 714).
    pytest.param(
        f"0::/system.slice/docker-{NV_CENTOS}.scope/init.scope\n",
        CgroupInfo(NV_CENTOS, "", "docker"),
        id="docker-systemd-v2-init-scope",
    ),
    # Read from a reader in a private cgroup namespace: the path climbs out with `..`.
    pytest.param(
        f"0::/../../system.slice/docker-{NV_CENTOS}.scope\n",
        CgroupInfo(NV_CENTOS, "", "docker"),
        id="docker-systemd-v2-relative",
    ),
    # Kubernetes, cgroupfs driver, besteffort, dockershim (neuvector).
    pytest.param(
        v1(f"/kubepods/besteffort/pod{NV_KUBEPODS_POD}/{NV_KUBEPODS}"),
        CgroupInfo(NV_KUBEPODS, NV_KUBEPODS_POD, ""),
        id="k8s-cgroupfs-besteffort-v1",
    ),
    # containerd 1.2, cgroupfs driver (neuvector).
    pytest.param(
        v1(f"/kubepods/besteffort/pod{NV_CTRD12_POD}/{NV_CTRD12}"),
        CgroupInfo(NV_CTRD12, NV_CTRD12_POD, ""),
        id="k8s-cgroupfs-containerd-1.2-v1",
    ),
    # Kubernetes, cgroupfs driver, burstable, hybrid host (GKE; stackrox, plus the unified line
    # seen with containerd on hybrid hosts).
    pytest.param(
        v1(
            f"/kubepods/burstable/pod{SR_GKE_POD}/{SR_GKE}",
            unified="/system.slice/containerd.service",
        ),
        CgroupInfo(SR_GKE, SR_GKE_POD, ""),
        id="k8s-cgroupfs-burstable-hybrid",
    ),
    # Guaranteed QoS has no QoS level: `kubepods/pod<uid>/<id>` (k3s layout).
    pytest.param(
        v1(f"/kubepods/pod{SR_MESOS_POD}/{SR_MESOS}"),
        CgroupInfo(SR_MESOS, SR_MESOS_POD, ""),
        id="k8s-cgroupfs-guaranteed-v1",
    ),
    # A sub-cgroup below the container (kube-proxy; neuvector).
    pytest.param(
        v1(f"/kubepods/besteffort/pod{NV_PROXY_POD}/{NV_PROXY}/kube-proxy"),
        CgroupInfo(NV_PROXY, NV_PROXY_POD, ""),
        id="k8s-cgroupfs-sub-cgroup-v1",
    ),
    # Kubernetes inside Mesos (stackrox).
    pytest.param(
        "4:memory:/mesos/3b1cf944-1d97-40a6-ac73-b156ac2f2bfe/mesos/077d75a1-d7b6-4e55-8114-"
        f"13f925fe4f49/kubepods/besteffort/pod{SR_MESOS_POD}/{SR_MESOS}\n",
        CgroupInfo(SR_MESOS, SR_MESOS_POD, ""),
        id="k8s-in-mesos-v1",
    ),
    # cgroup v2, reader in a private cgroup namespace (k0s, measured).
    pytest.param(
        f"0::/../../../burstable/pod{SR_GKE_POD}/{SR_GKE}\n",
        CgroupInfo(SR_GKE, SR_GKE_POD, ""),
        id="k8s-cgroupfs-v2-relative",
    ),
    # The same for a static pod, whose UID is a 32-hex hash.
    pytest.param(
        "0::/../../pode039200acb850c82bb901653cc38ff6e/"
        "58452031ab6dcaa4fe3ff91f8a46fd41a4a2405586f3cf3d5cb9c93b5bcf62cc\n",
        CgroupInfo(
            "58452031ab6dcaa4fe3ff91f8a46fd41a4a2405586f3cf3d5cb9c93b5bcf62cc",
            "e039200acb850c82bb901653cc38ff6e",
            "",
        ),
        id="k8s-cgroupfs-v2-static-pod-relative",
    ),
    # Kubernetes, systemd driver, dockershim, besteffort (neuvector) and burstable (stackrox).
    pytest.param(
        v1(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
            f"{NV_KUBEPODS2_POD}.slice/docker-{NV_KUBEPODS2}.scope"
        ),
        CgroupInfo(NV_KUBEPODS2, dashed(NV_KUBEPODS2_POD), "docker"),
        id="k8s-systemd-besteffort-docker-v1",
    ),
    pytest.param(
        "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{SR_GKE_SYSTEMD_POD}.slice/docker-{SR_GKE_SYSTEMD}.scope\n",
        CgroupInfo(SR_GKE_SYSTEMD, dashed(SR_GKE_SYSTEMD_POD), "docker"),
        id="k8s-systemd-burstable-docker-v1",
    ),
    # containerd, systemd driver, hybrid host (Bottlerocket; neuvector).
    pytest.param(
        v1(NV_BOTTLEROCKET_PATH, unified=NV_BOTTLEROCKET_PATH),
        CgroupInfo(NV_BOTTLEROCKET, dashed(NV_BOTTLEROCKET_POD), "containerd"),
        id="k8s-systemd-containerd-hybrid",
    ),
    # containerd, systemd driver, cgroup v2, burstable.
    pytest.param(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{OT_CTRD_POD}.slice/cri-containerd-{OT_CTRD}.scope\n",
        CgroupInfo(OT_CTRD, dashed(OT_CTRD_POD), "containerd"),
        id="k8s-systemd-containerd-v2",
    ),
    # Guaranteed QoS under the systemd driver: `kubepods-pod<uid>.slice` straight below
    # kubepods.slice.
    pytest.param(
        "0::/kubepods.slice/kubepods-podd80f4a0e_576f_47a8_a0cf_69dc23dc1980.slice/"
        f"cri-containerd-{NV_BOTTLEROCKET}.scope\n",
        CgroupInfo(NV_BOTTLEROCKET, "d80f4a0e-576f-47a8-a0cf-69dc23dc1980", "containerd"),
        id="k8s-systemd-guaranteed-v2",
    ),
    # containerd 1.4 with the systemd cgroupsPath taken literally, the path differing between
    # controllers (neuvector).
    pytest.param(
        f"11:pids:/system.slice/containerd.service/kubepods-besteffort-pod{NV_CTRD14_POD}.slice"
        f":cri-containerd:{NV_CTRD14}\n"
        f"10:freezer:/kubepods-besteffort-pod{NV_CTRD14_POD}.slice:cri-containerd:{NV_CTRD14}\n"
        f"1:name=systemd:/system.slice/containerd.service/kubepods-besteffort-pod{NV_CTRD14_POD}"
        f".slice:cri-containerd:{NV_CTRD14}\n",
        CgroupInfo(NV_CTRD14, dashed(NV_CTRD14_POD), "containerd"),
        id="k8s-containerd-1.4-slice-colon-v1",
    ),
    # CRI-O 1.19 (OpenShift 4.6; neuvector): tab-indented as pasted, with an `rdma:/` line.
    pytest.param(
        "\t12:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
        f"{NV_CRIO119_POD}.slice/crio-{NV_CRIO119}.scope\n\t6:rdma:/\n"
        "\t1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
        f"{NV_CRIO119_POD}.slice/crio-{NV_CRIO119}.scope\n\t",
        CgroupInfo(NV_CRIO119, dashed(NV_CRIO119_POD), "cri-o"),
        id="k8s-crio-1.19-v1",
    ),
    # CRI-O 1.17, a static pod (OpenShift 4.4 control plane; neuvector).
    pytest.param(
        v1(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
            f"{NV_CRIO117_POD}.slice/crio-{NV_CRIO117}.scope"
        ),
        CgroupInfo(NV_CRIO117, NV_CRIO117_POD, "cri-o"),
        id="k8s-crio-1.17-static-pod-v1",
    ),
    pytest.param(
        "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{EL_CRIO_POD}.slice/crio-{EL_CRIO}.scope\n",
        CgroupInfo(EL_CRIO, dashed(EL_CRIO_POD), "cri-o"),
        id="k8s-crio-v1-one-line",
    ),
    pytest.param(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{OT_CRIO1_POD}.slice/crio-{OT_CRIO1}.scope\n",
        CgroupInfo(OT_CRIO1, dashed(OT_CRIO1_POD), "cri-o"),
        id="k8s-crio-v2",
    ),
    # KinD on podman (stackrox): the pod's container, not the KinD node.
    pytest.param(
        f"0::/machine.slice/libpod-{SR_KIND_NODE}.scope/container/kubelet.slice/"
        "kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod"
        f"{SR_KIND_POD}.slice/cri-containerd-{SR_KIND}.scope\n",
        CgroupInfo(SR_KIND, dashed(SR_KIND_POD), "containerd"),
        id="kind-on-podman-v2",
    ),
    # Rootful podman with crun on cgroup v2: processes in the `container` sub-cgroup (stackrox).
    pytest.param(
        f"0::/machine.slice/libpod-{SR_PODMAN}.scope/container\n",
        CgroupInfo(SR_PODMAN, "", "podman"),
        id="podman-rootful-v2",
    ),
    # Rootless podman on cgroup v2, systemd driver (a cAdvisor-in-podman measurement).
    pytest.param(
        "0::/user.slice/user-1000.slice/user@1000.service/user.slice/"
        f"libpod-{PODMAN_ROOTLESS}.scope/container\n",
        CgroupInfo(PODMAN_ROOTLESS, "", "podman"),
        id="podman-rootless-v2",
    ),
    # Podman with the cgroupfs manager (`podman inspect` State.CgroupPath).
    pytest.param(
        f"0::/libpod_parent/libpod-{PODMAN_CGROUPFS}\n",
        CgroupInfo(PODMAN_CGROUPFS, "", "podman"),
        id="podman-cgroupfs-v2",
    ),
    # ECS on EC2 and on Fargate (dd-trace-py): the task is not a pod.
    pytest.param(
        v1(f"/ecs/test-ecs-classic/5a0d5ceddf6c44c1928d367a815d890f/{DD_ECS}"),
        CgroupInfo(DD_ECS, "", ""),
        id="ecs-ec2-v1",
    ),
    pytest.param(
        v1(f"/ecs/55091c13-b8cf-4801-b527-f4601742204d/{DD_FARGATE}"),
        CgroupInfo(DD_FARGATE, "", ""),
        id="ecs-fargate-v1",
    ),
]

POD_ONLY = [
    # A container id that is a UUID, not 64 hex (elastic): the pod is still known.
    pytest.param(
        "1:name=systemd:/kubepods/besteffort/pode9b90526-f47d-11e8-b2a5-080027b9f4fb/"
        "15aa6e53-b09a-40c7-8558-c6c31e36c88a\n",
        CgroupInfo("", "e9b90526-f47d-11e8-b2a5-080027b9f4fb", ""),
        id="k8s-non-hex-container-id",
    ),
    # CRI-O's conmon monitor sits in the pod's slice but is not a container (Kubernetes node
    # e2e tests, CRI-O with the systemd driver).
    pytest.param(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b7632a2_a56e_4278_987a_"
        "22de18008dbe.slice/crio-conmon-"
        "0bc5eac79e3ae7a0c2651f14722aa10fa333eb2325c2ca97da33aa284cda81b0.scope\n",
        CgroupInfo("", "0b7632a2-a56e-4278-987a-22de18008dbe", ""),
        id="k8s-crio-conmon",
    ),
]

NOTHING = [
    pytest.param("0::/system.slice/sshd.service\n", id="systemd-service-v2"),
    pytest.param("0::/user.slice/user-1000.slice/session-3.scope\n", id="user-session-v2"),
    pytest.param(v1("/user.slice/user-0.slice/session-14.scope"), id="user-session-v1"),
    pytest.param(v1("/"), id="host-root-v1"),
    # Inside a private cgroup namespace (the default for containers on cgroup v2).
    pytest.param("0::/\n", id="private-cgroupns-root"),
    # This sandbox's own /proc/self/cgroup: a 32-hex name is not a container id.
    pytest.param(
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/2934673e61f0dee0c6fcaa94e72888d5\n"
        "3:cpuset:/\n0::/\n",
        id="sandbox-process-api",
    ),
    # podman's conmon, rootful (stackrox) and rootless.
    pytest.param(f"0::/machine.slice/libpod-conmon-{SR_CONMON}.scope\n", id="podman-conmon"),
    pytest.param(
        f"0::/user.slice/user-1000.slice/user@1000.service/libpod-conmon-{SR_CONMON}.scope\n",
        id="podman-conmon-rootless",
    ),
    # A systemd mount unit that embeds an id in a longer name.
    pytest.param(
        "0::/system.slice/var-lib-docker-containers-"
        "1575e8b4a92a9c340a657f3df4ddc0f6a6305c200879f3898b26368ad019b503-mounts-shm.mount\n",
        id="id-inside-unit-name",
    ),
    # dd-trace-py's malformed ids: one short, one long, not hex.
    pytest.param(f"13:name=systemd:/docker/{DD_DOCKER[:-1]}\n", id="hex-63"),
    pytest.param(f"13:name=systemd:/docker/{DD_DOCKER}0\n", id="hex-65"),
    pytest.param(f"13:name=systemd:/docker/{DD_DOCKER[:20]}zyxw{DD_DOCKER[24:]}\n", id="not-hex"),
    pytest.param(f"a:name=systemd:/docker/{DD_DOCKER}\n", id="bad-hierarchy-id"),
    pytest.param(f"13:/docker/{DD_DOCKER}\n", id="missing-field"),
    pytest.param("", id="empty"),
    pytest.param("\x00\ufffd garbage\nno colons here\n::::\n", id="garbage"),
]


@pytest.mark.parametrize(("text", "expected"), CONTAINERS + POD_ONLY)
def test_parse_cgroup_finds_container_and_pod(text: str, expected: CgroupInfo) -> None:
    assert parse_cgroup(text) == expected


@pytest.mark.parametrize("text", NOTHING)
def test_parse_cgroup_finds_nothing(text: str) -> None:
    assert parse_cgroup(text) == CgroupInfo()


def test_unified_line_is_preferred_over_v1_controllers() -> None:
    text = f"1:name=systemd:/docker/{NV_UBUNTU}\n0::/system.slice/docker-{NV_CENTOS}.scope\n"
    assert parse_cgroup(text).container_id == NV_CENTOS


def mount(mid: int, root: str, point: str, fstype: str = "ext4", source: str = "/dev/vda1") -> str:
    """One mountinfo line in the shape of proc(5)."""
    return f"{mid} 1 254:1 {root} {point} rw,relatime master:28 - {fstype} {source} rw"


_OVERLAY = "0:58 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC"
_CGROUP2_PRIVATE = mount(469, "/", "/sys/fs/cgroup", "cgroup2", "cgroup")
_PROC = "457 456 0:146 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw"


def lines(*entries: str) -> str:
    return "\n".join(("456 375 " + _OVERLAY, _PROC, *entries)) + "\n"


MOUNTINFO = [
    # Docker on cgroup v2 with /var/lib on its own filesystem: roots start at `/docker/`
    # (opentelemetry-java docker_proc_self_mountinfo).
    pytest.param(
        lines(
            _CGROUP2_PRIVATE,
            mount(472, f"/docker/containers/{OT_DOCKER}/resolv.conf", "/etc/resolv.conf"),
            mount(473, f"/docker/containers/{OT_DOCKER}/hostname", "/etc/hostname"),
            mount(474, f"/docker/containers/{OT_DOCKER}/hosts", "/etc/hosts"),
        ),
        CgroupInfo(OT_DOCKER, "", "docker"),
        id="docker-v2",
    ),
    # Docker on cgroup v1: cgroup mount roots name the container (docker_proc_self_mountinfo1).
    pytest.param(
        lines(
            mount(1508, f"/docker/{OT_DOCKER1}", "/sys/fs/cgroup/systemd", "cgroup", "cgroup"),
            mount(1523, f"/var/lib/docker/containers/{OT_DOCKER1}/hostname", "/etc/hostname"),
        ),
        CgroupInfo(OT_DOCKER1, "", "docker"),
        id="docker-v1",
    ),
    # Rootless podman: tmpfs roots under `/containers/overlay-containers/` (podman_proc_self_
    # mountinfo); its v1 cgroup mounts show only the user's slice.
    pytest.param(
        lines(
            mount(
                997,
                "/user.slice/user-2024.slice/user@2024.service/user.slice/podman-5094.scope",
                "/sys/fs/cgroup/systemd",
                "cgroup",
                "cgroup",
            ),
            mount(
                980,
                f"/containers/overlay-containers/{OT_PODMAN}/userdata/.containerenv",
                "/run/.containerenv",
                "tmpfs",
                "tmpfs",
            ),
            mount(
                983,
                f"/containers/overlay-containers/{OT_PODMAN}/userdata/hostname",
                "/etc/hostname",
                "tmpfs",
                "tmpfs",
            ),
        ),
        CgroupInfo(OT_PODMAN, "", "podman"),
        id="podman-rootless",
    ),
    # Podman with only .containerenv and run/secrets (podman_proc_self_mountinfo2).
    pytest.param(
        lines(
            mount(
                496,
                f"/containers/overlay-containers/{OT_PODMAN2}/userdata/run/secrets",
                "/run/secrets",
                "tmpfs",
                "tmpfs",
            )
        ),
        CgroupInfo(OT_PODMAN2, "", "podman"),
        id="podman-secrets",
    ),
    # CRI-O on cgroup v2 (crio_proc_self_mountinfo): hostname and resolv.conf come from the pod
    # sandbox; run/secrets is the container's own; /etc/hosts is kubelet's.
    pytest.param(
        lines(
            _CGROUP2_PRIVATE,
            mount(
                10312,
                f"/containers/storage/overlay-containers/{OT_CRIO_SANDBOX}/userdata/hostname",
                "/etc/hostname",
                "tmpfs",
                "tmpfs",
            ),
            mount(
                10314,
                f"/ostree/deploy/rhcos/var/lib/kubelet/pods/{OT_CRIO_POD}/etc-hosts",
                "/etc/hosts",
                "xfs",
                "/dev/vda4",
            ),
            mount(
                10316,
                f"/containers/storage/overlay-containers/{OT_CRIO}/userdata/run/secrets",
                "/run/secrets",
                "tmpfs",
                "tmpfs",
            ),
        ),
        CgroupInfo(OT_CRIO, OT_CRIO_POD, "cri-o"),
        id="crio-v2",
    ),
    # CRI-O on cgroup v1 (crio_proc_self_mountinfo1).
    pytest.param(
        lines(
            mount(
                7282,
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                f"{OT_CRIO1_POD}.slice/crio-{OT_CRIO1}.scope",
                "/sys/fs/cgroup/systemd",
                "cgroup",
                "cgroup",
            )
        ),
        CgroupInfo(OT_CRIO1, dashed(OT_CRIO1_POD), "cri-o"),
        id="crio-v1",
    ),
    # containerd on cgroup v1 (containerd_proc_self_mountinfo).
    pytest.param(
        lines(
            mount(
                2009,
                f"/system.slice/containerd.service/kubepods-burstable-pod{OT_CTRD_POD}.slice"
                f":cri-containerd:{OT_CTRD}",
                "/sys/fs/cgroup/systemd",
                "cgroup",
                "cgroup",
            ),
            mount(2021, f"/var/lib/kubelet/pods/{dashed(OT_CTRD_POD)}/etc-hosts", "/etc/hosts"),
        ),
        CgroupInfo(OT_CTRD, dashed(OT_CTRD_POD), "containerd"),
        id="containerd-v1",
    ),
    # containerd on cgroup v2: hostname names the sandbox, so only the pod is known.
    pytest.param(
        lines(
            _CGROUP2_PRIVATE,
            mount(2021, f"/var/lib/kubelet/pods/{dashed(OT_CTRD_POD)}/etc-hosts", "/etc/hosts"),
            mount(
                2023,
                f"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{OT_CTRD_SANDBOX}/hostname",
                "/etc/hostname",
            ),
        ),
        CgroupInfo("", dashed(OT_CTRD_POD), ""),
        id="containerd-v2",
    ),
]

MOUNTINFO_NOTHING = [
    # A host's own table lists container files as mount points, never as roots placed at /etc.
    pytest.param(
        lines(
            mount(
                90, "/", f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{OT_CTRD}/rootfs"
            ),
            mount(91, "/", f"/var/lib/docker/containers/{OT_DOCKER}/mounts/shm", "tmpfs", "shm"),
            mount(
                92,
                f"/var/lib/kubelet/pods/{OT_CRIO_POD}/volumes/kubernetes.io~configmap/cfg/app.yaml",
                f"/var/lib/kubelet/pods/{OT_CRIO_POD}/volume-subpaths/cfg/app/0",
            ),
            mount(93, f"/var/lib/docker/containers/{OT_DOCKER}/hostname", "/srv/copy"),
        ),
        id="host-mount-table",
    ),
    pytest.param(lines(_CGROUP2_PRIVATE), id="no-container-files"),
    pytest.param("", id="empty"),
    pytest.param("garbage\n1 2 3\n- - - - - - - -\n", id="garbage"),
]


@pytest.mark.parametrize(("text", "expected"), MOUNTINFO)
def test_parse_mountinfo(text: str, expected: CgroupInfo) -> None:
    assert parse_mountinfo(text) == expected


@pytest.mark.parametrize("text", MOUNTINFO_NOTHING)
def test_parse_mountinfo_finds_nothing(text: str) -> None:
    assert parse_mountinfo(text) == CgroupInfo()


def test_parse_mountinfo_container_id_returns_the_id() -> None:
    text = lines(mount(473, f"/docker/containers/{OT_DOCKER}/hostname", "/etc/hostname"))
    assert parse_mountinfo_container_id(text) == OT_DOCKER
    assert parse_mountinfo_container_id("") == ""
