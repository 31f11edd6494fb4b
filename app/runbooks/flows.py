"""Executing a runbook: pre-flight checks, then each step (a person deciding the changing ones), then the
verification, rolling back what was done if a step fails or the run is aborted.

The run is a row, not a coroutine: it advances one step per transaction, and when a step needs a person it
is left `awaiting` and nothing waits in memory. A button (or the terminal) records the decision and advances it
again, in whichever process receives it. A process that dies mid-step stops renewing its lease; the sweep marks
the run interrupted and a person resumes it from the step that was running. A changing step cut off that
way has an unknown outcome: a person says whether it took effect (done) or is to run again (retry); nothing
approves it again on its own. Completed steps are never run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.incidents import service as incidents
from app.incidents.models import Incident, Role, Source
from app.incidents.render import SLACK_USER_ID
from app.runbooks import params, process, service
from app.runbooks.models import Phase, RunbookRun, RunbookStep, RunMode, RunState, StepState
from app.runbooks.redact import redact
from app.runbooks.schema import PLACEHOLDER, Runbook, Step
from app.runbooks.service import RunRefused

log = logging.getLogger(__name__)
OUTPUT_LIMIT = 3000  # characters of a step's output kept (after redaction)


class Decision(StrEnum):
    APPROVE = "approve"
    SKIP = "skip"
    ABORT = "abort"
    DONE = "done"  # guide mode: the person ran it; an interrupted step: a person checked that it took effect
    RETRY = "retry"  # an interrupted step: a person checked that it did not take effect; run it again
    REFUSE = "refuse"  # nobody can approve it here (the CLI without a terminal or --yes)


@dataclass(frozen=True)
class Waiting:
    """A step waiting for a person: what it runs, and what undoes it."""

    run_id: int
    position: int
    name: str
    argv: list[str]
    rollback: list[str] | None
    guide: bool
    unknown: bool = False  # a changing step that was running when its process stopped: outcome unknown


# What a person may answer, by the kind of step waiting: a step whose outcome is unknown is never simply
# approved again; someone says whether it took effect.
ANSWERS = {"unknown": (Decision.DONE, Decision.RETRY, Decision.ABORT),
           "guide": (Decision.DONE, Decision.SKIP, Decision.ABORT),
           "execute": (Decision.APPROVE, Decision.SKIP, Decision.ABORT, Decision.REFUSE)}


Answer = tuple[Decision, str]  # the decision and who made it
Gate = Callable[[Waiting], Awaitable[Answer | None]]  # None: a button will answer later
Notify = Callable[[int], Awaitable[None]]


async def _quiet(_: int) -> None:
    return None


async def wait_for_button(_: Waiting) -> Answer | None:
    return None


def plan(book: Runbook) -> list[tuple[Phase, Step]]:
    return ([(Phase.PREFLIGHT, s) for s in book.preflight] + [(Phase.STEP, s) for s in book.steps]
            + [(Phase.VERIFY, s) for s in book.verify])


def outcome_unknown(run: RunbookRun, position: int) -> bool:
    """The changing step at `position` was running when its process stopped, and nobody has said how it went."""
    if run.stopping is not None:
        return False
    attempts = [s for s in run.steps if s.position == position and s.phase == Phase.STEP]
    return bool(attempts) and any(s.state == StepState.INTERRUPTED and s.mutating for s in attempts) \
        and all(s.state in (StepState.INTERRUPTED, StepState.PENDING) for s in attempts)


def _unchecked(run: RunbookRun, position: int) -> str:
    """Said when a run stops at a step whose outcome is unknown: no rollback covers it."""
    if not outcome_unknown(run, position):
        return ""
    return " (its interrupted step may have taken effect and is not rolled back: check it by hand)"


def answers_for(run: RunbookRun, position: int) -> tuple[Decision, ...]:
    if outcome_unknown(run, position):
        return ANSWERS["unknown"]
    return ANSWERS["guide" if run.mode == RunMode.GUIDE else "execute"]


def may_approve(incident: Incident | None, approvers: list[str], user: str) -> bool:
    """The incident's Incident Commander, or a configured runbook approver."""
    if user in approvers:
        return True
    return incident is not None and incident.active_holder(Role.INCIDENT_COMMANDER) == user


