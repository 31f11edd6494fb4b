"""Action items: the command text, Slack commands on both databases, overdue reminders, and the API."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, text, update

from app.action_items import service
from app.action_items.models import ActionItem, Priority
from app.action_items.service import ActionDraft, parse_action
from app.db.base import utcnow
from app.incidents.flows import Declaration, declare
from app.incidents.models import Incident, Source
from app.runtime import Runtime
from app.slack.action_reminders import remind_overdue_actions
from app.slack.command_parser import SUBCOMMANDS, USAGE, Invalid, OnIncident, parse
from tests.conftest import make_runtime, wait_for
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text

BOB = "<@U0BOB|bob>"
DAY = date(2026, 11, 25)


# --- the command text ------------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "draft"), [
    ("Fix connection leak", ActionDraft("Fix connection leak", None, Priority.P2, None)),
    ("Fix connection leak <@U0BOB|bob> P1 due 2026-12-21",
     ActionDraft("Fix connection leak", "U0BOB", Priority.P1, date(2026, 12, 21))),
    ("<@U0BOB> p0 Fix connection leak", ActionDraft("Fix connection leak", "U0BOB", Priority.P0, None)),
    ("Fix due tomorrow connection leak", ActionDraft("Fix connection leak", None, Priority.P2, date(2026, 11, 26))),
    ("Fix leak DUE +3d", ActionDraft("Fix leak", None, Priority.P2, date(2026, 11, 28))),
    ("Fix leak due +2w P3", ActionDraft("Fix leak", None, Priority.P3, date(2026, 12, 9))),
    ("Fix leak due today", ActionDraft("Fix leak", None, Priority.P2, DAY)),
    ("Fix leak due 2026-11-25", ActionDraft("Fix leak", None, Priority.P2, DAY)),
    ("Find why jobs are due late", ActionDraft("Find why jobs are due late", None, Priority.P2, None)),
    ("Ask <@U0BOB|bob> twice <@U0BOB>", ActionDraft("Ask twice", "U0BOB", Priority.P2, None)),
    ("Upgrade to HTTP2 and PostgreSQL 16", ActionDraft("Upgrade to HTTP2 and PostgreSQL 16", None, Priority.P2, None)),
    ("Escape <b> & keep it", ActionDraft("Escape <b> & keep it", None, Priority.P2, None)),
])
def test_an_action_is_parsed_with_its_options_anywhere(command: str, draft: ActionDraft) -> None:
    assert parse_action(command, DAY) == draft


@pytest.mark.parametrize(("command", "error"), [
    ("", "needs some text"),
    ("   <@U0BOB|bob> P1 due tomorrow", "needs some text"),
    ("Fix it <@U0BOB|bob> <@U0ALICE|alice>", "one owner"),
    ("Fix it due 2026-13-45", "due date must be YYYY-MM-DD"),
    ("Fix it due 21/12/2026", "due date must be YYYY-MM-DD"),
    ("Fix it due 2026-1-5", "due date must be YYYY-MM-DD"),
    ("Fix it due +3y", "due date must be YYYY-MM-DD"),
    ("Fix it due 2026-11-24", "The due date 2026-11-24 is in the past."),
    ("Fix it due", "`due` needs a date"),
    ("Fix it due tomorrow due +3d", "one due date"),
    ("Fix it P7", "Unknown priority P7"),
    ("Fix it p1 P2", "one priority"),
    ("x" * 501, "under 500 characters"),
])
def test_a_bad_action_gets_a_one_line_reason(command: str, error: str) -> None:
    answer = parse_action(command, DAY)
    assert isinstance(answer, str) and error in answer and "\n" not in answer


def test_action_subcommands_are_parsed_and_listed() -> None:
    assert parse("action Fix &lt;it&gt; <@U0BOB|bob> P1") == OnIncident("action", None, text="Fix <it> <@U0BOB|bob> P1")
    assert parse("action inc-2026-1125-001 Fix it") == OnIncident("action", "INC-2026-1125-001", text="Fix it")
    assert parse("action") == OnIncident("action", None)  # refused when added, with the syntax
    assert parse("action done 3") == OnIncident("action", None, status="done", number=3)
    assert parse("action INC-2026-1125-001 reopen #12") == OnIncident("action", "INC-2026-1125-001", status="open",
                                                                      number=12)
    assert parse("actions INC-2026-1125-001") == OnIncident("actions", "INC-2026-1125-001")
    for bad in ("action done", "action done three", "action reopen 0", "action done 3 4"):
        answer = parse(bad)
        assert isinstance(answer, Invalid) and "Give the item's number" in answer.message, bad
    assert "action" in SUBCOMMANDS and "actions" in SUBCOMMANDS
    assert "`/incident action <text> [@owner] [P0-P3]" in USAGE and "`/incident actions`" in USAGE


# --- Slack -----------------------------------------------------------------------------------------

def declare_in_slack(sender: SlackSender, db: Engine) -> tuple[str, str]:
    public_id = ack_text(sender.command("declare SEV2 Payment API returning 500 errors")).split("*")[1]
    wait_for(lambda: incident_row(db, public_id)["setup_state"] == "done", what="war room")
    return public_id, incident_row(db, public_id)["channel_id"]


def incident_row(db: Engine, public_id: str) -> dict:
    with db.connect() as c:
        return dict(c.execute(text("SELECT * FROM incidents WHERE public_id = :p"), {"p": public_id}).one()._mapping)


def items(db: Engine) -> list[dict]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(text("SELECT * FROM action_items ORDER BY id"))]


def item_events(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT text FROM timeline_events WHERE kind = 'action_item' ORDER BY id")))


def timeline_size(db: Engine) -> int:
    with db.connect() as c:
        return int(c.scalar(text("SELECT count(*) FROM timeline_events")))


def say(sender: SlackSender, channel: str, command: str, user: str = "U0DECLARER") -> str:
    return ack_text(sender.command(command, channel=channel, user=user))


def posts(slack: FakeSlack, channel: str, needle: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel) if needle in m["text"]]


def set_due(db: Engine, item_id: int, due: date) -> None:
    """Through the column's type, so SQLite stores the date as the app does."""
    with db.begin() as c:
        c.execute(update(ActionItem).where(ActionItem.id == item_id).values(due_on=due))


