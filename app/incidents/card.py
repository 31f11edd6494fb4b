"""The incident card: the facts the declaration card shows, gathered once for every renderer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from app.config import TeamConfig
from app.incidents.models import Incident, Role


class RoleRow(BaseModel):
    role: str
    assignee: str | None
    status: str


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
    next_actions: list[str]
    channel_id: str | None
    channel_name: str | None
    announce_channel: str
    bridge_url: str | None
    status_page_url: str | None

    @property
    def spans_days(self) -> bool:
        return len({row.at.date() for row in self.timeline} | {self.declared_at.date()}) > 1


def build_card(incident: Incident, config: TeamConfig, announce_channel: str) -> IncidentCard:
    level = config.severity(incident.severity)
    service = incident.affected_service or "the affected service"
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
        roles=_role_rows(incident),
        timeline=[TimelineRow(at=e.occurred_at, text=e.text, actor=e.actor) for e in incident.timeline],
        next_actions=[action.format(service=service) for action in config.next_actions],
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        announce_channel=announce_channel,
        bridge_url=config.bridge_url,
        status_page_url=config.status_page_url,
    )


def _role_rows(incident: Incident) -> list[RoleRow]:
    active = [r for r in incident.roles if r.ended_at is None]
    rows = [RoleRow(role=r.role, assignee=r.user_id, status=r.status) for r in active]
    held = {r.role for r in active}
    rows += [RoleRow(role=role, assignee=None, status="Unassigned") for role in Role if role not in held]
    order = {role.value: index for index, role in enumerate(Role)}
    return sorted(rows, key=lambda row: order.get(row.role, len(order)))
