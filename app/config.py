"""Team configuration (INCIDENTBOT_CONFIG YAML): severities, services, war-room defaults."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from app.config_base import ConfigModel
from app.escalations.policy import EscalationPolicy, check_references

SEVERITY_NAME = re.compile(r"^SEV\d$")


class SeverityLevel(ConfigModel):
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


class Observability(ConfigModel):
    """Where a service's telemetry lives; {service} in a selector is the service's name."""

    namespace: str | None = None  # Kubernetes namespace; unset: every namespace
    pod_selector: str = "app={service}"
    loki_selector: str = '{service="{service}"}'
    datadog_query: str = "service:{service} -status:info -status:debug"  # error search: skip routine lines


class Slo(ConfigModel):
    """An availability objective: the error budget is (100 - availability)% of the window."""

    availability: float = Field(gt=0, lt=100)  # percent, e.g. 99.9
    window_days: int = Field(30, gt=0)

    @property
    def budget_minutes(self) -> float:
        return (100 - self.availability) / 100 * self.window_days * 24 * 60


class Service(ConfigModel):
    name: str
    aliases: list[str] = Field(default_factory=list)
    observability: Observability = Field(default_factory=Observability)
    slo: Slo | None = None
    escalation_policy: str | None = None  # by name; unset: the first policy covering the severity
    internal: bool = False  # used only by employees: an incident naming it alone is internal-tooling impact

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

# The impact classes severity is assessed by, most serious first (see the incident commander's severity).
IMPACT_CLASSES = ("security", "data-loss", "payments", "outage", "degraded", "internal", "cosmetic")


class ImpactKeywords(ConfigModel):
    """Words a team adds to an impact class's vocabulary, e.g. `payments: [ledger, payroll]`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    security: list[str] = Field(default_factory=list)
    data_loss: list[str] = Field(default_factory=list, alias="data-loss")
    payments: list[str] = Field(default_factory=list)
    outage: list[str] = Field(default_factory=list)
    degraded: list[str] = Field(default_factory=list)
    internal: list[str] = Field(default_factory=list)
    cosmetic: list[str] = Field(default_factory=list)

    def of(self, impact_class: str) -> list[str]:
        return list(getattr(self, impact_class.replace("-", "_")))


class RoleSpec(ConfigModel):
    name: str
    brief: str
    aliases: list[str] = Field(default_factory=list)
    many: bool = False  # several people may hold it at once
    listed_when_open: bool = True  # shown as "unassigned" on the card until someone takes it

    def called(self, name: str) -> bool:
        wanted = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
        initials = "".join(word[0] for word in self.name.lower().split())
        return wanted in (self.name.lower(), initials, *(a.lower() for a in self.aliases))


DEFAULT_ROLES = [
    RoleSpec(name="Incident Commander", aliases=["commander"], brief=(
        "You coordinate the response: keep the team focused on mitigation, decide what happens next, "
        "assign the other roles, and make sure stakeholders get updates on time. You don't have to "
        "fix it yourself; delegate the hands-on work. Hand off explicitly with `/incident assign`.")),
    RoleSpec(name="Communications", aliases=["comms", "comm"], brief=(
        "You keep everyone outside the war room informed: post `/incident update` at the cadence the "
        "severity calls for, answer stakeholders so responders are not interrupted, and prepare "
        "customer-facing wording with the Incident Commander.")),
    RoleSpec(name="Scribe", brief=(
        "You keep the record: pin or react with :pushpin: to decisions, findings and actions so they "
        "land on the timeline, note what was tried and when with `/incident note`, and collect "
        "follow-ups for the postmortem.")),
    RoleSpec(name="Subject Expert", aliases=["sme", "expert", "subject matter expert"], many=True, brief=(
        "You bring deep knowledge of the affected system: investigate, propose and carry out fixes, "
        "and tell the Incident Commander what you find and what you are about to change before "
        "you change it.")),
    RoleSpec(name="Postmortem Owner", aliases=["postmortem", "pm"], listed_when_open=False, brief=(
        "You own the write-up once the incident is resolved: gather the timeline and what the "
        "responders learned, run the review blamelessly, and make sure every action item has an "
        "owner and a due date.")),
]

DEFAULT_UPDATE_CADENCE = {"SEV1": 15, "SEV2": 30, "SEV3": 60, "SEV4": 120, "SEV5": 240}

