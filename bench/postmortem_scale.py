"""Postmortem generation on a very long incident, in deterministic mode, against loading its record.

Builds one resolved incident with 10,000 timeline events (notes, status updates, pinned messages, role changes,
status changes), 50,000 war-room messages (some asking for follow-ups) and a stored root-cause analysis, with bulk
inserts on a fresh SQLite file, and on Postgres too when --database-url names one (the database is created if it
does not exist). Then, over several repeats:

- baseline: loading the incident's record as the agent runtime does (`agents.runtime.load`): the incident with
  its timeline and roles, the transcript, the action items and the stored analysis;
- generation: `agents.postmortem.agent.write_postmortem` on that request, which writes the document and renders
  its Markdown and Slack blocks.

It prints median and p95 times, the ratio generation/baseline, the peak memory of one generation (tracemalloc),
and the Markdown size.

    python bench/postmortem_scale.py [--events 10000] [--messages 50000] [--repeat 7]
        [--database-url postgresql://postgres@127.0.0.1:5432/incidentbot_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents import runtime as agent_runtime  # noqa: E402
from agents.base import AgentAnswer, AgentRequest  # noqa: E402
from agents.postmortem.agent import write_postmortem  # noqa: E402
from agents.rca.report import RcaReport  # noqa: E402
from app.agent_runs import service as agent_runs  # noqa: E402
from app.db.engine import create_sync_engine  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.incidents import service  # noqa: E402
from app.incidents.capture import PINNED_KIND  # noqa: E402
from app.incidents.flows import Declaration, declare  # noqa: E402
from app.incidents.models import Incident, RoleAssignment, Source, Status, TimelineEvent, TranscriptMessage  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import Settings  # noqa: E402

GOAL_SECONDS = 1.0
DECLARED = datetime(2024, 12, 20, 9, 0, tzinfo=UTC)
RESOLVED = DECLARED + timedelta(hours=18)
PEOPLE = [f"U0RESP{n:03d}" for n in range(40)]
ROLES = ["Incident Commander", "Communications", "Scribe", "Subject Expert"]
# What people ask for in a long war room: the same few follow-ups, said again and again.
FOLLOW_UPS = [
    "we should add an alert on connection pool usage at 80%", "TODO: load test the async payment path",
    "we need to document the flag rollback procedure", "follow-up: review the pool size for payments",
    "we should page the database team sooner", "action item: add a canary stage for payment flags",
    "next time we should freeze deploys during the incident", "we must keep the runbook link in the channel topic",
]
CHATTER = [
    "looking at the payments dashboards now", "error rate is still around 20% on the charge endpoint",
    "HikariPool-1 - Connection is not available, request timed out after 30000ms", "restarting one pod to compare",
    "<@{person}> can you check the database side?", "pool in use is back at 20/20 on two pods",
    "customers are retrying, checkout queue is growing", "status page updated, next update in 30 minutes",
]


def rca(declared: datetime) -> dict[str, Any]:
    """A stored analysis shaped like the rca-agent's answer for a flag that leaked database connections."""
    onset = declared - timedelta(minutes=10)
    flag = declared - timedelta(minutes=15)
    report = RcaReport.model_validate({
        "incident_id": None, "title": "Payment API returning 500 errors", "service": "payments", "severity": "SEV2",
        "reference": declared, "window_start": declared - timedelta(hours=3), "window_end": RESOLVED,
        "symptom_onset": onset, "recovered_at": RESOLVED - timedelta(minutes=3), "error_ratio_mean": 0.2344,
        "executive_summary": "The payments outage was caused by database connection pool exhaustion in payments, "
                             "triggered when feature flag async-payment-processing was enabled.",
        "timeline": [{"at": flag, "text": "Feature flag async-payment-processing enabled for 100% of traffic"},
                     {"at": onset, "text": "Symptoms begin: payments return 5xx errors (up to 59% of requests)"},
                     {"at": declared, "text": "Incident declared"}],
        "root_cause": "Connections leaked from the payments database pool after feature flag "
                      "async-payment-processing was enabled, until no connection was left for requests.",
        "cause": "connection-pool-exhaustion", "component": "payments", "confidence": "high",
        "trigger": {"at": flag, "kind": "flag", "subject": "async-payment-processing", "source": "timeline",
                    "description": "Feature flag async-payment-processing enabled for 100% of traffic",
                    "query": "incident timeline"},
        "contributing_factors": ["No alert on connection pool utilisation before it reached its limit",
                                 "Load tests do not exercise the code path that holds connections"],
        "recommendations": {"immediate": "Keep async-payment-processing off and release the leaked connections",
                            "short_term": "Alert on pool utilisation at 80% and on connection wait time",
                            "medium_term": "Enable connection leak detection in the pool",
                            "long_term": "Add connection-failure cases to load and chaos tests"},
    })
    return report.model_dump(mode="json")


