"""Escalating and de-escalating an incident by hand, with a severity change, in one transaction.

Shared by `/incident escalate|deescalate`, the CLI and the escalation-manager agent, so a severity given
with an escalation goes through the same domain change as `/incident severity`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import TeamConfig
from app.db.base import utcnow
from app.escalations import service
from app.escalations.models import EscalationChain, EscalationStep
from app.escalations.service import EscalationRefused
from app.incidents import lifecycle
from app.incidents import service as incidents
from app.incidents.lifecycle import Actor, IncidentChangeRefused
from app.incidents.models import Incident


@dataclass(frozen=True)
class Escalated:
    incident: Incident
    previous_severity: str | None  # set when the severity changed
    notified: list[EscalationStep]  # escalate: the levels notified now
    stopped: int = 0  # deescalate: how many pending steps were held or cancelled

    def summary(self) -> str:
        change = f" to {self.incident.severity}" if self.previous_severity else ""
        if self.notified:
            levels = ", ".join(f"{s.name} {s.role}" for s in self.notified)
            return f"Escalated {self.incident.public_id}{change}: notifying {levels} now."
        return f"De-escalated {self.incident.public_id}{change}" + (
            "; further escalation stopped." if self.stopped else ".")


def _order(config: TeamConfig, severity: str) -> int:
    names = config.severity_names
    return names.index(severity) if severity in names else len(names)


async def escalate(sessions: async_sessionmaker[AsyncSession], config: TeamConfig, incident_id: int, *,
                   actor: Actor, severity: str | None, reason: str) -> Escalated:
    async with sessions() as session, session.begin():
        incident = await incidents.get_incident_by_id(session, incident_id, lock=True)
        if not incident.is_open:
            raise IncidentChangeRefused(f"{incident.public_id} is {incident.status.lower()}; reopen it first.")
        previous = None
        if severity and severity.upper() != incident.severity:
            if _order(config, severity.upper()) > _order(config, incident.severity):
                raise IncidentChangeRefused(f"{severity.upper()} is lower than {incident.severity}; use "
                                            f"`/incident deescalate {severity.upper()} <reason>`.")
            previous = await lifecycle.change_severity(session, incident, severity, reason or None, actor, config,
                                                       utcnow())
        chain = await session.get(EscalationChain, incident.id)
        policy_name = chain.policy if chain else None
        policy = next((p for p in config.escalation_policies if p.name == policy_name), None) or \
            config.escalation_policy(incident.severity, incident.affected_service)
        up_to = policy.named_in(reason) if policy is not None and reason else None
        notified = await service.escalate(session, incident, config, by=actor.user_id, source=actor.source,
                                          reason=reason, now=utcnow(), up_to=up_to)
        return Escalated(incident, previous, notified)


async def deescalate(sessions: async_sessionmaker[AsyncSession], config: TeamConfig, incident_id: int, *,
                     actor: Actor, severity: str | None, reason: str) -> Escalated:
    async with sessions() as session, session.begin():
        incident = await incidents.get_incident_by_id(session, incident_id, lock=True)
        previous = None
        if severity and severity.upper() != incident.severity:
            if _order(config, severity.upper()) < _order(config, incident.severity):
                raise IncidentChangeRefused(f"{severity.upper()} is higher than {incident.severity}; use "
                                            f"`/incident escalate {severity.upper()} <reason>`.")
            previous = await lifecycle.change_severity(session, incident, severity, reason or None, actor, config,
                                                       utcnow())
        elif not incident.is_open:
            raise IncidentChangeRefused(f"{incident.public_id} is {incident.status.lower()}.")
        stopped = await service.deescalate(session, incident, config, by=actor.user_id, source=actor.source,
                                           reason=reason, now=utcnow())
        return Escalated(incident, previous, [], stopped)


__all__ = ["Escalated", "EscalationRefused", "deescalate", "escalate"]
