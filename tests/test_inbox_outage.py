"""Nothing acknowledged is lost while Postgres restarts and stays down, and Slack rate-limits the pin reads.

The app runs on a Postgres server of its own (see tests/postgres_cluster.py), so stopping it does not touch
the server the other tests share under pytest-xdist. 300 war-room messages and 30 :pushpin: reactions
arrive as signed Events API requests; an event Slack got no 200 for is sent again, as Slack retries it.
Every acknowledged event must end up stored exactly once.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app.db.engine import create_sync_engine
from app.db.migrate import upgrade
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.postgres_cluster import PostgresCluster, server_binaries
from tests.support import AppServer, SlackSender, ack_text
from tests.test_capture import declare, message, reaction

SECRET = "test-signing-secret"
BINARIES = server_binaries()
NO_BINARIES = "no Postgres server binaries: install Debian's postgresql package or set PG_BIN to run this test"


@pytest.fixture
def own_postgres() -> Iterator[tuple[PostgresCluster, str]]:
    """A migrated database on a cluster of its own; the cluster is removed whatever the test did to it."""
    if BINARIES is None:
        if os.environ.get("CI"):  # CI must run it
            pytest.fail(NO_BINARIES)
        pytest.skip(NO_BINARIES)
    cluster = PostgresCluster(BINARIES).create()
    try:
        admin = create_sync_engine(cluster.url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE incidentbot"))
        admin.dispose()
        url = cluster.url.rsplit("/", 1)[0] + "/incidentbot"
        upgrade(url)
        yield cluster, url
    finally:
        cluster.destroy()


def event_body(slack: FakeSlack, event: dict[str, Any]) -> str:
    return json.dumps({"token": "x", "team_id": slack.team_id, "api_app_id": "A0001", "type": "event_callback",
                       "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}", "event_time": int(time.time()),
                       "authorizations": [{"user_id": slack.bot_user_id, "is_bot": True}], "event": event})


def deliver_until_acked(sender: SlackSender, body: str) -> int:
    """Slack's behaviour: no 200 (or no answer) means the event is sent again, with X-Slack-Retry-Num."""
    for retry in range(60):
        headers = {"Content-Type": "application/json"}
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"}
        try:
            if sender.post(body, headers=headers).status_code == 200:
                return retry
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError("an event was never acknowledged")


def counts(db: Engine, sql: str) -> dict[str, int]:
    with db.connect() as c:
        return {key: n for key, n in c.execute(text(sql))}


def test_every_event_acked_through_a_restart_and_an_outage_is_stored_once(
        own_postgres: tuple[PostgresCluster, str], slack: FakeSlack, tmp_path: Path) -> None:
    cluster, url = own_postgres
    env = {"DATABASE_URL": url, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": slack.url, "INCIDENT_ANNOUNCE_CHANNEL": "incidents",
           "INBOX_SPOOL_DIR": str(tmp_path / "spool")}
    db = create_sync_engine(url)
    with AppServer(env) as server:
        sender = SlackSender(server.url, SECRET, slack)
        _, room = declare(sender, db)
        marked = [slack.post_as_user(room, "U0BOB", f"finding {n}: pool exhausted on db-{n}") for n in range(30)]
        said = {f"1700{n:06d}.000100": f"line {n}" for n in range(300)}
        events = [message(room, "U0BOB", line, ts) for ts, line in said.items()]
        for n, ts in enumerate(marked):  # a pin every ten messages
            events.insert(n * 11, reaction("reaction_added", room, ts, "U0DECLARER"))
        bodies = [event_body(slack, e) for e in events]
        # Slack answers the pin reads with 429s and 5xx for a while.
        slack.ratelimit("conversations.history", retry_after=1, times=8)
        slack.server_error("conversations.history", status=503, times=9)

        def paced(body: str) -> int:
            time.sleep(0.15)
            return deliver_until_acked(sender, body)

        outage_done = threading.Event()
        note = sender.command_body("note Failing over to the replica", channel=room)
        answers: list[str] = []

        def faults() -> None:
            time.sleep(1.5)
            cluster.restart()
            time.sleep(2.0)
            cluster.stop()
            time.sleep(1.0)
            answers.append(ack_text(sender.post(note)))  # a command while the database is down
            time.sleep(9.0)
            cluster.start()
            outage_done.set()

        fault_thread = threading.Thread(target=faults)
        fault_thread.start()
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                retries = list(pool.map(paced, bodies))
            for body in bodies[::7]:  # and Slack's own duplicate deliveries, after the ack
                deliver_until_acked(sender, body)
                sender.post(body, headers={"Content-Type": "application/json", "X-Slack-Retry-Num": "1"})
        finally:
            fault_thread.join(timeout=60)  # its own steps take ~14 s; pg_ctl is bounded at 60 s a call
        assert not fault_thread.is_alive(), "the outage thread did not finish: see its pg_ctl calls"
        assert outage_done.is_set()
        sent = time.monotonic()

        def drained() -> bool:
            if list((tmp_path / "spool").glob("*.json")):
                return False
            pending = counts(db, "SELECT state, COUNT(*) FROM inbox_items GROUP BY state")
            return pending.get("pending", 0) == 0 and pending.get("done", 0) == len(bodies) + 1

        wait_for(drained, timeout=120, what="the inbox drained after the outage")
        drain_seconds = time.monotonic() - sent
        assert "saved and will be applied" in answers[0]
        assert [r for r in slack.responses if "Noted on the" in r.get("text", "")]  # told once it was made
        assert "already handled" in ack_text(sender.post(note))  # the same signed command again

    stored = counts(db, "SELECT ts, COUNT(*) FROM transcript_messages GROUP BY ts")
    assert {ts: stored.get(ts, 0) for ts in said} == dict.fromkeys(said, 1)
    marks = counts(db, "SELECT message_ts, COUNT(*) FROM timeline_marks GROUP BY message_ts")
    assert marks == dict.fromkeys(marked, 1)
    pins = counts(db, "SELECT text, COUNT(*) FROM timeline_events WHERE kind = 'pinned_message' GROUP BY text")
    assert len(pins) == 30 and set(pins.values()) == {1}
    assert counts(db, "SELECT state, COUNT(*) FROM inbox_items GROUP BY state") == {"done": len(bodies) + 1}
    assert counts(db, "SELECT kind, COUNT(*) FROM timeline_events WHERE kind = 'note' GROUP BY kind") == {"note": 1}
    # The outage was real: some events were acked from the spool, some had to be sent again.
    print(f"events sent again before their ack: {sum(1 for r in retries if r)}; inbox empty {drain_seconds:.1f}s "
          "after the last event was sent")
    db.dispose()
