"""Runbooks in Block Kit: the run's one message (edited in place as it goes, with the buttons for the step that
waits), the runbook list and outline, and the agent's suggestions. Rendered from typed data only."""

from __future__ import annotations

from agents.base import AgentAnswer
from agents.runbook_executor.agent import DECIDED, duration
from agents.runbook_executor.report import RunbookReport, StepLine
from agents.runbook_executor.suggest import RunbookSuggestions
from app.runbooks.loader import Catalog
from app.runbooks.render import join_args
from app.runbooks.schema import Runbook, Step
from app.slack.blocks import Block, context, escape, header, mention, section

APPROVE, SKIP, ABORT, RESUME, DONE, RETRY = ("runbook_approve", "runbook_skip", "runbook_abort", "runbook_resume",
                                             "runbook_done", "runbook_retry")
ICONS = {"PASS": ":white_check_mark:", "COMPLETED": ":white_check_mark:", "FAIL": ":x:", "FAILED": ":x:",
         "TIMED OUT": ":hourglass:", "REFUSED": ":no_entry:", "SKIPPED": ":fast_forward:",
         "RUNNING": ":arrows_counterclockwise:",
         "ROLLED BACK": ":leftwards_arrow_with_hook:", "INTERRUPTED": ":warning:", "UNKNOWN": ":warning:",
         "OUTCOME UNKNOWN": ":warning:",
         "NOT RUN": ":white_circle:", "PENDING": ":white_circle:", "DRY RUN (not run)": ":memo:"}
RESULT_ICONS = {"SUCCESS": ":white_check_mark:", "FAILED": ":x:", "ABORTED": ":no_entry:", "DRY RUN": ":memo:",
                "VERIFICATION FAILED": ":warning:",
                "INTERRUPTED": ":warning:", "IN PROGRESS": ":arrows_counterclockwise:",
                "WAITING FOR APPROVAL": ":raised_hand:"}
OUTPUT_CHARS = 300


def _code(text: str) -> str:
    """Inline code that a backtick in the text cannot end early."""
    return "`" + escape(text.replace("`", "'")) + "`"


def _who(user: str | None) -> str:
    return mention(user) if user else "someone"


def run_text(r: RunbookReport) -> str:
    return f"Runbook {r.runbook} on {r.target}: {r.result}"


def run_blocks(r: RunbookReport) -> list[Block]:
    mode = {"dry-run": " · dry run", "guide": " · guided"}.get(r.mode, "")
    blocks: list[Block] = [
        header(f"Runbook Execution: {r.runbook}"),
        section(f"*Target*: {escape(r.target)}\n*Started*: {r.started_at:%Y-%m-%d %H:%M:%S} UTC by "
                f"{_who(r.started_by)}{mode}"),
    ]
    if r.preflight:
        blocks.append(section("*Pre-flight checks*\n" + "\n".join(
            f"{ICONS.get(c.status, '')} {escape(c.name)}: *{c.status}*" + (f" · {escape(c.details)}" if c.details
                                                                          else "") for c in r.preflight)))
    blocks.append(section("*Execution steps*\n" + "\n".join(_step(s, len(r.steps)) for s in r.steps)))
    if r.rollbacks:
        blocks.append(section("*Rollback*\n" + "\n".join(
            f"{ICONS.get(s.status, '')} {escape(s.name)}: *{s.status}* {_code(s.command)}" for s in r.rollbacks)))
    if r.waiting is not None:
        blocks.extend(_waiting(r))
    if r.verification and (r.finished or any(c.status != "PENDING" for c in r.verification)):
        blocks.append(section("*Post-execution verification*\n" + "\n".join(
            f"{ICONS.get(c.status, '')} {escape(c.name)}: *{c.status}*" + (f" · {escape(c.details)}" if c.details
                                                                          else "") for c in r.verification)))
    summary = (f"{RESULT_ICONS.get(r.result, '')} *Result: {r.result}* · {r.completed} completed, {r.skipped} "
               f"skipped, {r.failed} failed · {duration(r.seconds)}")
    if r.result_detail and r.result != "SUCCESS":
        summary += f"\n{escape(r.result_detail)}"
    blocks.append(section(summary))
    blocks.append(context(f"Run #{r.run_id}" + (f" · {r.incident_id}" if r.incident_id else "")
                          + " · runbook-executor"))
    return blocks


def _step(s: StepLine, total: int) -> str:
    line = f"{ICONS.get(s.status, ':raised_hand:')} *{s.number}/{total}* {escape(s.name)}: *{s.status}*"
    if s.status == "SKIPPED" and not s.decided_by:
        return line + (f" ({escape(s.note)})" if s.note else "")
    line += f"\n      {_code(s.command)}"
    if s.decided_by and s.decision in DECIDED:
        line += f" · {DECIDED[s.decision]} by {_who(s.decided_by)}"
    if s.seconds is not None:
        line += f" · {duration(s.seconds)}"
    if s.note and s.status not in ("COMPLETED",):
        line += f"\n      {escape(s.note)}"
    if s.output and s.status not in ("PENDING",):
        first = " ".join(s.output.split())[:OUTPUT_CHARS]
        line += f"\n      ↳ {_code(first)}"
    return line


def waiting_block_id(run_id: int, position: int) -> str:
    return f"runbook_{run_id}_{position}"


