"""Running an incident over the HTTP API: the /incident commands' changes, told in the war room."""

from __future__ import annotations

from sqlalchemy import Engine, text

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import AppServer


def kinds(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT kind FROM timeline_events WHERE kind NOT LIKE 'war_room.%' ORDER BY id")))


def test_the_lifecycle_over_the_api_is_posted_in_the_war_room(server: AppServer, slack: FakeSlack, db: Engine
                                                              ) -> None:
    http = server.api()
    api = f"{server.url}/api/v1/incidents"
    inc = http.post(api, json={"title": "Payments failing", "severity": "SEV2"}).json()["id"]
    room = wait_for(lambda: http.get(f"{api}/{inc}").json()["channel_id"], what="war room")
    wait_for(lambda: slack.pins.get(room), what="card pinned")

    changed = http.patch(f"{api}/{inc}", json={
        "update": "Pool exhausted since the flag went on", "status": "identified", "severity": "SEV1",
        "reason": "every checkout fails", "roles": {"comms": "U0BOB"}, "by": "carol"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["status"], body["severity"], body["warnings"]) == ("IDENTIFIED", "SEV1", [])
    assert {"role": "Communications", "user_id": "U0BOB"}.items() <= next(
        r for r in body["roles"] if r["role"] == "Communications").items()
    posts = [m["text"] for m in slack.messages(room)]
    assert ":bust_in_silhouette: <@U0BOB> is now Communications." in posts
    assert ":rotating_light: Severity changed SEV2 → *SEV1* by carol: every checkout fails" in posts
    assert ":loudspeaker: *Status update* (IDENTIFIED) from carol: Pool exhausted since the flag went on" in posts
    assert slack.channels[room]["topic"] == "SEV1 | IDENTIFIED | IC api"
    assert "Communications" in slack.direct_messages("U0BOB")[0]["text"]

    note = http.post(f"{api}/{inc}/timeline", json={"text": "Flag turned off", "by": "dave"})
    assert note.status_code == 201 and (note.json()["kind"], note.json()["actor"]) == ("note", "api:dave")

    before = kinds(db)
    for change, status, error in [
        ({"status": "closed"}, 409, f"{inc} is IDENTIFIED; resolve it before closing."),
        # Applied together or not at all: the severity is not lowered when the close is refused.
        ({"severity": "SEV3", "status": "closed"}, 409, f"{inc} is IDENTIFIED; resolve it before closing."),
        ({"severity": "SEV9"}, 400, "Unknown severity SEV9. Use one of SEV1, SEV2, SEV3, SEV4, SEV5."),
        ({"roles": {"wizard": "U0BOB"}}, 400, "Unknown role `wizard`. Roles: Incident Commander, Communications, "
                                              "Scribe, Subject Expert, Postmortem Owner."),
        ({"roles": {"scribe": "U0GHOST"}}, 400, "I can't find @U0GHOST in this workspace."),
        ({"status": "monitoring"}, 400, 'a status change to monitoring goes with an update: add "update": '
                                        '"what changed"'),
        ({}, 400, "nothing to change: give status, update, severity, summary or roles"),
    ]:
        refused = http.patch(f"{api}/{inc}", json=change)
        assert (refused.status_code, refused.json()) == (status, {"error": error}), change
    typo = http.patch(f"{api}/{inc}", json={"sevrity": "SEV3"})
    assert typo.status_code == 422 and "sevrity" in typo.json()["error"]
    assert http.patch(f"{api}/INC-2020-0101-001", json={"status": "closed"}).status_code == 404
    assert http.post(f"{api}/INC-2020-0101-001/timeline", json={"text": "x"}).status_code == 404
    assert kinds(db) == before and http.get(f"{api}/{inc}").json()["severity"] == "SEV1"

    resolved = http.patch(f"{api}/{inc}", json={"status": "resolved", "summary": "Flag off, pool drained"})
    assert resolved.json()["status"] == "RESOLVED"
    wait_for(lambda: "Flag off, pool drained" in str(slack.messages(room)[-1]["blocks"]), what="handoff")
    assert http.patch(f"{api}/{inc}", json={"status": "closed"}).json()["status"] == "CLOSED"
    assert http.patch(f"{api}/{inc}", json={"status": "investigating"}).json()["status"] == "INVESTIGATING"
    assert kinds(db)[-4:] == ["note", "resolved", "closed", "reopened"]
