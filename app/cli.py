"""`incidentbot` console script: serve, migrate, declare, list and show incidents, run agents, postmortems,
and a demo."""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

import click
from sqlalchemy.engine import make_url

from agents import runtime as agent_runtime
from agents.base import AgentAnswer
from agents.incident_commander import named_incident_id
from app.config import ConfigError
from app.db import migrate
from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents import service
from app.incidents.card import build_card
from app.incidents.flows import Declaration, InvalidDeclaration, declare
from app.incidents.models import Source
from app.incidents.render import card_markdown
from app.postmortems import service as postmortems
from app.postmortems.flows import keep_edited
from app.runtime import Runtime
from app.settings import get_settings
from app.warroom.models import StepState

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _database() -> str:
    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async command against a fresh runtime, turning expected failures into messages."""

    async def run() -> T:
        # Zero set-up: the embedded store is created and migrated on first use.
        migrate.upgrade(get_settings().database_url)
        runtime = Runtime.create(get_settings())
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except ConfigError as exc:
        _fail(str(exc))
    except DATABASE_UNAVAILABLE as exc:
        _fail(f"cannot reach the database at {_database()} ({type(exc).__name__}); is it running?")
    raise AssertionError("unreachable")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Slack-first incident response."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Apply database migrations, then run the service."""
    import uvicorn

    from app.main import create_app

    logging.getLogger().setLevel(logging.INFO)
    _upgrade()
    try:
        app = create_app()
    except ConfigError as exc:
        _fail(str(exc))
    uvicorn.run(app, host=host, port=port, log_level="info")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (Alembic upgrade head)."""
    _upgrade()
    click.echo(f"database at {_database()} is up to date")


def _upgrade() -> None:
    try:
        migrate.upgrade(get_settings().database_url)
    except DATABASE_UNAVAILABLE as exc:
        _fail(f"cannot reach the database at {_database()} ({type(exc).__name__})")


@main.command("declare")
@click.argument("title", nargs=-1, required=True)
@click.option("--severity", "-s", help="SEV1..SEV5 (default from config).")
@click.option("--description", "-d", help="What is known so far.")
@click.option("--service", "affected_service", help="Affected service.")
@click.option("--by", "declared_by", help="Slack user id of the declarer (invited to the war room).")
def declare_command(title: tuple[str, ...], severity: str | None, description: str | None,
                    affected_service: str | None, declared_by: str | None) -> None:
    """Declare an incident; opens its war room when Slack is configured."""
    declaration = Declaration(
        title=" ".join(title), severity=severity, description=description,
        affected_service=affected_service, source=Source.CLI,
        declared_by=declared_by or f"cli:{getpass.getuser()}",
    )

    async def work(runtime: Runtime) -> str:
        try:
            declared = await declare(runtime.sessions, runtime.config, declaration,
                                     war_room=runtime.war_room_lease)
        except InvalidDeclaration as exc:
            raise click.UsageError(str(exc)) from exc
        incident_id = declared.incident.id
        problems = []
        if runtime.war_room is not None:
            reports = await runtime.war_room.set_up(incident_id) or []
            problems = [r.describe() for r in reports if r.state in (StepState.FAILED, StepState.SKIPPED)]
        async with runtime.sessions() as session:
            incident = await service.get_incident_by_id(session, incident_id)
        text = card_markdown(build_card(incident, runtime.config, runtime.settings.incident_announce_channel))
        return text + "".join(f"\nwarning: {p}" for p in problems)

    click.echo(_with_runtime(work))


@main.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not yet resolved.")
def list_command(open_only: bool) -> None:
    """List recent incidents, newest first."""

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
    for name in agent_runtime.AGENTS:
        click.echo(name)


@agent.command("run")
@click.argument("name")
@click.option("--prompt", "-p", required=True, help="What to ask, e.g. \"Investigate the cause of the payment API "
                                                   "outage at 14:30\".")
@click.option("--incident", "incident_id", help="The incident it is about (INC-YYYY-MMDD-NNN).")
def agent_run(name: str, prompt: str, incident_id: str | None) -> None:
    """Run one agent and print its answer as Markdown."""
    if name not in agent_runtime.AGENTS:
        _fail(f"no agent named {name!r}; agents: {', '.join(agent_runtime.AGENTS)}", code=2)
    if not prompt.strip():
        _fail("--prompt is empty: say what to ask", code=2)

    async def work(runtime: Runtime) -> AgentAnswer:
        request = await agent_runtime.load(runtime, prompt, incident_id=incident_id or named_incident_id(prompt))
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
    request = await agent_runtime.load(runtime, f"Generate postmortem for {public_id}", incident_id=public_id)
    return await agent_runtime.run(runtime, "postmortem-writer", request, force=force, author=_operator())


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


@postmortem.command("generate")
@click.argument("public_id")
@click.option("--force", is_flag=True, help="Add a generated version even after a person's edit (which is kept).")
def postmortem_generate(public_id: str, force: bool) -> None:
    """Write the postmortem from the incident's record, as a new version, and print it."""
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


@main.command("demo")
def demo_command() -> None:
    """Run the Payment API incident end to end on the embedded store, printing what each step posts."""
    from app.demo import run_demo

    run_demo(click.echo)


if __name__ == "__main__":
    main()
