"""The postmortem in Block Kit: the summary posted beside the Markdown file, rendered from the typed document."""

from __future__ import annotations

from agents.base import AgentAnswer
from agents.postmortem.document import Postmortem
from agents.postmortem.render import duration
from app.incidents.render import person, plain
from app.slack.blocks import Block, context, escape, fields, header, section

MAX_ACTION_ROWS = 8


def answer_blocks(answer: AgentAnswer) -> list[Block]:
    return blocks(Postmortem.model_validate(answer.data))


def blocks(pm: Postmortem) -> list[Block]:
    heading = f"Postmortem: {pm.title}" + (f" (v{pm.version})" if pm.version else "")
    out: list[Block] = [
        header(heading),
        fields([("Status", pm.status + (" (draft)" if pm.draft_reason else "")), ("Duration", duration(pm)),
                ("Severity", pm.severity or "not given"), ("Action items", str(len(pm.action_items)))]),
        section(f"*What happened*\n{escape(plain(pm.what_happened))}"),
        section(f"*Root cause*\n{escape(plain(pm.root_cause))}"),
    ]
    if pm.action_items:
        rows = [f"• {a.priority or '-'} {escape(plain(a.text))}" + (f" ({_owner(pm, a.owner)})" if a.owner else "")
                for a in pm.action_items[:MAX_ACTION_ROWS]]
        out.append(section("*Action items*\n" + "\n".join(rows)))
    footer = f"{pm.agent} · {pm.mode}" + (f" · {pm.note}" if pm.note else "")
    out.append(context(escape(footer)))
    return out


def _owner(pm: Postmortem, owner: str) -> str:
    """Slack user ids become mentions; owners named in pasted notes stay as written."""
    return escape(owner) if pm.from_notes else person(owner)
