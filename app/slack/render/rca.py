"""The root-cause analysis in Block Kit, rendered from the rca-agent's typed result (`RcaReport`)."""

from __future__ import annotations

from agents.base import AgentAnswer
from agents.rca.render import duration, footer, spans_days
from agents.rca.report import RcaReport
from app.incidents.render import clock, plain
from app.slack.blocks import Block, context, escape, fields, header, section

MAX_SLACK_EVIDENCE = 5
MAX_RULED_OUT = 4


def answer_blocks(answer: AgentAnswer) -> list[Block]:
    return blocks(RcaReport.model_validate(answer.data))


def blocks(r: RcaReport) -> list[Block]:
    days = spans_days(r)
    timeline = "\n".join(f"{r.offset(row.at)} ({clock(row.at, days)}): {plain(row.text)}" for row in r.timeline)
    evidence = "\n".join(f"{i}. {escape(plain(e.text))}" for i, e in enumerate(r.evidence[:MAX_SLACK_EVIDENCE], 1))
    out: list[Block] = [
        header(f"Root Cause Analysis: {r.title}"),
        fields([("Incident", r.incident_id or "none"), ("Service", r.service), ("Duration", duration(r)),
                ("Confidence", r.confidence)]),
        section(f"*Executive summary*\n{escape(plain(r.executive_summary))}"),
    ]
    if timeline:
        out.append(section(f"*Timeline*\n```{escape(timeline)}```"))
    out.append(section(f"*Root cause*\n{escape(plain(r.root_cause))}"))
    if r.ruled_out:
        out.append(section("*Ruled out*\n" + "\n".join(
            f"• {escape(plain(item.subject))}: {escape(plain(item.reason))}" for item in r.ruled_out[:MAX_RULED_OUT])))
    if r.five_whys:
        out.append(section("*Five whys*\n" + "\n".join(
            f"{i}. {escape(plain(w.question))} → {escape(plain(w.answer))}" for i, w in enumerate(r.five_whys, 1))))
    if evidence:
        out.append(section(f"*Evidence*\n{evidence}"))
    if r.recommendations:
        rec = r.recommendations
        out.append(section("*Recommendations*\n" + "\n".join(
            f"• *{label}*: {escape(plain(text))}" for label, text in (
                ("Immediate", rec.immediate), ("Short-term", rec.short_term), ("Medium-term", rec.medium_term),
                ("Long-term", rec.long_term)))))
    out.append(context(escape(footer(r))))
    return out
