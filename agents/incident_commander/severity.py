"""Severity assessment: the impact class an incident's title and description describe, and the SEV level it calls for.

The class is decided first, most serious first: security (customer data exposure, leaked credentials,
intrusion), data loss, payments and money movement, a full outage of a customer-facing service, a degraded
customer-facing service, internal tooling only, cosmetic. Each class has a usual level; words about scope then
move it (everyone, one region, a small share, one customer, not production). A severity the reporter typed
("SEV1!!!", "P0", "low prio") is their opinion: the reason says the impact decided.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from agents.incident_commander import impact_words as w
from agents.incident_commander.common import _number
from app.config import TeamConfig

CLASS_MEANINGS = {
    "security": "customer data exposure, leaked credentials or an intrusion",
    "data-loss": "data lost or corrupted",
    "payments": "payments and money movement",
    "outage": "a customer-facing service is down",
    "degraded": "a customer-facing service is degraded",
    "internal": "internal tooling only, no customer impact",
    "cosmetic": "cosmetic, nothing is broken for customers",
}


class SeverityAssessment(BaseModel):
    severity: str
    impact_class: str | None = None  # one of app.config.IMPACT_CLASSES; None when nothing says how bad it is
    reasons: list[str]  # one sentence each, the first naming the class and the words that set it
    signals: list[str]  # the words found, as written


@dataclass(frozen=True)
class Vocabulary:
    """The word groups, with the team's configured keywords and internal services added.

    Keywords for security, data loss, outage, degraded and cosmetic are symptoms that put an incident in the class
    on their own; for payments they are money words (a failure word must be near); for internal, tool names.
    """

    intrusion: re.Pattern[str]
    direct_loss: re.Pattern[str]
    money: re.Pattern[str]
    down: re.Pattern[str]
    degraded: re.Pattern[str]
    internal: re.Pattern[str]
    cosmetic: re.Pattern[str]

    @classmethod
    def of(cls, config: TeamConfig) -> Vocabulary:
        keywords = config.impact_keywords
        services = [name for s in config.internal_services() for name in (s.name, s.name.replace("-", " "),
                                                                           *s.aliases)]
        return cls(intrusion=w.extend(w.INTRUSION, keywords.security),
                   direct_loss=w.extend(w.DIRECT_LOSS, keywords.data_loss),
                   money=w.extend(w.MONEY, keywords.payments),
                   down=w.extend(w.DOWN, keywords.outage),
                   degraded=w.extend(w.DEGRADED, keywords.degraded),
                   internal=w.extend(w.INTERNAL, [*keywords.internal, *services]),
                   cosmetic=w.extend(w.COSMETIC, keywords.cosmetic))


@dataclass(frozen=True)
class Evidence:
    impact_class: str
    found: w.Found
    meaning: str


@dataclass
class Verdict:
    level: int
    reasons: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start = self.level  # the class's usual level, before scope moved it

    def move(self, level: int, found: w.Found | None, meaning: str) -> None:
        """Set the level for a reason about scope, saying which words moved it."""
        if found is None or level == self.level:
            return
        direction = "more" if level < self.level else "less"
        self.reasons.append(f'SEV{level}, {direction} severe: "{found.words}" {meaning}')
        self.signals.append(found.words)
        self.level = level


def _without(found: w.Found | None, text: str, spoiler: re.Pattern[str]) -> w.Found | None:
    """`found`, unless words that change its meaning sit inside it ("unknown error on login")."""
    if found is None or spoiler.search(text[found.start:found.end]):
        return None
    return found


def _security(text: str, v: Vocabulary) -> Evidence | None:
    if w.first(w.SECURITY_DENIED, text):
        return None
    checks: list[tuple[Callable[[], w.Found | None], str]] = [
        (lambda: w.first(v.intrusion, text), "means an intrusion or a breach"),
        (lambda: _without(w.near(w.LOGIN, w.STRANGER, text, 3), text, w.NOT_A_STRANGER),
         "means someone unknown got in"),
        (lambda: w.near(w.LOGIN, w.STRANGE_ORIGIN, text, 8), "means someone unknown got in"),
        (lambda: w.near(w.CREDENTIAL, w.EXPOSED, text, 4), "means leaked credentials"),
        (lambda: w.near(w.LOGIN, w.OTHER_PARTY, text, 3), "means people got into accounts that are not theirs"),
        (lambda: w.near(w.SEES_DATA, w.OTHER_PARTY, text, 4), "means customer data reached the wrong people"),
        (lambda: w.near(w.PERSONAL_DATA, w.EXPOSED, text, 4), "means personal data was exposed"),
        (lambda: w.near(w.DATA_STORE, w.EXPOSED_PLACE, text, 5), "means stored data was open to anyone"),
    ]
    return _first_evidence("security", checks)


def _first_evidence(impact_class: str, checks: list[tuple[Callable[[], w.Found | None], str]]) -> Evidence | None:
    for check, meaning in checks:
        found = check()
        if found is not None:
            return Evidence(impact_class, found, meaning)
    return None


def _data_loss(text: str, v: Vocabulary) -> Evidence | None:
    found = (w.first(v.direct_loss, text) or _without(w.near(w.DATA_STORE, w.LOSS, text, 4), text, w.NOT_DATA)
             or w.near(w.STORED_THINGS, w.GONE, text, 2))
    return Evidence("data-loss", found, "means data was lost or corrupted") if found else None


def _payments(text: str, v: Vocabulary) -> Evidence | None:
    found = (w.near(v.money, w.MONEY_FAILS, text, 3) or w.first(w.WRONGFUL_CHARGE, text)
             or w.near(v.money, w.MISPRICED, text, 4) or w.near(v.money, w.MONEY_LATE, text, 0)
             or w.near(w.MONEY_MOVEMENT, w.MONEY_LATE, text, 3))
    return Evidence("payments", found, "means money is not moving as it should") if found else None


def _internal(text: str, v: Vocabulary) -> Evidence | None:
    if w.first(w.CUSTOMER_FACING, text):
        return None
    found = w.first(v.internal, text)
    if found is None and (stopped := w.first(w.INTERNAL_CRITICAL, text)) is not None:
        return Evidence("internal", stopped, "stops the team's own work, not the customers'")
    return Evidence("internal", found, "is used by employees, not customers") if found else None


def _cosmetic(text: str, v: Vocabulary) -> Evidence | None:
    checks: list[tuple[Callable[[], w.Found | None], str]] = [
        (lambda: w.near(w.DISPLAY, w.WRONG, text, 3), "is wrong information on display, not a failure"),
        (lambda: w.first(v.cosmetic, text), "is cosmetic: nothing is broken"),
        (lambda: w.first(w.RAW_TEXT, text), "is text shown wrongly, not a failure"),
        (lambda: None if _any_failure(text, v) else w.first(w.SAYS, text), "is about what a page says, not what "
                                                                          "it does"),
    ]
    return _first_evidence("cosmetic", checks)


def _any_failure(text: str, v: Vocabulary) -> bool:
    return any(w.first(p, text) for p in (v.down, v.degraded, w.FAILURE, w.CANT))


def _outage(text: str, v: Vocabulary) -> Evidence | None:
    checks: list[tuple[Callable[[], w.Found | None], str]] = [
        (lambda: w.first(w.FULL, text), "means a full outage"),
        (lambda: w.near(w.USE, w.CANT, text, 2), "means customers cannot use it"),
        (lambda: w.near(w.USE, w.NOBODY, text, 2), "means nobody can use it"),
        (lambda: w.first(v.down, text), "means it is down for its users"),
        (lambda: w.near(w.CERTIFICATE, w.EXPIRED, text, 4), "means clients cannot connect"),
        (lambda: w.first(w.HARD_FAILURE, text) if w.first(w.BROAD, text) else None, "fails for everyone"),
    ]
    evidence = _first_evidence("outage", checks)
    if evidence is not None and w.first(w.PARTIAL, text, False):
        return Evidence("degraded", evidence.found, evidence.meaning + ", for part of the traffic")
    return evidence


def _degraded(text: str, v: Vocabulary) -> Evidence | None:
    found = w.first(v.degraded, text) or w.first(w.LATENCY_FIGURE, text)
    return Evidence("degraded", found, "means the service works, but not well") if found else None


def _level(evidence: Evidence, text: str) -> Verdict:
    """The class's usual level, moved by the words about scope."""
    verdict = Verdict(level=BASE_LEVEL[evidence.impact_class])
    # Words about scope are read as written: "not loading for some customers" is still some customers.
    single, broad = w.first(w.SINGLE, text, False), w.first(w.BROAD, text, False)
    partial, major = w.first(w.PARTIAL, text, False), w.first(w.MAJOR_SHARE, text, False)
    if evidence.impact_class == "data-loss":
        verdict.move(2, single, "limits it to one customer")
    elif evidence.impact_class == "payments":
        wrongful = w.first(w.WRONGFUL_CHARGE, text)
        verdict.move(1, broad or wrongful, "means the money of many is affected")
        verdict.move(3, None if broad or wrongful or major else partial, "means part of the payments fail")
        verdict.move(3, single, "limits it to one customer")
    elif evidence.impact_class == "outage":
        regional = w.first(w.REGIONAL, text, False)
        whole = w.first(w.WHOLE_PRODUCT, text, False) if not regional else None
        verdict.move(1, w.first(w.FULL, text) or broad or whole, "means the whole product")
        verdict.move(2, regional if verdict.level < 2 else None, "limits it to one region")
        verdict.move(3, single, "limits it to one customer")
    elif evidence.impact_class == "degraded":
        verdict.move(2, broad or major or (None if partial else w.first(w.TOTAL_FAILURE, text)),
                     "means customers cannot use it at all")
        verdict.move(4, None if broad or major else w.first(w.SECONDARY, text, False), "is a secondary feature")
        verdict.move(4, single, "limits it to one customer")
    elif evidence.impact_class == "internal":
        verdict.move(3, w.first(w.INTERNAL_CRITICAL, text) or w.near(w.BACKUPS, w.BACKUPS_FAIL, text, 3),
                     "stops the team from shipping, alerting or recovering")
        verdict.move(5, None if verdict.level < 4 or w.first(w.STOPPED, text) else w.first(w.ONLY_SLOW, text),
                     "is slower, but nobody is blocked")
    elif evidence.impact_class == "cosmetic" and evidence.meaning.startswith("is wrong information"):
        verdict.move(4, w.first(w.CUSTOMER_DOCUMENT, text), "is something customers rely on")
    elif evidence.impact_class == "cosmetic" and w.first(w.RAW_TEXT, text):
        verdict.move(4, w.first(w.CONTROL, text), "leaves customers guessing what a control does")
    return verdict


