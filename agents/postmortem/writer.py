"""The deterministic postmortem: the whole document from the incident's record, in blameless words.

Numbers (durations, times, budgets) are computed here; the prose around them only restates them. What the
record cannot tell (customer counts nobody entered, a root cause with no analysis) is said to be missing rather
than made up.
"""

from __future__ import annotations

from datetime import datetime

from agents.postmortem.document import ActionRow, Detection, Postmortem, SloImpact
from agents.postmortem.extract import (
    Record,
    detection,
    existing_actions,
    follow_ups,
    rca_actions,
    responders,
    spans_days,
    timeline,
    trigger_undone,
)
from agents.rca.report import RcaReport
from app.incidents.models import Incident, Role
from app.incidents.render import person

# What each kind of root cause teaches, beyond its own recommendations.
LESSONS = {
    "connection-pool-exhaustion": "Connection pool saturation is critical infrastructure: monitor it and alert "
                                  "before it is exhausted",
    "bad-deploy": "Every release needs a fast, rehearsed way back and a check that stops a bad rollout early",
    "config-change": "Configuration changes deserve the same review, validation and gradual rollout as code",
    "certificate-expired": "Certificate expiry is predictable: it should never be found by customers",
    "node-pressure": "Resource requests that match real usage keep one node's trouble from becoming an outage",
    "noisy-neighbour": "Latency-sensitive services need isolation from batch work",
    "dependency-outage": "Every critical dependency needs a timeout, a circuit breaker and a degraded mode",
    "dns-failure": "DNS is a dependency of everything: its changes need testing and its failures alerting",
    "disk-full": "Storage growth is predictable: alert on time-to-full, not on full",
    "memory-leak": "Leaks show in soak tests and memory trends long before they page anyone",
}
UNDO_LESSON = "Being able to undo a change in minutes (a flag, a rollback) is what kept this incident short"


def write(record: Record) -> Postmortem:
    incident, rca = record.incident, record.rca
    entries, omitted = timeline(record)
    found = detection(record)
    actions = _actions(record, found)
    return Postmortem(
        incident_id=incident.public_id, title=incident.title, day=incident.declared_at.date(),
        authors=_authors(incident), severity=incident.severity,
        draft_reason=None if incident.resolved_at else "the incident is still open: times and impact may change",
        service=_service(record), impact=incident.user_impact,
        customers_affected=incident.customers_affected, revenue_impact=incident.revenue_impact,
        slo=_slo(record, found), slo_note=_slo_note(record),
        what_happened=_what_happened(incident, rca, found, _service(record)),
        timeline=entries, timeline_omitted=omitted, spans_days=spans_days(entries),
        root_cause=rca.root_cause if rca and rca.cause else _no_root_cause(incident, rca),
        trigger=_trigger(rca), rca_confidence=rca.confidence if rca and rca.cause else None,
        contributing_factors=list(rca.contributing_factors) if rca and rca.cause else [],
        detection=found, responders=responders(incident),
        went_well=_went_well(record, found), went_poorly=_went_poorly(record, found),
        got_lucky=_got_lucky(incident, rca, found), action_items=actions, lessons=_lessons(rca, found, record),
        appendix=_appendix(incident), warnings=_warnings(incident, rca),
    )


def _authors(incident: Incident) -> list[str]:
    wanted = (Role.INCIDENT_COMMANDER, "Postmortem Owner")
    found = [person(r.user_id) for r in incident.roles if r.role in wanted and r.ended_at is None]
    return list(dict.fromkeys(found)) or ["incidentbot"]


def _clock(at: datetime | None) -> str:
    return at.strftime("%H:%M") if at else "not recorded"


def _service(record: Record) -> str | None:
    """The affected service as declared, else the one the analysis investigated."""
    return record.incident.affected_service or (record.rca.service if record.rca else None)


def _what_happened(incident: Incident, rca: RcaReport | None, found: Detection, service: str | None) -> str:
    day = incident.declared_at.strftime("%B %-d, %Y")
    service = service or "the service"
    span = (f"for {found.time_to_resolve} minutes ({_clock(found.started_at)} - {_clock(found.resolved_at)} UTC)"
            if found.resolved_at else f"from {_clock(found.started_at)} UTC, and is not yet resolved")
    lead = f"On {day}, {service} was affected by an incident ({incident.title}) {span}."
    impact = f" Customer impact: {incident.user_impact.rstrip('.')}." if incident.user_impact else ""
    cause = f" {rca.executive_summary}" if rca and rca.cause else ""
    mitigation = ""
    if found.mitigated_at and found.resolved_at and found.mitigated_at < found.resolved_at:
        mitigation = f" It was mitigated at {_clock(found.mitigated_at)} and resolved at {_clock(found.resolved_at)}."
    summary = f" Resolution: {incident.summary.rstrip('.')}." if incident.summary else ""
    return lead + impact + cause + mitigation + summary


def _no_root_cause(incident: Incident, rca: RcaReport | None) -> str:
    if rca is None:
        return ("Not established: no root-cause analysis was run. Ask `@incidentbot why ...?` in the war room "
                "(or run `incidentbot agent run rca-agent --incident " + incident.public_id + "`) and regenerate.")
    return f"Not established by the analysis: {rca.executive_summary}"


def _trigger(rca: RcaReport | None) -> str | None:
    if rca is None or rca.trigger is None:
        return None
    return f"{rca.trigger.description} ({rca.trigger.at:%H:%M} UTC)"