@dataclass
class Executor:
    sessions: async_sessionmaker[AsyncSession]
    programs: list[str]
    secrets: list[str] = field(default_factory=list)
    lease: timedelta = timedelta(seconds=60)
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    # --- starting and deciding ---------------------------------------------------------------------------

    async def start(self, book: Runbook, given: dict[str, str], *, mode: RunMode, started_by: str, source: Source,
                    incident_id: int | None = None) -> RunbookRun:
        """Check the parameters and programs, then record the run; nothing runs until `advance`."""
        values = params.resolve(book, given)
        refused = sorted(p for p in book.programs() if p not in self.programs)
        if refused:
            raise RunRefused(f"{book.name} runs {refused[0]!r}, which runbook_programs does not allow "
                             f"({', '.join(self.programs)}); nothing was run")
        target = params.target(book, values)
        async with self.sessions() as session, session.begin():
            run = await service.create_run(session, book, values, target, mode=mode, started_by=started_by,
                                           source=source, incident_id=incident_id, owner=self.owner,
                                           lease=self.lease)
            verb = {RunMode.EXECUTE: "started", RunMode.DRY_RUN: "dry run started", RunMode.GUIDE: "guide started"}
            await self._timeline(session, run, f"Runbook {book.name} {verb[mode]} on {target} by "
                                               f"{_who(started_by)}", "start")
        return run

    async def cancel(self, run_id: int, reason: str) -> None:
        """Stop a run that has not run anything yet (its message could not be posted)."""
        async with self.sessions() as session, session.begin():
            run = await service.get_run(session, run_id)
            if run is not None and run.state == RunState.RUNNING and run.owner == self.owner:
                await self._finish(session, run, RunState.ABORTED, reason)

    @contextlib.asynccontextmanager
    async def holding(self, run_id: int) -> AsyncIterator[None]:
        """Keep the lease on a run this process owns while it does something slow before `advance` (posting
        its message), so a sweep elsewhere does not take it as interrupted."""
        heartbeat = asyncio.create_task(self._heartbeat(run_id))
        try:
            yield
        finally:
            heartbeat.cancel()

    async def release(self, run_id: int) -> None:
        """Give back a resumed run before anything ran (its message could not be posted): interrupted again."""
        async with self.sessions() as session, session.begin():
            run = await service.get_run(session, run_id)
            if run is not None and run.state == RunState.RUNNING and run.owner == self.owner:
                run.state, run.owner, run.lease_until = RunState.INTERRUPTED, None, None

    async def decide(self, run_id: int, position: int, decision: Decision, user: str) -> bool:
        """A person's answer to the waiting step; False when it was already answered (a second click) or is not
        an answer this step takes (Approve for a step whose outcome is unknown)."""
        async with self.sessions() as session, session.begin():
            run = await service.get_run(session, run_id)
            if run is None or decision not in answers_for(run, position):
                return False
            return await service.decide(session, run_id, position, decision, user, owner=self.owner,
                                        lease=self.lease)

    async def resume(self, run_id: int) -> bool:
        async with self.sessions() as session, session.begin():
            return await service.claim(session, run_id, owner=self.owner, lease=self.lease,
                                       from_states=(RunState.INTERRUPTED,))

    async def abort_interrupted(self, run_id: int, user: str) -> bool:
        """Abort a run nobody is executing: claimed, then rolled back like any abort."""
        async with self.sessions() as session, session.begin():
            if not await service.claim(session, run_id, owner=self.owner, lease=self.lease,
                                       from_states=(RunState.INTERRUPTED,)):
                return False
            run = await service.get_run(session, run_id)
            assert run is not None
            run.result = f"Aborted by {_who(user)}" + _unchecked(run, run.next_position)
            run.stopping = RunState.ABORTED
        return True

    async def sweep(self, notify: Notify = _quiet) -> list[int]:
        """Mark runs whose process stopped as interrupted (at start-up, and before listing or resuming)."""
        async with self.sessions() as session, session.begin():
            stale = await service.interrupt_stale(session, utcnow())
            for run_id in stale:
                run = await service.get_run(session, run_id)
                if run is not None:
                    await self._timeline(session, run, f"Runbook {run.runbook} on {run.target} was interrupted "
                                                       "(the process running it stopped); resume it to go on",
                                         f"interrupted:{run.updated_at.isoformat()}")
        for run_id in stale:
            await notify(run_id)
        return stale

    # --- advancing ---------------------------------------------------------------------------------------

    async def advance(self, run_id: int, gate: Gate = wait_for_button, notify: Notify = _quiet) -> RunState:
        """Run steps until the run finishes or waits for a person (telling `notify` after each); its state then."""
        heartbeat = asyncio.create_task(self._heartbeat(run_id))
        try:
            while await self._one(run_id, gate):
                await _tell(notify, run_id)
        except asyncio.CancelledError:
            await asyncio.shield(self._interrupted(run_id))
            raise
        finally:
            heartbeat.cancel()
        await _tell(notify, run_id)
        async with self.sessions() as session:
            run = await service.get_run(session, run_id)
            assert run is not None
            return run.state

    async def _one(self, run_id: int, gate: Gate) -> bool:
        """One step of the run (or of its rollback); True to go on."""
        async with self.sessions() as session, session.begin():
            run = await service.get_run(session, run_id)
            if run is None or run.state != RunState.RUNNING or run.owner != self.owner:
                return False
            rolling = run.stopping is not None
            if rolling:
                work = await self._rollback_prepare(session, run)
            else:
                book = Runbook.model_validate(run.definition)
                steps = plan(book)
                if run.next_position >= len(steps):
                    await self._finish(session, run, RunState.COMPLETED, _completed_result(run))
                    return False
                phase, step = steps[run.next_position]
                work = await self._prepare(session, run, phase, step)
            if work is None:
                return not (rolling and run.state != RunState.RUNNING)
            if isinstance(work, Waiting):
                run.state, run.owner, run.lease_until = RunState.AWAITING, None, None
            else:
                await session.flush()
                row_id, argv, timeout = work[0].id, work[1], work[2]
        if isinstance(work, Waiting):
            return await self._ask(work, gate)
        outcome = await self._execute(argv, timeout)
        async with self.sessions() as session, session.begin():
            run = await service.get_run(session, run_id)
            row = await session.get(RunbookStep, row_id)
            assert run is not None and row is not None
            if run.state != RunState.RUNNING or run.owner != self.owner:
                # The lease lapsed while the step ran and the run was taken as interrupted: keep what happened
                # on the step, but leave the run to whoever resumes it.
                _late(row, outcome, self.secrets)
                return False
            if rolling:
                await self._record_rollback(session, run, row, outcome)
                return True
            return await self._record(session, run, phase, step, row, outcome)

    async def _prepare(self, session: AsyncSession, run: RunbookRun, phase: Phase,
                       step: Step) -> Waiting | tuple[RunbookStep, list[str], float] | None:
        """What this step needs: a person (Waiting), a command to run, or nothing more (None: recorded)."""
        position, values = run.next_position, run.params
        if step.when is not None and not step.when.holds(values.get(step.when.param)):
            await self._settle(session, run, phase, step, StepState.SKIPPED, note=step.when.describe())
            return None
        missing = sorted(_names(step.command) - {k for k, v in values.items() if v})
        runs_here = run.mode == RunMode.EXECUTE or (run.mode == RunMode.DRY_RUN and phase == Phase.PREFLIGHT)
        if missing and runs_here:
            await self._fail(session, run, phase, step, f"{{{missing[0]}}} has no value: the step that captures "
                                                        "it did not run")
            return None
        argv = _substitute(step.command, values)
        if run.mode == RunMode.DRY_RUN and phase != Phase.PREFLIGHT:
            await self._settle(session, run, phase, step, StepState.SHOWN, argv=argv)
            return None
        row = await service.open_step(session, run, position, phase, step.name, argv, step.mutating)
        needs_person = run.mode == RunMode.GUIDE or (step.mutating and phase == Phase.STEP)
        unknown = outcome_unknown(run, position)
        if needs_person and row.decision is None:
            return Waiting(run.id, position, step.name, argv, _substitute(step.rollback, values)
                           if step.rollback else None, guide=run.mode == RunMode.GUIDE, unknown=unknown)
        if row.decision in (Decision.ABORT, Decision.REFUSE):
            if row.decision == Decision.ABORT:
                row.note = f"aborted by {_who(row.decided_by)}"
                run.result = f"Aborted at {step.name} by {_who(row.decided_by)}" + _unchecked(run, position)
            else:
                row.note = "refused: nobody could approve it (no terminal, no --yes)"
                run.result = f"Stopped before {step.name}: it changes something and nobody could approve it"
            row.state, row.finished_at, run.stopping = StepState.REFUSED, utcnow(), RunState.ABORTED
            await self._timeline(session, run, f"Runbook {run.runbook}: {run.result}", f"step:{row.id}")
            return None
        if row.decision in (Decision.SKIP, Decision.DONE):
            done = row.decision == Decision.DONE
            row.state = StepState.COMPLETED if done else StepState.SKIPPED
            row.finished_at = utcnow()
            how = "marked done (its interrupted attempt took effect)" if done and unknown else \
                "run and confirmed" if done else "skipped"
            row.note = f"{how} by {_who(row.decided_by)}"
            run.next_position += 1
            if step.mutating or done:
                await self._timeline(session, run, f"Runbook {run.runbook}: {step.name} {row.note}",
                                     f"step:{row.id}")
            return None
        row.state, row.started_at = StepState.RUNNING, utcnow()
        return row, argv, step.timeout

    async def _ask(self, waiting: Waiting, gate: Gate) -> bool:
        answer = await gate(waiting)
        if answer is None:
            return False
        decision, user = answer
        return await self.decide(waiting.run_id, waiting.position, decision, user)

    async def _execute(self, argv: list[str], timeout: float) -> process.Outcome | str:
        try:
            return await process.run(argv, self.programs, timeout)
        except process.ProgramRefused as refused:
            return str(refused)
        except OSError as exc:
            return f"{argv[0]} could not be started: {exc.strerror or exc}"

    async def _record(self, session: AsyncSession, run: RunbookRun, phase: Phase, step: Step, row: RunbookStep,
                      outcome: process.Outcome | str) -> bool:
        row.finished_at = utcnow()
        if isinstance(outcome, str):
            row.state, row.note = StepState.REFUSED, outcome
            return await self._after_failure(session, run, phase, step, row)
        row.exit_code, row.seconds = outcome.exit_code, round(outcome.seconds, 2)
        cleaned = redact(outcome.output, self.secrets)
        row.output = _cap(cleaned, truncated=outcome.truncated)
        problem = _unmet(step, outcome, cleaned, run.params)
        if problem is None:
            problem = _capture(step, cleaned, run)
        if problem is not None:
            row.state = StepState.TIMED_OUT if outcome.timed_out else StepState.FAILED
            row.note = problem
            return await self._after_failure(session, run, phase, step, row)
        row.state = StepState.COMPLETED
        run.next_position += 1
        if step.mutating:
            who = f", approved by {_who(row.decided_by)}" if row.decided_by else ""
            await self._timeline(session, run, f"Runbook {run.runbook}: {step.name} completed{who}", f"step:{row.id}")
        return True

    async def _after_failure(self, session: AsyncSession, run: RunbookRun, phase: Phase, step: Step,
                             row: RunbookStep) -> bool:
        text = f"{step.name}: {row.note}"
        if phase == Phase.VERIFY:
            run.next_position += 1  # a failed check is reported; the changes stand
            return True
        if phase == Phase.PREFLIGHT:
            await self._finish(session, run, RunState.FAILED, f"Pre-flight check failed ({text}); nothing was "
                                                              "changed")
            return False
        await self._timeline(session, run, f"Runbook {run.runbook}: {text}", f"step:{row.id}")
        run.stopping, run.result = RunState.FAILED, f"Failed at {text}"
        return True

    # --- rolling back and finishing ----------------------------------------------------------------------

    async def _rollback_prepare(self, session: AsyncSession,
                                run: RunbookRun) -> tuple[RunbookStep, list[str], float] | None:
        """The next completed step (newest first) with a rollback, to undo; finish the run when none is left."""
        steps = plan(Runbook.model_validate(run.definition))
        undone = {s.position for s in run.steps if s.phase == Phase.ROLLBACK and s.state != StepState.RUNNING}
        todo = [s for s in reversed(run.steps) if s.phase == Phase.STEP and s.state == StepState.COMPLETED
                and steps[s.position][1].rollback and s.position not in undone]
        if run.mode == RunMode.GUIDE:
            todo = []  # a person ran those steps; undoing them is theirs to do, not the bot's
        if not todo:
            rollbacks = [s for s in run.steps if s.phase == Phase.ROLLBACK]
            failed = [s for s in rollbacks if s.state != StepState.COMPLETED]
            result = run.result or ""
            if rollbacks:
                result += (f"; {failed[0].name} failed: check it by hand" if failed
                           else "; completed steps rolled back")
            await self._finish(session, run, run.stopping or RunState.FAILED, result)
            return None
        done = todo[0]
        step = steps[done.position][1]
        assert step.rollback is not None
        argv = _substitute(step.rollback, run.params)
        row = RunbookStep(run_id=run.id, position=done.position, phase=Phase.ROLLBACK,
                          name=f"Roll back: {done.name}", argv=argv, mutating=True, state=StepState.RUNNING,
                          started_at=utcnow())
        session.add(row)
        unknown = sorted(_names(step.rollback) - {k for k, v in run.params.items() if v})
        if unknown:  # never run a command with a placeholder left in it
            row.state, row.finished_at = StepState.FAILED, utcnow()
            row.note = f"not run: {{{unknown[0]}}} has no value"
            await session.flush()
            return await self._rollback_prepare(session, await _reloaded(session, run))
        return row, argv, step.timeout

    async def _record_rollback(self, session: AsyncSession, run: RunbookRun, row: RunbookStep,
                               outcome: process.Outcome | str) -> None:
        row.finished_at = utcnow()
        if isinstance(outcome, str):
            row.state, row.note = StepState.FAILED, outcome
        else:
            row.exit_code, row.seconds = outcome.exit_code, round(outcome.seconds, 2)
            row.output = _cap(redact(outcome.output, self.secrets), truncated=outcome.truncated)
            ok = not outcome.timed_out and outcome.exit_code == 0
            row.state = StepState.COMPLETED if ok else StepState.FAILED
            row.note = None if ok else ("timed out" if outcome.timed_out else f"exit code {outcome.exit_code}")
        original = next((s for s in run.steps if s.phase == Phase.STEP and s.position == row.position
                         and s.state == StepState.COMPLETED), None)
        if original is not None and row.state == StepState.COMPLETED:
            original.state = StepState.ROLLED_BACK
        await self._timeline(session, run, f"Runbook {run.runbook}: {row.name} "
                                           f"{'done' if row.state == StepState.COMPLETED else 'FAILED'}",
                             f"step:{row.id}")

    async def _finish(self, session: AsyncSession, run: RunbookRun, state: RunState, result: str) -> None:
        run.state, run.result, run.finished_at = state, result, utcnow()
        run.lock_key, run.owner, run.lease_until, run.stopping = None, None, None, None
        await self._timeline(session, run, f"Runbook {run.runbook} on {run.target}: {state}. {result}", "end")

    async def _settle(self, session: AsyncSession, run: RunbookRun, phase: Phase, step: Step, state: StepState, *,
                      argv: list[str] | None = None, note: str | None = None) -> None:
        session.add(RunbookStep(run_id=run.id, position=run.next_position, phase=phase, name=step.name,
                                argv=argv or _substitute(step.command, run.params), mutating=step.mutating,
                                state=state, note=note, finished_at=utcnow()))
        run.next_position += 1

    async def _fail(self, session: AsyncSession, run: RunbookRun, phase: Phase, step: Step, note: str) -> None:
        row = RunbookStep(run_id=run.id, position=run.next_position, phase=phase, name=step.name,
                          argv=_substitute(step.command, run.params), mutating=step.mutating,
                          state=StepState.FAILED, note=note, finished_at=utcnow())
        session.add(row)
        await session.flush()
        await self._after_failure(session, run, phase, step, row)

    async def _timeline(self, session: AsyncSession, run: RunbookRun, text: str, key: str) -> None:
        if run.incident_id is None:
            return
        incident = await incidents.get_incident_by_id(session, run.incident_id)
        await incidents.add_event(session, incident, kind="runbook", text=text, actor=run.started_by,
                                  source=Source(run.source), dedup_key=f"runbook:{run.id}:{key}")

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.sessions() as session, session.begin():
                    await service.renew(session, run_id, self.owner, self.lease)
            except Exception:  # a missed renewal only shortens the lease; the next one may succeed
                log.warning("could not renew the lease on runbook run %s", run_id, exc_info=True)

    async def _interrupted(self, run_id: int) -> None:
        """The service is stopping mid-run: give up the lease now, so the next start marks the run interrupted
        (and tells its message) at once rather than after the lease runs out."""
        with contextlib.suppress(Exception):
            async with self.sessions() as session, session.begin():
                await service.renew(session, run_id, self.owner, timedelta(seconds=-1))


