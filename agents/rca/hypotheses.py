"""Candidate causes, each tested against the evidence and scored.

A candidate is a mechanism seen in telemetry (the pool filling, a dependency failing, a node under pressure) or
a change followed by new errors (a rollout, a config edit, a flag). Each collects evidence for and against;
the score rewards independent sources agreeing, a mechanism that started before the symptoms rather than after
(a consequence is not a cause), a change shortly before it, and recovery when that change was undone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agents.rca.causes import CAUSES, Cause
from agents.rca.changes import is_reversal
from agents.rca.log_bursts import ERROR_PATTERN, LEADING_TIME, LogBurst
from agents.rca.observe import Finding, Observations
from agents.rca.report import Evidence
from agents.rca.signals import SignalKind
from app.integrations.cluster import CERTIFICATE_KINDS, SECRET_KINDS, Cluster, Workload, ordered_hosts, quantity
from app.integrations.logs import parse_line
from app.integrations.telemetry import ChangeEvent, ChangeKind, Sample

TRIGGER_LEAD = timedelta(minutes=15)  # a change this long before a mechanism's onset can have triggered it
# What can trigger a mechanism, least deliberate first.
TRIGGER_KINDS = [ChangeKind.SCALE, ChangeKind.NODE, ChangeKind.CERTIFICATE, ChangeKind.AUTOSCALER, ChangeKind.JOB,
                 ChangeKind.DEPLOY, ChangeKind.GITOPS, ChangeKind.CONFIG, ChangeKind.SECRET,
                 ChangeKind.FLAG]
# Leaks build up for hours before they cross a line: their trigger can be that far back. (A disk's onset is where
# its fill began, walked back from the crossing, so its trigger is a change just before that.)
# A certificate's renewal fails for days before it expires (cert-manager renews a third of its lifetime early).
SLOW_CAUSES, SLOW_TRIGGER_LEAD = {"memory-leak", "certificate-expired"}, timedelta(hours=3)
EFFECT_LAG = timedelta(minutes=15)  # a change's effects (new errors) must show within this
MAX_LOG_EVIDENCE = 2  # kinds of log line quoted per candidate
# "effect": the service's own starvation metrics moving right after a neighbour's spike.
# "undo": the symptoms fell after the trigger was undone.
SOURCE_WEIGHT = {"prometheus": 1.0, "logs": 1.0, "effect": 1.0, "undo": 1.0, "kubernetes": 0.75, "timeline": 0.5}
UNDO_BEFORE, UNDO_SETTLE, UNDO_AFTER = timedelta(minutes=5), timedelta(minutes=5), timedelta(minutes=20)
UNDO_RECOVERY = 0.6  # symptoms this far back towards normal (as a share of their excess) count as helped
_POD_SUFFIX = re.compile(r"(?:-[a-f0-9]{8,10})?-[a-z0-9]{5}$")
# Who a failing call was to: "upstream fraud-check returned 503", "inventory returned 503",
# "connect timeout to ledger:8080", "Post http://inventory.warehouse.svc/v1/...".
_PEER_IN_LOG = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:upstream|calling|call to|connect(?:ion)? (?:timeout |refused )?to|dial(?:ing)?)\s+[`'\"]?"
    r"(?:https?://)?(?P<peer>[a-z][\w-]*[a-z0-9])",
    r"\b(?P<peer>[a-z][\w-]*[a-z0-9])\s+(?:returned|answered|responded(?: with)?)\s+(?:HTTP\s+)?5\d\d",
    r"https?://(?P<peer>[a-z][\w-]*[a-z0-9])[.:/]",
)]


@dataclass
class Candidate:
    cause: Cause
    component: str
    onset: datetime
    mechanism: str  # one sentence of what the telemetry shows
    support: list[Evidence] = field(default_factory=list)
    against: list[Evidence] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    trigger: ChangeEvent | None = None
    log_example: str | None = None
    log_onset: datetime | None = None
    claimed: LogBurst | None = None  # the new errors a change candidate takes as its effect
    specific: bool = False  # they are what its kind of change produces, not just any new error
    from_change: bool = False  # a change tested for what followed it, not a mechanism seen in telemetry
    score: float = 0.0

    def supported_by(self, source: str, evidence: Evidence) -> None:
        self.sources.add(source)
        self.support.append(evidence)


def clock(at: datetime) -> str:
    return at.strftime("%H:%M")


def workload(pod: str) -> str:
    """payments-7d9f8c6b5-x2x9k → payments."""
    return _POD_SUFFIX.sub("", pod)


def display(finding: Finding, value: float) -> str:
    name = finding.signal.name
    if name.endswith(("_ratio", "_utilisation", "throttling")):
        return f"{value:.0%}"
    if name == "latency_p99":
        return f"{value:.2f} s"
    if name == "certificate_seconds_left":
        return f"{value / 3600:+.1f} h"
    return f"{value:.3g}"


def describe(finding: Finding) -> str:
    a = finding.anomaly
    subject = finding.signal.description
    where = ", ".join(f"{k}={v}" for k, v in finding.labels.items() if k == finding.signal.split_by)
    subject = f"{subject} ({where})" if where else subject
    return (f"{subject} went from {display(finding, a.baseline)} to {display(finding, a.peak)} between "
            f"{clock(a.onset)} and {clock(a.peak_at)}")


# --- symptoms ---------------------------------------------------------------------------------


def symptom_onset(seen: Observations) -> datetime:
    customer_facing = [f.anomaly.onset for f in seen.findings
                       if f.signal.kind in (SignalKind.ERRORS, SignalKind.LATENCY)]
    if customer_facing:
        return min(customer_facing)
    errors = [b.onset for b in seen.bursts if (b.level or "error").lower().startswith(("err", "fatal", "crit"))]
    return min(errors) if errors else seen.window.reference


def symptom_text(seen: Observations) -> str:
    """What customers saw, as a verb phrase: "payments <return 5xx errors (up to 59% of requests)>"."""
    errors = seen.finding("error_ratio")
    if errors:
        return f"return 5xx errors (up to {errors[0].anomaly.peak:.0%} of requests)"
    latency = seen.finding("latency_p99")
    if latency:
        return f"slow down (p99 latency up to {latency[0].anomaly.peak:.2f} s)"
    return "fail requests"


def recovered_at(seen: Observations) -> datetime | None:
    for name in ("error_ratio", "latency_p99"):
        for finding in seen.finding(name):
            if finding.anomaly.recovered is not None:
                return finding.anomaly.recovered
    return None


# --- candidates from telemetry ------------------------------------------------------------------


def _metric_evidence(finding: Finding) -> Evidence:
    return Evidence(text=describe(finding)[0].upper() + describe(finding)[1:], query=finding.query,
                    source="prometheus")


def _quoted(burst: LogBurst) -> str:
    """The example line without its timestamp and padding, short enough to quote."""
    return " ".join(LEADING_TIME.sub("", burst.example).split())[:160]


def _log_evidence(burst: LogBurst) -> Evidence:
    rate = (f"{burst.peak_per_minute}/min at peak" + ("; never seen before" if burst.new else
                                                      f"; {burst.baseline_per_minute}/min before"))
    return Evidence(text=f"{burst.count:,} log lines \"{_quoted(burst)}\" from {clock(burst.onset)} ({rate})",
                    query=burst.query, source=burst.source)


def _component(cause: Cause, finding: Finding | None, seen: Observations, burst: LogBurst | None) -> str:
    if cause.id in ("dependency-outage", "rate-limited"):
        split = finding.signal.split_by if finding is not None else None
        if finding is not None and split and finding.labels.get(split):
            return finding.labels[split]
        if finding is not None and finding.labels.get("peer"):
            return finding.labels["peer"]
        text = burst.example if burst else ""
        own = burst.component if burst else None
        host = next((h for h in ordered_hosts(text) if h.split(".")[0] != own), None)
        if host:
            return host.split(".")[0] if ".svc" in host or "." not in host else host
        match = next((m for pattern in _PEER_IN_LOG if (m := pattern.search(text))), None)
        return match["peer"] if match else "a dependency"
    if cause.id == "dns-failure":
        return finding.component if finding is not None and finding.component else "coredns"
    if cause.id == "node-pressure" and finding is not None:
        return finding.labels.get("node") or finding.component or seen.service.name
    if cause.id == "disk-full" and finding is not None and seen.cluster is not None:
        claim = finding.labels.get("persistentvolumeclaim")
        owner = seen.cluster.owner_of_claim(finding.labels.get("namespace", ""), claim) if claim else None
        if owner:
            return owner
    if finding is not None and finding.component:
        return finding.component
    if burst is not None:
        return _burst_component(burst, seen)
    return seen.service.name


# Fields in which a caller's line names the dependency it reports on: Envoy's and nginx's `upstream`, OpenTelemetry's
# `server.address` and `peer.service`, the common `peer`/`target`/`remote`.
PEER_FIELDS = ("upstream", "upstream_host", "upstream_cluster", "peer", "peer_service", "peer.service",
               "server_address", "server.address", "target", "remote", "remote_addr", "dependency")


def _burst_component(burst: LogBurst, seen: Observations) -> str:
    return reported_peer(burst, seen) or burst.component or seen.service.name


_PAIR_IN_TEXT = re.compile(r'"?(?P<key>[A-Za-z_][\w.]*)"?\s*[:=]\s*"?(?P<value>[^",\s}]+)')


def reported_peer(burst: LogBurst, seen: Observations) -> str | None:
    """The component in scope a caller's line relays an error of ("upstream request failed upstream=events-db.data.svc
    error=No space left on device"): the mechanism is that dependency's, not the caller's."""
    parsed = parse_line(burst.example)
    named = [parsed.fields[k] for k in PEER_FIELDS if parsed.fields.get(k)]
    if not parsed.fields:  # an example cut short is no longer valid JSON: its pairs are still there
        named += [m["value"] for m in _PAIR_IN_TEXT.finditer(burst.example) if m["key"] in PEER_FIELDS]
    named += [m["peer"] for pattern in _PEER_IN_LOG[:1] if (m := pattern.search(parsed.message))]
    for value in named:
        host = (ordered_hosts(value) or [value.strip().lower()])[0]
        first = host.split(".")[0].split(":")[0]
        found = next((c.name for c in seen.scope.components.values() if c.role != "node" and first in
                      {c.name, *(c.workload.names if c.workload else ())}), None)
        if found and found != burst.component:
            return found
    return None


