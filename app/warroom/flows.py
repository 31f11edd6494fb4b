"""Setting up an incident's war room, one recorded step at a time.

Each step is recorded as done (with a timeline event) after its call; steps that would leave a duplicate
if redone are also marked started, with an intent key, before it. A process that dies mid-way leaves the
incident pending; the next start (or another replica, once the lease runs out) finishes the remaining
steps. A step left "started" may have happened, so it first looks for its own result (the channel, the
card, the announcement) before redoing.

A step that fails for a passing reason (rate limited, a 5xx, a timeout, a dropped connection) is kept as
"retrying" with a retry time that backs off; the set-up stays pending, the lease is let go until then, and
the sweep picks it up again. Only a refusal (a missing permission, a missing channel) fails a step; the
steps that need it are skipped, and the incident commander is told.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.incidents import service
from app.incidents.models import Incident, SetupState
from app.metrics import war_room_steps, war_room_steps_failed
from app.warroom.models import FINISHED, Step, StepState, WarRoomStep
from app.warroom.steps import Outcome, Rooms, StepFailed

log = logging.getLogger(__name__)

# A step that needs another one done first is skipped when that one failed, and waits while it retries.
NEEDS = {
    Step.INVITE_DECLARER: Step.CREATE_CHANNEL,
    Step.SET_TOPIC: Step.CREATE_CHANNEL,
    Step.SET_PURPOSE: Step.CREATE_CHANNEL,
    Step.POST_CARD: Step.CREATE_CHANNEL,
    Step.PIN_CARD: Step.POST_CARD,
}
# The announcement links the war room: it waits while the channel is retrying, and goes out without the
# link if the channel could not be made at all.
WAITS_FOR = {Step.ANNOUNCE: Step.CREATE_CHANNEL}
# Steps that would make a second channel or message if redone; the others are simply run again.
NOT_IDEMPOTENT = {Step.CREATE_CHANNEL, Step.POST_CARD, Step.ANNOUNCE}
LABELS = {
    Step.CREATE_CHANNEL: "create the war-room channel",
    Step.INVITE_DECLARER: "invite the declarer",
    Step.SET_TOPIC: "set the channel topic",
    Step.SET_PURPOSE: "set the channel purpose",
    Step.POST_CARD: "post the declaration card",
    Step.PIN_CARD: "pin the declaration card",
    Step.ANNOUNCE: "announce the incident",
}
MAX_RETRY_WAIT = timedelta(minutes=5)


class LeaseLost(Exception):
    """Another process took over this set-up (this one stalled past its lease); stop quietly."""


@dataclass(frozen=True)
class StepReport:
    step: Step
    state: StepState
    error: str | None = None

    @property
    def is_problem(self) -> bool:
        return self.state in (StepState.FAILED, StepState.SKIPPED)

    @property
    def is_waiting(self) -> bool:
        return self.state in (StepState.RETRYING, StepState.PENDING)

    def describe(self) -> str:
        label = LABELS[self.step]
        if self.state == StepState.FAILED:
            return f"Could not {label} ({self.error})"
        if self.state == StepState.SKIPPED:
            return f"Skipped: could not {label} ({self.error})"
        if self.state == StepState.RETRYING:
            return f"Not yet: could not {label} ({self.error}); retrying automatically"
        if self.state == StepState.PENDING:
            return f"Not yet: {label} waits until it can {self.error}"
        return f"Done: {label}"


@dataclass
class WarRoom:
    """Opens war rooms. One per process; `owner` names this process in set-up leases."""

    sessions: async_sessionmaker[AsyncSession]
    rooms: Rooms
    lease: timedelta = timedelta(minutes=2)
    # The first wait before a step that failed for a passing reason is tried again; it doubles each time.
    retry: timedelta = timedelta(seconds=5)
    # Set-ups run a few at a time so a burst of declarations does not starve the acks.
    concurrency: int = 4
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _slots: asyncio.Semaphore = field(init=False)
    _active: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    async def set_up(self, incident_id: int, *, tell: bool = False) -> list[StepReport] | None:
        """Run every step not yet finished; None when another process holds the set-up.

        With `tell`, the incident commander hears of a set-up that finished, or of a step that failed, in
        this run: nobody else is waiting on it (the sweep resumed it).
        """
        self._active.add(incident_id)
        try:
            async with self._slots:
                if not await self._claim(incident_id):
                    return None
                reports, changed = await self._run_steps(incident_id)
                finished = all(r.state in FINISHED for r in reports)
                await self._finish(incident_id, finished)
            if tell and changed and (finished or any(r.is_problem for r in changed)):
                await self._tell(incident_id, reports)
            return reports
        except LeaseLost:
            log.warning("war-room set-up for incident %s was taken over by another process", incident_id)
            return None
        finally:
            self._active.discard(incident_id)

    async def resume_pending(self) -> int:
        """Take up set-ups that are due: their process died, or a retry's time came. Returns how many."""
        async with self.sessions() as session:
            pending = (await session.scalars(
                select(Incident.id).where(Incident.setup_state == SetupState.PENDING, self._lease_expired())
            )).all()
        due = [incident_id for incident_id in pending if incident_id not in self._active]
        for incident_id in due:
            log.info("resuming war-room set-up for incident %s", incident_id)
        results = await asyncio.gather(*(self.set_up(incident_id, tell=True) for incident_id in due))
        return sum(result is not None for result in results)

    def _lease_expired(self) -> ColumnElement[bool]:
        return or_(Incident.setup_lease_until.is_(None), Incident.setup_lease_until < utcnow())

    async def _claim(self, incident_id: int) -> bool:
        """Take (or renew) the set-up lease: ours already, or expired because its holder died or let go."""
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                update(Incident)
                .where(
                    Incident.id == incident_id,
                    Incident.setup_state == SetupState.PENDING,
                    or_(Incident.setup_owner == self.owner, self._lease_expired()),
                )
                .values(setup_owner=self.owner, setup_lease_until=utcnow() + self.lease)
            )
        return claimed.rowcount == 1  # type: ignore[attr-defined]

    async def _run_steps(self, incident_id: int) -> tuple[list[StepReport], list[StepReport]]:
        """Every step's report, and those of the steps this run finished or failed."""
        rows = await self._rows(incident_id)
        reports: dict[Step, StepReport] = {}
        changed: list[StepReport] = []
        for step in Step:
            row = rows.get(step)
            report = self._settled(step, row, reports) or await self._run_step(incident_id, step, row)
            if report.state == StepState.SKIPPED and (row is None or row.state != StepState.SKIPPED):
                await self._save(incident_id, step, StepState.SKIPPED, error=report.error, report=report)
                war_room_steps.labels(step, StepState.SKIPPED).inc()
            if report.state in FINISHED and (row is None or row.state != report.state):
                changed.append(report)
            reports[step] = report
        return list(reports.values()), changed

    def _settled(self, step: Step, row: WarRoomStep | None, reports: dict[Step, StepReport]) -> StepReport | None:
        """The report of a step that is not to run now (finished, or waiting); None when it runs."""
        if row is not None and row.state in FINISHED:
            return StepReport(step, StepState(row.state), row.error)
        if row is not None and row.state == StepState.RETRYING and row.retry_at and row.retry_at > utcnow():
            return StepReport(step, StepState.RETRYING, row.error)
        for needed, must_succeed in ((NEEDS.get(step), True), (WAITS_FOR.get(step), False)):
            if needed is None:
                continue
            before = reports[needed]
            if before.is_waiting:
                return StepReport(step, StepState.PENDING, LABELS[needed])
            if must_succeed and before.state != StepState.DONE:
                return StepReport(step, StepState.SKIPPED, f"could not {LABELS[needed]}")
        return None

    async def _rows(self, incident_id: int) -> dict[Step, WarRoomStep]:
        async with self.sessions() as session:
            rows = await session.scalars(select(WarRoomStep).where(WarRoomStep.incident_id == incident_id))
            return {Step(r.step): r for r in rows}

    async def _run_step(self, incident_id: int, step: Step, row: WarRoomStep | None) -> StepReport:
        async with self.sessions() as session:
            incident = await service.get_incident_by_id(session, incident_id)
        intent = (row.intent if row else None) or uuid.uuid4().hex
        # An earlier attempt that was cut short (a crash, a timeout) may have happened: look first.
        may_have_happened = row is not None and (row.state == StepState.STARTED or row.intent is not None)
        try:
            outcome = await self.rooms.find(step, incident, intent) if may_have_happened else None
            if outcome is None:
                if step in NOT_IDEMPOTENT and not (row and row.intent):
                    await self._save(incident_id, step, StepState.STARTED, intent=intent)
                outcome = await self.rooms.run(step, incident, intent)
        except StepFailed as failure:
            if failure.transient:
                return await self._retry_later(incident, step, row, failure)
            return await self._failed(incident, step, failure)
        await self._save(incident_id, step, StepState.DONE, outcome=outcome)
        war_room_steps.labels(step, StepState.DONE).inc()
        return StepReport(step, StepState.DONE)

    async def _retry_later(self, incident: Incident, step: Step, row: WarRoomStep | None,
                           failure: StepFailed) -> StepReport:
        attempts = (row.attempts if row else 0) + 1
        wait = min(self.retry * 2 ** (attempts - 1), MAX_RETRY_WAIT)
        if failure.retry_after is not None:
            wait = max(wait, timedelta(seconds=failure.retry_after))
        log.warning("war-room step %s for %s failed (%s, attempt %s); retrying in %.0fs",
                    step, incident.public_id, failure.reason, attempts, wait.total_seconds())
        report = StepReport(step, StepState.RETRYING, failure.reason)
        await self._save(incident.id, step, StepState.RETRYING, error=failure.reason, attempts=attempts,
                         retry_at=utcnow() + wait, report=report)
        war_room_steps.labels(step, StepState.RETRYING).inc()
        return report

    async def _failed(self, incident: Incident, step: Step, failure: StepFailed) -> StepReport:
        log.error("war-room step %s for %s refused: %s", step, incident.public_id, failure.reason)
        report = StepReport(step, StepState.FAILED, failure.reason)
        await self._save(incident.id, step, StepState.FAILED, error=failure.reason, report=report)
        war_room_steps.labels(step, StepState.FAILED).inc()
        war_room_steps_failed.labels(step, failure.error).inc()
        return report

    async def _save(
        self, incident_id: int, step: Step, state: StepState, *, outcome: Outcome | None = None,
        report: StepReport | None = None, **columns: Any,
    ) -> None:
        """Store a step's state, its effect on the incident and its timeline line, in one commit."""
        async with self.sessions() as session, session.begin():
            incident = await session.get_one(Incident, incident_id, with_for_update=True)
            if incident.setup_owner != self.owner:
                raise LeaseLost(incident_id)
            row = await session.get(WarRoomStep, (incident_id, step))
            if row is None:
                row = WarRoomStep(incident_id=incident_id, step=step, state=state, attempts=0)
                session.add(row)
            row.state, row.error = state, columns.pop("error", None)
            for column, value in columns.items():
                setattr(row, column, value)
            incident.setup_lease_until = utcnow() + self.lease
            if outcome is not None:
                for column, value in outcome.updates.items():
                    setattr(incident, column, value)
                await service.add_event(session, incident, kind=f"war_room.{step}", text=outcome.text,
                                        dedup_key=f"war_room:{step}")
            elif report is not None:
                # One line for the first retry, one for a refusal: the timeline is for people.
                kind, key = (("war_room.retrying", f"war_room:{step}:retrying") if state == StepState.RETRYING
                             else ("war_room.failed", f"war_room:{step}"))
                await service.add_event(session, incident, kind=kind, text=report.describe(), dedup_key=key)

    async def _finish(self, incident_id: int, finished: bool) -> None:
        """Mark the set-up done, or let go of it until its next retry is due, when the sweep takes it up."""
        async with self.sessions() as session, session.begin():
            incident = await session.get_one(Incident, incident_id, with_for_update=True)
            if incident.setup_owner != self.owner:
                raise LeaseLost(incident_id)
            incident.setup_owner = None
            if finished:
                incident.setup_state, incident.setup_lease_until = SetupState.DONE, None
            else:
                incident.setup_lease_until = await self._next_retry(session, incident_id)

    async def _next_retry(self, session: AsyncSession, incident_id: int) -> datetime:
        retry_times = (await session.scalars(select(WarRoomStep.retry_at).where(
            WarRoomStep.incident_id == incident_id, WarRoomStep.state == StepState.RETRYING))).all()
        return min((t for t in retry_times if t is not None), default=utcnow())

    async def _tell(self, incident_id: int, reports: list[StepReport]) -> None:
        async with self.sessions() as session:
            incident = await service.get_incident_by_id(session, incident_id)
        try:
            await self.rooms.tell(incident, reports)
        except StepFailed as failure:
            log.warning("could not tell the incident commander of %s how its war room went: %s",
                        incident.public_id, failure.reason)
