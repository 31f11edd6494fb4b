"""Telemetry from a built cluster: each service's health after failures propagate to its callers, then the series
the exporters of a real cluster write (the services' own instrumentation, cAdvisor, kube-state-metrics,
node-exporter, CoreDNS, postgres/redis exporters, blackbox probes, ALERTS) and the services' log streams."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.generator.build import Build, Pod
from tests.scenarios.generator.frameworks import INSTRUMENTATION, LOG_FORMATS, LOGGERS, access_lines, routine_warnings
from tests.scenarios.generator.shapes import Shape, combine, first_above, scaled, value_at
from tests.scenarios.generator.spec import ServiceDef

PROPAGATION = 0.85  # share of a dependency's failures its caller passes on (the rest are retried or degraded)


# --- health ----------------------------------------------------------------------------------------------------


class Health:
    """Error ratio, latency factor and traffic factor of every service over time, failures passed up the calls."""

    def __init__(self, b: Build) -> None:
        self.b = b

    def callees(self, service: str) -> list[str]:
        svc = self.b.spec.service(service)
        names = [c for c in svc.calls if not c.startswith("external:")]
        return [*names, *([svc.database] if svc.database else [])]

    @functools.cache  # noqa: B019 - one Health per build
    def err(self, service: str) -> Shape:
        b = self.b
        inherited = [scaled(self.err(c), PROPAGATION) for c in self.callees(service)]
        return combine([*b.err[service], *inherited], b.start, b.end, base=0.0, how="add")

    @functools.cache  # noqa: B019
    def lat(self, service: str) -> Shape:
        b = self.b
        inherited = [scaled(self.lat(c), 0.8, 0.2) for c in self.callees(service)]
        return combine([*b.lat[service], *inherited], b.start, b.end, base=1.0, how="mul")

    def rps(self, service: str) -> Shape:
        b = self.b
        day = [(b.start, 0.8), (b.start + (b.end - b.start) / 2, 1.0), (b.end, 1.05)]
        return combine([day, *b.rps[service]], b.start, b.end, base=1.0, how="mul")

    def failing_callee(self, service: str) -> str | None:
        """The dependency whose failures this service inherits most, if any."""
        worst, name = 0.002, None
        for callee in self.callees(service):
            peak = max((v for _, v in self.err(callee)), default=0.0)
            if peak > worst:
                worst, name = peak, callee
        return name


# --- labels ----------------------------------------------------------------------------------------------------


def target_labels(b: Build, pod: Pod, port: int = 8080) -> dict[str, str]:
    """The labels Prometheus attaches to a scraped pod, under the cluster's scrape convention."""
    svc, ns = pod.service, pod.namespace
    style = b.spec.conventions.scrape
    if style == "servicemonitor":
        return {"namespace": ns, "pod": pod.name, "container": svc, "service": svc, "endpoint": "http-metrics",
                "job": svc, "instance": f"{pod.ip}:{port}"}
    if style == "podmonitor":
        return {"namespace": ns, "pod": pod.name, "container": svc, "job": f"{ns}/{svc}",
                "instance": f"{pod.ip}:{port}"}
    if style == "annotations":
        return {"kubernetes_namespace": ns, "kubernetes_pod_name": pod.name, "app": svc,
                "instance": f"{pod.ip}:{port}", "job": "kubernetes-pods", "pod_template_hash": pod.name.split("-")[-2]}
    team = b.spec.service(svc).team
    return {"job": f"{team}/{svc}", "instance": pod.uid, "k8s_namespace_name": ns, "k8s_pod_name": pod.name,
            "k8s_deployment_name": svc}


def _cadvisor(b: Build, pod: Pod, container: str) -> dict[str, str]:
    node = b.node(pod.node)
    return {"container": container, "namespace": pod.namespace, "pod": pod.name, "node": pod.node,
            "job": "kubelet", "metrics_path": "/metrics/cadvisor", "instance": f"{node.ip}:10250"}


def _ksm(extra: dict[str, str]) -> dict[str, str]:
    return {"job": "kube-state-metrics", "instance": "10.72.4.19:8080", **extra}


def _present(b: Build, pod: Pod) -> tuple[datetime, datetime] | None:
    """When the pod's series exist: from its start until it ended or its node was lost."""
    start = max(pod.started, b.start)
    end = pod.ended or b.end
    node = b.node(pod.node)
    if node.lost_at and node.lost_at < end:
        end = node.lost_at
    if end <= start:
        return None
    return (start, end) if (start > b.start or end < b.end) else None


