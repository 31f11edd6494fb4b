"""Team configuration (INCIDENTBOT_CONFIG YAML): severities, services, war-room defaults."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

SEVERITY_NAME = re.compile(r"^SEV\d$")


class SeverityLevel(BaseModel):
    name: str
    meaning: str

    @field_validator("name")
    @classmethod
    def _upper_sev(cls, value: str) -> str:
        value = value.upper()
        if not SEVERITY_NAME.match(value):
            raise ValueError(f"severity names look like SEV1..SEV9, not {value!r}")
        return value

    @property
    def label(self) -> str:
        return f"{self.name} ({self.meaning})"


class Service(BaseModel):
    name: str
    aliases: list[str] = Field(default_factory=list)

    def mentioned_in(self, text: str) -> bool:
        lowered = text.lower()
        words = [self.name, self.name.replace("-", " "), *self.aliases]
        return any(re.search(rf"\b{re.escape(w.lower())}\b", lowered) for w in words)


DEFAULT_SEVERITIES = [
    SeverityLevel(name="SEV1", meaning="Critical - full outage, data loss or security breach"),
    SeverityLevel(name="SEV2", meaning="Major - customer impact"),
    SeverityLevel(name="SEV3", meaning="Minor - degraded service, limited customer impact"),
    SeverityLevel(name="SEV4", meaning="Low - minimal impact, workaround available"),
    SeverityLevel(name="SEV5", meaning="Informational - no customer impact"),
]

DEFAULT_NEXT_ACTIONS = [
    "Investigate {service} logs and error rates",
    "Check recent deployments and config changes",
    "Verify database and dependency health",
    "Prepare customer communication",
]


class TeamConfig(BaseModel):
    severities: list[SeverityLevel] = Field(default_factory=lambda: list(DEFAULT_SEVERITIES))
    default_severity: str = "SEV3"
    services: list[Service] = Field(default_factory=list)
    next_actions: list[str] = Field(default_factory=lambda: list(DEFAULT_NEXT_ACTIONS))
    bridge_url: str | None = None
    status_page_url: str | None = None
    private_channels: bool = False

    def severity(self, name: str) -> SeverityLevel | None:
        return next((s for s in self.severities if s.name == name.upper()), None)

    @property
    def severity_names(self) -> list[str]:
        return [s.name for s in self.severities]

    def service_for(self, text: str) -> str | None:
        return next((s.name for s in self.services if s.mentioned_in(text)), None)

    @field_validator("severities")
    @classmethod
    def _at_least_one(cls, value: list[SeverityLevel]) -> list[SeverityLevel]:
        if not value:
            raise ValueError("at least one severity is needed")
        return value


class ConfigError(Exception):
    """The configuration file is missing or invalid; the message says where."""


def load_team_config(path: Path | None) -> TeamConfig:
    if path is None:
        return TeamConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"INCIDENTBOT_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"INCIDENTBOT_CONFIG: {path} is not valid YAML: {exc}") from exc
    try:
        config = TeamConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"INCIDENTBOT_CONFIG: {path} is invalid:\n{exc}") from exc
    if config.severity(config.default_severity) is None:
        raise ConfigError(f"INCIDENTBOT_CONFIG: default_severity {config.default_severity} is not a severity")
    return config
