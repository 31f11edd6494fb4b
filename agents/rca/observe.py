"""Gather the evidence for one analysis: the cluster and its changes, the components in scope, every series
Prometheus has for them, their logs.

Queries run concurrently under one budget per investigation. A tool that is down, a query Prometheus rejects,
a kind Kubernetes forbids: each costs its own evidence, is said in `lost`, and never costs the analysis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from agents.rca.anomaly import Anomaly, detect
from agents.rca.changes import announces, changes_in_log, changes_in_text
from agents.rca.discovery import PEER_LABELS, SeriesSet, regex_value, signals_for
from agents.rca.log_bursts import ERROR_PATTERN, INFO_PATTERN, LogBurst, bursts
from agents.rca.scope import MAX_HOPS, Component, Scope, build, link
from agents.rca.signals import DEFAULT_SIGNALS, Signal, SignalKind
from agents.rca.subject import MAX_SUBJECTS, alerting, mentioned
from agents.toolbox import Toolbox
from app.config import Service
from app.integrations import cluster as cluster_objects
from app.integrations.cluster import Cluster, hosts_in
from app.integrations.kubernetes import PATHS, K8sEvent, PodInfo, _event, _pod
from app.integrations.logs import LogQuery, LokiLogs, parse_line
from app.integrations.telemetry import ChangeEvent, LogLine, Sample, Series, ToolFailed, ToolUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

LOOKBACK = timedelta(hours=3)  # how far before the reference time the analysis reads
EARLIER = timedelta(hours=24)  # before that, only the last changes of what is in scope are named (and cleared)
BASELINE = timedelta(minutes=60)  # the normal stretch ends this long before the reference time
STEP_SECONDS = 30.0
QUERY_BUDGET = 400  # Prometheus, Loki and Kubernetes requests one investigation may make
CONCURRENCY = 8
MAX_SIGNALS_PER_COMPONENT = 60


@dataclass(frozen=True)
class TextRecord:
    """A timeline entry or war-room message, as the engine reads it (untrusted text, parsed, never obeyed)."""

    at: datetime
    text: str
    source: str  # "timeline" or "transcript"


@dataclass(frozen=True)
class Finding:
    signal: Signal
    labels: dict[str, str]
    query: str
    anomaly: Anomaly
    samples: list[Sample]
    component: str = ""


@dataclass
class Window:
    reference: datetime  # declared at, or the time named in the request
    end: datetime

    @property
    def start(self) -> datetime:
        return self.reference - LOOKBACK

    @property
    def baseline_until(self) -> datetime:
        return self.reference - BASELINE


@dataclass
class Observations:
    service: Service
    window: Window
    scope: Scope = field(default_factory=Scope)
    cluster: Cluster | None = None
    findings: list[Finding] = field(default_factory=list)
    bursts: list[LogBurst] = field(default_factory=list)
    changes: list[ChangeEvent] = field(default_factory=list)
    earlier: list[ChangeEvent] = field(default_factory=list)  # the day before the window: the last known changes
    pods: list[PodInfo] = field(default_factory=list)
    k8s_events: list[K8sEvent] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # evidence that could not be read, one line each
    lines_read: int = 0
    queries: int = 0

    def finding(self, signal_name: str) -> list[Finding]:
        """Findings of the alerting service(s) for a signal."""
        subjects = {c.name for c in self.scope.subjects} or {self.service.name}
        return [f for f in self.findings if f.signal.name == signal_name and (f.component in subjects
                                                                             or not f.component)]

    def subject_pods(self) -> list[PodInfo]:
        """The alerting service's pods (every pod read, when the cluster's ownership is unknown)."""
        ours = {(c.namespace, p) for c in self.scope.subjects for p in c.pods}
        return [p for p in self.pods if (p.namespace, p.name) in ours] if ours else self.pods

    def all_findings(self, signal_name: str) -> list[Finding]:
        return [f for f in self.findings if f.signal.name == signal_name]


class Budget:
    """At most `limit` requests, at most `concurrency` at a time."""

    def __init__(self, limit: int = QUERY_BUDGET, concurrency: int = CONCURRENCY) -> None:
        self.left, self._gate = limit, asyncio.Semaphore(concurrency)
        self.exhausted = False

    async def run(self, work: Awaitable[T]) -> T | None:
        if self.left <= 0:
            self.exhausted = True
            if hasattr(work, "close"):
                work.close()  # type: ignore[union-attr]
            return None
        self.left -= 1
        async with self._gate:
            return await work


async def observe(toolbox: Toolbox, service: Service, window: Window, records: list[TextRecord],
                  subjects: list[str] | None = None, signals: list[Signal] | None = None,
                  text: str = "") -> Observations:
    """`subjects` are the services to analyse; without them they are found (alerts, workloads the text names)
    and the configured `service` joins them."""
    seen = Observations(service=service, window=window)
    budget = Budget()
    seen.changes.extend(change for record in records for change in changes_in_text(record.text, record.at,
                                                                                  record.source))
    await _kubernetes(toolbox, seen, budget)
    if subjects is None:
        subjects = await _subjects(toolbox, seen, budget, text)
    seen.scope = build(subjects, seen.cluster, service.observability.namespace)
    if signals is not None:
        await _fixed_metrics(toolbox, seen, signals, budget)
    await _expand_and_read(toolbox, seen, budget, metrics=signals is None)
    # Concurrent answers arrive in any order: the analysis must not depend on which came first.
    seen.findings.sort(key=lambda f: (f.component, f.signal.name, sorted(f.labels.items()), f.anomaly.onset))
    if budget.exhausted:
        seen.lost.append(f"query budget of {QUERY_BUDGET} requests spent: some series were not read")
    seen.changes.sort(key=lambda c: c.at)
    return seen


async def _expand_and_read(toolbox: Toolbox, seen: Observations, budget: Budget, metrics: bool) -> None:
    """Read every component's metrics and logs; peers they name (client-side metric labels, hosts in their
    error lines) join the scope and are read in turn, so a dependency two hops down is reached."""
    metrics_read: set[str] = set()
    logs_read: set[str] = set()
    for _ in range(MAX_HOPS + 1):
        batch = [c for c in seen.scope.components.values() if c.name not in metrics_read] if metrics else []
        metrics_read |= {c.name for c in batch}
        if batch:
            metrics_read |= set(await _metrics(toolbox, seen, batch, budget))
        readable = [c for c in seen.scope.components.values() if c.role != "node" and c.name not in logs_read]
        logs_read |= {c.name for c in readable}
        if not batch and not readable:
            break
        await _logs(toolbox, seen, budget, readable)


async def _subjects(toolbox: Toolbox, seen: Observations, budget: Budget, text: str) -> list[str]:
    """Alerting services first, then workloads the incident's words name, then the configured service."""
    found: list[str] = []
    prometheus = await toolbox.prometheus()
    if prometheus is not None:
        found += await budget.run(_guarded(toolbox, seen, "prometheus",
                                           alerting(prometheus, seen.cluster, seen.window.reference),
                                           "firing alerts")) or []
        seen.queries += 2
    if seen.cluster is not None and text and not seen.service.name:
        found += mentioned(seen.cluster, text)  # only when no service is known: titles name many things
    if seen.service.name:
        found.append(seen.service.name)
    ordered = list(dict.fromkeys(found))
    if seen.service.name and seen.service.name in ordered:  # the incident's own service leads the report
        ordered.remove(seen.service.name)
        ordered.insert(0, seen.service.name)
    return ordered[:MAX_SUBJECTS]