def test_an_action_item_is_recorded_announced_and_sent_to_its_owner(sender: SlackSender, slack: FakeSlack,
                                                                    db: Engine) -> None:
    public_id, room = declare_in_slack(sender, db)
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()

    answer = say(sender, room, f"action Fix connection leak {BOB} p1 due tomorrow")
    assert answer == f"Action item #1 added to {public_id}: Fix connection leak"
    assert wait_for(lambda: posts(slack, room, "Action item #1"), what="war-room post") == [
        f":memo: Action item #1 added by <@U0DECLARER>: Fix connection leak (P1, owner <@U0BOB>, due {tomorrow})"]
    [dm] = wait_for(lambda: slack.direct_messages("U0BOB"), what="owner's DM")
    assert dm["text"].startswith(f"<@U0DECLARER> gave you action item #1 on *{public_id}*")
    assert "Fix connection leak (P1, owner <@U0BOB>" in dm["text"] and f"`/incident action {public_id} done 1`" in dm[
        "text"]
    [item] = items(db)
    assert (item["text"], item["owner"], item["priority"], str(item["due_on"]), item["status"]) == (
        "Fix connection leak", "U0BOB", "P1", tomorrow, "open")
    assert (item["source"], item["created_by"], item["reminded_on"]) == ("slack", "U0DECLARER", None)
    assert item_events(db) == [f"Action item #1 (P1, <@U0BOB>, due {tomorrow}): Fix connection leak"]

    # Your own item: no DM. From outside the war room: name the incident.
    assert "#2 added" in say(sender, room, "action Add a pool-saturation alert <@U0DECLARER|alice>")
    assert "#3 added" in say(sender, "C0GENERAL", f"action {public_id} Write the runbook")
    wait_for(lambda: posts(slack, room, "Action item #3 added"), what="post")  # wherever it was added from
    assert slack.direct_messages("U0DECLARER") == [] and len(slack.direct_messages("U0BOB")) == 1
    assert item_events(db)[1:] == ["Action item #2 (P2, <@U0DECLARER>): Add a pool-saturation alert",
                                   "Action item #3 (P2): Write the runbook"]


