"""The escalation clock and its outbox: fire what came due, then deliver what is owed to PagerDuty and Slack.

`Escalations.run_once()` is the whole job; the service runs it every few seconds in every process (and right
after a declaration or an escalation). Both halves are claimed in the database, so several processes share
the work and nothing goes out twice: due steps by `claim_due`, outbox messages by a compare-and-set on their
next attempt time, which also acts as a lease (a process that dies mid-delivery leaves the message to be
retried once the lease runs out). A page PagerDuty cannot take now is kept and retried with a growing wait,
and the war room hears, once, that paging is delayed or refused, and again when it went through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.escalations import service
from app.escalations.models import (
    EscalationChain,
    EscalationNotification,
    EscalationStep,
    OutboxKind,
    OutboxMessage,
    OutboxState,
)
from app.escalations.policy import TargetType
from app.incidents import service as incidents
from app.incidents.models import Incident, SetupState
from app.integrations.pagerduty import OnCall, PagerDuty, PagingError, PagingRefused, PagingUnavailable

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # how long one process may hold a message it is delivering
MAX_WAIT = timedelta(minutes=5)
BATCH = 50


class TryLater(Exception):
    """The messenger could not deliver now (rate limited, unreachable); the message is kept."""


class Undeliverable(Exception):
    """The messenger refused the message for good (no such user); said in the war room."""


@dataclass(frozen=True)
class Notice:
    """What a person is told: enough to write the message and its Acknowledge button."""

    notification_id: int
    slack_user: str
    public_id: str
    title: str
    severity: str
    channel_id: str | None
    level: str
    role: str
    reason: str


class Messenger(Protocol):
    """The chat side of escalation (Slack): direct messages, war-room lines, user groups, people by email."""

    async def notify(self, notice: Notice) -> tuple[str, str]:
        """DM the person; returns the message's channel and ts."""

    async def post(self, channel_id: str, text: str) -> None: ...

    async def members(self, usergroup: str) -> list[str]: ...

    async def user_for_email(self, email: str) -> str | None: ...


