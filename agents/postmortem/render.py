"""The postmortem as Markdown in the seed's layout (a Jinja2 template beside this module), and its one-line
summary. Block Kit is rendered from the same data in app/slack/render/postmortem.py."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.postmortem.document import ActionRow, Postmortem
from app.incidents.render import clock, person, plain

_env = Environment(loader=PackageLoader("agents.postmortem", "templates"), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
_env.filters.update(
    clock=clock, plain=plain, person=person,
    longdate=lambda d: d.strftime("%B %-d, %Y"), shortdate=lambda d: d.strftime("%b %-d"),
    cell=lambda text: str(text).replace("|", "\\|").replace("\n", " "),
)


def _minutes(value: int | None) -> str:
    return "-" if value is None else str(value)


def _due(row: ActionRow) -> str:
    if row.due_text and row.due_on and row.due_text != row.due_on.isoformat():
        return f"{row.due_text} ({row.due_on:%Y-%m-%d})"
    if row.due_text:
        return row.due_text
    return row.due_on.strftime("%b %-d") if row.due_on else "-"


def _at(value: datetime | None) -> str:
    return value.strftime("%H:%M") if value else "not recorded"


def duration(pm: Postmortem) -> str:
    d = pm.detection
    end = d.impact_end if d else None
    if d is None or end is None:
        return f"ongoing since {d.started_at:%H:%M} UTC" if d else "unknown (no times recorded)"
    dated = pm.spans_days and not pm.day_assumed
    span = f"{clock(d.started_at, dated)} - {clock(end, dated)} UTC"
    return f"{d.impact_minutes} minutes ({span})"


def day_line(pm: Postmortem) -> str:
    if pm.day_assumed:
        return "not given in the notes (date assumed unknown; times are shown without a date)"
    if pm.year_assumed:
        return f"{pm.day:%B %-d} (the notes give no year; year assumed to be {pm.day.year})"
    return pm.day.strftime("%B %-d, %Y") + (f" ({pm.date_note})" if pm.date_note else "")


def markdown(pm: Postmortem) -> str:
    return _env.get_template("postmortem.md.j2").render(pm=pm, duration=duration(pm), minutes=_minutes, at=_at,
                                                        day_line=day_line(pm), due=_due)


def summary(pm: Postmortem) -> str:
    """One line for the timeline and the message beside the file."""
    return f"Postmortem ({pm.status}) for {pm.incident_id or pm.title}: {duration(pm)}; {len(pm.action_items)} " \
           f"action items"
