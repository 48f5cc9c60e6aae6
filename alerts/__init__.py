"""Alerting: the Prometheus rule files and Alertmanager configuration beside this package, and
`agentwatch remediate`, the receiver that acts on Alertmanager's webhook."""
