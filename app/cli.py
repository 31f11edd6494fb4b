"""`incidentbot` console script: serve, migrate, declare, list and show incidents, run them without Slack, run
agents, postmortems, and a demo.

Each command imports what it uses when it runs, so `--help` and a typo answer at once.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

if TYPE_CHECKING:
    from agents.base import AgentAnswer
    from app.incidents.lifecycle import Actor
    from app.runtime import Runtime
    from app.settings import Settings
    from app.slack.changes import Change

T = TypeVar("T")


class CommandFailed(Exception):
    """The command cannot do what was asked; the message says why (exit 1)."""


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings() -> Settings:
    from pydantic import ValidationError

    from app.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid environment: {problems}")
    raise AssertionError("unreachable")


def _database_problem(exc: Exception) -> None:
    from app.db.errors import explain

    _fail(explain(exc, _settings().database_url))


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async command against a fresh runtime, turning expected failures into messages.

    The database must already be at this version's schema: only `serve` and `db upgrade` migrate, so a newer
    CLI pointed at a production database never changes its schema unasked.
    """
    from app.config import ConfigError
    from app.db import migrate
    from app.db.errors import DATABASE_UNAVAILABLE, DatabaseUrlError
    from app.incidents.lifecycle import IncidentChangeRefused
    from app.runtime import Runtime

    settings = _settings()

    async def run() -> T:
        runtime = Runtime.create(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        migrate.check_current(settings.database_url)
        return asyncio.run(run())
    except (migrate.NotUpToDate, ConfigError, IncidentChangeRefused, CommandFailed) as exc:
        _fail(str(exc))
    except (DatabaseUrlError, *DATABASE_UNAVAILABLE) as exc:
        _database_problem(exc)
    raise AssertionError("unreachable")


@click.group()
@click.version_option(None, "-V", "--version", package_name="incidentbot", prog_name="incidentbot")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Slack-first incident response."""
    from app.logs import configure

    settings = _settings()
    configure(logging.DEBUG if verbose else logging.WARNING, settings.log_format, settings.secrets)


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Apply database migrations, then run the service."""
    import uvicorn

    from app.config import ConfigError
    from app.db.errors import DatabaseUrlError
    from app.main import create_app

    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    try:
        app = create_app()  # first: a bad team config stops start-up before the database is touched
    except ConfigError as exc:
        _fail(str(exc))
    except DatabaseUrlError as exc:
        _database_problem(exc)
    _upgrade()
    # log_config=None: uvicorn's own lines go through the same handler (format, redaction) as ours.
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (Alembic upgrade head)."""
    from app.db.errors import shown

    _upgrade()
    click.echo(f"database at {shown(_settings().database_url)} is up to date")


def _upgrade() -> None:
    from app.db import migrate
    from app.db.errors import DATABASE_UNAVAILABLE, DatabaseUrlError

    try:
        migrate.upgrade(_settings().database_url)
    except (DatabaseUrlError, *DATABASE_UNAVAILABLE) as exc:
        _database_problem(exc)


@main.command("declare")
@click.argument("title", nargs=-1, required=True)
@click.option("--severity", "-s", help="SEV1..SEV5 (default from config).")
@click.option("--description", "-d", help="What is known so far.")
@click.option("--service", "affected_service", help="Affected service.")
@click.option("--by", "declared_by", help="Slack user id of the declarer (invited to the war room).")
def declare_command(title: tuple[str, ...], severity: str | None, description: str | None,
                    affected_service: str | None, declared_by: str | None) -> None:
    """Declare an incident; opens its war room when Slack is configured."""
    from app.incidents import service
    from app.incidents.card import build_card
    from app.incidents.flows import Declaration, InvalidDeclaration, declare_and_open
    from app.incidents.models import Source
    from app.incidents.render import card_markdown

    declaration = Declaration(
        title=" ".join(title), severity=severity, description=description,
        affected_service=affected_service, source=Source.CLI,
        declared_by=declared_by or f"cli:{getpass.getuser()}",
    )

    async def work(runtime: Runtime) -> str:
        try:
            # The service's escalation loop fires the first levels; this process exits right after.
            opened = await declare_and_open(runtime, declaration, kick_escalations=False)
        except InvalidDeclaration as exc:
            raise click.UsageError(str(exc)) from exc
        incident_id = opened.declared.incident.id
        problems = [r.describe() for r in opened.reports or [] if r.is_problem or r.is_waiting]
        async with runtime.sessions() as session:
            incident = await service.get_incident_by_id(session, incident_id)
        text = card_markdown(build_card(incident, runtime.config, runtime.settings.incident_announce_channel))
        return text + "".join(f"\nwarning: {p}" for p in problems)

    click.echo(_with_runtime(work))


@main.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not yet resolved.")
def list_command(open_only: bool) -> None:
    """List recent incidents, newest first."""
    from app.incidents import service

    async def work(runtime: Runtime) -> list[str]:
        async with runtime.sessions() as session:
            incidents = await service.list_incidents(session, open_only=open_only)
        return [
            f"{i.public_id}  {i.severity}  {i.status:<13}  {i.declared_at:%Y-%m-%d %H:%M}  {i.title}"
            for i in incidents
        ]

    rows = _with_runtime(work)
    click.echo("\n".join(rows) if rows else "No incidents.")


@main.command("show")
@click.argument("public_id")
def show_command(public_id: str) -> None:
    """Show an incident's card and timeline as Markdown."""
    from app.incidents import service
    from app.incidents.card import build_card
    from app.incidents.render import card_markdown

    async def work(runtime: Runtime) -> str | None:
        async with runtime.sessions() as session:
            incident = await service.get_incident(session, public_id)
        if incident is None:
            return None
        return card_markdown(build_card(incident, runtime.config, runtime.settings.incident_announce_channel))

    text = _with_runtime(work)
    if text is None:
        _fail(f"no incident {public_id}; `incidentbot list` shows the recorded ones")
    click.echo(text)


@main.group()
def agent() -> None:
    """Run the agents from the command line."""


@agent.command("list")
def agent_list() -> None:
    """The agents this service runs."""
    from agents import runtime as agent_runtime
    for name in agent_runtime.AGENTS:
        click.echo(name)


@agent.command("run")
@click.argument("name")
@click.option("--prompt", "-p", required=True, help="What to ask, e.g. \"Investigate the cause of the payment API "
                                                   "outage at 14:30\".")
@click.option("--incident", "incident_id", help="The incident it is about (INC-YYYY-MMDD-NNN).")
@click.option("--yes", "-y", is_flag=True, help="runbook-executor: approve every step that changes something.")
def agent_run(name: str, prompt: str, incident_id: str | None, yes: bool) -> None:
    """Run one agent and print its answer as Markdown."""
    from agents import runtime as agent_runtime
    if name not in agent_runtime.AGENTS:
        _fail(f"no agent named {name!r}; agents: {', '.join(agent_runtime.AGENTS)}", code=2)
    if not prompt.strip():
        _fail("--prompt is empty: say what to ask", code=2)
    if name == "runbook-executor":
        from app.runbooks.cli import agent_execute
        if agent_execute(prompt, incident_id, yes):  # "Execute runbook: NAME key=value": a person starts it
            return

    async def work(runtime: Runtime) -> AgentAnswer:
        from agents.incident_commander import named_incident_id
        from agents.postmortem.notes import before_notes

        # An id inside pasted notes ("h1. Postmortem: INC-...") names no stored incident: only the request counts.
        named = named_incident_id(before_notes(prompt))
        request = await agent_runtime.load(runtime, prompt, incident_id=incident_id or named)
        return await agent_runtime.run(runtime, name, request, author=_operator())

    try:
        answer = _with_runtime(work)
    except agent_runtime.AgentError as error:
        _fail(str(error))
    click.echo(answer.text_markdown, nl=False)
    if answer.note:
        click.echo(f"note: {answer.note}", err=True)


@main.group()
def postmortem() -> None:
    """Write, export, edit and review an incident's postmortem."""


async def _generate(runtime: Runtime, public_id: str, force: bool) -> AgentAnswer:
    from agents import runtime as agent_runtime

    request = await agent_runtime.load(runtime, f"Generate postmortem for {public_id}", incident_id=public_id)
    return await agent_runtime.run(runtime, "postmortem-writer", request, force=force, author=_operator())


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


@postmortem.command("generate")
@click.argument("public_id")
@click.option("--force", is_flag=True, help="Add a generated version even after a person's edit (which is kept).")
def postmortem_generate(public_id: str, force: bool) -> None:
    """Write the postmortem from the incident's record, as a new version, and print it."""
    from agents import runtime as agent_runtime

    try:
        answer = _with_runtime(lambda runtime: _generate(runtime, public_id, force))
    except agent_runtime.AgentError as error:
        _fail(str(error))
    click.echo(answer.text_markdown, nl=False)


@postmortem.command("export")
@click.argument("public_id")
@click.option("--version", "number", type=int, help="A given version (default: the latest).")
def postmortem_export(public_id: str, number: int | None) -> None:
    """Print the postmortem as Markdown (`> file.md`); writes one first if there is none."""
    from agents import runtime as agent_runtime
    from app.incidents import service
    from app.postmortems import service as postmortems

    async def work(runtime: Runtime) -> str:
        async with runtime.sessions() as session:
            incident = await service.get_incident(session, public_id)
            if incident is None:
                raise agent_runtime.AgentError(f"no incident {public_id}; `incidentbot list` shows them")
            row = await (postmortems.version(session, incident.id, number) if number
                         else postmortems.latest(session, incident.id))
        if row is not None:
            return row.markdown
        if number:
            raise agent_runtime.AgentError(f"{incident.public_id} has no postmortem version {number}")
        return (await _generate(runtime, public_id, force=False)).text_markdown

    try:
        click.echo(_with_runtime(work), nl=False)
    except agent_runtime.AgentError as error:
        _fail(str(error))


@postmortem.command("import")
@click.argument("public_id")
@click.argument("markdown_file", type=click.File("r"))
def postmortem_import(public_id: str, markdown_file: TextIO) -> None:
    """Keep an edited Markdown file as the next version (a later regeneration will not replace it unasked)."""
    from agents import runtime as agent_runtime
    from app.incidents import service
    from app.postmortems.flows import keep_edited

    text = markdown_file.read()
    if not text.strip():
        _fail(f"{markdown_file.name} is empty", code=2)

    async def work(runtime: Runtime) -> int:
        async with runtime.sessions() as session:
            incident = await service.get_incident(session, public_id)
        if incident is None:
            raise agent_runtime.AgentError(f"no incident {public_id}; `incidentbot list` shows them")
        return (await keep_edited(runtime.sessions, incident.id, text, _operator())).version

    try:
        click.echo(f"{public_id.upper()}: kept as postmortem version {_with_runtime(work)}")
    except agent_runtime.AgentError as error:
        _fail(str(error))


@postmortem.command("status")
@click.argument("public_id")
@click.argument("status")
def postmortem_status(public_id: str, status: str) -> None:
    """Move the latest version to draft, in-review or final."""
    from agents import runtime as agent_runtime
    from app.incidents import service
    from app.postmortems import service as postmortems

    wanted = postmortems.review_status(status)
    if wanted is None:
        _fail(f"unknown status {status!r}: use draft, in-review or final", code=2)

    async def work(runtime: Runtime) -> str:
        async with runtime.sessions() as session, session.begin():
            incident = await service.get_incident(session, public_id)
            if incident is None:
                raise agent_runtime.AgentError(f"no incident {public_id}; `incidentbot list` shows them")
            row = await postmortems.set_status(session, incident, wanted, _operator())
            if row is None:
                raise agent_runtime.AgentError(f"{incident.public_id} has no postmortem yet: "
                                               f"`incidentbot postmortem generate {incident.public_id}`")
            return f"{incident.public_id}: postmortem version {row.version} is now {row.status}"

    try:
        click.echo(_with_runtime(work))
    except agent_runtime.AgentError as error:
        _fail(str(error))


# --- the lifecycle without Slack ---------------------------------------------------------------------

@main.group()
def incident() -> None:
    """Run an incident after `declare`: the /incident commands, without Slack.

    With Slack configured, each change is posted in the war room and updates its card, topic and announcement,
    as the slash commands do.
    """


def _by_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--by", "by", help="Who makes the change: a Slack user id is mentioned in the war room "
                                           "(default: cli:<your login>).")(command)


