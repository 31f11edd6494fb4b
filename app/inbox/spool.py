"""The inbox's fallback on local disk, for requests acknowledged while the database is unreachable.

One file per request, written whole and fsynced under a temporary name, then renamed, so a crash leaves
either the complete request or nothing. The worker moves the files into the database when it returns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spooled:
    path: Path
    key: str
    body: str
    received_at: datetime


def default_dir(database_url: str) -> Path:
    """One directory per database, so two services (or test runs) on one host never take each other's."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"incidentbot-inbox-{digest}"


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, key: str, body: str, received_at: datetime) -> None:
        """Store durably; raises OSError when the disk can't take it (then nothing may be acknowledged)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        final = self.directory / f"{time.time_ns():020d}-{digest}.json"
        partial = final.with_suffix(".part")
        record = {"key": key, "body": body, "received_at": received_at.isoformat()}
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(record, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, final)

    def pending(self) -> Iterator[Spooled]:
        """Oldest first; a file that can't be read is set aside with a log line rather than block the rest."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                yield Spooled(path, str(record["key"]), str(record["body"]),
                              datetime.fromisoformat(record["received_at"]).astimezone(UTC))
            except (OSError, ValueError, KeyError, TypeError):
                log.error("unreadable inbox spool file %s: moved aside", path)
                path.rename(path.with_suffix(".bad"))
