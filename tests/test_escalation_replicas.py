"""Two real service processes on one Postgres, a few hundred escalations coming due: each fires exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from app.db.base import utcnow
from app.db.engine import create_sync_engine
from app.escalations import service as escalations
from app.incidents import service as incidents
from app.incidents.models import Source
from app.runtime import Runtime
from app.settings import Settings
from tests.conftest import TABLES, wait_for
from tests.escalation_support import paging_env, write_config
from tests.fakes.pagerduty import FakePagerDuty
from tests.support import free_socket, stop_process

COUNT = 200


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    with log.open("wb") as output:  # the child has its own copy of the file
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port",
                                    str(port)], env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def declare_many(url: str, config: Path) -> list[str]:
    """The incidents, each with its chain, in one transaction (one commit, not a few hundred)."""
    runtime = Runtime.create(Settings(database_url=url, incidentbot_config=config))
    try:
        async with runtime.sessions() as session, session.begin():
            ids = []
            for n in range(COUNT):
                incident = await incidents.create_incident(session, title=f"Checkout errors in shard {n}",
                                                           severity="SEV2", declared_by="U0DECLARER",
                                                           source=Source.API)
                await session.flush()
                await escalations.start_chain(session, incident, runtime.config, utcnow())
                ids.append(incident.public_id)
        return ids
    finally:
        await runtime.close()


def test_two_service_processes_fire_each_due_escalation_once(postgres_url: str, pagerduty: FakePagerDuty,
                                                             tmp_path: Path) -> None:
    db = create_sync_engine(postgres_url)
    with db.begin() as c:
        c.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    config = write_config(tmp_path)
    ids = asyncio.run(declare_many(postgres_url, config))
    # Half came due while no process ran; the rest come due over the next few seconds.
    with db.begin() as c:
        c.execute(text("UPDATE escalation_steps SET due_at = :past WHERE name = 'L1' AND incident_id % 2 = 0"),
                  {"past": utcnow() - timedelta(minutes=10)})
        c.execute(text("UPDATE escalation_steps SET due_at = :soon + (incident_id % 30) * interval '100 ms' "
                       "WHERE name = 'L1' AND incident_id % 2 = 1"), {"soon": utcnow() + timedelta(seconds=3)})
    env = {"DATABASE_URL": postgres_url, **paging_env(pagerduty, config), "SSL_CERT_FILE": str(pagerduty.ca_file),
           "INCIDENTBOT_ESCALATION_CHECK_SECONDS": "0.2"}
    processes = [serve(env, tmp_path / f"serve-{n}.log") for n in range(2)]
    try:
        started = time.monotonic()
        for _, url in processes:
            wait_for(lambda url=url: up(url), timeout=30, what="service up")
        wait_for(lambda: len(pagerduty.triggers()) >= COUNT, timeout=60, what="every page")
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # five more rounds of each process: nothing more may go out
        keys = [t["dedup_key"] for t in pagerduty.triggers()]
        assert len(keys) == COUNT and sorted(keys) == sorted(ids), f"{len(keys)} pages for {COUNT} escalations"
        with db.connect() as c:
            fired = c.scalar(text("SELECT count(*) FROM escalation_steps WHERE name = 'L1' AND state = 'fired'"))
            delivered = c.execute(text("SELECT count(*), count(DISTINCT incident_id) FROM escalation_outbox "
                                       "WHERE kind = 'pagerduty.page' AND state = 'delivered'")).one()
            notified = c.scalar(text("SELECT count(*) FROM escalation_notifications"))
            paged_events = c.scalar(text("SELECT count(*) FROM timeline_events WHERE kind = 'escalation.paged'"))
        assert fired == COUNT and tuple(delivered) == (COUNT, COUNT) and notified == COUNT and paged_events == COUNT
        assert elapsed < 60
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            stop_process(process, grace=15)
        db.dispose()
