"""Gather the evidence for one analysis: metric anomalies, error-log bursts, changes and cluster state.

Every query runs concurrently and independently: a tool that is down or unconfigured costs its own evidence
and a line in the result, never the analysis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from agents.rca.anomaly import Anomaly, detect
from agents.rca.changes import changes_in_text
from agents.rca.log_bursts import ERROR_PATTERN, LogBurst, bursts
from agents.rca.signals import DEFAULT_SIGNALS, Signal
from agents.toolbox import Toolbox
from app.config import Service
from app.integrations.kubernetes import K8sEvent, PodInfo
from app.integrations.logs import LogQuery
from app.integrations.telemetry import ChangeEvent, Sample, Series, ToolFailed, ToolUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

LOOKBACK = timedelta(hours=3)  # how far before the reference time the analysis reads
BASELINE = timedelta(minutes=60)  # the normal stretch ends this long before the reference time
STEP_SECONDS = 30.0


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
    findings: list[Finding] = field(default_factory=list)
    bursts: list[LogBurst] = field(default_factory=list)
    changes: list[ChangeEvent] = field(default_factory=list)
    pods: list[PodInfo] = field(default_factory=list)
    k8s_events: list[K8sEvent] = field(default_factory=list)
    lines_read: int = 0
    queries: int = 0

    def finding(self, signal_name: str) -> list[Finding]:
        return [f for f in self.findings if f.signal.name == signal_name]


async def observe(toolbox: Toolbox, service: Service, window: Window, records: list[TextRecord],
                  signals: list[Signal] | None = None) -> Observations:
    seen = Observations(service=service, window=window)
    seen.changes.extend(change for record in records for change in changes_in_text(record.text, record.at,
                                                                                  record.source))
    await asyncio.gather(
        _metrics(toolbox, seen, signals or DEFAULT_SIGNALS),
        _logs(toolbox, seen),
        _kubernetes(toolbox, seen),
    )
    seen.changes.sort(key=lambda c: c.at)
    return seen


async def _guarded(toolbox: Toolbox, tool: str, work: Awaitable[T]) -> T | None:
    try:
        return await work
    except ToolUnavailable:
        return None
    except ToolFailed as failed:
        log.warning("%s failed during an analysis: %s", tool, failed)
        toolbox.failed(tool, failed)
        return None


async def _metrics(toolbox: Toolbox, seen: Observations, signals: list[Signal]) -> None:
    prometheus = await toolbox.prometheus()
    if prometheus is None:
        return
    w = seen.window
    name = seen.service.name

    async def one(signal: Signal) -> None:
        query = signal.promql(name)
        found: list[Series] | None = await _guarded(
            toolbox, "prometheus", prometheus.query_range(query, w.start, w.end, STEP_SECONDS))
        seen.queries += 1
        for series in found or []:
            samples = _from_zero(series.samples, w.start) if signal.absent_is_zero else series.samples
            anomaly = detect(samples, w.baseline_until, direction=signal.direction, threshold=signal.threshold,
                             min_change=signal.min_change)
            if anomaly is not None:
                seen.findings.append(Finding(signal=signal, labels=series.labels, query=query, anomaly=anomaly,
                                             samples=samples))

    await asyncio.gather(*(one(signal) for signal in signals))


def _from_zero(samples: list[Sample], start: datetime) -> list[Sample]:
    """Zeros from the window's start up to the series' first sample, one step apart."""
    if not samples or samples[0].at - start < timedelta(seconds=2 * STEP_SECONDS):
        return samples
    count = int((samples[0].at - start).total_seconds() // STEP_SECONDS)
    return [Sample(at=start + timedelta(seconds=i * STEP_SECONDS), value=0.0) for i in range(count)] + samples


async def _logs(toolbox: Toolbox, seen: Observations) -> None:
    source = toolbox.log_source(seen.service)
    if source is None:
        return
    w = seen.window
    lines = await _guarded(toolbox, source.name, source.search(LogQuery(service=seen.service.name,
                                                                        pattern=ERROR_PATTERN), w.start, w.end))
    seen.queries += 1
    if lines:
        seen.lines_read = len(lines)
        # Grouping and counting 100k lines is CPU work: keep it off the event loop that serves Slack.
        seen.bursts = await asyncio.to_thread(bursts, lines, w.start, w.baseline_until, w.end)


async def _kubernetes(toolbox: Toolbox, seen: Observations) -> None:
    k8s = toolbox.kubernetes
    if k8s is None:
        return
    namespace = seen.service.observability.namespace
    selector = seen.service.observability.pod_selector.replace("{service}", seen.service.name)
    w = seen.window
    # Changes and events cluster-wide: a neighbour's rollout or a node's pressure lives outside the namespace.
    changes, pods, events = await asyncio.gather(
        _guarded(toolbox, "kubernetes", k8s.change_events(None, w.start, w.end)),
        _guarded(toolbox, "kubernetes", k8s.pods(namespace, selector)),
        _guarded(toolbox, "kubernetes", k8s.events(None)),
    )
    seen.queries += 3
    seen.changes.extend(changes or [])
    seen.pods = pods or []
    seen.k8s_events = [e for e in events or [] if e.at is not None and w.start <= e.at <= w.end]
