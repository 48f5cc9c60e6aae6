"""The Kubernetes manifests of agentwatch, as plain objects: a Kustomize base and an example.

`base/` is what a cluster with GPU nodes and the Prometheus Operator runs: the exporter as a
DaemonSet on GPU nodes (host PID namespace for process attribution, kubelet's pod log
directories read-only for pod names, never privileged), its Service and `ServiceMonitor`, the
alert rules as a `PrometheusRule` (the groups of `alerts/*.rules.yml`), the dashboards as
ConfigMaps for the Grafana sidecar (`dashboards/json/*.json`), and the remediation receiver in
dry run with an empty allow-list. `example/` adds an instrumented agent with a GPU, the fake
LLM it calls, and the one thing the receiver may restart: that agent's Deployment, named in
both its allow-list and its RBAC `resourceNames`.

Everything comes from `Settings`; the committed YAML under deploy/kubernetes is the output of
`python -m agentwatch.deploy`, and `--check` (and a test) fails when it drifts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentwatch import __version__

Manifest = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
PART_OF = {"app.kubernetes.io/part-of": "agentwatch"}
EXPORTER_JOB = "agentwatch-exporter"
"""The Service's name, which the Prometheus Operator makes the scrape `job`; the alert rules
select on it (`agentwatch.alerts.rules.Config.exporter_selector`)."""


@dataclass(frozen=True)
class Settings:
    """Every name, image and limit of the manifests."""

    namespace: str = "agentwatch"
    image: str = f"ghcr.io/agentwatch/agentwatch:{__version__}"
    demo_image: str = f"ghcr.io/agentwatch/agentwatch-demo:{__version__}"
    exporter_port: int = 9401
    remediate_port: int = 9402
    llm_port: int = 8400
    token_secret: str = "agentwatch-remediate-token"
    """Created by the operator of the cluster (docs/deploy.md): no token ships in a manifest."""
    example_namespace: str = "agentwatch-demo"
    example_agent: str = "agentwatch-demo-agent"
    otlp_endpoint: str = "http://otel-collector.observability.svc:4318"
    """Where the example agent sends OTLP: the cluster's OpenTelemetry collector."""
    gpu_node_selector: tuple[tuple[str, str], ...] = (("nvidia.com/gpu.present", "true"),)
    """GPU feature discovery's label of nodes with an NVIDIA GPU."""


def _labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        **PART_OF,
        "app.kubernetes.io/version": __version__,
    }


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _meta(name: str, namespace: str | None, component: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = _labels(name, component)
    return meta


_RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
_NON_ROOT_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _probe(path: str, port: str, period: int = 10) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 5}


# --- base ----------------------------------------------------------------------------------------


