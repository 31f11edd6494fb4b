"""The deterministic RCA engine: observations in, the seed's analysis out.

It finds when the symptoms began, tests every candidate cause against the evidence, and writes the analysis
from the best-supported one. It needs no model and no network beyond the observability tools, and it says
plainly when the evidence does not establish a cause.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.rca.causes import Facts, Narrative
from agents.rca.changes import is_reversal, reloads_as_edits
from agents.rca.hypotheses import (
    INFRASTRUCTURE,
    Candidate,
    change_candidates,
    change_component,
    clock,
    delivered_by,
    names_object,
    off_the_path,
    recovered_at,
    score,
    symptom_onset,
    symptom_text,
    telemetry_candidates,
)
from agents.rca.observe import Observations
from agents.rca.report import Evidence, Hypothesis, RcaReport, Recommendations, RuledOut, TimelineRow, Why
from agents.toolbox import ToolStatus
from app.integrations.telemetry import ChangeEvent, ChangeKind

MAX_TIMELINE_ROWS = 14
MAX_EVIDENCE = 8


@dataclass(frozen=True)
class Subject:
    """What is being analysed: an incident from the store, or a service and time named in a request."""

    title: str
    service: str
    reference: datetime
    incident_id: str | None = None
    severity: str | None = None
    resolved_at: datetime | None = None


def analyse(seen: Observations, subject: Subject, tools: list[ToolStatus]) -> RcaReport:
    seen.changes = reloads_as_edits(seen.changes, seen.cluster)
    onset = symptom_onset(seen)
    ranked = score(telemetry_candidates(seen) + change_candidates(seen, onset), seen, onset)
    base = dict(incident_id=subject.incident_id, title=subject.title, service=subject.service,
                severity=subject.severity, reference=subject.reference, window_start=seen.window.start,
                window_end=seen.window.end, symptom_onset=onset if seen.findings or seen.bursts else None,
                recovered_at=recovered_at(seen), error_ratio_mean=_mean_error_ratio(seen, onset), tools=tools,
                lines_read=seen.lines_read, queries=seen.queries,
                hypotheses=[_hypothesis(c) for c in ranked[:5]], lost=seen.lost)
    if not ranked or ranked[0].score <= 0 or not connected(ranked[0], seen):
        return _inconclusive(seen, subject, tools, {**base, "ruled_out": ruled_out(seen, ranked, None, onset)})
    top = ranked[0]
    base["ruled_out"] = ruled_out(seen, ranked, top, onset)
    narrative = top.cause.explain(_facts(top, seen, onset, subject))
    return RcaReport(
        **base,
        executive_summary=narrative.summary,
        timeline=_timeline(seen, top, onset, subject),
        five_whys=[Why(question=q, answer=a) for q, a in narrative.whys],
        root_cause=_with_change(narrative.root_cause, top.trigger, seen),
        cause=top.cause.id,
        component=top.component,
        trigger=top.trigger,
        confidence=_confidence(ranked),
        evidence=_evidence(top, ranked),
        contributing_factors=narrative.factors,
        recommendations=_recommendations(narrative),
    )


DELIBERATE = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.SECRET, ChangeKind.FLAG, ChangeKind.JOB,
              ChangeKind.SCALE, ChangeKind.CERTIFICATE, ChangeKind.AUTOSCALER, ChangeKind.GITOPS, ChangeKind.NODE)
DURING = timedelta(minutes=15)  # changes made while it unfolded are cleared too
RULED_OUT_BEFORE = timedelta(hours=3)  # every change in the window before the symptoms is worth clearing


def ruled_out(seen: Observations, ranked: list[Candidate], top: Candidate | None, onset: datetime) -> list[RuledOut]:
    """Every deliberate change near the symptoms that is not the cause, with the reason: nothing followed it, it
    is off the path to the alerting service, undoing it did not help, or a better-supported cause explains
    the symptoms."""
    out: dict[str, RuledOut] = {}
    chosen = top.trigger if top else None
    tested = {id(c.trigger): c for c in ranked if c.trigger is not None}
    for change in seen.changes:
        if change is chosen or change.kind not in DELIBERATE or is_reversal(change):
            continue
        if chosen is not None and change.subject == chosen.subject and (
                change.kind == chosen.kind or abs((change.at - chosen.at).total_seconds()) <= 300):
            continue  # the cause itself, however else it was recorded
        if not onset - RULED_OUT_BEFORE <= change.at <= max(onset + DURING, seen.window.reference):
            continue
        if chosen is not None and delivered_by(change, seen) is chosen:
            continue  # the restart that delivered the cause
        if change.kind == ChangeKind.SCALE and any(c.kind == ChangeKind.DEPLOY and c.subject == change.component
                                                   and abs((c.at - change.at).total_seconds()) < 300
                                                   for c in seen.changes):
            continue  # a rollout's own scaling steps
        key = f"{change.kind}:{change.subject}"
        if key in out:
            continue
        out[key] = RuledOut(subject=_ruled_out_name(change), at=change.at,
                            reason=_reason(change, tested.get(id(change)), top, seen), query=change.query)
    for change in _last_earlier(seen, chosen):
        out.setdefault(f"{change.kind}:{change.subject}", RuledOut(
            subject=_ruled_out_name(change), at=change.at, query=change.query,
            reason=f"{_hours(onset - change.at)} before the symptoms began, with normal service until then"))
    return list(out.values())[:8]


EARLIER_KINDS = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.SECRET, ChangeKind.FLAG, ChangeKind.GITOPS)


def _last_earlier(seen: Observations, chosen: ChangeEvent | None) -> list[ChangeEvent]:
    """The latest change before the window of the alerting service and what it calls directly: the first thing
    anyone asks about ("what was the last deploy?"), cleared by the hours of normal service since."""
    latest: dict[str, ChangeEvent] = {}
    for change in seen.earlier:
        component = change_component(change, seen)
        distance = seen.scope.distance(component)
        if change.kind not in EARLIER_KINDS or distance is None or distance > 1 or is_reversal(change):
            continue
        if chosen is not None and change.subject == chosen.subject and change.kind == chosen.kind:
            continue
        if component not in latest or change.at > latest[component].at:
            latest[component] = change
    return sorted(latest.values(), key=lambda c: c.at)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 1.5 else f"{round(delta.total_seconds() / 60)} minutes"


def connected(candidate: Candidate, seen: Observations) -> bool:
    """Something the answer may name: infrastructure under the service, or a component with a path to it (or
    one nothing places either way). A best guess off the path is no answer: the candidates are listed instead."""
    if candidate.cause.id in INFRASTRUCTURE or candidate.cause.id in CALLED:
        return True
    return not off_the_path(candidate.component, seen)


# Named from the alerting service's own calls (its client metrics and error lines): connected by how they are found,
# a third-party host included.
CALLED = ("dependency-outage", "rate-limited")


def _ruled_out_name(change: ChangeEvent) -> str:
    what = change.object_ref or change.subject
    return f"{what} revision {change.version}" if change.kind == ChangeKind.DEPLOY and change.version else what


def _reason(change: ChangeEvent, candidate: Candidate | None, top: Candidate | None, seen: Observations) -> str:
    if candidate is not None and candidate.against:
        text = candidate.against[0].text
        return text[:1].lower() + text[1:]
    component = change_component(change, seen)
    if seen.scope.components and seen.scope.distance(component) is None:
        return ("off the path: it is not the alerting service nor anything it depends on"
                if off_the_path(component, seen) else "nothing connects it to the alerting service or followed it")
    if top is not None:
        return (f"{top.cause.title.lower()} in {top.component} explains the symptoms better "
                f"(score {top.score:.1f}" + (f" against {candidate.score:.1f})" if candidate else ")"))
    return "nothing measurable followed it"


def _mean_error_ratio(seen: Observations, onset: datetime) -> float | None:
    errors = seen.finding("error_ratio")
    if not errors:
        return None
    end = recovered_at(seen) or seen.window.end
    values = [s.value for s in errors[0].samples if onset <= s.at <= end and math.isfinite(s.value)]
    return round(sum(values) / len(values), 4) if values else None


def _facts(top: Candidate, seen: Observations, onset: datetime, subject: Subject) -> Facts:
    trigger = top.trigger
    alerts = [c for c in seen.changes if c.kind == ChangeKind.ALERT and c.at >= onset]
    first_alert = min(alerts, key=lambda c: c.at).at if alerts else subject.reference
    reversal = next((c for c in seen.changes if trigger is not None and is_reversal(c)
                     and c.subject == trigger.subject and c.at > trigger.at), None)
    return Facts(
        service=subject.service, component=top.component, symptom=symptom_text(seen), onset=clock(onset),
        mechanism=top.mechanism,
        trigger=f"{_change_phrase(trigger)} ({clock(trigger.at)})" if trigger else None,
        trigger_subject=trigger.subject if trigger else None,
        trigger_lag=_lag(top.onset, trigger.at) if trigger else None,
        log_example=top.log_example, first_alert=clock(first_alert),
        mitigation=f"{reversal.description[:120]} at {clock(reversal.at)}" if reversal else None,
    )


# Diff lines that say what a rollout was for; annotations and labels (tracking ids, hashes) only when alone.
_BOOKKEEPING = ("annotation ", "label ")


def change_detail(change: ChangeEvent, seen: Observations) -> str:
    """The change as an operator would look it up: kind and object, revision, keys with old and new values."""
    ref, diff = change.object_ref, [d for d in change.diff if not d.startswith(_BOOKKEEPING)] or change.diff
    if change.kind == ChangeKind.FLAG:
        store = flag_store(change, seen)
        where = f" in {_object(store.object_ref)}" if store and store.object_ref else ""
        key = _KEY.match(store.diff[0]) if store and store.diff else None
        return f"flag {change.subject}{where}" + (f" (key {key[1]})" if key else "") + f" at {clock(change.at)}"
    what = _object(ref) if ref else f"{change.kind} {change.subject}"
    applied = _applied_as(change, seen)
    if applied is not None and not diff:  # a sync or an operator's event: what it wrote is the change
        return f"{what} at {clock(change.at)}, which wrote {change_detail(applied, seen)}"
    revision = f" revision {change.version}" if change.kind == ChangeKind.DEPLOY and change.version else ""
    changed = f" ({'; '.join(d[:140] for d in diff[:3])})" if diff else ""
    return f"{what}{revision}{changed} at {clock(change.at)}"


_KEY = re.compile(r"^(?:key\s+)?([\w.-]+)")
APPLIED = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.SECRET)


def _applied_as(change: ChangeEvent, seen: Observations) -> ChangeEvent | None:
    """The object an event-only change wrote (an Argo CD sync's rollout, External Secrets' Secret), moments
    after it, with its diff."""
    return next((c for c in seen.changes if c is not change and c.kind in APPLIED and c.diff and c.object_ref
                 and (c.subject == change.subject or names_object(change, c)) and c.object_ref != change.object_ref
                 and timedelta(0) <= c.at - change.at <= timedelta(minutes=5)), None)


def flag_store(change: ChangeEvent, seen: Observations) -> ChangeEvent | None:
    """The ConfigMap a flag service read the flag from: one edited in the minutes before it announced the flag,
    in its namespace and named after it (`flagd-flags`, `unleash-config`)."""
    announcer = change.component or ""
    for edit in seen.changes:
        parts = (edit.object_ref or "").split("/")
        if edit.kind != ChangeKind.CONFIG or len(parts) != 3 or edit.source != "kubernetes":
            continue
        if timedelta(minutes=-3) <= change.at - edit.at <= timedelta(minutes=3) and announcer and (
                parts[2].startswith(announcer + "-") or announcer in {c.name for c in
                                                                      seen.scope.named_after(parts[2], parts[1])}):
            return edit
    return None


def _object(ref: str | None) -> str:
    """Deployment/shop/checkout -> Deployment shop/checkout."""
    kind, _, rest = (ref or "").partition("/")
    return f"{kind} {rest}" if rest else kind


def _with_change(root_cause: str, trigger: ChangeEvent | None, seen: Observations) -> str:
    """The narrative's root cause, with the change spelled out when the narrative does not already."""
    if trigger is None:
        return root_cause
    detail = change_detail(trigger, seen)
    return root_cause if detail in root_cause else f"{root_cause.rstrip()} The change: {detail}."


