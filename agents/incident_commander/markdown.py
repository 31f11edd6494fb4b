"""Markdown for the commander's results (CLI, exports), from the templates beside this module."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.incident_commander.common import UPDATE_HINT
from agents.incident_commander.reply import Reply
from agents.incident_commander.resolve_handoff import Handoff, resolved_label
from agents.incident_commander.status import StatusReport, duration_label, next_update_text, severity_label
from app.incidents.render import card_markdown, clock, datetime_utc, person, plain

_env = Environment(loader=PackageLoader("agents.incident_commander", "templates"), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
_env.filters.update(person=person, plain=plain, clock=clock, datetime=datetime_utc, severity_label=severity_label,
                    duration_label=duration_label, next_update=next_update_text, resolved_label=resolved_label,
                    card=card_markdown)
_env.globals.update(update_hint=UPDATE_HINT)


def status(report: StatusReport) -> str:
    return _env.get_template("status.md.j2").render(r=report)


def handoff(report: Handoff) -> str:
    return _env.get_template("handoff.md.j2").render(h=report)


def reply(answer: Reply) -> str:
    return _env.get_template("reply.md.j2").render(reply=answer)
