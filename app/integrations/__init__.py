"""Thin, read-only clients of the observability APIs the agents use (Prometheus, Grafana, Loki, Datadog,
Kubernetes). Each returns the shared types in `telemetry`; none of them ever writes."""
