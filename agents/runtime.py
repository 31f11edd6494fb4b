"""Run an agent by name: load what it needs from the store, run it, keep its result on the incident.

The CLI (`incidentbot agent run NAME`), the `@incidentbot` router and the API all come through here, so every
agent sees the same request: the incident with its timeline, the war-room transcript, the request text.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agents.base import AgentAnswer, AgentRequest, AgentSettings
from app.action_items import service as action_items
from app.agent_runs import service as agent_runs
from app.db.base import utcnow
from app.escalations import flows as escalation_flows
from app.escalations import service as escalations
from app.incidents import service
from app.incidents.card import build_card
from app.incidents.lifecycle import Actor, IncidentChangeRefused
from app.incidents.models import Incident, Source, TranscriptMessage
from app.metrics import agent_run_seconds
from app.postmortems import service as postmortems
from app.warroom.models import StepState

if TYPE_CHECKING:
    from agents.incident_commander.declaring import DeclareAsk
    from app.runtime import Runtime

Agent = Callable[[AgentRequest], Awaitable[AgentAnswer]]


def _commander(intent: str) -> Agent:
    async def run(request: AgentRequest) -> AgentAnswer:
        from agents import incident_commander

        return incident_commander.answer(request, intent=intent)
    return run


def _imported(module: str, name: str) -> Agent:
    """The agent `name` of `module`, imported on its first run: a CLI command runs one agent, or none (`postmortem
    status`), and need not load them all. The service loads them all at start (`import_agents`)."""
    async def run(request: AgentRequest) -> AgentAnswer:
        agent: Agent = getattr(importlib.import_module(module), name)
        return await agent(request)
    return run


AGENTS: dict[str, Agent] = {
    "incident-commander": _commander("status"),
    "rca-agent": _imported("agents.rca.agent", "investigate"),
    "postmortem-writer": _imported("agents.postmortem.agent", "write_postmortem"),
    # suggests; a person starts a run (CLI, slash command)
    "runbook-executor": _imported("agents.runbook_executor.agent", "answer"),
    "escalation-manager": _imported("agents.escalation_manager.agent", "answer"),
}
MODULES = ("agents.incident_commander", "agents.rca.agent", "agents.postmortem.agent",
           "agents.runbook_executor.agent", "agents.escalation_manager.agent")


def import_agents() -> None:
    """Import every agent now, so that no request to a running service waits for one to load."""
    for module in MODULES:
        importlib.import_module(module)
ESCALATION = "escalation-manager"
COMMANDER = "incident-commander"
# Agents whose results are analyses worth keeping: stored, and put on the incident's timeline.
RECORDED = {"rca-agent"}
POSTMORTEM = "postmortem-writer"  # kept as postmortem versions, with its action items


class AgentError(Exception):
    """A request that cannot be run as asked; the message says why and what to do."""


class IncidentNotFound(AgentError):
    """The request names an incident the store does not have."""


async def load(runtime: Runtime, text: str, *, incident_id: str | None = None,
               channel_id: str | None = None) -> AgentRequest:
    """The request with its incident: the one named, else the war room's, else none."""
    async with runtime.sessions() as session:
        if incident_id is not None:
            incident = await service.get_incident(session, incident_id)
            if incident is None:
                raise IncidentNotFound(f"no incident {incident_id.upper()}; `incidentbot list` shows them")
        elif channel_id is not None:
            incident = await service.incident_for_channel(session, channel_id)
        else:
            incident = None
        transcript = await _transcript(session, incident) if incident is not None else []
        open_incidents = list(await service.list_incidents(session, open_only=True))
        items = await action_items.for_incident(session, incident.id) if incident is not None else []
        results = await _latest_results(session, incident) if incident is not None else {}
        chain = await escalations.view(session, incident.id) if incident is not None else None
    return AgentRequest(text=text, now=utcnow(), config=runtime.config, settings=AgentSettings.of(runtime.settings),
                        incident=incident, transcript=transcript, open_incidents=open_incidents,
                        action_items=items, results=results, escalation=chain)


async def _latest_results(session: AsyncSession, incident: Incident) -> dict[str, dict[str, Any]]:
    run = await agent_runs.latest(session, incident, "rca-agent")
    return {run.agent: run.result} if run is not None else {}


async def _transcript(session: AsyncSession, incident: Incident) -> list[TranscriptMessage]:
    rows = await session.scalars(
        select(TranscriptMessage).where(TranscriptMessage.incident_id == incident.id)
        .order_by(TranscriptMessage.posted_at))
    return list(rows)


