"""War-room channel names that Slack accepts: lowercase, digits, '-' and '_', 80 characters at most."""

from __future__ import annotations

import re
import unicodedata

MAX_CHANNEL_NAME = 80


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def channel_name(public_id: str, title: str, attempt: int = 1) -> str:
    """`inc-2026-1125-001-payment-api-returning-500-errors`; `-2`, `-3`... on later attempts.

    The id part is always kept whole; the title's slug is cut at a word boundary to fit.
    """
    base = slug(public_id)
    suffix = f"-{attempt}" if attempt > 1 else ""
    room = MAX_CHANNEL_NAME - len(base) - len(suffix) - 1
    words = slug(title)
    if len(words) > room:
        cut = words[:room]
        words = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return f"{base}-{words}{suffix}" if words else f"{base}{suffix}"


def belongs_to(name: str, public_id: str) -> bool:
    """Whether a channel name is one this incident's set-up could have chosen."""
    base = slug(public_id)
    return name == base or name.startswith(base + "-")