def test_actions_lists_them_by_priority_with_overdue_ones_flagged(sender: SlackSender, slack: FakeSlack,
                                                                   db: Engine) -> None:
    public_id, room = declare_in_slack(sender, db)
    say(sender, room, "action Write the runbook")
    say(sender, room, f"action Fix connection leak {BOB} P0 due +3d")
    say(sender, room, "action Add a pool alert P1 due tomorrow <@U0DECLARER>")
    set_due(db, items(db)[2]["id"], utcnow().date() - timedelta(days=1))
    say(sender, room, "action done 1")

    reply = sender.command(f"actions {public_id}", channel="C0GENERAL").json()
    assert reply["response_type"] == "ephemeral"
    lines = "\n".join(b["text"]["text"] for b in reply["blocks"]).split("\n")
    yesterday, later = utcnow().date() - timedelta(days=1), utcnow().date() + timedelta(days=3)
    assert lines == [
        f"*Action items for {public_id}* (2 open, 1 done)",
        f"`#2` *P0* Fix connection leak · <@U0BOB> · due {later} · open",
        f"`#3` *P1* Add a pool alert · <@U0DECLARER> · due {yesterday} · :warning: *overdue*",
        "`#1` *P2* ~Write the runbook~ · Unassigned · no due date · done",
    ]


