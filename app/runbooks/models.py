"""Runbook runs and their steps, written after every step so a restart knows exactly where a run was.

A run keeps the runbook as it was when it started (`definition`), so resuming after the file changed runs
the same steps. `lock_key` is set while a run is unfinished and is unique: a second run of the same runbook
on the same target is refused by the database itself, whichever process or replica starts it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, UTCDateTime, utcnow


class RunMode(StrEnum):
    EXECUTE = "execute"
    DRY_RUN = "dry-run"  # pre-flight checks run; steps are only shown
    GUIDE = "guide"  # a person runs each step and confirms it


class RunState(StrEnum):
    RUNNING = "running"
    AWAITING = "awaiting"  # a mutating step waits for Approve / Skip / Abort (guide mode: Done)
    COMPLETED = "completed"
    FAILED = "failed"  # a step failed; rolled back what had a rollback
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"  # the process running it stopped; resumable from its next step

    @property
    def finished(self) -> bool:
        return self in (RunState.COMPLETED, RunState.FAILED, RunState.ABORTED)


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    REFUSED = "refused"  # not approved (no terminal, abort), or a program not allowed
    INTERRUPTED = "interrupted"  # the process stopped while it ran: outcome unknown
    ROLLED_BACK = "rolled_back"
    SHOWN = "shown"  # dry run: what would run


class Phase(StrEnum):
    PREFLIGHT = "preflight"
    STEP = "step"
    VERIFY = "verify"
    ROLLBACK = "rollback"


class RunbookRun(Base):
    __tablename__ = "runbook_runs"
    __table_args__ = (Index("ix_runbook_runs_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    runbook: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, str]] = mapped_column(JSON)  # given, defaults, then captured values
    target: Mapped[str] = mapped_column(String(300))
    mode: Mapped[RunMode] = mapped_column(String(16))
    state: Mapped[RunState] = mapped_column(String(16), default=RunState.RUNNING)
    lock_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    started_by: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    next_position: Mapped[int] = mapped_column(Integer, default=0)  # in preflight + steps + verify order
    owner: Mapped[str | None] = mapped_column(String(32))  # the process executing it now
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel_id: Mapped[str | None] = mapped_column(String(32))  # the Slack message edited as it goes
    message_ts: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(Text)  # one line: why it stopped
    # Set when a failure or an abort starts rolling back: resuming goes on with the rollback, not the steps.
    stopping: Mapped[RunState | None] = mapped_column(String(16))

    steps: Mapped[list[RunbookStep]] = relationship(order_by="RunbookStep.id", viewonly=True)


class RunbookStep(Base):
    __tablename__ = "runbook_steps"
    __table_args__ = (Index("ix_runbook_steps_run", "run_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runbook_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # rollbacks: the position of the step they undo
    phase: Mapped[Phase] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    argv: Mapped[list[str]] = mapped_column(JSON)
    mutating: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[StepState] = mapped_column(String(16), default=StepState.PENDING)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text, default="")  # redacted and capped
    seconds: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)  # why skipped, failed or refused
    decision: Mapped[str | None] = mapped_column(String(16))  # approve, skip or abort (guide: done)
    decided_by: Mapped[str | None] = mapped_column(String(64))  # who approved, skipped or confirmed it
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
