"""The postmortem-writer on notes as people paste them, run as a user runs it:
`incidentbot agent run postmortem-writer --prompt "Create postmortem from these incident notes: ..."`.

Every check reads the place a reader looks: the Duration row, the Timeline table, the Detection and Response
rows, the Root Cause, Impact and What Went ... sections, and each action item's own row.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.db.migrate import upgrade
from tests.agent_corpus import corpus
from tests.agent_corpus.notes_score import Document, rows, score
from tests.test_cli import run

PROMPT = "Create postmortem from these incident notes: "
# Train sets whose known weak spots are not read yet, field by field (see README "Postmortems from notes").
KNOWN_WEAK: dict[str, list[str]] = {
    "notes-train-25": ["mitigated_at", "root_cause", "trigger", "lucky"],
    "notes-train-27": ["trigger"],
    "notes-train-28": ["duration", "end"],
    "notes-train-29": ["duration", "start", "end", "went_poorly"],
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = Path(tmp_path_factory.mktemp("notes")) / "cli.db"
    upgrade(f"sqlite:///{path}")
    return {"DATABASE_URL": f"sqlite:///{path}"}


def write(env: dict[str, str], notes: str) -> Document:
    result = run("agent", "run", "postmortem-writer", "--prompt", PROMPT + notes, env=env)
    assert result.returncode == 0, result.stderr
    return Document.parse(result.stdout)


def detection(doc: Document) -> dict[str, list[str]]:
    return {cells[0]: cells for cells in rows(doc.section("Detection and Response"))}


def actions(doc: Document) -> list[list[str]]:
    return rows(doc.section("Action Items"))


@pytest.mark.parametrize("case", corpus.notes("train"), ids=lambda case: case.id)
def test_training_notes_are_read_into_their_sections(env: dict[str, str], case: corpus.NotesCase) -> None:
    result = run("agent", "run", "postmortem-writer", "--prompt", PROMPT + case.notes, env=env)
    assert result.returncode == 0, result.stderr
    scored = score(case, result.stdout, date.today())
    assert [failure.split(":")[0] for failure in scored.failures] == KNOWN_WEAK.get(case.id, []), scored.failures


def test_twelve_hour_times_in_a_stated_zone_are_converted_to_utc_and_said_so(env: dict[str, str]) -> None:
    doc = write(env, "Checkout errors after the pricing deploy (all times Eastern)\nJul 3, 2025\n"
                     "- 2:10pm pricing-svc v5 deployed\n- 2:15pm errors on checkout, ~12% of requests fail\n"
                     "- 2:20pm Sam acked the page\n- 2:40pm rolled back to v4, error rate back to normal\n"
                     "- 3:05pm all clear")
    assert doc.summary["Duration"] == "25 minutes (18:15 - 18:40 UTC)"
    assert doc.summary["Time zone"] == ("Times are converted to UTC from Eastern (UTC-04:00), the zone the notes "
                                        "state")
    assert [cells[:2] for cells in rows(doc.section("Timeline"))] == [
        ["18:10", "14:10"], ["18:15", "14:15"], ["18:20", "14:20"], ["18:40", "14:40"], ["19:05", "15:05"]]
    rows_ = detection(doc)
    assert rows_["Time to acknowledge"][3] == "18:20"
    assert rows_["Time to mitigate"][3] == "18:40"
    assert rows_["Time to resolve"][3] == "19:05"
    assert "pricing-svc v5 deployed" in doc.section("Root Cause")  # the trigger, shown with the root cause
    assert doc.summary["Error Rate"] == "~12% of requests fail"


def test_owners_priorities_and_due_dates_stay_on_their_rows(env: dict[str, str]) -> None:
    doc = write(env, "Queue backlog 2025-05-20\n10:00 backlog alert\n10:30 workers scaled up, backlog back to "
                     "normal\n\nAction items\n- alert on consumer lag earlier (owner: rosa) P1\n"
                     "- @tariq document the scaling runbook by friday\n- Wen to add autoscaling on lag\n"
                     "- load test the consumers — Ivo, urgent\n- review the retry policy (no owner yet)\n"
                     "- [x] scale the workers (done during the incident)")
    table = {cells[2]: cells for cells in actions(doc)}
    assert table["Alert on consumer lag earlier"][1:4] == ["P1", "Alert on consumer lag earlier", "rosa"]
    assert table["Document the scaling runbook"][3:5] == ["tariq", "by friday (2025-05-23)"]
    assert table["Add autoscaling on lag"][3] == "Wen"
    assert table["Load test the consumers"][1:4] == ["urgent", "Load test the consumers", "Ivo"]
    assert table["Review the retry policy"][1:4] == ["-", "Review the retry policy", "unassigned"]
    assert table["Scale the workers"][5] == "done"


def test_what_the_notes_do_not_give_is_said_to_be_missing_in_its_place(env: dict[str, str]) -> None:
    doc = write(env, "api blip\n- 03:05 5xx spike on the api\n- 03:20 back to normal by itself")
    assert "not given in the notes" in doc.date_line and f"{date.today():%B %-d, %Y}" not in doc.date_line
    assert doc.section("Root Cause").startswith("Not established: the notes do not state a root cause")
    assert detection(doc)["Time to acknowledge"][3] == "not recorded"
    assert detection(doc)["Time to mitigate"][3] == "not recorded"
    impact = doc.section("Impact")
    assert "- **Customers Affected**: not recorded" in impact and "- **Revenue Impact**: not recorded" in impact


def test_labelled_facts_land_in_their_sections(env: dict[str, str]) -> None:
    doc = write(env, "Search outage 2025-02-02\n09:00 search 5xx, all requests fail\n09:02 Ana acknowledged the "
                     "page\n09:20 index rebuilt, search back to normal\n\nRoot cause: the nightly job wrote an empty "
                     "index alias\nCustomers affected: ~3,100 shoppers\nRevenue: about $8k in lost orders\n"
                     "Regions: eu-central-1")
    assert doc.section("Root Cause").startswith("the nightly job wrote an empty index alias")
    impact = doc.section("Impact")
    assert "- **Customers Affected**: ~3,100 shoppers" in impact
    assert "- **Revenue Impact**: about $8k in lost orders" in impact
    assert "- **Regions**: eu-central-1" in impact
    assert "The page was acknowledged" not in doc.section("What Went Poorly")


def test_findings_come_from_the_notes_facts(env: dict[str, str]) -> None:
    doc = write(env, "Billing emails 2025-09-09 (times UTC)\n05:00 invoice mails start bouncing\n"
                     "05:02 BillingMailErrors alert paged the on-call, nobody acked\n"
                     "08:10 support ticket: customers got no invoice\n08:25 Jo restarted the mailer\n"
                     "08:30 mails sending again, closed")
    poorly = doc.section("What Went Poorly")
    assert "The page was not acknowledged: 05:02" not in poorly  # the time is shown with the clause, not first
    assert "The page was not acknowledged" in poorly and "nobody acked" in poorly
    assert detection(doc)["Time to acknowledge"][3] == "not recorded"


def test_an_action_that_did_not_help_is_not_the_mitigation(env: dict[str, str]) -> None:
    doc = write(env, "cache outage 2025-05-05\n10:00 5xx on product pages\n10:04 ana acked\n"
                     "10:10 restarted the cache pods, didn't help\n10:25 failed over to the standby cache cluster\n"
                     "10:27 errors back to normal\n10:40 resolved")
    assert detection(doc)["Time to mitigate"][3] == "10:25"
    assert doc.summary["Duration"] == "27 minutes (10:00 - 10:27 UTC)"


@pytest.mark.parametrize("took_it", ["Ken took the page", "pager accepted by Jo", "Jo on it",
                                     "on-call (Jo) picked it up", "maria: got it, looking"])
def test_the_usual_ways_of_taking_a_page_are_the_acknowledgement(env: dict[str, str], took_it: str) -> None:
    doc = write(env, f"orders api 5xx 2025-05-05\n10:00 5xx alert on orders-api\n10:04 {took_it}\n"
                     "10:20 rolled back to v41\n10:25 errors back to normal\n10:40 resolved")
    assert detection(doc)["Time to acknowledge"][3] == "10:04"


def test_a_look_without_a_page_is_not_an_acknowledgement(env: dict[str, str]) -> None:
    doc = write(env, "orders api 5xx 2025-05-05\n10:00 errors on orders-api\n10:04 we got it working on one pod\n"
                     "10:20 rolled back to v41\n10:40 resolved")
    assert detection(doc)["Time to acknowledge"][3] == "not recorded"


@pytest.mark.parametrize("remedy", ["workaround applied", "mitigation applied: consumer group reset",
                                    "routed around the bad node", "rate limit added for the abusive client",
                                    "applied the mitigation from the runbook"])
def test_a_remedy_said_to_be_in_place_is_the_mitigation(env: dict[str, str], remedy: str) -> None:
    doc = write(env, f"webhook delays 2025-05-05\n10:00 webhook deliveries failing\n10:03 Ana acked\n"
                     f"10:12 {remedy}\n10:30 backlog drained, deliveries current\n10:45 closed")
    assert detection(doc)["Time to mitigate"][3] == "10:12"


def test_a_remedy_only_started_is_not_the_mitigation(env: dict[str, str]) -> None:
    doc = write(env, "webhook delays 2025-05-05\n10:00 webhook deliveries failing\n10:12 rollback started\n"
                     "10:18 rollback complete\n10:45 closed")
    assert detection(doc)["Time to mitigate"][3] == "10:18"


@pytest.mark.parametrize(("back", "end"), [("graphs look normal", "10:25"), ("latency normal", "10:25"),
                                           ("no more errors", "10:25"), ("latency still not normal", "10:20")])
def test_a_measure_said_to_be_normal_again_ends_the_impact(env: dict[str, str], back: str, end: str) -> None:
    # Not back yet: the impact ends with the mitigation (10:20), the last thing the notes say changed.
    doc = write(env, f"checkout slow 2025-05-05\n10:00 checkout latency alert\n10:20 added more replicas\n"
                     f"10:25 {back}\n10:40 all clear")
    assert doc.summary["Duration"].endswith(f"- {end} UTC)")


def test_ending_the_incident_is_its_resolution(env: dict[str, str]) -> None:
    doc = write(env, "checkout slow 2025-05-05\n10:00 checkout latency alert\n10:20 added more replicas\n"
                     "10:25 latency back to normal\n10:50 ended the incident, postmortem to follow")
    assert detection(doc)["Time to resolve"][3] == "10:50"


def test_owners_in_every_common_form_are_on_their_rows(env: dict[str, str]) -> None:
    doc = write(env, "Login outage 2025-06-10 (Tuesday)\n15:00 login 503s\n15:20 traffic shifted to standby\n\n"
                     "Action items\n- AI: priya - add a readiness probe, P1, by Friday\n"
                     "- Ravi will write the failover runbook (high) EOW\n- carol to review the escalation policy\n"
                     "- [owner: sam] alert on login success rate, due 2025-06-20\n"
                     "- assigned to deepa: load test the standby, urgent\n"
                     "- Write a restore drill (Owner: Tom Lee, P2, due next sprint)\n"
                     "- Alert on queue depth. Owner: platform-team. Priority: high. Due: 2025-07-10\n"
                     "- TODO(mike): add a circuit breaker\n- Investigate pool sizing -- Sara (high priority)\n"
                     "- nobody owns this yet: rotate the shared secret")
    table = {cells[2]: cells[1:5] for cells in actions(doc)}
    assert table["Add a readiness probe"] == ["P1", "Add a readiness probe", "priya", "by Friday (2025-06-13)"]
    assert table["Write the failover runbook"] == ["high", "Write the failover runbook", "Ravi", "EOW (2025-06-13)"]
    assert table["Review the escalation policy"][2] == "carol"
    assert table["Alert on login success rate"][2:] == ["sam", "due 2025-06-20 (2025-06-20)"]
    assert table["Load test the standby"] == ["urgent", "Load test the standby", "deepa", "-"]
    assert table["Write a restore drill"] == ["P2", "Write a restore drill", "Tom Lee", "next sprint"]
    assert table["Alert on queue depth"][:3] == ["high", "Alert on queue depth", "platform-team"]
    assert table["Alert on queue depth"][3].endswith("(2025-07-10)")
    assert table["Add a circuit breaker"][2] == "mike"
    assert table["Investigate pool sizing"][2] == "Sara"
    assert table["Rotate the shared secret"][2] == "unassigned"


def test_a_verb_before_to_is_not_an_owner(env: dict[str, str]) -> None:
    doc = write(env, "db upgrade 2025-06-10\n15:00 writes failing\n15:20 failed over\n\n"
                     "Action items\n- move to the managed pooler\n- upgrade to postgres 16")
    assert [cells[3] for cells in actions(doc)] == ["unassigned", "unassigned"]


def test_a_notepads_question_word_labels_are_its_sections(env: dict[str, str]) -> None:
    doc = write(env, "PARTNER API / 401s - 2025-08-12 - UTC\n\n"
                     "WHAT: the partner API answered 401 for every request after the auth proxy upgrade.\n\n"
                     "WHEN:\n 09:58 auth proxy upgraded to 3.4\n 10:00 first 401 to partners\n"
                     " 10:20 partner email \"integration failing\" (nobody monitors that mailbox)\n"
                     " 10:31 Jun is on it\n 10:40 partner routes exempted from the new policy\n"
                     " 10:44 partner calls succeeding again\n 11:00 closed\n\n"
                     "HOW MANY: 37 partners, about 12,400 failed calls\n\n"
                     "WHY: the upgrade turned on token binding for every route.\n\n"
                     "NEXT:\n AI: contract tests for partner routes -> @jun\n"
                     " AI: route partner mail to the pager [owner: ops]")
    assert doc.summary["Duration"] == "44 minutes (10:00 - 10:44 UTC)"
    assert detection(doc)["Time to mitigate"][3] == "10:40"
    assert doc.section("Root Cause").startswith("the upgrade turned on token binding for every route")
    assert "auth proxy upgraded to 3.4" in doc.section("Root Cause").split("**Trigger**")[1]
    assert "37 partners" in doc.summary["Customers Affected"]
    assert "401 for every request" in doc.summary["Error Rate"]
    assert "nobody monitors that mailbox" in doc.section("What Went Poorly")
    table = {cells[2]: cells[3] for cells in actions(doc)}
    assert table == {"Contract tests for partner routes": "jun", "Route partner mail to the pager": "ops"}


def test_a_city_or_tz_database_zone_is_converted_and_a_spelt_out_date_read(env: dict[str, str]) -> None:
    doc = write(env, "Android app crash - notes by Inès\n\nRecap of the 5th of May 2025 (hours are Madrid time).\n"
                     "- 8h10 : version 7.1.0 released to everyone\n"
                     "- 8h40 : crash rate alert, crash-free sessions at 88%\n"
                     "- 8h44 : Inès takes the alert\n- 11h30 : 7.1.1 is approved and released\n"
                     "- 12h15 : crash-free sessions back to 99.7%, we close the incident\n\n"
                     "What was good : the crash alert fired quickly\n"
                     "What was not good : no staged rollout for 7.1.0\n\n"
                     "Actions :\n* Marc : add a staged rollout step (priority high)\n"
                     "* Crash budget gate in CI, Lucia is in charge, before next release\n"
                     "* Review the crash dashboards — later")
    assert doc.date_line == "**Date**: May 5, 2025"
    assert doc.summary["Time zone"].startswith("Times are converted to UTC from Madrid time (UTC+02:00)")
    rows_ = detection(doc)
    assert (rows_["Time to acknowledge"][3], rows_["Time to mitigate"][3], rows_["Time to resolve"][3]) == (
        "06:44", "09:30", "10:15")
    assert "version 7.1.0 released to everyone" in doc.section("Root Cause").split("**Trigger**")[1]
    assert "crash-free sessions at 88%" in doc.summary["Error Rate"]
    assert "The crash alert fired quickly" in doc.section("What Went Well")
    assert "No staged rollout for 7.1.0" in doc.section("What Went Poorly")
    table = {cells[2]: cells[1:5] for cells in actions(doc)}
    assert table["Add a staged rollout step"] == ["high", "Add a staged rollout step", "Marc", "-"]
    assert table["Crash budget gate in CI"][2:] == ["Lucia", "before next release"]
    assert table["Review the crash dashboards"][2:] == ["unassigned", "later"]


def test_times_in_a_tz_database_zone(env: dict[str, str]) -> None:
    doc = write(env, "Search slow 2025-01-14 (times in America/New_York)\n09:00 search latency alert\n"
                     "09:03 Kim acked\n09:20 rolled back the analyzer change\n09:25 latency normal\n09:40 resolved")
    assert doc.summary["Duration"] == "25 minutes (14:00 - 14:25 UTC)"  # EST in January: UTC-5


def test_due_dates_said_as_spans_and_month_ends(env: dict[str, str]) -> None:
    doc = write(env, "Admin panel logins 2025-10-02\n07:58 suspicious admin logins flagged\n"
                     "08:30 admin sessions revoked\n\n"
                     "Action items\n1. Notify affected customers — Legal (Rosa), 48h from discovery\n"
                     "2. Schema checks on import (data team, by end of month)\n"
                     "3. Lockout on admin login — ping the secondary too: Dana")
    table = {cells[2]: cells[3:5] for cells in actions(doc)}
    assert table["Notify affected customers"] == ["Legal (Rosa)", "48h from discovery (2025-10-04)"]
    assert table["Schema checks on import"] == ["data team", "by end of month (2025-10-31)"]
    assert table["Lockout on admin login"][0] == "Dana"


def test_a_teams_thread_with_surname_first_headers(env: dict[str, str]) -> None:
    doc = write(env, "Teams thread for the review. Times are UTC. Tue 11 Mar 2025\n\n"
                     "[9:02 AM] Silva, Marta\nGetting reports from the Porto warehouse that labels print blank\n\n"
                     "[9:05 AM] Silva, Marta\nconfirmed, every label since the 8:50 template publish is blank\n\n"
                     "[9:11 AM] Berg, Jonas\nreverted the label template\n\n"
                     "[9:14 AM] Berg, Jonas\nlabels printing again\n\n"
                     "[9:20 AM] Silva, Marta\n112 orders shipped without labels between 8:50 and 9:14, re-shipping "
                     "cost ~€1,300. Jonas pls own the reprint run today\n\n"
                     "[9:40 AM] Berg, Jonas\nclosing. The tests only render the default template.\n\n"
                     "[9:41 AM] Berg, Jonas\nAIs: me - render every template in CI (P1). Marta - tell the carriers, "
                     "tomorrow")
    assert doc.title.startswith("Labels print blank")
    timeline = rows(doc.section("Timeline"))
    assert ["09:02", "Marta Silva: Getting reports from the Porto warehouse that labels print blank"] in [
        cells[:2] for cells in timeline]
    assert detection(doc)["Time to mitigate"][3] == "09:11"
    assert detection(doc)["Time to resolve"][3] == "09:40"
    assert "112 orders" in doc.summary["Customers Affected"]
    assert "€1,300" in doc.summary["Revenue Impact"]
    poorly = doc.section("What Went Poorly")
    assert "People outside the response reported the problem first" in poorly
    assert "Tests did not cover it: The tests only render the default template" in poorly
    table = {cells[2]: cells[1:5] for cells in actions(doc)}
    assert table["Render every template in CI"] == ["P1", "Render every template in CI", "Jonas Berg", "-"]
    assert table["Tell the carriers"][2:] == ["Marta", "tomorrow (2025-03-12)"]
    assert table["The reprint run"][2:] == ["Jonas", "today (2025-03-11)"]


def test_a_date_that_reads_both_ways_says_how_it_was_read(env: dict[str, str]) -> None:
    settled = write(env, "api errors 4/12/2025 (all times US Eastern)\n10:00 errors on the api\n10:20 rolled back")
    assert settled.date_line == ("**Date**: April 12, 2025 (written 4/12/2025, read as month/day from the stated zone "
                                 "(US Eastern))")
    guessed = write(env, "api errors 4/12/2025\n10:00 errors on the api\n10:20 rolled back")
    assert guessed.date_line.startswith("**Date**: December 4, 2025 (written 4/12/2025, which reads both ways")
    assert "it could be April 12, 2025" in guessed.date_line


def test_a_notion_page_with_key_value_and_timeline_tables(env: dict[str, str]) -> None:
    doc = write(env, "# PIR – checkout latency during the cache migration\n\nDate: 2025-03-04\n\n"
                     "## Customer impact\n| | |\n|---|---|\n| Error rate | 8% of checkouts (peak 20%) |\n"
                     "| Customers | not measured |\n| Revenue | unknown |\n\n"
                     "## Timeline\n| Time (CET) | Event |\n|---|---|\n| 10:00 | cache migration started |\n"
                     "| 10:04 | checkout latency alert fires |\n| 10:06 | Ada acks, pauses the migration |\n"
                     "| 10:20 | checkout error rate back to normal |\n| 10:30 | incident closed |")
    assert doc.title == "Checkout latency during the cache migration"
    assert doc.summary["Error Rate"] == "8% of checkouts (peak 20%)"
    impact = doc.section("Impact")
    assert "- **Revenue Impact**: not recorded (the notes: \"unknown\")" in impact
    assert "- **Customers Affected**: not recorded (the notes: \"not measured\")" in impact
    rows_ = detection(doc)
    assert (rows_["Time to acknowledge"][3], rows_["Time to mitigate"][3]) == ("09:06", "09:06")


def test_a_chat_log_with_no_cause_and_a_follow_up_said_in_passing(env: dict[str, str]) -> None:
    doc = write(env, "#payments log\n09:10 <ivy> payments-api throwing 502s, maybe 1 in 10 requests\n"
                     "09:12 <ivy> alert PaymentsApi5xx, I've got it\n09:30 <raj> restarted the pods, no change\n"
                     "09:44 <ivy> 502s stopped by themselves\n09:55 <raj> calling it, we still have no idea why\n"
                     "10:00 <ivy> we need packet captures on the api next time. i'll write a script for that")
    assert doc.title.startswith("Payments-api throwing 502s")
    assert doc.summary["Error Rate"] == "maybe 1 in 10 requests"
    assert "The cause was not found: calling it, we still have no idea why" in doc.section("What Went Poorly")
    assert detection(doc)["Time to mitigate"][3] == "not recorded"
    [item] = actions(doc)
    assert item[2:4] == ["Packet captures on the api next time", "ivy"]


def test_work_said_during_the_incident_is_not_a_follow_up(env: dict[str, str]) -> None:
    doc = write(env, "api errors 2025-03-04\n09:10 api 5xx alert\n09:12 we need to restart the workers\n"
                     "09:20 restarted the workers, errors back to normal")
    assert "Restart the workers" not in doc.section("Action Items")


def test_a_forwarded_mail_dates_the_incident_by_its_body_not_its_sent_date(env: dict[str, str]) -> None:
    doc = write(env, "---------- Forwarded message ---------\nFrom: Omar Haddad\nDate: Sat, Jun 7, 2025 at 8:05 AM\n"
                     "Subject: overnight export notes\n\nAll times UTC. Everything before midnight is Friday Jun 6.\n\n"
                     "22:10 nightly export job started, normally done by 22:40\n"
                     "22:55 ExportLate alert paged me, acked 22:57\n"
                     "23:30 partner SFTP cutoff missed\n00:20 export resent, partner confirmed receipt\n"
                     "01:00 closing the incident\n\n"
                     "Impact window: from the missed 23:30 cutoff until the partner confirmed receipt at 00:20.\n"
                     "Revenue: late fees waived, est. $4k")
    assert doc.date_line == "**Date**: June 6, 2025"
    assert doc.summary["Duration"] == "50 minutes (2025-06-06 23:30 - 2025-06-07 00:20 UTC)"
    assert detection(doc)["Time to acknowledge"][3] == "22:57"  # the alert on the late job, before the cutoff
    assert "est. $4k" in doc.summary["Revenue Impact"]
    assert "22:40" not in [cells[0][-5:] for cells in rows(doc.section("Timeline"))]  # a norm, not an event


def test_a_zero_padded_time_stays_on_the_24_hour_clock(env: dict[str, str]) -> None:
    doc = write(env, "db failover 2025-05-06\n21:40 replica lag alert, Mei acked 9:45 PM\n"
                     "22:15 primary down, writes failing\n22:16 failover promoted the replica\n"
                     "22:17 writes succeeding on the new primary\n06:30 incident resolved")
    rows_ = detection(doc)
    assert (rows_["Time to mitigate"][3], rows_["Time to resolve"][3]) == ("22:16", "06:30")
    assert doc.summary["Duration"].endswith("22:17 UTC)")


def test_a_quick_remedy_of_any_kind_went_well_and_a_backlog_worked_off_ends_the_impact(env: dict[str, str]) -> None:
    doc = write(env, "webhook delays 2025-04-12\n09:10 webhook deliveries start lagging\n09:12 lag alert paged Ana\n"
                     "09:14 Ana acked\n09:20 traffic shifted to the standby consumers\n"
                     "09:35 backlog drained, deliveries current\n09:50 resolved")
    assert doc.summary["Duration"] == "25 minutes (09:10 - 09:35 UTC)"
    well = doc.section("What Went Well")
    assert "Quick mitigation, 8 minutes after detection: traffic shifted to the standby consumers (09:20 UTC)" in well


def test_an_alert_titles_service_tag_is_kept_and_a_ratio_is_a_rate_not_a_count(env: dict[str, str]) -> None:
    doc = write(env, "PagerDuty incident #4410 – [invoice-mailer] Queue depth > 10k\n\nActivity log\n"
                     "3 Mar 2025 08:00:10  Alert triggered\n3 Mar 2025 08:03:00  Acknowledged by Eva\n"
                     "3 Mar 2025 08:40:00  restarted the mailer workers, queue draining\n"
                     "3 Mar 2025 09:10:00  Resolved by Eva\n\n"
                     "Summary\nInvoice mails were delayed from 08:00 to 08:55. Only 1 in 8 mails was hit. "
                     "~2,400 invoices affected.")
    assert doc.title.startswith("Invoice-mailer Queue depth")
    assert doc.summary["Customers Affected"] == "~2,400 invoices affected"
    assert doc.summary["Error Rate"] == "Only 1 in 8 mails was hit"


def test_contributing_factors_have_their_section_and_went_poorly(env: dict[str, str]) -> None:
    doc = write(env, "Reports export outage 2025-06-02\n10:00 report exports failing\n"
                     "10:20 rolled back the exporter\n\n"
                     "Contributing factors\n- The exporter had no canary stage\n- Retries doubled the load on the db")
    assert "1. The exporter had no canary stage" in doc.section("Contributing Factors")
    poorly = doc.section("What Went Poorly")
    assert "The exporter had no canary stage" in poorly and "Retries doubled the load on the db" in poorly
