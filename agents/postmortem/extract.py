"""What the incident's own record says: the timeline worth reading, when things happened, who responded, and
the follow-ups people asked for in the war room.

Everything here reads what the store holds (timeline, roles, transcript, the stored RCA, action items); nothing
is invented. Chat text is matched against patterns, never followed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from agents.postmortem.document import ActionRow, Detection, Responder, TimelineEntry
from agents.rca.changes import changes_in_text, is_reversal, named_time
from agents.rca.report import RcaReport
from app.action_items.models import ActionItem
from app.action_items.service import numbers
from app.config import TeamConfig
from app.incidents.capture import PINNED_KIND
from app.incidents.models import Incident, Status, TranscriptMessage
from app.incidents.render import SLACK_USER_ID, plain
from app.integrations.telemetry import ChangeEvent, ChangeKind

MAX_TIMELINE_ROWS = 40
MAX_ACTION_TEXT = 500  # what an action item holds
# Timeline kinds a reader of the postmortem needs, most telling first (a long timeline keeps these).
KINDS = ["declared", "resolved", "severity_changed", "status_changed", "reopened", "closed", PINNED_KIND,
         "status_update", "note", "role_assigned", "agent_result"]
AFTER_RESOLVED = timedelta(hours=1)  # later entries are bookkeeping (the postmortem's own), not the incident
FOLLOW_UP_WORDS = ("should", "need to", "todo", "to-do", "follow-up", "follow up", "followup", "action item",
                   "next time", "make sure")
FOLLOW_UP = re.compile(r"\b(?:we|you|someone|i) (?:should|need to|must)\b|\b(?:todo|to-do|follow[- ]?up|action item)"
                       r"\b[:\s-]*|\bnext time\b|\blet'?s make sure\b", re.IGNORECASE)
MITIGATION = re.compile(r"\b(?:mitigat\w*|roll(?:ed)?[\s-]*back|revert\w*|disabled|failover|failed over|"
                        r"scaled (?:up|out)|restarted)\b", re.IGNORECASE)
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass
class Record:
    """What the store holds about one incident."""

    incident: Incident
    transcript: list[TranscriptMessage]
    rca: RcaReport | None
    actions: list[ActionItem]
    config: TeamConfig
    now: datetime
    _changes: list[tuple[datetime, ChangeEvent]] | None = None

    def changes(self) -> list[tuple[datetime, ChangeEvent]]:
        """Every change the timeline's text reports, with the time it was recorded; parsed once per record."""
        if self._changes is None:
            self._changes = [(e.occurred_at, c) for e in self.incident.timeline
                             for c in changes_in_text(e.text, e.occurred_at, "timeline")]
        return self._changes


def timeline(record: Record) -> tuple[list[TimelineEntry], int]:
    """The RCA's account of what led up to the declaration, then the incident's own entries, in time order.
    A very long timeline keeps its most telling entries and says how many it left out."""
    incident = record.incident
    rows: dict[tuple[datetime, str], tuple[int, TimelineEntry]] = {}
    if record.rca is not None:
        for row in record.rca.timeline:
            if row.at < incident.declared_at:
                rows[_row_key(row.at, row.text)] = (len(KINDS), TimelineEntry(at=row.at, text=row.text))
    until = incident.resolved_at + AFTER_RESOLVED if incident.resolved_at else None
    for event in incident.timeline:
        if event.kind in KINDS and (until is None or event.occurred_at <= until):
            text = _event_text(event.kind, event.text, event.actor)
            # A note about earlier ("flag enabled at 14:15") goes where it happened, not where it was written.
            at = named_time(event.text, 0, event.occurred_at) if event.kind in ("note", PINNED_KIND) \
                else event.occurred_at
            rows.setdefault(_row_key(at, text), (KINDS.index(event.kind), TimelineEntry(at=at, text=text)))
    if record.rca is not None and record.rca.recovered_at is not None:
        at = record.rca.recovered_at
        rows.setdefault(_row_key(at, "Error rate back to normal"),
                        (2, TimelineEntry(at=at, text="Error rate back to normal")))
    ranked = sorted(rows.values(), key=lambda r: (r[0], r[1].at))
    kept = sorted((entry for _, entry in ranked[:MAX_TIMELINE_ROWS]), key=lambda e: e.at)
    return kept, max(0, len(ranked) - MAX_TIMELINE_ROWS)


_TRAILING_TIME = re.compile(r"\s+at\s+\d{1,2}:\d{2}\s*$")


def _row_key(at: datetime, text: str) -> tuple[datetime, str]:
    """One row per event: the RCA's "flag enabled" and the note "flag enabled at 14:15" are the same one."""
    return at.replace(second=0, microsecond=0), _TRAILING_TIME.sub("", plain(text)).strip(" .").lower()


def _event_text(kind: str, text: str, actor: str | None) -> str:
    text = plain(" ".join(text.split()))[:200]
    if kind == "status_update":
        return f"Status update: {text}"
    if kind == PINNED_KIND:
        return f"Noted in the war room: {text}"
    if kind == "agent_result":
        return "Root-cause analysis posted"
    return text


