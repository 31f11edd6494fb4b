"""The analysis rendered as Markdown in the seed's layout (CLI, exports); Block Kit is app/slack/render/rca.py."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.rca.report import RcaReport
from app.incidents.render import clock, plain

_env = Environment(loader=PackageLoader("agents.rca", "templates"), undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
_env.filters.update(clock=clock, plain=plain, pad=lambda text, width: str(text).ljust(width))


def spans_days(r: RcaReport) -> bool:
    return r.window_start.date() != r.window_end.date()


def duration(r: RcaReport) -> str:
    """From T+0 to recovery (or resolution), as the seed writes it: "14:30 - 15:15 UTC (45 minutes)"."""
    start = r.reference
    end = r.recovered_at or None
    days = spans_days(r)
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
                                                  spans_days=spans_days(r))


def fallback_text(r: RcaReport) -> str:
    return f"Root cause analysis{f' for {r.incident_id}' if r.incident_id else ''}: {r.executive_summary}"
