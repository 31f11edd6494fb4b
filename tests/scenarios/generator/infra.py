"""The shared parts of the cluster and their exporters: databases and caches as StatefulSets (postgres_exporter,
redis_exporter), CoreDNS, blackbox probes of the public endpoints, and the ALERTS series of firing alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.scenarios.generator.build import Build, Pod
from tests.scenarios.generator.render import container_metrics, kube_state
from tests.scenarios.generator.shapes import combine
from tests.scenarios.generator.spec import ServiceDef


def effect(b: Build, key: str, base: float, how: str = "add") -> list[tuple[Any, float]]:
    return combine(b.effects[key], b.start, b.end, base=base, how=how)


def statefulset_pods(b: Build, svc: ServiceDef) -> list[Pod]:
    ns = b.namespace(svc.name)
    nodes = b.placement.get(svc.name) or [b.nodes[-1].name]
    created = b.start - timedelta(days=60)
    return [Pod(name=f"{svc.name}-{i}", service=svc.name, namespace=ns, node=nodes[i % len(nodes)],
                started=created + timedelta(minutes=i), ended=None, revision=None,
                ip=f"10.{70 + i}.{b.rng.randint(0, 255)}.{b.rng.randint(2, 254)}",
                uid=b.digest("uid", svc.name, i, length=12, alphabet="0123456789abcdef"))
            for i in range(1 if svc.kind == "postgres" else svc.replicas)]


def database(b: Build, svc: ServiceDef, pods: list[Pod]) -> dict[str, Any]:
    """The StatefulSet, its Service, its exporter's series and its container series; returns the StatefulSet."""
    ns = b.namespace(svc.name)
    image = "postgres:16.4" if svc.kind == "postgres" else "redis:7.2.5"
    b.k8s["statefulsets"].append({"name": svc.name, "namespace": ns, "replicas": len(pods), "image": image,
                                  "created": pods[0].started, "revision_hash": b.digest("sts", svc.name),
                                  "port": 5432 if svc.kind == "postgres" else 6379,
                                  "nodes": [p.node for p in pods], "storage": "200Gi"})
    b.k8s["services"].append({"name": svc.name, "namespace": ns, "selector": {"app": svc.name},
                              "port": 5432 if svc.kind == "postgres" else 6379,
                              "target_port": 5432 if svc.kind == "postgres" else 6379})
    for pod in pods:
        exporter = {"namespace": ns, "pod": pod.name, "container": "exporter", "service": f"{svc.name}-metrics",
                    "job": f"{svc.name}-metrics", "instance": f"{pod.ip}:{9187 if svc.kind == 'postgres' else 9121}",
                    "endpoint": "metrics"}
        if svc.kind == "postgres":
            _postgres(b, svc, exporter)
        else:
            _redis(b, svc, exporter)
        volume = {"namespace": ns, "persistentvolumeclaim": f"data-{pod.name}", "job": "kubelet",
                  "metrics_path": "/metrics", "node": pod.node, "instance": f"{b.node(pod.node).ip}:10250"}
        capacity = 200 * 2**30
        b.metric("kubelet_volume_stats_capacity_bytes", "gauge", volume, [(b.start, float(capacity))])
        used = effect(b, f"{pod.name}/disk", 0.46 * capacity)
        b.metric("kubelet_volume_stats_used_bytes", "gauge", volume, used, integer=True, noise=0.002,
                 clamp=[0, capacity])
        free = [(t, max(0.0, capacity - v)) for t, v in used]
        b.metric("kubelet_volume_stats_available_bytes", "gauge", volume, free, integer=True, noise=0.002,
                 clamp=[0, capacity])
    container_metrics(b, pods, svc.name, 0.6, 2400 if svc.kind == "postgres" else 700,
                      8192 if svc.kind == "postgres" else 2048)
    kube_state(b, pods, svc.name, "StatefulSet", svc.name)
    return b.k8s["statefulsets"][-1]


def _postgres(b: Build, svc: ServiceDef, labels: dict[str, str]) -> None:
    b.metric("pg_up", "gauge", labels, effect(b, f"{svc.name}/up", 1.0, "mul"), clamp=[0, 1], integer=True)
    b.metric("pg_settings_max_connections", "gauge", {**labels, "server": f"{svc.name}:5432"}, [(b.start, 200.0)])
    users = [s.name for s in b.spec.services if s.database == svc.name]
    for user in users:
        db = user.replace("-", "_")
        for state, base in (("active", 4.0), ("idle", 14.0), ("idle in transaction", 0.5)):
            shape = effect(b, f"{svc.name}/{user}/{state}", base)
            b.metric("pg_stat_activity_count", "gauge", {**labels, "datname": db, "state": state,
                                                         "usename": user.replace("-", "_")}, shape,
                     noise=0.2, integer=True, clamp=[0, 200])
        for mode, base in (("accesssharelock", 6.0), ("rowexclusivelock", 2.0), ("accessexclusivelock", 0.0)):
            b.metric("pg_locks_count", "gauge", {**labels, "datname": db, "mode": mode},
                     effect(b, f"{svc.name}/{user}/{mode}", base), noise=0.25, integer=True, clamp=[0, 500])
        b.metric("pg_stat_database_xact_commit", "counter", {**labels, "datname": db},
                 effect(b, f"{svc.name}/{user}/commits", 60.0, "mul"), noise=0.1)
        b.metric("pg_stat_database_blks_read", "counter", {**labels, "datname": db},
                 effect(b, f"{svc.name}/{user}/reads", 400.0, "mul"), noise=0.15)


