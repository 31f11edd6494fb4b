"""The runbook-executor agent: a run's Runbook Execution report, and which runbook fits a request.

Deterministic. It never starts a run itself: asked in Slack (`@incidentbot restart the api pods`), it suggests
runbooks and the exact command a person types to start one; `incidentbot agent run runbook-executor --prompt
"Execute runbook: NAME key=value"` is a person starting it from a terminal, and runs through the same executor
as `incidentbot runbook run`.
"""

from __future__ import annotations

import re

from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, Field

from agents.base import AgentAnswer, AgentRequest
from agents.runbook_executor import request as asks
from agents.runbook_executor.report import AGENT, RunbookReport
from app.incidents.models import Incident
from app.runbooks.loader import Catalog, folders, load
from app.runbooks.schema import Runbook

_env = Environment(loader=PackageLoader("agents.runbook_executor", "templates"), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 1:
        return "under a second"
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    parts += [f"{minutes} minute{'s' * (minutes != 1)}"] if minutes else []
    parts += [f"{secs} second{'s' * (secs != 1)}"] if secs or not parts else []
    return " ".join(parts)


def _who(user: str) -> str:
    return f"@{user}" if re.match(r"^[UW][A-Z0-9]+$", user) else user.split(":", 1)[-1]


_env.filters.update(
    utc=lambda t: f"{t:%Y-%m-%d %H:%M:%S} UTC", who=_who, duration=duration,
    cell=lambda t: str(t).replace("|", "\\|").replace("\n", " "),
    fence=lambda t: str(t).replace("```", "'''"), oneline=lambda t: " ".join(str(t).split())[:200])


DECIDED = {"approve": "approved", "skip": "skipped", "done": "confirmed", "abort": "aborted"}


def markdown(report: RunbookReport) -> str:
    return _env.get_template("runbook_execution.md.j2").render(r=report, DECIDED=DECIDED)


def summary(report: RunbookReport) -> str:
    return (f"Runbook {report.runbook} on {report.target}: {report.result} ({report.completed} completed, "
            f"{report.skipped} skipped, {report.failed} failed)")


def report_answer(report: RunbookReport) -> AgentAnswer:
    return AgentAnswer(agent=AGENT, intent="runbook", incident_id=report.incident_id, summary=summary(report),
                       text_markdown=markdown(report), fallback_text=summary(report),
                       data=report.model_dump(mode="json"))


# --- suggesting ----------------------------------------------------------------------------------------------

class Suggestion(BaseModel):
    runbook: str
    description: str
    command: str  # what a person types to start it
    missing: list[str] = Field(default_factory=list)  # parameters the person still has to give


class RunbookSuggestions(BaseModel):
    agent: str = AGENT
    kind: str = "suggestions"
    request: str
    incident_id: str | None = None
    suggestions: list[Suggestion] = Field(default_factory=list)
    available: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # runbook files that did not load


def suggest(catalog: Catalog, text: str, incident: Incident | None = None, *, verb: str = "run",
            limit: int = 3) -> RunbookSuggestions:
    """Runbooks whose name or keywords the request mentions, best first, with parameters it names filled in."""
    said = asks.words(text)
    ask = asks.read(text)
    phrases = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)+", text.lower())  # "the pod-restart runbook"
    scored = []
    for book in catalog.runbooks.values():
        score = 10 if ask.name == book.name or book.name in text.lower() else 0
        score += max([5 if book.name.startswith(p) else 3 if p in book.name else 0 for p in phrases] or [0])
        score += 3 * len(set(asks.words(book.name.replace("-", " "))) & said)
        score += sum(2 for k in book.keywords if set(asks.words(k)) <= said)
        if score:
            scored.append((score, book.name, book))
    scored.sort(key=lambda item: (-item[0], item[1]))
    target = asks.target_word(text) or (incident.affected_service if incident else None)
    return RunbookSuggestions(
        request=text, incident_id=incident.public_id if incident else None,
        suggestions=[_suggestion(book, target, verb) for _, _, book in scored[:limit]],
        available=sorted(catalog.runbooks), problems=catalog.problems)


def _suggestion(book: Runbook, target: str | None, verb: str) -> Suggestion:
    words, missing = [], []
    for name, spec in book.parameters.items():
        if spec.default is not None:
            continue
        if target and not any(w.startswith(f"{name}=") for w in words) and re.fullmatch(spec.pattern, target):
            words.append(f"{name}={target}")
            target = None
        else:
            words.append(f"{name}=…")
            missing.append(name)
    return Suggestion(runbook=book.name, description=book.description, missing=missing,
                      command=" ".join([f"/incident runbook {verb}", book.name, *words]))


def suggestions_markdown(s: RunbookSuggestions) -> str:
    return _env.get_template("runbook_suggestions.md.j2").render(s=s)


async def answer(request: AgentRequest) -> AgentAnswer:
    """Which runbook fits; executing one is for a person to start (the answer says how)."""
    catalog = load(folders(request.config.runbooks_dir))
    verb = "guide" if re.search(r"\bguide\b", request.text, re.IGNORECASE) else "run"
    s = suggest(catalog, request.text, request.incident, verb=verb)
    top = s.suggestions[0].runbook if s.suggestions else None
    line = (f"Suggested runbook: {top} (a person starts it: {s.suggestions[0].command})" if top
            else "No runbook matches; `/incident runbook list` shows them")
    return AgentAnswer(agent=AGENT, intent="runbook", incident_id=s.incident_id, summary=line,
                       text_markdown=suggestions_markdown(s), fallback_text=line, data=s.model_dump(mode="json"))