def _presence(b: Build, pod: Pod) -> dict[str, Any]:
    span = _present(b, pod)
    return {"present": list(span)} if span else {}


def _alive(b: Build, pod: Pod) -> bool:
    start, end = max(pod.started, b.start), pod.ended or b.end
    return end > start


# --- the services' own instrumentation --------------------------------------------------------------------------


def _framework(b: Build, svc: ServiceDef) -> str:
    if svc.kind == "grpc":
        return "grpc"
    if b.spec.conventions.scrape == "otel":
        return "otel"
    return svc.framework or "go"


def scrape_health(b: Build) -> None:
    """`up` for every target Prometheus scrapes: the services' pods, the kubelets and node-exporters (0 while a
    node does not answer)."""
    for svc in b.spec.services:
        if svc.kind not in ("http", "grpc"):
            continue
        for pod in b.pods(svc.name):
            if _alive(b, pod):
                b.metric("up", "gauge", target_labels(b, pod), [(b.start, 1.0)], **_presence(b, pod))
    for n in b.nodes:
        down = [(b.start, 1.0)]
        if n.lost_at:
            back = b.recovered_at or b.end
            down += [(n.lost_at, 1.0), (n.lost_at, 0.0), (back, 0.0), (back, 1.0)]
        for labels in ({"job": "node-exporter", "instance": f"{n.ip}:9100", "namespace": "monitoring"},
                       {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "instance": f"{n.ip}:10250",
                        "node": n.name}):
            b.metric("up", "gauge", labels, down, integer=True)


def app_metrics(b: Build, health: Health, svc: ServiceDef) -> None:
    fw = _framework(b, svc)
    inst = INSTRUMENTATION[fw]
    route = svc.route or ("PlaceOrder" if fw == "grpc" else f"/api/v1/{svc.name.split('-')[0]}")
    err, lat, rps = health.err(svc.name), health.lat(svc.name), health.rps(svc.name)
    own_code = b.failure_code.get(svc.name, 500)
    code = own_code if b.err[svc.name] else (503 if health.failing_callee(svc.name) else 500)
    background_errors = b.rng.random() < 0.5
    base_err = b.rng.uniform(0.0008, 0.004) if background_errors else 0.0
    born = None if background_errors else first_above(err, 0.0005)
    summary = b.spec.conventions.latency == "summary" and inst.summary_allowed and not _histogram_only(b, inst)
    share = 1.0 / b.replicas[svc.name]
    ok = _on_breakpoints(b, [rps, err], lambda t: svc.rps * share * value_at(rps, t)
                         * (1 - min(1.0, value_at(err, t) + base_err)))
    bad = _on_breakpoints(b, [rps, err], lambda t: svc.rps * share * value_at(rps, t)
                          * min(1.0, value_at(err, t) + base_err))
    median = _on_breakpoints(b, [lat], lambda t: svc.latency_ms / 1000 * value_at(lat, t))
    every = _on_breakpoints(b, [rps], lambda t: svc.rps * share * value_at(rps, t))
    for pod in b.pods(svc.name):
        if not _alive(b, pod):
            continue
        labels = target_labels(b, pod)
        presence = _presence(b, pod)
        resets = [r for r in pod.restarts if b.start < r < b.end]
        method = {inst.method_label: "POST" if fw != "grpc" else None} if inst.method_label else {}
        base = {**labels, inst.route_label: route, **{k: v for k, v in method.items() if v}}
        if fw == "grpc":
            base.update({"grpc_service": f"{svc.team}.v1.{svc.name.title().replace('-', '')}",
                         "grpc_type": "unary"})
        error_presence = _born(b, presence, born)
        variants = [(200, ok, presence), *([(code, bad, error_presence)] if error_presence is not None else [])]
        for status, rate, when in variants:
            status_label = {inst.status: inst.status_value(status)}
            if fw == "spring":
                status_label["outcome"] = "SUCCESS" if status < 400 else "SERVER_ERROR"
            if inst.counter:
                b.metric(inst.counter, "counter", {**base, **status_label}, rate, noise=0.12, resets=resets, **when)
            if inst.status_on_latency or status == 200:
                latency_labels = {**base, **(status_label if inst.status_on_latency else {})}
                total = rate if inst.status_on_latency else every
                b.metric(inst.latency, "summary" if summary else "histogram", latency_labels, total,
                         latency=median, buckets=list(inst.buckets), noise=0.1, spread=0.55, **when)


