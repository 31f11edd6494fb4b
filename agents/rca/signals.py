"""The metric signals the RCA engine reads, as PromQL over widely used exporter metric names.

Each signal is a query template over `{service}` (the incident's service). The names are those of the
common exporters (HTTP server middleware, HikariCP/pgbouncer-style pool gauges, cAdvisor, kube-state-metrics,
kubelet volume stats, blackbox exporter, CoreDNS), so the engine works on a standard stack without set-up;
a team can add or replace signals per service in the team config.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class SignalKind(StrEnum):
    ERRORS = "errors"  # customer-facing: onset of the incident
    LATENCY = "latency"  # customer-facing
    TRAFFIC = "traffic"
    SATURATION = "saturation"  # a resource of the service running out
    DEPENDENCY = "dependency"  # a service it calls failing
    INFRA = "infra"  # nodes, DNS, certificates, disks
    OTHER = "other"  # any other series: corroborates a candidate on its component, never names one alone


class Signal(BaseModel):
    name: str
    kind: SignalKind
    query: str  # PromQL with {service} placeholders
    description: str
    # An anomaly is a rise ("up") or a fall ("down") against the series' own baseline, or crossing `threshold`.
    direction: str = "up"
    threshold: float | None = None
    split_by: str | None = None  # a label whose series are judged one by one (peer, node, pod)
    # A series that starts mid-window was 0 before (a pod that did not exist used no CPU).
    absent_is_zero: bool = False
    min_change: float = 0.0  # smaller moves are noise whatever the statistics say (0.4% of calls failing)
    component: str | None = None  # the workload, node or dependency a discovered signal belongs to
    both_ways: bool = False  # a series of unknown meaning: a fall is as telling as a rise

    def promql(self, service: str) -> str:
        return self.query.replace("{service}", service)


DEFAULT_SIGNALS: list[Signal] = [
    Signal(name="error_ratio", kind=SignalKind.ERRORS,
           query='sum(rate(http_requests_total{service="{service}",code=~"5.."}[1m]))'
                 ' / sum(rate(http_requests_total{service="{service}"}[1m]))',
           description="share of requests answered 5xx", min_change=0.01),
    Signal(name="latency_p99", kind=SignalKind.LATENCY,
           query='max(http_request_duration_seconds{service="{service}",quantile="0.99"})',
           description="p99 request latency (s)", min_change=0.05),
    Signal(name="request_rate", kind=SignalKind.TRAFFIC,
           query='sum(rate(http_requests_total{service="{service}"}[1m]))',
           description="requests per second"),
    Signal(name="db_pool_utilisation", kind=SignalKind.SATURATION,
           query='max(db_pool_connections_in_use{service="{service}"})'
                 ' / max(db_pool_connections_max{service="{service}"})',
           description="database connection pool in use / max", threshold=0.9, min_change=0.1),
    Signal(name="memory_utilisation", kind=SignalKind.SATURATION,
           query='max(container_memory_working_set_bytes{service="{service}"})'
                 ' / max(container_spec_memory_limit_bytes{service="{service}"})',
           description="container memory working set / limit", threshold=0.9, min_change=0.1),
    Signal(name="cpu_throttling", kind=SignalKind.SATURATION,
           query='sum(rate(container_cpu_cfs_throttled_periods_total{service="{service}"}[1m]))'
                 ' / sum(rate(container_cpu_cfs_periods_total{service="{service}"}[1m]))',
           description="share of CPU periods throttled", min_change=0.05),
    Signal(name="container_restarts", kind=SignalKind.SATURATION,
           query='sum(increase(kube_pod_container_status_restarts_total{service="{service}"}[5m]))',
           description="container restarts in 5m", min_change=0.5),
    Signal(name="volume_utilisation", kind=SignalKind.SATURATION,
           query='max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{service="{service}"}'
                 ' / kubelet_volume_stats_capacity_bytes{service="{service}"})',
           description="persistent volume used / capacity", threshold=0.99, split_by="persistentvolumeclaim",
           min_change=0.05),
    Signal(name="dependency_error_ratio", kind=SignalKind.DEPENDENCY,
           query='sum by (peer) (rate(http_client_requests_total{service="{service}",outcome!="success"}[1m]))'
                 ' / sum by (peer) (rate(http_client_requests_total{service="{service}"}[1m]))',
           description="share of outbound calls failing, per peer", split_by="peer", min_change=0.05),
    Signal(name="dns_failures", kind=SignalKind.INFRA,
           query='sum(rate(coredns_dns_responses_total{rcode=~"SERVFAIL|NXDOMAIN|REFUSED"}[1m]))',
           description="cluster DNS failed answers per second", min_change=0.5),
    Signal(name="certificate_seconds_left", kind=SignalKind.INFRA,
           query='min by (instance) (probe_ssl_earliest_cert_expiry{service="{service}"}) - time()',
           description="seconds until the earliest TLS certificate expires", direction="down", threshold=0.0,
           split_by="instance"),
    Signal(name="node_pressure", kind=SignalKind.INFRA,
           query='max by (node, condition) (kube_node_status_condition{condition=~"MemoryPressure|DiskPressure'
                 '|PIDPressure",status="true"})',
           description="node pressure conditions", threshold=0.5, split_by="node"),
    Signal(name="pod_cpu", kind=SignalKind.INFRA,
           query='sum by (pod, node) (rate(container_cpu_usage_seconds_total{container!=""}[1m]))',
           description="CPU cores used per pod, all namespaces", split_by="pod", absent_is_zero=True,
           min_change=0.5),
]