def _change(public_id: str, by: str | None,
            make: Callable[[Runtime, Actor], Change[Any] | Awaitable[Change[Any]]]) -> None:
    """Make one change to the named incident through the same path as Slack, then say what happened."""
    from app.incidents import service
    from app.incidents.lifecycle import Actor
    from app.incidents.models import Source
    from app.incidents.render import plain
    from app.slack import changes

    async def work(runtime: Runtime) -> changes.Changed:
        async with runtime.sessions() as session:
            found = await service.get_incident(session, public_id)
        if found is None:
            raise CommandFailed(f"no incident {public_id.upper()}; `incidentbot list` shows the recorded ones")
        try:
            change = make(runtime, Actor(by or _operator(), Source.CLI))
            if not isinstance(change, changes.Change):
                change = await change
        except changes.UnknownName as exc:
            _fail(plain(str(exc)).replace("`", "'"), code=2)
        return await changes.make_change(runtime, found.id, change)

    changed = _with_runtime(work)
    click.echo(plain(" ".join(changed.done)))
    for problem in changed.problems:
        click.echo(f"warning: recorded, but Slack refused part of the war-room update: {problem}", err=True)


@incident.command("update")
@click.argument("public_id")
@click.argument("text", nargs=-1, required=True)
@click.option("--status", type=click.Choice(["investigating", "identified", "monitoring"]),
              help="Move the incident to this status with the update.")