async def _guarded(toolbox: Toolbox, seen: Observations, tool: str, work: Awaitable[T], what: str = "") -> T | None:
    try:
        return await work
    except ToolUnavailable:
        return None
    except ToolFailed as failed:
        log.warning("%s failed during an analysis: %s", tool, failed)
        toolbox.failed(tool, failed)
        seen.lost.append(f"{what or tool} not read: {failed}"[:240])
        return None
    except TimeoutError:
        seen.lost.append(f"{what or tool} not read: timed out")
        return None


# --- Kubernetes -----------------------------------------------------------------------------------------------


async def _kubernetes(toolbox: Toolbox, seen: Observations, budget: Budget) -> None:
    k8s = toolbox.kubernetes
    if k8s is None:
        return
    resources = list(PATHS)

    async def one(resource: str) -> list[dict[str, Any]]:
        try:
            return await budget.run(k8s.objects(resource)) or []
        except ToolFailed as failed:
            # A kind this cluster does not serve (404) is no loss; a forbidden one (403) is, and is said.
            if " 404 " not in str(failed):
                seen.lost.append(f"Kubernetes {resource} not read: {failed}"[:240])
            if "unreachable" in str(failed):
                toolbox.failed("kubernetes", failed)
            return []

    lists = await asyncio.gather(*(one(r) for r in resources))
    seen.queries += len(resources)
    objects = dict(zip(resources, lists, strict=True))
    seen.cluster = cluster_objects.build(objects)
    w = seen.window
    seen.changes.extend(cluster_objects.changes(objects, seen.cluster, w.start, w.end))
    seen.earlier = cluster_objects.changes(objects, seen.cluster, w.start - EARLIER, w.start - timedelta(seconds=1))
    seen.pods = [_pod(p) for p in objects.get("pods", [])]
    seen.k8s_events = [e for e in (_event(item) for item in objects.get("events", []))
                       if e.at is not None and w.start <= e.at <= w.end]


