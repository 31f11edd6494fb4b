"""The cluster a spec describes, as it is being built: nodes, workloads and their rollouts, pods, config objects,
events, the health of each service over time (shaped by the cause and the distractions) and extra telemetry.

Cause and distraction handlers change it through these methods; `expand` renders it into a scenario."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.generator.shapes import Shape, pulse
from tests.scenarios.generator.spec import GeneratorSpec, ServiceDef
from tests.scenarios.meta import SUFFIX_ALPHABET

COREDNS = ServiceDef(name="coredns", namespace="kube-system", team="kube-system", image="coredns",
                     version="v1.11.1", replicas=2)
AWS_ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
GCE_ZONES = ("europe-west1-b", "europe-west1-c", "europe-west1-d")


@dataclass
class Pod:
    name: str
    service: str
    namespace: str
    node: str
    started: datetime
    ended: datetime | None
    revision: int | None
    ip: str
    uid: str
    restarts: list[datetime] = field(default_factory=list)  # container restarts (OOMKilled, crashes)
    restart_reason: str = "OOMKilled"
    deleted: bool = False
    phase: str = "Running"
    reason: str | None = None
    message: str | None = None
    ready: bool = True
    unready: list[tuple[datetime, datetime]] = field(default_factory=list)  # failing its readiness probe

    def ready_at(self, at: datetime) -> bool:
        return not any(start <= at < end for start, end in self.unready)


@dataclass
class Revision:
    number: int
    hash: str
    image: str
    at: datetime
    env: dict[str, str]
    annotations: dict[str, str]
    change_cause: str | None = None
    memory_limit: str | None = None


@dataclass
class NodeDef:
    name: str
    ip: str
    zone: str
    conditions: list[dict[str, Any]] = field(default_factory=list)
    taints: list[dict[str, Any]] = field(default_factory=list)
    unschedulable: bool = False
    lost_at: datetime | None = None  # stops reporting: its pods' series and node-exporter stop


class Build:
    def __init__(self, spec: GeneratorSpec) -> None:
        self.spec = spec
        self.rng = random.Random(f"{spec.name}/{spec.seed}")
        self.declared = spec.declared
        self.resolved = spec.resolved
        self.step = spec.step
        lead = timedelta(hours=3, minutes=5 + self.rng.randint(0, 20))
        self.start = self._floor(self.declared - lead)
        tail = timedelta(minutes=15 + self.rng.randint(0, 10))
        self.end = self._floor((self.resolved or self.declared + timedelta(minutes=20)) + tail)
        self.cause_at = spec.at(spec.cause.at)
        self.recovered_at = spec.at(spec.recovery.at) if spec.recovery else None
        self.until = self.recovered_at or self.end + timedelta(minutes=30)  # effects last until recovery
        self.nodes = self._nodes()
        self.revisions: dict[str, list[Revision]] = {}
        self.replicas: dict[str, int] = {}
        self.replica_changes: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
        self._pods: dict[str, list[Pod]] | None = None
        self.placement: dict[str, list[str]] = {}  # service -> nodes its pods run on
        self.err: dict[str, list[Shape]] = defaultdict(list)  # additive error-ratio effects
        self.lat: dict[str, list[Shape]] = defaultdict(list)  # multiplicative latency effects
        self.rps: dict[str, list[Shape]] = defaultdict(list)  # multiplicative traffic effects
        self.failure: dict[str, str] = {}  # why calls to a service fail, as its callers log it
        self.failure_code: dict[str, int] = {}
        self.metrics: list[dict[str, Any]] = []
        self.bursts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.background: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.k8s: dict[str, list[Any]] = defaultdict(list)
        self.custom: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.timeline: list[dict[str, Any]] = []
        self.env: dict[str, dict[str, str]] = {}
        self.config_data: dict[str, dict[str, str]] = {}
        self.memory: dict[str, list[Shape]] = defaultdict(list)  # multiplicative working-set effects
        self.cpu: dict[str, list[Shape]] = defaultdict(list)
        self.effects: dict[str, list[Shape]] = defaultdict(list)  # named effects on exporter series
        self.certificates: dict[str, Shape] = {}  # public host -> probe_ssl_earliest_cert_expiry
        self.scaling: dict[str, list[tuple[datetime, int]]] = defaultdict(list)  # extra replicas over time
        for svc in [*spec.services, COREDNS]:
            if svc.kind in ("http", "grpc", "worker"):
                self._deployment(svc)

    # --- names and times ---------------------------------------------------------------------------------

    def _floor(self, at: datetime) -> datetime:
        seconds = int(self.step.total_seconds())
        return datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, at.tzinfo)

    def at(self, clock: str) -> datetime:
        return self.spec.at(clock)

    def digest(self, *parts: object, length: int = 10, alphabet: str = SUFFIX_ALPHABET) -> str:
        raw = hashlib.sha256("/".join(str(p) for p in (self.spec.name, *parts)).encode()).digest()
        return "".join(alphabet[b % len(alphabet)] for b in raw[:length])

    def namespace(self, name: str) -> str:
        if name in ("coredns",):
            return "kube-system"
        svc = next((s for s in self.spec.services if s.name == name), None)
        if svc is None:
            return self.default_namespace
        if svc.namespace:
            return svc.namespace
        return "prod" if self.spec.conventions.namespaces == "single" else svc.team

    @property
    def default_namespace(self) -> str:
        return self.namespace(self.spec.incident.service)

    def _nodes(self) -> list[NodeDef]:
        zones = AWS_ZONES if self.spec.conventions.cloud == "aws" else GCE_ZONES
        out = []
        for i in range(self.spec.nodes):
            third, fourth = self.rng.randint(16, 90), self.rng.randint(4, 250)
            if self.spec.conventions.cloud == "aws":
                name = f"ip-10-40-{third}-{fourth}.eu-west-1.compute.internal"
            else:
                name = f"gke-prod-default-pool-{self.digest('pool', i, length=8, alphabet='0123456789abcdef')}-" \
                       f"{self.digest('node', i, length=4, alphabet='abcdefghijklmnopqrstuvwxyz0123456789')}"
            out.append(NodeDef(name=name, ip=f"10.40.{third}.{fourth}", zone=zones[i % len(zones)]))
        return out

    def node(self, ref: str) -> NodeDef:
        """A node by name or by position (`node-0`, `node-1`...)."""
        if ref.startswith("node-") and ref[5:].isdigit():
            return self.nodes[int(ref[5:])]
        return next(n for n in self.nodes if n.name == ref)

    # --- workloads -----------------------------------------------------------------------------------------

    def image(self, svc: ServiceDef, version: str | None = None) -> str:
        repo = self.spec.conventions.registry or (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com" if self.spec.conventions.cloud == "aws"
            else "europe-west1-docker.pkg.dev/shop-prod/images")
        return f"{repo}/{svc.image or svc.name}:{version or svc.version}"

    def _deployment(self, svc: ServiceDef) -> None:
        env = {"LOG_LEVEL": "info", "PORT": "8080", "OTEL_SERVICE_NAME": svc.name,
               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4317"}
        if svc.database:
            db = self.spec.service(svc.database)
            scheme = "redis" if db.kind == "redis" else "postgres"
            port = 6379 if db.kind == "redis" else 5432
            env["DATABASE_URL" if scheme == "postgres" else "REDIS_URL"] = \
                f"{scheme}://{db.name}.{self.namespace(db.name)}.svc.cluster.local:{port}/{svc.name.replace('-', '_')}"
            if scheme == "postgres":
                env["DB_POOL_MAX"] = "20"
        self.env[svc.name] = env
        self.config_data[svc.name] = {"REQUEST_TIMEOUT_MS": "3000", "RETRY_MAX": "2",
                                      "FEATURE_FLAGS_URL": "http://flagd.platform:8013"}
        checksum = hashlib.sha256(repr(sorted(self.config_data[svc.name].items())).encode()).hexdigest()
        created = self.start - timedelta(days=self.rng.randint(3, 40), minutes=self.rng.randint(0, 600))
        self.revisions[svc.name] = [Revision(self.rng.randint(4, 60), self.digest("rs", svc.name, 0), self.image(svc),
                                             created, dict(env), {"checksum/config": checksum})]
        self.replicas[svc.name] = svc.replicas

    def rollout(self, service: str, at: datetime, *, image: str | None = None, env: dict[str, str] | None = None,
                annotations: dict[str, str] | None = None, change_cause: str | None = None,
                memory_limit: str | None = None, back_to: int | None = None) -> Revision:
        """A new pod template (or, with `back_to`, a rollback to an earlier one), rolled out at `at`."""
        if self._pods is not None:
            raise RuntimeError("rollouts must be planned before pods are made")
        history = self.revisions[service]
        last = history[-1]
        if back_to is not None:
            old = history[back_to]
            rev = Revision(last.number + 1, old.hash, old.image, at, dict(old.env), dict(old.annotations),
                           change_cause, old.memory_limit)
        else:
            rev = Revision(last.number + 1, self.digest("rs", service, len(history)), image or last.image, at,
                           {**last.env, **(env or {})}, {**last.annotations, **(annotations or {})}, change_cause,
                           memory_limit or last.memory_limit)
        history.append(rev)
        return rev

    def pods(self, service: str) -> list[Pod]:
        if self._pods is None:
            self._pods = self._make_pods()
        return self._pods.get(service, [])

    def all_pods(self) -> list[Pod]:
        self.pods(self.spec.incident.service)
        assert self._pods is not None
        return [p for pods in self._pods.values() for p in pods]

    def alert_labels(self, service: str) -> dict[str, str]:
        """The labels an alert on the service's metrics carries, under the scrape convention."""
        style, ns = self.spec.conventions.scrape, self.namespace(service)
        team = next((s.team for s in self.spec.services if s.name == service), ns)
        return {"servicemonitor": {"service": service, "job": service}, "podmonitor": {"job": f"{ns}/{service}"},
                "annotations": {"app": service, "job": "kubernetes-pods"},
                "otel": {"job": f"{team}/{service}"}}[style]

    def _make_pods(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = {}
        for index, (service, revisions) in enumerate(self.revisions.items()):
            nodes = self.placement.get(service) or [n.name for n in self.nodes]
            pods: list[Pod] = []
            for number, rev in enumerate(revisions):
                following = revisions[number + 1] if number + 1 < len(revisions) else None
                replaced = following.at + timedelta(seconds=50) if following else None
                if replaced is not None and replaced < self.start:
                    continue
                for i in range(self.replicas[service]):
                    suffix = self.digest("pod", service, number, i, length=5)
                    started = rev.at + timedelta(seconds=9 + 17 * i)
                    pods.append(Pod(
                        name=f"{service}-{rev.hash}-{suffix}", service=service, namespace=self.namespace(service),
                        node=nodes[(i + index + number) % len(nodes)], started=started,
                        ended=replaced + timedelta(seconds=12 * i) if replaced else None, revision=rev.number,
                        ip=f"10.{self.rng.randint(64, 127)}.{self.rng.randint(0, 255)}.{self.rng.randint(2, 254)}",
                        uid=self.digest("uid", service, number, i, length=12, alphabet="0123456789abcdef"),
                        deleted=replaced is not None))
            out[service] = pods + self._scaled_pods(service, nodes, index)
        return out

    def _scaled_pods(self, service: str, nodes: list[str], index: int) -> list[Pod]:
        """Pods an autoscaler added to the latest ReplicaSet: started when the count rose, stopped when it fell."""
        rev = self.revisions[service][-1]
        out: list[Pod] = []
        count = self.replicas[service]
        for at, replicas in self.scaling[service]:
            for i in range(count, replicas):
                suffix = self.digest("scaled", service, i, length=5)
                out.append(Pod(name=f"{service}-{rev.hash}-{suffix}", service=service,
                               namespace=self.namespace(service), node=nodes[(i + index) % len(nodes)],
                               started=at + timedelta(seconds=20 + 7 * (i - count)), ended=None,
                               revision=rev.number, ip=f"10.{self.rng.randint(64, 127)}.{self.rng.randint(0, 255)}."
                                                       f"{self.rng.randint(2, 254)}",
                               uid=self.digest("uid", service, "scaled", i, length=12, alphabet="0123456789abcdef")))
            for pod in out[replicas:]:
                if pod.ended is None:
                    pod.ended, pod.deleted = at, True
            count = replicas
        return out

    def replace_pod(self, pod: Pod, at: datetime, nodes: list[str]) -> Pod:
        """A new pod of the same ReplicaSet, created at `at` on one of `nodes` (after an eviction)."""
        assert self._pods is not None
        rev = next(r for r in self.revisions[pod.service] if r.number == pod.revision)
        suffix = self.digest("replacement", pod.name, length=5)
        new = Pod(name=f"{pod.service}-{rev.hash}-{suffix}", service=pod.service, namespace=pod.namespace,
                  node=nodes[len(self._pods[pod.service]) % len(nodes)], started=at, ended=None,
                  revision=pod.revision, ip=f"10.{self.rng.randint(64, 127)}.{self.rng.randint(0, 255)}."
                                            f"{self.rng.randint(2, 254)}",
                  uid=self.digest("uid", "replacement", pod.name, length=12, alphabet="0123456789abcdef"))
        self._pods[pod.service].append(new)
        return new

    # --- health effects -----------------------------------------------------------------------------------

    def fail(self, service: str, onset: datetime, ratio: float, *, until: datetime | None = None,
             latency: float = 1.0, why: str | None = None, code: int = 500, ramp: float = 120,
             decay: float = 180) -> None:
        """From `onset`, `ratio` of the service's requests fail and its latency is `latency` times its own."""
        end = until or self.until
        if ratio:
            self.err[service].append(pulse(self.start, onset, ratio, end, ramp=ramp, decay=decay))
        if latency != 1.0:
            self.lat[service].append(pulse(self.start, onset, latency, end, ramp=ramp, decay=decay, base=1.0))
        if why:
            self.failure[service] = why
        self.failure_code[service] = code

    def burst(self, service: str, at: datetime, until: datetime, per_minute: float | list[float],
              messages: list[dict[str, Any] | str], level: str = "error",
              pods: list[str] | None = None) -> None:
        self.bursts[service].append({"from": at, "to": until, "per_minute": per_minute, "level": level,
                                     "messages": messages, **({"pods": pods} if pods else {})})

    def event(self, at: datetime, reason: str, message: str, kind: str, name: str, *, namespace: str | None = None,
              type: str = "Normal", source: str = "kubelet", host: str | None = None, count: int = 1,
              last: datetime | None = None, api_version: str | None = None) -> None:
        self.k8s["events"].append({
            "at": at, "reason": reason, "message": message, "type": type, "source": source, "count": count,
            **({"last": last} if last else {}), **({"host": host} if host else {}),
            "object": {"kind": kind, "name": name, **({"namespace": namespace} if namespace else {}),
                       **({"api_version": api_version} if api_version else {})}})

    def note(self, at: datetime, text: str, actor: str = "oncall", kind: str = "note") -> None:
        self.timeline.append({"at": at, "kind": kind, "text": text, "actor": actor})

    def metric(self, name: str, type: str, labels: dict[str, str], shape: Shape, **options: Any) -> None:
        self.metrics.append({"name": name, "type": type, "labels": labels, "shape": shape, **options})

    def configmap(self, name: str, namespace: str, data: dict[str, str], *, created: datetime | None = None,
                  edits: list[dict[str, Any]] | None = None, secret: bool = False, manager: str = "helm",
                  labels: dict[str, str] | None = None) -> None:
        """A ConfigMap (or Secret) with its later edits: each `{at, data, manager}` replaces the data."""
        self.k8s["secrets" if secret else "configmaps"].append({
            "name": name, "namespace": namespace, "data": data, "manager": manager,
            "created": created or self.start - timedelta(days=self.rng.randint(5, 90)),
            "edits": edits or [], "labels": labels or {"app.kubernetes.io/managed-by": "Helm"}})

    def find_config(self, name: str) -> dict[str, Any] | None:
        return next((c for kind in ("configmaps", "secrets") for c in self.k8s[kind] if c["name"] == name), None)
