"""LLM mode for runbook suggestions: Claude picks runbooks from the catalog and fills in parameters from the
request and the incident. It never chooses a command: it may only name runbooks that exist, with values that
pass their parameter's checks, and the answer is a suggestion a person reads and starts (or not).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents import llm
from agents.base import AgentRequest
from agents.runbook_executor.suggest import RunbookSuggestions, Suggestion, command_for
from app.runbooks import params
from app.runbooks.loader import Catalog

SUBMIT = "suggest_runbooks"
SYSTEM = f"""You are the runbook-executor of incidentbot, an incident response service used by SRE teams.
A person asked which runbook fits their situation. You receive the runbooks there are (name, description, \
parameters with their patterns) and the incident. Suggest at most three of those runbooks, best first, with the \
parameter values the request or the incident gives (leave out values you do not know), and one short reason \
each. You cannot run anything and must not invent runbooks or commands: a person reads your suggestion and \
decides whether to start it. Call {SUBMIT} with your suggestions (an empty list when none fits)."""
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"suggestions": {"type": "array", "maxItems": 3, "items": {
        "type": "object",
        "properties": {"runbook": {"type": "string"}, "why": {"type": "string", "maxLength": 200},
                       "parameters": {"type": "object", "additionalProperties": {"type": "string"}}},
        "required": ["runbook"]}}},
    "required": ["suggestions"],
}


class Pick(BaseModel):
    runbook: str
    why: str = Field("", max_length=200)
    parameters: dict[str, str] = Field(default_factory=dict)


class Picks(BaseModel):
    suggestions: list[Pick] = Field(max_length=3)


def _submit(catalog: Catalog) -> llm.Tool:
    async def validate(answer: dict[str, Any]) -> Picks:
        picks = Picks.model_validate(answer)
        for pick in picks.suggestions:
            book = catalog.get(pick.runbook)
            if book is None:
                raise ValueError(f"there is no runbook {pick.runbook!r}; choose from {', '.join(catalog.runbooks)}")
            for key, value in pick.parameters.items():
                spec = book.parameters.get(key)
                if spec is None:
                    raise ValueError(f"{book.name} has no parameter {key}")
                params.check(key, value, spec.pattern)  # ParameterError is a ValueError: the model is told why
        return picks

    return llm.Tool(name=SUBMIT, description="Submit runbook suggestions.", input_schema=SCHEMA, call=validate)


def _data(catalog: Catalog, request: AgentRequest) -> dict[str, Any]:
    books = [{"name": b.name, "description": b.description, "target": b.target,
              "parameters": {k: {"pattern": p.pattern, "default": p.default, "description": p.description}
                             for k, p in b.parameters.items()}} for b in catalog.runbooks.values()]
    incident = request.incident
    about = {"id": incident.public_id, "title": incident.title, "service": incident.affected_service,
             "severity": incident.severity} if incident else None
    return {"runbooks": books, "incident": about}


async def suggest(catalog: Catalog, request: AgentRequest, verb: str) -> tuple[RunbookSuggestions, str]:
    """The model's suggestions and its model name; raises llm.LlmFailed (the caller falls back)."""
    outcome = await llm.run(request.settings, system=SYSTEM, request=request.text, data=_data(catalog, request),
                            tools=[], submit=_submit(catalog),
                            limits=llm.Limits(wall_seconds=request.settings.llm_wall_seconds))
    picks = await _submit(catalog).call(outcome.answer)  # checked again: nothing unchecked reaches a person
    suggestions = []
    for pick in picks.suggestions:
        book = catalog.get(pick.runbook)
        assert book is not None
        line, missing = command_for(book, pick.parameters, verb)
        suggestions.append(Suggestion(runbook=book.name, description=book.description, command=line,
                                      missing=missing, why=pick.why or None))
    return RunbookSuggestions(request=request.text, incident_id=request.incident.public_id if request.incident
                              else None, suggestions=suggestions, available=sorted(catalog.runbooks),
                              problems=catalog.problems), outcome.model
