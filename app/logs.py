"""Process logging: human-readable lines, or one JSON object per line for log shippers (LOG_FORMAT=json).

Either way, credentials never reach the output: the configured secrets, and anything shaped like a Slack,
Anthropic or incidentbot API token, are replaced before a line is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

TOKEN_SHAPES = re.compile(r"\b(?:xox[abposre]-|xapp-|sk-ant-)[A-Za-z0-9-]{8,}|\bib_[A-Za-z0-9_-]{20,}")
REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = {"levelname": "level", "name": "logger", "exc_info": "exception"}


class _Redacting(logging.Formatter):
    secrets: tuple[str, ...] = ()

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return TOKEN_SHAPES.sub(REDACTED, line)


class TextFormatter(_Redacting):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)


class JsonLineFormatter(_Redacting, JsonFormatter):
    """{"time": ISO 8601 UTC, "level", "logger", "message", and "exception" when there is one}."""

    def __init__(self) -> None:
        super().__init__("{levelname}{name}{message}", style="{", rename_fields=JSON_FIELDS, timestamp="time")


def configure(level: int, log_format: str, secrets: Iterable[str] = ()) -> None:
    """Send every logger (uvicorn's too) to one stderr handler in the chosen format."""
    formatter: _Redacting = JsonLineFormatter() if log_format == "json" else TextFormatter()
    formatter.secrets = tuple(s for s in secrets if len(s) >= 8)  # a short value would blank ordinary words
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin, every start
