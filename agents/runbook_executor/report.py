"""A runbook run as typed data: the seed's Runbook Execution report, built only from the stored run and steps.

Every planned step is listed (with its latest attempt, or pending), so a person sees where the run is and
what is left. Rendered to Markdown by the template beside this module, and to Block Kit under
app/slack/render/runbooks.py.
"""

from __future__ import annotations

import shlex
from datetime import datetime

from pydantic import BaseModel, Field

from app.runbooks.flows import outcome_unknown, plan
from app.runbooks.models import Phase, RunbookRun, RunbookStep, RunMode, RunState, StepState
from app.runbooks.params import substitute
from app.runbooks.schema import PLACEHOLDER, Runbook, Step

AGENT = "runbook-executor"
CHECK_STATUS = {StepState.COMPLETED: "PASS", StepState.FAILED: "FAIL", StepState.TIMED_OUT: "FAIL",
                StepState.REFUSED: "FAIL", StepState.SKIPPED: "SKIPPED", StepState.INTERRUPTED: "UNKNOWN",
                StepState.RUNNING: "RUNNING", StepState.PENDING: "PENDING", StepState.SHOWN: "NOT RUN"}
STEP_STATUS = {StepState.COMPLETED: "COMPLETED", StepState.FAILED: "FAILED", StepState.TIMED_OUT: "TIMED OUT",
               StepState.REFUSED: "REFUSED", StepState.SKIPPED: "SKIPPED", StepState.INTERRUPTED: "INTERRUPTED",
               StepState.RUNNING: "RUNNING", StepState.PENDING: "PENDING", StepState.ROLLED_BACK: "ROLLED BACK",
               StepState.SHOWN: "DRY RUN (not run)"}
RESULT = {RunState.COMPLETED: "SUCCESS", RunState.FAILED: "FAILED", RunState.ABORTED: "ABORTED",
          RunState.INTERRUPTED: "INTERRUPTED", RunState.RUNNING: "IN PROGRESS",
          RunState.AWAITING: "WAITING FOR APPROVAL"}
DETAIL_CHARS = 80


class Check(BaseModel):
    name: str
    status: str
    details: str


class StepLine(BaseModel):
    number: int
    name: str
    command: str  # shell-quoted for reading only: nothing ever runs it through a shell
    status: str
    mutating: bool = False
    output: str | None = None
    seconds: float | None = None
    note: str | None = None  # why skipped, failed or refused
    decision: str | None = None  # approve, skip, abort, done, refuse
    decided_by: str | None = None
    rollback: str | None = None


class Waiting(BaseModel):
    """The step a person is asked about, and how to answer."""

    position: int
    name: str
    command: str
    rollback: str | None = None
    guide: bool = False
    unknown: bool = False  # a changing step whose attempt was interrupted: a person says how it went


class RunbookReport(BaseModel):
    agent: str = AGENT
    run_id: int
    runbook: str
    description: str
    target: str
    mode: str
    state: str
    started_at: datetime
    finished_at: datetime | None = None
    started_by: str
    incident_id: str | None = None
    preflight: list[Check] = Field(default_factory=list)
    steps: list[StepLine] = Field(default_factory=list)
    rollbacks: list[StepLine] = Field(default_factory=list)
    verification: list[Check] = Field(default_factory=list)
    completed: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float | None = None
    result: str
    result_detail: str | None = None
    waiting: Waiting | None = None

    @property
    def finished(self) -> bool:
        return self.state in (RunState.COMPLETED, RunState.FAILED, RunState.ABORTED)


def build(run: RunbookRun, incident_public_id: str | None = None, now: datetime | None = None) -> RunbookReport:
    book = Runbook.model_validate(run.definition)
    latest = _latest(run.steps)
    report = RunbookReport(run_id=run.id, runbook=run.runbook, description=book.description, target=run.target,
                           mode=str(run.mode), state=str(run.state), started_at=run.started_at,
                           finished_at=run.finished_at, started_by=run.started_by, incident_id=incident_public_id,
                           result=RESULT[run.state], result_detail=run.result)
    if run.mode == RunMode.DRY_RUN and run.state == RunState.COMPLETED:
        report.result = "DRY RUN"
    number = 0
    for position, (phase, step) in enumerate(plan(book)):
        row = latest.get((position, phase))
        if phase == Phase.STEP:
            number += 1
            line = _line(number, step, row, run.params)
            if line.status.startswith(("WAITING", "INTERRUPTED")) and outcome_unknown(run, position):
                line.status = "OUTCOME UNKNOWN"
            report.steps.append(line)
        else:
            (report.preflight if phase == Phase.PREFLIGHT else report.verification).append(
                _check(step, row, run.params))
    if run.state == RunState.COMPLETED and any(c.status == "FAIL" for c in report.verification):
        report.result = "VERIFICATION FAILED"  # the steps ran; what they were for is not there
    if run.state in (RunState.COMPLETED, RunState.FAILED, RunState.ABORTED):
        for item in [*report.steps, *report.preflight, *report.verification]:
            if item.status == "PENDING":
                item.status = "NOT RUN"
    report.rollbacks = [_rollback_line(r) for r in run.steps if r.phase == Phase.ROLLBACK]
    report.completed = sum(1 for s in report.steps if s.status in ("COMPLETED", "ROLLED BACK"))
    report.skipped = sum(1 for s in report.steps if s.status == "SKIPPED")
    report.failed = sum(1 for s in report.steps if s.status in ("FAILED", "TIMED OUT", "REFUSED", "INTERRUPTED",
                                                               "OUTCOME UNKNOWN"))
    end = run.finished_at or now
    report.seconds = (end - run.started_at).total_seconds() if end else None
    if run.state in (RunState.AWAITING, RunState.INTERRUPTED):
        report.waiting = _waiting(run, book, latest)
    return report


