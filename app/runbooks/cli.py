"""`incidentbot runbook list | show NAME | run NAME key=value ... | resume RUN | abort RUN | runs`.

Without `--yes`, each step that changes something is shown and asked about on the terminal; with no terminal
and no `--yes` such a step is refused (the run stops there, rolled back) and the message says how to approve.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from agents.runbook_executor.report import RunbookReport
    from app.runbooks.flows import Answer, Decision, Gate, Notify, Waiting
    from app.runbooks.loader import Catalog
    from app.runtime import Runtime

HOW_TO_APPROVE = ("steps that change something need approval: run this from a terminal to be asked at each one, "
                  "pass --yes to approve them all, or start it in Slack (`/incident runbook run ...`)")


def operator() -> str:
    return f"cli:{getpass.getuser()}"


def _with_runtime(work):  # type: ignore[no-untyped-def]
    from app.cli import _with_runtime as run_with
    return run_with(work)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group("runbook")
def runbook() -> None:
    """List, show and run runbooks (YAML in runbooks_dir, plus the shipped examples)."""


@runbook.command("list")
def runbook_list() -> None:
    """The runbooks there are, and any file that did not load."""
    catalog = _catalog()
    for name in sorted(catalog.runbooks):
        click.echo(f"{name:<32} {catalog.runbooks[name].description}")
    for problem in catalog.problems:
        click.echo(f"warning: {problem}", err=True)
    if not catalog.runbooks:
        click.echo("No runbooks.")


@runbook.command("show")
@click.argument("name")
def runbook_show(name: str) -> None:
    """A runbook's parameters and steps, as they would run."""
    from app.runbooks.render import outline
    from app.runbooks.runner import UnknownRunbook, find

    try:
        book = find(_catalog(), name)
    except UnknownRunbook as exc:
        _fail(str(exc))
    click.echo(outline(book), nl=False)


def _catalog() -> Catalog:
    from app.cli import _settings
    from app.config import ConfigError, load_team_config
    from app.runbooks.runner import catalog_for

    try:
        return catalog_for(load_team_config(_settings().incidentbot_config))
    except ConfigError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


@runbook.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("pairs", nargs=-1, type=click.UNPROCESSED)
@click.option("--dry-run", is_flag=True, help="Run the pre-flight checks and show the steps; change nothing.")
@click.option("--incident", "incident_id", help="Record the run on this incident's timeline (INC-YYYY-MMDD-NNN).")
@click.option("--yes", "-y", is_flag=True, help="Approve every step that changes something.")
def runbook_run(name: str, pairs: tuple[str, ...], dry_run: bool, incident_id: str | None, yes: bool) -> None:
    """Run NAME with key=value parameters, printing the Runbook Execution report."""
    report = _with_runtime(lambda runtime: execute(runtime, name, list(pairs), dry_run=dry_run,
                                                   incident_id=incident_id, yes=yes))
    _print(report)


@runbook.command("resume")
@click.argument("run_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Approve every later step that changes something.")
@click.option("--step-done", is_flag=True,
              help="The interrupted step took effect (you checked): record it as done and go on.")
@click.option("--retry-step", is_flag=True,
              help="The interrupted step did not take effect (you checked): run it again.")
def runbook_resume(run_id: int, yes: bool, step_done: bool, retry_step: bool) -> None:
    """Go on with an interrupted run from its next step (completed steps are not run again).

    A changing step that was running when the process stopped is never run again on its own: say how it
    went with --step-done or --retry-step (or answer on the terminal), or abort the run.
    """
    if step_done and retry_step:
        _fail("--step-done and --retry-step contradict each other; pick one")
    from app.runbooks.flows import Decision

    decided = Decision.DONE if step_done else Decision.RETRY if retry_step else None
    _print(_with_runtime(lambda runtime: resume(runtime, run_id, yes=yes, interrupted_step=decided)))


@runbook.command("abort")
@click.argument("run_id", type=int)
def runbook_abort(run_id: int) -> None:
    """Stop a run that waits for approval or was interrupted, rolling back its completed steps."""
    _print(_with_runtime(lambda runtime: abort(runtime, run_id)), aborting=True)


@runbook.command("runs")
def runbook_runs() -> None:
    """Recent runs, newest first: id, state, runbook, target."""
    from app.runbooks import service

    async def work(runtime: Runtime) -> list[str]:
        await runtime.runbooks.executor.sweep()
        async with runtime.sessions() as session:
            rows = await service.runs(session)
        return [f"{r.id:>5}  {r.state:<11}  {r.started_at:%Y-%m-%d %H:%M}  {r.runbook}  {r.target}" for r in rows]

    rows = _with_runtime(work)
    click.echo("\n".join(rows) if rows else "No runbook runs.")


