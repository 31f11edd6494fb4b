"""The analysis rendered: Markdown in the seed's layout (CLI, exports) and Block Kit for the war room."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.rca.report import RcaReport
from app.incidents.render import clock, plain
from app.slack.blocks import Block, context, escape, fields, header, section

MAX_SLACK_EVIDENCE = 5

_env = Environment(loader=PackageLoader("agents.rca", "templates"), undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
_env.filters.update(clock=clock, plain=plain, pad=lambda text, width: str(text).ljust(width))


def _spans_days(r: RcaReport) -> bool:
    return r.window_start.date() != r.window_end.date()


def duration(r: RcaReport) -> str:
    """From T+0 to recovery (or resolution), as the seed writes it: "14:30 - 15:15 UTC (45 minutes)"."""
    start = r.reference
    end = r.recovered_at or None
    days = _spans_days(r)
    if end is None or end <= start:
        return f"since {clock(start, days)} UTC (not recovered in the data read)"
    minutes = round((end - start).total_seconds() / 60)
    return f"{clock(start, days)} - {clock(end, days)} UTC ({minutes} minutes)"


def footer(r: RcaReport) -> str:
    tools = ", ".join(f"{t.name} {'✓' if t.available else '✗'}" for t in r.tools)
    parts = [f"{r.agent} · {r.mode}", f"{r.queries} queries, {r.lines_read:,} log lines", tools]
    if r.note:
        parts.append(r.note)
    return " · ".join(p for p in parts if p)


def markdown(r: RcaReport) -> str:
    return _env.get_template("rca.md.j2").render(r=r, duration=duration(r), footer=footer(r),
                                                  spans_days=_spans_days(r))


def fallback_text(r: RcaReport) -> str:
    return f"Root cause analysis{f' for {r.incident_id}' if r.incident_id else ''}: {r.executive_summary}"


def blocks(r: RcaReport) -> list[Block]:
    days = _spans_days(r)
    timeline = "\n".join(f"{r.offset(row.at)} ({clock(row.at, days)}): {plain(row.text)}" for row in r.timeline)
    evidence = "\n".join(f"{i}. {escape(plain(e.text))}" for i, e in enumerate(r.evidence[:MAX_SLACK_EVIDENCE], 1))
    out: list[Block] = [
        header(f"Root Cause Analysis: {r.title}"),
        fields([("Incident", r.incident_id or "none"), ("Service", r.service), ("Duration", duration(r)),
                ("Confidence", r.confidence)]),
        section(f"*Executive summary*\n{escape(plain(r.executive_summary))}"),
        section(f"*Timeline*\n```{escape(timeline)}```"),
        section(f"*Root cause*\n{escape(plain(r.root_cause))}"),
    ]
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
