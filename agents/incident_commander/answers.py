"""Answers to `@incidentbot` questions: status, roles, next actions and next update, from the incident store."""

from __future__ import annotations

import re
from datetime import datetime

from agents.base import AgentAnswer
from agents.incident_commander.common import AGENT, UPDATE_HINT, Block, _number, _rx
from agents.incident_commander.status import (
    StatusReport,
    _blocks_actions,
    _blocks_roles,
    _headline,
    _markdown_actions,
    human_duration,
    next_update_text,
    render_status_blocks,
    render_status_markdown,
    status_fallback,
    status_report,
)
from app.config import TeamConfig
from app.incidents.models import Incident
from app.incidents.render import datetime_utc, person
from app.slack.blocks import channel_link, context, escape, mention, section

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

HELP = (
    "I'm the incident commander agent. I answer from the incident record:\n"
    "• `status?` or `what's the current status of INC-2026-1125-001?`: severity, status, duration, roles, "
    "last update, open next actions and when the next update is due\n"
    "• `who is IC?`: who holds each role\n"
    "• `what's being done?`: the open next actions\n"
    "• `when is the next update?`: when the next status update is due\n"
    "• outside a war room, `status?` lists the open incidents\n"
    "Investigation, postmortems, runbooks and escalation will be handled by their own agents."
)


def named_incident_id(question: str) -> str | None:
    """The INC id a question names, upper-cased as stored, if any."""
    match = INCIDENT_ID.search(question)
    return match.group(0).upper() if match else None


def _answer(intent: str, incident: Incident | None, markdown: str, blocks: list[Block], fallback: str) -> AgentAnswer:
    return AgentAnswer(agent=AGENT, intent=intent, incident_id=incident.public_id if incident else None,
                       text_markdown=markdown, blocks=blocks, fallback_text=fallback)


def _report_answer(intent: str, incident: Incident, report: StatusReport, lead: str | None) -> AgentAnswer:
    markdown, blocks = render_status_markdown(report), render_status_blocks(report)
    if lead:
        markdown, blocks = f"_{lead}_\n\n{markdown}", [section(f"_{lead}_"), *blocks]
    return _answer(intent, incident, markdown, blocks, status_fallback(report))


def _focused_answer(intent: str, incident: Incident, report: StatusReport, markdown: str, slack: str) -> AgentAnswer:
    """A direct answer to a narrow question, with the incident's headline as context."""
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    headline = f"{report.public_id} · {report.severity} · {report.status} · {age}"
    blocks = [section(slack), context(f"{headline} · ask `status?` for the full report")]
    return _answer(intent, incident, f"{markdown}\n\n_{headline}_\n", blocks, status_fallback(report))


def _roles_answer(incident: Incident, report: StatusReport) -> AgentAnswer:
    ic = report.commander
    lead_md = f"**Incident Commander** of {report.public_id}: {person(ic)}"
    lead_slack = f"*Incident Commander* of {report.public_id}: {mention(ic)}"
    others_md = "\n".join(f"- {r.role}: {person(r.user_id)} ({r.status}, since {report.at(r.since)})"
                          for r in report.roles)
    markdown = f"{lead_md}\n\n{others_md}" if others_md else lead_md
    slack = f"{lead_slack}\n{_blocks_roles(report.roles, report)}"
    return _focused_answer("status", incident, report, markdown, slack)


def _actions_answer(incident: Incident, report: StatusReport) -> AgentAnswer:
    count = len(report.open_actions)
    title = f"{count} open next action{'s' if count != 1 else ''} on {report.public_id}"
    update = (f"\n\nLast update ({report.at(report.last_update.at)}): {report.last_update.text}"
              if report.last_update else "")
    slack_update = (f"\n*Last update* `{report.at(report.last_update.at)}`: {escape(report.last_update.text)}"
                    if report.last_update else "")
    markdown = f"**{title}**\n\n{_markdown_actions(report.open_actions)}{update}"
    slack = f"*{title}*\n{_blocks_actions(report.open_actions)}{slack_update}"
    return _focused_answer("status", incident, report, markdown, slack)


def _next_update_answer(incident: Incident, report: StatusReport) -> AgentAnswer:
    due = next_update_text(report)
    last = (f"Last update was at {report.at(report.last_update.at)}." if report.last_update
            else "No status update has been posted yet.")
    hint = f" {UPDATE_HINT}" if report.is_open else ""
    markdown = f"**Next update for {report.public_id}**: {due}\n\n{last}{hint}"
    slack = f"*Next update for {report.public_id}*: {':warning: ' if report.update_overdue else ''}{due}\n{last}{hint}"
    return _focused_answer("status", incident, report, markdown, slack)