DEFAULT_NEXT_ACTIONS = [
    "Investigate {service} logs and error rates",
    "Check recent deployments and config changes",
    "Verify database and dependency health",
    "Prepare customer communication",
]


class TeamConfig(ConfigModel):
    severities: list[SeverityLevel] = Field(default_factory=lambda: list(DEFAULT_SEVERITIES))
    default_severity: str = "SEV3"
    services: list[Service] = Field(default_factory=list)
    next_actions: list[str] = Field(default_factory=lambda: list(DEFAULT_NEXT_ACTIONS))
    roles: list[RoleSpec] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    # Minutes between status updates per severity; the war room is reminded when one is overdue.
    update_cadence_minutes: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_UPDATE_CADENCE))
    # Reacting with this emoji to a war-room message puts it on the timeline.
    timeline_reaction: str = "pushpin"
    bridge_url: str | None = None
    status_page_url: str | None = None
    private_channels: bool = False
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    impact_keywords: ImpactKeywords = Field(default_factory=ImpactKeywords)
    # Runbooks: a folder of YAML files (relative to this file), the programs their steps may run, and the
    # Slack users who may approve a changing step besides the incident's Incident Commander.
    runbooks_dir: Path | None = None
    runbook_programs: list[str] = Field(default_factory=lambda: ["kubectl"])
    runbook_approvers: list[str] = Field(default_factory=list)

    def severity(self, name: str) -> SeverityLevel | None:
        return next((s for s in self.severities if s.name == name.upper()), None)

    @property
    def severity_names(self) -> list[str]:
        return [s.name for s in self.severities]

    def role(self, name: str) -> RoleSpec | None:
        """A role by its name, initials (ic) or an alias (comms, sme), case-insensitively."""
        return next((spec for spec in self.roles if spec.called(name)), None)

    def update_cadence(self, severity: str) -> int | None:
        return self.update_cadence_minutes.get(severity.upper())

    def internal_services(self) -> list[Service]:
        return [s for s in self.services if s.internal]

    def service_for(self, text: str) -> str | None:
        return next((s.name for s in self.services if s.mentioned_in(text)), None)

    def service(self, name: str) -> Service:
        """The configured service, or one read with the default conventions."""
        return next((s for s in self.services if s.name == name), None) or Service(name=name)

    def escalation_policy(self, severity: str, service: str | None) -> EscalationPolicy | None:
        """The policy for an incident: its service's, if that one covers the severity, else the first that does."""
        named = self.service(service).escalation_policy if service else None
        candidates = [p for p in self.escalation_policies if named is None or p.name == named]
        return next((p for p in candidates if p.covers(severity, service)), None)

    @field_validator("runbook_programs")
    @classmethod
    def _bare_programs(cls, value: list[str]) -> list[str]:
        for program in value:
            if not program or "/" in program or program.startswith("-") or any(c.isspace() for c in program):
                raise ValueError(f"{program!r}: a program is a bare name found on PATH (kubectl), not a path")
        return value

    @field_validator("roles")
    @classmethod
    def _keep_commander(cls, value: list[RoleSpec]) -> list[RoleSpec]:
        if not any(r.name == "Incident Commander" for r in value):
            raise ValueError("the Incident Commander role cannot be removed")
        return value

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
        raise ConfigError(f"INCIDENTBOT_CONFIG: {path} is invalid: {'; '.join(_problems(exc))}") from exc
    if config.severity(config.default_severity) is None:
        raise ConfigError(f"INCIDENTBOT_CONFIG: default_severity {config.default_severity} is not a severity")
    if config.runbooks_dir is not None and not config.runbooks_dir.is_absolute():
        config.runbooks_dir = path.parent / config.runbooks_dir  # relative to the config file, not the cwd
    problems = check_references(config.escalation_policies, config.severity_names,
                                {s.name: s.escalation_policy for s in config.services})
    if problems:
        raise ConfigError(f"INCIDENTBOT_CONFIG: {path} is invalid:\n" + "\n".join(problems))
    return config


def _problems(exc: ValidationError) -> list[str]:
    """Each problem as `where: what`, where is the key's path in the file (`services[0].slo`)."""
    problems = []
    for error in exc.errors():
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where or 'top level'}: {message}")
    return problems
