"""What every agent takes and gives: a request about an incident, and a typed answer rendered two ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.action_items.models import ActionItem
from app.config import TeamConfig
from app.escalations.service import ChainView
from app.incidents.models import Incident, TranscriptMessage
from app.settings import Settings

Block = dict[str, Any]


@dataclass
class AgentRequest:
    """The request text (untrusted), the incident it is about with its timeline, and the war-room transcript."""

    text: str
    now: datetime
    config: TeamConfig
    settings: Settings
    incident: Incident | None = None
    transcript: list[TranscriptMessage] = field(default_factory=list)
    open_incidents: list[Incident] = field(default_factory=list)
    action_items: list[ActionItem] = field(default_factory=list)
    # The latest stored result of each agent about this incident (the RCA a postmortem builds on).
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalation: ChainView | None = None  # the incident's escalation chain, when a policy covers it


class AgentAnswer(BaseModel):
    """An agent's result: Markdown (CLI, exports) and Block Kit (Slack) from the same typed data."""

    agent: str
    mode: str = "deterministic"  # or "llm (<model>)"
    note: str | None = None  # one line, e.g. why LLM mode fell back to deterministic
    intent: str = "status"
    incident_id: str | None = None
    summary: str = ""  # one line for the timeline
    text_markdown: str
    blocks: list[Block] = Field(default_factory=list)
    fallback_text: str = ""
    data: dict[str, Any] | None = None  # the typed result, as JSON, for storage and the API
