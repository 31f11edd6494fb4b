"""Escalation in Block Kit: the Notification Status from the agent's typed result, and the paged person's DM."""

from __future__ import annotations

from datetime import datetime

from agents.base import AgentAnswer
from agents.escalation_manager.status import EscalationStatus, NotificationRow
from app.escalations.delivery import Notice
from app.incidents.render import clock
from app.slack.blocks import Block, context, escape, header, section

ACKNOWLEDGE = "escalation_acknowledge"
MAX_ROWS = 20


def _at(value: datetime | None, days: bool) -> str:
    return clock(value, days) if value else "-"


def _who(row: NotificationRow) -> str:
    return f"<@{row.person}>" if row.slack_user else escape(row.person) + (
        " (PagerDuty)" if row.via == "pagerduty" else "")


def status_blocks(s: EscalationStatus) -> list[Block]:
    heading = f"Current severity: *{s.severity}*" + (f" (escalated from {s.escalated_from})" if s.escalated_from
                                                      else "")
    if s.escalation_reason:
        heading += f"\n*Escalation reason*: {escape(s.escalation_reason)}"
    blocks: list[Block] = [header(f"Escalation Status: {s.incident_id}")]
    if s.done:
        blocks.append(section(escape(s.done)))
    blocks.append(section(heading))
    rows = [f"• *{r.level}* {escape(r.role)}: {_who(r)} · notified {_at(r.notified_at, s.spans_days)} · "
            f"acknowledged {_at(r.acknowledged_at, s.spans_days)}" for r in s.rows[:MAX_ROWS]]
    blocks.append(section("*Notification status*\n" + ("\n".join(rows) or "_nobody notified yet_")))
    lines = [f"`{clock(t.at, s.spans_days)}` {escape(t.text)}" for t in s.timeline[-12:]]
    blocks.append(section("*Escalation timeline*\n" + ("\n".join(lines) or "_nothing yet_")))
    blocks.append(section("*Next escalation*\n" + _next(s)))
    if s.delayed:
        blocks.append(section("*Paging delayed*\n" + "\n".join(f"• {escape(d)}" for d in s.delayed)))
    blocks.append(section("*Communication sent*\n" + "\n".join(f"• {escape(c)}" for c in s.communications)))
    if s.recommendations:
        blocks.append(section("*Recommended actions*\n" + "\n".join(
            f"{n}. {escape(r)}" for n, r in enumerate(s.recommendations, 1))))
    blocks.append(context(f"{s.incident_id} · escalation-manager" + (f" · policy {escape(s.policy)}" if s.policy
                                                                      else "")))
    return blocks


def _next(s: EscalationStatus) -> str:
    if s.next is None:
        return escape(s.chain_ended or "Nothing further")
    who = f"{s.next.level} {escape(s.next.role)}"
    if s.next.due_at is not None:
        return f"If not acknowledged by {clock(s.next.due_at, s.spans_days)} UTC, {who} will be notified."
    since = f" since {clock(s.next.paused_since, s.spans_days)} UTC" if s.next.paused_since else ""
    return f"Paused{since}: {who} is next (`/incident escalate <reason>` notifies them now)."


def notice_text(n: Notice) -> str:
    return f"You are paged for {n.public_id} ({n.severity}) as {n.level} {n.role}: {escape(n.title)}"


def notice_blocks(n: Notice) -> list[Block]:
    room = f"<#{n.channel_id}>" if n.channel_id else "no war room yet"
    level = f"{n.level} {escape(n.role)}" if n.level != n.role else escape(n.role)
    return [
        section(f":rotating_light: *{n.public_id}* ({n.severity}): *{escape(n.title)}*\n"
                f"You are notified as *{level}* ({escape(n.reason)}). War room: {room}"),
        {"type": "actions", "block_id": "escalation_ack", "elements": [
            {"type": "button", "action_id": ACKNOWLEDGE, "style": "primary", "value": str(n.notification_id),
             "text": {"type": "plain_text", "text": "Acknowledge"}}]},
        context("Acknowledging tells the war room you are on it, and holds the next level."),
    ]


def acknowledged_blocks(public_id: str, at: datetime, by_you: bool) -> list[Block]:
    who = "You acknowledged" if by_you else "Acknowledged"
    return [section(f":white_check_mark: {who} {public_id} at {clock(at)} UTC.")]


def answer_blocks(answer: AgentAnswer) -> list[Block]:
    return status_blocks(EscalationStatus.model_validate(answer.data))
