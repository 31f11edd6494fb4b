"""Each cause kind as a cluster shows it: the change (a rollout, an edit, a Job, a node condition...) in the
objects and events, and what follows in metrics and logs, with the lag a real failure has.

A cause has two steps: `plan` makes the changes that shape pods (rollouts, scaling, placement) and runs before
any pod exists; `effects` writes the signals. Parameters come from the spec's `cause.params`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.generator.build import Build
from tests.scenarios.generator.shapes import pulse
from tests.scenarios.generator.spec import CauseDef

Step = Callable[[Build, CauseDef], None]
PLAN: dict[str, Step] = {}
EFFECTS: dict[str, Step] = {}

MINUTE = timedelta(minutes=1)


def plan(kind: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        PLAN[kind] = fn
        return fn
    return register


def effects(kind: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        EFFECTS[kind] = fn
        return fn
    return register


def _p(c: CauseDef, key: str, default: Any) -> Any:
    return c.params.get(key, default)


def _callers(b: Build, service: str) -> list[str]:
    return [s.name for s in b.spec.services if service in s.calls or s.database == service]


def _recovery_rollback(b: Build, service: str) -> None:
    """A rollback to the revision before the cause, when the spec's recovery says so."""
    if b.spec.recovery and b.spec.recovery.action == "rollback" and b.recovered_at:
        history = b.revisions[service]
        b.rollout(service, b.recovered_at, back_to=len(history) - 2,
                  change_cause=f"kubectl rollout undo deployment/{service}")


def _exception(b: Build, service: str, text: str) -> dict[str, Any]:
    framework = b.spec.service(service).framework or "go"
    if framework == "spring":
        return {"message": f"Servlet.service() for servlet [dispatcherServlet] threw exception | "
                           f"error=\"{text}\"",
                "stack": f"java.lang.IllegalStateException: {text}\n\tat com.example.{service.replace('-', '')}."
                         f"web.Handler.handle(Handler.java:88)\n\tat org.springframework.web.servlet.FrameworkServlet"
                         f".service(FrameworkServlet.java:885)"}
    if framework == "python":
        return {"message": f"Exception in ASGI application | error=\"{text}\"",
                "stack": f"Traceback (most recent call last):\n  File \"/app/{service.replace('-', '_')}/api.py\", "
                         f"line 141, in handle\nRuntimeError: {text}"}
    return {"message": f"request failed | error=\"{text}\" path=/api/v1/{service.split('-')[0]} status=500 "
                       f"trace_id={{trace}}"}


# --- rollouts -------------------------------------------------------------------------------------------------


@plan("bad-deploy")
def _plan_bad_deploy(b: Build, c: CauseDef) -> None:
    svc = b.spec.service(c.target)
    b.rollout(c.target, b.cause_at, image=b.image(svc, _p(c, "version", "2.0.0")),
              change_cause=_p(c, "change_cause", None))
    _recovery_rollback(b, c.target)


@effects("bad-deploy")
def _bad_deploy(b: Build, c: CauseDef) -> None:
    onset = b.cause_at + timedelta(seconds=40)
    text = _p(c, "error", "nil pointer dereference in order total calculation")
    b.fail(c.target, onset, _p(c, "ratio", 0.35), latency=1.4, why=text)
    b.burst(c.target, onset, b.until, [20, 45], [_exception(b, c.target, text)])


@plan("config-change")
def _plan_config_change(b: Build, c: CauseDef) -> None:
    key, new = c.params["key"], str(c.params["new"])
    if "old" in c.params:  # the value the running template had
        b.revisions[c.target][-1].env[key] = str(c.params["old"])
    b.rollout(c.target, b.cause_at, env={key: new}, change_cause=_p(c, "change_cause", None))
    _recovery_rollback(b, c.target)


@effects("config-change")
def _config_change(b: Build, c: CauseDef) -> None:
    onset = b.cause_at + timedelta(seconds=35)
    text = _p(c, "error", "context deadline exceeded")
    b.fail(c.target, onset, _p(c, "ratio", 0.3), latency=_p(c, "latency", 1.2), why=text,
           code=_p(c, "code", 504))
    b.burst(c.target, onset, b.until, [15, 35], [_exception(b, c.target, text)])


@plan("memory-leak")
def _plan_memory_leak(b: Build, c: CauseDef) -> None:
    svc = b.spec.service(c.target)
    b.rollout(c.target, b.cause_at, image=b.image(svc, _p(c, "version", "2.0.0")))
    _recovery_rollback(b, c.target)