def _print(report: RunbookReport, *, aborting: bool = False) -> None:
    from agents.runbook_executor.agent import markdown

    click.echo(markdown(report), nl=False)
    if aborting and report.result == "ABORTED":
        return
    if not report.finished or report.result not in ("SUCCESS", "DRY RUN"):
        if any(s.note and s.note.startswith("refused: nobody could approve") for s in report.steps):
            click.echo(f"error: {HOW_TO_APPROVE}", err=True)
        sys.exit(1)


# --- shared with `incidentbot agent run runbook-executor` ------------------------------------------------

async def execute(runtime: Runtime, name: str, words: list[str], *, dry_run: bool = False,
                  incident_id: str | None = None, yes: bool = False) -> RunbookReport:
    from app.cli import CommandFailed
    from app.incidents import service as incidents
    from app.incidents.models import Source
    from app.runbooks.models import RunMode
    from app.runbooks.params import ParameterError, split_pairs
    from app.runbooks.runner import UnknownRunbook
    from app.runbooks.service import RunRefused

    incident = None
    if incident_id:
        async with runtime.sessions() as session:
            incident = await incidents.get_incident(session, incident_id)
        if incident is None:
            raise CommandFailed(f"no incident {incident_id.upper()}; `incidentbot list` shows them")
    try:
        book = runtime.runbooks.get(name)
        await runtime.runbooks.executor.sweep()
        run = await runtime.runbooks.executor.start(
            book, split_pairs(words), mode=RunMode.DRY_RUN if dry_run else RunMode.EXECUTE, started_by=operator(),
            source=Source.CLI, incident_id=incident.id if incident else None)
    except (UnknownRunbook, ParameterError, RunRefused) as exc:
        raise CommandFailed(str(exc)) from exc
    await _advance_at_terminal(runtime, run.id, terminal_gate(yes))
    return await runtime.runbooks.report(run.id)


async def resume(runtime: Runtime, run_id: int, *, yes: bool,
                 interrupted_step: Decision | None = None) -> RunbookReport:
    from app.cli import CommandFailed

    await runtime.runbooks.executor.sweep()
    await _check_interrupted_step(runtime, run_id, yes=yes, decided=interrupted_step)
    if not await runtime.runbooks.executor.resume(run_id):
        raise CommandFailed(f"run #{run_id} is not interrupted (or does not exist); `incidentbot runbook runs` "
                            "lists them")
    await _advance_at_terminal(runtime, run_id, terminal_gate(yes, interrupted_step))
    return await runtime.runbooks.report(run_id)


async def _advance_at_terminal(runtime: Runtime, run_id: int, gate: Gate) -> None:
    """Go on with the run, asking on this terminal. A person who leaves at the question (Ctrl-C, end of input)
    aborts the run: no other process can answer a terminal's question, and a run left waiting would hold its
    target until someone found it and ran `runbook abort`."""
    try:
        await runtime.runbooks.executor.advance(run_id, gate, progress(runtime))
    except (asyncio.CancelledError, KeyboardInterrupt, click.Abort):
        await _abort_if_waiting(runtime, run_id)
        raise


async def _abort_if_waiting(runtime: Runtime, run_id: int) -> None:
    """Abort the run (rolling back its completed steps) if it waits for this terminal's answer."""
    from app.runbooks import service
    from app.runbooks.flows import Decision
    from app.runbooks.models import RunState

    executor = runtime.runbooks.executor
    async with runtime.sessions() as session:
        run = await service.get_run(session, run_id)
    if run is None or run.state != RunState.AWAITING:
        return  # running steps keep their lease rules: the sweep marks the run interrupted
    click.echo(f"\nrun #{run_id} aborted: the question was left unanswered", err=True)
    if await executor.decide(run_id, run.next_position, Decision.ABORT, operator()):
        await executor.advance(run_id, terminal_gate(False), progress(runtime))


async def _check_interrupted_step(runtime: Runtime, run_id: int, *, yes: bool, decided: Decision | None) -> None:
    """Refuse, before anything runs, to resume past a changing step whose outcome is unknown unless a person
    says how it went: --yes approves steps, it does not know whether this one took effect."""
    from app.cli import CommandFailed
    from app.runbooks import service
    from app.runbooks.flows import outcome_unknown, plan
    from app.runbooks.models import RunState
    from app.runbooks.schema import Runbook

    async with runtime.sessions() as session:
        run = await service.get_run(session, run_id)
    if run is None or run.state != RunState.INTERRUPTED:
        return  # resuming refuses it with the reason
    unknown = outcome_unknown(run, run.next_position)
    if not unknown and decided is not None:
        raise CommandFailed(f"run #{run_id} has no step whose outcome is unknown; resume it without "
                            "--step-done or --retry-step")
    if unknown and decided is None and (yes or not sys.stdin.isatty()):
        name = plan(Runbook.model_validate(run.definition))[run.next_position][1].name
        raise CommandFailed(
            f"run #{run_id}: {name!r} changes something and was running when the process stopped, so its "
            f"outcome is unknown and it is not run again on its own. Check it, then resume with "
            f"`incidentbot runbook resume {run_id} --step-done` if it took effect, `--retry-step` to run it "
            f"again, or `incidentbot runbook abort {run_id}` to roll back the completed steps")


