"""Postmortem versions: add one per generation or upload, never overwrite, and move the review status along.

A person's edit is never replaced silently: regenerating over it needs `force`, and even then the edit stays as
its own version. The caller owns the transaction.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import service as incidents
from app.incidents.models import Incident
from app.postmortems.models import Origin, PostmortemVersion, ReviewStatus

STATUS_LINE = re.compile(r"^\*\*Status\*\*:.*$", re.MULTILINE)
STATUS_WORDS = {"draft": ReviewStatus.DRAFT, "in-review": ReviewStatus.IN_REVIEW, "in review": ReviewStatus.IN_REVIEW,
                "review": ReviewStatus.IN_REVIEW, "final": ReviewStatus.FINAL}


class EditWouldBeReplaced(Exception):
    """The latest version is a person's edit; regenerating needs to be asked for explicitly."""


def review_status(word: str) -> ReviewStatus | None:
    return STATUS_WORDS.get(word.strip().lower())


async def latest(session: AsyncSession, incident_id: int) -> PostmortemVersion | None:
    return await session.scalar(select(PostmortemVersion).where(PostmortemVersion.incident_id == incident_id)
                                .order_by(PostmortemVersion.version.desc()).limit(1))


async def version(session: AsyncSession, incident_id: int, number: int) -> PostmortemVersion | None:
    return await session.scalar(select(PostmortemVersion).where(PostmortemVersion.incident_id == incident_id,
                                                                PostmortemVersion.version == number))


async def versions(session: AsyncSession, incident_id: int) -> list[PostmortemVersion]:
    stmt = select(PostmortemVersion).where(PostmortemVersion.incident_id == incident_id).order_by(
        PostmortemVersion.version)
    return list((await session.scalars(stmt)).all())


async def check_regenerate(session: AsyncSession, incident_id: int, force: bool) -> None:
    current = await latest(session, incident_id)
    if current is not None and current.origin == Origin.EDITED and not force:
        raise EditWouldBeReplaced(
            f"version {current.version} was edited by {current.author or 'someone'}; regenerating adds a new "
            f"version after it (the edit stays as version {current.version}): ask again with --force "
            f"(`/incident postmortem regenerate --force`)")


async def add(session: AsyncSession, incident: Incident, *, origin: Origin, markdown: str, mode: str,
              author: str | None, data: dict[str, Any] | None = None) -> PostmortemVersion:
    """The next version, numbered after the latest; the unique key stops two at once."""
    previous = await latest(session, incident.id)
    status = previous.status if previous is not None and origin == Origin.EDITED else ReviewStatus.DRAFT
    number = previous.version + 1 if previous is not None else 1
    row = PostmortemVersion(incident_id=incident.id, version=number, status=status, origin=origin,
                            mode=mode, markdown=_with_status(markdown, status), data=data, author=author)
    session.add(row)
    await session.flush()
    what = "generated" if origin == Origin.GENERATED else "uploaded (edited)"
    await incidents.add_event(session, incident, kind="postmortem", actor=author,
                              text=f"Postmortem version {row.version} {what} ({status})")
    return row


async def set_status(session: AsyncSession, incident: Incident, status: ReviewStatus,
                     by: str | None) -> PostmortemVersion | None:
    """Move the latest version's review status (its Markdown says so too); None when there is no postmortem."""
    row = await latest(session, incident.id)
    if row is None:
        return None
    row.status = status
    row.markdown = _with_status(row.markdown, status)
    await incidents.add_event(session, incident, kind="postmortem", actor=by,
                              text=f"Postmortem version {row.version} is now {status}")
    return row


def _with_status(markdown: str, status: ReviewStatus) -> str:
    """The document's own Status line follows the stored status; a draft reason, if any, is kept."""
    def replace(match: re.Match[str]) -> str:
        reason = match.group(0).split(" (draft: ", 1)
        suffix = f" (draft: {reason[1]}" if len(reason) == 2 and status == ReviewStatus.DRAFT else ""
        return f"**Status**: {status}{suffix}"
    return STATUS_LINE.sub(replace, markdown, count=1)