def _latest(rows: list[RunbookStep]) -> dict[tuple[int, Phase], RunbookStep]:
    latest: dict[tuple[int, Phase], RunbookStep] = {}
    for row in rows:  # ordered by id: the last attempt wins
        if row.phase != Phase.ROLLBACK:
            latest[(row.position, Phase(row.phase))] = row
    return latest


def command(argv: list[str]) -> str:
    return shlex.join(argv)


def _planned(step: Step, values: dict[str, str]) -> str:
    known = {k: v for k, v in values.items() if v}
    return command([known.get(m.group(1), a) if (m := PLACEHOLDER.fullmatch(a)) else a for a in step.command])


def _line(number: int, step: Step, row: RunbookStep | None, values: dict[str, str]) -> StepLine:
    rollback = command(substitute(step.rollback, values)) if step.rollback and _all_known(step.rollback, values) \
        else (command(step.rollback) if step.rollback else None)
    if row is None:
        return StepLine(number=number, name=step.name, command=_planned(step, values), status="PENDING",
                        mutating=step.mutating, rollback=rollback)
    status = STEP_STATUS[StepState(row.state)]
    if row.state == StepState.PENDING and row.decision is None:
        status = "WAITING FOR APPROVAL" if step.mutating else "WAITING FOR CONFIRMATION"
    return StepLine(number=number, name=step.name, command=command(row.argv), status=status,
                    mutating=step.mutating, output=row.output or None, seconds=row.seconds, note=row.note,
                    decision=row.decision, decided_by=row.decided_by, rollback=rollback)


def _all_known(argv: list[str], values: dict[str, str]) -> bool:
    return all(values.get(m.group(1)) for a in argv if (m := PLACEHOLDER.fullmatch(a)))


def _check(step: Step, row: RunbookStep | None, values: dict[str, str]) -> Check:
    if row is None:
        return Check(name=step.name, status="PENDING", details="")
    details = row.note if row.state != StepState.COMPLETED and row.note else _telling_line(step, row.output, values)
    return Check(name=step.name, status=CHECK_STATUS.get(StepState(row.state), str(row.state).upper()),
                 details=details or "")


def _rollback_line(row: RunbookStep) -> StepLine:
    return StepLine(number=0, name=row.name, command=command(row.argv), status=STEP_STATUS[StepState(row.state)],
                    mutating=True, output=row.output or None, seconds=row.seconds, note=row.note)


def _waiting(run: RunbookRun, book: Runbook, latest: dict[tuple[int, Phase], RunbookStep]) -> Waiting | None:
    steps = plan(book)
    if run.next_position >= len(steps):
        return None
    phase, step = steps[run.next_position]
    row = latest.get((run.next_position, phase))
    unknown = phase == Phase.STEP and outcome_unknown(run, run.next_position)
    shown = row.argv if row is not None and row.state == StepState.PENDING else None
    rollback = command(substitute(step.rollback, run.params)) if step.rollback and _all_known(step.rollback,
                                                                                               run.params) else None
    return Waiting(position=run.next_position, name=step.name,
                   command=command(shown) if shown else _planned(step, run.params), rollback=rollback,
                   guide=run.mode == RunMode.GUIDE, unknown=unknown)


def _telling_line(step: Step, output: str | None, values: dict[str, str]) -> str:
    """The line of the output the check looked for, else its first line."""
    wanted = step.expect.output_contains
    if wanted:
        wanted = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), wanted)
        hit = next((line for line in (output or "").splitlines() if wanted in line), None)
        if hit is not None:
            return _first_line(hit)
    return _first_line(output)


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    # A table (kubectl get): the header says less than the first row.
    line = " ".join((lines[1] if len(lines) > 1 and lines[0] == lines[0].upper() else lines[0]).split())
    return line if len(line) <= DETAIL_CHARS else line[: DETAIL_CHARS - 1] + "…"