@_by_option
def incident_update(public_id: str, text: tuple[str, ...], status: str | None, by: str | None) -> None:
    """Post a status update (and change the status)."""
    from app.incidents.lifecycle import UPDATE_STATUSES
    from app.slack import changes

    _change(public_id, by, lambda runtime, actor: changes.update(
        runtime, " ".join(text), UPDATE_STATUSES[status] if status else None, actor))


@incident.command("severity")
@click.argument("public_id")
@click.argument("severity")
@click.argument("reason", nargs=-1)
@_by_option
def incident_severity(public_id: str, severity: str, reason: tuple[str, ...], by: str | None) -> None:
    """Change the severity (and the update cadence), saying why."""
    from app.slack import changes

    _change(public_id, by, lambda runtime, actor: changes.severity(
        runtime, changes.severity_named(runtime, severity), " ".join(reason) or None, actor))


@incident.command("assign")
@click.argument("public_id")
@click.argument("role")
@click.argument("user")
@_by_option
def incident_assign(public_id: str, role: str, user: str, by: str | None) -> None:
    """Give ROLE (ic, comms, scribe, sme, postmortem, or a configured one) to USER (a Slack user id briefs them
    by DM)."""
    from app.slack import changes

    user_id = user.strip().removeprefix("<").removesuffix(">").removeprefix("@")

    async def make(runtime: Runtime, actor: Actor) -> Change[Any]:
        spec = changes.role_named(runtime, role)
        problem = await changes.check_assignee(runtime, user_id)
        if problem:
            raise CommandFailed(problem)
        return changes.assign(spec, user_id, actor)

    _change(public_id, by, make)


