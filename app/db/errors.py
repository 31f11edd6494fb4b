"""Errors that mean the database cannot be reached right now (as opposed to a bug)."""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Only the database's own errors: a Slack call timing out (an OSError too) must never be
# reported as "nothing was recorded" after the change has been committed.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
