"""An incident's escalation chain: start it, fire its due steps once, acknowledge, pause, resume, cancel.

Plain functions over a session; the caller owns the transaction. Firing a step and recording what it owes
(notifications, pages, war-room lines in the outbox, the timeline entry) happen in one transaction, so a
step is either fired with everything it owes, or not at all. Due steps are claimed with
`FOR UPDATE SKIP LOCKED` on Postgres; SQLite's single writer (BEGIN IMMEDIATE) serialises the same UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.config import TeamConfig
from app.escalations.models import (
    EscalationChain,
    EscalationNotification,
    EscalationStep,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    StepKind,
    StepState,
)
from app.escalations.policy import Condition, EscalationPolicy, TargetType, format_duration
from app.incidents import service
from app.incidents.models import Incident, Source
from app.incidents.render import SLACK_USER_ID

WAITING = (StepState.PENDING, StepState.PAUSED)


def _mention(actor: str) -> str:
    """Slack users as Slack writes them (the timeline keeps mentions); others (cli:alice) as they are."""
    return f"<@{actor}>" if SLACK_USER_ID.match(actor) else actor
CONDITION_WORDS = {Condition.REVENUE_IMPACT: "revenue", Condition.CUSTOMER_IMPACT: "customer"}


@dataclass(frozen=True)
class ChainView:
    """A chain as read for answers: its steps with their notifications, and the outbox's state."""

    chain: EscalationChain
    steps: list[EscalationStep]
    undelivered: list[OutboxMessage] = field(default_factory=list)
    pages_delivered: list[OutboxMessage] = field(default_factory=list)

    @property
    def levels(self) -> list[EscalationStep]:
        return [s for s in self.steps if s.kind == StepKind.LEVEL]

    @property
    def current(self) -> EscalationStep | None:
        fired = [s for s in self.levels if s.state == StepState.FIRED]
        return fired[-1] if fired else None


# --- starting ----------------------------------------------------------------------------------


async def start_chain(session: AsyncSession, incident: Incident, config: TeamConfig, now: datetime
                      ) -> EscalationChain | None:
    """Start the chain of the policy covering the incident, if one does and none is running."""
    policy = config.escalation_policy(incident.severity, incident.affected_service)
    if policy is None or not incident.is_open:
        return None
    if await session.get(EscalationChain, incident.id) is not None:
        return None
    chain = EscalationChain(incident_id=incident.id, policy=policy.name, started_at=now,
                            severity_at_start=incident.severity)
    session.add(chain)
    await session.flush()
    for position, level in enumerate(policy.levels):
        session.add(EscalationStep(
            incident_id=incident.id, position=position, kind=StepKind.LEVEL, name=level.level, role=level.role,
            target_type=level.target_type, target=level.target, delay_seconds=int(level.after.total_seconds()),
            condition=level.also_when, state=StepState.PENDING, due_at=now + level.after))
    await _add_stakeholders(session, incident, policy, chain, now)
    plan = ", ".join(f"{lv.level} {lv.role} " + ("now" if not lv.after else f"after {format_duration(lv.after)}")
                     for lv in policy.levels)
    await service.add_event(session, incident, kind="escalation.started", occurred_at=now,
                            text=f"Escalation policy {policy.name}: {plan}")
    return chain


async def _add_stakeholders(session: AsyncSession, incident: Incident, policy: EscalationPolicy,
                            chain: EscalationChain, now: datetime) -> None:
    """Stakeholders for the incident's severity that the chain does not have yet (a raise can add some)."""
    existing = set(await session.scalars(select(EscalationStep.name).where(
        EscalationStep.incident_id == incident.id, EscalationStep.kind == StepKind.STAKEHOLDER)))
    levels = {s.name: s for s in await _steps(session, incident.id) if s.kind == StepKind.LEVEL}
    for offset, person in enumerate(policy.stakeholders):
        if person.role in existing or (person.severities and incident.severity not in person.severities):
            continue
        if person.with_level is not None:
            level = levels.get(person.with_level)
            due = level.fired_at if level is not None and level.state == StepState.FIRED else None
        else:
            assert person.after is not None
            due = chain.started_at + person.after
        session.add(EscalationStep(
            incident_id=incident.id, position=len(policy.levels) + offset, kind=StepKind.STAKEHOLDER,
            name=person.role, role=person.role, target_type=person.target_type, target=person.target,
            delay_seconds=int(person.after.total_seconds()) if person.after is not None else 0,
            with_level=person.with_level, state=StepState.PENDING, due_at=due and max(due, now)))


