"""Expand a generator spec into a full scenario: plan the changes, make the pods, write the effects, then render
every exporter's series, every workload's logs and every Kubernetes object, and validate the result as a
`Scenario` like any other.

The same spec gives the same bytes on every run: all randomness is seeded from the spec's name and seed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.scenarios.generator import causes, distractions
from tests.scenarios.generator.build import COREDNS, Build, Pod
from tests.scenarios.generator.infra import alerts, coredns, database, effect, probes, statefulset_pods
from tests.scenarios.generator.render import (
    Health,
    app_metrics,
    container_metrics,
    deployment_state,
    kube_state,
    node_metrics,
    scrape_health,
    service_stream,
    stream_labels,
    target_labels,
)
from tests.scenarios.generator.spec import GeneratorSpec, ServiceDef
from tests.scenarios.model import Scenario


def expand(spec: GeneratorSpec) -> Scenario:
    b = Build(spec)
    _check_spec(spec)
    causes.PLAN.get(spec.cause.kind, _nothing)(b, spec.cause)
    for d in spec.distractions:
        distractions.PLAN.get(d.kind, _nothing)(b, d)
    b.all_pods()
    causes.EFFECTS.get(spec.cause.kind, _nothing)(b, spec.cause)
    for d in spec.distractions:
        distractions.EFFECTS.get(d.kind, _nothing)(b, d)
    raw = _render(b)
    context = {"day": b.start.date(), "start": b.start, "end": b.end}
    return Scenario.model_validate(raw, context=context)


def _nothing(_b: Build, _item: Any) -> None:
    return None


def _check_spec(spec: GeneratorSpec) -> None:
    names = {s.name for s in spec.services}
    for svc in spec.services:
        for callee in [*svc.calls, *([svc.database] if svc.database else [])]:
            if not callee.startswith("external:") and callee not in names:
                raise ValueError(f"{spec.name}: {svc.name} calls unknown service {callee}")
    ruled_out = {r.subject for r in spec.expected.ruled_out}
    for d in spec.distractions:
        if d.target not in ruled_out:
            raise ValueError(f"{spec.name}: distraction {d.kind} {d.target} is not in expected.ruled_out")


# --- rendering -----------------------------------------------------------------------------------------------


def _render(b: Build) -> dict[str, Any]:
    spec = b.spec
    health = Health(b)
    stateful: dict[str, list[Pod]] = {}
    for svc in spec.services:
        if svc.kind in ("postgres", "redis"):
            stateful[svc.name] = statefulset_pods(b, svc)
            database(b, svc, stateful[svc.name])
    for svc in spec.services:
        if svc.kind in ("http", "grpc"):
            app_metrics(b, health, svc)
            _pool_metrics(b, svc)
            _client_metrics(b, health, svc)
    for svc in [*(s for s in spec.services if s.kind in ("http", "grpc", "worker")), COREDNS]:
        pods = b.pods(svc.name)
        limit = _mebibytes(b.revisions[svc.name][-1].memory_limit or "1Gi")
        container_metrics(b, pods, svc.name, 0.25, 310 if svc.name != "coredns" else 45, limit)
        kube_state(b, pods, svc.name, "ReplicaSet", svc.name)
        deployment_state(b, svc.name)
    coredns(b)
    node_metrics(b)
    scrape_health(b)
    host = f"{spec.incident.service}.{spec.conventions.domain}"
    b.certificates.setdefault(host, [(b.start, float(int((b.declared + timedelta(days=47)).timestamp())))])
    probes(b)
    alerts(b)
    _hpa_metrics(b)
    _job_metrics(b)
    return {
        "name": spec.name, "summary": spec.summary,
        "incident": {"title": spec.incident.title, "severity": spec.incident.severity,
                     "service": spec.incident.service, "declared_at": b.declared, "resolved_at": b.resolved,
                     "description": spec.incident.description},
        "expected": _expected(b),
        "window": {"start": b.start, "end": b.end, "step": f"{int(b.step.total_seconds())}s"},
        "metrics": b.metrics,
        "logs": {"backend": "loki", "streams": _streams(b, health)},
        "kubernetes": _kubernetes(b),
        "timeline": _timeline(b),
    }


def _expected(b: Build) -> dict[str, Any]:
    """The spec's expected answer, with nodes named by position (`node-2`) given their real names."""
    def real(name: Any) -> Any:
        if isinstance(name, str) and re.fullmatch(r"node-\d+", name) and int(name[5:]) < len(b.nodes):
            return b.nodes[int(name[5:])].name
        return name

    out = b.spec.expected.model_dump(by_alias=True)
    out["component"] = real(out["component"])
    if out["trigger"]:
        out["trigger"]["subject"] = real(out["trigger"]["subject"])
        if out["trigger"]["object"]:
            out["trigger"]["object"]["name"] = real(out["trigger"]["object"]["name"])
    for entry in out["ruled_out"]:
        entry["subject"] = real(entry["subject"])
    return out


