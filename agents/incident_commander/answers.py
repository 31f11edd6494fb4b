"""Answers to `@incidentbot` questions, from the incident store, as a typed `Reply` (routed by `intents`)."""

from __future__ import annotations

import re
from datetime import datetime

from agents.base import AgentAnswer, AgentRequest
from agents.incident_commander import intents, markdown, questions, record
from agents.incident_commander.common import AGENT, UPDATE_HINT, _number
from agents.incident_commander.reply import Entry, Reply, Section
from agents.incident_commander.status import (
    StatusReport,
    headline,
    human_duration,
    next_update_text,
    status_report,
)
from app.incidents.models import Incident
from app.incidents.render import datetime_utc

INCIDENT_ID = re.compile(r"\bINC-\d{4}-\d{4}-\d{3}\b", re.IGNORECASE)


# The agents that answer the router's other intents, should one reach the commander (it answers with status).
OTHER_AGENTS = {
    "investigate": ("rca-agent", "Root causes"),
    "postmortem": ("postmortem-writer", "Postmortems"),
    "runbook": ("runbook-executor", "Runbooks"),
    "escalate": ("escalation-manager", "Escalations and paging"),
}

HELP = [
    ("catch-up: what happened so far, in order", "`tl;dr?` · `I just joined, what's going on?`"),
    ("status: severity, status, roles, last update", "`status?` · `what's the current status of INC-2026-1125-001?`"),
    ("what changed: deploys, flags, config", "`any deploys recently?` · `what changed in the last hour?`"),
    ("next steps: open actions, unfilled roles, the update", "`what should I do next?` · `what are we waiting on?`"),
    ("resolved or not", "`is it fixed yet?` · `are we good?`"),
    ("affected service and impact", "`which service is affected?` · `how many customers are hit?`"),
    ("action items and their owners", "`open action items?` · `who owns the rollback?`"),
    ("who holds a role", "`who is IC?` · `who's doing comms?`"),
    ("an executive summary", "`summarize for execs`"),
    ("how long it has lasted", "`how long has this been going on?`"),
    ("when the next update is due", "`when is the next update?`"),
    ("the open incidents, outside a war room", "`status?`"),
]
ELSEWHERE = ("Root causes (`why did this happen?`), postmortems, runbooks and escalation are answered by their own "
             "agents: ask in the same way.")


def named_incident_id(question: str) -> str | None:
    """The INC id a question names, upper-cased as stored, if any."""
    match = INCIDENT_ID.search(question)
    return match.group(0).upper() if match else None


def _footer(report: StatusReport) -> str:
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    return f"{report.public_id} · {report.severity} · {report.status} · {age} · ask `status?` for the full report"


def _next_update(report: StatusReport) -> Reply:
    last = (f"Last update was at {report.at(report.last_update.at)}." if report.last_update
            else "No status update has been posted yet.")
    hint = f" {UPDATE_HINT}" if report.is_open else ""
    return Reply(kind="next_update", incident_id=report.public_id, title=f"Next update for {report.public_id}",
                 answer=next_update_text(report), sections=[Section(entries=[Entry(text=last + hint)])],
                 footer=_footer(report), spans_days=report.spans_days)


def _open_incidents(open_incidents: list[Incident], now: datetime, notice: str) -> Reply:
    """No incident to talk about: say so, and list what is open (columns only; relations may not be loaded)."""
    if not open_incidents:
        return Reply(kind="open_incidents", notice=notice,
                     answer="There are no open incidents. Declare one with `/incident declare SEV2 <title>`.")
    ordered = sorted(open_incidents, key=lambda i: (_number(i.severity) if i.severity[3:].isdigit() else 99,
                                                    i.declared_at))
    entries = [Entry(text=f"{i.public_id} {i.severity} · {i.status} · {i.title} · declared "
                          f"{datetime_utc(i.declared_at)} · open {human_duration(now - i.declared_at)} · "
                          f"{'#' + i.channel_name if i.channel_name else 'no war room'}")
               for i in ordered[:40]]
    count = f"{len(ordered)} open incident{'s' if len(ordered) != 1 else ''}"
    return Reply(kind="open_incidents", notice=notice, title=count, sections=[Section(entries=entries)],
                 footer="Ask `status of INC-…?` for one of them")


def _help(incident: Incident | None, open_incidents: list[Incident], now: datetime) -> Reply:
    if incident is not None:
        about = f"This channel is about {headline(status_report(incident, now))}"
    else:
        count = len(open_incidents)
        about = f"There {'is' if count == 1 else 'are'} {count} open incident{'' if count == 1 else 's'}."
    entries = [Entry(text=f"{what}: {example}") for what, example in HELP]
    return Reply(kind="help", incident_id=incident.public_id if incident else None,
                 title="I'm the incident commander agent. I answer from the incident record",
                 sections=[Section(heading="What you can ask", entries=entries), Section(entries=[
                     Entry(text=ELSEWHERE)])], footer=about)


def _other_agent_notice(intent: str) -> str | None:
    if intent not in OTHER_AGENTS:
        return None
    agent, work = OTHER_AGENTS[intent]
    return f"{work} are the {agent}'s (`incidentbot agent run {agent}`). Here is the status."


def _full_report(report: StatusReport, notice: str | None) -> Reply:
    return Reply(kind="status", incident_id=report.public_id, notice=notice, report=report,
                 footer=headline(report), spans_days=report.spans_days)


def reply(request: AgentRequest, *, intent: str = "status") -> Reply:
    """The answer to `@incidentbot <question>`, from the store.

    The incident is the one the question names (its INC id), else the war room's. A question about it is
    answered by its intent (`intents.py`) from the record; a status question gets the full report; with no
    incident the open ones are listed; a question the commander cannot answer gets the list of what it can.
    """
    incident, question, now = request.incident, request.text, request.now
    named = named_incident_id(question)
    notice = _other_agent_notice(intent)
    if named and (incident is None or incident.public_id != named):
        return _open_incidents(request.open_incidents, now, f"I can't find {named}.")
    if incident is None:
        return _open_incidents(request.open_incidents, now,
                               " ".join(filter(None, [notice, "This channel is not an incident war room."])))
    report = status_report(incident, now, request.config)
    if notice is not None:
        return _full_report(report, notice)
    asked = intents.intent(question)
    if asked in questions.ANSWERS:
        return questions.ANSWERS[asked](record.read(request), question)
    if asked == "next_update":
        return _next_update(report)
    if asked is None and question.strip() and not named:
        return _help(incident, request.open_incidents, now)
    return _full_report(report, None)


def one_line(result: Reply) -> str:
    """What Slack shows in notifications: the footer's headline, else the title."""
    if result.kind == "status" and result.footer:
        return result.footer
    if result.kind == "open_incidents" and not result.sections:
        return "There are no open incidents."
    return result.title or result.answer or result.notice or "incident-commander"


def answer(request: AgentRequest, *, intent: str = "status") -> AgentAnswer:
    """`reply`, with its Markdown; Slack renders the same data (app/slack/render/commander.py)."""
    result = reply(request, intent=intent)
    return AgentAnswer(agent=AGENT, intent="help" if result.kind == "help" else intent,
                       incident_id=result.incident_id, text_markdown=markdown.reply(result),
                       fallback_text=one_line(result), data=result.model_dump(mode="json"))
