"""Action items over a session: add, list, look up by number, tick off, and find the overdue ones.

The caller owns the transaction: nothing here commits.

Numbers: an item's number ("#3") is its 1-based rank by id among its incident's items, so it never
changes when priorities or statuses do. Callers that add items hold the incident row lock (as every
incident change does), so items of one incident get their ids, and so their numbers, in order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.action_items.models import ActionItem, ActionStatus, Priority
from app.incidents import service as incidents
from app.incidents.models import Incident, Source
from app.incidents.render import SLACK_USER_ID

EVENT_KIND = "action_item"
MAX_TEXT = 500  # the column's length


# --- reading ---------------------------------------------------------------------------------------

async def for_incident(session: AsyncSession, incident_id: int) -> list[ActionItem]:
    """The incident's items, most urgent first (P0 before P3), then in the order they were added."""
    stmt = select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(
        ActionItem.priority, ActionItem.id)
    return list((await session.scalars(stmt)).all())


async def get(session: AsyncSession, incident_id: int, number: int) -> ActionItem | None:
    """The item numbered `number` on the incident: the number-th added (1-based rank by id)."""
    if number < 1:
        return None
    stmt = (select(ActionItem).where(ActionItem.incident_id == incident_id)
            .order_by(ActionItem.id).offset(number - 1).limit(1))
    return await session.scalar(stmt)


async def number_of(session: AsyncSession, item: ActionItem) -> int:
    """The item's number on its incident (see the module docstring)."""
    stmt = select(func.count()).select_from(ActionItem).where(
        ActionItem.incident_id == item.incident_id, ActionItem.id <= item.id)
    return int(await session.scalar(stmt) or 0)


def numbers(items: Sequence[ActionItem]) -> dict[int, int]:
    """Item id → number, for all of one incident's items (as for_incident returns them)."""
    return {item.id: n for n, item in enumerate(sorted(items, key=lambda i: i.id), start=1)}


def is_overdue(item: ActionItem, today: date) -> bool:
    return item.status == ActionStatus.OPEN and item.due_on is not None and item.due_on < today


# --- changing --------------------------------------------------------------------------------------

async def add(session: AsyncSession, incident: Incident, *, text: str, owner: str | None = None,
              priority: Priority = Priority.P2, due_on: date | None = None, source: str,
              created_by: str | None, dedup_key: str | None = None) -> ActionItem | None:
    """Record an item and put it on the incident's timeline.

    Returns None, adding nothing, when an item with `dedup_key` already exists: checked first, and
    the unique constraint catches one added concurrently (inside a savepoint, so the caller's
    transaction carries on).
    """
    if dedup_key is not None and await session.scalar(
            select(ActionItem.id).where(ActionItem.dedup_key == dedup_key)) is not None:
        return None
    item = ActionItem(incident_id=incident.id, text=text, owner=owner, priority=Priority(priority), due_on=due_on,
                      status=ActionStatus.OPEN, source=source, created_by=created_by, dedup_key=dedup_key)
    if dedup_key is None:
        session.add(item)
        await session.flush()
    elif not await _added_once(session, item):
        return None
    number = await number_of(session, item)
    await incidents.add_event(session, incident, kind=EVENT_KIND, text=f"Action item #{number} "
                              f"({describe(item)}): {text}", actor=created_by, source=_event_source(source))
    return item


async def _added_once(session: AsyncSession, item: ActionItem) -> bool:
    """Insert an item that has a dedup key; False when one with that key was added meanwhile."""
    try:
        async with session.begin_nested():
            session.add(item)
    except IntegrityError:
        return False
    return True


async def mark_done(session: AsyncSession, item: ActionItem, by: str | None, now: datetime) -> None:
    """Tick the item off, on the timeline too; an item already done is left as it is."""
    if item.status == ActionStatus.DONE:
        return
    item.status, item.done_by, item.done_at = ActionStatus.DONE, by, now
    await _record(session, item, "done", by, now)


async def reopen(session: AsyncSession, item: ActionItem, by: str | None, now: datetime) -> None:
    """Open a done item again (the work turned out not to be finished); an open item is left as it is."""
    if item.status == ActionStatus.OPEN:
        return
    item.status, item.done_by, item.done_at = ActionStatus.OPEN, None, None
    await _record(session, item, "reopened", by, now)


async def _record(session: AsyncSession, item: ActionItem, what: str, by: str | None, now: datetime) -> None:
    await session.flush()
    incident = await session.get(Incident, item.incident_id)
    assert incident is not None  # the foreign key guarantees it
    number = await number_of(session, item)
    await incidents.add_event(session, incident, kind=EVENT_KIND, text=f"Action item #{number} {what}: {item.text}",
                              actor=by, occurred_at=now)


def describe(item: ActionItem) -> str:
    """"P1, <@U123>, due 2024-12-21": priority, then owner and due date when there are any.

    Slack user ids are kept as mentions, like all timeline text; team handles read as written.
    """
    parts = [str(item.priority)]
    if item.owner:
        parts.append(f"<@{item.owner}>" if SLACK_USER_ID.match(item.owner) else item.owner)
    if item.due_on:
        parts.append(f"due {item.due_on.isoformat()}")
    return ", ".join(parts)


