"""Error-log bursts: which kinds of error line appeared (or surged), from when, and how many.

Lines are grouped by template (the message with its ids, numbers and times blanked) so ten thousand
"timed out after 30000ms" lines for different requests count as one kind of error. Each kind becomes a
per-minute count series and goes through the same onset detection as metrics.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.rca.anomaly import detect
from app.integrations.logs import parse_line
from app.integrations.telemetry import LogLine, Sample

# Asked of every log source: the lines that can say what went wrong.
ERROR_PATTERN = (r"error|exception|fatal|panic|fail|timeout|timed out|refused|unavailable|expired|x509|"
                 r"no such host|no space|denied|evict|oom|killed|invalid|unable|cannot|could not|exhausted")

# Info lines that carry change evidence: flags, config reloads, migrations, cache flushes, certificates, syncs.
INFO_PATTERN = (r"flag|feature|toggl|config|reload|migrat|schema|flush|cache|rotat|renew|certific|sync|rollout|"
                r"version|rate.?limit|throttl|quota|too many|scal|replica|backup|vacuum|reindex|batch|job")

LEADING_TIME = re.compile(r"^\s*(?:\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?|\[[^\]]{8,40}\])\s*")
_DIGITS = frozenset("0123456789")
MIN_LINES = 5  # fewer than this is chatter, not a burst


@dataclass(frozen=True)
class LogBurst:
    template: str
    example: str
    onset: datetime
    count: int  # lines of this kind from onset on
    baseline_per_minute: float
    peak_per_minute: int
    level: str | None
    source: str
    query: str
    new: bool  # never seen before onset in the window
    component: str | None = None  # whose logs: the component in scope they were read for


ERROR_FIELDS = ("error", "err", "exception", "error.message", "reason", "cause")


def template_of(message: str) -> str:
    """Every word with a digit in it blanked (ids, counts, times, versions; `key=` kept), so one kind of
    line has one template. JSON and logfmt lines are templated on their message field (with an error field
    when they carry one), not on their ids and timestamps. Word by word rather than by regex: 100k lines cost
    tens of milliseconds."""
    if "=" in message or message.startswith("{"):
        parsed = parse_line(message)
        if parsed.format != "text":
            error = next((parsed.fields[k] for k in ERROR_FIELDS if parsed.fields.get(k)), "")
            message = f"{parsed.message} {error}".strip()
    return " ".join(map(_blank, message.split()))[:300]


def _blank(word: str) -> str:
    if _DIGITS.isdisjoint(word):
        return word
    key, sep, _ = word.partition("=")
    return f"{key}=<*>" if sep and _DIGITS.isdisjoint(key) else "<*>"


def bursts(lines: list[LogLine], start: datetime, baseline_until: datetime, end: datetime) -> list[LogBurst]:
    """Every kind of error line whose rate departed from its baseline, earliest first."""
    groups: dict[tuple[str, str], list[LogLine]] = defaultdict(list)
    templates: dict[str, str] = {}
    for line in lines:
        template = templates.get(line.message)
        if template is None:
            template = templates[line.message] = template_of(line.message)
        groups[(line.labels.get("component", ""), template)].append(line)
    found = [burst for (_, template), group in groups.items() if len(group) >= MIN_LINES
             if (burst := _burst(template, group, start, baseline_until, end)) is not None]
    return sorted(found, key=lambda b: b.onset)


def _per_minute(group: list[LogLine], start: datetime, end: datetime) -> list[Sample]:
    counts = Counter(int((line.at - start).total_seconds() // 60) for line in group)
    minutes = int((end - start).total_seconds() // 60) + 1
    return [Sample(at=start + timedelta(minutes=m), value=float(counts.get(m, 0))) for m in range(minutes)]


def _burst(template: str, group: list[LogLine], start: datetime, baseline_until: datetime,
           end: datetime) -> LogBurst | None:
    series = _per_minute(group, start, end)
    anomaly = detect(series, baseline_until)
    if anomaly is None:
        return None
    after = [line for line in group if line.at >= anomaly.onset]
    first = after[0] if after else group[0]
    baseline_minutes = max(1.0, (baseline_until - start).total_seconds() / 60)
    before = sum(1 for line in group if line.at < baseline_until)
    return LogBurst(
        template=template, example=first.message.strip()[:300], onset=first.at, count=len(after),
        baseline_per_minute=round(before / baseline_minutes, 2), peak_per_minute=int(anomaly.peak),
        level=first.level, source=first.source, query=first.query,
        new=not any(line.at < anomaly.onset for line in group), component=first.labels.get("component"),
    )