def _redis(b: Build, svc: ServiceDef, labels: dict[str, str]) -> None:
    b.metric("redis_up", "gauge", labels, [(b.start, 1.0)])
    b.metric("redis_connected_clients", "gauge", labels, effect(b, f"{svc.name}/clients", 40.0), noise=0.1,
             integer=True)
    b.metric("redis_keyspace_hits_total", "counter", labels, effect(b, f"{svc.name}/hits", 900.0, "mul"), noise=0.1)
    b.metric("redis_keyspace_misses_total", "counter", labels, effect(b, f"{svc.name}/misses", 35.0, "mul"),
             noise=0.15)
    b.metric("redis_db_keys", "gauge", {**labels, "db": "db0"}, effect(b, f"{svc.name}/keys", 1_850_000.0, "mul"),
             noise=0.01, integer=True)
    b.metric("redis_memory_used_bytes", "gauge", labels, effect(b, f"{svc.name}/memory", 1.1 * 2**30, "mul"),
             noise=0.01, integer=True)
    b.metric("redis_commands_processed_total", "counter", labels, [(b.start, 1400.0)], noise=0.1)


def coredns(b: Build) -> list[Pod]:
    """CoreDNS in kube-system: its Deployment, Corefile ConfigMap and series."""
    pods = b.pods("coredns")
    for pod in pods:
        labels = {"namespace": "kube-system", "pod": pod.name, "container": "coredns", "service": "kube-dns",
                  "job": "coredns", "instance": f"{pod.ip}:9153", "endpoint": "http-metrics", "server": "dns://:53"}
        for rcode, base in (("NOERROR", 180.0), ("NXDOMAIN", 95.0), ("SERVFAIL", 0.05)):
            b.metric("coredns_dns_responses_total", "counter", {**labels, "zone": ".", "rcode": rcode},
                     effect(b, f"coredns/{rcode}", base, "mul"), noise=0.12)
        b.metric("coredns_dns_requests_total", "counter", {**labels, "zone": ".", "proto": "udp", "family": "1",
                                                           "type": "A"}, [(b.start, 190.0)], noise=0.1)
        b.metric("coredns_dns_request_duration_seconds", "histogram", {**labels, "zone": ".", "type": "A"},
                 [(b.start, 270.0)], latency=effect(b, "coredns/latency", 0.0008, "mul"),
                 buckets=[0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
                          1.024, 2.048, 4.096, 8.192], noise=0.1, spread=0.8)
        b.metric("coredns_forward_requests_total", "counter", {**labels, "to": "10.40.0.2:53"},
                 [(b.start, 60.0)], noise=0.1)
    return pods


def probes(b: Build) -> None:
    """Blackbox exporter probes of the public hosts: success, duration and the certificate's expiry timestamp."""
    for host, expiry in b.certificates.items():
        labels = {"job": "blackbox", "instance": f"https://{host}", "module": "http_2xx",
                  "namespace": "monitoring", "pod": "blackbox-exporter-5f6d7b9c4-kq2xz", "container": "blackbox"}
        b.metric("probe_ssl_earliest_cert_expiry", "gauge", labels, expiry)
        b.metric("probe_success", "gauge", labels, effect(b, f"probe/{host}", 1.0, "mul"), integer=True,
                 clamp=[0, 1])
        b.metric("probe_http_duration_seconds", "gauge", {**labels, "phase": "tls"}, [(b.start, 0.012)], noise=0.2)


def alerts(b: Build) -> None:
    """ALERTS{alertstate="pending"|"firing"} for each alert of the spec, as the rule evaluation writes them."""
    for alert in b.spec.alerts:
        service = alert.service or b.spec.incident.service
        since = b.at(alert.since)
        until = b.at(alert.until) if alert.until else b.end
        labels = {"alertname": alert.name, "severity": alert.severity, "namespace": b.namespace(service)}
        labels.update(b.alert_labels(service))
        pending = since - timedelta(minutes=2)
        b.metric("ALERTS", "gauge", {**labels, "alertstate": "pending"}, [(pending, 1.0)], present=[pending, since])
        b.metric("ALERTS", "gauge", {**labels, "alertstate": "firing"}, [(since, 1.0)], present=[since, until])
        b.metric("ALERTS_FOR_STATE", "gauge", labels, [(pending, pending.timestamp())], present=[pending, until])
