"""LLM mode for the postmortem: Claude rewrites the narrative sections (what happened, lessons learned) and
nothing else. A rewrite whose numbers, times or names are not the document's own is refused, so the figures a
review relies on are always the ones computed from the record.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

from agents import llm
from agents.base import AgentRequest
from agents.postmortem import render
from agents.postmortem.document import Postmortem

SUBMIT = "submit_narrative"
SYSTEM = f"""You are the postmortem-writer of incidentbot, an incident response service used by SRE teams.
You receive a postmortem computed from an incident's record. Rewrite two narrative sections so a reader outside \
the team understands them: "what_happened" (one paragraph) and "lessons" (one to five lessons). Use blameless \
wording: systems and processes, never people's mistakes.
Keep every number, time, date, duration, percentage, identifier and person exactly as the document gives them, \
and add none: a rewrite that introduces a figure or a name the document does not contain is refused.
Call {SUBMIT} with your rewrite."""

_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"what_happened": _TEXT, "lessons": {"type": "array", "minItems": 1, "maxItems": 5, "items": _TEXT}},
    "required": ["what_happened", "lessons"],
}
# Facts a rewrite must not invent: anything with a digit (times, counts, ids, money) and any person or handle.
FACT = re.compile(r"[\w$€£.,:%]*\d[\w$€£.,:%]*|<@[UW][A-Z0-9]+>|@[\w.-]+")


class Narrative(BaseModel):
    what_happened: str = Field(min_length=1, max_length=2000)
    lessons: list[str] = Field(min_length=1, max_length=5)


def facts(text: str) -> set[str]:
    return {token.strip(".,:") for token in FACT.findall(text)} - {""}


def invented(narrative: Narrative, pm: Postmortem) -> set[str]:
    """Facts in the rewrite that the document (as data or as rendered) does not contain."""
    known = facts(render.markdown(pm)) | facts(json.dumps(pm.model_dump(mode="json"), ensure_ascii=False))
    written = facts(" ".join([narrative.what_happened, *narrative.lessons]))
    return written - known


def _submit(pm: Postmortem) -> llm.Tool:
    async def validate(answer: dict[str, Any]) -> Narrative:
        narrative = Narrative.model_validate(answer)
        new = invented(narrative, pm)
        if new:
            raise ValueError(f"these are not in the document, keep its figures and names: {', '.join(sorted(new))}")
        return narrative

    return llm.Tool(name=SUBMIT, description="Submit the rewritten narrative.", input_schema=SCHEMA, call=validate)


async def refine(pm: Postmortem, request: AgentRequest) -> Postmortem:
    data = {"postmortem": pm.model_dump(mode="json", exclude={"agent", "mode", "note"})}
    try:
        outcome = await llm.run(request.settings, system=SYSTEM, request=request.text, data=data, tools=[],
                                submit=_submit(pm), limits=llm.Limits(wall_seconds=request.settings.llm_wall_seconds))
    except llm.LlmFailed as failed:
        return pm.model_copy(update={"note": f"LLM mode unavailable ({failed}); deterministic text shown"})
    narrative = Narrative.model_validate(outcome.answer)
    if invented(narrative, pm):  # the submit tool refuses these; checked again so nothing slips through
        return pm.model_copy(update={"note": "the model's rewrite changed figures; deterministic text shown"})
    return pm.model_copy(update={"what_happened": narrative.what_happened, "lessons": narrative.lessons,
                                 "mode": f"llm ({outcome.model})", "note": None})
