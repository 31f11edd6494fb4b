"""The postmortem-writer over a stored incident: the seed's Payment API outage, told by its record.

The incident is declared, worked and resolved through the service's own functions, with its times moved onto the
seed's afternoon (declared 14:30, resolved 15:15); the root-cause analysis stored beside it is the rca-agent's
answer for the `pool-leak-after-flag` scenario, read from a real Prometheus. Every test runs on SQLite and on
Postgres. In LLM mode the Messages API is the wire-level fake driven by the real `anthropic` SDK.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text, update

from agents import runtime as agent_runtime
from agents.base import AgentAnswer, AgentRequest
from agents.postmortem.agent import write_postmortem
from agents.postmortem.document import Postmortem
from agents.postmortem.llm_mode import facts
from agents.postmortem.render import markdown as render_markdown
from app.agent_runs import service as agent_runs
from app.incidents import lifecycle, service
from app.incidents.flows import Declaration, declare
from app.incidents.models import Incident, RoleAssignment, Source, Status, TimelineEvent, TranscriptMessage
from app.postmortems import service as postmortems
from app.postmortems.flows import keep_edited
from app.postmortems.models import ReviewStatus
from app.runtime import Runtime
from app.settings import Settings
from app.slack.render import blocks_for
from tests.fakes.anthropic import FakeAnthropic, overloaded, tool_use
from tests.scenarios.analysis import analyse
from tests.scenarios.harness import scenario_environment
from tests.scenarios.loader import load

PUBLIC_ID = "INC-2024-1220-001"
TITLE = "Payment API returning 500 errors"
MODEL = "claude-sonnet-5-5"
FLAG_ON = "Feature flag async-payment-processing enabled for 100% of traffic at 14:15"
FLAG_OFF = "Feature flag async-payment-processing disabled"
POOL_ALERT = "we should add an alert on connection pool usage at 80%"
LOAD_TEST = "TODO: load test the async payment path"
SEED_NOTES = ("Create postmortem from these incident notes: Payment API outage SEV2 2024-12-20\n"
              "14:15 feature flag async-payment-processing enabled\n14:30 alert fired, incident declared\n"
              "14:45 flag disabled\n15:15 full recovery confirmed\nwe should alert on pool usage")
# The seed's postmortem, section by section.
SEED_HEADINGS = ["# Postmortem: ", "## Incident Summary", "## What Happened", "## Timeline", "## Root Cause",
                 "## Impact", "## What Went Well", "## What Went Poorly", "## Action Items", "## Lessons Learned",
                 "## Appendix"]


def at(hour: int, minute: int, second: int = 0, day: int = 20) -> datetime:
    return datetime(2024, 12, day, hour, minute, second, tzinfo=UTC)


# --- the stored record -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rca_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The rca-agent's analysis of the seed's outage, as the service stores it."""
    scenario = load("pool-leak-after-flag")
    with scenario_environment(scenario, tmp_path_factory.mktemp("stack")) as env:
        report = asyncio.run(analyse(scenario, env))
    return report.model_dump(mode="json")


@pytest.fixture
def team_config(tmp_path: Path) -> Path:
    path = tmp_path / "incidentbot.yml"
    path.write_text(yaml.safe_dump({"services": [
        {"name": "payments", "aliases": ["payment api"], "slo": {"availability": 99.9}}]}))
    return path


def make_runtime(database_url: str, config: Path, **settings: Any) -> Runtime:
    """A process's runtime without Slack; deterministic unless an Anthropic key is given."""
    values: dict[str, Any] = {"database_url": database_url, "incidentbot_config": config, "slack_bot_token": None,
                              "anthropic_api_key": None, **settings}
    return Runtime.create(Settings(_env_file=None, **values))


@pytest.fixture
async def runtime(database_url: str, team_config: Path) -> AsyncIterator[Runtime]:
    made = make_runtime(database_url, team_config)
    yield made
    await made.close()