# --- metrics --------------------------------------------------------------------------------------------------


async def _fixed_metrics(toolbox: Toolbox, seen: Observations, signals: list[Signal], budget: Budget) -> None:
    prometheus = await toolbox.prometheus()
    if prometheus is None:
        return
    subject = seen.scope.subjects[0].name if seen.scope.subjects else seen.service.name
    await asyncio.gather(*(_range(toolbox, seen, budget, s, s.promql(seen.service.name), subject) for s in signals))


async def _metrics(toolbox: Toolbox, seen: Observations, components: list[Component],
                   budget: Budget) -> list[str]:
    """Read the components' series, and those of peers their client-side labels name; the names read."""
    prometheus = await toolbox.prometheus()
    if prometheus is None:
        return []
    w = seen.window

    async def one(component: Component) -> None:
        found = await budget.run(_guarded(toolbox, seen, "prometheus",
                                          prometheus.series(component.matchers, w.start, w.end),
                                          f"Prometheus series of {component.name}"))
        seen.queries += 1
        if not found:
            if component.distance == 0:  # no series API (an old proxy), or none found: the conventional queries
                await asyncio.gather(*(_range(toolbox, seen, budget, s, s.promql(component.name), component.name)
                                       for s in DEFAULT_SIGNALS))
            return
        signals = [s for group in series_sets(component, found, seen.cluster) for s in signals_for(group)]
        signals.sort(key=lambda s: s.kind == SignalKind.OTHER)
        await asyncio.gather(*(_range(toolbox, seen, budget, s, s.query, component.name)
                               for s in signals[:MAX_SIGNALS_PER_COMPONENT]))
        if component.role == "node":
            await _neighbours(toolbox, seen, budget, component)

    await asyncio.gather(*(one(c) for c in components))
    # Peers named in client-side labels join the scope one hop further out, and are read too.
    added = [c for c in _peers_from_findings(seen) if c is not None]
    if added:
        await asyncio.gather(*(one(c) for c in added))
    return [c.name for c in components + added]


def _peers_from_findings(seen: Observations) -> list[Component | None]:
    out = []
    for finding in list(seen.findings):
        if finding.signal.kind != SignalKind.DEPENDENCY or not finding.signal.split_by:
            continue
        peer = finding.labels.get(finding.signal.split_by)
        distance = seen.scope.distance(finding.component)
        if peer and distance is not None:
            out.append(link(seen.scope, seen.cluster, peer, distance + 1, "peer label"))
    return out


def series_sets(component: Component, label_sets: list[dict[str, str]], cluster: Cluster | None) -> list[SeriesSet]:
    """The component's series, grouped by the selector that reads exactly them: its pods, or its label."""
    by_selector: dict[str, SeriesSet] = {}
    names = {component.name, *(component.workload.names if component.workload else ())}
    pods: set[str] = set()
    for labels in label_sets:
        pod, namespace = labels.get("pod"), labels.get("namespace", "")
        if pod and component.namespace and cluster is not None and component.role != "node":
            if cluster.owner_of_pod(namespace, pod) != component.name:
                continue
            pods.add(pod)
    for labels in label_sets:
        if labels.get("pod") in pods:
            key = "pods"
        elif component.role == "node":
            if labels.get("pod"):
                continue  # a pod's own series belong to its workload
            key = next((f'{k}="{v}"' for k, v in labels.items() if k in ("node", "kubernetes_node")
                        and v == component.name), f'instance="{labels.get("instance", "")}"')
        else:
            key = next((f'{k}="{v}"' for k, v in sorted(labels.items()) if _names_component(k, v, names, labels)), "")
            if not key:
                continue
            if labels.get("namespace") and "namespace" not in key:
                key += f',namespace="{labels["namespace"]}"'
        if key not in by_selector:
            selector = key if key != "pods" else (
                f'namespace="{component.namespace}",pod=~"{"|".join(regex_value(p) for p in sorted(pods))}"')
            by_selector[key] = SeriesSet(component=component.name, selector=selector)
        by_selector[key].label_sets.append(labels)
    return list(by_selector.values())