def _histogram_only(b: Build, inst: object) -> bool:
    """Whether another framework in the cluster writes the same latency family as a histogram (one name, one type)."""
    name = getattr(inst, "latency", "")
    others = [INSTRUMENTATION[_framework(b, s)] for s in b.spec.services if s.kind in ("http", "grpc")]
    return any(other.latency == name and not other.summary_allowed for other in others)


def _born(b: Build, presence: dict[str, Any], born: datetime | None) -> dict[str, Any] | None:
    """The presence of an error series created by the first error: None if it never failed."""
    if born is None:
        return presence
    start, end = presence.get("present", (b.start, b.end))
    born = max(born, start)
    return {"present": [born, end]} if born < end else None


def _on_breakpoints(b: Build, shapes: list[Shape], fn: Any) -> Shape:
    points = sorted({b.start, b.end, *(t for shape in shapes for t, _ in shape)})
    return [(t, fn(t)) for t in points]


# --- cAdvisor, kube-state-metrics, node-exporter -----------------------------------------------------------------


def container_metrics(b: Build, pods: list[Pod], container: str, cpu_cores: float, memory_mb: float,
                      limit_mb: float) -> None:
    for pod in pods:
        if not _alive(b, pod):
            continue
        labels = _cadvisor(b, pod, container)
        presence = _presence(b, pod)
        cpu = combine(b.cpu[pod.service] + b.cpu[pod.name], b.start, b.end, base=cpu_cores, how="mul")
        memory = combine(b.memory[pod.service] + b.memory[pod.name], b.start, b.end, base=memory_mb * 2**20,
                         how="mul")
        resets = [r for r in pod.restarts if b.start < r < b.end]
        b.metric("container_cpu_usage_seconds_total", "counter", {**labels, "cpu": "total"}, cpu, noise=0.15,
                 resets=resets, **presence)
        if resets and pod.restart_reason == "OOMKilled":
            memory = _sawtooth(b, memory, resets, limit_mb * 2**20)
        b.metric("container_memory_working_set_bytes", "gauge", labels, memory, noise=0.03, integer=True,
                 **presence)
        b.metric("container_spec_memory_limit_bytes", "gauge", labels, [(b.start, limit_mb * 2**20)], **presence)
        throttled = _on_breakpoints(b, [cpu], lambda t, c=cpu: 10 * max(0.0, value_at(c, t) / cpu_cores - 1.6))
        b.metric("container_cpu_cfs_periods_total", "counter", labels, [(b.start, 10.0)], **presence)
        b.metric("container_cpu_cfs_throttled_periods_total", "counter", labels, throttled, **presence)


def _sawtooth(b: Build, memory: Shape, resets: list[datetime], limit: float) -> Shape:
    """Working set climbing to the limit before each OOM kill, dropping back at the restart."""
    out: Shape = []
    base = memory[0][1]
    previous = b.start
    for reset in sorted(resets):
        out += [(previous, base), (reset - timedelta(seconds=30), limit * 0.995), (reset, base)]
        previous = reset
    out.append((b.end, value_at(memory, b.end)))
    return out


def kube_state(b: Build, pods: list[Pod], container: str, owner_kind: str, owner: str) -> None:
    for pod in pods:
        if not _alive(b, pod):
            continue
        presence = _presence(b, pod)
        labels = _ksm({"namespace": pod.namespace, "pod": pod.name, "container": container,
                       "uid": pod.uid})
        restarts = [(b.start, 0.0)]
        for i, at in enumerate(sorted(r for r in pod.restarts if r < b.end)):
            restarts += [(at, float(i)), (at + timedelta(seconds=1), float(i + 1))]
        b.metric("kube_pod_container_status_restarts_total", "counter", labels, restarts, shape_of="value",
                 **presence)
        if pod.restarts:
            b.metric("kube_pod_container_status_last_terminated_reason", "gauge",
                     {**labels, "reason": pod.restart_reason}, [(b.start, 1.0)],
                     present=[min(pod.restarts), presence.get("present", [b.start, b.end])[1]])
        info = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid, "node": pod.node, "pod_ip": pod.ip,
                "host_ip": b.node(pod.node).ip, "created_by_kind": owner_kind, "created_by_name": owner}
        b.metric("kube_pod_info", "gauge", _ksm(info), [(b.start, 1.0)], **presence)
        ready = [(b.start, 1.0)]
        for start, end in pod.unready:
            ready += [(start, 1.0), (start, 0.0), (end, 0.0), (end, 1.0)]
        pod_labels = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid}
        b.metric("kube_pod_status_ready", "gauge", _ksm({**pod_labels, "condition": "true"}), ready, **presence)
        b.metric("kube_pod_status_ready", "gauge", _ksm({**pod_labels, "condition": "false"}),
                 [(t, 1.0 - v) for t, v in ready], **presence)
        repeated = [at for at in sorted(pod.restarts)[1:] if at < b.end]
        if repeated:  # repeated restarts back off: the container waits in CrashLoopBackOff between them
            waiting: Shape = [(b.start, 0.0)]
            for i, at in enumerate(repeated, 1):
                following = repeated[i] if i < len(repeated) else b.end
                until = min(at + timedelta(seconds=10 * 2 ** min(i, 5)), following)
                waiting += [(at, 0.0), (at, 1.0), (until, 1.0), (until, 0.0)]
            b.metric("kube_pod_container_status_waiting_reason", "gauge", {**labels, "reason": "CrashLoopBackOff"},
                     waiting, integer=True, present=[repeated[0], presence.get("present", [b.start, b.end])[1]])