async def seed_story(runtime: Runtime, rca: dict[str, Any] | None) -> int:
    """The seed's outage as the store would hold it; returns the incident's row id."""
    declared = await declare(runtime.sessions, runtime.config,
                             Declaration(title=TITLE, severity="SEV2", declared_by="U0DECLARER", source=Source.SLACK))
    incident_id = declared.incident.id
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Incident).where(Incident.id == incident_id)
                              .values(declared_at=at(14, 30), day="20241220", public_id=PUBLIC_ID))
        await session.execute(update(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                              .values(occurred_at=at(14, 30)))
        await session.execute(update(RoleAssignment).where(RoleAssignment.incident_id == incident_id)
                              .values(since=at(14, 30)))
    alice, bob = lifecycle.Actor("U0ALICE", Source.SLACK), lifecycle.Actor("U0BOB", Source.SLACK)
    commander = lifecycle.Actor("U0DECLARER", Source.SLACK)
    async with runtime.sessions() as session, session.begin():
        incident = await service.get_incident_by_id(session, incident_id, lock=True)
        config = runtime.config
        await lifecycle.add_note(session, incident, FLAG_ON, alice, at(14, 15))
        await lifecycle.assign_role(session, incident, config.role("comms"), "U0BOB", commander, at(14, 33))  # type: ignore[arg-type]
        await lifecycle.assign_role(session, incident, config.role("scribe"), "U0CAROL", commander, at(14, 34))  # type: ignore[arg-type]
        await lifecycle.post_update(session, incident, "Investigating elevated 5xx on payments; checkout affected "
                                    "downstream", None, bob, config, at(14, 41))
        await lifecycle.add_note(session, incident, FLAG_OFF, alice, at(14, 45))
        await lifecycle.post_update(session, incident, "Error rate dropping, pool usage coming down",
                                    Status.MONITORING, bob, config, at(15, 2))
        await lifecycle.resolve(session, incident, "Flag off, leaked connections released", commander, at(15, 15))
        chat = [("U0BOB", at(14, 36), "<@U0ALICE> did anything change around 14:15?", None),
                ("U0ALICE", at(14, 44), "turning async-payment-processing off now", None),
                ("U0DAVE", at(14, 48), "we should find out who flipped that flag", at(14, 49)),  # deleted
                ("U0BOB", at(14, 55), POOL_ALERT, None),
                ("U0CAROL", at(15, 5), LOAD_TEST, None)]
        for n, (user, posted, said, deleted) in enumerate(chat):
            session.add(TranscriptMessage(incident_id=incident_id, ts=f"1734705{n:03d}.000100", user_id=user,
                                          text=said, posted_at=posted, deleted_at=deleted))
        if rca is not None:
            await agent_runs.record(session, incident, agent="rca-agent", mode="deterministic",
                                    request="Investigate the cause of the payment API outage", summary="pool leak",
                                    markdown="## Root Cause Analysis", result=rca)
    async with runtime.sessions() as session, session.begin():  # the analysis was posted during the incident
        await session.execute(update(TimelineEvent).where(TimelineEvent.incident_id == incident_id,
                                                          TimelineEvent.kind == "agent_result")
                              .values(occurred_at=at(14, 50)))
    return incident_id


async def request_for(runtime: Runtime, public_id: str = PUBLIC_ID) -> AgentRequest:
    return await agent_runtime.load(runtime, f"Generate postmortem for {public_id}", incident_id=public_id)


async def generate(runtime: Runtime, *, public_id: str = PUBLIC_ID, force: bool = False,
                   author: str = "U0DECLARER") -> AgentAnswer:
    return await agent_runtime.run(runtime, "postmortem-writer", await request_for(runtime, public_id), force=force,
                                   author=author)


def document(answer: AgentAnswer) -> Postmortem:
    assert answer.data is not None, answer.text_markdown
    return Postmortem.model_validate(answer.data)


@pytest.fixture
async def written(runtime: Runtime, rca_result: dict[str, Any]) -> AgentAnswer:
    await seed_story(runtime, rca_result)
    return await generate(runtime)


# --- reading the Markdown -------------------------------------------------------------------------------


def section(markdown: str, heading: str) -> str:
    """The text under `## heading`, up to the next section."""
    start = markdown.index(f"\n## {heading}\n") + len(heading) + 5
    ends = [end for end in (markdown.find("\n## ", start), markdown.find("\n---\n", start)) if end != -1]
    return markdown[start:min(ends, default=len(markdown))].strip()


def table(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in `text`, cell by cell."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip().strip("|").split(" | ")] for row in rows[2:]]


def summary_field(markdown: str, name: str) -> str:
    return dict((row[0], row[1]) for row in table(section(markdown, "Incident Summary")))[name]


def rows_before_declaration(rca: dict[str, Any]) -> list[list[str]]:
    declared = at(14, 30)
    return [[datetime.fromisoformat(row["at"]).strftime("%H:%M"), row["text"]] for row in rca["timeline"]
            if datetime.fromisoformat(row["at"]) < declared]


def stored_actions(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as c:
        rows = c.execute(text("SELECT text, priority, due_on, source, status FROM action_items ORDER BY id"))
        return [(r.text, r.priority, str(r.due_on) if r.due_on else None, r.source, r.status) for r in rows]


def stored_versions(db: Engine) -> list[tuple[int, str, str, str]]:
    with db.connect() as c:
        rows = c.execute(text("SELECT version, origin, status, mode FROM postmortem_versions ORDER BY version"))
        return [(r.version, r.origin, r.status, r.mode) for r in rows]


# --- the document from the record -----------------------------------------------------------------------


async def test_duration_and_detection_are_computed_from_the_record(written: AgentAnswer,
                                                                   rca_result: dict[str, Any]) -> None:
    md = written.text_markdown
    pm = document(written)
    # Impact began with the error rate the analysis measured (14:20:30), before the declaration at 14:30.
    assert rca_result["symptom_onset"] == "2024-12-20T14:20:30Z"
    assert pm.detection is not None and pm.detection.started_at == at(14, 20, 30)
    assert (pm.detection.detected_at, pm.detection.acknowledged_at) == (at(14, 30), at(14, 30))
    assert (pm.detection.mitigated_at, pm.detection.resolved_at) == (at(14, 45), at(15, 15))
    assert "_Impact start is taken from the error rate (root-cause analysis)._" in md
    assert summary_field(md, "Duration").endswith(" minutes (14:20 - 15:15 UTC)")
    detection = table(section(md, "Detection and Response"))
    assert detection[0] == ["Time to detect", "10", "impact start 14:20", "detected 14:30"]
    assert detection[1] == ["Time to acknowledge", "0", "detected", "14:30"]
    # The minutes must agree with the clock times printed beside them: 14:20 -> 14:45 is 25, 14:20 -> 15:15 is 55.
    assert summary_field(md, "Duration") == "55 minutes (14:20 - 15:15 UTC)", "the Duration must match its span"
    assert detection[2:] == [["Time to mitigate", "25", "impact start", "14:45"],
                             ["Time to resolve", "55", "impact start", "15:15"]]
    # 55 minutes at 23.44% of requests failing, against 0.1% of 30 days.
    assert ("- **SLO Impact**: 99.9% availability SLO over 30 days: 12.9 of 43.2 minutes of error budget consumed "
            "(30%; 23% of requests failing on average)") in md


async def test_the_slo_budget_and_what_the_outage_consumed(written: AgentAnswer, rca_result: dict[str, Any]) -> None:
    pm = document(written)
    assert rca_result["error_ratio_mean"] == 0.2344
    assert pm.slo is not None and pm.slo_note is None
    assert (pm.slo.availability, pm.slo.window_days, pm.slo.failing_share) == (99.9, 30, 0.2344)
    assert pm.slo.budget_minutes == pytest.approx(43.2)  # 0.1% of 30 days
    duration = int(summary_field(written.text_markdown, "Duration").split()[0])
    assert pm.duration_minutes == duration
    consumed = round(duration * 0.2344, 1)
    assert pm.slo.consumed_minutes == consumed
    assert (f"- **SLO Impact**: 99.9% availability SLO over 30 days: {consumed:.1f} of 43.2 minutes of error budget "
            f"consumed ({consumed / 43.2:.0%}; 23% of requests failing on average)") in written.text_markdown


async def test_the_timeline_has_the_lead_up_from_the_analysis_then_the_record(written: AgentAnswer,
                                                                            rca_result: dict[str, Any]) -> None:
    rows = table(section(written.text_markdown, "Timeline"))
    lead_up = rows_before_declaration(rca_result)
    assert lead_up[0] == ["14:15", "Feature flag async-payment-processing enabled for 100% of traffic"]
    assert lead_up[1] == ["14:20", "Symptoms begin: payments return 5xx errors (up to 59% of requests)"]
    record = [
        ["14:30", "Incident declared (SEV2)"],
        ["14:33", "@U0BOB is now Communications"],
        ["14:34", "@U0CAROL is now Scribe"],
        ["14:41", "Status update: Investigating elevated 5xx on payments; checkout affected downstream"],
        ["14:45", FLAG_OFF],
        ["14:50", "Root-cause analysis posted"],
        ["15:02", "Status INVESTIGATING → MONITORING"],
        ["15:02", "Status update: Error rate dropping, pool usage coming down"],
        ["15:12", "Error rate back to normal"],
        ["15:15", "Incident resolved: Flag off, leaked connections released"],
    ]
    after_flag = [row for row in rows if row[0] != "14:15"]
    assert after_flag == lead_up[1:] + record
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert not document(written).spans_days and document(written).timeline_omitted == 0
    at_1415 = [row[1] for row in rows if row[0] == "14:15"]
    assert len(at_1415) == 1, (f"BUG: the flag change at 14:15 is on the timeline twice, once from the incident's "
                               f"note and once restated by the analysis: {at_1415}")
    assert at_1415[0] in (FLAG_ON, lead_up[0][1])


async def test_the_root_cause_and_trigger_come_from_the_analysis(written: AgentAnswer,
                                                                rca_result: dict[str, Any]) -> None:
    assert section(written.text_markdown, "Root Cause") == (
        f"{rca_result['root_cause']}\n\n"
        "**Trigger**: Feature flag async-payment-processing enabled for 100% of traffic (14:15 UTC)\n\n"
        "_From the root-cause analysis (high confidence)._")
    assert rca_result["root_cause"].startswith("Connections leaked from the payments database pool after feature "
                                               "flag async-payment-processing was enabled (14:15)")
    factors = section(written.text_markdown, "Contributing Factors").splitlines()
    assert factors == [f"{n}. {factor}" for n, factor in enumerate(rca_result["contributing_factors"], 1)]


async def test_action_items_come_from_the_chat_and_the_analysis_and_are_numbered_in_the_store(
        written: AgentAnswer, rca_result: dict[str, Any], db: Engine) -> None:
    rec = rca_result["recommendations"]
    expected = [
        ["1", "P0", rec["immediate"], "unassigned", "Dec 21", "done"],  # the flag was turned off at 14:45
        ["2", "P1", rec["short_term"], "unassigned", "Dec 27", "open"],
        ["3", "P2", "Add an alert on connection pool usage at 80%", "unassigned", "-", "open"],
        ["4", "P2", "Load test the async payment path", "unassigned", "-", "open"],
        ["5", "P2", rec["medium_term"], "unassigned", "Jan 19", "open"],
        ["6", "P3", rec["long_term"], "unassigned", "Mar 20", "open"],
    ]
    assert table(section(written.text_markdown, "Action Items")) == expected
    # Due dates run from the day it was resolved: +1, +7, +30 and +90 days.
    assert stored_actions(db) == [
        (rec["immediate"], "P0", "2024-12-21", "postmortem", "done"),
        (rec["short_term"], "P1", "2024-12-27", "postmortem", "open"),
        ("Add an alert on connection pool usage at 80%", "P2", None, "postmortem", "open"),
        ("Load test the async payment path", "P2", None, "postmortem", "open"),
        (rec["medium_term"], "P2", "2025-01-19", "postmortem", "open"),
        (rec["long_term"], "P3", "2025-03-20", "postmortem", "open"),
    ]
    pm = document(written)
    assert [(a.number, a.source) for a in pm.action_items] == [
        (1, "root-cause analysis"), (2, "root-cause analysis"), (3, "conversation"), (4, "conversation"),
        (5, "root-cause analysis"), (6, "root-cause analysis")]
    # A deleted message asked for nothing.
    assert not any("flipped" in a.text for a in pm.action_items)


async def test_the_document_has_the_seeds_sections_and_blameless_wording(written: AgentAnswer) -> None:
    md = written.text_markdown
    assert md.startswith(f"# Postmortem: {TITLE}\n**Date**: December 20, 2024\n**Authors**: @U0DECLARER\n"
                         "**Status**: Draft\n")
    positions = [md.index(heading) for heading in SEED_HEADINGS]
    assert positions == sorted(positions)
    assert [row[0] for row in table(section(md, "Incident Summary"))] == [
        "Incident ID", "Duration", "Severity", "Service", "Impact", "Customers Affected", "Revenue Impact"]
    assert summary_field(md, "Incident ID") == PUBLIC_ID and summary_field(md, "Severity") == "SEV2"
    poorly = section(md, "What Went Poorly")
    assert poorly.startswith("- The change (async-payment-processing) reached production without the problem")
    assert not re.search(r"<@|@[UW][A-Z0-9]", poorly) and "U0ALICE" not in poorly
    assert section(md, "Lessons Learned").startswith("1. Connection pool saturation is critical infrastructure")
    assert section(md, "Appendix") == f"- Full timeline: incidentbot show {PUBLIC_ID}"
    assert blocks_for(written)[0]["text"]["text"] == f"Postmortem: {TITLE} (v1)"
    assert "_Not established from the record: customers affected not recorded; revenue impact not recorded._" in md


# --- versions and review --------------------------------------------------------------------------------


async def test_generating_twice_adds_a_version_and_no_duplicate_action_items(
        runtime: Runtime, rca_result: dict[str, Any], db: Engine) -> None:
    await seed_story(runtime, rca_result)
    first = await generate(runtime)
    second = await generate(runtime)
    assert [v[:2] for v in stored_versions(db)] == [(1, "generated"), (2, "generated")]
    assert blocks_for(second)[0]["text"]["text"].endswith("(v2)")
    assert len(stored_actions(db)) == 6
    assert [(a.number, a.text, a.priority, a.due_on) for a in document(second).action_items] == [
        (a.number, a.text, a.priority, a.due_on) for a in document(first).action_items]
    assert table(section(second.text_markdown, "Action Items")) == table(section(first.text_markdown,
                                                                                 "Action Items"))


async def test_a_regenerated_postmortem_tells_the_same_story(runtime: Runtime, rca_result: dict[str, Any]) -> None:
    await seed_story(runtime, rca_result)
    first = await generate(runtime)
    second = await generate(runtime)
    assert summary_field(second.text_markdown, "Duration") == summary_field(first.text_markdown, "Duration"), (
        "BUG: the first generation's action items land on the incident timeline (kind action_item, dated when "
        "the postmortem was written) and the second version's timeline then spans days")
    assert table(section(second.text_markdown, "Timeline")) == table(section(first.text_markdown, "Timeline")), (
        "BUG: the regenerated timeline lists the 'Action item #n' events the previous generation created")


async def test_a_persons_edit_is_only_replaced_when_asked_and_stays_readable(
        runtime: Runtime, rca_result: dict[str, Any], db: Engine) -> None:
    incident_id = await seed_story(runtime, rca_result)
    await generate(runtime)
    edited = "# Postmortem: Payment API outage\n**Status**: Draft\n\nRewritten by the review.\n"
    kept = await keep_edited(runtime.sessions, incident_id, edited, "U0CAROL")
    assert (kept.version, kept.origin, kept.mode) == (2, "edited", "human")

    with pytest.raises(agent_runtime.AgentError) as refused:
        await generate(runtime)
    assert str(refused.value) == (
        "version 2 was edited by U0CAROL; regenerating adds a new version after it (the edit stays as version 2): "
        "ask again with --force (`/incident postmortem regenerate --force`)")
    assert len(stored_versions(db)) == 2

    forced = await generate(runtime, force=True)
    assert blocks_for(forced)[0]["text"]["text"].endswith("(v3)")
    assert [v[:2] for v in stored_versions(db)] == [(1, "generated"), (2, "edited"), (3, "generated")]
    async with runtime.sessions() as session:
        still = await postmortems.version(session, incident_id, 2)
        latest = await postmortems.latest(session, incident_id)
    assert still is not None and still.markdown == edited and still.author == "U0CAROL"
    assert latest is not None and latest.version == 3 and latest.markdown == forced.text_markdown
    assert len(stored_actions(db)) == 6


async def test_the_review_status_moves_and_the_markdown_follows(runtime: Runtime, rca_result: dict[str, Any],
                                                                db: Engine) -> None:
    incident_id = await seed_story(runtime, rca_result)
    await generate(runtime)
    seen = []
    for wanted in (ReviewStatus.IN_REVIEW, ReviewStatus.FINAL):
        async with runtime.sessions() as session, session.begin():
            incident = await service.get_incident_by_id(session, incident_id)
            row = await postmortems.set_status(session, incident, wanted, "U0CAROL")
            assert row is not None
            seen.append((row.version, row.status, re.findall(r"^\*\*Status\*\*:.*$", row.markdown, re.MULTILINE)))
    assert seen == [(1, "In review", ["**Status**: In review"]), (1, "Final", ["**Status**: Final"])]
    assert stored_versions(db) == [(1, "generated", "Final", "deterministic")]
    with db.connect() as c:
        events = list(c.scalars(text("SELECT text FROM timeline_events WHERE kind = 'postmortem' ORDER BY id")))
    assert events == ["Postmortem version 1 generated (Draft)", "Postmortem version 1 is now In review",
                      "Postmortem version 1 is now Final"]


async def test_an_open_incident_gets_a_draft_that_says_why(runtime: Runtime, db: Engine) -> None:
    declared = await declare(runtime.sessions, runtime.config,
                             Declaration(title=TITLE, severity="SEV2", declared_by="U0DECLARER", source=Source.SLACK))
    answer = await generate(runtime, public_id=declared.incident.public_id)
    pm = document(answer)
    reason = "the incident is still open: times and impact may change"
    assert pm.draft_reason == reason and pm.status == "Draft"
    assert f"**Status**: Draft (draft: {reason})\n" in answer.text_markdown
    since = declared.incident.declared_at.strftime("%H:%M")
    assert summary_field(answer.text_markdown, "Duration") == f"ongoing since {since} UTC"
    assert "Not established: no root-cause analysis was run." in section(answer.text_markdown, "Root Cause")
    with db.connect() as c:
        stored = c.scalar(text("SELECT markdown FROM postmortem_versions WHERE version = 1"))
    assert f"**Status**: Draft (draft: {reason})\n" in stored


async def test_an_unknown_incident_is_refused(runtime: Runtime) -> None:
    with pytest.raises(agent_runtime.AgentError) as missing:
        await agent_runtime.load(runtime, "Generate postmortem for INC-1999-0101-001", incident_id="INC-1999-0101-001")
    assert str(missing.value) == "no incident INC-1999-0101-001; `incidentbot list` shows them"


# --- from pasted notes ----------------------------------------------------------------------------------


async def from_notes(runtime: Runtime, prompt: str) -> AgentAnswer:
    request = await agent_runtime.load(runtime, prompt)
    assert request.incident is None
    return await agent_runtime.run(runtime, "postmortem-writer", request)


async def test_the_seeds_notes_become_a_postmortem(runtime: Runtime, db: Engine) -> None:
    answer = await from_notes(runtime, SEED_NOTES)
    pm = document(answer)
    assert pm.incident_id is None and stored_versions(db) == []  # nothing to keep it on
    # The title is derived from the header line, not copied: its severity and date are shown in their own places.
    assert (pm.title, pm.day, pm.severity) == ("Payment API outage", date(2024, 12, 20), "SEV2")
    assert [(e.at, e.text) for e in pm.timeline] == [
        (at(14, 15), "feature flag async-payment-processing enabled"), (at(14, 30), "alert fired, incident declared"),
        (at(14, 45), "flag disabled"), (at(15, 15), "full recovery confirmed")]
    assert table(section(answer.text_markdown, "Timeline"))[1] == ["14:30", "alert fired, incident declared"]
    # The notes give the follow-up no priority, so none is invented.
    assert [(a.text, a.priority, a.source) for a in pm.action_items] == [("Alert on pool usage", None, "conversation")]
    assert table(section(answer.text_markdown, "Action Items"))[0] == ["new", "-", "Alert on pool usage", "unassigned",
                                                                       "-", "open"]
    assert pm.detection is not None and pm.detection.time_to_detect == 15
    assert pm.detection.mitigated_at == at(14, 45), "BUG: '14:45 flag disabled' is not read as the mitigation"
    assert pm.detection.resolved_at == at(15, 15), "BUG: '15:15 full recovery confirmed' is not read as resolution"
    assert summary_field(answer.text_markdown, "Duration") == "60 minutes (14:15 - 15:15 UTC)"


async def test_notes_read_cleanly(runtime: Runtime) -> None:
    answer = await from_notes(runtime, SEED_NOTES)
    assert "_Impact start is taken from the " in answer.text_markdown
    assert "_Impact start is taken from the notes' first entry._" in answer.text_markdown, (
        "BUG: 'taken from the the notes' first entry' (notes.py started_from already starts with 'the')")


async def test_empty_notes_get_a_clear_message(runtime: Runtime) -> None:
    answer = await from_notes(runtime, "Create postmortem from these incident notes:   \n  ")
    message = ("The notes are empty: paste them after \"notes:\", one event a line, e.g. \"14:15 feature flag "
               "enabled\".")
    assert (answer.text_markdown, answer.fallback_text, answer.data) == (message + "\n", message, None)


async def test_notes_without_times_still_give_a_document_that_says_so(runtime: Runtime) -> None:
    answer = await from_notes(runtime, "Postmortem from these notes: Payments were down for a while\n"
                                       "someone turned the flag off\nTODO: write the runbook for the flag")
    pm = document(answer)
    assert pm.timeline == [] and pm.detection is None
    assert pm.warnings == ["no line starts with a time (HH:MM): the timeline and durations could not be built"]
    assert summary_field(answer.text_markdown, "Duration") == "unknown (no times recorded)"
    assert section(answer.text_markdown, "Timeline") == ("_The notes state no time zone: times are read as UTC._\n\n"
                                                         "No timed events were recorded.")
    assert ("_Not established from the record: no line starts with a time (HH:MM): the timeline and durations could "
            "not be built._") in answer.text_markdown
    assert [a.text for a in pm.action_items] == ["Write the runbook for the flag"]


async def test_notes_that_cross_midnight_continue_on_the_next_day(runtime: Runtime) -> None:
    answer = await from_notes(runtime, "Incident notes: Checkout outage 2024-12-20\n23:50 alert fired: checkout "
                                       "5xx\n00:20 recovered, all clear")
    pm = document(answer)
    assert [e.at for e in pm.timeline] == [at(23, 50), at(0, 20, day=21)]
    assert pm.detection is not None and pm.detection.time_to_resolve == 30
    assert summary_field(answer.text_markdown, "Duration") == "30 minutes (2024-12-20 23:50 - 2024-12-21 00:20 UTC)"
    assert pm.what_happened == "On December 20, 2024: Checkout outage. Impact lasted 30 minutes (23:50 - 00:20 UTC)."


# --- LLM mode -------------------------------------------------------------------------------------------


@pytest.fixture
def claude() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def llm_runtime(database_url: str, team_config: Path, claude: FakeAnthropic) -> AsyncIterator[Runtime]:
    made = make_runtime(database_url, team_config, anthropic_api_key="sk-ant-test", anthropic_base_url=claude.url,
                        anthropic_model=MODEL, llm_wall_seconds=20.0)
    yield made
    await made.close()


async def deterministic(runtime: Runtime) -> Postmortem:
    """What the writer gives for the same record without a model, stored nowhere."""
    request = await request_for(runtime)
    plain = Settings(_env_file=None, database_url=runtime.settings.database_url, anthropic_api_key=None)
    return document(await write_postmortem(dataclasses.replace(request, settings=plain)))


def narrative(pm: Postmortem, minutes: int | None = None, *extra_lessons: str) -> dict[str, Any]:
    duration = pm.duration_minutes if minutes is None else minutes
    return {"what_happened": f"Payments failed for {duration} minutes after a feature flag change sent charges down "
                             "a path that kept database connections; turning the flag off at 14:45 ended it.",
            "lessons": ["Connection pool saturation needs an alert well before the pool runs dry",
                        "A flag that can be turned off quickly keeps an incident short", *extra_lessons]}


def same_facts(pm: Postmortem, other: Postmortem) -> None:
    """Timeline, detection and action items as the deterministic writer computed them."""
    assert pm.timeline == other.timeline
    assert pm.detection == other.detection
    assert pm.slo == other.slo
    assert [a.model_dump(exclude={"number"}) for a in pm.action_items] == [
        a.model_dump(exclude={"number"}) for a in other.action_items]


async def test_a_rewrite_that_keeps_the_figures_replaces_the_narrative_only(
        llm_runtime: Runtime, claude: FakeAnthropic, rca_result: dict[str, Any], db: Engine) -> None:
    await seed_story(llm_runtime, rca_result)
    plain = await deterministic(llm_runtime)
    rewrite = narrative(plain)
    claude.script(tool_use("submit_narrative", rewrite))
    answer = await generate(llm_runtime)
    pm = document(answer)
    assert (answer.mode, pm.mode, answer.note) == (f"llm ({MODEL})", f"llm ({MODEL})", None)
    assert (pm.what_happened, pm.lessons) == (rewrite["what_happened"], rewrite["lessons"])
    assert pm.what_happened != plain.what_happened and pm.lessons != plain.lessons
    same_facts(pm, plain)
    assert section(answer.text_markdown, "What Happened") == rewrite["what_happened"]
    assert section(answer.text_markdown, "Lessons Learned").splitlines() == [
        f"1. {rewrite['lessons'][0]}", f"2. {rewrite['lessons'][1]}"]
    assert table(section(answer.text_markdown, "Timeline")) == table(section(render_markdown(plain), "Timeline"))
    assert stored_versions(db) == [(1, "generated", "Draft", f"llm ({MODEL})")]
    first = claude.requests[0]
    assert first["model"] == MODEL and [t["name"] for t in first["tools"]] == ["submit_narrative"]
    assert "blameless" in str(first["system"])


async def test_a_rewrite_that_changes_a_figure_or_adds_a_name_is_refused(
        llm_runtime: Runtime, claude: FakeAnthropic, rca_result: dict[str, Any]) -> None:
    await seed_story(llm_runtime, rca_result)
    plain = await deterministic(llm_runtime)
    assert plain.duration_minutes is not None
    changed = plain.duration_minutes + 2
    assert str(changed) not in facts(render_markdown(plain))  # a figure the document does not have
    good = narrative(plain)
    claude.script(tool_use("submit_narrative", narrative(plain, changed)),
                  tool_use("submit_narrative", narrative(plain, None, "Ask @U0MALLORY before enabling flags")),
                  tool_use("submit_narrative", good))
    answer = await generate(llm_runtime)

    refusals = [claude.requests[n]["messages"][-1]["content"][0] for n in (1, 2)]
    assert all(r["type"] == "tool_result" and r["is_error"] is True for r in refusals)
    assert f"keep its figures and names: {changed}." in refusals[0]["content"]
    assert "keep its figures and names: @U0MALLORY." in refusals[1]["content"]
    pm = document(answer)
    assert answer.mode == f"llm ({MODEL})" and pm.what_happened == good["what_happened"]
    assert f"{changed} minutes" not in answer.text_markdown and "U0MALLORY" not in answer.text_markdown
    same_facts(pm, plain)


async def test_a_model_that_keeps_inventing_gets_the_deterministic_text(
        llm_runtime: Runtime, claude: FakeAnthropic, rca_result: dict[str, Any]) -> None:
    await seed_story(llm_runtime, rca_result)
    plain = await deterministic(llm_runtime)
    assert plain.duration_minutes is not None
    claude.script(*[tool_use("submit_narrative", narrative(plain, plain.duration_minutes + 2)) for _ in range(8)])
    answer = await generate(llm_runtime)
    pm = document(answer)
    assert answer.mode == "deterministic" and len(claude.requests) == 8
    assert answer.note == "LLM mode unavailable (stopped after 8 turns without an answer); deterministic text shown"
    assert (pm.what_happened, pm.lessons) == (plain.what_happened, plain.lessons)
    same_facts(pm, plain)
    assert answer.text_markdown.endswith(f"_{answer.note}_\n")


async def test_an_overloaded_api_gives_the_deterministic_document_with_a_one_line_note(
        llm_runtime: Runtime, claude: FakeAnthropic, rca_result: dict[str, Any]) -> None:
    await seed_story(llm_runtime, rca_result)
    plain = await deterministic(llm_runtime)
    claude.script(*[overloaded() for _ in range(4)])
    answer = await generate(llm_runtime)
    pm = document(answer)
    assert answer.mode == "deterministic" and len(claude.requests) == 4  # the first try and three retries
    assert answer.note == ("LLM mode unavailable (Claude was overloaded (529) after 3 retries); deterministic text "
                           "shown")
    assert "\n" not in answer.note
    assert pm.model_dump(exclude={"note", "action_items", "version"}) == plain.model_dump(
        exclude={"note", "action_items", "version"})
    same_facts(pm, plain)