def _slo(record: Record, found: Detection) -> SloImpact | None:
    service = _service(record)
    slo = record.config.service(service).slo if service else None
    share = record.rca.error_ratio_mean if record.rca else None
    if slo is None or share is None or found.time_to_resolve is None:
        return None
    return SloImpact(availability=slo.availability, window_days=slo.window_days, budget_minutes=slo.budget_minutes,
                     consumed_minutes=round(found.time_to_resolve * share, 1), failing_share=share)


def _slo_note(record: Record) -> str | None:
    service = _service(record)
    if not service or record.config.service(service).slo is None:
        return "not computed: the service has no SLO in the team config (`services[].slo`)"
    if record.rca is None or record.rca.error_ratio_mean is None:
        return "not computed: no error rate was measured (run the root-cause analysis with Prometheus connected)"
    if record.incident.resolved_at is None:
        return "not computed yet: the incident is still open"
    return None


def _actions(record: Record, found: Detection) -> list[ActionRow]:
    rows = existing_actions(record.actions)
    known = {r.text.lower() for r in rows}
    day = (found.resolved_at or record.now).date()
    for row in [*follow_up_rows(record), *rca_actions(record, day)]:
        if row.text.lower() not in known:
            known.add(row.text.lower())
            rows.append(row)
    return sorted(rows, key=lambda r: (r.priority, r.number is None, r.number or 0))


def _went_well(record: Record, found: Detection) -> list[str]:
    well = []
    ttd, tta, ttm = found.time_to_detect, found.time_to_acknowledge, found.time_to_mitigate
    if ttd is not None and ttd <= 10 and found.started_from != "declaration":
        well.append(f"Detected within {ttd} minutes of impact starting")
    if tta == 0:
        well.append("A responder declared the incident, so it was acknowledged as soon as it was detected")
    elif tta is not None and tta <= 5:
        well.append(f"Responders acknowledged within {tta} minutes of detection")
    rca = record.rca
    if rca is not None and rca.cause and rca.confidence in ("high", "medium"):
        well.append(f"The root cause was identified with {rca.confidence} confidence from telemetry")
    undone = trigger_undone(record)
    if undone:
        well.append(f"The triggering change could be undone quickly ({undone})")
    roles = {r.role for r in record.incident.roles if r.ended_at is None}
    if {Role.INCIDENT_COMMANDER, Role.COMMUNICATIONS} <= roles:
        well.append("Incident Commander and Communications roles were both filled")
    if ttm is not None and found.resolved_at and ttm <= 30:
        well.append(f"Mitigated within {ttm} minutes of impact starting")
    return well


def _went_poorly(record: Record, found: Detection) -> list[str]:
    poorly = []
    ttd, ttm = found.time_to_detect, found.time_to_mitigate
    if ttd is not None and ttd > 10:
        poorly.append(f"Impact went undetected for {ttd} minutes")
    if ttm is not None and ttm > 30:
        poorly.append(f"Mitigation took {ttm} minutes from impact starting")
    reminders = sum(1 for e in record.incident.timeline if e.kind == "reminder")
    if reminders:
        poorly.append(f"Status updates fell behind the cadence ({reminders} reminder{'s' if reminders > 1 else ''})")
    rca = record.rca
    if rca is not None and rca.trigger is not None and rca.cause:
        poorly.append(f"The change ({rca.trigger.subject}) reached production without the problem being caught")
    if rca is not None and rca.cause:
        poorly += [f for f in rca.contributing_factors if f.lower().startswith(("no alert", "no "))][:2]
    return poorly


def _got_lucky(incident: Incident, rca: RcaReport | None, found: Detection) -> list[str]:
    lucky = []
    start = found.started_at
    if start.weekday() < 5 and 8 <= start.hour < 18:
        lucky.append(f"It began during working hours ({start:%A} {start:%H:%M} UTC), with most of the team online")
    if rca is not None and rca.error_ratio_mean is not None and rca.error_ratio_mean < 0.5:
        lucky.append(f"On average {rca.error_ratio_mean:.0%} of requests failed: most customers were not affected")
    return lucky


def _lessons(rca: RcaReport | None, found: Detection, record: Record) -> list[str]:
    lessons = []
    if rca is not None and rca.cause in LESSONS:
        lessons.append(LESSONS[rca.cause])
    if found.time_to_detect is not None and found.time_to_detect > 10:
        lessons.append("Alerts should fire on the first customer-facing symptom, not after it has grown")
    if trigger_undone(record):
        lessons.append(UNDO_LESSON)
    return lessons or ["To be written in review: what this incident teaches that the action items do not cover"]


def _appendix(incident: Incident) -> list[tuple[str, str]]:
    links = []
    if incident.channel_id:
        links.append(("War room", f"#{incident.channel_name or incident.channel_id}"))
    links.append(("Full timeline", f"incidentbot show {incident.public_id}"))
    return links


def _warnings(incident: Incident, rca: RcaReport | None) -> list[str]:
    missing = []
    if incident.customers_affected is None:
        missing.append("customers affected not recorded")
    if incident.revenue_impact is None:
        missing.append("revenue impact not recorded")
    if rca is None:
        missing.append("no root-cause analysis")
    return missing


def follow_up_rows(record: Record) -> list[ActionRow]:
    """Follow-ups asked for in the war room and on the timeline."""
    texts = [m.text for m in record.transcript if m.deleted_at is None]
    texts += [e.text for e in record.incident.timeline if e.kind in ("note", "status_update", "resolved")]
    return follow_ups(texts)