def _waiting(r: RunbookReport) -> list[Block]:
    w = r.waiting
    assert w is not None
    value = f"{r.run_id}:{w.position}"
    if r.state == "interrupted":
        where = (f"while *{escape(w.name)}* ran: its outcome is unknown, and resuming asks what to do about it"
                 if w.unknown else f"before *{escape(w.name)}*")
        text = (f":warning: *Interrupted* {where}. The process running it stopped. "
                f"Resume from this step, or abort (rolling back what was done).")
        buttons = [_button("Resume", RESUME, value, "primary"), _button("Abort", ABORT, value, "danger")]
    elif w.unknown:
        text = (f":warning: *Outcome unknown*: *{escape(w.name)}* was running when the process stopped:"
                f"\n```{escape(w.command)}```\nCheck whether it took effect, then *Mark done* (it did; go on), "
                "*Retry* (it did not; run it again) or *Abort* (roll back the completed steps).")
        buttons = [_button("Mark done", DONE, value, "primary"), _button("Retry", RETRY, value),
                   _button("Abort", ABORT, value, "danger")]
    elif w.guide:
        text = f":point_right: *Run this step and confirm*: *{escape(w.name)}*\n```{escape(w.command)}```"
        buttons = [_button("Done", DONE, value, "primary"), _button("Skip", SKIP, value),
                   _button("Abort", ABORT, value, "danger")]
    else:
        text = f":raised_hand: *Approve this step?* *{escape(w.name)}* changes something:\n```{escape(w.command)}```"
        if w.rollback:
            text += f"\nIf a later step fails it is undone by {_code(w.rollback)}."
        buttons = [_button("Approve", APPROVE, value, "primary"), _button("Skip", SKIP, value),
                   _button("Abort", ABORT, value, "danger")]
    who = ("Only the Incident Commander or a runbook approver may answer."
           + ("" if w.guide else " Abort rolls back the completed steps."))
    return [section(text), {"type": "actions", "block_id": waiting_block_id(r.run_id, w.position), "elements": buttons},
            context(who)]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id,
                     "value": value}
    if style:
        button["style"] = style
    return button


def list_blocks(catalog: Catalog) -> list[Block]:
    rows = [f"• *{escape(name)}*: {escape(catalog.runbooks[name].description)}" for name in sorted(catalog.runbooks)]
    blocks = [section("*Runbooks*\n" + ("\n".join(rows) or "_none_")),
              context("`/incident runbook show NAME` · `/incident runbook run NAME key=value … [--dry-run]` · "
                      "`/incident runbook guide NAME key=value …`")]
    if catalog.problems:
        blocks.insert(1, section(":warning: *Runbook files with problems*\n" + "\n".join(
            f"• {escape(p)}" for p in catalog.problems[:10])))
    return blocks


def outline_blocks(book: Runbook) -> list[Block]:
    """A runbook's parameters and steps, as `incidentbot runbook show` prints them."""
    blocks: list[Block] = [header(f"Runbook: {book.name}"), section(escape(book.description) + (
        f"\n*Target*: {escape(book.target)}" if book.target else ""))]
    rows = [f"• `{name}` {_default(p.default)}" + (f": {escape(p.description)}" if p.description else "")
            + f" · pattern {_code(p.pattern)}" for name, p in book.parameters.items()]
    blocks.append(section("*Parameters*\n" + ("\n".join(rows) or "_none_")))
    for title, steps in (("Pre-flight checks", book.preflight), ("Steps", book.steps), ("Verification", book.verify)):
        if steps:
            blocks.append(section(f"*{title}*\n" + "\n".join(_outline_step(n, st) for n, st in enumerate(steps, 1))))
    blocks.append(context("Steps marked :raised_hand: wait for the Incident Commander or a runbook approver. "
                          f"`/incident runbook run {book.name} key=value …`"))
    return blocks


def _default(value: str | None) -> str:
    return "(required)" if value is None else "(optional)" if value == "" else f"(default {_code(value)})"


def _outline_step(number: int, step: Step) -> str:
    mark = ":raised_hand: " if step.mutating else ""
    line = f"{number}. {mark}*{escape(step.name)}* {_code(join_args(step.command))}"
    if step.when is not None:
        line += f" · {escape(step.when.condition())}"
    if step.rollback:
        line += f"\n      rollback: {_code(join_args(step.rollback))}"
    return line


def answer_blocks(answer: AgentAnswer) -> list[Block]:
    """The agent's answer: its suggestions, or a run's report."""
    data = answer.data or {}
    if data.get("kind") == "suggestions":
        return suggestion_blocks(RunbookSuggestions.model_validate(data))
    return run_blocks(RunbookReport.model_validate(data))


def suggestion_blocks(s: RunbookSuggestions) -> list[Block]:
    if not s.suggestions:
        return [section(f"No runbook matches that. Runbooks: {escape(', '.join(s.available)) or 'none'}")]
    rows = [f"{n}. *{escape(x.runbook)}*: {escape(x.description)}\n      {_code(x.command)}"
            + (f" (fill in {escape(', '.join(x.missing))})" if x.missing else "")
            + (f"\n      _{escape(x.why)}_" if x.why else "")
            for n, x in enumerate(s.suggestions, 1)]
    return [section("*Runbook suggestions*\n" + "\n".join(rows)),
            context("A runbook runs only when a person starts it; changing steps wait for approval.")]