def _names_component(key: str, value: str, names: set[str], labels: dict[str, str]) -> bool:
    """A label that says the series is the component's own: service/app/job/deployment=<its name>; a container
    name only where no pod label ties the series to some other workload's pod."""
    if value not in names or key == "__name__" or key == "pod":
        return False
    return key != "container" or "pod" not in labels


async def _neighbours(toolbox: Toolbox, seen: Observations, budget: Budget, node: Component) -> None:
    """CPU of every pod on a node the service runs on: a neighbour's spike is read against the service's own.
    By the series' own node label where cAdvisor carries one, else by the pods the API places on the node."""
    pods = sorted(p for (_, p), n in (seen.cluster.pod_node.items() if seen.cluster else []) if n == node.name)
    where = [f'node="{node.name}"'] + ([f'pod=~"{"|".join(regex_value(p) for p in pods)}"'] if pods else [])
    for matcher in where:
        query = (f"sum by (pod, namespace) (rate(container_cpu_usage_seconds_total{{{matcher},"
                 f'container!="",container!="POD"}}[1m]))')
        signal = Signal(name="pod_cpu", kind=SignalKind.INFRA, query=query, description="CPU cores used per pod",
                        split_by="pod", absent_is_zero=True, min_change=0.5, component=node.name)
        if await _range(toolbox, seen, budget, signal, query, node.name):
            return


async def _range(toolbox: Toolbox, seen: Observations, budget: Budget, signal: Signal, query: str,
                 component: str) -> int:
    """Run one range query and keep the anomalies of its series; the number of series it returned."""
    prometheus = await toolbox.prometheus()
    if prometheus is None:
        return 0
    w = seen.window
    found: list[Series] | None = await budget.run(_guarded(
        toolbox, seen, "prometheus", prometheus.query_range(query, w.start, w.end, STEP_SECONDS),
        f"Prometheus query {query[:120]}"))
    seen.queries += 1
    for series in found or []:
        samples = _from_zero(series.samples, w.start) if signal.absent_is_zero else series.samples
        if signal.name == "pod_cpu":
            pod = series.labels.get("pod", "")
            series.labels.setdefault("node", component)
            if seen.cluster and seen.cluster.owner_of_pod(series.labels.get("namespace", ""), pod):
                series.labels["workload"] = seen.cluster.owner_of_pod(series.labels.get("namespace", ""), pod) or ""
        directions = ("up", "down") if signal.both_ways else (signal.direction,)
        for direction in directions:
            anomaly = detect(samples, w.baseline_until, direction=direction, threshold=signal.threshold,
                             min_change=signal.min_change)
            if anomaly is not None:
                seen.findings.append(Finding(signal=signal, labels=series.labels, query=query, anomaly=anomaly,
                                             samples=samples, component=component))
                break
    return len(found or [])