async def _reloaded(session: AsyncSession, run: RunbookRun) -> RunbookRun:
    fresh = await service.get_run(session, run.id)
    assert fresh is not None
    return fresh


async def _tell(notify: Notify, run_id: int) -> None:
    """Telling people is not worth stopping a half-done runbook for: a failure is logged and the run goes on."""
    try:
        await notify(run_id)
    except Exception:
        log.exception("could not report progress of runbook run %s", run_id)


def _substitute(argv: list[str], values: dict[str, str]) -> list[str]:
    """Placeholders without a value (a dry run past a capture, an optional parameter) stay as written."""
    return params.substitute(argv, {**{m: "{" + m + "}" for m in _names(argv)},
                                    **{k: v for k, v in values.items() if v}})


def _names(argv: list[str]) -> set[str]:
    return {m.group(1) for a in argv if (m := PLACEHOLDER.fullmatch(a))}


def _late(row: RunbookStep, outcome: process.Outcome | str, secrets: list[str]) -> None:
    row.finished_at = utcnow()
    row.state = StepState.INTERRUPTED
    if isinstance(outcome, str):
        row.note = outcome
        return
    row.exit_code, row.seconds = outcome.exit_code, round(outcome.seconds, 2)
    row.output = _cap(redact(outcome.output, secrets), truncated=outcome.truncated)
    row.note = f"finished (exit code {outcome.exit_code}) after the run was taken as interrupted"


