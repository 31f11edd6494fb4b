"""Slack, the CLI and the API declare through one flow: the same record, war room and metric."""

from __future__ import annotations

from click.testing import CliRunner
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from app.cli import main
from app.settings import get_settings
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text

SOURCES = ("slack", "cli", "api")


def declared_count(source: str) -> float:
    labels = {"severity": "SEV3", "source": source}
    return REGISTRY.get_sample_value("incidentbot_incidents_declared_total", labels) or 0.0


def set_ups(db: Engine) -> dict[str, str]:
    with db.connect() as c:
        return dict(c.execute(text("SELECT t.source, i.setup_state FROM incidents i JOIN timeline_events t "
                                   "ON t.incident_id = i.id AND t.kind = 'declared'")).all())


def test_slack_cli_and_api_declares_share_one_flow(server: AppServer, sender: SlackSender, slack: FakeSlack,
                                                   db: Engine, app_env: dict[str, str]) -> None:
    before = {source: declared_count(source) for source in SOURCES}
    ack_text(sender.command("declare SEV3 Cache hit rate dropped"))
    api = server.api().post(f"{server.url}/api/v1/incidents",
                            json={"title": "Queue backlog growing", "severity": "SEV3"})
    assert api.status_code == 201, api.text
    get_settings.cache_clear()
    try:
        cli = CliRunner().invoke(main, ["declare", "-s", "SEV3", "--by", "U0BOB", "Login slow"], env=app_env)
    finally:
        get_settings.cache_clear()
    assert cli.exit_code == 0, cli.output

    wait_for(lambda: set_ups(db) == {"slack": "done", "cli": "done", "api": "done"}, what="three war rooms")
    assert {source: declared_count(source) - before[source] for source in SOURCES} == {
        "slack": 1, "cli": 1, "api": 1}
    rooms = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert len(rooms) == 3
    assert len(slack.messages(slack.channel_by_name("incidents")["id"])) == 3