def _mebibytes(quantity: str) -> float:
    if quantity.endswith("Gi"):
        return float(quantity[:-2]) * 1024
    return float(quantity.removesuffix("Mi"))


def _pool_metrics(b: Build, svc: ServiceDef) -> None:
    """Connection-pool gauges of services with a postgres pool, named as their client library names them."""
    if not svc.database or b.spec.service(svc.database).kind != "postgres":
        return
    framework = "otel" if b.spec.conventions.scrape == "otel" else (svc.framework or "go")
    if framework not in causes.POOL_METRICS:
        return
    used_name, max_name, pending_name = causes.POOL_METRICS[framework]
    pool = float(b.revisions[svc.name][-1].env.get("DB_POOL_MAX", "20"))
    use = effect(b, f"{svc.name}/pool", 0.18)
    for pod in b.pods(svc.name):
        if pod.ended is not None and pod.ended <= b.start:
            continue
        labels = target_labels(b, pod)
        present = {"present": [max(pod.started, b.start), pod.ended or b.end]} \
            if pod.started > b.start or pod.ended else {}
        extra = {"pool": "HikariPool-1"} if framework == "spring" else (
            {"pool_name": svc.name.replace("-", "_")} if framework == "otel" else {"db_name": svc.database})
        used = [(t, min(1.0, v) * pool) for t, v in use]
        if framework == "otel":
            b.metric(used_name, "gauge", {**labels, **extra, "state": "used"}, used, integer=True, noise=0.15,
                     clamp=[0, pool], **present)
            b.metric(used_name, "gauge", {**labels, **extra, "state": "idle"},
                     [(t, max(0.0, pool * 0.5 - v)) for t, v in used], integer=True, noise=0.15, clamp=[0, pool],
                     **present)
        else:
            b.metric(used_name, "gauge", {**labels, **extra}, used, integer=True, noise=0.15, clamp=[0, pool],
                     **present)
        b.metric(max_name, "gauge", {**labels, **extra}, [(b.start, pool)], **present)
        waiting = [(t, max(0.0, v - 0.95) * 400) for t, v in use]
        pending_type = "counter" if pending_name.endswith("_total") else "gauge"
        b.metric(pending_name, pending_type, {**labels, **extra}, waiting,
                 **({"integer": True} if pending_type == "gauge" else {}), **present)