@effects("memory-leak")
def _memory_leak(b: Build, c: CauseDef) -> None:
    leak_minutes = _p(c, "oom_every_minutes", 24)
    for i, pod in enumerate(p for p in b.pods(c.target) if p.started >= b.cause_at):
        first = pod.started + timedelta(minutes=leak_minutes + 3 * i)
        end = min(pod.ended or b.end, b.until)
        at = first
        while at < end:
            pod.restarts.append(at)
            b.event(at, "BackOff", f"Back-off restarting failed container {c.target} in pod {pod.name}",
                    "Pod", pod.name, namespace=pod.namespace, type="Warning", host=pod.node)
            at += timedelta(minutes=leak_minutes)
        if pod.restarts:
            b.burst(c.target, pod.restarts[0] - 4 * MINUTE, min(end, b.until), 6,
                    [{"message": "GC overhead: heap usage high | heap_used_mb={big} gc_pause_ms={ms_slow}",
                      "level": "warn"}], pods=[pod.name])
    for pod in b.pods(c.target):
        if pod.restarts:
            b.fail(c.target, pod.restarts[0] - 2 * MINUTE, 0.08, latency=2.5, why="connection reset by peer",
                   code=502, ramp=60, decay=60)
            break


@plan("bad-gitops-sync")
def _plan_gitops(b: Build, c: CauseDef) -> None:
    b.rollout(c.target, b.cause_at, memory_limit=str(c.params["new"]),
              annotations={"argocd.argoproj.io/tracking-id": f"{c.params['application']}:apps/Deployment:"
                                                             f"{b.namespace(c.target)}/{c.target}"})
    _recovery_rollback(b, c.target)


@effects("bad-gitops-sync")
def _gitops(b: Build, c: CauseDef) -> None:
    app = c.params["application"]
    revision = c.params.get("revision", b.digest("git", app, length=40, alphabet="0123456789abcdef"))
    _argo_sync(b, app, b.cause_at - timedelta(seconds=20), revision, c.target)
    for i, pod in enumerate(p for p in b.pods(c.target) if p.started >= b.cause_at):
        at = pod.started + timedelta(minutes=3 + i)
        while at < min(pod.ended or b.end, b.until):
            pod.restarts.append(at)
            at += timedelta(minutes=5 + (i % 3))
        b.event(pod.started + timedelta(minutes=9), "BackOff",
                f"Back-off restarting failed container {c.target} in pod {pod.name}", "Pod", pod.name,
                namespace=pod.namespace, type="Warning", host=pod.node, count=6,
                last=min(b.until, b.end))
    b.memory[c.target].append(pulse(b.start, b.cause_at, 1.0, b.until, base=1.0))
    b.fail(c.target, b.cause_at + 3 * MINUTE, 0.25, latency=1.8, why="connection refused", code=503)