def deployment_state(b: Build, service: str) -> None:
    ns = b.namespace(service)
    labels = _ksm({"namespace": ns, "deployment": service})
    desired = [(b.start, float(b.replicas[service])), *((t, float(n)) for t, n in b.replica_changes[service])]
    moments = [[(t, 0.0)] for p in b.pods(service) for t in (p.started, p.ended, *(x for w in p.unready for x in w))
               if t is not None and b.start <= t <= b.end]
    available = _on_breakpoints(b, [desired, *moments], lambda t: float(sum(
        1 for p in b.pods(service) if p.started <= t < (p.ended or b.end + timedelta(days=1)) and p.ready_at(t)
        and not (b.node(p.node).lost_at and b.node(p.node).lost_at <= t))))
    b.metric("kube_deployment_spec_replicas", "gauge", labels, _steps(desired), integer=True)
    b.metric("kube_deployment_status_replicas_available", "gauge", labels, _steps(available), integer=True)


def _steps(shape: Shape) -> Shape:
    """A step function through the points: each value holds until the next point."""
    out: Shape = []
    for i, (t, v) in enumerate(shape):
        if i and out:
            out.append((t, out[-1][1]))
        out.append((t, v))
    return out


CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def node_metrics(b: Build) -> None:
    for n in b.nodes:
        presence = {"present": [b.start, n.lost_at]} if n.lost_at else {}
        exporter = {"job": "node-exporter", "instance": f"{n.ip}:9100", "namespace": "monitoring",
                    "pod": f"node-exporter-{b.digest('ne', n.name, length=5)}", "container": "node-exporter"}
        cpu_busy = combine(b.cpu[n.name], b.start, b.end, base=0.35, how="mul")
        for cpu in range(4):
            idle = _on_breakpoints(b, [cpu_busy], lambda t, c=cpu_busy: max(0.02, 1 - min(0.98, value_at(c, t))))
            user = _on_breakpoints(b, [cpu_busy], lambda t, c=cpu_busy: min(0.98, value_at(c, t)) * 0.8)
            b.metric("node_cpu_seconds_total", "counter", {**exporter, "cpu": str(cpu), "mode": "idle"}, idle,
                     noise=0.05, **presence)
            b.metric("node_cpu_seconds_total", "counter", {**exporter, "cpu": str(cpu), "mode": "user"}, user,
                     noise=0.1, **presence)
        memory = combine(b.memory[n.name], b.start, b.end, base=9.5 * 2**30, how="mul")
        b.metric("node_memory_MemAvailable_bytes", "gauge", exporter, memory, noise=0.02, integer=True, **presence)
        b.metric("node_memory_MemTotal_bytes", "gauge", exporter, [(b.start, 16 * 2**30)], **presence)
        disk = {**exporter, "device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"}
        free = combine(b.effects[f"{n.name}/disk"], b.start, b.end, base=61 * 2**30, how="mul")
        b.metric("node_filesystem_avail_bytes", "gauge", disk, free, noise=0.005, integer=True, **presence)
        b.metric("node_filesystem_size_bytes", "gauge", disk, [(b.start, 100 * 2**30)], **presence)
        b.metric("kube_node_info", "gauge", _ksm({"node": n.name, "internal_ip": n.ip,
                                                  "kubelet_version": "v1.30.4"}), [(b.start, 1.0)])
        for condition in CONDITIONS:
            for status in ("true", "false", "unknown"):
                shape = _condition_shape(b, n.conditions, condition, status)
                b.metric("kube_node_status_condition", "gauge",
                         _ksm({"node": n.name, "condition": condition, "status": status}), shape)
        unschedulable = [(b.start, 0.0)] + [p for t in n.taints if t.get("key") == "node.kubernetes.io/unschedulable"
                                            for p in ((t["at"], 0.0), (t["at"], 1.0))]
        b.metric("kube_node_spec_unschedulable", "gauge", _ksm({"node": n.name}), unschedulable)