def _event_source(source: str) -> Source:
    """Timeline sources are slack, cli, api or system; anything else (a postmortem) is the system's doing."""
    try:
        return Source(source)
    except ValueError:
        return Source.SYSTEM


# --- overdue reminders -----------------------------------------------------------------------------

async def overdue(session: AsyncSession, today: date) -> list[ActionItem]:
    """Open items past their due date, with an owner, not yet reminded today; longest overdue first."""
    stmt = (
        select(ActionItem)
        .where(
            ActionItem.status == ActionStatus.OPEN,
            ActionItem.due_on < today,
            ActionItem.owner.is_not(None),
            or_(ActionItem.reminded_on.is_(None), ActionItem.reminded_on < today),
        )
        .order_by(ActionItem.due_on, ActionItem.id)
    )
    return list((await session.scalars(stmt)).all())


async def claim_reminder(session: AsyncSession, item_id: int, today: date) -> bool:
    """Mark the item reminded today, only if nobody has: True means this caller sends the reminder.

    A compare-and-set on reminded_on: of two replicas that both found the item overdue, exactly one
    UPDATE matches the row, and none does again until tomorrow. An item ticked off meanwhile is not claimed.
    """
    result = await session.execute(
        update(ActionItem)
        .where(ActionItem.id == item_id, ActionItem.status == ActionStatus.OPEN,
               or_(ActionItem.reminded_on.is_(None), ActionItem.reminded_on < today))
        .values(reminded_on=today)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# --- command text ----------------------------------------------------------------------------------

USAGE = "`/incident action <text> [@owner] [P0-P3] [due YYYY-MM-DD]`"
OWNER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
PRIORITY = re.compile(r"^p(\d+)$", re.IGNORECASE)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IN_DAYS = re.compile(r"^\+(\d{1,4})([dw])$", re.IGNORECASE)
MEANT_AS_DATE = re.compile(r"^([0-9+]|today$|tomorrow$)", re.IGNORECASE)  # what follows "due" when a date is given


@dataclass(frozen=True)
class ActionDraft:
    text: str
    owner: str | None  # a Slack user id
    priority: Priority
    due_on: date | None


def parse_action(text: str, today: date) -> ActionDraft | str:
    """`<text> [@owner] [P0-P3] [due YYYY-MM-DD|today|tomorrow|+3d|+2w]`, the options anywhere.

    The owner is a Slack user mention as Slack sends it (`<@U123|name>` or `<@U123>`). Returns the
    draft, or a one-line reason it can't be one. "due" followed by a plain word is part of the text.
    """
    owners = set(OWNER.findall(text))
    if len(owners) > 1:
        return "An action item has one owner: mention one person."
    words = OWNER.sub(" ", text).split()
    priorities = [w for w in words if PRIORITY.match(w)]
    if len(priorities) > 1:
        return "Give one priority: P0, P1, P2 or P3."
    if priorities and priorities[0].upper() not in Priority.__members__:
        return f"Unknown priority {priorities[0].upper()}: use P0 (most urgent), P1, P2 or P3."
    words = [w for w in words if not PRIORITY.match(w)]
    due, words = _take_due(words, today)
    if isinstance(due, str):
        return due
    body = " ".join(words)
    if not body:
        return f"An action item needs some text: {USAGE}."
    if len(body) > MAX_TEXT:
        return f"Keep an action item under {MAX_TEXT} characters (this one has {len(body)})."
    priority = Priority(priorities[0].upper()) if priorities else Priority.P2
    return ActionDraft(body, next(iter(owners), None), priority, due)


def _take_due(words: list[str], today: date) -> tuple[date | str | None, list[str]]:
    """The due date (or why it is wrong) and the words left once the `due …` clause is taken out."""
    clauses = [n for n, w in enumerate(words)
               if w.lower() == "due" and (n + 1 == len(words) or MEANT_AS_DATE.match(words[n + 1]))]
    if not clauses:
        return None, words
    if len(clauses) > 1:
        return "Give one due date.", words
    n = clauses[0]
    if n + 1 == len(words):
        return "`due` needs a date: due YYYY-MM-DD, due tomorrow or due +3d.", words
    return _due_date(words[n + 1], today), words[:n] + words[n + 2:]


def _due_date(value: str, today: date) -> date | str:
    word = value.lower()
    if word in ("today", "tomorrow"):
        return today + timedelta(days=1 if word == "tomorrow" else 0)
    if match := IN_DAYS.match(word):
        return today + timedelta(days=int(match.group(1)) * (7 if match.group(2) == "w" else 1))
    try:
        due = date.fromisoformat(value) if ISO_DATE.match(value) else None
    except ValueError:
        due = None
    if due is None:
        return "The due date must be YYYY-MM-DD (or due tomorrow, due +3d)."
    if due < today:
        return f"The due date {due.isoformat()} is in the past."
    return due
