"""Block Kit rendering of the incident card and announcement."""

from __future__ import annotations

import re
from typing import Any

from app.incidents.card import ActionRow, IncidentCard
from app.incidents.render import SLACK_USER_ID, clock, datetime_utc

Block = dict[str, Any]
SECTION_LIMIT, FIELD_LIMIT, HEADER_LIMIT = 3000, 2000, 150  # Slack's limits on block texts
MAX_CARD_ACTIONS = 15  # Slack allows 50 blocks a message; the checklist gets at most this many


ESCAPED_USER_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def escape(text: str) -> str:
    """Slack's mrkdwn control characters, so stored text can't ping @channel or forge links.

    User mentions (`<@U123>`), which the timeline keeps as Slack writes them, stay mentions.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return ESCAPED_USER_MENTION.sub(r"<@\1>", escaped)


def unescape(text: str) -> str:
    """Slack's encoding of message and command text, back to what people typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mention(actor: str | None) -> str:
    if not actor:
        return "Unassigned"
    return f"<@{actor}>" if SLACK_USER_ID.match(actor) else escape(actor.split(":", 1)[-1])


def channel_link(channel_id: str | None, name: str | None) -> str:
    if channel_id:
        return f"<#{channel_id}>"
    return f"#{escape(name)}" if name else "no war room"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, SECTION_LIMIT)}}


def fields(pairs: list[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": _fit(f"*{k}*\n{v}", FIELD_LIMIT)}
                                          for k, v in pairs]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _fit(text, HEADER_LIMIT)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text, SECTION_LIMIT)}]}


def _fit(text: str, limit: int) -> str:
    """Slack rejects the whole message (invalid_blocks) when one text is over its limit."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_blocks(card: IncidentCard) -> list[Block]:
    """The pinned incident card, kept current: facts, roles, timeline, checklist and buttons."""
    title = f"*{escape(card.title)}*" + (f"\n{escape(card.description)}" if card.description else "")
    if card.summary:
        title += f"\n*Resolution:* {escape(card.summary)}"
    if card.last_update:
        title += f"\n*Last update* ({clock(card.last_update.at, card.spans_days)}): {escape(card.last_update.text)}"
    blocks: list[Block] = [
        header(card_heading(card)),
        section(title),
        fields([
            ("Severity", f"{card.severity} ({escape(card.severity_meaning)})"),
            ("Status", card.status),
            ("Declared", datetime_utc(card.declared_at)),
            ("Incident Commander", mention(card.commander)),
        ]),
        fields([
            ("Affected service", escape(card.affected_service or "Not yet identified")),
            ("User impact", escape(card.user_impact or "Being assessed")),
            ("Revenue impact", escape(card.revenue_impact or "Being assessed")),
            ("Regions", escape(card.regions or "Being assessed")),
        ]),
        {"type": "divider"},
        section(f"*Assigned roles*\n{_roles(card)}"),
        section(f"*{'Initial timeline' if len(card.timeline) < 12 else 'Timeline'}*\n{_timeline(card)}"),
        section("*Next actions*"),
        *[_action_row(card, action) for action in card.next_actions[:MAX_CARD_ACTIONS]],
        section(f"*Communication channels*\n{_channels(card)}"),
    ]
    if card.is_open:
        blocks.append({"type": "actions", "block_id": "incident_buttons", "elements": [
            _button("Take IC", "take_ic", card.public_id),
            _button("Post update", "post_update", card.public_id, style="primary"),
            _button("Resolve", "resolve_incident", card.public_id, style="danger"),
        ]})
    blocks.append(context(f"{card.public_id} · incidentbot"))
    return blocks


def card_heading(card: IncidentCard) -> str:
    return f"Incident {'Declared' if card.is_open else card.status.title()}: {card.public_id}"


def _roles(card: IncidentCard) -> str:
    return "\n".join(
        f"• {row.role}: {mention(row.assignee) if row.assignee else '_unassigned_'} ({row.status})"
        for row in card.roles
    )


def _timeline(card: IncidentCard) -> str:
    rows = [f"• `{clock(row.at, card.spans_days)}` {escape(row.text)}" for row in card.timeline[-15:]]
    return "\n".join(rows) or "_nothing yet_"


def _channels(card: IncidentCard) -> str:
    channels = [f"• Slack: {channel_link(card.channel_id, card.channel_name)}",
                f"• Announcements: #{escape(card.announce_channel.lstrip('#'))}"]
    if card.bridge_url:
        channels.append(f"• Bridge: {card.bridge_url}")
    if card.status_page_url:
        channels.append(f"• Status page: {card.status_page_url}")
    return "\n".join(channels)


def _action_row(card: IncidentCard, action: ActionRow) -> Block:
    if action.done:
        text = f"☑ ~{escape(action.text)}~ ({mention(action.done_by)})"
        button = _button("Undo", "next_action_undo", f"{card.public_id}:{action.id}")
    else:
        text = f"☐ {escape(action.text)}"
        button = _button("Done", "next_action_done", f"{card.public_id}:{action.id}")
    block = section(text)
    if card.is_open:
        block["accessory"] = button
    return block


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id,
                     "value": value}
    if style:
        button["style"] = style
    return button


def card_fallback_text(card: IncidentCard) -> str:
    """Notification text: escaped like the blocks, or a title could ping @channel."""
    return f"{card.public_id} ({card.severity}, {card.status}): {escape(card.title)}"


def announcement_blocks(card: IncidentCard) -> list[Block]:
    """The one summary message in the announcement channel, edited in place as the incident changes."""
    icon = ":rotating_light:" if card.is_open else ":white_check_mark:"
    text = (f"{icon} *{card.public_id}*: *{escape(card.title)}*\n"
            f"{card.severity} ({escape(card.severity_meaning)}) · *{card.status}* · IC {mention(card.commander)}\n"
            f"War room: {channel_link(card.channel_id, card.channel_name)}")
    if card.last_update:
        text += f"\n*Last update* ({datetime_utc(card.last_update.at)}): {escape(card.last_update.text)}"
    if card.summary:
        text += f"\n*Resolution:* {escape(card.summary)}"
    return [section(text)]
