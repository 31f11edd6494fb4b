"""The incident commander's results in Block Kit: the status report, answers to questions, the resolve handoff."""

from __future__ import annotations

from agents.base import AgentAnswer
from agents.incident_commander.common import AGENT
from agents.incident_commander.reply import Entry, Reply, Section
from agents.incident_commander.resolve_handoff import Handoff, resolved_label
from agents.incident_commander.status import (
    ActionLine,
    RoleLine,
    StatusReport,
    duration_label,
    next_update_text,
    severity_label,
)
from app.incidents.render import clock, datetime_utc
from app.slack.blocks import Block, announcement_blocks, channel_link, context, escape, fields, header, mention, section

MAX_ENTRIES = 40  # a section holds 3000 characters; longer lists are cut there anyway


def _roles(roles: list[RoleLine], report: StatusReport) -> str:
    if not roles:
        return "_Nobody holds a role._"
    return "\n".join(f"• {escape(r.role)}: {mention(r.user_id)} ({escape(r.status)}, since {report.at(r.since)})"
                     for r in roles)


def _actions(actions: list[ActionLine]) -> str:
    if not actions:
        return "_None open._"
    return "\n".join(f"{i}. ☐ {escape(a.text)}" for i, a in enumerate(actions, 1))


def _last_update(report: StatusReport) -> str:
    update = report.last_update
    if update is None:
        return ("_No status update posted yet._ Post one with `/incident update <text>`." if report.is_open
                else "_No status update was posted._")
    by = f"{mention(update.actor)}: " if update.actor else ""
    return f"`{report.at(update.at)}` {by}{escape(update.text)}"


def status_blocks(report: StatusReport) -> list[Block]:
    next_update = next_update_text(report)
    if report.update_overdue:
        next_update = f":warning: {next_update}"
    return [
        header(f"Status: {report.public_id}"),
        section(f"*{escape(report.title)}*"),
        fields([
            ("Severity", escape(severity_label(report))),
            ("Status", report.status),
            ("Declared", datetime_utc(report.declared_at)),
            ("Duration", duration_label(report)),
            ("Incident Commander", mention(report.commander)),
            ("War room", channel_link(report.channel_id, report.channel_name)),
        ]),
        section(f"*Assigned roles*\n{_roles(report.roles, report)}"),
        section(f"*Last update*\n{_last_update(report)}"),
        section(f"*Open next actions*\n{_actions(report.open_actions)}"),
        section(f"*Next update due*\n{next_update}"),
        context(f"{report.public_id} · as of {report.at(report.as_of)} · incidentbot {AGENT}"),
    ]


def _entry(entry: Entry, index: int, section_: Section, days: bool) -> str:
    mark = f"{index}. " if section_.numbered else "• "
    box = "" if entry.done is None else ("☑ " if entry.done else "☐ ")
    at = f"`{clock(entry.at, days)}` " if entry.at else ""
    who = f"{mention(entry.who)}: " if entry.who else ""
    tags = f" ({escape(', '.join(entry.tags))})" if entry.tags else ""
    return f"{mark}{box}{at}{who}{escape(entry.text)}{tags}"


def _section(s: Section, days: bool) -> str:
    lines = [_entry(e, i, s, days) for i, e in enumerate(s.entries[:MAX_ENTRIES], 1)] or [f"_{escape(s.empty)}_"]
    heading = f"*{escape(s.heading)}*\n" if s.heading else ""
    return heading + "\n".join(lines)


def reply_blocks(reply: Reply) -> list[Block]:
    blocks: list[Block] = []
    if reply.notice:
        blocks.append(section(f"_{escape(reply.notice)}_"))
    if reply.report is not None:
        return blocks + status_blocks(reply.report)
    if reply.card is not None:  # a declaration: the incident as announced, and why this severity
        return [*announcement_blocks(reply.card), *(section(_section(s, False)) for s in reply.sections)]
    lead = f"*{escape(reply.title)}*" if reply.title else ""
    if reply.answer:
        lead = f"{lead}: {escape(reply.answer)}" if lead else escape(reply.answer)
    if lead:
        blocks.append(section(lead))
    blocks.extend(section(_section(s, reply.spans_days)) for s in reply.sections)
    if reply.footer:
        blocks.append(context(f"{escape(reply.footer)} · incidentbot {AGENT}"))
    return blocks


def answer_blocks(answer: AgentAnswer) -> list[Block]:
    return reply_blocks(Reply.model_validate(answer.data))


def _held(row: RoleLine, report: Handoff) -> str:
    until = report.at(row.ended_at) if row.ended_at else "still held"
    return f"{report.at(row.since)} - {until}"


def handoff_blocks(report: Handoff) -> list[Block]:
    people = "\n".join(f"• {escape(r.role)}: {mention(r.user_id)} ({_held(r, report)})"
                       for r in report.participants) or "_Nobody held a role._"
    owner = (f"*Postmortem owner*: {mention(report.postmortem_owner)}" if report.postmortem_owner
             else f"*Next*: {report.prompt}")
    span = f"{report.duration} ({report.at(report.first_event_at)} - {resolved_label(report)})"
    return [
        header(f"Resolved: {report.public_id}"),
        section(f"*{escape(report.title)}*"),
        fields([
            ("Severity", report.severity),
            ("Status", report.status),
            ("Duration", span),
            ("Time to resolve", f"{report.time_to_resolve} (declared {datetime_utc(report.declared_at)})"),
        ]),
        section(f"*Summary*\n{escape(report.summary)}"),
        section(f"*Who took part*\n{people}"),
        section(f"*Open next actions* (for the postmortem)\n{_actions(report.open_actions)}"),
        section(owner),
        context(f"{report.public_id} · handoff · incidentbot {AGENT}"),
    ]


def handoff_text(report: Handoff) -> str:
    return f"{report.public_id} resolved after {report.time_to_resolve} ({report.severity}): {escape(report.title)}"
