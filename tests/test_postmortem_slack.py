"""A whole incident driven through Slack, then written up with `/incident postmortem`.

Declared, worked and resolved by signed slash commands; investigated with `@incidentbot why ...?` over the seed's
telemetry (real Prometheus, fake Loki and Kubernetes); then each recorded time is set to when it happened in the
seed's story, and the postmortem is written, posted to the war room as a file, and kept as a version.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from app.action_items.models import ActionItem
from app.incidents.models import Incident, RoleAssignment, TimelineEvent
from app.postmortems.models import PostmortemVersion
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.scenarios.loader import Scenario
from tests.support import SlackSender, ack_text
from tests.test_events import declared, mention
from tests.test_rca_slack import rca_sender, rca_server, scenario  # noqa: F401 - fixtures

DAY = datetime(2024, 12, 20, tzinfo=UTC)
# When each recorded step happened in the seed's story: the first timeline entry containing the words.
STORY = [("Incident declared", "14:30"), ("is now Communications", "14:31"), ("enabled for 100%", "14:32"),
         ("Status INVESTIGATING", "14:34"), ("About 15% of checkouts", "14:34"), ("disabled", "14:45"),
         ("Action item #1", "15:10"), ("Incident resolved", "15:15"), ("rca-agent (", "14:40")]


def at(clock: str) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return DAY.replace(hour=hour, minute=minute)


def set_story_times(db: Engine, public_id: str) -> None:
    with db.begin() as c:
        incident_id = c.scalar(select(Incident.id).where(Incident.public_id == public_id))
        c.execute(update(Incident).where(Incident.id == incident_id).values(declared_at=at("14:30"),
                                                                              resolved_at=at("15:15")))
        c.execute(update(RoleAssignment).where(RoleAssignment.incident_id == incident_id).values(since=at("14:31")))
        events = c.execute(select(TimelineEvent.id, TimelineEvent.text).where(
            TimelineEvent.incident_id == incident_id).order_by(TimelineEvent.id)).all()
        placed = set()
        for words, clock in STORY:
            event_id = next((i for i, text in events if words in text), None)
            if event_id is not None:
                placed.add(event_id)
                c.execute(update(TimelineEvent).where(TimelineEvent.id == event_id).values(occurred_at=at(clock)))
        # Everything else the bot recorded (war-room steps) happened with the declaration.
        c.execute(update(TimelineEvent).where(TimelineEvent.incident_id == incident_id,
                                              TimelineEvent.id.not_in(placed)).values(occurred_at=at("14:30")))


def test_a_whole_incident_through_slack_is_written_up(rca_sender: SlackSender, slack: FakeSlack,  # noqa: F811
                                                       db: Engine, scenario: Scenario) -> None:  # noqa: F811
    public_id, room = declared(rca_sender, db, "SEV2 Payment API returning 500 errors")
    command = lambda text: ack_text(rca_sender.command(text, channel=room))  # noqa: E731
    command("assign comms <@U0BOB|bob>")
    command("note Feature flag async-payment-processing enabled for 100% of traffic at 14:15")
    command("update About 15% of checkouts are failing --status identified")
    command("note Feature flag async-payment-processing disabled")
    assert command("action Fix the connection leak in the async handler <@U0BOB|bob> P0 due 2030-01-10") \
        .startswith("Action item #1")
    command("note we should add an alert on connection pool usage at 80%")
    command("resolve Full recovery after the flag was turned off")
    set_story_times(db, public_id)

    asked = mention(rca_sender, slack, room, "why did payments fail?")
    wait_for(lambda: len([m for m in slack.messages(room) if m.get("thread_ts") == asked]) >= 2, timeout=30,
             what="the analysis")
    set_story_times(db, public_id)  # the analysis was posted at 14:40

    assert command("postmortem").startswith(f":memo: Writing the postmortem for {public_id}")
    [posted] = wait_for(lambda: slack.files(room), timeout=30, what="the postmortem file")
    assert posted["name"] == f"postmortem-{public_id}.md"
    doc = posted["content"]
    assert posted["initial_comment"].startswith(f"Postmortem (Draft) for {public_id}: 55 minutes (14:20 - 15:15 UTC)")
    for heading in ("# Postmortem: Payment API returning 500 errors", "## Incident Summary", "## What Happened",
                    "## Timeline", "## Root Cause", "## Contributing Factors", "## Detection and Response",
                    "## Impact", "## Responders", "## What Went Well", "## What Went Poorly", "## Where We Got Lucky",
                    "## Action Items", "## Lessons Learned"):
        assert heading in doc, heading
    # Durations computed from the record: impact from the error rate's onset (14:20), detection at the declaration.
    assert "| Duration | 55 minutes (14:20 - 15:15 UTC) |" in doc
    assert "| Time to detect | 10 | impact start 14:20 | detected 14:30 |" in doc
    assert "| Time to acknowledge | 0 | detected | 14:30 |" in doc
    assert "| Time to mitigate | 25 | impact start | 14:45 |" in doc
    assert "| Time to resolve | 55 | impact start | 15:15 |" in doc
    rows = [line for line in doc.split("## Timeline")[1].split("## Root Cause")[0].splitlines() if line[:3] == "| 1"]
    # What led up to the declaration comes from the analysis; the rest from the incident's own timeline.
    expected = ["| 14:15 | Feature flag async-payment-processing enabled for 100% of traffic at 14:15 |",
                "| 14:20 | Symptoms begin: payments return 5xx errors", "| 14:21 | Database connection pool exhaustion",
                "| 14:21 | First \"ERROR", "| 14:30 | Incident declared (SEV2) |",
                "| 14:31 | @U0BOB is now Communications |"]
    assert [any(row.startswith(e) for row in rows) for e in expected] == [True] * len(expected), rows
    assert [r[:7] for r in rows] == sorted(r[:7] for r in rows)  # in time order
    assert "| 15:15 | Incident resolved: Full recovery after the flag was turned off |" in rows
    assert "Connections leaked from the payments database pool after feature flag async-payment-processing" in doc
    assert "| @U0BOB | Communications |" in doc
    assert "@U0BOB" not in doc.split("## What Went Poorly")[1].split("## Where We Got Lucky")[0]

    with db.connect() as c:
        items = c.execute(select(ActionItem.text, ActionItem.priority, ActionItem.source, ActionItem.status)
                          .order_by(ActionItem.id)).all()
        versions = c.execute(select(PostmortemVersion.version, PostmortemVersion.status)).all()
    assert items[0] == ("Fix the connection leak in the async handler", "P0", "slack", "open")
    assert ("Add an alert on connection pool usage at 80%", "P2", "postmortem", "open") in items
    # The chat's follow-up (P2) and the analysis' four recommendations, immediate to long term.
    assert sorted(i.priority for i in items if i.source == "postmortem") == ["P0", "P1", "P2", "P2", "P3"]
    assert "| 1 | P0 | Fix the connection leak in the async handler | @U0BOB | Jan 10 | open |" in doc
    assert versions == [(1, "Draft")]

    assert command("postmortem status in-review") == f"Postmortem version 1 of {public_id} is now *In review*."
    assert command("postmortem status maybe").startswith("Say which")


def test_asking_for_the_postmortem_in_the_war_room_answers_in_thread(sender: SlackSender, slack: FakeSlack,
                                                                     db: Engine) -> None:
    public_id, room = declared(sender, db, "SEV3 Search API slow")
    asked = mention(sender, slack, room, "write the postmortem please")
    first, answer = wait_for(lambda: (r := [m for m in slack.messages(room) if m.get("thread_ts") == asked])
                             and len(r) >= 2 and r, timeout=30, what="the postmortem")
    assert first["text"] == f":mag: Writing the postmortem of {public_id}… (postmortem-writer)"
    assert answer["text"].startswith(f"Postmortem (Draft) for {public_id}: ongoing since")
    assert "Postmortem: Search API slow (v1)" in str(answer["blocks"])
    with db.connect() as c:
        assert c.execute(select(PostmortemVersion.version)).scalars().all() == [1]