def _change_phrase(change: ChangeEvent) -> str:
    subject = change.subject
    if change.kind == ChangeKind.FLAG:
        switched_on = re.search(r"enabl|turned on|switched on|rolled out|ramp", change.description, re.IGNORECASE)
        return f"feature flag {subject} was {'enabled' if switched_on else 'changed'}"
    return {
        ChangeKind.DEPLOY: f"{subject} was rolled out",
        ChangeKind.CONFIG: f"configuration {subject} was changed",
        ChangeKind.SECRET: f"Secret {subject} was rewritten",
        ChangeKind.SCALE: f"{subject} was scaled",
        ChangeKind.NODE: f"node {subject} reported a problem",
    }.get(change.kind, f"{subject} changed")


def _lag(later: datetime, earlier: datetime) -> str:
    minutes = max(0, round((later - earlier).total_seconds() / 60))
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def _confidence(ranked: list[Candidate]) -> str:
    top = ranked[0].score
    margin = top - (ranked[1].score if len(ranked) > 1 else 0.0)
    if top >= 4.0 and margin >= 1.0:
        return "high"
    return "medium" if top >= 2.5 and margin >= 0.5 else "low"


def _evidence(top: Candidate, ranked: list[Candidate]) -> list[Evidence]:
    items = list(top.support[:MAX_EVIDENCE])
    for other in ranked[1:3]:
        reason = other.against[0].text if other.against else f"weaker support (score {other.score:.1f} against " \
                                                              f"{top.score:.1f})"
        items.append(Evidence(text=f"Ruled out as the cause: {other.cause.title.lower()} ({other.component}): "
                                   f"{reason[0].lower() + reason[1:]}",
                              query=other.support[0].query if other.support else "analysis", source="analysis"))
    return items


