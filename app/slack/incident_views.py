"""Read-only answers in Slack: open incidents, roles, the timeline."""

from __future__ import annotations

from typing import Any

from app.config import TeamConfig
from app.incidents import service
from app.incidents.card import build_card
from app.incidents.models import Incident
from app.runtime import Runtime
from app.slack.blocks import escape, mention, section

TIMELINE_ROWS_PER_BLOCK = 25
MAX_TIMELINE_BLOCKS = 40


async def open_incidents_blocks(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        incidents = await service.list_incidents(session, open_only=True)
    if not incidents:
        return [section(":white_check_mark: No open incidents.")]
    lines = [f"• *{i.public_id}* {i.severity} {i.status}: {escape(i.title)}"
             + (f" <#{i.channel_id}>" if i.channel_id else "") for i in incidents]
    return [section("*Open incidents*\n" + "\n".join(lines))]


def roles_text(incident: Incident, config: TeamConfig) -> str:
    card = build_card(incident, config, "")
    rows = [f"• *{row.role}*: {mention(row.assignee) if row.assignee else '_unassigned_'}"
            + (f" ({row.status})" if row.assignee else "") for row in card.roles]
    return f"*Roles for {incident.public_id}*\n" + "\n".join(rows) + \
        "\nAssign with `/incident assign <role> @user`."


def timeline_blocks(incident: Incident) -> list[dict[str, Any]]:
    """Every entry with its date and time in UTC, so incidents that run past midnight read plainly."""
    rows = [f"`{e.occurred_at:%Y-%m-%d %H:%M}` {escape(e.text)}" + (f" ({mention(e.actor)})" if e.actor else "")
            + (f" <{e.permalink}|link>" if e.permalink else "") for e in incident.timeline]
    chunks = [rows[i:i + TIMELINE_ROWS_PER_BLOCK] for i in range(0, len(rows), TIMELINE_ROWS_PER_BLOCK)]
    shown = chunks[-MAX_TIMELINE_BLOCKS:]
    header = f"*Timeline of {incident.public_id}* (UTC)"
    if len(shown) < len(chunks):
        header += f", last {sum(len(c) for c in shown)} of {len(rows)} entries"
    return [section(header), *(section("\n".join(chunk)) for chunk in shown)]