def _same_component(a: str, b: str) -> bool:
    """fraud-check and fraud-check.prod.svc are one peer; "a dependency" (unnamed) matches any."""
    a, b = a.lower(), b.lower()
    return a in b or b in a or "a dependency" in (a, b)


def _same_host(a: str, b: str) -> bool:
    """inventory and inventory.stock.svc:80 are one host; "a dependency" (unnamed) matches any."""
    a, b = a.lower().split(".")[0].split(":")[0], b.lower().split(".")[0].split(":")[0]
    return a == b or "a dependency" in (a, b)


def _service_nodes(seen: Observations) -> set[str]:
    return {p.node for p in seen.subject_pods() if p.node}


def telemetry_candidates(seen: Observations) -> list[Candidate]:
    found: list[Candidate] = []
    for cause in CAUSES.values():
        if not cause.signals or cause.id == "noisy-neighbour":
            continue
        for finding in (f for name in cause.signals for f in seen.all_findings(name)):
            if cause.id == "node-pressure" and _service_nodes(seen) and \
                    (finding.labels.get("node") or finding.component) not in _service_nodes(seen):
                continue  # pressure on a node that runs none of the service's pods
            component = _component(cause, finding, seen, None)
            same = next((c for c in found if c.cause is cause and c.component == component), None)
            if same is not None:  # a second signal of one mechanism (memory and restarts): more evidence
                same.support.append(_metric_evidence(finding))
                same.onset = min(same.onset, finding.anomaly.onset)
                continue
            found.append(Candidate(cause=cause, component=component, onset=finding.anomaly.onset,
                                   mechanism=describe(finding), support=[_metric_evidence(finding)],
                                   sources={"prometheus"}))
    for cause in CAUSES.values():
        if cause.logs is None or not cause.signals:
            continue
        # Largest first: the line quoted is the one seen most; the onset still takes the earliest.
        for burst in sorted((b for b in seen.bursts if cause.logs.search(b.example)), key=lambda b: -b.count):
            component = _component(cause, None, seen, burst)
            # Outages are told apart by host: search and search-index are two services, one behind the other.
            alike = _same_host if cause.id == "dependency-outage" else _same_component
            same = [c for c in found if c.cause is cause and alike(c.component, component)]
            target = min(same, key=lambda c: abs((c.onset - burst.onset).total_seconds()), default=None)
            if target is None:
                target = Candidate(cause=cause, component=component, onset=burst.onset,
                                   mechanism=f"\"{burst.template[:120]}\" errors began at {clock(burst.onset)}")
                found.append(target)
            if target.log_example is None:
                target.log_example = _quoted(burst)
            if sum(1 for e in target.support if e.query == burst.query) < MAX_LOG_EVIDENCE:
                target.supported_by("logs", _log_evidence(burst))
            target.log_onset = min(target.log_onset or burst.onset, burst.onset)
            target.onset = min(target.onset, burst.onset)
    found.extend(_noisy_neighbours(seen))
    _add_kubernetes_support(found, seen)
    return found


