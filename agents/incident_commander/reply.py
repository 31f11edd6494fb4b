"""The commander's answer to a question, as typed data: a title, the direct answer, and sections of entries.

Text fields may hold people as Slack mentions (`<@U123>`, see `status.ref`), as the timeline stores them;
Markdown shows them as @U123 (`markdown.py`), Slack renders the mention (app/slack/render/commander.py).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from agents.incident_commander.status import StatusReport
from app.incidents.card import IncidentCard


class Entry(BaseModel):
    text: str
    at: datetime | None = None  # shown before the text (a timeline entry)
    who: str | None = None  # a person the entry is by or for (a Slack user id or cli:name)
    tags: list[str] = Field(default_factory=list)  # short qualifiers: "P1", "due 2026-11-26"
    done: bool | None = None  # a checklist entry when set


class Section(BaseModel):
    heading: str | None = None
    entries: list[Entry] = Field(default_factory=list)
    empty: str = "None recorded."  # said when there are no entries
    numbered: bool = False


class Reply(BaseModel):
    kind: str  # which question it answers: status, catch_up, action_items, owner_of, help, ...
    incident_id: str | None = None
    notice: str | None = None  # said first: the incident was not found, another agent will take this
    title: str = ""
    answer: str | None = None  # the direct answer, after the title
    sections: list[Section] = Field(default_factory=list)
    footer: str | None = None  # the incident's headline, as context
    spans_days: bool = False  # times carry their date
    report: StatusReport | None = None  # the full status report, for status questions
    card: IncidentCard | None = None  # the incident card, for a declaration