def _condition_shape(b: Build, changes: list[dict[str, Any]], condition: str, status: str) -> Shape:
    healthy = "true" if condition == "Ready" else "false"
    shape: Shape = [(b.start, 1.0 if status == healthy else 0.0)]
    for change in sorted((c for c in changes if c["type"] == condition), key=lambda c: c["at"]):
        now = 1.0 if change["status"].lower() == status else 0.0
        shape += [(change["at"], shape[-1][1]), (change["at"], now)]
    return shape


# --- logs ---------------------------------------------------------------------------------------------------


def log_format(b: Build, svc: ServiceDef) -> str:
    if svc.kind == "postgres":
        return "postgres"
    return LOG_FORMATS[b.spec.conventions.logs][_framework(b, svc)]


def stream_labels(b: Build, workload: str, namespace: str, team: str) -> tuple[dict[str, str], str | None]:
    """Loki stream labels of a workload's logs, and the label naming the pod (None when the pod is not a label)."""
    if b.spec.conventions.loki == "otel":
        return {"service_name": workload, "service_namespace": team, "k8s_namespace_name": namespace,
                "k8s_cluster_name": "prod-eu"}, None
    if b.spec.conventions.loki == "collector":  # loki.resource.labels: k8s.namespace.name, k8s.pod.name, ...
        return {"exporter": "OTLP", "k8s_namespace_name": namespace, "k8s_container_name": workload}, "k8s_pod_name"
    return {"namespace": namespace, "app": workload, "container": workload, "job": f"{namespace}/{workload}",
            "stream": "stdout", "cluster": "prod-eu"}, "pod"


def service_stream(b: Build, health: Health, svc: ServiceDef, per_minute: float) -> dict[str, Any]:
    fw = _framework(b, svc)
    route = svc.route or f"/api/v1/{svc.name.split('-')[0]}"
    labels, pod_label = stream_labels(b, svc.name, b.namespace(svc.name), svc.team)
    bursts = list(b.bursts[svc.name])
    callee = health.failing_callee(svc.name)
    if callee and not b.err[svc.name]:
        bursts.append(_inherited_burst(b, health, svc, callee, route))
    return {"labels": labels, "pod_label": pod_label, "format": log_format(b, svc),
            "logger": LOGGERS[fw].format(name=svc.name.replace("-", "")), "deployment": svc.name,
            "background": {"per_minute": per_minute, "lines": [*access_lines(fw, route), *b.background[svc.name]],
                           "warn_share": 0.01, "warnings": routine_warnings(fw)},
            "bursts": bursts}


def _inherited_burst(b: Build, health: Health, svc: ServiceDef, callee: str, route: str) -> dict[str, Any]:
    """What a caller logs while its dependency fails: the call, the target's address and the dependency's error."""
    err = health.err(svc.name)
    onset = first_above(err, 0.01) or b.cause_at
    end = max((t for t, v in err if v > 0.01), default=b.until)
    why = b.failure.get(callee) or _failure_of(b, health, callee)
    dep = b.spec.service(callee)
    port = {"postgres": 5432, "redis": 6379}.get(dep.kind, 80)
    target = f"{callee}.{b.namespace(callee)}.svc.cluster.local:{port}"
    message = (f"upstream request failed | upstream={target} route={route} error=\"{why}\" "
               f"duration_ms={{ms_slow}} trace_id={{trace}}")
    peak = max(v for _, v in err)
    rate = max(3.0, min(120.0, svc.rps * 60 * peak * 0.3))
    return {"from": onset, "to": end, "per_minute": rate, "level": "error", "messages": [{"message": message}]}


def _failure_of(b: Build, health: Health, service: str) -> str:
    deeper = health.failing_callee(service)
    if deeper:
        return f"{service}: {_failure_of(b, health, deeper)}"
    return b.failure.get(service, "503 Service Unavailable")