def _client_metrics(b: Build, health: Health, svc: ServiceDef) -> None:
    """Client-side request metrics towards third parties, for the libraries that record them."""
    framework = "otel" if b.spec.conventions.scrape == "otel" else (svc.framework or "go")
    providers = [c.removeprefix("external:") for c in svc.calls if c.startswith("external:")]
    if framework not in ("spring", "otel") or not providers:
        return
    for provider in providers:
        limited = effect(b, f"{svc.name}/client/{provider}/429", 0.0)
        for pod in b.pods(svc.name):
            if pod.ended is not None and pod.ended <= b.start:
                continue
            labels = target_labels(b, pod)
            present = {"present": [max(pod.started, b.start), pod.ended or b.end]} \
                if pod.started > b.start or pod.ended else {}
            rate = svc.rps / b.replicas[svc.name] * 0.4
            ok = [(t, rate * (1 - v)) for t, v in limited]
            bad = [(t, rate * v) for t, v in limited]
            born = next((t for t, v in limited if v > 0), None)
            if framework == "spring":
                name, host_label, status_label = "http_client_requests_seconds", "client_name", "status"
            else:
                name, host_label, status_label = "http_client_request_duration_seconds", "server_address", \
                    "http_response_status_code"
            base = {**labels, host_label: provider, "method": "POST"}
            latency = [(b.start, 0.18)]
            b.metric(name, "histogram", {**base, status_label: "200"}, ok, latency=latency, noise=0.1,
                     buckets=[0.05, 0.1, 0.25, 0.5, 1.0, 2.5], **present)
            if born:
                start = max(born, present.get("present", [b.start])[0])
                b.metric(name, "histogram", {**base, status_label: "429"}, bad, latency=[(b.start, 0.03)],
                         noise=0.1, buckets=[0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                         present=[start, present.get("present", [b.start, b.end])[1]])


def _hpa_metrics(b: Build) -> None:
    for hpa in b.k8s["hpas"]:
        labels = {"job": "kube-state-metrics", "instance": "10.72.4.19:8080", "namespace": hpa["namespace"],
                  "horizontalpodautoscaler": hpa["name"]}
        current = [(b.start, float(hpa["history"][0]["replicas"]))]
        for point in hpa["history"][1:]:
            current += [(point["at"], current[-1][1]), (point["at"], float(point["replicas"]))]
        b.metric("kube_horizontalpodautoscaler_status_current_replicas", "gauge", labels, current, integer=True)
        b.metric("kube_horizontalpodautoscaler_status_desired_replicas", "gauge", labels, current, integer=True)
        b.metric("kube_horizontalpodautoscaler_spec_max_replicas", "gauge", labels,
                 [(b.start, float(hpa["max_replicas"]))], integer=True)
        b.metric("kube_horizontalpodautoscaler_spec_min_replicas", "gauge", labels,
                 [(b.start, float(hpa["min_replicas"]))], integer=True)


def _job_metrics(b: Build) -> None:
    for job in b.k8s["jobs"]:
        if job["started"] > b.end:
            continue
        labels = {"job": "kube-state-metrics", "instance": "10.72.4.19:8080", "namespace": job["namespace"],
                  "job_name": job["name"]}
        end = job["finished"] or b.end
        present = [max(job["started"], b.start), b.end]
        b.metric("kube_job_status_start_time", "gauge", labels, [(b.start, float(int(job["started"].timestamp())))],
                 present=present)
        b.metric("kube_job_status_active", "gauge", labels, [(b.start, 1.0), (end, 1.0), (end, 0.0)],
                 present=present, integer=True)
        if job["cronjob"]:
            b.metric("kube_job_owner", "gauge", {**labels, "owner_kind": "CronJob", "owner_name": job["cronjob"],
                                                 "owner_is_controller": "true"}, [(b.start, 1.0)], present=present)
        pod = {"name": f"{job['name']}-{job['pod_suffix']}", "namespace": job["namespace"], "node": job["node"],
               "started": job["started"] + timedelta(seconds=4), "ended": job["finished"]}
        job_pod = Pod(name=pod["name"], service=job["name"], namespace=pod["namespace"], node=pod["node"],
                      started=pod["started"], ended=pod["ended"], revision=None, ip="10.90.1.7",
                      uid=b.digest("uid", job["name"], length=12, alphabet="0123456789abcdef"))
        container_metrics(b, [job_pod], job["labels"]["app"], 1.8, 900, 4096)


def _streams(b: Build, health: Health) -> list[dict[str, Any]]:
    out = []
    for svc in b.spec.services:
        if svc.kind in ("http", "grpc", "worker"):
            per_minute = max(2.0, min(8.0, svc.rps * 0.2)) if svc.kind != "worker" else 2.0
            out.append(service_stream(b, health, svc, per_minute))
        elif svc.kind == "postgres" and b.bursts[svc.name]:
            labels, pod_label = stream_labels(b, svc.name, b.namespace(svc.name), svc.team)
            out.append({"labels": labels, "pod_label": pod_label, "format": "postgres", "deployment": svc.name,
                        "background": {"per_minute": 2, "lines": [
                            {"message": "checkpoint starting: time"},
                            {"message": "checkpoint complete: wrote {n} buffers (0.1%); 0 WAL file(s) added, "
                                        "0 removed, 1 recycled"}]},
                        "bursts": b.bursts[svc.name]})
    labels, pod_label = stream_labels(b, "coredns", "kube-system", "kube-system")
    out.append({"labels": labels, "pod_label": pod_label, "format": "coredns", "deployment": "coredns",
                "background": {"per_minute": 1, "lines": ["[INFO] Reloading complete"]},
                "bursts": b.bursts["coredns"]})
    for job in b.k8s["jobs"]:
        labels, pod_label = stream_labels(b, job["labels"]["app"], job["namespace"], job["namespace"])
        out.append({"labels": labels, "pod_label": pod_label, "format": "logfmt", "deployment": job["name"],
                    "background": {"per_minute": 3, "lines": [{"message": "batch processed | rows={big} "
                                                                          "elapsed_ms={ms_slow}"}]},
                    "bursts": [{"from": job["started"] + timedelta(seconds=5),
                                "to": job["started"] + timedelta(seconds=20), "per_minute": 6, "level": "info",
                                "messages": [{"message": f"starting {job['name']} | "
                                                         f"args=\"{' '.join(job['command'])}\""}]}]})
    if b.spec.conventions.loki == "collector":  # the Collector tails every container's log file alike
        for stream in out:
            stream["envelope"] = "otlp-json"
    return out


def _kubernetes(b: Build) -> dict[str, Any]:
    spec = b.spec
    deployments, pods = [], []
    for svc in [*(s for s in spec.services if s.kind in ("http", "grpc", "worker")), COREDNS]:
        ns = b.namespace(svc.name)
        changes = [n for t, n in b.replica_changes[svc.name] if t <= b.end]
        deployments.append({
            "name": svc.name, "namespace": ns, "replicas": changes[-1] if changes else b.replicas[svc.name],
            "labels": {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/part-of": svc.team}
            if svc.name != "coredns" else {"k8s-app": "kube-dns"},
            "env_from": [f"{svc.name}-config"] if svc.name != "coredns" else [],
            "revisions": [{"revision": r.number, "hash": r.hash, "image": r.image, "at": r.at, "env": r.env,
                           "template_annotations": r.annotations, "change_cause": r.change_cause,
                           "memory_limit": r.memory_limit} for r in b.revisions[svc.name]]})
        if svc.name != "coredns":
            if b.find_config(f"{svc.name}-config") is None:
                b.configmap(f"{svc.name}-config", ns, b.config_data[svc.name])
            b.k8s["services"].append({"name": svc.name, "namespace": ns, "selector": {"app": svc.name}})
        for pod in b.pods(svc.name):
            pods.append(_pod(b, pod))
    nodes = [{"name": n.name, "ip": n.ip, "zone": n.zone, "provider": spec.conventions.cloud,
              "instance_type": "m6i.xlarge" if spec.conventions.cloud == "aws" else "e2-standard-4",
              "cpu": "4", "memory": "16Gi", "conditions": n.conditions, "taints": n.taints,
              "unschedulable": n.unschedulable} for n in b.nodes]
    return {"namespace": b.default_namespace, "cluster": "prod-eu", "deployments": deployments, "pods": pods,
            "nodes": nodes, "events": b.k8s["events"], "configmaps": b.k8s["configmaps"],
            "secrets": b.k8s["secrets"], "services": b.k8s["services"], "statefulsets": b.k8s["statefulsets"],
            "jobs": b.k8s["jobs"], "cronjobs": b.k8s["cronjobs"], "hpas": b.k8s["hpas"], "custom": dict(b.custom)}


def _pod(b: Build, pod: Pod) -> dict[str, Any]:
    restarts = sorted(r for r in pod.restarts if r <= b.end)
    out: dict[str, Any] = {"name": pod.name, "namespace": pod.namespace, "deployment": pod.service,
                           "revision": pod.revision, "node": pod.node, "started": pod.started, "ended": pod.ended,
                           "deleted": pod.deleted, "restarts": len(restarts), "phase": pod.phase,
                           "ready": pod.ready, "reason": pod.reason, "message": pod.message}
    if restarts:
        out["last_termination"] = {"reason": pod.restart_reason, "exit_code": 137, "at": restarts[-1]}
    return out


def _timeline(b: Build) -> list[dict[str, Any]]:
    out = [*b.timeline]
    for alert in b.spec.alerts:
        out.append({"at": b.at(alert.since), "kind": "alert", "text": f"[FIRING:1] {alert.name}",
                    "actor": "alertmanager"})
    out.append({"at": b.declared, "kind": "declared", "text": b.spec.incident.title, "actor": "oncall"})
    for entry in b.spec.timeline:
        out.append({**entry, "at": b.at(str(entry["at"]))})
    if b.resolved:
        out.append({"at": b.resolved, "kind": "resolved", "text": "Resolved", "actor": "oncall"})
    return sorted(out, key=lambda e: e["at"])