def _open_incidents_answer(intent: str, open_incidents: list[Incident], now: datetime, lead: str) -> AgentAnswer:
    """No incident to talk about: say so, and list what is open (columns only; relations may not be loaded)."""
    if not open_incidents:
        none = "There are no open incidents. Declare one with `/incident declare SEV2 <title>`."
        return AgentAnswer(agent=AGENT, intent=intent, text_markdown=f"{lead} {none}\n",
                           blocks=[section(f"{escape(lead)} {none}")], fallback_text="There are no open incidents.")
    ordered = sorted(open_incidents, key=lambda i: (_number(i.severity) if i.severity[3:].isdigit() else 99,
                                                    i.declared_at))
    count = f"{len(ordered)} open incident{'s' if len(ordered) != 1 else ''}"
    rows_md = [f"| {i.public_id} | {i.severity} | {i.status} | {i.title} | {datetime_utc(i.declared_at)} "
               f"({human_duration(now - i.declared_at)}) | {'#' + i.channel_name if i.channel_name else '-'} |"
               for i in ordered]
    markdown = "\n".join([f"{lead}", "", f"## Open Incidents ({len(ordered)})", "",
                          "| Incident | Severity | Status | Title | Declared | War room |",
                          "|----------|----------|--------|-------|----------|----------|", *rows_md, ""])
    rows = [f"• *{i.public_id}* {i.severity} · {i.status} · {escape(i.title)} · "
            f"{channel_link(i.channel_id, i.channel_name)} · open {human_duration(now - i.declared_at)}"
            for i in ordered[:40]]
    blocks = [section(escape(lead)), section(f"*{count}*\n" + "\n".join(rows)),
              context("Ask `status of INC-…?` for one of them · incidentbot " + AGENT)]
    return AgentAnswer(agent=AGENT, intent=intent, text_markdown=markdown, blocks=blocks,
                       fallback_text=f"{count}: " + ", ".join(i.public_id for i in ordered[:10]))


def _help_answer(incident: Incident | None, open_incidents: list[Incident], now: datetime) -> AgentAnswer:
    if incident is not None:
        report = status_report(incident, now)
        markdown = f"This channel is about {_headline(report, slack=False)}"
        slack = f"This channel is about {_headline(report, slack=True)}"
    else:
        count = len(open_incidents)
        markdown = slack = f"There {'is' if count == 1 else 'are'} {count} open incident{'' if count == 1 else 's'}."
    return AgentAnswer(agent=AGENT, intent="help", incident_id=incident.public_id if incident else None,
                       text_markdown=f"{HELP}\n\n{markdown}\n", blocks=[section(HELP), context(slack)],
                       fallback_text="Here is what I can answer.")


def _deferred_lead(intent: str) -> str | None:
    if intent not in DEFERRED_AGENTS:
        return None
    agent, work = DEFERRED_AGENTS[intent]
    return f"{work.capitalize()} will be handled by the {agent} once it is available. Here is what I know."


def answer(
    incident: Incident | None,
    question: str,
    now: datetime,
    open_incidents: list[Incident],
    *,
    intent: str = "status",
    config: TeamConfig | None = None,
) -> AgentAnswer:
    """Answer `@incidentbot <question>` from the store.

    `incident` is the one the question is about (the named INC id, else the channel's war room).
    Narrow questions (IC, actions, next update) get a direct answer; anything status-like the full
    report; no incident lists the open ones; unrelated questions say what can be answered.
    """
    named = named_incident_id(question)
    lead = _deferred_lead(intent)
    if named and (incident is None or incident.public_id != named):
        return _open_incidents_answer(intent, open_incidents, now, f"I can't find {named}.")
    if incident is None:
        return _open_incidents_answer(intent, open_incidents, now,
                                      " ".join(filter(None, [lead, "This channel is not an incident war room."])))
    report = status_report(incident, now, config)
    if lead is not None:
        return _report_answer(intent, incident, report, lead)
    if ASK_NEXT_UPDATE.search(question):
        return _next_update_answer(incident, report)
    if ASK_ROLES.search(question) and not ASK_ACTIONS.search(question):
        return _roles_answer(incident, report)
    if ASK_ACTIONS.search(question):
        return _actions_answer(incident, report)
    if question.strip() and not ASK_STATUS.search(question) and not named:
        return _help_answer(incident, open_incidents, now)
    return _report_answer(intent, incident, report, None)
