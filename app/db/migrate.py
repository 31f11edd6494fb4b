"""Run Alembic migrations from code (serve, `db upgrade`, tests) without an alembic.ini, and tell whether a
database is at the schema this version expects (every other command only checks: it never migrates)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from app.db.engine import create_sync_engine, sync_url
from app.db.errors import shown

MIGRATIONS_DIR = Path(migrations.__file__).parent


class NotUpToDate(Exception):
    """The database's schema is not the one this version of incidentbot uses; the message says what to run."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URLs may contain %-escapes in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def heads(database_url: str) -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def check_current(database_url: str) -> None:
    """Raise NotUpToDate unless the database is at the head of the migrations; never changes it."""
    stale = f"the database at {shown(database_url)} is not up to date: run `incidentbot db upgrade`"
    url = sync_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        raise NotUpToDate(f"{stale} (there is no database file yet)")  # connecting would create an empty one
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    script = ScriptDirectory.from_config(alembic_config(database_url))
    if current == set(script.get_heads()):
        return
    known = {revision.revision for revision in script.walk_revisions()}
    if current - known:
        raise NotUpToDate(f"the database at {shown(database_url)} was migrated by a newer incidentbot "
                          f"(revision {', '.join(sorted(current - known))}): upgrade incidentbot")
    raise NotUpToDate(stale + ("" if current else " (it has no incidentbot tables yet)"))
