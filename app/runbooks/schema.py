"""A runbook file, as a schema: parameters, pre-flight checks, steps, verification.

Every model refuses keys it does not know (a typo like `mutatng` is an error, not a step that silently runs
without approval). Commands are argument lists; a `{name}` placeholder must be a whole argument, so a value can
never be glued onto a flag or split into several arguments.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from app.config_base import ConfigModel

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
DURATION = re.compile(r"^(\d+)\s*(s|m|h)?$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, None: 1}
MAX_TIMEOUT = 6 * 3600


def seconds(value: object) -> object:
    """`60s`, `2m`, `1h` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    match = DURATION.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write 30s, 5m or 1h")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


Seconds = Annotated[float, BeforeValidator(seconds), Field(gt=0, le=MAX_TIMEOUT)]


class Parameter(ConfigModel):
    pattern: str = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"  # the whole value must match
    default: str | None = None
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from exc
        return value

    @field_validator("default", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Capture(ConfigModel):
    """A value read from a step's output for later steps: the regex's first group (or whole match)."""

    name: str
    regex: str
    add: int | None = None  # integer arithmetic on the captured number (scale down by one: add: -1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PARAM_NAME.match(value):
            raise ValueError(f"capture names are lower_snake_case, not {value!r}")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex {value!r} is not a regular expression: {exc}") from exc
        return value


class When(ConfigModel):
    """Run the step only if a parameter has (or lacks) a value; otherwise it is skipped, saying why."""

    param: str
    equals: str | None = None
    not_equals: str | None = None
    one_of: list[str] | None = None
    otherwise: str | None = None  # why it is skipped, for the report ("not required for pod restart")

    @model_validator(mode="after")
    def _one_test(self) -> When:
        tests = [t for t in (self.equals, self.not_equals, self.one_of) if t is not None]
        if len(tests) > 1:
            raise ValueError("give one of equals, not_equals, one_of (or none: the parameter is non-empty)")
        return self

    def holds(self, value: str | None) -> bool:
        if self.equals is not None:
            return value == self.equals
        if self.not_equals is not None:
            return value != self.not_equals
        if self.one_of is not None:
            return value in self.one_of
        return bool(value)

    def describe(self) -> str:
        """Why it was skipped."""
        return self.otherwise or self.condition()

    def condition(self) -> str:
        if self.equals is not None and self.equals == "":
            return f"only when {self.param} is not given"
        if self.equals is not None:
            return f"only when {self.param} is {self.equals}"
        if self.not_equals is not None:
            return f"not when {self.param} is {self.not_equals}"
        if self.one_of is not None:
            return f"only when {self.param} is one of {', '.join(self.one_of)}"
        return f"only when {self.param} is set"


class Expect(ConfigModel):
    exit_code: int = 0
    output_contains: str | None = None
    output_matches: str | None = None
    meaning: str | None = Field(None, max_length=200)  # said, beside the output, when the output is not as expected

    @field_validator("output_matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"output_matches {value!r} is not a regular expression: {exc}") from exc
        return value


Command = Annotated[list[str], Field(min_length=1)]


class Step(ConfigModel):
    name: str = Field(min_length=1, max_length=200)
    command: Command
    mutating: bool = False  # changes something: waits for a person to approve it
    timeout: Seconds = 60.0
    expect: Expect = Field(default_factory=Expect)
    rollback: Command | None = None  # undoes this step; run (approved with the step) if a later one fails
    when: When | None = None
    capture: list[Capture] = Field(default_factory=list)

    @field_validator("command", "rollback", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("a command is a list of arguments ([kubectl, get, pods]), never a shell string")
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("command", "rollback")
    @classmethod
    def _whole_placeholders(cls, value: list[str] | None) -> list[str] | None:
        for arg in value or []:
            if PLACEHOLDER.search(arg) and not PLACEHOLDER.fullmatch(arg):
                raise ValueError(f"argument {arg!r}: a {{parameter}} must be a whole argument "
                                 "(write [--replicas, \"{replicas}\"], not \"--replicas={replicas}\")")
        if value and PLACEHOLDER.fullmatch(value[0]):
            raise ValueError("the program (first argument) cannot be a parameter")
        return value

    def placeholders(self) -> set[str]:
        args = [*self.command, *(self.rollback or [])]
        return {m.group(1) for a in args if (m := PLACEHOLDER.fullmatch(a))}


class Runbook(ConfigModel):
    name: str
    description: str = Field(min_length=1)
    target: str | None = None  # what it acts on, e.g. "deployment/{deployment} (namespace: {namespace})"
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    preflight: list[Step] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    verify: list[Step] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)  # words that suggest it ("restart", "failover")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"runbook names are lowercase words joined by '-', not {value!r}")
        return value

    @field_validator("parameters")
    @classmethod
    def _param_names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in value:
            if not PARAM_NAME.match(name):
                raise ValueError(f"parameter names are lower_snake_case, not {name!r}")
        return value

    @field_validator("preflight", "verify")
    @classmethod
    def _read_only(cls, value: list[Step]) -> list[Step]:
        for step in value:
            if step.mutating or step.rollback:
                raise ValueError(f"{step.name!r}: pre-flight and verify steps only read; move changes to steps")
        return value

    @model_validator(mode="after")
    def _known_placeholders(self) -> Runbook:
        known = set(self.parameters)
        for phase, steps in (("preflight", self.preflight), ("steps", self.steps), ("verify", self.verify)):
            for n, step in enumerate(steps):
                unknown = sorted(step.placeholders() - known)
                if unknown:
                    raise ValueError(f"{phase}[{n}] ({step.name}): unknown parameter {{{unknown[0]}}}; "
                                     f"declare it under parameters or capture it in an earlier step")
                if step.when is not None and step.when.param not in known | {c.name for c in step.capture}:
                    raise ValueError(f"{phase}[{n}] ({step.name}): when names unknown parameter {step.when.param}")
                known |= {c.name for c in step.capture}
        placeholders = set(PLACEHOLDER.findall(self.target or ""))
        if placeholders - set(self.parameters):
            raise ValueError(f"target names unknown parameter {{{sorted(placeholders - set(self.parameters))[0]}}}")
        return self

    def captured_names(self) -> set[str]:
        return {c.name for s in [*self.preflight, *self.steps, *self.verify] for c in s.capture}

    def programs(self) -> set[str]:
        return {s.command[0] for s in [*self.preflight, *self.steps, *self.verify]} | {
            s.rollback[0] for s in self.steps if s.rollback}
