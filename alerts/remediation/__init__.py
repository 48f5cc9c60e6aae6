"""`agentwatch remediate`: restart the workload of a leaking GPU process when Alertmanager says so.

Safe by default: a dry run unless `--enable`, authentication required, an allow-list that is
empty until configured, a cooldown per workload, a maximum of restarts per window, duplicate
notifications ignored, resolved alerts never acted on, and every decision in the audit log.
"""
