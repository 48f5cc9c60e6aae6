"""agentwatch on Kubernetes: the generator of deploy/kubernetes (`python -m agentwatch.deploy`).

`agentwatch.deploy.manifests` builds a Kustomize base (the exporter DaemonSet, its Service and
ServiceMonitor, the PrometheusRule of alerts/, the dashboards' ConfigMaps, the remediation
receiver) and an example overlay; the committed YAML is its output and `--check` fails on drift.
"""