def _noisy_neighbours(seen: Observations) -> list[Candidate]:
    ours = {p.name for p in seen.subject_pods()}
    nodes = _service_nodes(seen)
    starved = seen.finding("cpu_throttling")  # CPU taken shows as throttling; latency alone could be anything
    found = []
    subjects = {c.name for c in seen.scope.subjects} | {seen.service.name}
    onset, surge = symptom_onset(seen), _traffic_surge(seen)
    for finding in seen.all_findings("pod_cpu"):
        pod, node = finding.labels.get("pod", ""), finding.labels.get("node")
        owner = finding.labels.get("workload") or workload(pod)
        # What the service calls (its database) working harder is that dependency saturating, not a neighbour.
        called = (seen.scope.distance(owner) or 0) == 1 and seen.scope.components.get(owner) is not None
        if pod in ours or owner in subjects or (nodes and node not in nodes) or called:
            continue
        candidate = Candidate(cause=CAUSES["noisy-neighbour"], component=owner, onset=finding.anomaly.onset,
                              mechanism=f"{describe(finding)} on node {node}" if node else describe(finding),
                              support=[_metric_evidence(finding)], sources={"prometheus"})
        for effect in starved:
            if timedelta(0) <= effect.anomaly.onset - finding.anomaly.onset <= EFFECT_LAG:
                if surge is not None and surge.anomaly.onset <= effect.anomaly.onset + timedelta(minutes=1):
                    candidate.against.append(Evidence(
                        text=f"{seen.service.name}'s own traffic rose ({describe(surge)}): its CPU starvation is "
                             "its own load", query=surge.query, source="prometheus"))
                else:
                    candidate.supported_by("effect", _metric_evidence(effect))
                break
        ended = finding.anomaly.recovered or _series_end(finding, seen)
        if ended is not None and ended <= onset:
            candidate.against.append(Evidence(
                text=f"{owner}'s CPU was back to normal at {clock(ended)}, before the symptoms began at "
                     f"{clock(onset)}", query=finding.query, source="prometheus"))
        found.append(candidate)
    return found


SURGE = 2.0  # the service's own request rate this many times its baseline: load of its own


def _series_end(finding: Finding, seen: Observations) -> datetime | None:
    """When a series stopped well before the window's end (a Job's pod that completed): its load ended then."""
    last = finding.samples[-1].at if finding.samples else None
    return last if last is not None and seen.window.end - last > timedelta(minutes=5) else None


def _traffic_surge(seen: Observations) -> Finding | None:
    rising = [f for f in seen.finding("request_rate") if f.anomaly.baseline > 0
              and f.anomaly.peak >= SURGE * f.anomaly.baseline]
    return min(rising, key=lambda f: f.anomaly.onset, default=None)


def _add_kubernetes_support(found: list[Candidate], seen: Observations) -> None:
    """Evictions, OOM kills and pressure events back the node and memory candidates."""
    for candidate in found:
        if candidate.cause.id == "node-pressure":
            events = [e for e in seen.k8s_events if candidate.cause.logs and
                      candidate.cause.logs.search(f"{e.reason} {e.message}")]
        elif candidate.cause.id == "memory-leak":
            events = [e for e in seen.k8s_events if "oom" in f"{e.reason} {e.message}".lower()]
            oom_pods = [p.name for p in seen.subject_pods() if (p.last_termination_reason or "").lower() == "oomkilled"]
            if oom_pods:
                candidate.supported_by("kubernetes", Evidence(
                    text=f"Pods last terminated OOMKilled: {', '.join(oom_pods[:5])}",
                    query=f"kubectl get pods -l {seen.service.observability.pod_selector}", source="kubernetes"))
        else:
            continue
        if events:
            first = min(events, key=lambda e: e.at)
            candidate.supported_by("kubernetes", Evidence(
                text=f"{len(events)} Kubernetes events {first.reason} from {clock(first.at)}: {first.message[:140]}",
                query="kubectl get events --sort-by=.lastTimestamp", source="kubernetes"))


# --- candidates from changes -----------------------------------------------------------------


def _about_service(change: ChangeEvent, service: str) -> bool:
    """The change is to the service itself: its deployment, its flag or config (payments-config)."""
    return service.lower() in f"{change.component or ''} {change.subject}".lower()


_FLAG_WORDS = re.compile(r"flag|feature|toggle|rollout-percent|experiment", re.IGNORECASE)
_MIGRATION = re.compile(r"migrat|schema|alembic|flyway|liquibase", re.IGNORECASE)
_IMAGE = re.compile(r"^image ")
# Causes whose effects are any new error, whatever it says.
ANY_ERROR = ("bad-deploy", "job-saturating-database", "config-change", "configmap-change", "bad-gitops-sync")


def cause_of_change(change: ChangeEvent, seen: Observations | None = None) -> Cause | None:
    """What kind of cause a change would be: a release, a configuration or flag change, a job run..."""
    text = f"{change.subject} {change.description} {' '.join(change.diff)}"
    ref = change.object_ref or ""
    if change.kind == ChangeKind.DEPLOY:
        if seen is not None and sync_of(change, seen) is not None:
            return CAUSES["bad-gitops-sync"]
        # A rollout that changed only env or annotations (a config hash) delivered a configuration change.
        if change.diff and not any(_IMAGE.match(d) for d in change.diff):
            return CAUSES["config-change"]
        return CAUSES["bad-deploy"]
    if change.kind == ChangeKind.SECRET:
        return CAUSES["secret-rotation"]
    if change.kind == ChangeKind.CONFIG:
        if ref.startswith("Secret/") or re.search(r"\bsecret\b", change.description, re.IGNORECASE):
            return CAUSES["secret-rotation"]
        if _FLAG_WORDS.search(f"{change.subject} {' '.join(change.diff)}"):
            return CAUSES["feature-flag"]
        return CAUSES["configmap-change"] if ref.startswith("ConfigMap/") else CAUSES["config-change"]
    if change.kind == ChangeKind.FLAG:
        return CAUSES["feature-flag"]
    if change.kind == ChangeKind.JOB:
        if _MIGRATION.search(text):
            return CAUSES["schema-migration-lock"]
        if re.search(r"flush|purge|cache", text, re.IGNORECASE):
            return CAUSES["cache-stampede"]
        return CAUSES["job-saturating-database"]
    if change.kind == ChangeKind.AUTOSCALER:
        return CAUSES["autoscaler-at-max"]
    if change.kind == ChangeKind.CERTIFICATE and change.source == "kubernetes":
        return CAUSES["certificate-expired"]
    return None