def _argo_sync(b: Build, app: str, at: datetime, revision: str, target: str | None) -> None:
    """An Argo CD Application syncing to a git revision: its events and the Application as it stands."""
    ns = "argocd"
    b.event(at, "OperationStarted", f"Initiated automated sync to '{revision}'", "Application", app,
            namespace=ns, source="argocd-application-controller", api_version="argoproj.io/v1alpha1")
    if target:
        b.event(at + timedelta(seconds=8), "ResourceUpdated",
                "Updated sync status: OutOfSync -> Synced", "Application", app, namespace=ns,
                source="argocd-application-controller", api_version="argoproj.io/v1alpha1")
    b.event(at + timedelta(seconds=14), "OperationCompleted", f"Sync operation to {revision} succeeded",
            "Application", app, namespace=ns, source="argocd-application-controller",
            api_version="argoproj.io/v1alpha1")
    history = [{"id": i, "revision": b.digest("git", app, i, length=40, alphabet="0123456789abcdef"),
                "deployedAt": (at - timedelta(days=2 * (3 - i))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": {"repoURL": "https://github.com/example/deploy.git", "path": f"apps/{app}"}}
               for i in range(3)]
    history.append({"id": 3, "revision": revision, "deployedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "source": {"repoURL": "https://github.com/example/deploy.git", "path": f"apps/{app}"}})
    b.custom["applications"].append({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": app, "namespace": ns, "uid": b.digest("app", app, length=12),
                     "creationTimestamp": (b.start - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "resourceVersion": "88123"},
        "spec": {"project": "default", "source": {"repoURL": "https://github.com/example/deploy.git",
                                                  "path": f"apps/{app}", "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc",
                                 "namespace": b.namespace(target) if target else "default"},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
        "status": {"sync": {"status": "Synced", "revision": revision},
                   "health": {"status": "Progressing" if target else "Healthy"},
                   "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)",
                                      "startedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "finishedAt": (at + timedelta(seconds=14)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "syncResult": {"revision": revision}},
                   "history": history, "reconciledAt": b.end.strftime("%Y-%m-%dT%H:%M:%SZ")}})


# --- configuration --------------------------------------------------------------------------------------------


@effects("configmap-change")
def _configmap_change(b: Build, c: CauseDef) -> None:
    name = _p(c, "configmap", f"{c.target}-config")
    key, old, new = c.params["key"], str(c.params["old"]), str(c.params["new"])
    ns = b.namespace(c.target)
    data = {**b.config_data[c.target], key: old}
    edits = [{"at": b.cause_at, "data": {**data, key: new}, "manager": _p(c, "manager", "kubectl-edit")}]
    if b.spec.recovery and b.spec.recovery.action == "revert-config" and b.recovered_at:
        edits.append({"at": b.recovered_at, "data": data, "manager": "kubectl-edit"})
    b.configmap(name, ns, data, edits=edits)
    reload_at = b.cause_at + timedelta(seconds=70)  # the kubelet syncs mounted ConfigMaps within a minute or so
    b.burst(c.target, reload_at, reload_at + timedelta(seconds=20), 8,
            [{"message": f"configuration reloaded | file=/etc/{c.target}/config.yaml changed_keys={key}",
              "level": "info"}])
    text = _p(c, "error", "upstream request timeout")
    b.fail(c.target, reload_at + timedelta(seconds=15), _p(c, "ratio", 0.3), latency=_p(c, "latency", 1.3),
           why=text, code=_p(c, "code", 504))
    b.burst(c.target, reload_at + timedelta(seconds=15), b.until, [12, 30], [_exception(b, c.target, text)])


@effects("secret-rotation")
def _secret_rotation(b: Build, c: CauseDef) -> None:
    db = b.spec.service(c.target).database
    assert db, "secret-rotation needs the target to use a database"
    name = _p(c, "secret", f"{c.target}-db-credentials")
    ns = b.namespace(c.target)
    user = c.target.replace("-", "_")
    b.configmap(name, ns, {"username": user, "password": b.digest("pw", 0, length=24)}, secret=True,
                manager="external-secrets",
                edits=[{"at": b.cause_at, "manager": "external-secrets",
                        "data": {"username": user, "password": b.digest("pw", 1, length=24)}}],
                labels={"reconcile.external-secrets.io/managed": "true"})
    b.event(b.cause_at - timedelta(seconds=2), "Updated", "Updated Secret", "ExternalSecret", name, namespace=ns,
            source="external-secrets", api_version="external-secrets.io/v1beta1")
    onset = b.cause_at + timedelta(minutes=_p(c, "lag_minutes", 4))  # pooled connections age out first
    text = f'pq: password authentication failed for user "{user}"'
    b.fail(c.target, onset, 0.45, latency=1.5, why=text, code=500)
    b.burst(c.target, onset, b.until, [20, 40], [{"message": f"failed to open database connection | "
                                                             f"error=\"{text}\" db={db}"}])
    b.burst(db, onset, b.until, [20, 40], [
        {"message": f'password authentication failed for user "{user}"', "level": "fatal"},
        {"message": 'Connection matched file "/etc/postgresql/pg_hba.conf" line 12: "host all all 0.0.0.0/0 '
                    'scram-sha-256"', "level": "info"}])


@effects("feature-flag")
def _feature_flag(b: Build, c: CauseDef) -> None:
    flag = c.params["flag"]
    flags_service = _p(c, "flag_service", "flagd")
    ns = b.namespace(flags_service)
    others = {f: {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
              for f in ("dark-mode", "recommendations-v2")}

    def flags(variant: str) -> dict[str, str]:
        doc = {**others, flag: {"state": "ENABLED", "variants": {"on": True, "off": False},
                                "defaultVariant": variant}}
        return {"flags.flagd.json": json.dumps({"flags": doc}, indent=2, sort_keys=True)}

    b.configmap(f"{flags_service}-flags", ns, flags("off"), manager="argocd-controller",
                edits=[{"at": b.cause_at, "data": flags("on"), "manager": "kubectl-edit"}])
    b.burst(flags_service, b.cause_at + timedelta(seconds=40), b.cause_at + timedelta(seconds=55), 6,
            [{"message": f"flag configuration changed | source=/etc/flagd/flags.flagd.json flags_changed={flag}",
              "level": "info"}])
    onset = b.cause_at + timedelta(seconds=75)
    text = _p(c, "error", f"{flag}: unsupported currency in new pricing path")
    b.fail(c.target, onset, _p(c, "ratio", 0.3), latency=1.2, why=text)
    b.burst(c.target, onset, b.until, [15, 30], [_exception(b, c.target, text)])


# --- saturation and dependencies ------------------------------------------------------------------------------


POOL_METRICS = {"spring": ("hikaricp_connections_active", "hikaricp_connections_max", "hikaricp_connections_pending"),
                "go": ("go_sql_in_use_connections", "go_sql_max_open_connections", "go_sql_wait_count_total"),
                "otel": ("db_client_connections_usage", "db_client_connections_max",
                         "db_client_connections_pending_requests")}


@plan("connection-pool-exhaustion")
def _plan_pool(b: Build, c: CauseDef) -> None:
    if _p(c, "trigger", "deploy") == "deploy":
        svc = b.spec.service(c.target)
        b.rollout(c.target, b.cause_at, image=b.image(svc, _p(c, "version", "2.0.0")))
        _recovery_rollback(b, c.target)


@effects("connection-pool-exhaustion")
def _pool(b: Build, c: CauseDef) -> None:
    svc = b.spec.service(c.target)
    onset = b.cause_at + timedelta(minutes=_p(c, "lag_minutes", 6))
    b.effects[f"{c.target}/pool"].append(pulse(b.start, b.cause_at, 0.3, onset, ramp=300))
    b.effects[f"{c.target}/pool"].append(pulse(b.start, onset, 0.6, b.until, ramp=60))
    if svc.database:
        b.effects[f"{svc.database}/{c.target}/idle in transaction"].append(pulse(b.start, b.cause_at, 18, b.until,
                                                                                 ramp=600))
    framework = "otel" if b.spec.conventions.scrape == "otel" else (svc.framework or "go")
    text = {"spring": "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            "python": "QueuePool limit of size 20 overflow 0 reached, connection timed out, timeout 30.00"}.get(
        framework, "sql: database connection pool exhausted: context deadline exceeded")
    b.fail(c.target, onset, 0.4, latency=12.0, why=text, code=500)
    b.burst(c.target, onset, b.until, [20, 50], [_exception(b, c.target, text)])


@effects("dependency-outage")
def _dependency_outage(b: Build, c: CauseDef) -> None:
    onset = b.cause_at
    text = _p(c, "error", "no healthy upstream")
    b.fail(c.target, onset, _p(c, "ratio", 0.9), latency=3.0, why=text, code=503, ramp=45)
    for pod in b.pods(c.target):
        pod.unready.append((onset + timedelta(seconds=30), b.until))
        b.event(onset + timedelta(seconds=30), "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503", "Pod", pod.name,
                namespace=pod.namespace, type="Warning", host=pod.node, count=40,
                last=min(b.until, b.end))
    reason = _p(c, "log", "health check failed: downstream ledger-store timeout")
    b.burst(c.target, onset, b.until, [25, 40], [{"message": f"{reason} | check=readiness"}])


@effects("rate-limited")
def _rate_limited(b: Build, c: CauseDef) -> None:
    caller, provider = c.target, c.params["provider"]
    onset = b.cause_at + timedelta(minutes=_p(c, "lag_minutes", 3))
    job = c.params.get("job")
    if job:
        _job_run(b, job, b.cause_at, b.cause_at + timedelta(minutes=_p(c, "job_minutes", 50)),
                 namespace=_p(c, "job_namespace", b.namespace(caller)), cronjob=_p(c, "cronjob", None),
                 image=_p(c, "job_image", f"{job}:3.2.0"))
    b.fail(caller, onset, _p(c, "ratio", 0.3), latency=1.6, why=f"429 Too Many Requests from {provider}", code=502)
    b.effects[f"{caller}/client/{provider}/429"].append(pulse(b.start, onset, 1.0, b.until))
    b.burst(caller, onset, b.until, [25, 45], [{"message": f"provider request rejected | host={provider} "
                                                           f"status=429 retry_after=30 "
                                                           f"error=\"rate limit exceeded\""}], level="warn")


@plan("autoscaler-at-max")
def _plan_autoscaler(b: Build, c: CauseDef) -> None:
    """Traffic surges, the HPA adds pods up to its maximum, and the saturation that follows (all planned: the
    extra pods must exist before any pod is made)."""
    target, high = c.target, c.params["max"]
    surge = b.cause_at
    steps = [(surge + timedelta(minutes=3), min(high, b.replicas[target] * 2)),
             (surge + timedelta(minutes=7), high)]
    b.scaling[target] = steps
    b.replica_changes[target] = steps
    b.k8s["hpas"].append({"name": target, "namespace": b.namespace(target), "target": target,
                          "min_replicas": b.replicas[target], "max_replicas": high,
                          "created": b.start - timedelta(days=150),
                          "history": [{"at": b.start, "replicas": b.replicas[target]},
                                      *({"at": t, "replicas": n} for t, n in steps)]})
    factor = _p(c, "surge", 3.5)
    b.rps[target].append(pulse(b.start, surge, factor, b.until, ramp=400, base=1.0))
    saturated = surge + timedelta(minutes=9)
    b.fail(target, saturated, 0.12, latency=6.0, why="upstream connect error or disconnect/reset before headers",
           code=503, ramp=300)
    b.cpu[target].append(pulse(b.start, surge, 2.6, b.until, ramp=400, base=1.0))


# --- infrastructure -------------------------------------------------------------------------------------------


@effects("dns-failure")
def _dns(b: Build, c: CauseDef) -> None:
    onset = b.cause_at + timedelta(seconds=_p(c, "lag_seconds", 40))
    corefile = (".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n"
                "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n"
                "       fallthrough in-addr.arpa ip6.arpa\n    }\n    prometheus :9153\n"
                "    forward . {upstream}\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n")
    old, new = _p(c, "old", "/etc/resolv.conf"), _p(c, "new", "10.40.0.2 10.40.0.3")
    b.configmap("coredns", "kube-system", {"Corefile": corefile.replace("{upstream}", old)}, manager="eks",
                edits=[{"at": b.cause_at, "manager": "kubectl-edit",
                        "data": {"Corefile": corefile.replace("{upstream}", new)}}],
                labels={"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"})
    b.burst("coredns", b.cause_at + timedelta(seconds=30), b.cause_at + timedelta(seconds=45), 4,
            [{"message": "plugin/reload: Running configuration SHA512 = {trace}{trace}", "level": "info"}])
    b.effects["coredns/SERVFAIL"].append(pulse(b.start, onset, 6000.0, b.until, base=1.0, ramp=30))
    b.effects["coredns/NOERROR"].append(pulse(b.start, onset, 0.45, b.until, base=1.0, ramp=30))
    b.effects["coredns/latency"].append(pulse(b.start, onset, 900.0, b.until, base=1.0, ramp=30))
    name = _p(c, "lookup", "{n}.{big}.rds.amazonaws.com")  # a name CoreDNS forwards upstream
    b.burst("coredns", onset, b.until, [30, 50], [
        {"message": f"[ERROR] plugin/errors: 2 {name}. A: read udp {{ip}}:{{port}}->10.40.0.2:53: i/o timeout",
         "level": "error"}])
    # `scope: external`: only names outside the cluster fail (the kubernetes plugin still answers for
    # cluster.local), so only services calling a third party fail themselves; their callers inherit it
    external = _p(c, "scope", "all") == "external"
    for svc in b.spec.services:
        peers = [p for p in svc.calls if p.startswith("external:")] if external else \
            (svc.calls or ([svc.database] if svc.database else []))
        if svc.kind in ("http", "grpc") and peers:
            peer = peers[0]
            host = peer.removeprefix("external:") if peer.startswith("external:") else \
                f"{peer}.{b.namespace(peer)}.svc.cluster.local"
            text = f"dial tcp: lookup {host} on 172.20.0.10:53: server misbehaving"
            b.fail(svc.name, onset, 0.5 if svc.name == b.spec.incident.service else 0.2, latency=2.0, why=text,
                   code=503, ramp=30)
            b.burst(svc.name, onset, b.until, [15, 30], [{"message": f"request failed | error=\"{text}\""}])


@plan("node-not-ready")
def _plan_node_lost(b: Build, c: CauseDef) -> None:
    node = b.node(c.target)
    for svc in c.params.get("pinned", []):
        b.placement[svc] = [node.name]


@effects("node-not-ready")
def _node_lost(b: Build, c: CauseDef) -> None:
    node = b.node(c.target)
    node.lost_at = b.cause_at
    node.conditions += [{"type": t, "status": "Unknown", "at": b.cause_at + timedelta(seconds=40),
                         "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}
                        for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")]
    back = b.recovered_at  # the instance came back: the kubelet posts status again and the taints go
    node.taints += [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule",
                     "at": b.cause_at + timedelta(seconds=40), "until": back},
                    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                     "at": b.cause_at + timedelta(seconds=41), "until": back}]
    if back:
        node.conditions += [{"type": "Ready", "status": "True", "at": back}] + [
            {"type": t, "status": "False", "at": back} for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    b.event(b.cause_at + timedelta(seconds=40), "NodeNotReady", f"Node {node.name} status is now: NodeNotReady",
            "Node", node.name, source="node-controller")
    for pod in b.all_pods():
        if pod.node == node.name and pod.started < b.cause_at and (pod.ended is None or pod.ended > b.cause_at):
            b.event(b.cause_at + timedelta(seconds=41), "NodeNotReady", "Node is not ready", "Pod", pod.name,
                    namespace=pod.namespace, type="Warning", source="node-controller")
            evicted = b.cause_at + timedelta(minutes=5, seconds=41)  # the default 300 s toleration
            b.event(evicted, "TaintManagerEviction", f"Marking for deletion Pod {pod.namespace}/{pod.name}", "Pod",
                    pod.name, namespace=pod.namespace, source="taint-eviction-controller")
            pod.ready = False
            if pod.revision is not None:  # its ReplicaSet replaces it on a node that is up
                pod.ended, pod.deleted = evicted, True
                b.replace_pod(pod, evicted + timedelta(seconds=9), [n.name for n in b.nodes if n is not node])
    for svc in c.params.get("pinned", []):
        text = f"dial tcp {b.namespace(svc)}: connect: no route to host"
        b.fail(svc, b.cause_at, 1.0, latency=4.0, why=_p(c, "error", text), code=503, ramp=20)
        if b.spec.service(svc).kind == "postgres":
            b.effects[f"{svc}/up"].append(pulse(b.start, b.cause_at, 0.0, b.until, base=1.0, ramp=1))


@effects("node-pressure")
def _node_pressure(b: Build, c: CauseDef) -> None:
    node = b.node(c.target)
    kind = _p(c, "pressure", "MemoryPressure")
    node.conditions.append({"type": kind, "status": "True", "at": b.cause_at})
    if b.recovered_at:
        node.conditions.append({"type": kind, "status": "False", "at": b.recovered_at})
    node.taints.append({"key": "node.kubernetes.io/memory-pressure" if kind == "MemoryPressure"
                        else "node.kubernetes.io/disk-pressure", "effect": "NoSchedule", "at": b.cause_at})
    if kind == "MemoryPressure":
        b.memory[node.name].append(pulse(b.start, b.cause_at - 10 * MINUTE, 0.04, b.until, ramp=600, base=1.0))
    else:
        b.effects[f"{node.name}/disk"].append(pulse(b.start, b.cause_at - 30 * MINUTE, 0.05, b.until, ramp=1800,
                                                    base=1.0))
    b.event(b.cause_at + timedelta(seconds=5), "EvictionThresholdMet",
            f"Attempting to reclaim {'memory' if kind == 'MemoryPressure' else 'ephemeral-storage'}",
            "Node", node.name, type="Warning", host=node.name)
    affected: set[str] = set()
    for pod in b.all_pods():
        if pod.node == node.name and pod.started < b.cause_at and (pod.ended is None or pod.ended > b.cause_at) \
                and pod.service in {s.name for s in b.spec.services}:
            at = b.cause_at + timedelta(seconds=20 + 15 * len(affected))
            resource = "memory" if kind == "MemoryPressure" else "ephemeral-storage"
            b.event(at, "Evicted", f"The node was low on resource: {resource}. Threshold quantity: 100Mi, "
                    "available: 87Mi.", "Pod", pod.name, namespace=pod.namespace, type="Warning", host=node.name)
            pod.ended, pod.phase, pod.reason, pod.ready = at, "Failed", "Evicted", False
            pod.message = "The node was low on resource: memory."
            affected.add(pod.service)
    for svc in affected:
        b.fail(svc, b.cause_at + timedelta(seconds=20), 0.2, latency=2.2, why="connection refused", code=503)


@plan("noisy-neighbour")
def _plan_noisy(b: Build, c: CauseDef) -> None:
    victim = c.params["victim"]
    node = b.node(_p(c, "node", "node-0"))
    b.placement[c.target] = [node.name]
    b.placement[victim] = [node.name]
    if _p(c, "trigger", "deploy") == "deploy":
        svc = b.spec.service(c.target)
        b.rollout(c.target, b.cause_at, image=b.image(svc, _p(c, "version", "2.0.0")))


@effects("noisy-neighbour")
def _noisy(b: Build, c: CauseDef) -> None:
    victim = c.params["victim"]
    node = b.node(_p(c, "node", "node-0"))
    onset = b.cause_at + timedelta(seconds=30)
    for pod in b.pods(c.target):
        if pod.started >= b.cause_at:
            b.cpu[pod.name].append(pulse(b.start, onset, 9.0, b.until, base=1.0, ramp=90))
    b.cpu[node.name].append(pulse(b.start, onset, 2.7, b.until, base=1.0, ramp=90))
    b.cpu[victim].append(pulse(b.start, onset, 0.6, b.until, base=1.0, ramp=90))
    b.fail(victim, onset + MINUTE, 0.05, latency=5.0, why="context deadline exceeded", code=504)


@effects("disk-full")
def _disk_full(b: Build, c: CauseDef) -> None:
    pod = f"{c.target}-0"
    capacity = 200 * 2**30
    fill_start = b.start + timedelta(minutes=20)
    b.effects[f"{pod}/disk"].append([(b.start, 0.0), (fill_start, 0.0), (b.cause_at, 0.54 * capacity)])
    text = 'could not extend file "base/16390/2619": No space left on device'
    b.burst(c.target, b.cause_at, b.until, [20, 40], [
        {"message": text, "level": "error"},
        {"message": "could not write to file \"pg_wal/xlogtemp.31\": No space left on device", "level": "fatal"}])
    b.fail(c.target, b.cause_at, 0.7, latency=2.0, why="ERROR: could not extend file: No space left on device",
           code=500, ramp=30)


@effects("certificate-expired")
def _certificate(b: Build, c: CauseDef) -> None:
    host, certificate = c.params["host"], c.params["certificate"]
    ns = b.namespace(c.target)
    b.certificates[host] = [(b.start, float(int(b.cause_at.timestamp())))]
    b.event(b.cause_at - timedelta(days=10), "Failed", "The certificate request has failed to complete and will "
            "be retried: Failed to wait for order resource to become ready: order is in \"invalid\" state: ",
            "CertificateRequest", f"{certificate}-1", namespace=ns, type="Warning",
            source="cert-manager-certificaterequests-issuer-acme", api_version="cert-manager.io/v1")
    b.event(b.start + timedelta(minutes=5), "Failed", "Renewal failed: ACME order invalid: "
            "urn:ietf:params:acme:error:unauthorized: Invalid response from http://"
            f"{host}/.well-known/acme-challenge/: 404", "Certificate", certificate, namespace=ns,
            type="Warning", source="cert-manager-certificates-issuing", api_version="cert-manager.io/v1",
            count=14, last=b.cause_at - timedelta(minutes=40))
    b.custom["certificates"].append({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": certificate, "namespace": ns, "uid": b.digest("cert", certificate, length=12),
                     "creationTimestamp": (b.start - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "resourceVersion": "7712"},
        "spec": {"secretName": f"{certificate}", "dnsNames": [host],
                 "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer"}},
        "status": {"notAfter": b.cause_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "notBefore": (b.cause_at - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "renewalTime": (b.cause_at - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "conditions": [{"type": "Ready", "status": "False", "reason": "Expired",
                                   "message": f"Certificate expired on {b.cause_at:%a, %d %b %Y %H:%M:%S UTC}",
                                   "lastTransitionTime": b.cause_at.strftime("%Y-%m-%dT%H:%M:%SZ")}]}})
    b.effects[f"probe/{host}"].append(pulse(b.start, b.cause_at, 0.0, b.until, base=1.0, ramp=1))
    b.rps[c.target].append(pulse(b.start, b.cause_at, 0.35, b.until, base=1.0, ramp=60))
    text = "x509: certificate has expired or is not yet valid"
    for caller in _callers(b, c.target) or [c.target]:
        b.burst(caller, b.cause_at, b.until, [10, 25], [{"message": f"TLS handshake error | host={host} "
                                                                    f"error=\"{text}\""}])
    b.fail(c.target, b.cause_at, 0.2, why=f"tls: failed to verify certificate: {text}", code=502, ramp=30)


# --- jobs and shared stores -----------------------------------------------------------------------------------


def _job_run(b: Build, name: str, started: datetime, finished: datetime | None, *, namespace: str,
             cronjob: str | None, image: str, command: list[str] | None = None,
             annotations: dict[str, str] | None = None, failed: bool = False) -> None:
    node = b.nodes[len(b.k8s["jobs"]) % len(b.nodes)].name
    b.k8s["jobs"].append({"name": name, "namespace": namespace, "cronjob": cronjob, "image": image,
                          "command": command or [], "started": started, "finished": finished, "failed": failed,
                          "node": node, "pod_suffix": b.digest("job", name, length=5),
                          "annotations": annotations or {}, "labels": {"app": cronjob or name.rsplit("-", 1)[0]}})
    if cronjob and not any(c["name"] == cronjob for c in b.k8s["cronjobs"]):
        b.k8s["cronjobs"].append({"name": cronjob, "namespace": namespace, "image": image,
                                  "schedule": f"{started.minute} {started.hour} * * *",
                                  "created": b.start - timedelta(days=70), "command": command or []})


@effects("job-saturating-database")
def _job_saturation(b: Build, c: CauseDef) -> None:
    db, victim = c.params["database"], c.params["victim"]
    namespace = _p(c, "namespace", b.namespace(db))
    cronjob = c.params.get("cronjob")
    finished = b.cause_at + timedelta(minutes=_p(c, "minutes", 70))
    _job_run(b, c.target, b.cause_at, finished, namespace=namespace, cronjob=cronjob,
             image=_p(c, "image", f"{cronjob or c.target}:1.4.0"),
             command=_p(c, "command", ["python", "-m", "reports.export", "--full"]))
    onset = b.cause_at + timedelta(minutes=2)
    b.effects[f"{db}/{victim}/active"].append(pulse(b.start, onset, 28, b.until, ramp=240))
    b.effects[f"{db}/{victim}/reads"].append(pulse(b.start, onset, 14.0, b.until, base=1.0, ramp=240))
    b.cpu[db].append(pulse(b.start, onset, 5.5, b.until, base=1.0, ramp=240))
    b.lat[db].append(pulse(b.start, onset, 9.0, b.until, base=1.0, ramp=240))
    b.fail(db, onset + 4 * MINUTE, 0.05, why="canceling statement due to statement timeout", code=500)
    statement = _p(c, "statement", "SELECT o.*, li.* FROM orders o JOIN line_items li ON li.order_id = o.id "
                                   "WHERE o.created_at > $1")  # the Job's query, as log_min_duration_statement logs it
    b.burst(db, onset, b.until, [6, 12], [{"message": f"duration: {{big}}.118 ms  statement: {statement}",
                                           "level": "info"}])


@effects("cache-stampede")
def _cache_stampede(b: Build, c: CauseDef) -> None:
    cache, db, victim = c.target, c.params["database"], c.params["victim"]
    job = c.params.get("job", f"flush-{cache}-manual-{b.digest('job', cache, length=3)}")
    _job_run(b, job, b.cause_at, b.cause_at + timedelta(seconds=40), namespace=b.namespace(cache),
             cronjob=None, image="redis:7.2.5", command=["redis-cli", "-h", cache, "FLUSHALL"],
             annotations={"cronjob.kubernetes.io/instantiate": "manual"})
    at = b.cause_at + timedelta(seconds=20)
    b.effects[f"{cache}/keys"].append([(b.start, 1.0), (at, 1.0), (at + timedelta(seconds=30), 0.001),
                                       (b.until, 0.5)])
    b.effects[f"{cache}/misses"].append(pulse(b.start, at, 30.0, b.until, base=1.0, ramp=30, decay=900))
    b.effects[f"{cache}/hits"].append(pulse(b.start, at, 0.05, b.until, base=1.0, ramp=30, decay=900))
    b.effects[f"{db}/{victim}/active"].append(pulse(b.start, at, 45, b.until, ramp=60, decay=900))
    b.cpu[db].append(pulse(b.start, at, 6.0, b.until, base=1.0, ramp=60))
    b.lat[db].append(pulse(b.start, at, 12.0, b.until, base=1.0, ramp=60, decay=900))
    b.fail(db, at + MINUTE, 0.08, why="remaining connection slots are reserved for non-replication superuser "
                                      "connections", code=500)
    b.burst(db, at + MINUTE, b.until, [5, 15], [
        {"message": "remaining connection slots are reserved for non-replication superuser connections",
         "level": "fatal"}])


@effects("schema-migration-lock")
def _migration(b: Build, c: CauseDef) -> None:
    db, victim = c.params["database"], c.params["victim"]
    table = _p(c, "table", "orders")
    namespace = b.namespace(victim)
    finished = b.cause_at + timedelta(minutes=_p(c, "minutes", 35))
    hook = _p(c, "hook", "argocd")
    annotations = ({"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}
                   if hook == "argocd" else {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "-5"})
    _job_run(b, c.target, b.cause_at, finished, namespace=namespace, cronjob=None,
             image=_p(c, "image", f"{victim}-migrations:2024.12.3"),
             command=["/app/migrate", "up"], annotations=annotations)
    lock = b.cause_at + timedelta(seconds=30)
    b.effects[f"{db}/{victim}/accessexclusivelock"].append(pulse(b.start, lock, 1.0, finished, ramp=1, decay=1))
    b.effects[f"{db}/{victim}/active"].append(pulse(b.start, lock, 60.0, finished, ramp=120, decay=60))
    b.lat[db].append(pulse(b.start, lock, 40.0, finished, base=1.0, ramp=60, decay=60))
    b.fail(db, lock + MINUTE, 0.3, why="canceling statement due to lock timeout", code=500, until=finished)
    b.burst(db, lock, finished, [2, 4], [
        {"message": f"statement: ALTER TABLE {table} ADD COLUMN fulfilment_region text NOT NULL DEFAULT 'eu'",
         "level": "info"}])
    b.burst(db, lock + 30 * timedelta(seconds=1), finished, [15, 30], [
        {"message": "process {big} still waiting for AccessShareLock on relation 16522 of database 16390 "
                    "after 1000.114 ms", "level": "info"},
        {"message": "canceling statement due to lock timeout", "level": "error"}])