@incident.command("note")
@click.argument("public_id")
@click.argument("text", nargs=-1, required=True)
@_by_option
def incident_note(public_id: str, text: tuple[str, ...], by: str | None) -> None:
    """Add a note to the timeline."""
    from app.slack import changes

    _change(public_id, by, lambda runtime, actor: changes.note(" ".join(text), actor))


@incident.command("resolve")
@click.argument("public_id")
@click.argument("summary", nargs=-1)
@_by_option
def incident_resolve(public_id: str, summary: tuple[str, ...], by: str | None) -> None:
    """Resolve, with a summary of what fixed it."""
    from app.slack import changes

    _change(public_id, by, lambda runtime, actor: changes.resolve(runtime, " ".join(summary) or None, actor))


@incident.command("reopen")
@click.argument("public_id")
@_by_option
def incident_reopen(public_id: str, by: str | None) -> None:
    """Reopen a resolved or closed incident."""
    from app.slack import changes

    _change(public_id, by, lambda runtime, actor: changes.reopen(runtime, actor))


@incident.command("close")
@click.argument("public_id")
@_by_option
def incident_close(public_id: str, by: str | None) -> None:
    """Close a resolved incident."""
    from app.slack import changes

    _change(public_id, by, lambda runtime, actor: changes.close(actor))