# --- reading -----------------------------------------------------------------------------------


async def _steps(session: AsyncSession, incident_id: int) -> list[EscalationStep]:
    return list(await session.scalars(
        select(EscalationStep).options(selectinload(EscalationStep.notifications))
        .where(EscalationStep.incident_id == incident_id).order_by(EscalationStep.position, EscalationStep.id)))


async def view(session: AsyncSession, incident_id: int) -> ChainView | None:
    chain = await session.get(EscalationChain, incident_id)
    if chain is None:
        return None
    outbox = list(await session.scalars(select(OutboxMessage).where(
        OutboxMessage.incident_id == incident_id, OutboxMessage.kind == OutboxKind.PAGE)
        .order_by(OutboxMessage.id)))
    return ChainView(chain, await _steps(session, incident_id),
                     undelivered=[m for m in outbox if m.state == OutboxState.PENDING],
                     pages_delivered=[m for m in outbox if m.state == OutboxState.DELIVERED])


# --- firing ------------------------------------------------------------------------------------


async def claim_due(session: AsyncSession, now: datetime, limit: int = 50) -> list[int]:
    """Mark up to `limit` due steps fired, for this caller only; returns their ids.

    Postgres: rows another process is claiming are skipped, not waited for. SQLite: the transaction
    already holds the only write lock. Either way a step moves from pending to fired exactly once.
    """
    due = (select(EscalationStep.id)
           .where(EscalationStep.state == StepState.PENDING, EscalationStep.due_at <= now)
           .order_by(EscalationStep.due_at, EscalationStep.id).limit(limit)
           .with_for_update(skip_locked=True))
    claimed = await session.execute(
        update(EscalationStep).where(EscalationStep.id.in_(due.scalar_subquery()),
                                     EscalationStep.state == StepState.PENDING)
        .values(state=StepState.FIRED, fired_at=now).returning(EscalationStep.id)
        .execution_options(synchronize_session=False))
    return sorted(claimed.scalars())


async def fire_claimed(session: AsyncSession, step_id: int, now: datetime) -> EscalationStep:
    """Record what a claimed step owes: its notifications or pages, and its line on the timeline."""
    step = await session.get_one(EscalationStep, step_id, populate_existing=True)
    # The timeline is read only to test a condition; most steps have none and skip loading it.
    options = [selectinload(Incident.timeline)] if step.condition else []
    incident = await session.get_one(Incident, step.incident_id, options=options)
    threshold = f"{format_duration(timedelta(seconds=step.delay_seconds))} threshold"
    if step.condition and not _holds(incident, Condition(step.condition)):
        step.state, step.reason = StepState.SKIPPED, f"no {step.condition.replace('_', ' ')} recorded"
        await _say(session, incident, "escalation.skipped", now,
                   f"{step.name} {step.role} not escalated at the {threshold}: {step.reason}")
        return step
    reason = threshold if step.kind == StepKind.LEVEL else f"{threshold} for stakeholders"
    if step.condition:
        reason += f" + {step.condition.replace('_', ' ')}"
    if step.delay_seconds == 0 and step.kind == StepKind.LEVEL:
        reason = "auto"
    step.reason = step.reason or reason
    await _notify(session, incident, step, now)
    return step


def _holds(incident: Incident, condition: Condition) -> bool:
    recorded = incident.revenue_impact if condition == Condition.REVENUE_IMPACT else (
        incident.user_impact or incident.customers_affected)
    if recorded:
        return True
    # Said in a severity change, an escalation reason or an update ("revenue impact increasing").
    word = CONDITION_WORDS[condition]
    return any(word in event.text.lower() for event in incident.timeline
               if event.kind in ("severity_changed", "escalation.manual", "status_update", "note"))