def sync_of(change: ChangeEvent, seen: Observations) -> ChangeEvent | None:
    """The GitOps sync (Argo CD, Flux) that made a rollout moments before it: one of the same name, or one whose
    event names the object it applied (Flux's kustomize-controller: "Deployment/shop/cart configured")."""
    return next((c for c in seen.changes if c.kind == ChangeKind.GITOPS and (
        _same_component(c.subject, change.subject) or names_object(c, change))
                 and timedelta(minutes=-2) <= change.at - c.at <= timedelta(minutes=5)), None)


def names_object(event: ChangeEvent, change: ChangeEvent) -> bool:
    """An event's message naming the changed object by kind and name (`Deployment/shop/cart`, `deployment/cart`)."""
    parts = (change.object_ref or "").split("/")
    if len(parts) != 3:
        return False
    kind, namespace, name = (p.lower() for p in parts)
    text = event.description.lower()
    # The name must end where the object's does: `Deployment/shop/cart` is not `Deployment/shop/cartographer`.
    named = rf"\b{re.escape(kind)}/(?:{re.escape(namespace)}/)?{re.escape(name)}(?![\w.-])"
    return re.search(named, text) is not None


RESTART_AFTER_EDIT = timedelta(minutes=10)  # Helm checksum annotations, Reloader: a restart follows the edit


def delivered_by(rollout: ChangeEvent, seen: Observations) -> ChangeEvent | None:
    """The ConfigMap or Secret edit a rollout only delivered: a new pod template that differs in annotations alone
    (a `checksum/secret` hash, Reloader's or `kubectl rollout restart`'s stamp) minutes after an edit of an object
    the workload reads. The edit is the change; the restart is how it reached the pods."""
    restart_only = bool(rollout.diff) and all(d.startswith("annotation ") for d in rollout.diff)
    if rollout.kind != ChangeKind.DEPLOY or not restart_only:
        return None
    edits = [c for c in seen.changes if c.kind in (ChangeKind.CONFIG, ChangeKind.SECRET) and c.source == "kubernetes"
             and timedelta(minutes=-1) <= rollout.at - c.at <= RESTART_AFTER_EDIT
             and change_component(c, seen) == rollout.subject]
    return max(edits, key=lambda c: c.at, default=None)


def change_candidates(seen: Observations, onset: datetime) -> list[Candidate]:
    found: dict[tuple[str, str], Candidate] = {}
    for change in seen.changes:
        if is_reversal(change) or change.at > onset + timedelta(minutes=2) or change.at < seen.window.start:
            continue
        if delivered_by(change, seen) is not None:
            continue  # tested as the edit it delivered
        cause = cause_of_change(change, seen)
        if cause is None:
            continue
        candidate = _test_change(cause, change, seen)
        if cause.id == "bad-gitops-sync":  # the sync is the change made; the rollout is how it arrived
            candidate.trigger = sync_of(change, seen) or change
        key = (cause.id, candidate.component)
        # One candidate per change: a timeline note and the rollout it reports are one change.
        if key not in found or _support(candidate) > _support(found[key]) or (
                change.source == "kubernetes" and found[key].trigger is not None
                and found[key].trigger.source != "kubernetes" and _support(candidate) >= _support(found[key])) or (
                change.kind == ChangeKind.FLAG and found[key].trigger is not None
                and found[key].trigger.kind != ChangeKind.FLAG and _support(candidate) >= _support(found[key]) - 0.5):
            found[key] = candidate
    return list(found.values())


_PROBLEM = re.compile(ERROR_PATTERN, re.IGNORECASE)


def _is_problem(burst: LogBurst) -> bool:
    """An error or warning, or a line that says something failed: info lines announcing changes are not effects."""
    level = (burst.level or "").lower()
    if level.startswith(("err", "fatal", "crit", "warn", "panic")):
        return True
    return not level.startswith(("info", "debug", "trace")) and bool(_PROBLEM.search(burst.template))


def flag_reader(change: ChangeEvent, seen: Observations) -> str | None:
    """Whose code path a flag changed: the component in scope whose own new errors (not relayed from a callee)
    began right after it, those naming the flag first. A flag service says which flag changed, never who reads it."""
    after = [b for b in seen.bursts if b.new and b.component and change.at <= b.onset <= change.at + EFFECT_LAG
             and _is_problem(b) and seen.scope.distance(b.component) is not None and reported_peer(b, seen) is None]
    naming = [b for b in after if change.subject.lower() in b.example.lower()]
    first = min(naming or after, key=lambda b: b.onset, default=None)
    return first.component if first else None


def change_component(change: ChangeEvent, seen: Observations) -> str:
    """The component a change belongs to: the workload rolled out or reading the ConfigMap, the job, the node."""
    for name in (change.component, change.subject):
        if name and seen.scope.distance(name) is not None:
            return name
    ref = (change.object_ref or "").split("/")
    if change.component is None and len(ref) == 3 and ref[0] in ("ConfigMap", "Secret", *SECRET_KINDS,
                                                                 *CERTIFICATE_KINDS):
        # No pod template names it (a Secret read by an operator-injected env, a file synced by a sidecar, the
        # certificate an ingress serves): it is the configuration of the workload it is named after.
        kin = seen.scope.named_after(ref[2], ref[1])
        if kin:
            return kin[0].name
    return change.component or change.subject


