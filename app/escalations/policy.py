"""Escalation policies from the team config: who is told, in what order, after how long.

A policy covers incidents by severity (and optionally by service). Its levels are the responder chain:
each has a role, a delay from the start of the chain (`after`) and exactly one target: a PagerDuty
escalation policy or schedule (the person on call now), Slack users, or a Slack user group.
Stakeholders are told on their own clock (or with a level) and are never paged.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator, model_validator

from app.config_base import ConfigModel

DURATION = re.compile(r"^\s*(\d+)\s*([smh])\s*$")
LEVEL_NAME = re.compile(r"^L\d+$")
LEVEL_MENTION = re.compile(r"\b(L\d+)\b", re.IGNORECASE)
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]{2,}$")
PAGERDUTY_ID = re.compile(r"^P[A-Z0-9]{2,}$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


def parse_duration(value: object) -> timedelta:
    """`90s`, `15m`, `1h`; a bare number is minutes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(minutes=value)
    match = DURATION.match(str(value))
    if match is None:
        raise ValueError(f"durations look like 30s, 15m or 1h, not {value!r}")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def format_duration(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


class Condition(StrEnum):
    """What must be true of an incident for a level marked `also_when` to be reached by the clock."""

    REVENUE_IMPACT = "revenue_impact"
    CUSTOMER_IMPACT = "customer_impact"


class TargetType(StrEnum):
    PAGERDUTY_ESCALATION_POLICY = "pagerduty_escalation_policy"
    PAGERDUTY_SCHEDULE = "pagerduty_schedule"
    USERS = "users"
    USERGROUP = "usergroup"

    @property
    def is_pagerduty(self) -> bool:
        return self in (TargetType.PAGERDUTY_ESCALATION_POLICY, TargetType.PAGERDUTY_SCHEDULE)


def _check_users(users: list[str] | None) -> list[str] | None:
    for user in users or []:
        if not SLACK_USER.match(user):
            raise ValueError(f"{user!r} is not a Slack user id (they look like U0123ABCD)")
    return users


class Target(ConfigModel):
    """Exactly one of the four ways to reach someone."""

    pagerduty_escalation_policy: str | None = None
    pagerduty_schedule: str | None = None
    users: list[str] | None = None
    usergroup: str | None = None

    @field_validator("users")
    @classmethod
    def _slack_users(cls, value: list[str] | None) -> list[str] | None:
        return _check_users(value)

    @field_validator("pagerduty_escalation_policy", "pagerduty_schedule")
    @classmethod
    def _pagerduty_id(cls, value: str | None) -> str | None:
        if value is not None and not PAGERDUTY_ID.match(value):
            raise ValueError(f"{value!r} is not a PagerDuty id (they look like PABC123)")
        return value

    @field_validator("usergroup")
    @classmethod
    def _usergroup_id(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_USERGROUP.match(value):
            raise ValueError(f"{value!r} is not a Slack user group id (they look like S0123ABCD)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        given = [t for t in TargetType if getattr(self, t.value)]
        if len(given) != 1:
            names = ", ".join(t.value for t in TargetType)
            found = ", ".join(t.value for t in given) or "none"
            raise ValueError(f"give exactly one target ({names}); found {found}")
        return self

    @property
    def target_type(self) -> TargetType:
        return next(t for t in TargetType if getattr(self, t.value))

    @property
    def target(self) -> str:
        """The target as stored: an id, or user ids joined by commas."""
        value = getattr(self, self.target_type.value)
        return ",".join(value) if isinstance(value, list) else str(value)


class Level(Target):
    level: str
    role: str = Field(min_length=1, max_length=100)
    after: Duration = timedelta(0)
    also_when: Condition | None = None

    @field_validator("level")
    @classmethod
    def _level_name(cls, value: str) -> str:
        value = value.upper()
        if not LEVEL_NAME.match(value):
            raise ValueError(f"level names look like L1, L2, …, not {value!r}")
        return value


class Stakeholder(ConfigModel):
    """Told, not paged: by DM after a delay (or together with a level) for the listed severities."""

    role: str = Field(min_length=1, max_length=100)
    users: list[str] = Field(default_factory=list)
    usergroup: str | None = None
    severities: list[str] = Field(default_factory=list)  # empty: every severity the policy covers
    after: Duration | None = None
    with_level: str | None = None

    @field_validator("users")
    @classmethod
    def _slack_users(cls, value: list[str]) -> list[str]:
        return _check_users(value) or []

    @model_validator(mode="after")
    def _reachable(self) -> Stakeholder:
        if not self.users and not self.usergroup:
            raise ValueError(f"stakeholder {self.role!r} needs users or a usergroup")
        if self.usergroup is not None and not SLACK_USERGROUP.match(self.usergroup):
            raise ValueError(f"{self.usergroup!r} is not a Slack user group id (they look like S0123ABCD)")
        if (self.after is None) == (self.with_level is None):
            raise ValueError(f"stakeholder {self.role!r} needs either `after` or `with_level`")
        self.severities = [s.upper() for s in self.severities]
        self.with_level = self.with_level.upper() if self.with_level else None
        return self

    @property
    def target_type(self) -> TargetType:
        return TargetType.USERGROUP if self.usergroup else TargetType.USERS

    @property
    def target(self) -> str:
        return self.usergroup or ",".join(self.users)


class EscalationPolicy(ConfigModel):
    name: str = Field(min_length=1, max_length=64)
    severities: list[str] = Field(min_length=1)
    services: list[str] = Field(default_factory=list)  # empty: every service
    levels: list[Level] = Field(min_length=1)
    stakeholders: list[Stakeholder] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> EscalationPolicy:
        self.severities = [s.upper() for s in self.severities]
        names = [level.level for level in self.levels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"policy {self.name!r} lists level {', '.join(duplicates)} more than once")
        for before, after in zip(self.levels, self.levels[1:], strict=False):
            if after.after < before.after:
                raise ValueError(f"policy {self.name!r}: {after.level} ({format_duration(after.after)}) comes "
                                 f"before {before.level} ({format_duration(before.after)}); list levels in order")
        for person in self.stakeholders:
            if person.with_level is not None and person.with_level not in names:
                raise ValueError(f"policy {self.name!r}: stakeholder {person.role!r} refers to level "
                                 f"{person.with_level}, which the policy does not have ({', '.join(names)})")
        return self

    def covers(self, severity: str, service: str | None) -> bool:
        return severity.upper() in self.severities and (not self.services or service in self.services)

    def level(self, name: str) -> Level | None:
        return next((level for level in self.levels if level.level == name.upper()), None)

    def named_in(self, text: str) -> str | None:
        """The level a reason asks for by name ("L4", or its role: "need VP Engineering"), if any."""
        if (match := LEVEL_MENTION.search(text)) and self.level(match.group(1)):
            return match.group(1).upper()
        named = [lv for lv in self.levels if re.search(rf"\b{re.escape(lv.role)}\b", text, re.IGNORECASE)]
        return named[-1].level if named else None


def check_references(policies: list[EscalationPolicy], severities: list[str], services: dict[str, str | None]
                     ) -> list[str]:
    """What the policies name that the rest of the config lacks; `services` maps each to its policy."""
    problems = []
    names = [p.name for p in policies]
    for policy in policies:
        if names.count(policy.name) > 1 and policy is policies[names.index(policy.name)]:
            problems.append(f"escalation policy {policy.name!r} is defined more than once")
        for severity in policy.severities + [s for p in policy.stakeholders for s in p.severities]:
            if severity not in severities:
                problems.append(f"escalation policy {policy.name!r} names severity {severity}, which is not one of "
                                f"{', '.join(severities)}")
        for service in policy.services:
            if service not in services:
                problems.append(f"escalation policy {policy.name!r} names service {service!r}, which is not in "
                                "services")
    for service, policy_name in services.items():
        if policy_name is not None and policy_name not in names:
            known = ", ".join(names) or "none are defined"
            problems.append(f"service {service!r} names escalation policy {policy_name!r}, which is unknown "
                            f"(policies: {known})")
    return problems