def _from_zero(samples: list[Sample], start: datetime) -> list[Sample]:
    """Zeros from the window's start up to the series' first sample, one step apart."""
    if not samples or samples[0].at - start < timedelta(seconds=2 * STEP_SECONDS):
        return samples
    count = int((samples[0].at - start).total_seconds() // STEP_SECONDS)
    return [Sample(at=start + timedelta(seconds=i * STEP_SECONDS), value=0.0) for i in range(count)] + samples


# --- logs -----------------------------------------------------------------------------------------------------


async def _logs(toolbox: Toolbox, seen: Observations, budget: Budget, readable: list[Component]) -> None:
    """The lines of these components: their bursts and announced changes join what was read before."""
    source = toolbox.log_source(seen.service)
    if source is None or not readable:
        return
    w = seen.window
    pattern = f"{ERROR_PATTERN}|{INFO_PATTERN}"
    custom = "loki_selector" in seen.service.observability.model_fields_set

    async def read(component: Component) -> list[LogLine]:
        what = f"logs of {component.name}"
        if isinstance(source, LokiLogs) and not custom:
            for selector in _loki_selectors(component):
                lines = await budget.run(_guarded(toolbox, seen, source.name, LokiLogs(source.client, selector).search(
                    LogQuery(service=component.name, pattern=pattern), w.start, w.end), what))
                seen.queries += 1
                if lines:
                    return lines
            return []
        lines = await budget.run(_guarded(toolbox, seen, source.name, source.search(
            LogQuery(service=component.name, pattern=pattern), w.start, w.end), what))
        seen.queries += 1
        return lines or []

    per_component = await asyncio.gather(*(read(c) for c in readable))
    lines = [line for group in per_component for line in group]
    for component, group in zip(readable, per_component, strict=True):
        for line in group:
            line.labels.setdefault("component", component.name)
    seen.lines_read += len(lines)
    if lines:
        # Grouping and counting 100k lines is CPU work: keep it off the event loop that serves Slack.
        seen.bursts.extend(await asyncio.to_thread(bursts, lines, w.start, w.baseline_until, w.end))
        seen.bursts.sort(key=lambda b: b.onset)
        seen.changes.extend(await asyncio.to_thread(_announced, lines))
    for component, group in zip(readable, per_component, strict=True):
        distance = seen.scope.distance(component.name)
        if distance is None or distance >= MAX_HOPS:
            continue
        for host in _hosts_in_lines(group):
            link(seen.scope, seen.cluster, host, distance + 1, "log")


def _announced(lines: list[LogLine]) -> list[ChangeEvent]:
    """Changes services announce in their own info lines (a flag flipped, a cache flushed), first line of each."""
    found: dict[tuple[str, str], ChangeEvent] = {}
    for line in lines:
        if (line.level or "info") not in ("info", "notice", "warn", "debug") or not announces(line.message):
            continue
        parsed = parse_line(line.message)
        for change in changes_in_log(parsed.message, parsed.fields, line.at, line.labels.get("component"),
                                     line.query):
            found.setdefault((change.kind, change.subject), change)
    return list(found.values())


# The names the controllers give their pods (Kubernetes' safe alphabet), so `events` does not read `events-db-0`:
# a Deployment's `<name>-<pod-template-hash>-<5>`, a StatefulSet's `<name>-<ordinal>`, a DaemonSet's or Job's
# `<name>-<5>`, a CronJob's runs `<name>-<scheduled time>-<5>`.
POD_NAMES = {"Deployment": "-[a-z0-9]{1,10}-[a-z0-9]{5}", "StatefulSet": "-[0-9]+", "DaemonSet": "-[a-z0-9]{5}",
             "Job": "-[a-z0-9]{5}", "CronJob": "-[0-9]+-[a-z0-9]{5}"}


def _loki_selectors(component: Component) -> list[str]:
    """Streams as real clusters label them (namespace and pod, app), OpenTelemetry's resource attributes as Loki's
    OTLP ingestion makes them labels (`service_name`), then the `service` convention."""
    out = []
    if component.namespace:
        kind = component.workload.kind if component.workload else ""
        pods = POD_NAMES.get(kind, "-.+")
        out.append(f'{{namespace="{component.namespace}",pod=~"{regex_value(component.name)}{pods}"}}')
        # The OpenTelemetry Collector's filelog receiver, with the k8s.* resource attributes hinted as labels.
        out.append(f'{{k8s_namespace_name="{component.namespace}",k8s_pod_name=~"{regex_value(component.name)}{pods}"}}')
    names = sorted({component.name, *(component.workload.names if component.workload else ())})
    for label in ("app", "service_name", "service", "app_kubernetes_io_name", "container", "k8s_container_name",
                  "job"):
        out += [f'{{{label}="{n}"}}' for n in names[:1]]
    return out


def _hosts_in_lines(lines: list[LogLine], limit: int = 2000) -> set[str]:
    found: dict[str, int] = {}
    for line in lines[-limit:]:
        if (line.level or "") not in ("error", "warn", "fatal", "critical"):
            continue
        for host in hosts_in(line.message):
            found[host] = found.get(host, 0) + 1
    return {h for h, n in found.items() if n >= 3 and h not in PEER_LABELS}
