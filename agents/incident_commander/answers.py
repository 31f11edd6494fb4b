"""Answers to `@incidentbot` questions, from the incident store, as a typed `Reply`."""

from __future__ import annotations

import re
from datetime import datetime

from agents.base import AgentAnswer
from agents.incident_commander import markdown
from agents.incident_commander.common import AGENT, UPDATE_HINT, _number, _rx
from agents.incident_commander.reply import Entry, Reply, Section
from agents.incident_commander.status import (
    StatusReport,
    headline,
    human_duration,
    next_update_text,
    ref,
    status_report,
)
from app.config import TeamConfig
from app.incidents.models import Incident
from app.incidents.render import datetime_utc

INCIDENT_ID = re.compile(r"\bINC-\d{4}-\d{4}-\d{3}\b", re.IGNORECASE)


# The agents that will take over these intents; until they exist the commander answers with status.
DEFERRED_AGENTS = {
    "runbook": ("runbook-executor", "running runbooks"),
    "escalate": ("escalation-manager", "escalations and paging"),
}

ASK_NEXT_UPDATE = _rx(r"next\s+update", r"update\s+(?:is\s+)?due", r"when\b.*\bupdate", r"cadence",
                      r"overdue")
ASK_ROLES = _rx(r"who", r"ic", r"commander", r"roles?", r"comms", r"communications", r"scribe", r"in\s+charge",
                r"leading", r"owner", r"sme")
ASK_ACTIONS = _rx(r"being\s+done", r"next\s+actions?", r"actions?", r"doing", r"working\s+on", r"to-?dos?",
                  r"plan", r"next\s+steps?", r"mitigat\w*")
ASK_STATUS = _rx(r"status", r"state", r"update", r"going\s+on", r"happening", r"progress", r"where\s+are\s+we",
                 r"summary", r"summari[sz]e", r"sitrep", r"severity", r"sev\d?", r"overview", r"report", r"latest",
                 r"news", r"impact", r"how\s+bad", r"how\s+(?:is|are)\s+(?:it|things|we)", r"duration",
                 r"how\s+long", r"incidents?", r"open", r"inc-\S+")

HELP = [
    ("status, roles and the next update", "`status?` or `what's the current status of INC-2026-1125-001?`"),
    ("who holds a role", "`who is IC?`"),
    ("what is being done", "`what's being done?`"),
    ("when the next update is due", "`when is the next update?`"),
    ("the open incidents, outside a war room", "`status?`"),
]


def named_incident_id(question: str) -> str | None:
    """The INC id a question names, upper-cased as stored, if any."""
    match = INCIDENT_ID.search(question)
    return match.group(0).upper() if match else None


def _footer(report: StatusReport) -> str:
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    return f"{report.public_id} · {report.severity} · {report.status} · {age} · ask `status?` for the full report"


def _focused(kind: str, report: StatusReport, title: str, answer: str | None = None,
             sections: list[Section] | None = None) -> Reply:
    """A direct answer to a narrow question, with the incident's headline as context."""
    return Reply(kind=kind, incident_id=report.public_id, title=title, answer=answer, sections=sections or [],
                 footer=_footer(report), spans_days=report.spans_days)


def _roles(report: StatusReport) -> Reply:
    entries = [Entry(text=f"{r.role}: {ref(r.user_id)} ({r.status}, since {report.at(r.since)})")
               for r in report.roles]
    return _focused("roles", report, f"Incident Commander of {report.public_id}", ref(report.commander),
                    [Section(entries=entries, empty="Nobody holds a role.")])


def _actions(report: StatusReport) -> Reply:
    count = len(report.open_actions)
    entries = [Entry(text=a.text, done=False) for a in report.open_actions]
    sections = [Section(entries=entries, empty="None open.", numbered=True)]
    if report.last_update is not None:
        sections.append(Section(heading="Last update", entries=[
            Entry(text=report.last_update.text, at=report.last_update.at, who=report.last_update.actor)]))
    return _focused("actions", report, f"{count} open next action{'s' if count != 1 else ''} on {report.public_id}",
                    sections=sections)


def _next_update(report: StatusReport) -> Reply:
    last = (f"Last update was at {report.at(report.last_update.at)}." if report.last_update
            else "No status update has been posted yet.")
    hint = f" {UPDATE_HINT}" if report.is_open else ""
    return _focused("next_update", report, f"Next update for {report.public_id}", next_update_text(report),
                    [Section(entries=[Entry(text=last + hint)])])


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
                 sections=[Section(heading="What you can ask", entries=entries)], footer=about)


def _deferred_notice(intent: str) -> str | None:
    if intent not in DEFERRED_AGENTS:
        return None
    agent, work = DEFERRED_AGENTS[intent]
    return f"{work.capitalize()} will be handled by the {agent} once it is available. Here is what I know."


def _full_report(report: StatusReport, notice: str | None) -> Reply:
    return Reply(kind="status", incident_id=report.public_id, notice=notice, report=report,
                 footer=headline(report), spans_days=report.spans_days)


def reply(incident: Incident | None, question: str, now: datetime, open_incidents: list[Incident], *,
          intent: str = "status", config: TeamConfig | None = None) -> Reply:
    """The answer to `@incidentbot <question>`, from the store.

    `incident` is the one the question is about (the named INC id, else the channel's war room).
    Narrow questions (IC, actions, next update) get a direct answer; anything status-like the full
    report; no incident lists the open ones; unrelated questions say what can be answered.
    """
    named = named_incident_id(question)
    notice = _deferred_notice(intent)
    if named and (incident is None or incident.public_id != named):
        return _open_incidents(open_incidents, now, f"I can't find {named}.")
    if incident is None:
        return _open_incidents(open_incidents, now,
                               " ".join(filter(None, [notice, "This channel is not an incident war room."])))
    report = status_report(incident, now, config)
    if notice is not None:
        return _full_report(report, notice)
    if ASK_NEXT_UPDATE.search(question):
        return _next_update(report)
    if ASK_ROLES.search(question) and not ASK_ACTIONS.search(question):
        return _roles(report)
    if ASK_ACTIONS.search(question):
        return _actions(report)
    if question.strip() and not ASK_STATUS.search(question) and not named:
        return _help(incident, open_incidents, now)
    return _full_report(report, None)


def one_line(result: Reply) -> str:
    """What Slack shows in notifications: the footer's headline, else the title."""
    if result.kind == "status" and result.footer:
        return result.footer
    if result.kind == "open_incidents" and not result.sections:
        return "There are no open incidents."
    return result.title or result.answer or result.notice or "incident-commander"


def answer(incident: Incident | None, question: str, now: datetime, open_incidents: list[Incident], *,
           intent: str = "status", config: TeamConfig | None = None) -> AgentAnswer:
    """`reply`, with its Markdown; Slack renders the same data (app/slack/render/commander.py)."""
    result = reply(incident, question, now, open_incidents, intent=intent, config=config)
    return AgentAnswer(agent=AGENT, intent="help" if result.kind == "help" else intent,
                       incident_id=result.incident_id, text_markdown=markdown.reply(result),
                       fallback_text=one_line(result), data=result.model_dump(mode="json"))
