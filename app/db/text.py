"""Text on its way to the database: no NUL, no other control characters, no lone surrogates.

Postgres refuses NUL in text (a 500 for a title typed with one), SQLite stores it, and both refuse lone
surrogates when encoding to UTF-8; other control characters (ESC, BEL, backspace) reach terminals and Slack
as garbage or escape sequences. Tab, newline and carriage return are text and stay.

Two hooks use the one `clean` below, so every surface (Slack, CLI, API) gets it without asking:
- `clean_on_assignment`: every String, Text and JSON attribute of every model is cleaned as it is set, so
  the objects the domain creates and changes (incidents, timeline, notes, postmortems...) hold what is
  stored, and what the API answers is what was kept;
- `clean_parameters`: every statement's parameters are cleaned on the way to the driver, which covers
  Core inserts and lookups (`GET /api/v1/incidents/INC-%00` finds nothing instead of failing).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import JSON, Engine, String, event
from sqlalchemy.orm import Mapper

UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str) -> str:
    return UNWANTED.sub("", text) if UNWANTED.search(text) else text


def clean_value(value: Any) -> Any:
    """Strings cleaned, inside lists, tuples and dicts (keys too) as well; anything else as it is. A value with
    nothing to clean is returned itself, not a copy, so code that keeps a reference to what it assigned still
    holds the stored object."""
    if isinstance(value, str):
        return clean(value)
    if type(value) is dict:
        pairs = [(clean_value(k), clean_value(v)) for k, v in value.items()]
        unchanged = all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True))
        return value if unchanged else dict(pairs)
    if type(value) in (list, tuple):
        items = [clean_value(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    return value


def clean_on_assignment(base: type) -> None:
    """Clean each text-like column attribute of every model derived from `base` when it is set."""

    def on_set(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        return clean_value(value)

    @event.listens_for(base, "mapper_configured", propagate=True)
    def _instrument(mapper: Mapper[Any], cls: type) -> None:
        for attribute in mapper.column_attrs:
            if any(isinstance(column.type, String | JSON) for column in attribute.columns):
                event.listen(getattr(cls, attribute.key), "set", on_set, retval=True)


def clean_parameters(engine: Engine) -> None:
    """Clean every statement's parameters just before the driver sees them."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _clean(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               _executemany: bool) -> tuple[str, Any]:
        return statement, clean_value(parameters)
