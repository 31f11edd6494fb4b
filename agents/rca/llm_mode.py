"""LLM mode for the RCA: Claude re-reads the engine's analysis and evidence, and rewrites its prose.

The model chooses among the hypotheses the engine tested (it cannot invent a cause) and writes the summary,
five whys, root cause, factors and recommendations. Evidence, times and the timeline stay the engine's. Any
failure returns the deterministic analysis with one line saying why.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import BaseModel, Field

from agents import llm
from agents.base import AgentRequest
from agents.llm_tools import read_tools
from agents.rca.observe import TextRecord
from agents.rca.report import RcaReport, Recommendations, Why
from agents.toolbox import Toolbox

log = logging.getLogger(__name__)

SUBMIT = "submit_analysis"
SYSTEM = f"""You are the rca-agent of incidentbot, an incident response service used by SRE teams.
You receive a root-cause analysis produced by a deterministic engine: hypotheses ranked after testing them \
against metrics, logs, Kubernetes state and the incident's timeline, each piece of evidence citing the query \
that produced it. You may use the read-only tools to check or deepen that evidence.
Then call {SUBMIT}: pick the best-supported hypothesis by its rank, and write the executive summary, five whys \
(each answer one or two sentences), the root cause, contributing factors and recommendations (immediate, \
short-term, medium-term, long-term).
Use only facts present in the analysis or in tool results. Where telemetry cannot show something (a line of \
code, a review), say what to confirm rather than asserting it. Blameless wording: systems and processes, not \
people. Times in UTC as HH:MM."""

_TEXT = {"type": "string", "minLength": 1, "maxLength": 1500}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "hypothesis": {"type": "integer", "minimum": 1, "description": "rank of the chosen hypothesis"},
        "executive_summary": _TEXT,
        "five_whys": {"type": "array", "minItems": 3, "maxItems": 7, "items": {
            "type": "object", "properties": {"question": _TEXT, "answer": _TEXT}, "required": ["question", "answer"]}},
        "root_cause": _TEXT,
        "contributing_factors": {"type": "array", "maxItems": 8, "items": _TEXT},
        "recommendations": {"type": "object", "properties": {
            "immediate": _TEXT, "short_term": _TEXT, "medium_term": _TEXT, "long_term": _TEXT},
            "required": ["immediate", "short_term", "medium_term", "long_term"]},
    },
    "required": ["hypothesis", "executive_summary", "five_whys", "root_cause", "contributing_factors",
                 "recommendations"],
}


class Prose(BaseModel):
    hypothesis: int = Field(ge=1)
    executive_summary: str = Field(min_length=1, max_length=1500)
    five_whys: list[Why] = Field(min_length=3, max_length=7)
    root_cause: str = Field(min_length=1, max_length=1500)
    contributing_factors: list[str] = Field(max_length=8)
    recommendations: Recommendations


def _submit_tool(report: RcaReport) -> llm.Tool:
    async def validate(answer: dict[str, Any]) -> Prose:
        prose = Prose.model_validate(answer)
        if prose.hypothesis > max(1, len(report.hypotheses)):
            raise ValueError(f"hypothesis must be a rank between 1 and {len(report.hypotheses)}")
        return prose

    return llm.Tool(name=SUBMIT, description="Submit the final analysis.", input_schema=SCHEMA, call=validate)


def _data(report: RcaReport, records: list[dict[str, Any]]) -> dict[str, Any]:
    analysis = report.model_dump(mode="json", exclude={"tools", "agent", "mode", "note"})
    return {"analysis": analysis, "incident_records": records[-50:]}


# What the model may state only when a tool result or the engine's analysis shows it: clock times, quantities
# with a unit, and identifiers (service, flag, object and host names).
_TIME = re.compile(r"\b(?:[01]?\d|2[0-3]):[0-5]\d\b")
_QUANTITY = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|ms\b|s\b|seconds?\b|minutes?\b|GiB\b|MiB\b|replicas?\b)")
_IDENTIFIER = re.compile(r"\b[a-z0-9]+(?:[-.][a-z0-9]+)+\b")


def _recording(tools: list[llm.Tool], results: list[str]) -> list[llm.Tool]:
    """The same read-only tools, each result kept: the record the model's claims are checked against."""
    def wrap(tool: llm.Tool) -> llm.Tool:
        async def call(arguments: dict[str, Any]) -> Any:
            result = await tool.call(arguments)
            results.append(json.dumps(result, default=str))
            return result

        return llm.Tool(name=tool.name, description=tool.description, input_schema=tool.input_schema, call=call)

    return [wrap(t) for t in tools]


def unbacked(prose: Prose, report: RcaReport, results: list[str]) -> list[str]:
    """Times, quantities and names in the model's prose that neither the analysis nor any tool result holds."""
    record = " ".join([report.model_dump_json(), *results]).lower()
    text = " ".join([prose.executive_summary, prose.root_cause, *(w.answer for w in prose.five_whys),
                     *prose.contributing_factors])
    claims = [*_TIME.findall(text), *_QUANTITY.findall(text), *_IDENTIFIER.findall(text.lower())]
    return sorted({c for c in claims if c.lower().replace(" ", "") not in record.replace(" ", "")})


async def refine(report: RcaReport, request: AgentRequest, toolbox: Toolbox, texts: list[TextRecord]) -> RcaReport:
    records = [{"at": t.at.isoformat(), "source": t.source, "text": t.text} for t in texts]
    results: list[str] = [json.dumps(records, default=str)]
    try:
        outcome = await llm.run(request.settings, system=SYSTEM, request=request.text, data=_data(report, records),
                                tools=_recording(read_tools(toolbox, records), results), submit=_submit_tool(report),
                                limits=llm.Limits(wall_seconds=request.settings.llm_wall_seconds))
    except llm.LlmFailed as failed:
        return report.model_copy(update={"note": f"LLM mode unavailable ({failed}); deterministic analysis shown"})
    prose = Prose.model_validate(outcome.answer)
    claims = unbacked(prose, report, results)
    if claims:
        log.info("the model's analysis states what no tool result shows: %s", claims[:5])
        return report.model_copy(update={"note": "LLM analysis not used: it states what no tool result shows ("
                                                 + ", ".join(claims[:3]) + "); deterministic analysis shown"})
    update: dict[str, Any] = {
        "mode": f"llm ({outcome.model})", "note": None, "executive_summary": prose.executive_summary,
        "five_whys": prose.five_whys, "root_cause": prose.root_cause,
        "contributing_factors": prose.contributing_factors, "recommendations": prose.recommendations,
    }
    if report.hypotheses and prose.hypothesis != 1:
        chosen = report.hypotheses[prose.hypothesis - 1]
        update |= {"cause": chosen.cause, "component": chosen.component, "trigger": chosen.trigger,
                   "evidence": chosen.evidence_for, "confidence": "low"}
        log.info("the model chose hypothesis %d (%s) over the engine's first", prose.hypothesis, chosen.cause)
    return report.model_copy(update=update)
