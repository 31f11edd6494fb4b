"""The incident-commander agent over in-memory ORM objects, and the router's intents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from agents import incident_commander as ic
from agents.base import AgentRequest, AgentSettings
from agents.router import AGENT_FOR_INTENT, INTENTS, route
from agents.runtime import AGENTS
from app.config import SeverityLevel, TeamConfig
from app.incidents.models import Incident, NextAction, RoleAssignment, Status, TimelineEvent
from app.settings import Settings
from app.slack import render
from app.slack.render import commander as slack_commander
from tests.agent_corpus import corpus
from tests.commander_records import stored
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender
from tests.test_events import mention, replies_to

T0 = datetime(2026, 11, 25, 14, 32, tzinfo=UTC)
CONFIG = TeamConfig()

# What an on-call SRE would pick for each title, and the impact class it follows from.
SEVERITIES = [
    ('Full outage: all requests failing', "SEV1", 'outage'),
    ('Website is down', "SEV1", 'outage'),
    ('Production down', "SEV1", 'outage'),
    ('Complete outage of the mobile app', "SEV1", 'outage'),
    ('API returning 503 for everything', "SEV1", 'outage'),
    ('All users seeing 500s', "SEV1", 'outage'),
    ('Nobody can log in', "SEV1", 'outage'),
    ('Checkout failing for all customers', "SEV1", 'payments'),
    ('Payment provider declining all transactions', "SEV1", 'payments'),
    ('Customer data loss after migration', "SEV1", 'data-loss'),
    ('Database corruption in orders table', "SEV1", 'data-loss'),
    ('Security breach: leaked AWS credentials', "SEV1", 'security'),
    ('PII exposed in public S3 bucket', "SEV1", 'security'),
    ('Unauthorized access to admin panel', "SEV1", 'security'),
    ('Ransomware detected on build server', "SEV1", 'security'),
    ('Payment API returning 500 errors', "SEV2", 'payments'),
    ('Elevated 5xx errors on payment API', "SEV2", 'payments'),
    ('Search service down', "SEV2", 'outage'),
    ('API down in eu-west', "SEV2", 'outage'),
    ("Users can't log in", "SEV2", 'outage'),
    ("Users can\u2019t log in", "SEV2", 'outage'),
    ('Mobile app crashes on launch', "SEV2", 'degraded'),
    ('Orders stuck in pending', "SEV2", 'payments'),
    ('Leaked credentials in staging repo', "SEV2", 'security'),
    ('Data corruption affecting one customer', "SEV2", 'data-loss'),
    ('Elevated latency for all users', "SEV2", 'degraded'),
    ('Elevated latency on search', "SEV3", 'degraded'),
    ('Checkout latency above 5s', "SEV3", 'degraded'),
    ('p99 latency above 500 ms', "SEV3", 'degraded'),
    ('Emails delayed by 10 minutes', "SEV3", 'degraded'),
    ('Intermittent 502s on image uploads', "SEV3", 'degraded'),
    ('Login page slow for some users', "SEV3", 'degraded'),
    ('Single customer cannot log in', "SEV3", 'outage'),
    ('Payments failing for a single customer', "SEV3", 'payments'),
    ('Internal wiki down', "SEV4", 'internal'),
    ('Data loss in staging database', "SEV4", 'internal'),
    ('Database connection pool exhaustion', "SEV3", 'degraded'),
    ('Disk full on db-1', "SEV3", 'degraded'),
    ('No data loss, but checkout slow', "SEV3", 'degraded'),
    ('Not a security breach: phishing email reported', "SEV3", None),
    ('Staging environment down', "SEV5", 'internal'),
    ('Dev environment database down', "SEV5", 'internal'),
    ('Non-production cluster down', "SEV5", 'internal'),
    ('Internal tool slow', "SEV5", 'internal'),  # slower, nobody blocked: informational
    ('Flaky test in CI', "SEV4", 'internal'),
    ('Typo on pricing page', "SEV5", 'cosmetic'),
    ('Cosmetic misalignment of the footer', "SEV5", 'cosmetic'),
    ('Checkout page button wrong color', "SEV5", 'cosmetic'),
    ('One user reports a typo in an email', "SEV5", 'cosmetic'),
    ('Webhooks delayed, no customer impact', "SEV5", 'internal'),
]


@pytest.mark.parametrize(("title", "expected", "impact_class"), SEVERITIES)
def test_assessed_severity_follows_the_impact_class(title: str, expected: str, impact_class: str | None) -> None:
    assessment = ic.assess_severity(title, None, CONFIG)
    assert (assessment.severity, assessment.impact_class) == (expected, impact_class), assessment.reasons


# Other wordings of the same kinds of impact: the class must follow from the meaning, not from a phrase.
CLASSES = [
    ("customer PII in error messages returned by API", "security"),
    ("users logged in as other users after cache change", "security"),
    ("SQL injection found in search endpoint, exploited", "security"),
    ("Not a security breach: phishing email reported", None),
    ("audit logs missing for last 3 days", "data-loss"),
    ("nightly ETL overwrote the analytics warehouse", "data-loss"),
    ("merchants not receiving settlements", "payments"),
    ("gift cards can't be redeemed", "payments"),
    ("tax calculated wrong on EU orders", "payments"),
    ("homepage returns 502 Bad Gateway", "outage"),
    ("login loop - users redirected back to login forever", "outage"),
    ("websocket connections dropping every few seconds", "degraded"),
    ("SMS 2FA codes arriving late", "degraded"),
    ("github actions runners offline", "internal"),
    ("docker registry full, deploys failing", "internal"),
    ("favicon missing", "cosmetic"),
    ("outdated screenshot in onboarding docs", "cosmetic"),
    ("index missing on orders table, queries slow", "degraded"),
    ("customer emails exposed via public API endpoint", "security"),
    ("oauth tokens printed in debug logs", "security"),
    ("user A can view user B's order history", "security"),
    ("token validation errors in api logs", "degraded"),  # a token mentioned, nothing exposed
    ("user settings reset to defaults for everyone", "data-loss"),
    ("payouts to sellers delayed 2 days", "payments"),
    ("customers charged in wrong currency", "payments"),
]


@pytest.mark.parametrize(("title", "impact_class"), CLASSES)
def test_the_class_follows_the_meaning_in_other_words(title: str, impact_class: str | None) -> None:
    assert ic.assess_severity(title, None, CONFIG).impact_class == impact_class


# Scope moves the class's usual level, however it is worded.
SCOPED = [
    ("the app is completely down", "SEV1", "outage"),
    ("images not loading for some customers", "SEV3", "degraded"),
    ("elevated errors on search, 40% of requests failing", "SEV2", "degraded"),
    ("a few payouts delayed", "SEV3", "payments"),
    ("payout for one seller failed", "SEV3", "payments"),
    ("backups have not run for a week", "SEV3", "internal"),
    ("sandbox payments api down", "SEV5", "internal"),
    ("all pods crashlooping in prod", "SEV1", "outage"),
    ("new users can't register", "SEV2", "outage"),
    ("customers' saved addresses wiped", "SEV1", "data-loss"),
    # A page showing nothing for everyone is a degraded feature, not lost data nor a full outage.
    ("saved carts empty for all users", "SEV2", "degraded"),
    ("vpn login from an unrecognized country", "SEV1", "security"),
    ("ssh session on a bastion from a tor exit node", "SEV1", "security"),
    ("release pipeline stuck, nothing can be deployed", "SEV3", "internal"),
    ("cannot merge anything", "SEV3", "internal"),
    ("looker dashboards 3h stale", "SEV4", "internal"),
    ("build server sluggish", "SEV5", "internal"),
    ("jira slow and returning errors", "SEV4", "internal"),
    ("search p99 at 4s (normally 300ms)", "SEV3", "degraded"),
    ("signup button shows signup.cta.submit", "SEV4", "cosmetic"),
    ("about page shows about.team.heading", "SEV5", "cosmetic"),
    ("landing page shows example.com placeholder", "SEV5", "cosmetic"),
]


@pytest.mark.parametrize(("title", "expected", "impact_class"), SCOPED)
def test_scope_moves_the_level_in_other_words(title: str, expected: str, impact_class: str) -> None:
    assessment = ic.assess_severity(title, None, CONFIG)
    assert (assessment.severity, assessment.impact_class) == (expected, impact_class), assessment.reasons


def test_the_first_reason_names_the_class_and_the_words_that_set_it() -> None:
    assessment = ic.assess_severity("Full outage: all requests failing", None, CONFIG)
    assert assessment.reasons[0] == ('SEV2 for outage (a customer-facing service is down): "Full outage" means a '
                                     'full outage')
    assert assessment.reasons[1] == 'SEV1, more severe: "Full outage" means the whole product'

    leaked = ic.assess_severity("Leaked credentials in staging repo", None, CONFIG)
    assert leaked.reasons[0].startswith("SEV1 for security (customer data exposure, leaked credentials")
    assert leaked.reasons[1] == 'SEV2, less severe: "staging" is not production'


def test_a_severity_typed_in_the_title_does_not_decide() -> None:
    shouted = ic.assess_severity("SEV1!!! office wifi down", None, CONFIG)
    assert (shouted.severity, shouted.impact_class) == ("SEV4", "internal")
    assert "\"SEV1\" in the title is the reporter's word; the impact sets the severity" in shouted.reasons
    quiet = ic.assess_severity("low prio: csv export includes other orgs' rows", None, CONFIG)
    assert (quiet.severity, quiet.impact_class) == ("SEV1", "security")


def test_team_keywords_and_internal_services_extend_the_vocabulary() -> None:
    plain = ic.assess_severity("Backstage down", None, CONFIG)
    assert (plain.severity, plain.impact_class) == ("SEV2", "outage")
    config = TeamConfig.model_validate({
        "services": [{"name": "backstage", "aliases": ["dev portal"], "internal": True}],
        "impact_keywords": {"payments": ["payroll run"], "data-loss": ["tombstoned"], "security": ["skimmer"]}})
    assert ic.assess_severity("Dev portal down", None, config).impact_class == "internal"
    assert ic.assess_severity("Backstage down", None, config).severity == "SEV4"
    assert ic.assess_severity("Payroll run stuck", None, config).impact_class == "payments"
    assert ic.assess_severity("Card skimmer found on checkout page", None, config).impact_class == "security"
    assert ic.assess_severity("Profiles tombstoned by a bad job", None, config).impact_class == "data-loss"


def test_nothing_to_go_on_falls_back_to_the_configured_default() -> None:
    config = TeamConfig(default_severity="SEV4")
    assessment = ic.assess_severity("Disk usage question on db-7", None, config)
    assert assessment.severity == "SEV4" and assessment.signals == [] and assessment.impact_class is None
    assert "configured default" in assessment.reasons[0]


def test_the_description_counts_too_and_matching_is_on_word_boundaries() -> None:
    assert ic.assess_severity("Checkout issue", "all requests are failing since the deploy", CONFIG).severity == "SEV1"
    # "download", "breakdown", "500ms" and "typography" hold no signal words.
    assert ic.assess_severity("Download breakdown report at 500ms", None, CONFIG).signals == []
    assert ic.assess_severity("Typography refresh", None, CONFIG).severity == "SEV3"
    assert ic.assess_severity("FULL OUTAGE", None, CONFIG).severity == "SEV1"
    # Negated: "no data loss" is not data loss, "not a breach" not a breach.
    assert ic.assess_severity("No data loss, but checkout slow", None, CONFIG).impact_class == "degraded"


def test_severity_is_clamped_to_the_configured_levels() -> None:
    three = TeamConfig(severities=[SeverityLevel(name=f"SEV{n}", meaning="x") for n in (1, 2, 3)])
    typo = ic.assess_severity("Typo on pricing page", None, three)
    assert typo.severity == "SEV3" and typo.reasons[-1] == "SEV3: the least severe level configured"
    no_sev1 = TeamConfig(severities=[SeverityLevel(name=f"SEV{n}", meaning="x") for n in (2, 4)],
                         default_severity="SEV4")
    assert ic.assess_severity("Website down", None, no_sev1).severity == "SEV2"
    assert ic.assess_severity("Checkout latency", None, no_sev1).severity == "SEV2"  # SEV3 is nearer SEV2 (tie)


# --- status report ---------------------------------------------------------------------------------


def incident(**overrides: object) -> Incident:
    """An incident as the store would load it, built in memory with no session."""
    fields: dict[str, object] = dict(
        id=1, public_id="INC-2026-1125-001", title="Payment API <500> errors & more", severity="SEV2",
        status=Status.INVESTIGATING, declared_by="U0ALICE", declared_at=T0, channel_id="C0WAR",
        channel_name="inc-2026-1125-001-payment-api", next_update_due=T0 + timedelta(minutes=60),
    )
    fields.update(overrides)
    made = Incident(**fields)
    made.roles = [
        RoleAssignment(id=1, role="Incident Commander", user_id="U0ALICE", status="Active", since=T0),
        RoleAssignment(id=2, role="Scribe", user_id="cli:carol", status="Active", since=T0,
                       ended_at=T0 + timedelta(minutes=10)),
        RoleAssignment(id=3, role="Communications", user_id="U0BOB", status="Active", since=T0 + timedelta(minutes=5)),
    ]
    made.timeline = [
        TimelineEvent(id=1, kind="declared", text="Incident declared (SEV2)", occurred_at=T0),
        TimelineEvent(id=3, kind="status_update", text="Error rate <1% after rollback", actor="U0BOB",
                      occurred_at=T0 + timedelta(minutes=40)),
        TimelineEvent(id=2, kind="status_update", text="Rolled back deploy 42", actor="U0BOB",
                      occurred_at=T0 + timedelta(minutes=20)),
        TimelineEvent(id=4, kind="note", text="A later note is not an update", occurred_at=T0 + timedelta(minutes=50)),
    ]
    made.next_actions = [
        NextAction(id=2, position=1, text="Check recent deployments", done_at=T0 + timedelta(minutes=15),
                   done_by="U0BOB"),
        NextAction(id=1, position=0, text="Investigate payment-api logs"),
        NextAction(id=3, position=2, text="Prepare customer communication"),
    ]
    return made


def test_status_report_gathers_the_incident_as_it_stands() -> None:
    report = ic.status_report(incident(), T0 + timedelta(minutes=65), CONFIG)
    assert report.duration == "1h 05m"
    assert report.severity_meaning == "Major - customer impact"
    assert report.commander == "U0ALICE"
    assert [(r.role, r.user_id) for r in report.roles] == [("Incident Commander", "U0ALICE"),
                                                           ("Communications", "U0BOB")]
    assert report.last_update is not None and report.last_update.text == "Error rate <1% after rollback"
    assert [a.text for a in report.open_actions] == ["Investigate payment-api logs", "Prepare customer communication"]
    assert report.update_overdue and not report.spans_days


def test_status_markdown_reads_like_the_example() -> None:
    markdown = ic.markdown.status(ic.status_report(incident(), T0 + timedelta(minutes=65), CONFIG))
    for line in ("## Incident Status: INC-2026-1125-001", "**Severity**: SEV2 (Major - customer impact)",
                 "**Status**: INVESTIGATING", "**Declared**: 2026-11-25 14:32 UTC", "**Duration**: 1h 05m (ongoing)",
                 "**Incident Commander**: @U0ALICE", "| Communications | @U0BOB | Active | 14:37 UTC |",
                 "- 15:12 UTC - @U0BOB: Error rate <1% after rollback", "1. [ ] Investigate payment-api logs",
                 "2. [ ] Prepare customer communication", "Due: OVERDUE since 15:32 UTC (5m ago)"):
        assert line in markdown.splitlines(), line
    assert "Check recent deployments" not in markdown and "carol" not in markdown


def test_status_blocks_escape_user_text_and_mention_slack_users() -> None:
    blocks = slack_commander.status_blocks(ic.status_report(incident(), T0 + timedelta(minutes=30), CONFIG))
    rendered = json.dumps(blocks)
    assert "Payment API &lt;500&gt; errors &amp; more" in rendered and "<500>" not in rendered
    assert "<@U0ALICE>" in rendered and "<@U0BOB>" in rendered and "<#C0WAR>" in rendered
    assert "Error rate &lt;1% after rollback" in rendered
    assert "15:32 UTC (in 30m)" in rendered and "OVERDUE" not in rendered
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Status: INC-2026-1125-001"}}
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)


def test_times_carry_dates_when_the_incident_spans_days() -> None:
    late = incident(declared_at=datetime(2026, 11, 25, 23, 50, tzinfo=UTC))
    late.timeline[1].occurred_at = datetime(2026, 11, 26, 0, 10, tzinfo=UTC)
    report = ic.status_report(late, datetime(2026, 11, 26, 0, 20, tzinfo=UTC), CONFIG)
    assert report.spans_days
    assert "- 2026-11-26 00:10 UTC - @U0BOB: Error rate <1% after rollback" in ic.markdown.status(report)


def test_a_resolved_incident_stops_the_clock_and_owes_no_update() -> None:
    done = incident(status=Status.RESOLVED, resolved_at=T0 + timedelta(hours=2, minutes=3))
    report = ic.status_report(done, T0 + timedelta(days=1), CONFIG)
    assert report.duration == "2h 03m" and report.next_update_due is None and not report.update_overdue
    assert ic.next_update_text(report) == "Not needed: the incident is RESOLVED"


@pytest.mark.parametrize(("delta", "expected"), [
    (timedelta(seconds=20), "<1m"), (timedelta(minutes=45), "45m"), (timedelta(minutes=65), "1h 05m"),
    (timedelta(days=2, hours=3, minutes=7), "2d 3h 07m"),
])
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert ic.human_duration(delta) == expected


# --- answers ---------------------------------------------------------------------------------------


def ask(question: str, subject: Incident | None = None, open_incidents: list[Incident] | None = None,
        intent: str | None = None) -> ic.AgentAnswer:
    request = AgentRequest(text=question, now=T0 + timedelta(minutes=65), config=CONFIG, incident=subject,
                           open_incidents=open_incidents or [])
    return ic.answer(request, intent=intent or route(question))


def test_a_status_question_gets_the_full_report() -> None:
    answer = ask("what's the current status of INC-2026-1125-001?", incident())
    assert (answer.agent, answer.mode, answer.intent) == ("incident-commander", "deterministic", "status")
    assert answer.incident_id == "INC-2026-1125-001"
    assert "**Status**: INVESTIGATING" in answer.text_markdown and "<@U0ALICE>" in json.dumps(render.blocks_for(answer))
    assert answer.fallback_text.startswith("INC-2026-1125-001 (SEV2, INVESTIGATING)")


def test_narrow_questions_get_direct_answers() -> None:
    assert ask("who is IC?", incident()).text_markdown.startswith(
        "**Incident Commander of INC-2026-1125-001**: @U0ALICE")
    actions = ask("what's being done", incident()).text_markdown
    assert actions.startswith("**Next on INC-2026-1125-001**")
    assert "1. [ ] Investigate payment-api logs" in actions.split("### Open next actions")[1].split("###")[0]
    due = ask("when is the next update?", incident()).text_markdown
    assert due.startswith("**Next update for INC-2026-1125-001**: OVERDUE since 15:32 UTC (5m ago)")


def test_without_an_incident_the_open_ones_are_listed() -> None:
    other = incident(public_id="INC-2026-1125-002", title="Search down", severity="SEV1", channel_id="C0SEARCH")
    answer = ask("status?", None, [incident(), other])
    assert answer.incident_id is None and "This channel is not an incident war room." in answer.text_markdown
    markdown = answer.text_markdown
    assert markdown.index("INC-2026-1125-002") < markdown.index("INC-2026-1125-001")  # the SEV1 first
    assert "2 open incidents" in json.dumps(render.blocks_for(answer))
    assert "no open incidents" in ask("status?").text_markdown


def test_an_unknown_incident_id_is_said_so() -> None:
    answer = ask("status of INC-2026-1125-009?", None, [incident()])
    assert answer.text_markdown.startswith("I can't find INC-2026-1125-009.")
    assert "INC-2026-1125-001" in answer.text_markdown


def test_other_questions_get_what_can_be_answered() -> None:
    answer = ask("tell me a joke", incident())
    assert answer.intent == "help" and "`who is IC?`" in answer.text_markdown
    assert "This channel is about INC-2026-1125-001" in answer.text_markdown


def test_other_intents_say_which_agent_answers_them_and_give_status() -> None:
    answer = ask("run the runbook", incident(), intent="runbook")
    assert answer.intent == "runbook" and answer.agent == "incident-commander"
    assert "runbook-executor" in answer.text_markdown and "**Status**: INVESTIGATING" in answer.text_markdown


# --- handoff ---------------------------------------------------------------------------------------


def test_handoff_sums_up_the_incident_and_asks_for_a_postmortem_owner() -> None:
    resolved = incident(status=Status.RESOLVED, resolved_at=T0 + timedelta(minutes=58), summary=None)
    resolved.timeline.append(TimelineEvent(id=9, kind="alert", text="Alert fired",
                                           occurred_at=T0 - timedelta(minutes=7)))
    report = ic.handoff(resolved, T0 + timedelta(hours=3))
    assert report.summary == "No summary given"
    assert (report.duration, report.time_to_resolve) == ("1h 05m", "58m")
    assert [a.text for a in report.open_actions] == ["Investigate payment-api logs", "Prepare customer communication"]
    assert [(p.role, p.user_id) for p in report.participants] == [
        ("Incident Commander", "U0ALICE"), ("Scribe", "cli:carol"), ("Communications", "U0BOB")]
    assert report.prompt == "Assign a postmortem owner: `/incident assign postmortem @user`"
    markdown = ic.markdown.handoff(report)
    assert "**Time to resolve**: 58m (declared 2026-11-25 14:32 UTC)" in markdown
    assert "| Scribe | @carol | 14:32 UTC - 14:42 UTC |" in markdown
    blocks = json.dumps(slack_commander.handoff_blocks(report))
    assert "/incident assign postmortem @user" in blocks and "<@U0ALICE>" in blocks


def test_handoff_names_the_postmortem_owner_once_there_is_one() -> None:
    resolved = incident(status=Status.RESOLVED, resolved_at=T0 + timedelta(minutes=58), summary="Rolled back.")
    resolved.roles.append(RoleAssignment(id=9, role="Postmortem Owner", user_id="U0DAN", status="Active",
                                         since=T0 + timedelta(minutes=59)))
    report = ic.handoff(resolved, T0 + timedelta(hours=1))
    assert report.postmortem_owner == "U0DAN" and report.summary == "Rolled back."
    assert "Postmortem Owner" not in [p.role for p in report.participants]
    assert "*Postmortem owner*: <@U0DAN>" in json.dumps(slack_commander.handoff_blocks(report))


# --- router ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "intent"), [
    ("what's the current status of INC-2026-1125-001?", "status"),
    ("status?", "status"),
    ("who is IC?", "status"),
    ("is the status page updated?", "status"),
    ("the login page is slow", "status"),
    ("", "status"),
    ("why is checkout failing?", "investigate"),
    ("what caused this?", "investigate"),
    ("find the root cause", "investigate"),
    ("investigate the db", "investigate"),
    ("write the postmortem", "postmortem"),
    ("draft a post-mortem", "postmortem"),
    ("schedule a retro", "postmortem"),
    ("need a write-up", "postmortem"),
    ("run the failover runbook", "runbook"),
    ("restart api pods", "runbook"),
    ("should we rollback?", "runbook"),
    ("execute step 3", "runbook"),
    ("escalate to the db team", "escalate"),
    ("page the database on-call", "escalate"),
    ("notify legal", "escalate"),
    ("who is on-call for payments?", "escalate"),
    # Who has been paged is the escalation manager's; being paged oneself is not a request to page.
    ("has anyone been paged for this", "escalate"),
    ("was the db team notified?", "escalate"),
    ("I just got paged into this, what's going on?", "status"),
    # Whether a remedy worked is a question about the incident, not a request to run it.
    ("did the rollback fix it?", "status"),
    ("has the failover worked?", "status"),
    ("why did the rollback not work?", "investigate"),
])
def test_route(question: str, intent: str) -> None:
    assert route(question) == intent


@pytest.mark.parametrize(("question", "heading"), [
    ("is this over?", "**Is INC-2026-1125-001 resolved?**: Not resolved yet"),
    ("is that sorted?", "**Is INC-2026-1125-001 resolved?**: Not resolved yet"),
    ("did the rollback fix it?", "**Is INC-2026-1125-001 resolved?**: Not resolved yet"),
    ("did anything go out today?", "**Changes recorded on INC-2026-1125-001**"),
    ("anything ship in the last hour?", "**Changes recorded on INC-2026-1125-001**"),
    ("give me the short version", "**INC-2026-1125-001: Payment API <500> errors & more**"),
    ("anything I should know?", "**INC-2026-1125-001: Payment API <500> errors & more**"),
    ("what's blocking us?", "**Next on INC-2026-1125-001**"),
    ("anything I can take?", "**Next on INC-2026-1125-001**"),
    ("what do we need?", "**Next on INC-2026-1125-001**"),
])
def test_everyday_phrasings_get_the_answer_they_ask_for(question: str, heading: str) -> None:
    assert ask(question, incident()).text_markdown.startswith(heading)


def test_every_intent_has_an_agent() -> None:
    assert set(AGENT_FOR_INTENT) == set(INTENTS)
    assert set(AGENT_FOR_INTENT.values()) <= set(AGENTS)


# --- asked in the war room, as people ask --------------------------------------------------------------------


def _section_with(blocks: list[dict], heading: str) -> str:
    """The text of the one section that starts with `heading` (a title or a bold heading)."""
    [found] = [b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["text"].startswith(heading)]
    return found


def _row(section: str, start: str) -> str:
    [row] = [line for line in section.splitlines() if line.lstrip("•0123456789. ").startswith(start)]
    return row


def test_owners_and_open_items_are_answered_from_the_action_items_over_slack(sender: SlackSender, slack: FakeSlack,
                                                                             database_url: str) -> None:
    record = corpus.records("train")["rec-train-payment-api"]
    room = slack.add_channel("inc-payment-api")
    public_id = stored(database_url, record, room)

    asked = mention(sender, slack, room, "who owns the rollback?")
    [reply] = replies_to(slack, room, asked)
    blocks = reply["blocks"]
    # The owner is the one on the rollback item's row: dan, not alice the IC.
    answer = _section_with(blocks, "*Owner of #1 Roll back payment-api to v3.8.0*")
    assert answer.endswith(": <@U0XI3P2YCAP>")
    assert "U0C14AN35RK" not in json.dumps(blocks)

    asked = mention(sender, slack, room, "open action items + owners?")
    [reply] = replies_to(slack, room, asked)
    items = reply["blocks"][1]["text"]["text"]
    assert "owner <@U0XI3P2YCAP>" in _row(items, "#1 Roll back payment-api")
    assert "owner <@U0IWY0SQ3LT>" in _row(items, "#2 Alert on payments-db pool saturation at 80%")
    assert "unassigned" in _row(items, "#3 Load test the async capture path")
    # The card's checklist is not the action items.
    assert "Investigate payment-api logs" not in json.dumps(reply["blocks"])
    assert reply["blocks"][-1]["elements"][0]["text"].startswith(f"{public_id} · SEV2 · IDENTIFIED")


def test_a_catch_up_and_a_question_nobody_wrote_down_over_slack(sender: SlackSender, slack: FakeSlack,
                                                               database_url: str) -> None:
    record = corpus.records("train")["rec-train-invoice-exposure"]
    room = slack.add_channel("inc-invoices")
    stored(database_url, record, room)

    asked = mention(sender, slack, room, "fill me in please, what did I miss")
    [reply] = replies_to(slack, room, asked)
    blocks = reply["blocks"]
    declared_as = _section_with(blocks, "*Declared as*")
    assert "invoices of other companies in the billing portal" in declared_as
    happened = _section_with(blocks, "*What happened so far*").splitlines()[1:]
    # In time order, the deploy first and the flag turned off before the monitoring update.
    flag = next(i for i, line in enumerate(happened) if "invoice_list_cdn_cache turned off" in line)
    monitoring = next(i for i, line in enumerate(happened) if "Monitoring. Security is reviewing" in line)
    assert "deploy #5120" in happened[0] and flag < monitoring

    asked = mention(sender, slack, room, "what's the capital of peru")
    [reply] = replies_to(slack, room, asked)
    can_ask = _section_with(reply["blocks"], "*What you can ask*")
    assert "action items and their owners" in can_ask and "`who owns the rollback?`" in can_ask


def test_asking_in_slack_to_declare_declares_with_the_assessed_severity(sender: SlackSender, slack: FakeSlack,
                                                                        db: Engine) -> None:
    general = slack.add_channel("general")
    asked = mention(sender, slack, general, "declare an incident: webhooks to stripe failing since 10:05")
    [reply] = replies_to(slack, general, asked)
    public_id = reply["text"].split()[1]
    announced = reply["blocks"][0]["text"]["text"]
    assert f"*{public_id}*: *webhooks to stripe failing since 10:05*" in announced and "SEV2" in announced
    why = _section_with(reply["blocks"], "*Severity assessment*")
    assert why.splitlines()[1].startswith("• SEV2 for payments (payments and money movement)")
    query = text("SELECT severity, declared_by, setup_state, channel_id FROM incidents WHERE public_id = :p")

    def opened() -> tuple[str, ...] | None:
        with db.connect() as connection:
            row = tuple(connection.execute(query, {"p": public_id}).one())
        return row if row[2] == "done" else None

    severity, declared_by, _, room = wait_for(opened, what="war room")
    assert (severity, declared_by) == ("SEV2", "U0BOB")  # declared by whoever asked, as /incident declare does
    assert slack.channels[room]["name"].startswith(public_id.lower())


def test_duration_counts_from_the_impact_start_a_note_gives() -> None:
    noted = incident()
    noted.timeline.append(TimelineEvent(id=7, kind="note", text="impact started 14:20 UTC per the error graph",
                                        occurred_at=T0 + timedelta(minutes=5)))
    answer = ask("how long has this been going on?", noted).text_markdown
    assert answer.startswith("**Duration of INC-2026-1125-001**: 1h 17m, since 14:20 UTC (impact began)")
    late = incident(declared_at=datetime(2026, 11, 25, 0, 10, tzinfo=UTC))
    late.timeline = [TimelineEvent(id=1, kind="note", text="errors began at 23:50",
                                   occurred_at=datetime(2026, 11, 25, 0, 12, tzinfo=UTC))]
    request = AgentRequest(text="how long?", now=datetime(2026, 11, 25, 0, 30, tzinfo=UTC), config=CONFIG,
                           incident=late)
    assert "40m, since 2026-11-24 23:50 UTC (impact began)" in ic.answer(request).text_markdown
    assert "(declared (impact start not recorded))" in ask("how long has this been going on?", incident()).text_markdown


def test_a_request_carries_the_agent_settings_not_the_slack_or_paging_credentials() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-secret", pagerduty_api_key="pd-secret",
                        anthropic_api_key="sk-model", loki_url="http://loki:3100")
    request = AgentRequest(text="status?", now=T0, config=CONFIG, settings=settings)
    assert isinstance(request.settings, AgentSettings)
    assert request.settings.loki_url == "http://loki:3100"
    assert request.settings.anthropic_api_key is not None
    assert request.settings.anthropic_api_key.get_secret_value() == "sk-model"
    dumped = request.settings.model_dump_json()
    assert "xoxb" not in dumped and "pd-secret" not in dumped and not hasattr(request.settings, "slack_bot_token")