async def _notify(session: AsyncSession, incident: Incident, step: EscalationStep, now: datetime) -> None:
    """What the step owes, as notification rows and outbox messages; the timeline says who and why."""
    verb = "notified" if step.kind == StepKind.STAKEHOLDER else (
        "paged" if TargetType(step.target_type).is_pagerduty else "escalated")
    who = step.name if step.kind == StepKind.LEVEL else "-"
    text = f"{who} {step.role} {verb} ({step.reason})" if who != "-" else f"{step.role} {verb} ({step.reason})"
    await _say(session, incident, "escalation.fired", now, text, actor=step.fired_by)
    target = TargetType(step.target_type)
    if target.is_pagerduty:
        _outbox(session, incident, OutboxKind.PAGE, {"step_id": step.id, "label": f"{step.name} {step.role}"}, now)
    elif target == TargetType.USERGROUP:
        _outbox(session, incident, OutboxKind.NOTIFY_GROUP, {"step_id": step.id, "usergroup": step.target}, now)
    else:
        for user in step.target.split(","):
            await add_person(session, incident, step, user, now)
    for companion in await _companions(session, step):
        companion.state, companion.fired_at, companion.reason = StepState.FIRED, now, f"with {step.name}"
        await _notify(session, incident, companion, now)


async def _companions(session: AsyncSession, step: EscalationStep) -> list[EscalationStep]:
    if step.kind != StepKind.LEVEL:
        return []
    return list(await session.scalars(select(EscalationStep).where(
        EscalationStep.incident_id == step.incident_id, EscalationStep.with_level == step.name,
        EscalationStep.state == StepState.PENDING)))


async def add_person(session: AsyncSession, incident: Incident, step: EscalationStep, slack_user: str,
                     now: datetime, *, name: str | None = None) -> EscalationNotification | None:
    """A Slack user told of a step: a notification row and the DM (with its Acknowledge button) it owes."""
    existing = await session.scalar(select(EscalationNotification).where(
        EscalationNotification.step_id == step.id, EscalationNotification.person == slack_user))
    if existing is not None:
        return None
    notification = EscalationNotification(incident_id=incident.id, step_id=step.id, via="slack", person=slack_user,
                                          person_name=name, slack_user=slack_user)
    session.add(notification)
    await session.flush()
    _outbox(session, incident, OutboxKind.NOTIFY, {"notification_id": notification.id}, now)
    return notification


def _outbox(session: AsyncSession, incident: Incident, kind: OutboxKind, payload: dict[str, Any],
            now: datetime) -> None:
    session.add(OutboxMessage(incident_id=incident.id, kind=kind, payload=payload, state=OutboxState.PENDING,
                              next_attempt_at=now, created_at=now))


async def _say(session: AsyncSession, incident: Incident, kind: str, now: datetime, text: str, *,
               actor: str | None = None, source: Source = Source.SYSTEM, war_room: bool = True) -> None:
    """On the timeline, and owed to the war room."""
    await service.add_event(session, incident, kind=kind, text=text, actor=actor, source=source, occurred_at=now)
    if war_room:
        _outbox(session, incident, OutboxKind.WAR_ROOM, {"text": text}, now)


def tell_war_room(session: AsyncSession, incident: Incident, text: str, now: datetime) -> None:
    _outbox(session, incident, OutboxKind.WAR_ROOM, {"text": text}, now)


# --- escalating and de-escalating by hand ------------------------------------------------------


class EscalationRefused(ValueError):
    """The escalation cannot be done as asked; the message says why."""


