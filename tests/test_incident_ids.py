"""Incident ids under concurrency: two service processes on one Postgres, declares racing on both, get
distinct ids numbered 1, 2, 3... within each UTC day."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text

DECLARES = 24


def numbers_by_day(public_ids: list[str]) -> dict[str, list[int]]:
    """INC-2026-1204-007 -> {"2026-1204": [7]}: a run across midnight UTC starts the next day at 1."""
    days: dict[str, list[int]] = defaultdict(list)
    for public_id in public_ids:
        prefix, number = public_id.rsplit("-", 1)
        days[prefix].append(int(number))
    return {day: sorted(numbers) for day, numbers in days.items()}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_processes_declaring_at_once_hand_out_distinct_sequential_ids(
    app_env: dict[str, str], slack: FakeSlack, db: Engine
) -> None:
    with AppServer(app_env) as first, AppServer(app_env) as second:
        senders = [SlackSender(s.url, "test-signing-secret", slack) for s in (first, second)]
        with ThreadPoolExecutor(max_workers=DECLARES) as pool:
            replies = list(pool.map(
                lambda n: ack_text(senders[n % 2].command(f"declare SEV3 Outage {n}")), range(DECLARES)))
    ids = [reply.split("*")[1] for reply in replies]
    assert len(set(ids)) == DECLARES, replies
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in numbers_by_day(ids).values()), ids
    with db.connect() as c:
        stored = sorted(c.scalars(text("SELECT public_id FROM incidents")))
        last = c.execute(text("SELECT day, last_seq FROM incident_day_sequences")).all()
    assert stored == sorted(ids)
    assert sum(seq for _, seq in last) == DECLARES  # no number handed out and lost
