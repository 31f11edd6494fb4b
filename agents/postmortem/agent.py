"""The postmortem-writer: the seed's postmortem from the incident's record, or from pasted notes.

Deterministic first: the whole document, numbers included, comes from the store. With an LLM key the model
may rewrite the narrative sections; a rewrite that changes a number, a time or a name is refused.
"""

from __future__ import annotations

from agents.base import AgentAnswer, AgentRequest
from agents.postmortem import render
from agents.postmortem.document import AGENT, Postmortem
from agents.postmortem.extract import Record
from agents.postmortem.llm_mode import refine
from agents.postmortem.notes import EmptyNotes, from_notes, notes_of
from agents.postmortem.writer import write
from agents.rca.report import AGENT as RCA_AGENT
from agents.rca.report import RcaReport

WHICH = ("Which incident? Name it (\"Generate postmortem for INC-2024-1220-001\"), ask in its war room, or paste "
         "notes: \"Create postmortem from these incident notes: 14:15 flag enabled ...\".")


async def write_postmortem(request: AgentRequest) -> AgentAnswer:
    notes = notes_of(request.text)
    if request.incident is None and notes is None:
        return AgentAnswer(agent=AGENT, intent="postmortem", text_markdown=WHICH + "\n", fallback_text=WHICH)
    try:
        pm = from_notes(notes or "", request.now.date()) if request.incident is None else document(request)
    except EmptyNotes as empty:
        return AgentAnswer(agent=AGENT, intent="postmortem", text_markdown=f"{empty}\n", fallback_text=str(empty))
    if request.settings.anthropic_api_key is not None:
        pm = await refine(pm, request)
    return answer(pm)


def document(request: AgentRequest) -> Postmortem:
    assert request.incident is not None
    stored = request.results.get(RCA_AGENT)
    return write(Record(incident=request.incident, transcript=request.transcript,
                        rca=RcaReport.model_validate(stored) if stored else None, actions=request.action_items,
                        config=request.config, now=request.now))


def answer(pm: Postmortem, version: int | None = None) -> AgentAnswer:
    """The typed document as the answer's data, with its Markdown; Slack renders the data (app/slack/render)."""
    if version is not None:
        pm = pm.model_copy(update={"version": version})
    return AgentAnswer(agent=AGENT, mode=pm.mode, note=pm.note, intent="postmortem", incident_id=pm.incident_id,
                       summary=render.summary(pm), text_markdown=render.markdown(pm),
                       fallback_text=render.summary(pm), data=pm.model_dump(mode="json"))
