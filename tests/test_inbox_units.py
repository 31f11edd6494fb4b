"""The inbox's parts on their own, on both databases: the claim recorded with the change, the spool, and
a worker that retries what failed for a transient reason and gives up on what can't succeed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.db.base import utcnow
from app.inbox import claims
from app.inbox.models import InboxItem
from app.inbox.service import Inbox
from app.inbox.spool import Spool
from app.inbox.worker import Handler, InboxWorker
from app.incidents.models import DaySequence, ProcessedRequest
from app.runtime import Runtime


async def keys(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        return sorted(await session.scalars(select(ProcessedRequest.key)))


async def test_the_claim_is_recorded_by_the_first_writing_transaction_only(runtime: Runtime) -> None:
    with claims.handling("req:1"):
        async with runtime.sessions() as session, session.begin():
            await session.execute(text("SELECT 1"))  # a read records nothing
        assert await keys(runtime) == []
        async with runtime.sessions() as session, session.begin():
            session.add(DaySequence(day="20260101", last_seq=1))
        async with runtime.sessions() as session, session.begin():
            session.add(DaySequence(day="20260102", last_seq=1))
    assert await keys(runtime) == ["req:1"]
    with pytest.raises(IntegrityError) as refused, claims.handling("req:1"):
        async with runtime.sessions() as session, session.begin():
            session.add(DaySequence(day="20260103", last_seq=1))
    assert claims.is_duplicate(refused.value)
    async with runtime.sessions() as session:  # the repeated change was rolled back with its claim
        assert await session.get(DaySequence, "20260103") is None


async def test_a_rolled_back_change_leaves_the_key_free_for_its_retry(runtime: Runtime) -> None:
    with claims.handling("req:2"):
        with pytest.raises(RuntimeError):
            async with runtime.sessions() as session, session.begin():
                session.add(DaySequence(day="20260104", last_seq=1))
                await session.flush()
                raise RuntimeError("Slack refused, say")
        async with runtime.sessions() as session, session.begin():
            session.add(DaySequence(day="20260104", last_seq=1))
    assert await keys(runtime) == ["req:2"]


async def test_an_old_click_does_not_block_a_new_one_but_a_double_click_does(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        session.add(ProcessedRequest(key="click", processed_at=utcnow() - timedelta(minutes=5)))
    with claims.handling("click", window=timedelta(seconds=60)):
        async with runtime.sessions() as session, session.begin():
            session.add(DaySequence(day="20260105", last_seq=1))
    async with runtime.sessions() as session:
        assert await claims.handled_before(session, "click", timedelta(seconds=60))


def test_the_spool_keeps_whole_records_in_order_and_sets_bad_ones_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    now = utcnow()
    spool.put("a", '{"n": 1}', now)
    spool.put("b", '{"n": 2}', now)
    (tmp_path / "spool" / "00000000000000000000-torn.json").write_text('{"key": "c", "bo')
    assert [(s.key, s.body) for s in spool.pending()] == [("a", '{"n": 1}'), ("b", '{"n": 2}')]
    assert list((tmp_path / "spool").glob("*.bad"))
    assert not list((tmp_path / "spool").glob("*.part"))


class Flaky(Exception):
    pass


async def test_the_worker_retries_transient_failures_and_gives_up_on_permanent_ones(
        runtime: Runtime, tmp_path: Path) -> None:
    inbox = Inbox(runtime.sessions, Spool(tmp_path / "spool"))
    tries: dict[str, int] = {}
    told: list[str] = []

    async def handle(item: InboxItem) -> None:
        tries[item.key] = tries.get(item.key, 0) + 1
        if item.key == "flaky" and tries[item.key] < 3:
            raise Flaky("429")
        if item.key == "broken":
            raise ValueError("no such channel")

    async def gave_up(item: InboxItem, exc: BaseException) -> None:
        told.append(f"{item.key}: {exc}")

    worker = InboxWorker(inbox, Handler(handle, lambda exc, _: 0.0 if isinstance(exc, Flaky) else None, gave_up))
    for key in ("ok", "flaky", "broken", "ok"):  # the second "ok" is a redelivery: stored once
        await inbox.accept(key, "{}")
    for _ in range(3):
        await worker.run_once()
    assert tries == {"ok": 1, "flaky": 3, "broken": 1}
    assert told == ["broken: no such channel"]
    async with runtime.sessions() as session:
        states = {key: state for key, state in await session.execute(select(InboxItem.key, InboxItem.state))}
    assert states == {"ok": "done", "flaky": "done", "broken": "failed"}