def timeline_rows(incident_id: int, count: int) -> list[dict[str, Any]]:
    step = (RESOLVED - DECLARED) / (count + 1)
    rows = []
    for n in range(count):
        person = PEOPLE[n % len(PEOPLE)]
        kind = ("note", "status_update", PINNED_KIND, "role_assigned", "status_changed")[n % 5 if n % 50 else 4]
        said = {
            "note": FOLLOW_UPS[n % len(FOLLOW_UPS)] if n % 400 == 0 else f"Checked payments pod {n % 3}: pool "
                                                                          f"{n % 21}/20 in use",
            "status_update": f"Still investigating elevated 5xx on payments (update {n})",
            PINNED_KIND: CHATTER[n % len(CHATTER)].format(person=PEOPLE[(n + 1) % len(PEOPLE)]),
            "role_assigned": f"<@{person}> is now {ROLES[n % len(ROLES)]}",
            "status_changed": "Status INVESTIGATING → IDENTIFIED" if n % 100 else "Status IDENTIFIED → INVESTIGATING",
        }[kind]
        rows.append({"incident_id": incident_id, "occurred_at": DECLARED + step * (n + 1), "kind": kind,
                     "actor": person, "text": said, "source": Source.SLACK})
    return rows


def transcript_rows(incident_id: int, count: int) -> list[dict[str, Any]]:
    step = (RESOLVED - DECLARED) / (count + 1)
    rows = []
    for n in range(count):
        said = (FOLLOW_UPS[n % len(FOLLOW_UPS)] if n % 97 == 0
                else CHATTER[n % len(CHATTER)].format(person=PEOPLE[(n + 3) % len(PEOPLE)]))
        posted = DECLARED + step * (n + 1)
        rows.append({"incident_id": incident_id, "ts": f"{posted.timestamp():.6f}", "user_id": PEOPLE[n % len(PEOPLE)],
                     "text": said, "posted_at": posted, "deleted_at": posted if n % 1000 == 999 else None})
    return rows


def ensure_database(url: str) -> None:
    """Create the Postgres database the URL names if the server does not have it yet."""
    parsed = make_url(url)
    if not parsed.get_backend_name().startswith("postgres"):
        return
    admin = create_sync_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        if c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}) is None:
            c.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