def detection(record: Record) -> Detection:
    """Impact start from the RCA's error rate when there is one, else the declaration; detection from the first
    alert recorded, acknowledgement from the first person acting, mitigation from the first undo or
    mitigation noted (or MONITORING), resolution from the record."""
    incident, rca = record.incident, record.rca
    started = rca.symptom_onset if rca and rca.symptom_onset and rca.symptom_onset <= incident.declared_at else None
    start = started or incident.declared_at
    alerts = [c.at for _, c in record.changes() if c.kind == ChangeKind.ALERT and c.at >= start - timedelta(minutes=5)]
    if rca is not None:
        alerts += [row.at for row in rca.timeline if "alert" in row.text.lower() and row.at >= start]
    detected = min([incident.declared_at, *alerts])
    return Detection(started_at=start, detected_at=detected, acknowledged_at=_acknowledged(incident),
                     mitigated_at=_mitigated(record, start), resolved_at=incident.resolved_at,
                     started_from="error rate (root-cause analysis)" if started else "declaration")


def _acknowledged(incident: Incident) -> datetime | None:
    """A person declaring is a person acknowledging; otherwise the first person to act on the timeline."""
    if SLACK_USER_ID.match(incident.declared_by) or incident.declared_by.startswith("cli:"):
        return incident.declared_at
    return next((e.occurred_at for e in incident.timeline if e.actor and e.kind != "declared"), None)


def _mitigated(record: Record, start: datetime) -> datetime | None:
    incident = record.incident
    undone = {at for at, c in record.changes() if is_reversal(c)}
    for event in incident.timeline:
        if event.occurred_at < start:
            continue
        monitoring = event.kind == "status_changed" and Status.MONITORING in event.text
        if monitoring or event.occurred_at in undone or (event.kind in ("note", "status_update")
                                                         and MITIGATION.search(event.text)):
            return event.occurred_at
    if record.rca is not None and record.rca.recovered_at is not None:
        return record.rca.recovered_at
    return incident.resolved_at


def responders(incident: Incident) -> list[Responder]:
    people: dict[str, list[str]] = {}
    for role in incident.roles:
        roles = people.setdefault(role.user_id, [])
        if role.role not in roles:
            roles.append(role.role)
    for event in incident.timeline:
        if event.actor and event.actor not in people and event.kind in ("status_update", "note", PINNED_KIND):
            people[event.actor] = []
    return [Responder(person=person, roles=roles) for person, roles in people.items()]


def follow_ups(texts: Iterable[str]) -> list[ActionRow]:
    """"We should alert on pool usage", "TODO: ...", "follow-up: ..." said in the war room or noted: each a
    candidate action item, owned by whoever the line mentions."""
    found: dict[str, ActionRow] = {}
    for text in texts:
        lowered = text.lower()
        if not any(word in lowered for word in FOLLOW_UP_WORDS):
            continue  # most messages: one cheap test, no regex
        match = FOLLOW_UP.search(text)
        if match is None:
            continue
        action = _sentence(plain(MENTION.sub("", text[match.end():] if match.group(0).lower().startswith(
            ("todo", "to-do", "follow", "action")) else text[match.start():])))
        if len(action) < 8:
            continue
        mention = MENTION.search(text)
        owner = mention.group(1) if mention else None
        # Whoever the line names owns it; with nobody named, it waits for an owner.
        found.setdefault(action.lower(), ActionRow(text=action, owner=owner, source="conversation"))
    return list(found.values())


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip(" .:-")
    text = re.sub(r"^(?:we|you|someone|i) (?:should|need to|must) ", "", text, flags=re.IGNORECASE)
    return (text[:1].upper() + text[1:])[:200]


def rca_actions(record: Record, day: date) -> list[ActionRow]:
    """The analysis' recommendations, as action items with a priority and due date by horizon; the immediate
    one is already done when the timeline shows the trigger undone."""
    rca = record.rca
    if rca is None or rca.recommendations is None or rca.cause is None:
        return []
    rec = rca.recommendations
    horizons = [(rec.immediate, "P0", 1), (rec.short_term, "P1", 7), (rec.medium_term, "P2", 30),
                (rec.long_term, "P3", 90)]
    rows = [ActionRow(text=text[:MAX_ACTION_TEXT], priority=priority, due_on=day + timedelta(days=days),
                      source="root-cause analysis") for text, priority, days in horizons]
    if trigger_undone(record):
        rows[0].status = "done"
    return rows


def trigger_undone(record: Record) -> str | None:
    """How the timeline shows the RCA's trigger undone (the flag turned off, the rollback), if it does."""
    trigger = record.rca.trigger if record.rca else None
    if trigger is None:
        return None
    return next((c.description[:120] for _, c in record.changes()
                 if is_reversal(c) and c.subject == trigger.subject), None)


def existing_actions(actions: list[ActionItem]) -> list[ActionRow]:
    number = numbers(actions)
    return [ActionRow(text=a.text, priority=a.priority, owner=a.owner, due_on=a.due_on, status=a.status,
                      number=number[a.id], source="action item") for a in actions]


def dedup_key(incident_id: int, text: str) -> str:
    """The same suggestion, regenerated, is the same action item."""
    digest = hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()[:16]
    return f"postmortem:{incident_id}:{digest}"


def spans_days(entries: list[TimelineEntry]) -> bool:
    return len({e.at.date() for e in entries}) > 1