def test_done_and_reopen_by_number(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    public_id, room = declare_in_slack(sender, db)
    say(sender, room, "action Write the runbook")
    say(sender, room, f"action Fix connection leak {BOB}")

    assert say(sender, room, "action done 2", user="U0BOB") == "Action item #2 done: Fix connection leak"
    [done, _] = sorted(items(db), key=lambda i: i["id"], reverse=True)
    assert (done["status"], done["done_by"]) == ("done", "U0BOB") and done["done_at"] is not None
    assert wait_for(lambda: posts(slack, room, "done by"), what="war-room post") == [
        ":white_check_mark: Action item #2 done by <@U0BOB>: Fix connection leak"]

    before = timeline_size(db)
    assert say(sender, room, "action done 2") == "Action item #2 is already done."
    assert say(sender, room, "action reopen 1") == "Action item #1 is already open."
    assert "has no action item #9" in say(sender, room, "action done 9")
    assert "Give the item's number" in say(sender, room, "action done")
    assert timeline_size(db) == before and items(db)[1]["done_by"] == "U0BOB"

    assert say(sender, "C0GENERAL", f"action {public_id} reopen #2") == "Action item #2 reopened: Fix connection leak"
    reopened = items(db)[1]
    assert (reopened["status"], reopened["done_by"], reopened["done_at"]) == ("open", None, None)
    assert item_events(db)[2:] == ["Action item #2 done: Fix connection leak",
                                   "Action item #2 reopened: Fix connection leak"]


@pytest.mark.parametrize(("command", "answer"), [
    ("action Fix it <@U0NOBODY|ghost>", "I can't find <@U0NOBODY> in this workspace"),
    ("action Fix it due 2024-13-45", "due date must be YYYY-MM-DD"),
    ("action Fix it due 2020-01-01", "is in the past"),
    ("action Fix it P7", "Unknown priority P7"),
    (f"action Fix it {BOB} <@U0DECLARER|alice>", "one owner"),
    ("action", "needs some text"),
])
def test_bad_input_is_refused_and_records_nothing(sender: SlackSender, slack: FakeSlack, db: Engine,
                                                  command: str, answer: str) -> None:
    _, room = declare_in_slack(sender, db)
    before, posted = timeline_size(db), len(slack.messages(room))
    assert answer in say(sender, room, command)
    assert items(db) == [] and timeline_size(db) == before
    assert len(slack.messages(room)) == posted and slack.direct_messages("U0NOBODY") == []


def test_actions_on_an_incident_without_any_and_outside_a_war_room(sender: SlackSender, db: Engine) -> None:
    public_id, room = declare_in_slack(sender, db)
    assert say(sender, room, "actions") == (f"{public_id} has no action items yet. Add one: "
                                            "`/incident action <text> [@owner] [P0-P3] [due YYYY-MM-DD]`")
    assert "isn't an incident's war room" in say(sender, "C0GENERAL", "action Fix it")
    assert "/incident actions INC-" in say(sender, "C0GENERAL", "actions")
    assert "No incident INC-2020-0101-001" in say(sender, "C0GENERAL", "actions INC-2020-0101-001")
    assert items(db) == []


# --- the domain: dedup keys ------------------------------------------------------------------------

async def declared(runtime: Runtime) -> Incident:
    result = await declare(runtime.sessions, runtime.config, Declaration(
        title="Payment API returning 500 errors", severity="SEV2", declared_by="U0DECLARER", source=Source.SLACK))
    return result.incident


async def add_item(runtime: Runtime, incident_id: int, item_text: str, **options: object) -> ActionItem | None:
    async with runtime.sessions.begin() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        return await service.add(session, incident, text=item_text, source="postmortem", created_by=None,
                                 **options)  # type: ignore[arg-type]


async def test_an_item_with_a_known_dedup_key_is_not_added_again(runtime: Runtime, db: Engine) -> None:
    incident = await declared(runtime)
    first = await add_item(runtime, incident.id, "Rotate credentials", owner="@sre-team", dedup_key="pm:1:rotate")
    assert first is not None
    assert await add_item(runtime, incident.id, "Rotate credentials", dedup_key="pm:1:rotate") is None
    assert [i["text"] for i in items(db)] == ["Rotate credentials"]
    assert item_events(db) == ["Action item #1 (P2, @sre-team): Rotate credentials"]


async def test_two_replicas_adding_the_same_dedup_key_at_once_add_it_once(runtime: Runtime, database_url: str,
                                                                         slack: FakeSlack, db: Engine) -> None:
    incident = await declared(runtime)
    other = make_runtime(database_url, slack)
    release = asyncio.Event()

    async def add_holding(replica: Runtime, hold: asyncio.Event | None) -> ActionItem | None:
        async with replica.sessions.begin() as session:
            loaded = await session.get(Incident, incident.id)
            assert loaded is not None
            added = await service.add(session, loaded, text="Rotate credentials", source="postmortem",
                                      created_by=None, dedup_key="pm:1:rotate")
            if hold is not None:
                await hold.wait()  # the first keeps its transaction open while the second tries
            return added

    try:
        first = asyncio.create_task(add_holding(runtime, release))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(add_holding(other, None))
        await asyncio.sleep(0.3)
        release.set()
        assert await first is not None and await second is None
    finally:
        await other.close()
    assert len(items(db)) == 1 and len(item_events(db)) == 1


# --- overdue reminders -----------------------------------------------------------------------------

def reminders(slack: FakeSlack, user: str) -> list[str]:
    return [m["text"] for m in slack.direct_messages(user) if "is overdue" in m["text"]]


async def test_an_overdue_item_is_reminded_once_a_day_by_one_replica(runtime: Runtime, database_url: str,
                                                                     slack: FakeSlack, db: Engine) -> None:
    incident = await declared(runtime)
    today = utcnow().date()
    await add_item(runtime, incident.id, "Fix connection leak", owner="U0BOB", due_on=today - timedelta(days=2))
    other = make_runtime(database_url, slack)
    try:
        sent = await asyncio.gather(remind_overdue_actions(runtime, today), remind_overdue_actions(other, today))
        assert sorted(sent) == [0, 1]
        assert reminders(slack, "U0BOB") == [
            f"Action item #1 for {incident.public_id} is overdue (due {today - timedelta(days=2)}): Fix connection "
            f"leak\nWhen it's done: `/incident action {incident.public_id} done 1`"]
        assert str(items(db)[0]["reminded_on"]) == today.isoformat()

        assert await remind_overdue_actions(runtime, today) == 0  # once a day
        assert await remind_overdue_actions(other, today) == 0
        assert len(reminders(slack, "U0BOB")) == 1

        tomorrow = today + timedelta(days=1)
        sent = await asyncio.gather(remind_overdue_actions(runtime, tomorrow), remind_overdue_actions(other, tomorrow))
        assert sorted(sent) == [0, 1] and len(reminders(slack, "U0BOB")) == 2
    finally:
        await other.close()


async def test_only_open_owned_overdue_items_of_slack_users_are_reminded(runtime: Runtime, slack: FakeSlack,
                                                                        db: Engine) -> None:
    incident = await declared(runtime)
    today = utcnow().date()
    yesterday = today - timedelta(days=1)
    done = await add_item(runtime, incident.id, "Done already", owner="U0BOB", due_on=yesterday)
    await add_item(runtime, incident.id, "Nobody's", due_on=yesterday)
    await add_item(runtime, incident.id, "A team's", owner="@sre-team", due_on=yesterday)
    await add_item(runtime, incident.id, "Due today", owner="U0BOB", due_on=today)
    await add_item(runtime, incident.id, "No due date", owner="U0BOB")
    assert done is not None
    async with runtime.sessions.begin() as session:
        loaded = await session.get(ActionItem, done.id)
        assert loaded is not None
        await service.mark_done(session, loaded, "U0BOB", utcnow())

    async with runtime.sessions() as session:
        assert [i.text for i in await service.overdue(session, today)] == ["A team's"]
    assert await remind_overdue_actions(runtime, today) == 0
    assert slack.calls_to("chat.postMessage") == []
    assert all(i["reminded_on"] is None for i in items(db))  # the team's item was not claimed either


async def test_a_reminder_slack_refuses_is_not_retried_the_same_day(runtime: Runtime, slack: FakeSlack,
                                                                   db: Engine) -> None:
    incident = await declared(runtime)
    today = utcnow().date()
    await add_item(runtime, incident.id, "Fix connection leak", owner="U0BOB", due_on=today - timedelta(days=1))
    slack.fail("chat.postMessage", "ratelimited_by_policy")
    assert await remind_overdue_actions(runtime, today) == 0
    assert await remind_overdue_actions(runtime, today) == 0
    assert len(slack.calls_to("chat.postMessage")) == 1 and reminders(slack, "U0BOB") == []
    assert str(items(db)[0]["reminded_on"]) == today.isoformat()  # the claim stays
    assert await remind_overdue_actions(runtime, today + timedelta(days=1)) == 1


async def test_a_claim_is_won_once_a_day(runtime: Runtime) -> None:
    incident = await declared(runtime)
    item = await add_item(runtime, incident.id, "Fix it", owner="U0BOB", due_on=DAY)
    assert item is not None
    for day, expected in ((DAY, True), (DAY, False), (DAY - timedelta(days=1), False), (DAY + timedelta(days=1), True)):
        async with runtime.sessions.begin() as session:
            assert await service.claim_reminder(session, item.id, day) is expected, day


async def test_the_running_loops_remind(runtime: Runtime, database_url: str, slack: FakeSlack) -> None:
    incident = await declared(runtime)
    await add_item(runtime, incident.id, "Fix connection leak", owner="U0BOB",
                   due_on=utcnow().date() - timedelta(days=1))
    other = make_runtime(database_url, slack)
    loops = [asyncio.create_task(runtime.remind_loop()), asyncio.create_task(other.remind_loop())]
    try:
        for _ in range(200):
            if reminders(slack, "U0BOB"):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # ten more rounds of each loop
        assert len(reminders(slack, "U0BOB")) == 1
    finally:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await other.close()


# --- the API ---------------------------------------------------------------------------------------

def api_incident(server: AppServer) -> str:
    http = server.api()
    created = http.post(f"{server.url}/api/v1/incidents", json={"title": "Search results empty", "severity": "SEV3"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_list_add_and_mark_over_the_api(server: AppServer, db: Engine) -> None:
    http = server.api()
    public_id = api_incident(server)
    url = f"{server.url}/api/v1/incidents/{public_id}/actions"
    assert http.get(url).json() == []
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()

    first = http.post(url, json={"text": "Add a search canary", "owner": "U0BOB", "priority": "P1",
                                  "due_on": tomorrow})
    assert first.status_code == 201, first.text
    body = first.json()
    assert {k: body[k] for k in ("number", "text", "owner", "priority", "due_on", "status", "overdue", "source",
                                 "created_by", "done_by")} == {
        "number": 1, "text": "Add a search canary", "owner": "U0BOB", "priority": "P1", "due_on": tomorrow,
        "status": "open", "overdue": False, "source": "api", "created_by": "api", "done_by": None}
    assert http.post(url, json={"text": "Write the runbook", "owner": "@search-team"}).json()["number"] == 2
    assert http.post(url, json={"text": "Reindex nightly", "priority": "P0"}).json()["number"] == 3
    assert [(i["number"], i["priority"]) for i in http.get(url.lower()).json()] == [(3, "P0"), (1, "P1"), (2, "P2")]

    done = http.patch(f"{url}/2", json={"status": "done"})
    assert done.status_code == 200 and (done.json()["status"], done.json()["done_by"]) == ("done", "api")
    again = http.patch(f"{url}/2", json={"status": "done"})
    assert again.status_code == 200 and again.json()["done_at"] == done.json()["done_at"]
    reopened = http.patch(f"{url}/2", json={"status": "open"}).json()
    assert (reopened["status"], reopened["done_by"], reopened["done_at"]) == ("open", None, None)

    timeline = [e["text"] for e in http.get(f"{server.url}/api/v1/incidents/{public_id}").json()["timeline"]
                if e["kind"] == "action_item"]
    assert timeline == [f"Action item #1 (P1, <@U0BOB>, due {tomorrow}): Add a search canary",
                        "Action item #2 (P2, @search-team): Write the runbook", "Action item #3 (P0): Reindex nightly",
                        "Action item #2 done: Write the runbook", "Action item #2 reopened: Write the runbook"]


def test_api_errors_are_json_and_change_nothing(server: AppServer, db: Engine) -> None:
    http = server.api()
    public_id = api_incident(server)
    url = f"{server.url}/api/v1/incidents/{public_id}/actions"
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    for body, field in (({"text": "Fix it", "priority": "P7"}, "priority"),
                        ({"text": "Fix it", "due_on": "2024-13-45"}, "due_on"),
                        ({"text": "Fix it", "due_on": yesterday}, "in the past"),
                        ({"text": ""}, "text"), ({"text": "   "}, "text"), ({}, "text")):
        refused = http.post(url, json=body)
        assert refused.status_code == 422 and field in refused.json()["error"], (body, refused.text)

    missing = http.get(f"{server.url}/api/v1/incidents/INC-2020-0101-001/actions")
    assert missing.status_code == 404 and missing.json() == {"error": "No incident INC-2020-0101-001"}
    assert http.post(f"{server.url}/api/v1/incidents/INC-2020-0101-001/actions",
                      json={"text": "Fix it"}).status_code == 404
    no_item = http.patch(f"{url}/9", json={"status": "done"})
    assert no_item.status_code == 404 and no_item.json() == {"error": f"{public_id} has no action item #9"}
    assert http.post(url, json={"text": "Fix it"}).status_code == 201
    bad_status = http.patch(f"{url}/1", json={"status": "closed"})
    assert bad_status.status_code == 422 and "status" in bad_status.json()["error"]
    assert http.patch(f"{url}/one", json={"status": "done"}).status_code == 422

    assert [(i["number"], i["status"]) for i in http.get(url).json()] == [(1, "open")]
    assert len(item_events(db)) == 1
    assert json.loads(http.get(url).text)[0]["done_by"] is None