# --- API tokens: created and revoked here, on the database itself, so that no token is needed to make one ---

@main.group()
def token() -> None:
    """API tokens for /api/v1 (`Authorization: Bearer <token>`)."""


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "write"]), default="write", show_default=True,
              help="read: GET only; write: every change too.")
def token_create(name: str, scope: str) -> None:
    """Create a token and print it, once: only its hash is stored."""
    from app.tokens import service
    from app.tokens.models import Scope

    async def work(runtime: Runtime) -> service.Issued:
        async with runtime.sessions.begin() as session:
            try:
                return await service.create(session, name, Scope(scope), created_by=f"cli:{getpass.getuser()}")
            except service.TokenError as exc:
                raise CommandFailed(str(exc)) from exc

    issued = _with_runtime(work)
    click.echo(f"token {name!r} ({scope}) created; it is shown only now, store it:", err=True)
    click.echo(issued.secret)


@token.command("list")
def token_list() -> None:
    """List tokens: name, scope, when created and last used, and whether revoked (never the tokens)."""
    from app.tokens import service

    async def work(runtime: Runtime) -> list[str]:
        async with runtime.sessions() as session:
            rows = await service.listed(session)
        return [f"{t.name:<24} {t.scope:<5}  created {t.created_at:%Y-%m-%d %H:%M}  "
                f"last used {f'{t.last_used_at:%Y-%m-%d %H:%M}' if t.last_used_at else 'never':<16}  "
                + (f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active") for t in rows]

    rows = _with_runtime(work)
    click.echo("\n".join(rows) if rows else "No API tokens: `incidentbot token create NAME` makes one.")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token at once: requests with it are refused with 401 from now on."""
    from app.tokens import service

    async def work(runtime: Runtime) -> None:
        async with runtime.sessions.begin() as session:
            try:
                await service.revoke(session, name)
            except service.TokenError as exc:
                raise CommandFailed(str(exc)) from exc

    _with_runtime(work)
    click.echo(f"token {name!r} revoked")


@main.command("demo")
def demo_command() -> None:
    """Run the Payment API incident end to end on the embedded store, printing what each step posts."""
    from app.demo import run_demo

    run_demo(click.echo)


# --- runbooks ------------------------------------------------------------------------------------------
def _add_runbook_commands() -> None:
    from app.runbooks.cli import runbook

    main.add_command(runbook)


_add_runbook_commands()


if __name__ == "__main__":
    main()