def _test_change(cause: Cause, change: ChangeEvent, seen: Observations) -> Candidate:
    component = change_component(change, seen)
    if change.source != "kubernetes" and _about_service(change, seen.service.name):
        component = seen.service.name
    if cause.id == "feature-flag" and seen.scope.subjects:  # a flag changes the code path of those who read it
        component = flag_reader(change, seen) or seen.scope.subjects[0].name
    if change.kind == ChangeKind.JOB:
        component = _job_component(cause, change, seen)
    candidate = Candidate(cause=cause, component=component, onset=change.at, trigger=change, from_change=True,
                          mechanism=f"new errors followed {change.description[:120]}")
    source = "kubernetes" if change.source == "kubernetes" else "timeline"
    candidate.sources.add(source)
    candidate.support.append(Evidence(text=said_at(change), query=change.query,
                                      source=change.source))
    window_end = change.at + EFFECT_LAG
    # A change off the dependency graph can only be followed by failures of its own: the alerting service's
    # errors are not its effects, however close in time.
    off_path = off_the_path(candidate.component, seen)
    on_path = {candidate.component} if off_path else {candidate.component, *(c.name for c in seen.scope.subjects)}
    effects = [b for b in seen.bursts if change.at <= b.onset <= window_end and b.new
               and (b.component in on_path or b.component is None) and _is_problem(b)
               and (cause.logs is None or cause.logs.search(b.example) or cause.id in ANY_ERROR)]
    moved = [f for f in seen.findings if f.component == candidate.component and f.signal.kind != SignalKind.TRAFFIC
             and change.at - timedelta(minutes=1) <= f.anomaly.onset <= window_end
             and candidate.component not in {c.name for c in seen.scope.subjects}]
    if moved:
        first = min(moved, key=lambda f: f.anomaly.onset)
        candidate.supported_by("effect", _metric_evidence(first))
    if effects:
        # The errors its kind of change is known to produce, when any followed; else the first new ones.
        first = next((b for b in effects if cause.logs is not None and cause.logs.search(b.example)), effects[0])
        candidate.claimed = first
        candidate.specific = cause.logs is not None and bool(cause.logs.search(first.example))
        candidate.supported_by("logs", _log_evidence(first))
        candidate.log_example, candidate.log_onset = _quoted(first), first.onset
        candidate.onset = first.onset
        candidate.mechanism = f"new errors \"{first.template[:100]}\" began {_minutes(first.onset - change.at)} " \
                              f"after it"
    errors = [] if off_path else [f for f in seen.finding("error_ratio")
                                  if change.at <= f.anomaly.onset <= window_end]
    if errors:
        candidate.supported_by("prometheus", _metric_evidence(errors[0]))
        candidate.onset = min(candidate.onset if effects else errors[0].anomaly.onset, errors[0].anomaly.onset)
    if off_path and not effects and not moved:
        candidate.against.append(Evidence(
            text=f"Off the path: {candidate.component} is neither the alerting service nor anything it depends on, "
                 f"and nothing in {candidate.component} itself failed after it changed at {clock(change.at)}",
            query="dependency graph", source="prometheus"))
    elif not effects and not errors:
        quiet = min(seen.window.end, symptom_onset(seen)) - change.at
        candidate.against.append(Evidence(
            text=f"No new errors and no rise in the error ratio for {_minutes(quiet)} after "
                 f"{change.subject} changed at {clock(change.at)}",
            query=seen.finding("error_ratio")[0].query if seen.finding("error_ratio") else change.query,
            source="prometheus"))
    return candidate


def off_the_path(component: str, seen: Observations) -> bool:
    """Not on the dependency graph of the alerting service, when there is a graph to be on. A workload with no
    edge at all (its pod template names no host and no one names it: a Job running a command, a cache reached
    through a client library's defaults) has an unknown place, not none."""
    if not seen.scope.components or component == "a dependency" or seen.scope.distance(component) is not None:
        return False
    cluster = seen.cluster
    if cluster is None:
        return True
    # Reading stops two hops down; what the farthest components name themselves is still connected.
    called = {h.split(".")[0].split(":")[0] for c in seen.scope.components.values() if c.workload
              for h in c.workload.hosts}
    named = cluster.named(component)
    return component not in called and not any(not _placed(w, cluster) or w.name in called for w in named)


def _placed(workload: Workload, cluster: Cluster) -> bool:
    if workload.hosts:
        return True
    # A Job naming it (the run that flushed a cache) says what the Job did, not where the target serves.
    return any(workload.name in {h.split(".")[0].split(":")[0] for h in other.hosts}
               for other in cluster.workloads.values()
               if other is not workload and other.kind not in ("Job", "CronJob"))


def said_at(change: ChangeEvent) -> str:
    """The change as recorded, with its time unless the text already gives it."""
    text = change.description[:200]
    return text if clock(change.at) in text else f"{text} at {clock(change.at)}"