def _recommendations(n: Narrative) -> Recommendations:
    return Recommendations(immediate=n.immediate, short_term=n.short_term, medium_term=n.medium_term,
                           long_term=n.long_term)


def _hypothesis(c: Candidate) -> Hypothesis:
    return Hypothesis(cause=c.cause.id, title=c.cause.title, component=c.component, onset=c.onset,
                      trigger=c.trigger, score=round(c.score, 2), evidence_for=c.support, evidence_against=c.against)


def _timeline(seen: Observations, top: Candidate, onset: datetime, subject: Subject) -> list[TimelineRow]:
    rows: dict[tuple[datetime, str], TimelineRow] = {}

    def add(at: datetime | None, text: str) -> None:
        if at is not None and seen.window.start <= at <= seen.window.end:
            rows.setdefault((at, text), TimelineRow(at=at, text=text))

    for change in seen.changes:
        relevant = change is top.trigger or is_reversal(change) or change.kind == ChangeKind.ALERT or (
            change.kind in (ChangeKind.DEPLOY, ChangeKind.FLAG, ChangeKind.CONFIG)
            and abs((change.at - onset).total_seconds()) <= 3600)
        if relevant:
            add(change.at, change.description[:140])
    if top.trigger is None or top.onset != top.trigger.at:
        add(top.onset, f"{top.cause.title} begins: {top.mechanism[:120]}")
    if top.log_example:
        add(top.log_onset, f"First \"{top.log_example[:80]}\" in logs")
    add(onset, f"Symptoms begin: {subject.service} {symptom_text(seen)}")
    add(subject.reference, "Incident declared" if subject.incident_id else "Time named in the request")
    errors = seen.finding("error_ratio")
    if errors:
        add(errors[0].anomaly.peak_at, f"Worst point: {errors[0].anomaly.peak:.0%} of requests failing")
    add(recovered_at(seen), "Error rate back to normal")
    add(subject.resolved_at, "Incident resolved")
    ordered = sorted(rows.values(), key=lambda r: r.at)
    return ordered[:MAX_TIMELINE_ROWS]


