"""Parameters from people (`key=value`) and from earlier steps' output, checked before any command is built.

A value must match its parameter's pattern as a whole, and never starts with `-` (it would read as a flag:
`--kubeconfig=/etc/shadow`), holds a newline or control character, or a shell metacharacter. Commands run
without a shell, so those characters would be harmless, but a value that has them is a mistake or an attack,
and either way it is refused with a message rather than passed on.
"""

from __future__ import annotations

import re

from app.runbooks.schema import PLACEHOLDER, Runbook

KEY = re.compile(r"^[a-z][a-z0-9_]*$")
SHELL_CHARACTERS = set(";&|`$<>(){}[]*?!~#'\"\\")
MAX_VALUE = 253  # the longest Kubernetes name


class ParameterError(ValueError):
    """A parameter is missing, unknown or malformed; the message names it and says what is allowed."""


def split_pairs(words: list[str]) -> dict[str, str]:
    """`deployment=api namespace=prod` → {deployment: api, namespace: prod}; anything else is refused."""
    pairs: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not KEY.match(key):
            raise ParameterError(f"`{_shown(word)}` is not key=value (parameters look like deployment=api-server)")
        if key in pairs:
            raise ParameterError(f"{key} is given twice")
        pairs[key] = value
    return pairs


def unsafe(value: str) -> str | None:
    """Why a value can never be an argument, or None."""
    if not value:
        return "is empty"
    if len(value) > MAX_VALUE:
        return f"is longer than {MAX_VALUE} characters"
    if value.startswith("-"):
        return "starts with '-' (it would be read as an option)"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "contains a newline or control character"
    bad = sorted(set(value) & SHELL_CHARACTERS)
    if bad:
        return f"contains {' '.join(repr(c) for c in bad)}"
    if any(c.isspace() for c in value):
        return "contains whitespace"
    return None


def resolve(runbook: Runbook, given: dict[str, str]) -> dict[str, str]:
    """Every declared parameter's value: given, else its default; each checked against its pattern."""
    unknown = sorted(set(given) - set(runbook.parameters))
    if unknown:
        known = ", ".join(runbook.parameters) or "none"
        raise ParameterError(f"{runbook.name} has no parameter {unknown[0]} (parameters: {known})")
    values: dict[str, str] = {}
    for name, spec in runbook.parameters.items():
        value = given.get(name, spec.default)
        if value is None:
            hint = f" ({spec.description})" if spec.description else ""
            raise ParameterError(f"{runbook.name} needs {name}{hint}: add {name}=...")
        if value or name in given:  # an empty default means "not given"; `when` tests for it
            check(name, value, spec.pattern)
        values[name] = value
    return values


def check(name: str, value: str, pattern: str | None) -> None:
    problem = unsafe(value)
    if problem is not None:
        raise ParameterError(f"{name}=`{_shown(value)}` is refused: the value {problem}")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ParameterError(f"{name}=`{_shown(value)}` does not match its pattern {pattern}")


def substitute(argv: list[str], values: dict[str, str]) -> list[str]:
    """Each `{name}` argument replaced by its value, as one argument; other arguments are left as written."""
    out = []
    for arg in argv:
        match = PLACEHOLDER.fullmatch(arg)
        out.append(values[match.group(1)] if match else arg)
    return out


def target(runbook: Runbook, values: dict[str, str]) -> str:
    """What the run acts on, e.g. `deployment/api-server (namespace: production)`; the parameters otherwise."""
    if runbook.target:
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), runbook.target)
    return ", ".join(f"{k}={v}" for k, v in values.items()) or runbook.name


def _shown(text: str) -> str:
    """A refused value, safe to echo: control characters made visible, long values cut."""
    visible = text.encode("unicode_escape").decode("ascii").replace("`", "'")
    return visible if len(visible) <= 60 else visible[:59] + "…"
