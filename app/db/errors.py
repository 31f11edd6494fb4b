"""Errors that mean the database cannot be reached right now (as opposed to a bug), and one-line explanations
of why a database could not be used, for the person who configured it."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Only the database's own errors: a Slack call timing out (an OSError too) must never be
# reported as "nothing was recorded" after the change has been committed.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)

SUPPORTED = "sqlite:///path/to/incidentbot.db or postgresql://user:password@host:5432/name"
# What a reachable Postgres server answers when it refuses the connection (psycopg gives no SQLSTATE here).
MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')
REFUSED_LOGIN = re.compile(r'role "[^"]+" does not exist|password authentication failed|no pg_hba.conf entry')


class DatabaseUrlError(ValueError):
    """DATABASE_URL is not a URL we can use; the message says what is accepted."""


def shown(database_url: str) -> str:
    """The URL with its password hidden, fit for a message or a log line."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable)"


def explain(exc: Exception, database_url: str) -> str:
    """One line saying why the database at `database_url` could not be used, and what to do about it."""
    if isinstance(exc, DatabaseUrlError):
        return str(exc)
    where = shown(database_url)
    reason = str(getattr(exc, "orig", None) or exc)
    if missing := MISSING_DATABASE.search(reason):
        url = make_url(database_url)
        return (f"the database {missing.group(1)!r} does not exist on the server at {where}: create it "
                f"(`createdb -h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or 'postgres'} "
                f"{missing.group(1)}`), then run `incidentbot db upgrade`")
    if REFUSED_LOGIN.search(reason):
        return f"the database server at {where} refused the login: check the user and password in DATABASE_URL"
    if "unable to open database file" in reason:
        return f"cannot open the SQLite database at {where}: does its directory exist and is it writable?"
    return f"cannot reach the database at {where} ({type(exc).__name__}); is it running?"
