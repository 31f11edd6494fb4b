"""Due escalations fired per second by one process and by two, and the lag from due time to firing.

Creates N incidents whose first level (Slack users, so nothing leaves the machine) is due now, then fires them
with `Escalations.fire_due` in one process, and again in two processes sharing the database. The baseline,
measured in the same run on the same rows, is the bare claim: the `FOR UPDATE SKIP LOCKED` UPDATE alone, with
none of the firing's writes (notifications, outbox, timeline).

    python bench/escalation_timers.py [--database-url postgresql://...] [--count 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import TeamConfig
from app.db.base import utcnow
from app.db.engine import create_db_engine, create_sync_engine, session_factory
from app.db.migrate import upgrade
from app.escalations import service
from app.escalations.delivery import Escalations
from app.incidents import service as incidents
from app.incidents.models import Source

CONFIG = TeamConfig.model_validate({"escalation_policies": [{"name": "bench", "severities": ["SEV2"], "levels": [
    {"level": "L1", "role": "On-Call Engineer", "after": "0m", "users": ["U0ONCALL"]}]}]})
TABLES = ("escalation_outbox, escalation_notifications, escalation_steps, escalation_chains, timeline_events, "
          "role_assignments, next_actions, processed_requests, incidents, incident_day_sequences")


async def seed(url: str, count: int) -> None:
    engine = create_db_engine(url)
    sessions = session_factory(engine)
    sync = create_sync_engine(url)
    with sync.begin() as c:
        for table in TABLES.split(", "):
            c.execute(text(f"DELETE FROM {table}"))
    sync.dispose()
    now = utcnow()
    async with sessions() as session, session.begin():
        for n in range(count):
            incident = await incidents.create_incident(session, title=f"bench {n}", severity="SEV2",
                                                       declared_by="U0BENCH", source=Source.API)
            await session.flush()
            await service.start_chain(session, incident, CONFIG, now)
    await engine.dispose()


async def fire_all(url: str, bare: bool) -> None:
    engine = create_db_engine(url)
    sessions = session_factory(engine)
    if bare:
        while True:
            async with sessions() as session, session.begin():
                if not await service.claim_due(session, utcnow(), 50):
                    break
    else:
        await Escalations(sessions, None, None).fire_due()
    await engine.dispose()


def run(url: str, processes: int, bare: bool) -> float:
    """Everything comes due now; the lag is from this moment to each step's firing."""
    sync = create_sync_engine(url)
    with sync.begin() as c:
        c.execute(text("UPDATE escalation_steps SET due_at = :now"), {"now": utcnow()})
    sync.dispose()
    started = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", "--database-url", url]
                                + (["--bare"] if bare else [])) for _ in range(processes)]
    for worker in workers:
        assert worker.wait() == 0
    return time.perf_counter() - started


def lags(url: str) -> list[float]:
    sync = create_sync_engine(url)
    with sync.connect() as c:
        rows = c.execute(text("SELECT due_at, fired_at FROM escalation_steps WHERE state = 'fired'")).all()
    sync.dispose()

    def parse(value):  # type: ignore[no-untyped-def]  # SQLite returns text
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    return sorted((parse(f) - parse(d)) / timedelta(milliseconds=1) for d, f in rows)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/incidentbot_bench")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--bare", action="store_true")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(fire_all(args.database_url, args.bare))
        return
    if args.database_url.startswith("postgresql") and args.database_url.endswith("/incidentbot_bench"):
        admin = create_sync_engine(args.database_url.rsplit("/", 1)[0] + "/postgres")
        with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS incidentbot_bench WITH (FORCE)"))
            c.execute(text("CREATE DATABASE incidentbot_bench"))
        admin.dispose()
    upgrade(args.database_url)
    results = {}
    for label, processes, bare in (("bare claim, 1 process", 1, True), ("fire, 1 process", 1, False),
                                   ("fire, 2 processes", 2, False)):
        asyncio.run(seed(args.database_url, args.count))
        seconds = run(args.database_url, processes, bare)
        fired = lags(args.database_url)
        assert len(fired) == args.count, f"{len(fired)} fired of {args.count}"
        results[label] = args.count / seconds
        print(f"{label:24} {args.count / seconds:8.0f} steps/s   lag p50 {pct(fired, 0.5):7.0f} ms   "
              f"p99 {pct(fired, 0.99):7.0f} ms   ({seconds:.2f} s incl. process start)")
    base = results["bare claim, 1 process"]
    print(f"fire vs bare claim: 1 process {results['fire, 1 process'] / base:.2f}x, "
          f"2 processes {results['fire, 2 processes'] / base:.2f}x; 2 vs 1 process "
          f"{results['fire, 2 processes'] / results['fire, 1 process']:.2f}x")


if __name__ == "__main__":
    main()
