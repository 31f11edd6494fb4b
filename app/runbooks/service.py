"""Runbook runs in the store: start one (refusing a second on the same target), claim, record, release.

Plain functions over a session; the caller owns the transaction. Every state change that another process may
race (a second click on Approve, a replica sweeping stale runs) is a conditional UPDATE, so exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import utcnow
from app.runbooks.models import Phase, RunbookRun, RunbookStep, RunMode, RunState, StepState
from app.runbooks.schema import Runbook


class RunRefused(Exception):
    """The run cannot start or go on as asked; the message says why and what to do instead."""


def lock_key(runbook: str, target: str) -> str:
    return f"{runbook}|{target}"[:400]


async def create_run(session: AsyncSession, runbook: Runbook, values: dict[str, str], target: str, *,
                     mode: RunMode, started_by: str, source: str, incident_id: int | None, owner: str,
                     lease: timedelta) -> RunbookRun:
    """A new run, owned by this process. A dry run takes no lock: it changes nothing."""
    run = RunbookRun(runbook=runbook.name, definition=runbook.model_dump(mode="json"), params=dict(values),
                     target=target, mode=mode, state=RunState.RUNNING, started_by=started_by, source=source,
                     incident_id=incident_id, owner=owner, lease_until=utcnow() + lease,
                     lock_key=None if mode == RunMode.DRY_RUN else lock_key(runbook.name, target))
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        other = await session.scalar(select(RunbookRun).where(RunbookRun.lock_key == lock_key(runbook.name, target)))
        which = f" (run #{other.id}, {other.state})" if other is not None else ""
        hint = ("resume or abort it first: `/incident runbook resume`" if other is not None
                and other.state == RunState.INTERRUPTED else "wait for it to finish, or abort it")
        raise RunRefused(f"{runbook.name} is already running on {target}{which}; {hint}") from None
    return run


async def get_run(session: AsyncSession, run_id: int) -> RunbookRun | None:
    return await session.scalar(select(RunbookRun).where(RunbookRun.id == run_id)
                                .options(selectinload(RunbookRun.steps)).execution_options(populate_existing=True))


async def runs(session: AsyncSession, *, incident_id: int | None = None, states: Sequence[RunState] = (),
               limit: int = 20) -> Sequence[RunbookRun]:
    stmt = select(RunbookRun).options(selectinload(RunbookRun.steps)).order_by(RunbookRun.id.desc()).limit(limit)
    if incident_id is not None:
        stmt = stmt.where(RunbookRun.incident_id == incident_id)
    if states:
        stmt = stmt.where(RunbookRun.state.in_(list(states)))
    return (await session.scalars(stmt)).all()


async def claim(session: AsyncSession, run_id: int, *, owner: str, lease: timedelta,
                from_states: Sequence[RunState], position: int | None = None) -> bool:
    """Take the run to execute it, if it is still in one of `from_states` (and at `position`); one caller wins."""
    stmt = (update(RunbookRun).where(RunbookRun.id == run_id, RunbookRun.state.in_(list(from_states)))
            .values(state=RunState.RUNNING, owner=owner, lease_until=utcnow() + lease, updated_at=utcnow()))
    if position is not None:
        stmt = stmt.where(RunbookRun.next_position == position)
    return (await session.execute(stmt)).rowcount == 1  # type: ignore[attr-defined]


async def renew(session: AsyncSession, run_id: int, owner: str, lease: timedelta) -> None:
    await session.execute(update(RunbookRun).where(RunbookRun.id == run_id, RunbookRun.owner == owner)
                          .values(lease_until=utcnow() + lease))


async def interrupt_stale(session: AsyncSession, now: datetime) -> list[int]:
    """Runs whose executing process stopped renewing its lease: interrupted, their running step too."""
    stale = list(await session.scalars(select(RunbookRun.id).where(
        RunbookRun.state == RunState.RUNNING, RunbookRun.lease_until < now)))
    interrupted = []
    for run_id in stale:
        changed = await session.execute(
            update(RunbookRun).where(RunbookRun.id == run_id, RunbookRun.state == RunState.RUNNING,
                                     RunbookRun.lease_until < now)
            .values(state=RunState.INTERRUPTED, owner=None, lease_until=None,
                    result="The process running it stopped; resume it from its next step"))
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            await session.execute(update(RunbookStep).where(
                RunbookStep.run_id == run_id, RunbookStep.state == StepState.RUNNING).values(
                state=StepState.INTERRUPTED, finished_at=now,
                note="the process stopped while this ran: its outcome is unknown"))
            interrupted.append(run_id)
    return interrupted


async def open_step(session: AsyncSession, run: RunbookRun, position: int, phase: Phase, name: str,
                    argv: list[str], mutating: bool) -> RunbookStep:
    """The step row waiting at this position (holding a decision already made), or a new one."""
    row = await session.scalar(select(RunbookStep).where(
        RunbookStep.run_id == run.id, RunbookStep.position == position, RunbookStep.phase == phase,
        RunbookStep.state == StepState.PENDING).order_by(RunbookStep.id.desc()))
    if row is None:
        row = RunbookStep(run_id=run.id, position=position, phase=phase, name=name, argv=argv, mutating=mutating,
                          state=StepState.PENDING)
        session.add(row)
    else:
        row.argv = argv
    await session.flush()
    return row


async def decide(session: AsyncSession, run_id: int, position: int, decision: str, user: str, *, owner: str,
                 lease: timedelta) -> bool:
    """Record a person's answer to the step waiting at `position` and take the run to act on it."""
    if not await claim(session, run_id, owner=owner, lease=lease, position=position,
                       from_states=(RunState.AWAITING,)):
        return False
    row = await session.scalar(select(RunbookStep).where(
        RunbookStep.run_id == run_id, RunbookStep.position == position, RunbookStep.state == StepState.PENDING,
        RunbookStep.phase != Phase.ROLLBACK).order_by(RunbookStep.id.desc()))
    if row is None:
        return False
    row.decision = decision
    row.decided_by = user
    return True


async def set_message(session: AsyncSession, run_id: int, channel_id: str, ts: str) -> None:
    await session.execute(update(RunbookRun).where(RunbookRun.id == run_id).values(channel_id=channel_id,
                                                                                   message_ts=ts))