async def escalate(session: AsyncSession, incident: Incident, config: TeamConfig, *, by: str, source: Source,
                   reason: str, now: datetime, up_to: str | None = None) -> list[EscalationStep]:
    """Notify the next level now (or every level up to a named one); the chain's clock restarts from here."""
    chain = await session.get(EscalationChain, incident.id)
    if chain is None:
        chain = await start_chain(session, incident, config, now)
        if chain is None:
            raise EscalationRefused(f"No escalation policy covers {incident.public_id} ({incident.severity}"
                                    + (f", {incident.affected_service}" if incident.affected_service else "")
                                    + "); add one under escalation_policies in the team config.")
        await session.flush()
    steps = await _steps(session, incident.id)
    waiting = [s for s in steps if s.kind == StepKind.LEVEL and s.state in WAITING]
    if up_to is not None:
        names = [s.name for s in waiting]
        if up_to not in names:
            raise EscalationRefused(f"{up_to} has already been notified for {incident.public_id}."
                                    if any(s.name == up_to for s in steps) else f"No level {up_to} in the chain.")
        chosen = waiting[:names.index(up_to) + 1]
    elif any(s.kind == StepKind.LEVEL and s.state == StepState.FIRED for s in steps):
        chosen = waiting[:1]
    else:  # nobody told yet: the chain's first levels (those due at once), now
        chosen = [s for s in waiting if s.delay_seconds == 0] or waiting[:1]
    if not chosen:
        raise EscalationRefused(f"Every level of {incident.public_id}'s chain has been notified already.")
    await _say(session, incident, "escalation.manual", now, f"Escalated by {_mention(by)}: {reason}" if reason
               else f"Escalated by {_mention(by)}", actor=by, source=source, war_room=False)
    for step in chosen:
        step.state, step.fired_at, step.fired_by = StepState.FIRED, now, by
        step.reason = f"escalated by {_mention(by)}" + (f": {reason}" if reason else "")
        await _notify(session, incident, step, now)
    chain.paused_at = None
    _reschedule(steps, chosen[-1], now)
    return chosen


async def deescalate(session: AsyncSession, incident: Incident, config: TeamConfig, *, by: str, source: Source,
                     reason: str, now: datetime) -> int:
    """Stop the clock: pending levels wait (or end, when no policy covers the new severity); returns how many."""
    steps = await _steps(session, incident.id)
    policy = config.escalation_policy(incident.severity, incident.affected_service)
    chain = await session.get(EscalationChain, incident.id)
    changed = 0
    for step in steps:
        if step.state not in WAITING:
            continue
        uncovered = policy is None or (chain is not None and policy.name != chain.policy)
        stakeholder_dropped = (step.kind == StepKind.STAKEHOLDER and policy is not None
                               and _stakeholder_severities(policy, step.name, incident.severity) is False)
        if uncovered or stakeholder_dropped:
            step.state, step.due_at = StepState.CANCELLED, None
            step.reason = f"de-escalated to {incident.severity}"
        elif step.kind == StepKind.LEVEL and step.state == StepState.PENDING:
            step.state, step.due_at = StepState.PAUSED, None
        else:
            continue
        changed += 1
    if chain is not None:
        chain.paused_at = now
    text = f"De-escalated to {incident.severity} by {_mention(by)}" + (f": {reason}" if reason else "")
    text += "; further escalation stopped" if changed else ""
    await _say(session, incident, "escalation.deescalated", now, text, actor=by, source=source, war_room=False)
    return changed


def _stakeholder_severities(policy: EscalationPolicy, role: str, severity: str) -> bool | None:
    person = next((p for p in policy.stakeholders if p.role == role), None)
    if person is None:
        return None
    return not person.severities or severity in person.severities


async def severity_changed(session: AsyncSession, incident: Incident, config: TeamConfig, now: datetime) -> None:
    """A raise starts the chain when a policy now covers the incident, and adds the new severity's stakeholders."""
    chain = await session.get(EscalationChain, incident.id)
    if chain is None:
        await start_chain(session, incident, config, now)
        return
    policy = next((p for p in config.escalation_policies if p.name == chain.policy), None)
    if policy is not None and policy.covers(incident.severity, incident.affected_service):
        await _add_stakeholders(session, incident, policy, chain, now)


# --- acknowledging, pausing, resuming, cancelling ----------------------------------------------


