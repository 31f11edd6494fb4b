"""Markdown rendering (CLI, exports) through Jinja2 templates; it formats facts, never decides them."""

from __future__ import annotations

import re
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined

from app.incidents.card import IncidentCard

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def person(actor: str | None) -> str:
    """Slack users read as @U123 in Markdown; CLI actors (cli:alice) as @alice."""
    if not actor:
        return "Unassigned"
    return "@" + actor.removeprefix("cli:").removeprefix("api:")


USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")


def plain(text: str) -> str:
    """Timeline text keeps Slack's user mentions; outside Slack they read as @U123."""
    return USER_MENTION.sub(r"@\1", text)


def datetime_utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def clock(value: datetime, with_date: bool = False) -> str:
    return value.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


_env = Environment(
    loader=PackageLoader("app.incidents", "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # Markdown output, not HTML
)
_env.filters.update(person=person, datetime=datetime_utc, clock=clock, plain=plain)


def card_markdown(card: IncidentCard) -> str:
    return _env.get_template("card.md.j2").render(card=card)
