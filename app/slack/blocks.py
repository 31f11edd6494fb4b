"""Block Kit rendering of the incident card and announcement."""

from __future__ import annotations

from typing import Any

from app.incidents.card import IncidentCard
from app.incidents.render import SLACK_USER_ID, clock, datetime_utc

Block = dict[str, Any]
SECTION_LIMIT = 3000  # Slack rejects section text longer than this (invalid_blocks)


def escape(text: str) -> str:
    """Slack's mrkdwn control characters; user text can't ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(actor: str | None) -> str:
    if not actor:
        return "Unassigned"
    return f"<@{actor}>" if SLACK_USER_ID.match(actor) else escape(actor.split(":", 1)[-1])


def channel_link(channel_id: str | None, name: str | None) -> str:
    if channel_id:
        return f"<#{channel_id}>"
    return f"#{name}" if name else "no war room"


def _section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fields(pairs: list[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in pairs]}


def card_blocks(card: IncidentCard) -> list[Block]:
    roles = "\n".join(
        f"• {row.role}: {mention(row.assignee) if row.assignee else '_unassigned_'} ({row.status})"
        for row in card.roles
    )
    timeline = "\n".join(
        f"• `{clock(row.at, card.spans_days)}` {escape(row.text)}" for row in card.timeline[-15:]
    )
    actions = "\n".join(f"{i}. ☐ {escape(a)}" for i, a in enumerate(card.next_actions, 1))
    channels = [f"• Slack: {channel_link(card.channel_id, card.channel_name)}",
                f"• Announcements: #{escape(card.announce_channel.lstrip('#'))}"]
    if card.bridge_url:
        channels.append(f"• Bridge: {card.bridge_url}")
    if card.status_page_url:
        channels.append(f"• Status page: {card.status_page_url}")
    header = f"Incident declared: {card.public_id}"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
        _section(f"*{escape(card.title)}*" + (f"\n{escape(card.description)}" if card.description else "")),
        _fields([
            ("Severity", f"{card.severity} ({escape(card.severity_meaning)})"),
            ("Status", card.status),
            ("Declared", datetime_utc(card.declared_at)),
            ("Incident Commander", mention(card.commander)),
        ]),
        _fields([
            ("Affected service", escape(card.affected_service or "Not yet identified")),
            ("User impact", escape(card.user_impact or "Being assessed")),
            ("Revenue impact", escape(card.revenue_impact or "Being assessed")),
            ("Regions", escape(card.regions or "Being assessed")),
        ]),
        {"type": "divider"},
        _section(f"*Assigned roles*\n{roles}"),
        _section(f"*Initial timeline*\n{timeline or '_nothing yet_'}"),
        _section(f"*Next actions*\n{actions}"),
        _section("*Communication channels*\n" + "\n".join(channels)),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{card.public_id} · incidentbot"}]},
    ]
    return blocks


def card_fallback_text(card: IncidentCard) -> str:
    return f"{card.public_id} declared ({card.severity}): {card.title}"


def announcement_blocks(card: IncidentCard) -> list[Block]:
    return [
        _section(
            f":rotating_light: *{card.public_id}* declared: *{escape(card.title)}*\n"
            f"{card.severity} ({escape(card.severity_meaning)}) · {card.status} · "
            f"IC {mention(card.commander)}\nWar room: {channel_link(card.channel_id, card.channel_name)}"
        )
    ]