@dataclass
class Escalations:
    sessions: async_sessionmaker[AsyncSession]
    pagerduty: PagerDuty | None
    messenger: Messenger | None
    first_wait: timedelta = timedelta(seconds=2)
    clock: Callable[[], datetime] = utcnow
    # Deliveries in flight at once: pages wait on PagerDuty, not on each other (the Postgres pool has 10).
    concurrency: int = 6

    async def run_once(self) -> tuple[int, int]:
        """Fire every due step, then deliver every message owed; returns (fired, delivered)."""
        fired = await self.fire_due()
        return fired, await self.deliver_due()

    # --- the clock ---------------------------------------------------------------------------

    async def fire_due(self) -> int:
        fired = 0
        while True:
            now = self.clock()
            async with self.sessions() as session, session.begin():
                claimed = await service.claim_due(session, now, BATCH)
                for step_id in claimed:
                    await service.fire_claimed(session, step_id, now)
            fired += len(claimed)
            if len(claimed) < BATCH:
                return fired

    # --- the outbox --------------------------------------------------------------------------

    async def deliver_due(self, passes: int = 4) -> int:
        """Deliver what is due; what a delivery adds (a war-room line after a page) goes out in the same round."""
        delivered = 0
        if self.messenger is None:
            await self._nowhere_to_post()
        slots = asyncio.Semaphore(self.concurrency)

        async def one(message_id: int, seen: datetime) -> tuple[bool, bool]:
            async with slots:
                if not await self._claim(message_id, seen):
                    return False, False
                return True, await self._deliver(message_id)

        for _ in range(passes):
            async with self.sessions() as session:
                due = list(await session.execute(
                    select(OutboxMessage.id, OutboxMessage.next_attempt_at)
                    .where(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= self.clock())
                    .order_by(OutboxMessage.id).limit(500)))
            results = await asyncio.gather(*(one(message_id, seen) for message_id, seen in due))
            delivered += sum(ok for _, ok in results)
            if not any(claimed for claimed, _ in results):
                break
        return delivered

    async def _nowhere_to_post(self) -> None:
        """Without Slack there is no war room: its lines are on the timeline already, so they are done."""
        async with self.sessions() as session, session.begin():
            await session.execute(update(OutboxMessage).where(
                OutboxMessage.kind == OutboxKind.WAR_ROOM, OutboxMessage.state == OutboxState.PENDING)
                .values(state=OutboxState.DELIVERED, delivered_at=self.clock(), last_error="Slack is not configured")
                .execution_options(synchronize_session=False))

    async def _claim(self, message_id: int, seen: datetime) -> bool:
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.state == OutboxState.PENDING,
                       OutboxMessage.next_attempt_at == seen)
                .values(next_attempt_at=self.clock() + LEASE, attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False))
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def _deliver(self, message_id: int) -> bool:
        async with self.sessions() as session:
            message = await session.get_one(OutboxMessage, message_id)
            incident = await session.get_one(Incident, message.incident_id)
        handler = {
            OutboxKind.WAR_ROOM: self._war_room, OutboxKind.NOTIFY: self._notify,
            OutboxKind.NOTIFY_GROUP: self._notify_group, OutboxKind.PAGE: self._page,
            OutboxKind.PAGERDUTY_EVENT: self._pagerduty_event,
        }[OutboxKind(message.kind)]
        try:
            await handler(message, incident)
        except (PagingUnavailable, TryLater) as error:
            await self._retry(message, incident, str(error), refused=False)
            return False
        except PagingRefused as error:
            await self._retry(message, incident, str(error), refused=True)
            return False
        except Undeliverable as error:
            await self._give_up(message, incident, str(error))
            return False
        return True

    async def _done(self, session: AsyncSession, message: OutboxMessage, incident: Incident) -> None:
        """Mark delivered (inside the caller's transaction); a page that had been delayed says it went out."""
        now = self.clock()
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                              .values(state=OutboxState.DELIVERED, delivered_at=now, last_error=None))
        if message.told_delay:
            service.tell_war_room(session, incident, f":white_check_mark: {_what(message)} went through after "
                                  f"{message.attempts} attempts.", now)

    async def _retry(self, message: OutboxMessage, incident: Incident, reason: str, *, refused: bool) -> None:
        now = self.clock()
        wait = min(self.first_wait * 2 ** max(message.attempts - 1, 0), MAX_WAIT)
        log.warning("%s for %s not delivered (attempt %s, next in %ss): %s", message.kind, incident.public_id,
                    message.attempts, int(wait.total_seconds()), reason)
        async with self.sessions() as session, session.begin():
            told = message.kind != OutboxKind.WAR_ROOM  # war-room lines wait quietly for their channel
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(
                next_attempt_at=now + wait, last_error=reason[:1000], told_delay=told))
            if message.told_delay or not told:
                return
            stored = await session.get_one(Incident, incident.id)
            if refused:
                text = (f":warning: PagerDuty refused {_what(message)}: {reason}. Nothing is lost: it is kept and "
                        "retried until it goes through (check the PAGERDUTY_* settings).")
            else:
                text = (f":hourglass: Paging is delayed: {_what(message)} could not be delivered ({reason}). "
                        "It is kept and retried with backoff.")
            kind = "paging.refused" if refused else "paging.delayed"
            await incidents.add_event(session, stored, kind=kind, text=text, occurred_at=now)
            service.tell_war_room(session, stored, text, now)

    async def _give_up(self, message: OutboxMessage, incident: Incident, reason: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                                  .values(state=OutboxState.FAILED, last_error=reason[:1000]))
            if message.kind != OutboxKind.WAR_ROOM:
                stored = await session.get_one(Incident, incident.id)
                text = f":warning: Could not deliver {_what(message)}: {reason}"
                await incidents.add_event(session, stored, kind="escalation.failed", text=text,
                                          occurred_at=self.clock())
                service.tell_war_room(session, stored, text, self.clock())

    # --- each kind of message ----------------------------------------------------------------

    async def _war_room(self, message: OutboxMessage, incident: Incident) -> None:
        if self.messenger is None or (incident.channel_id is None and incident.setup_state == SetupState.DONE):
            await self._finish(message, incident)  # nowhere to post: the timeline has it
            return
        if incident.channel_id is None:
            raise TryLater("the war room is still being set up")
        await self.messenger.post(incident.channel_id, str(message.payload["text"]))
        await self._finish(message, incident)

    async def _finish(self, message: OutboxMessage, incident: Incident) -> None:
        async with self.sessions() as session, session.begin():
            await self._done(session, message, incident)

    async def _notify(self, message: OutboxMessage, incident: Incident) -> None:
        if self.messenger is None:
            raise Undeliverable("Slack is not configured, so nobody can be messaged")
        async with self.sessions() as session:
            notification = await session.get_one(EscalationNotification, message.payload["notification_id"])
            step = await session.get_one(EscalationStep, notification.step_id)
        assert notification.slack_user is not None
        channel, ts = await self.messenger.notify(Notice(
            notification.id, notification.slack_user, incident.public_id, incident.title, incident.severity,
            incident.channel_id, step.name, step.role, step.reason or ""))
        async with self.sessions() as session, session.begin():
            stored = await session.get_one(EscalationNotification, notification.id)
            stored.notified_at, stored.dm_channel, stored.dm_ts = self.clock(), channel, ts
            await self._done(session, message, incident)

    async def _notify_group(self, message: OutboxMessage, incident: Incident) -> None:
        if self.messenger is None:
            raise Undeliverable("Slack is not configured, so the user group cannot be read")
        members = await self.messenger.members(str(message.payload["usergroup"]))
        async with self.sessions() as session, session.begin():
            step = await session.get_one(EscalationStep, message.payload["step_id"])
            stored = await session.get_one(Incident, incident.id)
            for user in members:
                await service.add_person(session, stored, step, user, self.clock())
            if not members:
                service.tell_war_room(session, stored, f":warning: User group {message.payload['usergroup']} "
                                      f"for {step.name} {step.role} has nobody in it.", self.clock())
            await self._done(session, message, incident)

    async def _page(self, message: OutboxMessage, incident: Incident) -> None:
        """Trigger (the first PagerDuty level) or add responders (later ones), then record who is on call."""
        if self.pagerduty is None or self.pagerduty.events is None:
            raise PagingRefused("PAGERDUTY_ROUTING_KEY is not set")
        async with self.sessions() as session:
            step = await session.get_one(EscalationStep, message.payload["step_id"])
            chain = await session.get_one(EscalationChain, incident.id)
        target = TargetType(step.target_type)
        pagerduty_incident = chain.pagerduty_incident_id
        if chain.pagerduty_triggered_at is None:
            await self.pagerduty.trigger(incident.public_id, f"{incident.public_id} ({incident.severity}): "
                                         f"{incident.title}", incident.severity,
                                         {"incident": incident.public_id, "severity": incident.severity,
                                          "level": f"{step.name} {step.role}", "reason": step.reason or ""}, [])
            on_call, problem = await self._on_call(step, target)  # after the page: it matters more than a name
        else:
            pagerduty_incident = pagerduty_incident or await self._pagerduty_incident(incident)
            on_call, problem = await self._on_call(step, target)
            people = on_call or []
            targets = ([{"id": step.target, "type": "escalation_policy_reference"}]
                       if target == TargetType.PAGERDUTY_ESCALATION_POLICY
                       else [{"id": p.user_id, "type": "user_reference"} for p in people])
            if not targets:
                raise PagingRefused(f"nobody is on call on schedule {step.target} to add as a responder")
            await self.pagerduty.add_responders(pagerduty_incident, targets,
                                                f"{incident.public_id}: {step.name} {step.role} ({step.reason})")
        slack_users = {p.user_id: await self._slack_user(p.email) for p in on_call or []}
        now = self.clock()
        async with self.sessions() as session, session.begin():
            stored_chain = await session.get_one(EscalationChain, incident.id)
            stored_chain.pagerduty_triggered_at = stored_chain.pagerduty_triggered_at or now
            stored_chain.pagerduty_incident_id = pagerduty_incident or stored_chain.pagerduty_incident_id
            stored = await incidents.get_incident_by_id(session, incident.id)
            names = []
            for person in on_call or [None]:
                key = f"pagerduty:{person.user_id}" if person else f"pagerduty:{step.target}"
                name = person.name if person else f"on call for {step.target}"
                names.append(name)
                session.add(EscalationNotification(
                    incident_id=incident.id, step_id=step.id, via="pagerduty", person=key, person_name=name,
                    slack_user=slack_users.get(person.user_id) if person else None, notified_at=now))
            await self._done(session, message, incident)
            who = ", ".join(names) if on_call is not None else "whoever is on call"
            text = f"PagerDuty paged {who} for {step.name} {step.role}"
            await incidents.add_event(session, stored, kind="escalation.paged", text=text, occurred_at=now)
            service.tell_war_room(session, stored, f":pager: {text}.", now)
            if problem:
                service.tell_war_room(session, stored, f":warning: Could not see who is on call for {step.name} "
                                      f"{step.role} ({problem}); the page itself went out.", now)

    async def _on_call(self, step: EscalationStep, target: TargetType) -> tuple[list[OnCall] | None, str | None]:
        """Who is on call now, or None (no REST key to ask with, or PagerDuty would not say, and why)."""
        if self.pagerduty is None or self.pagerduty.rest is None:
            return None, None
        try:
            if target == TargetType.PAGERDUTY_SCHEDULE:
                return await self.pagerduty.on_call(schedule=step.target), None
            return await self.pagerduty.on_call(escalation_policy=step.target), None
        except PagingError as error:
            log.warning("on-call look-up for %s %s failed: %s", step.name, step.target, error)
            return None, str(error)

    async def _slack_user(self, email: str | None) -> str | None:
        if not email or self.messenger is None:
            return None
        try:
            return await self.messenger.user_for_email(email)
        except (TryLater, Undeliverable):
            return None

    async def _pagerduty_incident(self, incident: Incident) -> str:
        assert self.pagerduty is not None
        if self.pagerduty.rest is None:
            raise PagingRefused("adding responders to the PagerDuty incident needs PAGERDUTY_API_KEY")
        found = await self.pagerduty.incident_id(incident.public_id)
        if found is None:
            raise PagingUnavailable(f"PagerDuty has no incident for {incident.public_id} yet")
        return found

    async def _pagerduty_event(self, message: OutboxMessage, incident: Incident) -> None:
        if self.pagerduty is None or self.pagerduty.events is None:
            raise PagingRefused("PAGERDUTY_ROUTING_KEY is not set")
        await self.pagerduty.send(str(message.payload["action"]), incident.public_id)
        await self._finish(message, incident)


def _what(message: OutboxMessage) -> str:
    label = message.payload.get("label")
    return {OutboxKind.PAGE: f"the page for {label}" if label else "the page",
            OutboxKind.PAGERDUTY_EVENT: f"the PagerDuty {message.payload.get('action')}",
            OutboxKind.NOTIFY: "a notification", OutboxKind.NOTIFY_GROUP: "a user-group notification",
            OutboxKind.WAR_ROOM: "a war-room message"}[OutboxKind(message.kind)]
