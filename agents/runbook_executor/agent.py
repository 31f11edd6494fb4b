"""The runbook-executor agent: a run's Runbook Execution report, and which runbook fits a request.

Deterministic. It never starts a run itself: asked in Slack (`@incidentbot restart the api pods`), it suggests
runbooks and the exact command a person types to start one; `incidentbot agent run runbook-executor --prompt
"Execute runbook: NAME key=value"` is a person starting it from a terminal, and runs through the same executor
as `incidentbot runbook run`.
"""

from __future__ import annotations

import re

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents import llm
from agents.base import AgentAnswer, AgentRequest
from agents.runbook_executor import llm_mode
from agents.runbook_executor.report import AGENT, RunbookReport
from agents.runbook_executor.suggest import RunbookSuggestions, suggest
from app.runbooks.loader import folders, load

_env = Environment(loader=PackageLoader("agents.runbook_executor", "templates"), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 1:
        return "under a second"
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    parts += [f"{minutes} minute{'s' * (minutes != 1)}"] if minutes else []
    parts += [f"{secs} second{'s' * (secs != 1)}"] if secs or not parts else []
    return " ".join(parts)


def _who(user: str) -> str:
    return f"@{user}" if re.match(r"^[UW][A-Z0-9]+$", user) else user.split(":", 1)[-1]


_env.filters.update(
    utc=lambda t: f"{t:%Y-%m-%d %H:%M:%S} UTC", who=_who, duration=duration,
    cell=lambda t: str(t).replace("|", "\\|").replace("\n", " "),
    fence=lambda t: str(t).replace("```", "'''"), oneline=lambda t: " ".join(str(t).split())[:200])


DECIDED = {"approve": "approved", "skip": "skipped", "done": "confirmed", "abort": "aborted", "retry": "retried"}


def markdown(report: RunbookReport) -> str:
    return _env.get_template("runbook_execution.md.j2").render(r=report, DECIDED=DECIDED)


def summary(report: RunbookReport) -> str:
    return (f"Runbook {report.runbook} on {report.target}: {report.result} ({report.completed} completed, "
            f"{report.skipped} skipped, {report.failed} failed)")


def report_answer(report: RunbookReport) -> AgentAnswer:
    return AgentAnswer(agent=AGENT, intent="runbook", incident_id=report.incident_id, summary=summary(report),
                       text_markdown=markdown(report), fallback_text=summary(report),
                       data=report.model_dump(mode="json"))


def suggestions_markdown(s: RunbookSuggestions) -> str:
    return _env.get_template("runbook_suggestions.md.j2").render(s=s)


async def answer(request: AgentRequest) -> AgentAnswer:
    """Which runbook fits; executing one is for a person to start (the answer says how).

    With an Anthropic key the model picks among the runbooks (checked like a person's input); on any failure,
    or without a key, the keyword match answers.
    """
    catalog = load(folders(request.config.runbooks_dir))
    verb = "guide" if re.search(r"\bguide\b", request.text, re.IGNORECASE) else "run"
    mode, note = "deterministic", None
    s = suggest(catalog, request.text, request.incident, verb=verb)
    if request.settings.anthropic_api_key is not None:
        try:
            s, model = await llm_mode.suggest(catalog, request, verb)
            mode = f"llm ({model})"
        except (llm.LlmFailed, ValueError) as failed:
            note = f"LLM mode unavailable ({failed}); keyword suggestions shown"
    top = s.suggestions[0].runbook if s.suggestions else None
    line = (f"Suggested runbook: {top} (a person starts it: {s.suggestions[0].command})" if top
            else "No runbook matches; `/incident runbook list` shows them")
    return AgentAnswer(agent=AGENT, mode=mode, note=note, intent="runbook", incident_id=s.incident_id,
                       summary=line, text_markdown=suggestions_markdown(s), fallback_text=line,
                       data=s.model_dump(mode="json"))
