"""A runbook as Markdown, for `runbook show`: what it needs, what it checks, what it changes, what undoes it."""

from __future__ import annotations

import shlex

from app.runbooks.schema import PLACEHOLDER, Runbook, Step


def outline(book: Runbook) -> str:
    lines = [f"## Runbook: {book.name}", "", book.description, ""]
    if book.target:
        lines += [f"**Target**: {book.target}", ""]
    lines += ["### Parameters", ""]
    if book.parameters:
        lines += ["| Parameter | Default | Pattern | Description |", "|---|---|---|---|"]
        lines += [f"| {name} | {_default(p.default)} | `{p.pattern}` | {p.description} |"
                  for name, p in book.parameters.items()]
    else:
        lines.append("None.")
    for title, steps in (("Pre-Flight Checks", book.preflight), ("Steps", book.steps), ("Verification", book.verify)):
        if steps:
            lines += ["", f"### {title}", ""]
            lines += [_step(n, s) for n, s in enumerate(steps, 1)]
    lines += ["", "Steps marked *changes* wait for approval by the Incident Commander or a runbook approver."]
    return "\n".join(lines) + "\n"


def _default(value: str | None) -> str:
    return "(required)" if value is None else ("(optional)" if value == "" else f"`{value}`")


def _step(number: int, step: Step) -> str:
    flags = [f"times out after {step.timeout:g}s"]
    if step.mutating:
        flags.insert(0, "*changes*")
    if step.when is not None:
        flags.append(step.when.condition())
    text = f"{number}. **{step.name}**: `{join_args(step.command)}` ({', '.join(flags)})"
    if step.capture:
        text += f"; keeps {', '.join(c.name for c in step.capture)}"
    if step.rollback:
        text += f"\n   Rollback: `{join_args(step.rollback)}`"
    return text


def join_args(argv: list[str]) -> str:
    """Arguments as a person would type them; `{parameter}` placeholders are left unquoted to read easily."""
    return " ".join(a if PLACEHOLDER.fullmatch(a) else shlex.quote(a) for a in argv)
