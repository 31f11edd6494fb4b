"""Process settings, read from the environment (names are part of the operator contract)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    database_url: str = "sqlite:///./incidentbot.db"
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    incident_announce_channel: str = "incidents"
    incidentbot_config: Path | None = None
    # How long one worker may hold an incident's war-room set-up before another may resume it.
    setup_lease_seconds: float = Field(120.0, validation_alias="INCIDENTBOT_SETUP_LEASE_SECONDS")
    # How often a running service looks for war-room set-ups left unfinished by a dead process.
    setup_sweep_seconds: float = Field(30.0, validation_alias="INCIDENTBOT_SETUP_SWEEP_SECONDS")
    # The first wait before a war-room step Slack did not answer (429, 5xx, timeout) is tried again; it
    # doubles each time, up to five minutes, and is never shorter than Slack's Retry-After.
    setup_retry_seconds: float = Field(5.0, validation_alias="INCIDENTBOT_SETUP_RETRY_SECONDS")
    # How often a running service looks for war rooms whose status update is overdue.
    reminder_check_seconds: float = Field(30.0, validation_alias="INCIDENTBOT_REMINDER_CHECK_SECONDS")

    # LLM mode: unset key means every agent answers deterministically.
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-5-5"
    # The longest an agent waits for the model, retries included, before answering deterministically.
    llm_wall_seconds: float = Field(45.0, validation_alias="INCIDENTBOT_LLM_SECONDS")

    # Read-only observability tools for the agents; an unset URL makes that tool "unavailable".
    prometheus_url: str | None = None
    grafana_url: str | None = None
    grafana_token: SecretStr | None = None
    loki_url: str | None = None
    datadog_api_key: SecretStr | None = None
    datadog_app_key: SecretStr | None = None
    datadog_api_url: str = "https://api.datadoghq.com"
    kubeconfig: Path | None = None

    # How long a runbook run's executing process may go silent before the run is marked interrupted.
    runbook_lease_seconds: float = Field(30.0, validation_alias="INCIDENTBOT_RUNBOOK_LEASE_SECONDS")

    # "json": one JSON object per log line, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # Paging: the Events API routing key pages, the REST key looks up who is on call and adds responders.
    pagerduty_api_key: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_webhook_secret: SecretStr | None = None
    # The PagerDuty user responder requests are made as (REST requires a `From` address).
    pagerduty_from_email: str | None = None
    # How often due escalations and undelivered pages are looked for.
    escalation_check_seconds: float = Field(5.0, validation_alias="INCIDENTBOT_ESCALATION_CHECK_SECONDS")
    # The first wait before a refused or failed page is tried again; it doubles each time, up to five minutes.
    pagerduty_retry_seconds: float = Field(2.0, validation_alias="INCIDENTBOT_PAGERDUTY_RETRY_SECONDS")

    # --- HTTP surface: what answers without an API token, and how big a request body may be ---------------
    # Prometheus scrapes without credentials by default, as exporters do; false: /metrics needs a token.
    public_metrics: bool = Field(True, validation_alias="INCIDENTBOT_PUBLIC_METRICS")
    # The API's shape is no secret (the project is open source); false: /docs, /redoc, /openapi.json need one.
    public_docs: bool = Field(True, validation_alias="INCIDENTBOT_PUBLIC_DOCS")
    # Slack's own payloads stay far below 1 MiB; anything bigger is refused with 413 before it is read.
    max_body_bytes: int = Field(1024 * 1024, gt=0, validation_alias="INCIDENTBOT_MAX_BODY_BYTES")

    # Inbox of acknowledged Slack events and interactions: where they wait on local disk while the database
    # is unreachable (unset: a directory under the system's temp dir, one per DATABASE_URL), and the longest
    # wait between two tries of one that failed for a transient reason.
    inbox_spool_dir: Path | None = Field(None, validation_alias="INCIDENTBOT_INBOX_SPOOL_DIR")
    inbox_max_retry_seconds: float = Field(300.0, validation_alias="INCIDENTBOT_INBOX_MAX_RETRY_SECONDS")

    @property
    def slack_enabled(self) -> bool:
        # HTTP mode verifies requests with the signing secret; Socket Mode authenticates the socket.
        has_verifier = self.slack_signing_secret is not None or self.slack_app_token is not None
        return self.slack_bot_token is not None and has_verifier

    @property
    def secrets(self) -> list[str]:
        """Every credential's value, so that logging can keep them out of its output."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]

    @property
    def paging_enabled(self) -> bool:
        return self.pagerduty_routing_key is not None or self.pagerduty_api_key is not None

    @property
    def socket_mode(self) -> bool:
        return self.slack_enabled and self.slack_app_token is not None


@lru_cache
def get_settings() -> Settings:
    return Settings()