async def run(runtime: Runtime, name: str, request: AgentRequest, *, request_key: str | None = None,
              force: bool = False, author: str | None = None) -> AgentAnswer:
    """Run an agent and keep what it produced. A postmortem over a person's edit needs `force`."""
    agent = AGENTS.get(name)
    if agent is None:
        raise AgentError(f"no agent named {name!r}; agents: {', '.join(AGENTS)}")
    if name == POSTMORTEM and request.incident is not None:
        async with runtime.sessions() as session:
            try:
                await postmortems.check_regenerate(session, request.incident.id, force)
            except postmortems.EditWouldBeReplaced as edited:
                raise AgentError(str(edited)) from edited
    if name == ESCALATION:
        return await _timed(name, lambda r: _escalation(runtime, r, author), request)
    declaration = None
    if name == COMMANDER:
        from agents import incident_commander

        declaration = incident_commander.declaration_asked(request.text)
    if declaration is not None:
        return await _timed(name, lambda r: _declare(runtime, declaration, author), request)
    answer = await _timed(name, agent, request)
    if request.incident is None or answer.data is None:
        return answer
    if name in RECORDED:
        await _record(runtime, request, answer, request_key)
    elif name == POSTMORTEM:
        from agents.postmortem.agent import answer as postmortem_answer
        from agents.postmortem.document import Postmortem
        from app.postmortems.flows import keep_generated

        kept, pm = await keep_generated(runtime.sessions, request.incident.id,
                                        Postmortem.model_validate(answer.data), author)
        answer = postmortem_answer(pm, kept.version)
    return answer


async def _timed(name: str, agent: Agent, request: AgentRequest) -> AgentAnswer:
    """Run the agent, observed by name and mode ("llm (model)" counts as llm; an exception as failed)."""
    started, mode = time.perf_counter(), "failed"
    try:
        answer = await agent(request)
        mode = answer.mode.split(" ", 1)[0]
        return answer
    finally:
        agent_run_seconds.labels(name, mode).observe(time.perf_counter() - started)


async def _escalation(runtime: Runtime, request: AgentRequest, author: str | None) -> AgentAnswer:
    """Escalate or de-escalate first when asked to (the same flow as `/incident escalate`), then the status."""
    from agents.escalation_manager import agent as escalation_manager
    from agents.escalation_manager.request import read as read_escalation

    ask = read_escalation(request.text)
    if ask.action == "status" or request.incident is None:
        return await escalation_manager.answer(request)
    flow = escalation_flows.escalate if ask.action == "escalate" else escalation_flows.deescalate
    actor = Actor(author or "cli", Source.SLACK if author and not author.startswith("cli:") else Source.CLI)
    try:
        done = await flow(runtime.sessions, runtime.config, request.incident.id, actor=actor, severity=ask.severity,
                          reason=ask.reason)
    except (IncidentChangeRefused, escalations.EscalationRefused) as refused:
        raise AgentError(str(refused)) from refused
    await runtime.escalations.run_once()  # tell the people now, not at the next tick
    fresh = await load(runtime, request.text, incident_id=request.incident.public_id)
    return await escalation_manager.answer(fresh, done=done.summary())


async def _declare(runtime: Runtime, ask: DeclareAsk, author: str | None) -> AgentAnswer:
    """Declare through the one declare flow (as `incidentbot declare` and `/incident declare` do), then the card."""
    from agents import incident_commander
    from app.incidents.flows import Declaration, InvalidDeclaration, declare_and_open

    # The CLI names its operator (cli:name), Slack the user who asked; the API names nobody.
    source = Source.API if author is None else Source.CLI if author.startswith("cli:") else Source.SLACK
    declaration = Declaration(title=ask.title, severity=ask.severity, description=ask.description, source=source,
                              declared_by=author or "api")
    try:
        # A CLI process exits right after: the war room is set up before it answers, escalations by the service.
        opened = await declare_and_open(runtime, declaration, kick_escalations=source != Source.CLI,
                                        wait_for_war_room=source == Source.CLI)
    except InvalidDeclaration as invalid:
        raise AgentError(str(invalid)) from invalid
    async with runtime.sessions() as session:
        incident = await service.get_incident_by_id(session, opened.declared.incident.id)
    card = build_card(incident, runtime.config, runtime.settings.incident_announce_channel)
    problems = [r.describe() for r in opened.reports or [] if r.state in (StepState.FAILED, StepState.SKIPPED)]
    return incident_commander.declared(card, opened.declared.assessment, problems)


async def _record(runtime: Runtime, request: AgentRequest, answer: AgentAnswer, request_key: str | None) -> None:
    try:
        async with runtime.sessions() as session, session.begin():
            incident = await service.get_incident_by_id(session, request.incident.id)  # type: ignore[union-attr]
            await agent_runs.record(session, incident, agent=answer.agent, mode=answer.mode, request=request.text,
                                    summary=answer.summary, markdown=answer.text_markdown, result=answer.data or {},
                                    request_key=request_key)
    except IntegrityError:
        pass  # the same Slack event, delivered twice: already recorded once