def namespace(s: Settings) -> Manifest:
    """The namespace, with the Pod Security level its exporter needs."""
    meta = _meta(s.namespace, None, "namespace")
    # The exporter DaemonSet needs hostPID and two read-only hostPath volumes, which the
    # `baseline` level forbids; it is never privileged. The receiver meets `restricted`.
    meta["labels"].update(
        {
            "pod-security.kubernetes.io/enforce": "privileged",
            "pod-security.kubernetes.io/warn": "baseline",
        }
    )
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def exporter(s: Settings) -> list[Manifest]:
    """ServiceAccount, DaemonSet, Service and ServiceMonitor of the GPU exporter."""
    name = EXPORTER_JOB
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(name, s.namespace, "exporter"),
        # The exporter never calls the Kubernetes API: no token in its pods.
        "automountServiceAccountToken": False,
    }
    log_dirs = [("pods-log", "/var/log/pods"), ("containers-log", "/var/log/containers")]
    container = {
        "name": "exporter",
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "exporter",
            "--listen",
            f"0.0.0.0:{s.exporter_port}",
            "--gpu-backend",
            "nvml",
            "--pods-log-dir",
            "/var/log/pods",
            "--containers-log-dir",
            "/var/log/containers",
        ],
        "env": [
            # The NVIDIA runtime mounts every GPU's device node and NVML into this container
            # without allocating a GPU to it (which would take it from the workloads).
            {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
            {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "utility"},
        ],
        "ports": [{"name": "metrics", "containerPort": s.exporter_port, "protocol": "TCP"}],
        "readinessProbe": _probe("/-/ready", "metrics"),
        "livenessProbe": {**_probe("/-/healthy", "metrics", 20), "failureThreshold": 3},
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": _RESTRICTED_CONTAINER,
        "volumeMounts": [
            {"name": volume, "mountPath": path, "readOnly": True} for volume, path in log_dirs
        ],
    }
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(name, s.namespace, "exporter"),
        "spec": {
            "selector": {"matchLabels": _selector(name)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": _labels(name, "exporter")},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    # NVML reports host PIDs: in the host's PID namespace they are this
                    # container's /proc too (process names, cgroups, hence containers and pods).
                    "hostPID": True,
                    "hostNetwork": False,
                    # The GPU Operator's RuntimeClass: the NVIDIA runtime honours
                    # NVIDIA_VISIBLE_DEVICES for this unprivileged container.
                    "runtimeClassName": "nvidia",
                    "nodeSelector": dict(s.gpu_node_selector),
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "priorityClassName": "system-node-critical",
                    "securityContext": _NON_ROOT_POD,
                    "containers": [container],
                    "volumes": [
                        {"name": volume, "hostPath": {"path": path, "type": "Directory"}}
                        for volume, path in log_dirs
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, s.namespace, "exporter"),
        "spec": {
            # One endpoint per node's exporter; nothing load-balances a scrape.
            "clusterIP": "None",
            "selector": _selector(name),
            "ports": [
                {"name": "metrics", "port": s.exporter_port, "targetPort": "metrics"},
            ],
        },
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(name, s.namespace, "exporter"),
        "spec": {
            "selector": {"matchLabels": _selector(name)},
            "namespaceSelector": {"matchNames": [s.namespace]},
            "endpoints": [
                {
                    "port": "metrics",
                    "interval": "15s",
                    "scrapeTimeout": "10s",
                    "relabelings": [
                        # The node's name as `instance`: alerts name the host, not a pod IP.
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                            "targetLabel": "instance",
                            "action": "replace",
                        },
                        # The per-process series carry the pod, namespace and container of the
                        # *GPU process*; the operator's labels of the exporter's own pod would
                        # rename them to exported_*, and remediation needs them as they are.
                        {"action": "labeldrop", "regex": "pod|namespace|container"},
                    ],
                }
            ],
        },
    }
    return [account, daemonset, service, monitor]


def prometheus_rule(s: Settings, alerts_dir: Path) -> Manifest:
    """Every group of `alerts/*.rules.yml`, in file-name order, as one PrometheusRule."""
    groups: list[Any] = []
    for path in sorted(alerts_dir.glob("*.rules.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        groups.extend(content["groups"])
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta("agentwatch", s.namespace, "alerts"),
        "spec": {"groups": groups},
    }


def dashboards(s: Settings, json_dir: Path) -> list[Manifest]:
    """One ConfigMap per dashboard, labelled for the Grafana sidecar (`grafana_dashboard`)."""
    manifests = []
    for path in sorted(json_dir.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        json.loads(text)  # a broken dashboard fails here, not in Grafana
        meta = _meta(f"agentwatch-dashboard-{path.stem}", s.namespace, "dashboards")
        meta["labels"]["grafana_dashboard"] = "1"
        # The folder kube-prometheus-stack's sidecar files it under (folderAnnotation).
        meta["annotations"] = {"grafana_folder": "agentwatch"}
        manifests.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {path.name: text}}
        )
    return manifests