def _inconclusive(seen: Observations, subject: Subject, tools: list[ToolStatus], base: dict[str, object]) -> RcaReport:
    missing = [t for t in tools if not t.available]
    changes = [c for c in seen.changes if c.kind in (ChangeKind.DEPLOY, ChangeKind.FLAG, ChangeKind.CONFIG)]
    summary = (f"No cause for the {subject.service} incident could be established from the evidence available: "
               f"{len(seen.findings)} metric anomalies, {len(seen.bursts)} error-log bursts and {len(changes)} "
               f"recorded changes between {clock(seen.window.start)} and {clock(seen.window.end)} UTC.")
    if len(missing) == len(tools):
        summary += " No observability tool is configured, so only the incident's own record was read."
    checked = [Evidence(text=f"Read {seen.queries} queries and {seen.lines_read:,} log lines",
                        query="every configured tool", source="analysis")]
    checked += [Evidence(text=f"{t.name} not read: {t.detail}", query="settings", source="analysis") for t in missing]
    return RcaReport(
        **base,  # type: ignore[arg-type]
        executive_summary=summary,
        timeline=[TimelineRow(at=c.at, text=c.description[:140]) for c in changes][:MAX_TIMELINE_ROWS],
        root_cause="Not established. The hypotheses listed are what the evidence allows; none is supported "
                   "well enough to name.",
        confidence="low",
        evidence=checked,
        recommendations=Recommendations(
            immediate="Check the most recent deploys, flag and config changes of the service and its dependencies",
            short_term="Record changes on the incident timeline (`/incident note`) so they can be correlated",
            medium_term="Connect " + (", ".join(t.name for t in missing) if missing else "more telemetry")
                        + " to the analysis",
            long_term="Alert on saturation signals (pools, memory, disks) before they reach their limit",
        ),
    )
