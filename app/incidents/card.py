"""The incident card: the facts the declaration card shows, gathered once for every renderer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from app.config import TeamConfig
from app.incidents.models import Incident, Role, TimelineEvent


class RoleRow(BaseModel):
    role: str
    assignee: str | None
    status: str


class ActionRow(BaseModel):
    id: int
    text: str
    done: bool
    done_by: str | None = None


class TimelineRow(BaseModel):
    at: datetime
    text: str
    actor: str | None = None


class IncidentCard(BaseModel):
    public_id: str
    title: str
    severity: str
    severity_meaning: str
    status: str
    declared_at: datetime
    commander: str | None
    affected_service: str | None
    user_impact: str | None
    revenue_impact: str | None
    regions: str | None
    description: str | None
    roles: list[RoleRow]
    timeline: list[TimelineRow]
    next_actions: list[ActionRow]
    last_update: TimelineRow | None
    summary: str | None
    channel_id: str | None
    channel_name: str | None
    announce_channel: str
    bridge_url: str | None
    status_page_url: str | None

    @property
    def is_open(self) -> bool:
        return self.status not in ("RESOLVED", "CLOSED")

    @property
    def spans_days(self) -> bool:
        return len({row.at.date() for row in self.timeline} | {self.declared_at.date()}) > 1


def build_card(incident: Incident, config: TeamConfig, announce_channel: str) -> IncidentCard:
    level = config.severity(incident.severity)
    updates = [e for e in incident.timeline if e.kind == "status_update"]
    return IncidentCard(
        public_id=incident.public_id,
        title=incident.title,
        severity=incident.severity,
        severity_meaning=level.meaning if level else "custom severity",
        status=incident.status,
        declared_at=incident.declared_at,
        commander=incident.active_holder(Role.INCIDENT_COMMANDER),
        affected_service=incident.affected_service,
        user_impact=incident.user_impact,
        revenue_impact=incident.revenue_impact,
        regions=incident.regions,
        description=incident.description,
        roles=_role_rows(incident, config),
        timeline=[_row(e) for e in incident.timeline],
        next_actions=[ActionRow(id=a.id, text=a.text, done=a.done_at is not None, done_by=a.done_by)
                      for a in incident.next_actions],
        last_update=_row(updates[-1]) if updates else None,
        summary=incident.summary,
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        announce_channel=announce_channel,
        bridge_url=config.bridge_url,
        status_page_url=config.status_page_url,
    )


def _row(event: TimelineEvent) -> TimelineRow:
    return TimelineRow(at=event.occurred_at, text=event.text, actor=event.actor)


def _role_rows(incident: Incident, config: TeamConfig) -> list[RoleRow]:
    """Active holders in the configured role order, then the roles nobody holds yet."""
    active = [r for r in incident.roles if r.ended_at is None]
    rows = [RoleRow(role=r.role, assignee=r.user_id, status=r.status) for r in active]
    held = {r.role for r in active}
    rows += [RoleRow(role=spec.name, assignee=None, status="Unassigned")
             for spec in config.roles if spec.name not in held and spec.listed_when_open]
    order = {spec.name: index for index, spec in enumerate(config.roles)}
    return sorted(rows, key=lambda row: order.get(row.role, len(order)))
