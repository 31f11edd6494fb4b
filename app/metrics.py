"""Prometheus metrics, served at GET /metrics."""

from __future__ import annotations

from prometheus_client import Counter

incidents_declared = Counter(
    "incidentbot_incidents_declared_total", "Incidents declared", ["severity", "source"]
)
war_room_steps_failed = Counter(
    "incidentbot_war_room_steps_failed_total", "War-room set-up steps Slack refused", ["step", "error"]
)