def _unmet(step: Step, outcome: process.Outcome, output: str, values: dict[str, str]) -> str | None:
    if outcome.timed_out:
        return f"timed out after {step.timeout:g}s; its processes were killed"
    if outcome.exit_code != step.expect.exit_code:
        return f"exit code {outcome.exit_code} (expected {step.expect.exit_code})"
    wanted = step.expect.output_contains
    if wanted is not None:
        wanted = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), wanted)
        if wanted not in output:
            return _not_as_expected(step, output, f"output does not contain {wanted!r}")
    if step.expect.output_matches is not None and not re.search(step.expect.output_matches, output):
        return _not_as_expected(step, output, f"output does not match {step.expect.output_matches!r}")
    return None


def _not_as_expected(step: Step, output: str, what: str) -> str:
    """The runbook's own words for a failed expectation, when it has them, beside what the command printed."""
    if step.expect.meaning is None:
        return what
    printed = output.strip().splitlines()[0][:80] if output.strip() else "no output"
    return f"{printed}: {step.expect.meaning}"


def _capture(step: Step, output: str, run: RunbookRun) -> str | None:
    """Values for later steps, each checked as strictly as a person's parameter."""
    captured = dict(run.params)
    for capture in step.capture:
        match = re.search(capture.regex, output, re.MULTILINE)
        if match is None:
            return f"output has nothing for {capture.name} (looked for {capture.regex!r})"
        value = (match.group(1) if match.groups() else match.group(0)).strip()
        if capture.add is not None:
            if not value.lstrip("-").isdigit():
                return f"{capture.name}: {value!r} is not a whole number"
            value = str(int(value) + capture.add)
        try:
            params.check(capture.name, value, None)
        except params.ParameterError as refused:
            return f"captured {refused}"
        captured[capture.name] = value
    run.params = captured
    return None


def _cap(text: str, *, truncated: bool) -> str:
    text = text.strip("\n")
    if len(text) > OUTPUT_LIMIT:
        return text[:OUTPUT_LIMIT] + f"\n… ({len(text) - OUTPUT_LIMIT} more characters not kept)"
    return text + ("\n… (more output not kept)" if truncated else "")


def _completed_result(run: RunbookRun) -> str:
    failed = [s.name for s in run.steps if s.phase == Phase.VERIFY and s.state != StepState.COMPLETED]
    if run.mode == RunMode.DRY_RUN:
        return "Dry run: pre-flight checks ran; no step was run"
    return f"Verification failed: {', '.join(failed)}" if failed else "All steps done"


def _who(user: str | None) -> str:
    if not user:
        return "someone"
    return f"<@{user}>" if SLACK_USER_ID.match(user) else user.split(":", 1)[-1]


async def latest_for_position(session: AsyncSession, run_id: int, position: int) -> RunbookStep | None:
    return await session.scalar(select(RunbookStep).where(RunbookStep.run_id == run_id,
                                                          RunbookStep.position == position)
                                .order_by(RunbookStep.id.desc()))