async def abort(runtime: Runtime, run_id: int) -> RunbookReport:
    from app.cli import CommandFailed
    from app.runbooks import service
    from app.runbooks.flows import Decision
    from app.runbooks.models import RunState

    executor = runtime.runbooks.executor
    await executor.sweep()
    async with runtime.sessions() as session:
        run = await service.get_run(session, run_id)
    if run is None or run.state not in (RunState.AWAITING, RunState.INTERRUPTED):
        state = f"is {run.state}" if run is not None else "does not exist"
        raise CommandFailed(f"run #{run_id} {state}: only a run waiting for approval or interrupted can be aborted")
    stopped = (await executor.abort_interrupted(run_id, operator()) if run.state == RunState.INTERRUPTED
               else await executor.decide(run_id, run.next_position, Decision.ABORT, operator()))
    if not stopped:
        raise CommandFailed(f"run #{run_id} moved on meanwhile; `incidentbot runbook runs` shows where it is")
    await executor.advance(run_id, terminal_gate(False), progress(runtime))
    return await runtime.runbooks.report(run_id)


def terminal_gate(yes: bool, interrupted_step: Decision | None = None) -> Gate:
    from app.runbooks.flows import Decision

    async def gate(waiting: Waiting) -> Answer | None:
        if waiting.unknown:  # never approved again without a person saying how it went
            if interrupted_step is not None:
                return interrupted_step, operator()
            if yes or not sys.stdin.isatty():
                return None
            return await _on_daemon_thread(_ask_unknown, waiting), operator()
        if yes:
            return Decision.APPROVE, operator()
        if not sys.stdin.isatty():
            return Decision.REFUSE, operator()
        return await _on_daemon_thread(_ask, waiting), operator()

    return gate


async def _on_daemon_thread(ask: Callable[[Waiting], Decision], waiting: Waiting) -> Decision:
    """Ask on a daemon thread: after Ctrl-C its read of the terminal blocks until Enter, and the default
    executor's worker would hold the process open at exit until then; a daemon thread does not."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Decision] = loop.create_future()

    def settle(outcome: Decision | BaseException) -> None:
        if answer.done():
            return  # the run was cancelled meanwhile
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    def read() -> None:
        try:
            outcome: Decision | BaseException = ask(waiting)
        except BaseException as exc:  # click.Abort at the end of input: handed to the run, which aborts
            outcome = exc
        loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=read, name="runbook-question", daemon=True).start()
    return await answer


def _ask(waiting: Waiting) -> Decision:
    from agents.runbook_executor.report import command
    from app.runbooks.flows import Decision

    click.echo(f"\n{waiting.name} changes something:\n    {command(waiting.argv)}", err=True)
    if waiting.rollback:
        click.echo(f"  undone on failure by: {command(waiting.rollback)}", err=True)
    choice = click.prompt("Approve, skip or abort?", type=click.Choice(["approve", "skip", "abort"]),
                          default="abort", err=True)
    return Decision(choice)


def _ask_unknown(waiting: Waiting) -> Decision:
    from agents.runbook_executor.report import command
    from app.runbooks.flows import Decision

    click.echo(f"\n{waiting.name} was running when the process stopped; its outcome is unknown:\n"
               f"    {command(waiting.argv)}", err=True)
    choice = click.prompt("Check it. Did it take effect (done), should it run again (retry), or abort?",
                          type=click.Choice(["done", "retry", "abort"]), default="abort", err=True)
    return Decision(choice)


def progress(runtime: Runtime) -> Notify:
    """One line on stderr per step as it settles, so a long run shows where it is."""
    shown: set[tuple[int, str, str]] = set()

    async def notify(run_id: int) -> None:
        report = await runtime.runbooks.report(run_id)
        lines = [("check", c.name, c.status) for c in report.preflight if c.status not in ("PENDING",)]
        lines += [("step", f"{s.number}/{len(report.steps)} {s.name}", s.status) for s in report.steps
                  if s.status not in ("PENDING", "RUNNING") and not s.status.startswith("WAITING")]
        lines += [("verify", c.name, c.status) for c in report.verification if c.status != "PENDING"]
        for line in lines:
            key = (run_id, line[1], line[2])
            if key not in shown:
                shown.add(key)
                click.echo(f"  {line[0]} {line[1]}: {line[2]}", err=True)

    return notify


def agent_execute(prompt: str, incident_id: str | None, yes: bool) -> bool:
    """`agent run runbook-executor --prompt "Execute runbook: NAME key=value ..."`: a person starting a run.

    False when the prompt does not ask to execute a runbook (the agent then suggests one).
    """
    from agents.runbook_executor.request import read

    ask = read(prompt)
    if not ask.execute or ask.name is None:
        return False
    name, words = ask.name, ask.words
    _print(_with_runtime(lambda runtime: execute(runtime, name, words, incident_id=incident_id, yes=yes)))
    return True
