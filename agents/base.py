"""What every agent takes and gives: a request about an incident, and its typed result.

Agents return data, never Slack blocks: each agent renders its own Markdown (templates beside it) and
app/slack/render/ turns the same data into Block Kit. The request carries only what agents may use: the
model's and the read-only tools' settings, never the Slack, database or paging credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr

from app.action_items.models import ActionItem
from app.config import TeamConfig
from app.escalations.service import ChainView
from app.incidents.models import Incident, TranscriptMessage
from app.settings import Settings

Block = dict[str, Any]


class AgentSettings(BaseModel):
    """The part of the service's settings an agent may see: the model, and the read-only observability tools.

    Field names are the service settings' names, so the environment variables stay as documented.
    """

    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = Settings.model_fields["anthropic_model"].default
    llm_wall_seconds: float = Settings.model_fields["llm_wall_seconds"].default
    prometheus_url: str | None = None
    grafana_url: str | None = None
    grafana_token: SecretStr | None = None
    loki_url: str | None = None
    datadog_api_key: SecretStr | None = None
    datadog_app_key: SecretStr | None = None
    datadog_api_url: str = Settings.model_fields["datadog_api_url"].default
    kubeconfig: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> AgentSettings:
        return cls.model_validate({name: getattr(settings, name) for name in cls.model_fields})


@dataclass
class AgentRequest:
    """The request text (untrusted), the incident it is about with its timeline, and the war-room transcript."""

    text: str
    now: datetime
    config: TeamConfig
    settings: AgentSettings = field(default_factory=AgentSettings)
    incident: Incident | None = None
    transcript: list[TranscriptMessage] = field(default_factory=list)
    open_incidents: list[Incident] = field(default_factory=list)
    action_items: list[ActionItem] = field(default_factory=list)
    # The latest stored result of each agent about this incident (the RCA a postmortem builds on).
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalation: ChainView | None = None  # the incident's escalation chain, when a policy covers it

    def __post_init__(self) -> None:
        # The service's full settings are narrowed here, so no agent can reach a Slack or paging token.
        if isinstance(self.settings, Settings):
            self.settings = AgentSettings.of(self.settings)


class AgentAnswer(BaseModel):
    """An agent's result: its typed data (for Slack rendering, storage and the API) and its Markdown.

    `data` is the typed result as JSON; app/slack/render/ renders it as Block Kit for the agent named. `blocks`
    is only for agents whose Slack rendering has not moved there yet.
    """

    agent: str
    mode: str = "deterministic"  # or "llm (<model>)"
    note: str | None = None  # one line, e.g. why LLM mode fell back to deterministic
    intent: str = "status"
    incident_id: str | None = None
    summary: str = ""  # one line for the timeline
    text_markdown: str
    blocks: list[Block] = Field(default_factory=list)
    fallback_text: str = ""
    data: dict[str, Any] | None = None