def _minutes(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


# --- triggers and scores -----------------------------------------------------------------------


def _can_trigger(candidate: Candidate, change: ChangeEvent, seen: Observations) -> bool:
    if change.kind not in TRIGGER_KINDS:
        return False  # alerts and warnings are symptoms, not changes
    subject = f"{change.subject} {change.component or ''}".lower()
    match candidate.cause.id:
        case "dns-failure":
            return "dns" in subject
        case "node-pressure" | "node-not-ready":
            return change.kind == ChangeKind.NODE and candidate.component.lower() in subject
        case "dependency-outage" | "noisy-neighbour":
            return candidate.component.lower() in subject
        case "certificate-expired":
            return change.kind == ChangeKind.CERTIFICATE and _certificate_of(change, candidate.component)
        case "rate-limited":
            return _adds_calls(change, seen)
        case "disk-full":  # a change to that very workload (not one whose name contains it) as the fill began
            return change.kind != ChangeKind.NODE and change_component(change, seen).lower() == \
                candidate.component.lower()
        case _:
            if change.kind == ChangeKind.NODE:
                return False
            subjects = {c.name for c in seen.scope.subjects} | {seen.service.name}
            component = change_component(change, seen)
            return change.source != "kubernetes" or _same_component(component, candidate.component) or (
                component in subjects and candidate.component in subjects)


def _certificate_of(change: ChangeEvent, component: str) -> bool:
    """A cert-manager event about the component's certificate: named after it (`<app>-tls`, as charts and the
    ingress-shim name them), or about a host that is the component's (the ACME challenge URL names it)."""
    name = component.lower()
    return name in change.subject.lower() or any(h.split(".")[0] == name for h in ordered_hosts(change.description))


def _adds_calls(change: ChangeEvent, seen: Observations) -> bool:
    """A provider's quota is spent by every client of the same key: more calls come from the caller's own
    rollout or scale-out, or from a batch Job run beside it in its namespace."""
    subjects = {c.name for c in seen.scope.subjects} | {seen.service.name}
    if change.kind in (ChangeKind.DEPLOY, ChangeKind.SCALE):
        return change_component(change, seen) in subjects
    ref = (change.object_ref or "").split("/")
    namespaces = {c.namespace for c in seen.scope.subjects if c.namespace}
    return change.kind == ChangeKind.JOB and len(ref) == 3 and ref[1] in namespaces


def attach_trigger(candidate: Candidate, seen: Observations) -> None:
    if candidate.trigger is not None:
        return
    lead = SLOW_TRIGGER_LEAD if candidate.cause.id in SLOW_CAUSES else TRIGGER_LEAD
    eligible = [c for c in seen.changes if not is_reversal(c) and
                candidate.onset - lead <= c.at <= candidate.onset + timedelta(minutes=1)
                and _can_trigger(candidate, c, seen)]
    if eligible:
        # A rollout also scales replica sets: the deliberate change is the trigger, the scaling its echo.
        candidate.trigger = max(eligible, key=lambda c: (TRIGGER_KINDS.index(c.kind), c.at))
        lag = _minutes(candidate.onset - candidate.trigger.at)
        candidate.support.append(Evidence(
            text=f"{said_at(candidate.trigger)}, {lag} before "
                 f"{candidate.cause.title.lower()} began",
            query=candidate.trigger.query, source=candidate.trigger.source))


def _mean(samples: list[Sample], start: datetime, end: datetime) -> float | None:
    values = [s.value for s in samples if start <= s.at <= end and math.isfinite(s.value)]
    return sum(values) / len(values) if values else None


def _undo_test(candidate: Candidate, seen: Observations) -> tuple[bool, Evidence] | None:
    """Was the trigger undone (flag off, rollback), and did the symptoms fall after it? The strongest test
    telemetry can give, either way: recovery confirms the cause, errors carrying on rule it out."""
    trigger = candidate.trigger
    symptom = (seen.finding("error_ratio") or seen.finding("latency_p99") or [None])[0]
    if trigger is None or symptom is None:
        return None
    undo = next((c for c in seen.changes if is_reversal(c) and c.subject == trigger.subject and c.at > trigger.at),
                None)
    if undo is None:
        return None
    before = _mean(symptom.samples, undo.at - UNDO_BEFORE, undo.at)
    after = _mean(symptom.samples, undo.at + UNDO_SETTLE, undo.at + UNDO_AFTER)
    if before is None or after is None or before <= symptom.anomaly.baseline:
        return None  # undone before the symptoms, or too late to tell
    what = f"{symptom.signal.description} {display(symptom, before)} before, {display(symptom, after)} " \
           f"{UNDO_SETTLE.seconds // 60}-{UNDO_AFTER.seconds // 60} minutes after"
    helped = after - symptom.anomaly.baseline <= UNDO_RECOVERY * (before - symptom.anomaly.baseline)
    text = (f"Undoing it helped: {undo.description[:120]} at {clock(undo.at)}; {what}" if helped else
            f"Undoing it did not help: {undo.description[:120]} at {clock(undo.at)}; {what}")
    return helped, Evidence(text=text, query=symptom.query, source="prometheus")


def _same_change(a: ChangeEvent | None, b: ChangeEvent | None) -> bool:
    """One change, however it was recorded: the rollout itself, its scaling, a note saying it happened."""
    if a is None or b is None:
        return False
    return a is b or (_same_component(a.subject, b.subject) and abs((a.at - b.at).total_seconds()) <= 120)


def _absorb_explained_changes(candidates: list[Candidate]) -> list[Candidate]:
    """A change whose effect a mechanism explains (the flag that leaked the pool) is that mechanism's trigger,
    not a rival cause: its evidence joins the mechanism's."""
    # A dependency failing after a change to it is explained by the change, not the other way round.
    mechanisms = [c for c in candidates if c.cause.signals and c.trigger is not None
                  and c.cause.id != "dependency-outage"]
    kept = []
    for candidate in candidates:
        explained_by = next((m for m in mechanisms if not candidate.cause.signals
                             and _same_change(candidate.trigger, m.trigger)), None)
        if explained_by is None:
            kept.append(candidate)
            continue
        cited = {e.query for e in explained_by.support}
        explained_by.support.extend(e for e in candidate.support if e.query not in cited)
    return kept


def _has_effects(candidate: Candidate) -> bool:
    """A mechanism is its own effect; a change needs new errors or a metric moving after it."""
    return bool(candidate.cause.signals) or bool(candidate.sources & {"logs", "prometheus"})


def _support(candidate: Candidate) -> float:
    if candidate.cause.signals:
        return sum(SOURCE_WEIGHT.get(s, 0.5) for s in candidate.sources)
    # A change's own record only says it happened; what followed it is the support.
    return 0.5 + sum(SOURCE_WEIGHT.get(s, 0.5) for s in candidate.sources - {"kubernetes", "timeline"})


def _symptoms_followed(candidate: Candidate, seen: Observations, onset: datetime) -> None:
    """The service's own symptoms starting shortly after a mechanism is what ties the two together."""
    lag = onset - candidate.onset
    symptom = (seen.finding("error_ratio") or seen.finding("latency_p99") or [None])[0]
    if symptom is None or not candidate.cause.signals or not timedelta(0) <= lag <= EFFECT_LAG:
        return
    candidate.supported_by("effect", Evidence(
        text=f"{seen.service.name}'s {symptom.signal.description} began rising at {clock(onset)}, "
             f"{_minutes(lag)} after {candidate.cause.title.lower()} began", query=symptom.query,
        source="prometheus"))


# Mechanisms that wait on something else: a full pool inside a failing dependency is how it failed, not why.
WAITING = {"connection-pool-exhaustion"}


def _lost_nodes_under(outage: Candidate, candidates: list[Candidate], seen: Observations) -> list[Candidate]:
    """A dependency whose pods ran on a node that stopped being Ready (a database pinned to it) failed with it."""
    if seen.cluster is None:
        return []
    nodes = {node for key, node in seen.cluster.pod_node.items() if seen.cluster.pod_owner.get(key) == outage.component}
    return [c for c in candidates if c.cause.id == "node-not-ready" and c.component in nodes
            and c.onset <= outage.onset + timedelta(minutes=2)]


def _absorb_dependency_mechanisms(candidates: list[Candidate], seen: Observations) -> list[Candidate]:
    """A dependency failing, as its callers see it, and a mechanism inside that dependency are one story. A full
    pool (waiting on something else) is how the dependency failed: it joins the outage. A disk, memory or
    certificate running out is why it failed: the outage joins it."""
    outages = [c for c in candidates if c.cause.id == "dependency-outage" and c.component != "a dependency"]
    absorbed: set[int] = set()
    for outage in outages:
        inside = [c for c in candidates if c is not outage and c.cause.signals and c.cause.id != outage.cause.id
                  and _same_component(outage.component, c.component) and id(c) not in absorbed]
        terminal = [c for c in inside if c.cause.id not in WAITING and c.cause.id not in INFRASTRUCTURE]
        terminal += _lost_nodes_under(outage, candidates, seen)
        # A dependency that failed right after it was changed failed because of the change.
        terminal += [c for c in candidates if not c.cause.signals and c.trigger is not None and id(c) not in absorbed
                     and _same_component(outage.component, c.component) and _has_effects(c)
                     and c.trigger.at <= outage.onset + timedelta(minutes=2)]
        if terminal:
            _merge(min(terminal, key=lambda c: c.onset), outage)
            absorbed.add(id(outage))
            continue
        for mechanism in inside:
            if mechanism.cause.id in WAITING and mechanism.trigger is None:
                _merge(outage, mechanism)
                absorbed.add(id(mechanism))
    return _deepest_outages([c for c in candidates if id(c) not in absorbed], seen)


def _deepest_outages(candidates: list[Candidate], seen: Observations) -> list[Candidate]:
    """A dependency whose own logs relay the failure of one further down (search logging "upstream request failed
    upstream=search-index...") failed because of it: its outage joins the deeper one."""
    outages = [c for c in candidates if c.cause.id == "dependency-outage"]
    absorbed: set[int] = set()
    for outage in outages:
        relayed = {reported_peer(b, seen) for b in seen.bursts if b.component == outage.component}
        deeper = next((o for o in outages if o is not outage and id(o) not in absorbed and o.component in relayed),
                      None)
        if deeper is not None:
            _merge(deeper, outage)
            absorbed.add(id(outage))
    return [c for c in candidates if id(c) not in absorbed]


def _merge(into: Candidate, other: Candidate) -> None:
    cited = {e.text for e in into.support}
    into.support.extend(e for e in other.support if e.text not in cited)
    into.sources |= other.sources
    into.onset = min(into.onset, other.onset)
    into.log_example = into.log_example or other.log_example



INFRASTRUCTURE = {"node-pressure", "node-not-ready", "noisy-neighbour", "dns-failure"}
OFF_PATH = 2.0


def _path(candidate: Candidate, seen: Observations) -> float:
    """Connected to the alerting service? Off the dependency graph a candidate cannot explain its symptoms."""
    if candidate.cause.id in INFRASTRUCTURE or not seen.scope.components:
        return 0.0
    distance = seen.scope.distance(candidate.component)
    if distance is not None or candidate.component == "a dependency":
        return 0.0
    if off_the_path(candidate.component, seen):
        candidate.against.append(Evidence(
            text=f"{candidate.component} is off the path: neither the alerting service nor anything it depends on",
            query="dependency graph", source="analysis"))
        return -OFF_PATH
    # Nothing places it in the graph either way (no host in its template, no one naming it): half the doubt.
    candidate.against.append(Evidence(
        text=f"Nothing connects {candidate.component} to the alerting service: no dependency names it",
        query="dependency graph", source="analysis"))
    return -OFF_PATH / 2


def _jobs_named(candidates: list[Candidate], seen: Observations) -> None:
    """A neighbour's CPU or a dependency failing, set off by a Job run, is that Job's doing (a migration, an
    export, a cache flush) unless the service's own CPU starvation shows a neighbour squeezing it."""
    for candidate in candidates:
        trigger = candidate.trigger
        if trigger is None or trigger.kind != ChangeKind.JOB:
            continue
        if candidate.cause.id == "noisy-neighbour" and "effect" in candidate.sources:
            continue
        if candidate.cause.id in ("noisy-neighbour", "dependency-outage", "connection-pool-exhaustion"):
            cause = cause_of_change(trigger, seen)
            if cause is not None:
                candidate.cause, candidate.component = cause, _job_component(cause, trigger, seen)


def _job_component(cause: Cause, job: ChangeEvent, seen: Observations) -> str:
    """What a Job run failed: the cache it flushed (the host its command names), else the Job itself."""
    if cause.id == "cache-stampede":
        target = _job_target(job, seen)
        if target:
            return target
    return job.component or job.subject


def _job_target(job: ChangeEvent, seen: Observations) -> str | None:
    ref = (job.object_ref or "").split("/")
    if seen.cluster is None or len(ref) != 3:
        return None
    run = seen.cluster.workload(ref[1], job.component or ref[2]) or seen.cluster.workload(ref[1], ref[2])
    if run is None:
        return None
    for host in sorted(run.hosts):
        found = [w for w in seen.cluster.named(host.split(".")[0]) if w.name != run.name]
        if found:
            return found[0].name
    return None


def _synced(candidate: Candidate, seen: Observations) -> None:
    """Memory running out right after a GitOps sync changed the pod template (a lower limit) is the sync's doing,
    as the sync's own rollout is."""
    trigger = candidate.trigger
    if candidate.cause.id != "memory-leak" or trigger is None:
        return
    sync = trigger if trigger.kind == ChangeKind.GITOPS else (
        sync_of(trigger, seen) if trigger.kind == ChangeKind.DEPLOY else None)
    if sync is not None:
        candidate.cause, candidate.trigger = CAUSES["bad-gitops-sync"], sync


def _fold_records(candidates: list[Candidate]) -> list[Candidate]:
    """A change that records the very mechanism telemetry shows (an HPA's ScalingLimited condition beside its
    replicas at the maximum, a certificate's failed renewal beside its expiry) is evidence of that mechanism, not
    a rival cause: it joins it, and gives it its trigger when it had none."""
    mechanisms = [c for c in candidates if not c.from_change]
    kept = []
    for candidate in candidates:
        into = next((m for m in mechanisms if candidate.from_change and m.cause is candidate.cause and (
            _same_component(m.component, candidate.component) or _same_change(m.trigger, candidate.trigger))), None)
        if into is None:
            kept.append(candidate)
            continue
        _merge(into, candidate)
        into.trigger = into.trigger or candidate.trigger
    return kept


_LIMIT_DIFF = re.compile(r"^resources\.limits\.memory: (?P<old>\S+) -> (?P<new>\S+)$")


def _lowered_limit(candidate: Candidate, seen: Observations) -> tuple[ChangeEvent, str, str] | None:
    """The rollout, among the trigger and what it rolled out, that lowered the memory limit, with old and new."""
    trigger = candidate.trigger
    if trigger is None:
        return None
    rollouts = [trigger] + [c for c in seen.changes if c.kind == ChangeKind.DEPLOY and c is not trigger
                            and _same_component(c.subject, trigger.subject)
                            and timedelta(minutes=-2) <= c.at - trigger.at <= timedelta(minutes=5)]
    for rollout in rollouts:
        for line in rollout.diff:
            match = _LIMIT_DIFF.match(line)
            old, new = (quantity(match["old"]), quantity(match["new"])) if match else (None, None)
            if match and old is not None and new is not None and new < old:
                return rollout, match["old"], match["new"]
    return None


def _limits_lowered(candidates: list[Candidate], seen: Observations) -> None:
    """Memory running out right after a rollout lowered the memory limit is that change's doing, not a leak:
    the rollout (or the GitOps sync that applied it) is the cause."""
    for candidate in candidates:
        if candidate.cause.id not in ("memory-leak", "bad-gitops-sync") or "memory limit" in candidate.mechanism:
            continue
        found = _lowered_limit(candidate, seen)
        if found is None or candidate.trigger is None:
            continue
        rollout, old, new = found
        synced = candidate.trigger.kind == ChangeKind.GITOPS or sync_of(rollout, seen) is not None
        candidate.cause = CAUSES["bad-gitops-sync" if synced else "config-change"]
        candidate.mechanism = f"the memory limit was lowered from {old} to {new}; {candidate.mechanism}"
        candidate.support.insert(0, Evidence(
            text=f"{rollout.description[:160]}: resources.limits.memory {old} -> {new}", query=rollout.query,
            source="kubernetes"))


def _rival_claims(candidates: list[Candidate]) -> None:
    """Two changes followed by the same new errors: the one whose kind of change produces exactly those errors
    (a rotated Secret and "password authentication failed") explains them, and the other (a flag nothing else
    followed) loses them as evidence."""
    changes = [c for c in candidates if not c.cause.signals and c.trigger is not None and c.claimed is not None]
    for candidate in changes:
        if candidate.specific or candidate.claimed is None:
            continue
        burst = candidate.claimed
        rival = next((r for r in changes if r is not candidate and r.specific and r.claimed is not None
                      and r.claimed.template == burst.template and not _same_change(r.trigger, candidate.trigger)),
                     None)
        if rival is None or rival.trigger is None:
            continue
        candidate.support = [e for e in candidate.support if e.source in ("kubernetes", "timeline")]
        candidate.sources &= {"kubernetes", "timeline"}
        candidate.claimed = None
        candidate.against.append(Evidence(
            text=f"The errors that followed (\"{burst.template[:90]}\") are those of "
                 f"{rival.cause.title.lower()}: {rival.trigger.subject} changed at {clock(rival.trigger.at)} "
                 f"explains them", query=burst.query, source="logs"))


def _relayed_effects(candidates: list[Candidate], seen: Observations) -> None:
    """A change to a caller followed only by errors the caller relays from a dependency ("upstream request failed
    upstream=search-index...") did not cause them when that dependency began failing by itself first: the errors
    are the dependency's, and the change is ruled out for it."""
    for candidate in candidates:
        burst, trigger = candidate.claimed, candidate.trigger
        if candidate.cause.signals or burst is None or trigger is None or candidate.specific:
            continue
        peer = reported_peer(burst, seen)
        if peer is None or _same_component(peer, candidate.component):
            continue
        failing = [c for c in candidates if c is not candidate and c.cause.signals and c.trigger is None
                   and (_same_component(c.component, peer) or (seen.scope.distance(c.component) or 0)
                        > (seen.scope.distance(peer) or 0))
                   and c.onset <= burst.onset + timedelta(minutes=2)]
        if not failing:
            continue
        first = min(failing, key=lambda c: c.onset)
        candidate.support = [e for e in candidate.support if e.source in ("kubernetes", "timeline")]
        candidate.sources &= {"kubernetes", "timeline"}
        candidate.claimed = None
        candidate.against.append(Evidence(
            text=f"The errors after it are calls to {peer} failing (\"{burst.template[:80]}\"); "
                 f"{first.component} began failing at {clock(first.onset)} with nothing changed in it",
            query=burst.query, source="logs"))


def score(candidates: list[Candidate], seen: Observations, onset: datetime) -> list[Candidate]:
    for candidate in candidates:
        attach_trigger(candidate, seen)
        _synced(candidate, seen)
    _rival_claims(candidates)
    _relayed_effects(candidates, seen)
    _jobs_named(candidates, seen)
    candidates = _absorb_dependency_mechanisms(_absorb_explained_changes(_fold_records(candidates)), seen)
    _limits_lowered(candidates, seen)
    for candidate in candidates:
        if "effect" not in candidate.sources:
            _symptoms_followed(candidate, seen, onset)
        undone = _undo_test(candidate, seen)
        if undone is not None:
            helped, evidence = undone
            if helped:
                candidate.supported_by("undo", evidence)
            else:
                candidate.against.append(evidence)
        total = _support(candidate)
        began = candidate.onset if candidate.cause.signals or candidate.trigger is None else candidate.trigger.at
        lag = (began - onset).total_seconds() / 60
        if not _has_effects(candidate):
            pass  # a change nothing followed: its time proves nothing
        elif lag <= 2:
            total += 1.0
        else:
            total -= min(1.5, lag / 10)
            candidate.against.append(Evidence(
                text=f"It began at {clock(candidate.onset)}, {round(lag)} minutes after the symptoms: more likely "
                     f"a consequence than the cause", query=candidate.support[0].query, source="analysis"))
        if candidate.trigger is not None:
            minutes = max(0.0, (candidate.onset - candidate.trigger.at).total_seconds() / 60)
            total += 0.75 * math.exp(-minutes / 15)
        total += _path(candidate, seen)
        total -= 1.0 * sum(1 for e in candidate.against if e.source != "analysis")
        candidate.score = total
    strong = [c for c in candidates if len(c.sources) >= 2 and _has_effects(c)]
    if strong:
        earliest = min(strong, key=lambda c: c.onset)
        earliest.score += 0.5
    return sorted(candidates, key=lambda c: c.score, reverse=True)
