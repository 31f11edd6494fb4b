"""Acknowledged Slack events per second with the inbox against a bare Bolt ack, and how long the inbox takes
to drain once the database is back.

Both servers run as their own processes (uvicorn, one worker) against the same fake Slack Web API; the
events are signed war-room `message` events sent CONCURRENCY at a time. Ours stores each one in the inbox
before the 200 (the bare app only verifies and acks), then handles it from there. The database is a
Postgres cluster of the bench's own (tests/postgres_cluster.py), so it can be stopped: with it down, OUTAGE
events are acked from the spool on disk, then the server is started and the time to an empty inbox measured.

    python bench/inbox_throughput.py [--events 2000] [--concurrency 50] [--outage-events 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db.engine import create_sync_engine  # noqa: E402
from bench.ack_latency import start  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.postgres_cluster import PostgresCluster, server_binaries  # noqa: E402
from tests.support import SlackSender, ack_text, sign  # noqa: E402

SECRET = "bench-signing-secret"


def event_bodies(slack: FakeSlack, channel: str, count: int, tag: str) -> list[str]:
    bodies = []
    for n in range(count):
        ts = f"{1700000000 + n}.{abs(hash(tag)) % 1000000:06d}"
        event = {"type": "message", "channel": channel, "user": "U0BOB", "text": f"{tag} line {n}", "ts": ts,
                 "event_ts": ts, "channel_type": "channel"}
        bodies.append(json.dumps({"token": "x", "team_id": slack.team_id, "api_app_id": "A0001",
                                  "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
                                  "event_time": int(time.time()), "event": event,
                                  "authorizations": [{"user_id": slack.bot_user_id, "is_bot": True}]}))
    return bodies


async def send(url: str, bodies: list[str], concurrency: int) -> float:
    """Acked events per second; every one must get its 200."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(body: str) -> None:
            headers = {"Content-Type": "application/json", **sign(SECRET, body)}
            async with gate:
                for attempt in range(5):  # a keep-alive connection closed under us: send again, as Slack would
                    try:
                        response = await client.post(f"{url}/slack/events", content=body, headers=headers)
                        break
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
            assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return len(bodies) / (time.perf_counter() - started)


def handled(db: Engine) -> int:
    with db.connect() as c:
        return int(c.scalar(text("SELECT COUNT(*) FROM inbox_items WHERE state = 'done'")) or 0)


def wait_drained(db: Engine, spool: Path, target: int, timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if not list(spool.glob("*.json")) and handled(db) >= target:
                return time.perf_counter() - started
        except Exception:  # the database may still be starting: keep polling
            pass
        time.sleep(0.05)
    raise RuntimeError("the inbox did not drain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--outage-events", type=int, default=300)
    args = parser.parse_args()
    binaries = server_binaries()
    if binaries is None:
        sys.exit("needs the Postgres server binaries (/usr/lib/postgresql/*/bin or PG_BIN)")

    cluster = PostgresCluster(binaries).create()
    try:
        admin = create_sync_engine(cluster.url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE incidentbot"))
        admin.dispose()
        url = cluster.url.rsplit("/", 1)[0] + "/incidentbot"
        with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
            slack.add_user("U0DECLARER", "alice")
            slack.add_user("U0BOB", "bob")
            slack.add_channel("incidents")
            spool = Path(tmp) / "spool"
            env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url,
                   "DATABASE_URL": url, "INCIDENTBOT_INBOX_SPOOL_DIR": str(spool)}
            bare, bare_url = start(["bench/bare_bolt.py"], env)
            try:
                asyncio.run(send(bare_url, event_bodies(slack, "C0WARMUP", 100, "warm"), args.concurrency))
                baseline = asyncio.run(send(bare_url, event_bodies(slack, "C0BARE", args.events, "bare"),
                                            args.concurrency))
            finally:
                bare.terminate()
            ours_process, ours_url = start(["-m", "app.cli", "serve", "--host", "127.0.0.1"], env)
            db = create_sync_engine(url)
            try:
                sender = SlackSender(ours_url, SECRET, slack)
                ack_text(sender.command("declare SEV2 Bench incident"))
                room = _war_room(db)
                asyncio.run(send(ours_url, event_bodies(slack, room, 100, "warm"), args.concurrency))
                wait_drained(db, spool, 100)
                started = time.perf_counter()
                ours = asyncio.run(send(ours_url, event_bodies(slack, room, args.events, "ours"), args.concurrency))
                wait_drained(db, spool, 100 + args.events)
                handled_in = time.perf_counter() - started
                cluster.stop()
                outage = asyncio.run(send(ours_url, event_bodies(slack, room, args.outage_events, "outage"),
                                          args.concurrency))
                cluster.start()
                drain = wait_drained(db, spool, 100 + args.events + args.outage_events)
            finally:
                ours_process.terminate()
                db.dispose()
    finally:
        cluster.destroy()

    print(f"acked events/s, {args.events} signed message events, {args.concurrency} at a time (Postgres)")
    print(f"bare Bolt (verify + ack)            {baseline:8.0f}/s")
    print(f"incidentbot (inbox insert + ack)    {ours:8.0f}/s   ratio {ours / baseline:.2f}x of bare Bolt")
    print(f"incidentbot, all {args.events} handled (transcript) {args.events / handled_in:8.0f}/s")
    print(f"database down: {args.outage_events} events acked from the spool at {outage:.0f}/s; "
          f"inbox drained {drain:.2f} s after the database was started again")


def _war_room(db: Engine) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.connect() as c:
            room = c.scalar(text("SELECT channel_id FROM incidents WHERE setup_state = 'done'"))
        if room:
            return str(room)
        time.sleep(0.05)
    raise RuntimeError("no war room")


if __name__ == "__main__":
    main()
