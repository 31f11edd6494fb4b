"""The question corpus's incident records (tests/agent_corpus/questions) as the store holds them.

`incident_of` builds the ORM objects in memory (for scoring the commander without a database); `store`
writes the same rows into a real database, so the running app answers them over Slack and the CLI.
The corpus's timeline kinds map onto the store's: a deploy or change someone recorded is a note, an
acknowledgement is the escalation acknowledgement, an action added or done is an action-item entry.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agents.base import AgentRequest
from app.action_items.models import ActionItem, ActionStatus, Priority
from app.config import TeamConfig
from app.incidents.models import Incident, NextAction, RoleAssignment, Source, Status, TimelineEvent, TranscriptMessage
from tests.agent_corpus.corpus import IncidentRecord

ROLES = {"ic": "Incident Commander", "comms": "Communications", "scribe": "Scribe", "sme": "Subject Expert",
         "postmortem": "Postmortem Owner"}
KINDS = {"alert": "alert", "acknowledged": "escalation.acknowledged", "declared": "declared",
         "role_assigned": "role_assigned", "note": "note", "status_update": "status_update", "deploy": "note",
         "change": "note", "severity_changed": "severity_changed", "action_added": "action_item",
         "action_done": "action_item", "mitigated": "note", "resolved": "resolved", "reopened": "reopened",
         "message": "pinned_message"}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _timeline(record: IncidentRecord, shift: timedelta) -> list[TimelineEvent]:
    events = [TimelineEvent(kind=KINDS[e.kind], text=e.text, actor=e.author, occurred_at=at(e.at) + shift,
                            source=Source.SLACK) for e in record.timeline]
    if record.impact_started_at:
        events.append(TimelineEvent(kind="impact_started", text="Impact started", occurred_at=at(
            record.impact_started_at) + shift, source=Source.SLACK))
    if record.acknowledged_at and not any(e.kind == "acknowledged" for e in record.timeline):
        events.append(TimelineEvent(kind="escalation.acknowledged", text="The page was acknowledged",
                                    occurred_at=at(record.acknowledged_at) + shift, source=Source.SLACK))
    return sorted(events, key=lambda e: e.occurred_at)


def _roles(record: IncidentRecord, shift: timedelta) -> list[RoleAssignment]:
    declared = at(record.declared_at) + shift

    def since(user: str) -> datetime:
        named = [at(e.at) + shift for e in record.timeline if e.kind == "role_assigned" and user in e.text]
        return named[0] if named else declared

    return [RoleAssignment(role=ROLES[r.role], user_id=r.user, status="Active", since=since(r.user))
            for r in record.roles]


def _next_update(record: IncidentRecord, config: TeamConfig, shift: timedelta) -> datetime | None:
    if record.status in ("RESOLVED", "CLOSED"):
        return None
    updates = [at(e.at) for e in record.timeline if e.kind == "status_update"]
    cadence = config.update_cadence(record.severity) or 60
    return max([at(record.declared_at), *updates]) + timedelta(minutes=cadence) + shift


def incident_of(record: IncidentRecord, config: TeamConfig, incident_id: int | None = 1,
                shift: timedelta = timedelta(0)) -> Incident:
    """The record as loaded from the store; `shift` moves every time (to make `as_of` now)."""
    declared = at(record.declared_at) + shift
    impact = record.impact
    user_impact = "; ".join(x for x in (impact.customers_affected, impact.error_rate) if x) or None
    incident = Incident(
        id=incident_id, public_id=record.incident_id, day=record.incident_id[4:8] + record.incident_id[9:13],
        seq=int(record.incident_id[-3:]), title=record.title, description=record.description,
        severity=record.severity, status=Status(record.status), affected_service=record.service,
        user_impact=user_impact, revenue_impact=impact.revenue, regions=", ".join(impact.regions or []) or None,
        declared_by=record.declared_by, declared_at=declared,
        resolved_at=at(record.resolved_at) + shift if record.resolved_at else None,
        next_update_due=_next_update(record, config, shift), channel_id=f"C0{record.id.upper().replace('-', '')[:9]}",
        channel_name=record.incident_id.lower())
    incident.timeline = _timeline(record, shift)
    incident.roles = _roles(record, shift)
    incident.next_actions = [NextAction(position=n, text=a.text, done_at=declared if a.done else None)
                             for n, a in enumerate(record.next_actions)]
    return incident


def transcript_of(record: IncidentRecord, incident_id: int = 1,
                  shift: timedelta = timedelta(0)) -> list[TranscriptMessage]:
    return [TranscriptMessage(incident_id=incident_id, ts=f"{(at(m.at) + shift).timestamp():.6f}", user_id=m.user,
                              text=m.text, posted_at=at(m.at) + shift) for m in record.transcript]


def items_of(record: IncidentRecord, incident_id: int | None = 1) -> list[ActionItem]:
    return [ActionItem(id=a.number, incident_id=incident_id, text=a.text, owner=a.owner,
                       priority=Priority(a.priority or "P2"), due_on=date.fromisoformat(a.due) if a.due else None,
                       status=ActionStatus(a.status), source="slack", created_at=at(record.declared_at))
            for a in sorted(record.action_items, key=lambda a: a.number)]


def request_for(record: IncidentRecord, question: str, config: TeamConfig) -> AgentRequest:
    incident = incident_of(record, config)
    return AgentRequest(text=question, now=at(record.as_of), config=config, incident=incident,
                        transcript=transcript_of(record), open_incidents=[incident] if incident.is_open else [],
                        action_items=items_of(record))


async def store(session: AsyncSession, record: IncidentRecord, config: TeamConfig, channel_id: str,
                now: datetime) -> Incident:
    """The record's rows in the database, as of `now`, its war room the given channel; the caller commits."""
    shift = now - at(record.as_of)
    incident = incident_of(record, config, incident_id=None, shift=shift)
    incident.channel_id = channel_id
    session.add(incident)
    await session.flush()
    session.add_all(transcript_of(record, incident.id, shift))
    for item in items_of(record, incident.id):
        item.id = None  # type: ignore[assignment]
        session.add(item)
        await session.flush()  # ids in number order: an item's number is its rank by id
    return incident


def stored(database_url: str, record: IncidentRecord, channel_id: str, config: TeamConfig | None = None) -> str:
    """Write the record into the database at `database_url`, as of now; its public id."""
    from app.db.base import utcnow
    from app.db.engine import create_db_engine, session_factory

    async def work() -> str:
        engine = create_db_engine(database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                incident = await store(session, record, config or TeamConfig(), channel_id, utcnow())
                return incident.public_id
        finally:
            await engine.dispose()

    return asyncio.run(work())