async def acknowledge(session: AsyncSession, incident: Incident, notification: EscalationNotification, *,
                      via: str, now: datetime) -> bool:
    """Record the acknowledgement once; acknowledging the current level pauses the chain. False if already done."""
    if notification.acknowledged_at is not None:
        return False
    notification.acknowledged_at, notification.acknowledged_via = now, via
    step = await session.get_one(EscalationStep, notification.step_id)
    who = f"<@{notification.slack_user}>" if notification.slack_user else (notification.person_name or "someone")
    label = f"{step.name} {step.role}" if step.kind == StepKind.LEVEL else step.role
    steps = await _steps(session, incident.id)
    chain = await session.get_one(EscalationChain, incident.id)
    current = ChainView(chain, steps).current
    pausing = current is not None and current.id == step.id and any(
        s.state == StepState.PENDING and s.kind == StepKind.LEVEL for s in steps)
    text = f"{label} {who} acknowledged" + (" (in PagerDuty)" if via == "pagerduty" else "")
    if pausing:
        for waiting in steps:
            if waiting.kind == StepKind.LEVEL and waiting.state == StepState.PENDING:
                waiting.state, waiting.due_at = StepState.PAUSED, None
        chain.paused_at = now
        text += "; escalation paused"
    await _say(session, incident, "escalation.acknowledged", now, text, actor=notification.slack_user)
    if via != "pagerduty" and chain.pagerduty_triggered_at is not None:
        _outbox(session, incident, OutboxKind.PAGERDUTY_EVENT, {"action": "acknowledge"}, now)
    return True


async def resume(session: AsyncSession, incident: Incident, now: datetime, why: str) -> bool:
    """Start the clock again from now, as if the current level had just been notified."""
    steps = await _steps(session, incident.id)
    chain = await session.get(EscalationChain, incident.id)
    paused = [s for s in steps if s.state == StepState.PAUSED]
    if chain is None or not paused:
        return False
    for step in paused:
        step.state = StepState.PENDING
    chain.paused_at = None
    current = ChainView(chain, steps).current
    _reschedule(steps, current, now)
    nxt = next((s for s in steps if s.state == StepState.PENDING and s.kind == StepKind.LEVEL), None)
    when = f"; {nxt.name} {nxt.role} at {nxt.due_at:%H:%M} UTC" if nxt and nxt.due_at else ""
    await _say(session, incident, "escalation.resumed", now, f"Escalation resumed ({why}){when}")
    return True


def _reschedule(steps: list[EscalationStep], anchor: EscalationStep | None, at: datetime) -> None:
    """Pending levels keep their spacing after the anchor level, counted from `at`."""
    base = anchor.delay_seconds if anchor is not None else 0
    for step in steps:
        if step.kind == StepKind.LEVEL and step.state == StepState.PENDING:
            step.due_at = at + timedelta(seconds=max(step.delay_seconds - base, 0))


async def cancel(session: AsyncSession, incident: Incident, now: datetime, why: str) -> int:
    """Resolving ends the chain: nothing pending fires, undelivered pages are dropped, PagerDuty resolves."""
    chain = await session.get(EscalationChain, incident.id)
    if chain is None:
        return 0
    steps = await _steps(session, incident.id)
    waiting = [s for s in steps if s.state in WAITING]
    for step in waiting:
        step.state, step.due_at, step.reason = StepState.CANCELLED, None, why
    dropped = await session.execute(
        update(OutboxMessage).where(OutboxMessage.incident_id == incident.id,
                                    OutboxMessage.state == OutboxState.PENDING,
                                    OutboxMessage.kind.in_([OutboxKind.PAGE, OutboxKind.NOTIFY,
                                                            OutboxKind.NOTIFY_GROUP]))
        .values(state=OutboxState.CANCELLED, last_error=why).execution_options(synchronize_session=False))
    if chain.pagerduty_triggered_at is not None:
        _outbox(session, incident, OutboxKind.PAGERDUTY_EVENT, {"action": "resolve"}, now)
    if waiting or dropped.rowcount:  # type: ignore[attr-defined]
        await service.add_event(session, incident, kind="escalation.cancelled", occurred_at=now,
                                text=f"Escalation ended ({why}): {len(waiting)} pending step(s) cancelled")
    return len(waiting)
