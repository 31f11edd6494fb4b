"""Errors that mean the database cannot be reached right now (as opposed to a bug)."""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, OSError)