BASE_LEVEL = {"security": 1, "data-loss": 1, "payments": 2, "outage": 2, "degraded": 3, "internal": 4, "cosmetic": 5}


def _classify(text: str, v: Vocabulary) -> tuple[Evidence | None, Verdict | None]:
    """The impact class, most serious first; outside production only security keeps its class."""
    security = _security(text, v)
    if security is not None:
        verdict = _level(security, text)
        verdict.move(2, w.first(w.NON_PRODUCTION, text), "is not production")
        return security, verdict
    nonprod = w.first(w.NON_PRODUCTION, text)
    if nonprod is not None:
        lost = _data_loss(text, v)
        evidence = Evidence("internal", nonprod, "is not production, so customers are not affected")
        return evidence, Verdict(level=4 if lost else 5, signals=[lost.found.words] if lost else [],
                                 reasons=[f'"{lost.found.words}" loses only non-production data'] if lost else [])
    no_impact = w.first(w.NO_IMPACT, text)
    if no_impact is not None:
        return Evidence("internal", no_impact, "says customers are not affected"), Verdict(level=5)
    for finder in (_data_loss, _internal, _payments, _cosmetic, _outage, _degraded):
        evidence = finder(text, v)
        if evidence is not None:
            return evidence, _level(evidence, text)
    return None, None


