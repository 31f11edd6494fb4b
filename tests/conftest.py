"""Shared fixtures: real databases (SQLite and Postgres), the fake Slack Web API, and the app
served over real HTTP with requests signed by the Slack signing secret."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.db.engine import create_sync_engine
from app.db.migrate import upgrade
from app.runtime import Runtime
from app.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, postgres_admin_url

pytest_plugins = ["tests.escalation_support", "tests.runbook_support"]  # fake PagerDuty and kubectl fixtures

TABLES = ", ".join([
    "inbox_items", "runbook_steps", "runbook_runs",
    "escalation_outbox", "escalation_notifications", "escalation_steps", "escalation_chains",
    "action_items", "postmortem_versions", "agent_runs", "war_room_steps", "timeline_events", "timeline_marks",
    "transcript_messages", "participants", "next_actions", "role_assignments", "processed_requests", "incidents",
    "incident_day_sequences", "api_tokens",
])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A scratch database on the Postgres server, migrated once; CI must have it, laptops may not."""
    admin_url = postgres_admin_url()
    name = f"incidentbot_test_{os.getpid()}"  # test runs side by side don't share a database
    try:
        admin = create_sync_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # any failure to reach the server means: no Postgres here
        message = (f"Postgres not reachable at {admin_url} ({type(exc).__name__}). Start it, or point "
                   "INCIDENTBOT_TEST_POSTGRES_URL at a server, to run the Postgres tests.")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """Each test runs once on a fresh SQLite file and once on a truncated Postgres database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/incidentbot.db"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    empty(url)
    yield url


def empty(url: str) -> None:
    """TRUNCATE every table, failing within 30 s when another connection holds a lock on one (a server or
    process an earlier test left running) rather than waiting for it forever."""
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL lock_timeout = '30s'"))
            connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    except OperationalError as exc:
        with engine.connect() as connection:
            others = connection.execute(text(
                "SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
        pytest.fail(f"could not empty the test database: {exc.orig}; its other connections: {others}")
    finally:
        engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A separate connection for tests to look at what the app stored."""
    engine = create_sync_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.add_user("U0DECLARER", "alice")
    fake.add_user("U0BOB", "bob")
    fake.add_channel("incidents")
    yield fake
    fake.stop()


def make_runtime(database_url: str, slack: FakeSlack) -> Runtime:
    """A process's runtime: its own engine and Slack client, as each replica has."""
    return Runtime.create(Settings(database_url=database_url, slack_bot_token=slack.bot_token,
                                   slack_signing_secret="s", slack_api_url=slack.url,
                                   reminder_check_seconds=0.05))


@pytest.fixture
async def runtime(database_url: str, slack: FakeSlack) -> AsyncIterator[Runtime]:
    made = make_runtime(database_url, slack)
    yield made
    await made.close()


@pytest.fixture
def app_env(database_url: str, slack: FakeSlack, tmp_path: Any) -> dict[str, str]:
    return {
        "INBOX_SPOOL_DIR": str(tmp_path / "inbox-spool"),
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": slack.url,
        "INCIDENT_ANNOUNCE_CHANNEL": "incidents",
    }


@pytest.fixture
def server(app_env: dict[str, str]) -> Iterator[AppServer]:
    with AppServer(app_env) as running:
        yield running


@pytest.fixture
def sender(server: AppServer, slack: FakeSlack) -> SlackSender:
    return SlackSender(server.url, "test-signing-secret", slack)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