def remediate(s: Settings) -> list[Manifest]:
    """The receiver: ServiceAccount, allow-list ConfigMap, Deployment, Service, NetworkPolicy.

    Dry run (no `--enable`) and an empty allow-list: it audits what it would do and restarts
    nothing. Its RBAC is granted per allowed namespace, next to the workloads (see `example`).
    """
    name = "agentwatch-remediate"
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(name, s.namespace, "remediation"),
    }
    allow_list = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, s.namespace, "remediation"),
        # Read as AGENTWATCH_ALLOW_NAMESPACE and AGENTWATCH_ALLOW_WORKLOAD; empty: nothing
        # may be restarted. An overlay fills both, with a Role to match.
        "data": {"AGENTWATCH_ALLOW_NAMESPACE": "", "AGENTWATCH_ALLOW_WORKLOAD": ""},
    }
    container = {
        "name": "remediate",
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "remediate",
            "--listen",
            f"0.0.0.0:{s.remediate_port}",
            "--target",
            "kubernetes",
            "--token-file",
            "/etc/agentwatch/remediate/token",
        ],
        "envFrom": [{"configMapRef": {"name": name}}],
        "ports": [{"name": "webhook", "containerPort": s.remediate_port, "protocol": "TCP"}],
        "readinessProbe": _probe("/-/healthy", "webhook"),
        "livenessProbe": _probe("/-/healthy", "webhook", 20),
        "resources": {
            "requests": {"cpu": "10m", "memory": "48Mi"},
            "limits": {"memory": "128Mi"},
        },
        "securityContext": _RESTRICTED_CONTAINER,
        "volumeMounts": [
            {"name": "token", "mountPath": "/etc/agentwatch/remediate", "readOnly": True}
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, s.namespace, "remediation"),
        "spec": {
            # One replica: cooldowns and the rate limit are kept in memory.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(name)},
            "template": {
                "metadata": {"labels": _labels(name, "remediation")},
                "spec": {
                    "serviceAccountName": name,
                    "securityContext": _NON_ROOT_POD,
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "token",
                            "secret": {
                                "secretName": s.token_secret,
                                "items": [{"key": "token", "path": "token"}],
                                "defaultMode": 0o440,
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, s.namespace, "remediation"),
        "spec": {
            "selector": _selector(name),
            "ports": [{"name": "webhook", "port": s.remediate_port, "targetPort": "webhook"}],
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, s.namespace, "remediation"),
        "spec": {
            "podSelector": {"matchLabels": _selector(name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    # Alertmanager only (its pods' standard label, in any namespace).
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "alertmanager"}
                            },
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": s.remediate_port}],
                }
            ],
        },
    }
    return [account, allow_list, deployment, service, policy]


# --- example -------------------------------------------------------------------------------------


