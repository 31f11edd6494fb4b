"""Which runbook fits a request, by keyword: its name or keywords said, with the parameters the request names.

Only a suggestion: the answer is the command a person types to start the runbook.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from agents.runbook_executor import request as asks
from agents.runbook_executor.report import AGENT
from app.incidents.models import Incident
from app.runbooks.loader import Catalog
from app.runbooks.schema import Runbook

# --- suggesting ----------------------------------------------------------------------------------------------

class Suggestion(BaseModel):
    runbook: str
    description: str
    command: str  # what a person types to start it
    missing: list[str] = Field(default_factory=list)  # parameters the person still has to give
    why: str | None = None  # LLM mode: the model's one-line reason


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
    given = {}
    for name, spec in book.parameters.items():
        if spec.default is None and target and re.fullmatch(spec.pattern, target):
            given[name], target = target, None
    line, missing = command_for(book, given, verb)
    return Suggestion(runbook=book.name, description=book.description, missing=missing, command=line)


def command_for(book: Runbook, given: dict[str, str], verb: str) -> tuple[str, list[str]]:
    """The slash command with the values known, `name=…` for required ones not known, and which those are."""
    words = [f"{k}={v}" for k, v in given.items()]
    missing = [k for k, p in book.parameters.items() if p.default is None and k not in given]
    words += [f"{k}=…" for k in missing]
    return " ".join([f"/incident runbook {verb}", book.name, *words]), missing