def _name(level: int) -> str:
    return f"SEV{level}"


def _clamp(level: int, config: TeamConfig) -> tuple[str, str | None]:
    """The configured severity for a level, and a reason when the configuration moved it."""
    configured = sorted(config.severity_names, key=_number)
    if _name(level) in configured:
        return _name(level), None
    nearest = min(configured, key=lambda name: (abs(_number(name) - level), _number(name)))
    if _number(configured[0]) < level < _number(configured[-1]):
        return nearest, f"{nearest}: {_name(level)} is not configured; {nearest} is the nearest level"
    extreme = "most" if _number(nearest) > level else "least"
    return nearest, f"{nearest}: the {extreme} severe level configured"


def _normalise(text: str) -> str:
    """Curly apostrophes as typed on phones read as straight ones; same length, so spans still line up."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def assess_severity(title: str, description: str | None, config: TeamConfig) -> SeverityAssessment:
    """The impact class the title and description describe, and the severity it calls for, with the reasons.

    With nothing that says how bad it is, the configured default severity (and no class).
    """
    text = _normalise(title + ("\n" + description if description else ""))
    evidence, verdict = _classify(text, Vocabulary.of(config))
    if evidence is None or verdict is None:
        reasons = [f"{config.default_severity} (the configured default): nothing in the title or description "
                   "says how bad it is"]
        return SeverityAssessment(severity=config.default_severity, reasons=reasons, signals=[])
    first = (f'{_name(verdict.start)} for {evidence.impact_class} ({CLASS_MEANINGS[evidence.impact_class]}): '
             f'"{evidence.found.words}" {evidence.meaning}')
    reasons, signals = [first, *verdict.reasons], [evidence.found.words, *verdict.signals]
    stated = w.first(w.STATED_SEVERITY, text)
    if stated is not None:
        reasons.append(f'"{stated.words}" in the title is the reporter\'s word; the impact sets the severity')
    severity, clamped = _clamp(verdict.level, config)
    if clamped:
        reasons.append(clamped)
    return SeverityAssessment(severity=severity, impact_class=evidence.impact_class, reasons=reasons,
                              signals=signals)