async def build(runtime: Runtime, engine: Engine, events: int, messages: int) -> tuple[str, float]:
    """The incident, declared as the service declares, then its long record in bulk; returns its id and seconds."""
    began = time.perf_counter()
    declared = await declare(runtime.sessions, runtime.config, Declaration(
        title="Payment API returning 500 errors", severity="SEV2", declared_by=PEOPLE[0], source=Source.SLACK,
        affected_service="payments"))
    incident = declared.incident
    with engine.begin() as c:
        c.execute(update(Incident).where(Incident.id == incident.id).values(
            declared_at=DECLARED, status=Status.RESOLVED, resolved_at=RESOLVED, summary="Flag off, pool drained"))
        c.execute(update(TimelineEvent).where(TimelineEvent.incident_id == incident.id).values(occurred_at=DECLARED))
        c.execute(update(RoleAssignment).where(RoleAssignment.incident_id == incident.id).values(since=DECLARED))
        # With the declaration, the resolution and the analysis' own entry: `events` in all.
        c.execute(insert(TimelineEvent), timeline_rows(incident.id, events - 3))
        c.execute(insert(TimelineEvent), [{"incident_id": incident.id, "occurred_at": RESOLVED, "kind": "resolved",
                                           "actor": PEOPLE[0], "text": "Incident resolved: Flag off, pool drained",
                                           "source": Source.SLACK}])
        c.execute(insert(TranscriptMessage), transcript_rows(incident.id, messages))
    async with runtime.sessions() as session, session.begin():
        loaded = await service.get_incident_by_id(session, incident.id)
        await agent_runs.record(session, loaded, agent="rca-agent", mode="deterministic", request="why?",
                                summary="connection pool exhaustion", markdown="", result=rca(DECLARED))
    with engine.begin() as c:  # posted during the incident
        c.execute(update(TimelineEvent).where(TimelineEvent.incident_id == incident.id,
                                              TimelineEvent.kind == "agent_result")
                  .values(occurred_at=DECLARED + timedelta(minutes=20)))
    return incident.public_id, time.perf_counter() - began


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def measure(runtime: Runtime, public_id: str, repeat: int) -> tuple[list[float], list[float], AgentAnswer,
                                                                            int, AgentRequest]:
    prompt = f"Generate postmortem for {public_id}"
    request = await agent_runtime.load(runtime, prompt, incident_id=public_id)  # warm-up: imports, connections
    await write_postmortem(request)
    loads, generations = [], []
    answer: AgentAnswer | None = None
    for _ in range(repeat):
        began = time.perf_counter()
        request = await agent_runtime.load(runtime, prompt, incident_id=public_id)
        loads.append(time.perf_counter() - began)
        began = time.perf_counter()
        answer = await write_postmortem(request)
        generations.append(time.perf_counter() - began)
    assert answer is not None and answer.data is not None
    tracemalloc.start()
    await write_postmortem(request)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return loads, generations, answer, peak, request


async def run_on(url: str, label: str, events: int, messages: int, repeat: int) -> bool:
    ensure_database(url)
    upgrade(url)
    runtime = Runtime.create(Settings(_env_file=None, database_url=url, slack_bot_token=None,
                                      anthropic_api_key=None, incidentbot_config=None))
    engine = create_sync_engine(url)
    try:
        public_id, built = await build(runtime, engine, events, messages)
        loads, generations, answer, peak, request = await measure(runtime, public_id, repeat)
    finally:
        engine.dispose()
        await runtime.close()
    assert answer.data is not None
    size = len(answer.text_markdown.encode())
    base, gen = statistics.median(loads), statistics.median(generations)
    print(f"\n{label}: {public_id}, {len(request.incident.timeline):,} timeline events, "  # type: ignore[union-attr]
          f"{len(request.transcript):,} messages; built in {built:.1f} s")
    print(f"{'measure':44} {'median ms':>10} {'p95 ms':>10}")
    print(f"{'baseline: load the record (agents.runtime.load)':44} {base * 1000:10.1f} "
          f"{percentile(loads, 95) * 1000:10.1f}")
    print(f"{'generation: write_postmortem + Markdown':44} {gen * 1000:10.1f} "
          f"{percentile(generations, 95) * 1000:10.1f}")
    print(f"ratio generation/baseline {gen / base:.2f}x; peak memory of one generation {peak / 2**20:.1f} MiB")
    print(f"Markdown {size / 1024:.1f} KiB: {len(answer.data['timeline'])} timeline rows shown "
          f"({answer.data['timeline_omitted']:,} left out), {len(answer.data['action_items'])} action items")
    met = percentile(generations, 95) < GOAL_SECONDS
    print(f"goal: generation < {GOAL_SECONDS:.0f} s (p95): {'met' if met else 'NOT met'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", help="also run on this Postgres database (created if missing)")
    args = parser.parse_args()
    print(f"postmortem generation, deterministic mode, {args.repeat} repeats on one resolved incident")
    with tempfile.TemporaryDirectory() as tmp:
        results = [asyncio.run(run_on(f"sqlite:///{tmp}/bench.db", "sqlite", args.events, args.messages,
                                      args.repeat))]
    if args.database_url:
        results.append(asyncio.run(run_on(args.database_url, "postgres", args.events, args.messages, args.repeat)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