def example(s: Settings) -> list[Manifest]:
    """An instrumented agent with a GPU, its fake LLM, and the receiver's right to restart it."""
    ns, agent, llm = s.example_namespace, s.example_agent, "agentwatch-demo-llm"
    namespace_ = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {**PART_OF, "pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    pod_security = {"securityContext": _NON_ROOT_POD, "automountServiceAccountToken": False}
    llm_deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(llm, ns, "demo"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(llm)},
            "template": {
                "metadata": {"labels": _labels(llm, "demo")},
                "spec": {
                    **pod_security,
                    "containers": [
                        {
                            "name": "llm",
                            "image": s.demo_image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": [
                                "agentwatch.demo.llm_server",
                                "--listen",
                                f"0.0.0.0:{s.llm_port}",
                            ],
                            "ports": [{"name": "http", "containerPort": s.llm_port}],
                            "readinessProbe": _probe("/healthz", "http"),
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "securityContext": _RESTRICTED_CONTAINER,
                        }
                    ],
                },
            },
        },
    }
    llm_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(llm, ns, "demo"),
        "spec": {
            "selector": _selector(llm),
            "ports": [{"name": "http", "port": s.llm_port, "targetPort": "http"}],
        },
    }

    def field(path: str) -> dict[str, Any]:
        return {"valueFrom": {"fieldRef": {"fieldPath": path}}}

    env = [
        {"name": "K8S_NAMESPACE", **field("metadata.namespace")},
        {"name": "K8S_POD_NAME", **field("metadata.name")},
        {"name": "K8S_NODE_NAME", **field("spec.nodeName")},
        {"name": "OTEL_SERVICE_NAME", "value": agent},
        # k8s.namespace.name and k8s.pod.name become the k8s_namespace_name and k8s_pod_name
        # labels the correlation rules join the exporter's per-process series on.
        {
            "name": "OTEL_RESOURCE_ATTRIBUTES",
            "value": "k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME),"
            "k8s.node.name=$(K8S_NODE_NAME)",
        },
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": s.otlp_endpoint},
        {"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"},
        {"name": "OTEL_METRIC_EXPORT_INTERVAL", "value": "15000"},
    ]
    agent_deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(agent, ns, "demo"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(agent)},
            "template": {
                "metadata": {"labels": _labels(agent, "demo")},
                "spec": {
                    **pod_security,
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {
                            "name": "agent",
                            "image": s.demo_image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": [
                                "agentwatch.demo.agent",
                                "--llm-base-url",
                                f"http://{llm}:{s.llm_port}/v1",
                                "--otlp",
                                "--local-leak-mib",
                                "8",
                            ],
                            "env": env,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "4Gi", "nvidia.com/gpu": 1},
                                "limits": {"memory": "4Gi", "nvidia.com/gpu": 1},
                            },
                            "securityContext": _RESTRICTED_CONTAINER,
                        }
                    ],
                    # The agent's temporary files, on a read-only root file system.
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
    receiver = "agentwatch-remediate"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(receiver, ns, "remediation"),
        "rules": [
            # Read-only, to follow an alert's pod to its Deployment (pod and ReplicaSet names
            # are generated, so they cannot be listed here).
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
            # The only write: the rollout-restart patch, of the allow-listed Deployment only.
            {
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "resourceNames": [agent],
                "verbs": ["patch"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(receiver, ns, "remediation"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": receiver},
        "subjects": [{"kind": "ServiceAccount", "name": receiver, "namespace": s.namespace}],
    }
    return [namespace_, llm_deployment, llm_service, agent_deployment, role, binding]


def allow_list_patch(s: Settings) -> Manifest:
    """The example's patch of the receiver's allow-list: exactly what its Role lets it patch."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "agentwatch-remediate", "namespace": s.namespace},
        "data": {
            "AGENTWATCH_ALLOW_NAMESPACE": s.example_namespace,
            "AGENTWATCH_ALLOW_WORKLOAD": f"deployment/{s.example_agent}",
        },
    }


# --- files ---------------------------------------------------------------------------------------

HEADER = "# Generated by `python -m agentwatch.deploy`: do not edit.\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (rule expressions, dashboard JSON)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # A literal block cannot keep trailing spaces on a line; such text stays quoted.
    literal = "\n" in data and not any(line != line.rstrip() for line in data.splitlines())
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if literal else None)


_Dumper.add_representer(str, _str)


def render(manifests: list[Manifest]) -> str:
    """A multi-document YAML file."""
    docs = [
        yaml.dump(m, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
        for m in manifests
    ]
    return HEADER + "---\n" + "---\n".join(docs)


def _kustomization(resources: list[str], patches: tuple[str, ...] = ()) -> str:
    content: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    if patches:
        content["patches"] = [{"path": path} for path in patches]
    return HEADER + yaml.dump(content, Dumper=_Dumper, sort_keys=False)


def files(settings: Settings | None = None, repo: Path = REPO) -> Mapping[str, str]:
    """Each generated file's path under deploy/kubernetes and its text."""
    s = settings or Settings()
    base = {
        "namespace.yaml": [namespace(s)],
        "exporter.yaml": exporter(s),
        "prometheusrule.yaml": [prometheus_rule(s, repo / "alerts")],
        "dashboards.yaml": dashboards(s, repo / "dashboards" / "json"),
        "remediate.yaml": remediate(s),
    }
    out = {f"base/{name}": render(docs) for name, docs in base.items()}
    out["base/kustomization.yaml"] = _kustomization(list(base))
    out["example/example.yaml"] = render(example(s))
    out["example/remediate-allow-list.yaml"] = render([allow_list_patch(s)])
    out["example/kustomization.yaml"] = _kustomization(
        ["../base", "example.yaml"], ("remediate-allow-list.yaml",)
    )
    return out
