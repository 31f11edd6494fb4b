"""Declaring an incident: validation, de-duplication, the transaction around it, then its war room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.incident_commander import SeverityAssessment, assess_severity
from app.config import TeamConfig
from app.escalations import service as escalations
from app.incidents import service
from app.incidents.models import Incident, Source
from app.incidents.reminders import schedule_next_update
from app.metrics import incidents_declared

if TYPE_CHECKING:
    from app.warroom.flows import StepReport, WarRoom

MAX_TITLE = 500


class InvalidDeclaration(ValueError):
    """The declaration cannot be recorded as given; the message says what to change."""


@dataclass(frozen=True)
class Declaration:
    title: str
    declared_by: str
    source: Source
    severity: str | None = None
    description: str | None = None
    affected_service: str | None = None
    is_private: bool | None = None


@dataclass(frozen=True)
class Declared:
    incident: Incident
    duplicate: bool  # this request had already declared it
    assessment: SeverityAssessment | None = None  # why this severity, when the declarer gave none


def severity_help(config: TeamConfig) -> str:
    return ", ".join(s.name for s in config.severities)


def validate(declaration: Declaration, config: TeamConfig) -> tuple[Declaration, SeverityAssessment | None]:
    """Normalise a declaration or raise InvalidDeclaration saying what is wrong.

    With no severity given, the incident commander assesses one from the title and description.
    """
    title = " ".join(declaration.title.split())
    if not title:
        raise InvalidDeclaration("The incident needs a title.")
    if len(title) > MAX_TITLE:
        raise InvalidDeclaration(f"The title is {len(title)} characters; keep it under {MAX_TITLE}.")
    assessment = None
    if declaration.severity:
        severity = declaration.severity.upper()
    else:
        assessment = assess_severity(title, declaration.description, config)
        severity = assessment.severity
    if config.severity(severity) is None:
        raise InvalidDeclaration(f"Unknown severity {severity}. Use one of {severity_help(config)}.")
    return Declaration(
        title=title,
        declared_by=declaration.declared_by,
        source=declaration.source,
        severity=severity,
        description=(declaration.description or "").strip() or None,
        affected_service=declaration.affected_service or config.service_for(title),
        is_private=config.private_channels if declaration.is_private is None else declaration.is_private,
    ), assessment


async def declare(
    sessions: async_sessionmaker[AsyncSession],
    config: TeamConfig,
    declaration: Declaration,
    *,
    request_key: str | None = None,
    war_room: service.WarRoomLease | None = None,
) -> Declared:
    """Validate and durably record a declaration; a repeated request returns the first incident."""
    valid, assessment = validate(declaration, config)
    try:
        incident = await _record(sessions, config, valid, request_key, war_room)
        return Declared(incident, duplicate=False, assessment=assessment)
    except IntegrityError:
        # This request was already recorded (a retry, or a duplicate delivery that raced us).
        if request_key is None:
            raise
        async with sessions() as session:
            incident = await service.incident_for_request(session, request_key)
        if incident is None:
            raise
        return Declared(incident, duplicate=True)


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    config: TeamConfig,
    valid: Declaration,
    request_key: str | None,
    war_room: service.WarRoomLease | None,
) -> Incident:
    # A request seen before fails on the processed-request key; declare() turns that into the first
    # incident. Checking first would cost every declaration a query to spare the rare retry one.
    async with sessions() as session, session.begin():
        assert valid.severity is not None
        incident = await service.create_incident(
            session,
            title=valid.title,
            severity=valid.severity,
            declared_by=valid.declared_by,
            source=valid.source,
            description=valid.description,
            affected_service=valid.affected_service,
            is_private=bool(valid.is_private),
            war_room=war_room,
            request_key=request_key,
            next_actions=[a.format(service=valid.affected_service or "the affected service")
                          for a in config.next_actions],
        )
        schedule_next_update(incident, config, incident.declared_at)
        if config.escalation_policy(incident.severity, incident.affected_service) is not None:
            await session.flush()  # the chain's rows need the incident's id
            await escalations.start_chain(session, incident, config, incident.declared_at)
    return incident


class DeclaringPlace(Protocol):
    """What a declaration needs from the process it runs in (the runtime, in every adapter)."""

    sessions: async_sessionmaker[AsyncSession]
    config: TeamConfig

    @property
    def war_room(self) -> WarRoom | None: ...

    @property
    def war_room_lease(self) -> service.WarRoomLease | None: ...

    def kick_escalations(self) -> None: ...

    def background(self, work: Coroutine[Any, Any, Any]) -> None: ...


@dataclass(frozen=True)
class Opened:
    declared: Declared
    # How each war-room step went; None when no war room was opened here (duplicate, Slack off,
    # opened in the background, or another process holds the set-up).
    reports: list[StepReport] | None = None


async def declare_and_open(
    place: DeclaringPlace,
    declaration: Declaration,
    *,
    request_key: str | None = None,
    recorded: Callable[[Declared], Awaitable[None]] | None = None,
    wait_for_war_room: bool = True,
    kick_escalations: bool = True,
) -> Opened:
    """Declare an incident and open its war room: the one path for Slack, the CLI and the API.

    `recorded` runs once the incident has committed and before the war room opens, so the declarer
    hears the id even if Slack is slow. `kick_escalations=False` suits a short-lived process: the
    service's escalation loop fires the due levels from their rows.
    """
    declared = await declare(place.sessions, place.config, declaration, request_key=request_key,
                             war_room=place.war_room_lease)
    if declared.duplicate:
        return Opened(declared)
    incidents_declared.labels(declared.incident.severity, declaration.source).inc()
    if kick_escalations:
        place.kick_escalations()  # the first levels are due at once
    if recorded is not None:
        await recorded(declared)
    war_room = place.war_room
    if war_room is None:
        return Opened(declared)
    if not wait_for_war_room:
        # A dead process leaves the set-up to the resume sweep of the next one.
        place.background(war_room.set_up(declared.incident.id))
        return Opened(declared)
    return Opened(declared, await war_room.set_up(declared.incident.id))
